// Archival memory: agent passages and similarity search. Shared by both backends through
// `store_sql!`; what depends on how a backend stores vectors comes from its hooks
// (`store/dialect.rs`): `PASSAGE_TEXT_BYTES` and `read_passage_embedding` from `Dialect`, the
// select list, embedding writes, per-dimension preparation and the search itself from
// `SqlBackend`.
//
// Embeddings are kept at their true dimension. Where the database has no vector type the
// `embedding` column holds little-endian f32 bytes with `embedding_dim` their count, and a
// search is an exact cosine scan in this process (`exact_passage_search`).

use super::{PassageFilter, PassageScope, ScoredPassage};

/// The scalar columns of `agent_passages`, without the embedding.
const PASSAGE_SCALAR_COLUMNS: &str = "id, organization_id, agent_id, text, embedding_dim, \
     embedding_config, metadata, source_id, file_id, file_name, is_deleted, created_by_id, \
     last_updated_by_id, created_at, updated_at";

/// Rows per multi-row passage INSERT: each row can carry a large embedding.
const PASSAGE_INSERT_CHUNK: usize = 200;

/// The largest embedding dimension stored (pgvector's `vector` limit, applied on every
/// backend so they accept the same passages).
const MAX_EMBEDDING_DIM: usize = 16_000;

fn passage_from_row(
    row: &<Db as sqlx::Database>::Row,
) -> StoreResult<crate::schemas::passage::Passage> {
    Ok(crate::schemas::passage::Passage {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        is_deleted: row.try_get("is_deleted")?,
        organization_id: Some(row.try_get("organization_id")?),
        agent_id: row.try_get("agent_id")?,
        source_id: row.try_get("source_id")?,
        file_id: row.try_get("file_id")?,
        file_name: row.try_get("file_name")?,
        metadata: json_col_opt(row, "metadata")?,
        id: row.try_get("id")?,
        text: row.try_get("text")?,
        embedding: read_passage_embedding(row)?,
        embedding_config: json_col_opt(row, "embedding_config")?,
    })
}

/// An embedding as stored in a byte column: little-endian f32 values.
fn encode_embedding(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode_embedding(bytes: &[u8]) -> StoreResult<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!(
            "embedding of {} bytes is not a list of f32",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The embedding to store for a passage: `None` when it has none (an empty list counts as
/// none). Values must be finite and the dimension at most [`MAX_EMBEDDING_DIM`].
fn passage_embedding(passage: &crate::schemas::passage::Passage) -> StoreResult<Option<&[f32]>> {
    let Some(values) = passage.embedding.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    check_vector(values)
        .map_err(|e| StoreError::Rejected(format!("passage {}: {e}", passage.id)))?;
    Ok(Some(values))
}

/// Why a vector cannot be stored or searched with, if it cannot.
fn check_vector(values: &[f32]) -> Result<(), String> {
    if values.len() > MAX_EMBEDDING_DIM {
        return Err(format!(
            "an embedding has {} dimensions; at most {MAX_EMBEDDING_DIM} are supported",
            values.len()
        ));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err("embedding values must be finite numbers".to_owned());
    }
    Ok(())
}

/// The organization and agent a passage is written under (no agent for a file's passage,
/// which has a source instead).
fn passage_owner(
    passage: &crate::schemas::passage::Passage,
) -> StoreResult<(&str, Option<&str>)> {
    match (
        passage.organization_id.as_deref(),
        passage.agent_id.as_deref(),
        passage.source_id.as_deref(),
    ) {
        (Some(org), Some(agent), _) => Ok((org, Some(agent))),
        (Some(org), None, Some(_)) => Ok((org, None)),
        _ => Err(StoreError::Rejected(format!(
            "passage {} needs an organization_id and an agent_id or source_id",
            passage.id
        ))),
    }
}

/// A passage row ready to insert: the passage, its organization, agent and embedding.
type PassageInsert<'p> = (
    &'p crate::schemas::passage::Passage,
    &'p str,
    Option<&'p str>,
    Option<&'p [f32]>,
);

/// Checks passages for insertion; also returns the embedding dimensions they use.
fn passage_inserts(
    passages: &[crate::schemas::passage::Passage],
) -> StoreResult<(Vec<PassageInsert<'_>>, Vec<usize>)> {
    let mut rows = Vec::with_capacity(passages.len());
    let mut dims = Vec::new();
    for passage in passages {
        let (org, agent) = passage_owner(passage)?;
        let embedding = passage_embedding(passage)?;
        if let Some(values) = embedding
            && !dims.contains(&values.len())
        {
            dims.push(values.len());
        }
        rows.push((passage, org, agent, embedding));
    }
    Ok((rows, dims))
}

impl SqlStore {
    /// Inserts checked passage rows inside the caller's transaction.
    async fn insert_passage_rows(
        &self,
        conn: &mut Conn,
        rows: &[PassageInsert<'_>],
    ) -> StoreResult<()> {
        for chunk in rows.chunks(PASSAGE_INSERT_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "INSERT INTO agent_passages ({PASSAGE_SCALAR_COLUMNS}, {}) ",
                self.passage_embedding_columns()
            ));
            qb.push_values(chunk, |mut b, &(p, org, agent, embedding)| {
                b.push_bind(p.id.clone())
                    .push_bind(org.to_owned())
                    .push_bind(agent.map(str::to_owned))
                    .push_bind(p.text.clone())
                    .push_bind(embedding.map(|e| e.len() as i32))
                    .push_bind(p.embedding_config.as_ref().map(to_json))
                    .push_bind(p.metadata.as_ref().map(to_json))
                    .push_bind(p.source_id.clone())
                    .push_bind(p.file_id.clone())
                    .push_bind(p.file_name.clone())
                    .push_bind(p.is_deleted)
                    .push_bind(p.created_by_id.clone())
                    .push_bind(p.last_updated_by_id.clone())
                    .push_bind(p.created_at)
                    .push_bind(p.updated_at);
                self.push_passage_embedding(&mut b, embedding);
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// The `(created_at, id)` position of one of the agent's passages, for cursors.
async fn passage_cursor(
    pool: &Pool,
    org_id: &str,
    agent_id: &str,
    passage_id: &str,
) -> StoreResult<Option<crate::schemas::Timestamp>> {
    Ok(sqlx::query_scalar(
        "SELECT created_at FROM agent_passages WHERE id = $1 AND agent_id = $2 AND organization_id = $3",
    )
    .bind(passage_id)
    .bind(agent_id)
    .bind(org_id)
    .fetch_optional(pool)
    .await?)
}

// ---------------------------------------------------------------------------------------------
// Exact cosine search

/// Cosine distance as pgvector defines it: `1 - cos`, the cosine clamped to [-1, 1]; NaN when
/// either vector has zero length. `query_norm_sq` is `query · query`; `stored` holds as many
/// little-endian f32 values as `query`.
fn cosine_distance_le_bytes(query: &[f32], query_norm_sq: f32, stored: &[u8]) -> f32 {
    const LANES: usize = 8;
    // Independent partial sums per lane let the compiler vectorize the loop.
    let mut dot = [0f32; LANES];
    let mut norm = [0f32; LANES];
    let mut q_chunks = query.chunks_exact(LANES);
    let mut s_chunks = stored.chunks_exact(LANES * 4);
    for (q, s) in (&mut q_chunks).zip(&mut s_chunks) {
        for lane in 0..LANES {
            let b = &s[lane * 4..lane * 4 + 4];
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            dot[lane] += q[lane] * v;
            norm[lane] += v * v;
        }
    }
    let mut dot_sum: f32 = dot.iter().sum();
    let mut norm_sum: f32 = norm.iter().sum();
    for (q, b) in q_chunks
        .remainder()
        .iter()
        .zip(s_chunks.remainder().chunks_exact(4))
    {
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        dot_sum += q * v;
        norm_sum += v * v;
    }
    let similarity = f64::from(dot_sum) / (f64::from(query_norm_sq) * f64::from(norm_sum)).sqrt();
    if similarity.is_nan() {
        return f32::NAN;
    }
    (1.0 - similarity.clamp(-1.0, 1.0)) as f32
}

/// Orders distances ascending with NaN (a zero-length vector) after every number, as
/// Postgres orders floats.
fn cmp_distance(a: f32, b: f32) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// A scanned row competing for the top k: ordered by (distance, created_at, id).
#[derive(Debug)]
struct PassageCandidate {
    distance: f32,
    created_at: crate::schemas::Timestamp,
    id: String,
}

impl PassageCandidate {
    fn cmp_key(
        &self,
        distance: f32,
        created_at: &crate::schemas::Timestamp,
        id: &str,
    ) -> std::cmp::Ordering {
        cmp_distance(self.distance, distance)
            .then_with(|| self.created_at.cmp(created_at))
            .then_with(|| self.id.as_str().cmp(id))
    }
}

impl PartialEq for PassageCandidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for PassageCandidate {}

impl PartialOrd for PassageCandidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PassageCandidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp_key(other.distance, &other.created_at, &other.id)
    }
}

/// Pushes the condition selecting the rows of a search scope.
fn push_scope_condition(qb: &mut QueryBuilder<'_, Db>, scope: PassageScope<'_>) {
    match scope {
        PassageScope::Agent(agent_id) => {
            qb.push(" AND agent_id = ");
            qb.push_bind(agent_id.to_owned());
        }
        PassageScope::Sources(ids) => {
            qb.push(" AND agent_id IS NULL AND ");
            push_in_list(qb, "source_id", ids);
        }
    }
}

/// The scope's passages of the query's dimension nearest to it, by an exact scan: rows are
/// streamed as (id, created_at, embedding) and only the best `offset + limit` are kept (a
/// bounded max-heap), then the winners' full rows are read.
async fn exact_passage_search(
    store: &SqlStore,
    org_id: &str,
    scope: PassageScope<'_>,
    query: &[f32],
    offset: i64,
    limit: i64,
) -> StoreResult<Vec<ScoredPassage>> {
    use futures_util::TryStreamExt as _;

    let offset = offset.max(0) as usize;
    let keep = offset.saturating_add(limit.max(0) as usize);
    if keep == offset || query.is_empty() {
        return Ok(Vec::new());
    }
    let query_norm_sq: f32 = query.iter().map(|v| v * v).sum();
    let mut heap: std::collections::BinaryHeap<PassageCandidate> =
        std::collections::BinaryHeap::with_capacity(keep.min(4096) + 1);
    {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT id, created_at, embedding FROM agent_passages WHERE organization_id = ",
        );
        qb.push_bind(org_id.to_owned());
        qb.push(" AND embedding_dim = ");
        qb.push_bind(query.len() as i32);
        push_scope_condition(&mut qb, scope);
        let mut rows = qb.build().fetch(&store.pool);
        while let Some(row) = rows.try_next().await? {
            let bytes: &[u8] = row.try_get("embedding")?;
            if bytes.len() != query.len() * 4 {
                return Err(StoreError::Corrupt(format!(
                    "passage embedding of {} bytes, expected {}",
                    bytes.len(),
                    query.len() * 4
                )));
            }
            let distance = cosine_distance_le_bytes(query, query_norm_sq, bytes);
            if heap.len() == keep {
                let Some(worst) = heap.peek() else { break };
                // Most rows lose on distance alone: decide before decoding anything else.
                if cmp_distance(distance, worst.distance) == std::cmp::Ordering::Greater {
                    continue;
                }
                let created_at: crate::schemas::Timestamp = row.try_get("created_at")?;
                let id: &str = row.try_get("id")?;
                if worst.cmp_key(distance, &created_at, id) != std::cmp::Ordering::Greater {
                    continue;
                }
                heap.pop();
                heap.push(PassageCandidate {
                    distance,
                    created_at,
                    id: id.to_owned(),
                });
            } else {
                heap.push(PassageCandidate {
                    distance,
                    created_at: row.try_get("created_at")?,
                    id: row.try_get("id")?,
                });
            }
        }
    }
    let winners: Vec<PassageCandidate> = heap.into_sorted_vec().into_iter().skip(offset).collect();
    if winners.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = winners.iter().map(|c| c.id.as_str()).collect();
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {} FROM agent_passages WHERE organization_id = ",
        store.passage_columns()
    ));
    qb.push_bind(org_id.to_owned());
    qb.push(" AND ");
    push_in_list(&mut qb, "id", &ids);
    let rows = qb.build().fetch_all(&store.pool).await?;
    let mut by_id: HashMap<String, crate::schemas::passage::Passage> = rows
        .iter()
        .map(|row| passage_from_row(row).map(|p| (p.id.clone(), p)))
        .collect::<StoreResult<_>>()?;
    // A winner deleted between the two reads is left out.
    Ok(winners
        .into_iter()
        .filter_map(|c| {
            by_id.remove(&c.id).map(|passage| ScoredPassage {
                passage,
                distance: c.distance,
            })
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------

#[async_trait::async_trait]
impl super::PassageStore for SqlStore {
    async fn insert_passages(
        &self,
        passages: &[crate::schemas::passage::Passage],
    ) -> StoreResult<()> {
        if passages.is_empty() {
            return Ok(());
        }
        let (rows, dims) = passage_inserts(passages)?;
        self.prepare_passage_dims(&dims).await?;
        let mut tx = self.begin_write().await?;
        self.insert_passage_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_passage(
        &self,
        org_id: &str,
        passage_id: &str,
    ) -> StoreResult<Option<crate::schemas::passage::Passage>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM agent_passages WHERE id = $1 AND organization_id = $2",
            self.passage_columns()
        ))
        .bind(passage_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(passage_from_row).transpose()
    }

    async fn list_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        filter: &PassageFilter,
    ) -> StoreResult<Vec<crate::schemas::passage::Passage>> {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {} FROM agent_passages WHERE organization_id = ",
            self.passage_columns()
        ));
        qb.push_bind(org_id.to_owned());
        qb.push(" AND agent_id = ");
        qb.push_bind(agent_id.to_owned());
        for (cursor, forward) in [(&filter.after, true), (&filter.before, false)] {
            if let Some(id) = cursor {
                let Some(created_at) = passage_cursor(&self.pool, org_id, agent_id, id).await?
                else {
                    return Ok(Vec::new());
                };
                push_position_filter(&mut qb, created_at, id, forward);
            }
        }
        if let Some(text) = &filter.text_contains {
            // Lowercased here and with SQL `LOWER` on the column (which folds ASCII only on
            // SQLite); `%`, `_` and `\` match literally.
            qb.push(" AND LOWER(text) LIKE ");
            qb.push_bind(escaped_contains_pattern(&text.to_lowercase()));
            qb.push(" ESCAPE '\\'");
        }
        qb.push(if filter.ascending {
            " ORDER BY created_at ASC, id ASC"
        } else {
            " ORDER BY created_at DESC, id DESC"
        });
        push_limit(&mut qb, filter.limit.map(|l| l.max(0)));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(passage_from_row).collect()
    }

    async fn search_passages(
        &self,
        org_id: &str,
        agent_id: &str,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>> {
        check_vector(query).map_err(|e| StoreError::Rejected(format!("search query: {e}")))?;
        if query.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        self.search_passage_rows(
            org_id,
            PassageScope::Agent(agent_id),
            query,
            offset.max(0),
            limit,
        )
            .await
    }

    async fn update_passage(
        &self,
        passage: &crate::schemas::passage::Passage,
    ) -> StoreResult<bool> {
        let embedding = passage_embedding(passage)?;
        if let Some(values) = embedding {
            self.prepare_passage_dims(&[values.len()]).await?;
        }
        let mut qb = QueryBuilder::<Db>::new("UPDATE agent_passages SET text = ");
        qb.push_bind(passage.text.clone());
        qb.push(", embedding_dim = ");
        qb.push_bind(embedding.map(|e| e.len() as i32));
        self.push_passage_embedding_set(&mut qb, embedding);
        qb.push(", embedding_config = ");
        qb.push_bind(passage.embedding_config.as_ref().map(to_json));
        qb.push(", metadata = ");
        qb.push_bind(passage.metadata.as_ref().map(to_json));
        qb.push(", source_id = ");
        qb.push_bind(passage.source_id.clone());
        qb.push(", file_id = ");
        qb.push_bind(passage.file_id.clone());
        qb.push(", file_name = ");
        qb.push_bind(passage.file_name.clone());
        qb.push(", is_deleted = ");
        qb.push_bind(passage.is_deleted);
        qb.push(", updated_at = ");
        qb.push_bind(passage.updated_at);
        qb.push(", last_updated_by_id = ");
        qb.push_bind(passage.last_updated_by_id.clone());
        qb.push(" WHERE id = ");
        qb.push_bind(passage.id.clone());
        qb.push(" AND organization_id = ");
        qb.push_bind(passage.organization_id.clone());
        let done = qb.build().execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_passage(
        &self,
        org_id: &str,
        passage_id: &str,
    ) -> StoreResult<Option<crate::schemas::passage::Passage>> {
        let row = sqlx::query(&format!(
            "DELETE FROM agent_passages WHERE id = $1 AND organization_id = $2 RETURNING {}",
            self.passage_columns()
        ))
        .bind(passage_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(passage_from_row).transpose()
    }

    async fn count_agent_passages(&self, agent_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM agent_passages WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn passages_storage_bytes(&self, org_id: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT CAST(COALESCE(SUM({PASSAGE_TEXT_BYTES} + 4 * COALESCE(embedding_dim, 0)), 0) AS BIGINT) \
             FROM agent_passages WHERE organization_id = $1"
        ))
        .bind(org_id)
        .fetch_one(&self.pool)
        .await?)
    }

    fn vector_index(&self) -> bool {
        self.has_vector_index()
    }
}
