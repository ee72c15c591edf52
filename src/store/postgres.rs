//! The production backend. JSON columns hold JSON text (TEXT, so object key order survives a
//! round trip), timestamps TIMESTAMPTZ.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::dialect::{Dialect, SqlBackend};
use super::{Store, StoreError, StoreResult};

pub type Db = sqlx::Postgres;
type Pool = sqlx::PgPool;

pub struct PgStore {
    pool: Pool,
    /// Present when pgvector is in use for archival search.
    vector: Option<PgVector>,
}

impl PgStore {
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse().map_err(|e| {
            StoreError::Unavailable(format!(
                "invalid Postgres URL {}: {e}",
                crate::config::redact_url(url)
            ))
        })?;
        probe(&options, url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// The pool's size and idle connections (for metrics).
    pub fn pool_status(&self) -> super::PoolStatus {
        super::PoolStatus {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Runs the migrations on an existing pool.
    pub async fn from_pool(pool: Pool) -> StoreResult<Self> {
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| super::StoreError::Database(e.to_string()))?;
        let vector = setup_pgvector(&pool).await?;
        let store = PgStore { pool, vector };
        store.backfill_passage_vectors().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_status(&self) -> super::PoolStatus {
        PgStore::pool_status(self)
    }
}

/// How long the first connection may take before start-up gives up.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens one connection before the pool is built, so an unreachable server fails start-up
/// at once with its address and cause ("connection refused") instead of a pool timeout.
async fn probe(options: &PgConnectOptions, url: &str) -> StoreResult<()> {
    use sqlx::Connection;
    let target = format!(
        "{}:{} ({})",
        options.get_host(),
        options.get_port(),
        crate::config::redact_url(url)
    );
    let connect = sqlx::PgConnection::connect_with(options);
    match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
        Ok(Ok(conn)) => {
            if let Err(err) = conn.close().await {
                tracing::debug!(error = %err, "closing the probe connection failed");
            }
            Ok(())
        }
        Ok(Err(err)) => Err(StoreError::Unavailable(format!(
            "cannot connect to Postgres at {target}: {}",
            describe_connect_error(&err)
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "cannot connect to Postgres at {target}: no answer within {}s",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

/// The cause of a failed connection in plain words ("connection refused" rather than an
/// OS error code alone).
fn describe_connect_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused ({io})"),
            _ => io.to_string(),
        },
        other => other.to_string(),
    }
}

/// The Postgres dialect of the shared SQL.
pub struct PgDialect;

impl Dialect for PgDialect {
    type Db = Db;

    /// Locks a row read inside a write transaction until it commits.
    const LOCK_FOR_UPDATE: &'static str = " FOR UPDATE";
    const JSON_ARRAY_AGG: &'static str = "json_agg";
    const JSON_OBJECT: &'static str = "json_build_object";
    const PASSAGE_TEXT_BYTES: &'static str = "octet_length(text)";

    fn json_bool(col: &str) -> String {
        col.to_owned()
    }

    fn json_embed(col: &str) -> String {
        format!("({col})::json")
    }

    /// `col = ANY($n)` over a text array.
    fn push_in_list<S: AsRef<str>>(qb: &mut QueryBuilder<'_, Db>, col: &str, values: &[S]) {
        qb.push(col);
        qb.push(" = ANY(");
        let list: Vec<String> = values.iter().map(|v| v.as_ref().to_owned()).collect();
        qb.push_bind(list);
        qb.push(")");
    }

    fn push_json_array_contains_all<S: AsRef<str>>(
        qb: &mut QueryBuilder<'_, Db>,
        col: &str,
        values: &[S],
    ) {
        let list: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        qb.push(format!("CAST({col} AS JSONB) @> CAST("));
        qb.push_bind(serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned()));
        qb.push(" AS JSONB)");
    }

    /// The bytes column when set (written before pgvector was in use), else the vector.
    fn read_passage_embedding(row: &sqlx::postgres::PgRow) -> StoreResult<Option<Vec<f32>>> {
        use sqlx::Row as _;
        if let Some(bytes) = row.try_get::<Option<&[u8]>, _>("embedding")? {
            return decode_embedding(bytes).map(Some);
        }
        match row.try_get::<Option<Vec<f32>>, _>("embedding_vec") {
            Ok(values) => Ok(values),
            // Not selected: the database has no vector column.
            Err(sqlx::Error::ColumnNotFound(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

store_sql!(PgStore);

// ---------------------------------------------------------------------------------------------
// Archival memory (see sql/passages.rs). Without pgvector, embeddings are little-endian f32
// `bytea` searched by an exact cosine scan in this process. With pgvector (detected at
// connect), they live in an `embedding_vec vector` column of no fixed dimension instead, with
// one partial HNSW index (cosine) per dimension in use, created the first time a passage of
// that dimension is written.

/// Serializes the pgvector DDL (extension, column, indexes) across processes.
const PGVECTOR_DDL_LOCK: i64 = 0x6c65_7474_6176_6563; // "lettavec"

/// pgvector is in use.
struct PgVector {
    /// Dimensions whose HNSW index is known to exist (or which cannot have one).
    indexed_dims: std::sync::Mutex<std::collections::HashSet<usize>>,
    /// The vector column was just set up: embeddings written before (as bytes) must move.
    backfill: bool,
}

/// How a dimension is indexed: the type the column is cast to and its operator class.
/// pgvector's HNSW takes `vector` up to 2,000 dimensions and `halfvec` up to 4,000; larger
/// embeddings are searched exactly.
fn hnsw_cast(dim: usize) -> Option<(&'static str, &'static str)> {
    match dim {
        1..=2000 => Some(("vector", "vector_cosine_ops")),
        2001..=4000 => Some(("halfvec", "halfvec_cosine_ops")),
        _ => None,
    }
}

fn hnsw_index_name(dim: usize) -> String {
    format!("agent_passages_hnsw_{dim}")
}

/// Detects pgvector, and when the server has it makes sure the extension and the vector
/// column exist. Logs which search path is in use.
async fn setup_pgvector(pool: &Pool) -> StoreResult<Option<PgVector>> {
    let available: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
    )
    .fetch_one(pool)
    .await?;
    if !available {
        tracing::info!(
            "postgres: the pgvector extension is not available; archival search is an exact \
             cosine scan in the server (correct, slower on large archives)"
        );
        return Ok(None);
    }
    let ready: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') \
         AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'agent_passages'::regclass \
                     AND attname = 'embedding_vec' AND attstorage = 'm' AND NOT attisdropped)",
    )
    .fetch_one(pool)
    .await?;
    if !ready {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PGVECTOR_DDL_LOCK)
            .execute(&mut *tx)
            .await?;
        if let Err(err) = sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
            .execute(&mut *tx)
            .await
        {
            tracing::warn!(
                error = %err,
                "postgres: pgvector is installed but CREATE EXTENSION vector failed (the \
                 database user needs the right to create it); archival search is an exact \
                 cosine scan in the server"
            );
            return Ok(None);
        }
        sqlx::query("ALTER TABLE agent_passages ADD COLUMN IF NOT EXISTS embedding_vec vector")
            .execute(&mut *tx)
            .await?;
        // Vectors stay in the row (as `embedding` does): the planner then prices a scan of
        // an agent's rows at their real size and picks the HNSW index for large agents
        // (with out-of-line vectors a full scan looks nearly free to it).
        sqlx::query("ALTER TABLE agent_passages ALTER COLUMN embedding_vec SET STORAGE MAIN")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let version: String =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_one(pool)
            .await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'agent_passages' \
         AND indexname LIKE 'agent\\_passages\\_hnsw\\_%'",
    )
    .fetch_all(pool)
    .await?;
    let indexed_dims = names
        .iter()
        .filter_map(|n| n.rsplit('_').next()?.parse().ok())
        .collect();
    tracing::info!(
        pgvector = %version,
        "postgres: archival search uses pgvector HNSW indexes (cosine distance)"
    );
    Ok(Some(PgVector {
        indexed_dims: std::sync::Mutex::new(indexed_dims),
        backfill: !ready,
    }))
}

impl SqlBackend for PgStore {
    type Dialect = PgDialect;

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    /// The select list of a full passage row.
    fn passage_columns(&self) -> String {
        if self.vector.is_some() {
            format!("{PASSAGE_SCALAR_COLUMNS}, embedding, embedding_vec::real[] AS embedding_vec")
        } else {
            format!("{PASSAGE_SCALAR_COLUMNS}, embedding")
        }
    }

    fn passage_embedding_columns(&self) -> &'static str {
        if self.vector.is_some() {
            "embedding, embedding_vec"
        } else {
            "embedding"
        }
    }

    fn push_passage_embedding<'args>(
        &self,
        b: &mut sqlx::query_builder::Separated<'_, 'args, Db, &'static str>,
        embedding: Option<&[f32]>,
    ) {
        if self.vector.is_some() {
            b.push_bind(None::<Vec<u8>>);
            b.push_bind(embedding.map(<[f32]>::to_vec));
            b.push_unseparated("::real[]::vector");
        } else {
            b.push_bind(embedding.map(encode_embedding));
        }
    }

    fn push_passage_embedding_set(
        &self,
        qb: &mut sqlx::QueryBuilder<'_, Db>,
        embedding: Option<&[f32]>,
    ) {
        if self.vector.is_some() {
            qb.push(", embedding = NULL, embedding_vec = ");
            qb.push_bind(embedding.map(<[f32]>::to_vec));
            qb.push("::real[]::vector");
        } else {
            qb.push(", embedding = ");
            qb.push_bind(embedding.map(encode_embedding));
        }
    }

    /// Creates the HNSW index of each of these dimensions that is not known to exist yet.
    async fn prepare_passage_dims(&self, dims: &[usize]) -> StoreResult<()> {
        let Some(vector) = &self.vector else {
            return Ok(());
        };
        for &dim in dims {
            let known = vector
                .indexed_dims
                .lock()
                .is_ok_and(|known| known.contains(&dim));
            if known {
                continue;
            }
            if let Some((cast, ops)) = hnsw_cast(dim) {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PGVECTOR_DDL_LOCK)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&format!(
                    "CREATE INDEX IF NOT EXISTS {} ON agent_passages \
                     USING hnsw ((embedding_vec::{cast}({dim})) {ops}) WHERE embedding_dim = {dim}",
                    hnsw_index_name(dim)
                ))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                tracing::info!(
                    dim,
                    "postgres: created the HNSW index for this embedding dimension"
                );
            }
            if let Ok(mut known) = vector.indexed_dims.lock() {
                known.insert(dim);
            }
        }
        Ok(())
    }

    async fn search_passage_rows(
        &self,
        org_id: &str,
        scope: super::PassageScope<'_>,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<super::ScoredPassage>> {
        if self.vector.is_none() {
            return exact_passage_search(self, org_id, scope, query, offset, limit).await;
        }
        let dim = query.len();
        let mut tx = self.pool.begin().await?;
        Self::set_hnsw_scan(&mut tx, offset.saturating_add(limit)).await?;
        let mut found = Self::fetch_scored_passages(
            &mut tx,
            &self.pgvector_search_sql(dim, true, scope),
            org_id,
            scope,
            query,
            (offset, limit),
        )
        .await?;
        if (found.len() as i64) < limit && hnsw_cast(dim).is_some() {
            // The index scan may stop before reaching all of a small agent's rows in a large
            // table; when the agent has more rows than were returned, scan them exactly.
            let count_sql = format!(
                "SELECT COUNT(*) FROM agent_passages \
                 WHERE {} AND organization_id = $2 AND embedding_dim = $3",
                scope_condition(scope)
            );
            let count = sqlx::query_scalar(&count_sql);
            let total: i64 = match scope {
                super::PassageScope::Agent(agent_id) => count.bind(agent_id),
                super::PassageScope::Sources(ids) => count.bind(ids.to_vec()),
            }
            .bind(org_id)
            .bind(dim as i32)
            .fetch_one(&mut *tx)
            .await?;
            if total > offset.saturating_add(found.len() as i64) {
                found = Self::fetch_scored_passages(
                    &mut tx,
                    &self.pgvector_search_sql(dim, false, scope),
                    org_id,
                    scope,
                    query,
                    (offset, limit),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    fn has_vector_index(&self) -> bool {
        self.vector.is_some()
    }
}

/// The rows of a search scope, its id (or ids) bound as `$1`.
fn scope_condition(scope: super::PassageScope<'_>) -> String {
    scope_condition_at(scope, 1)
}

/// The rows of a search scope, its id (or ids) bound as `$n`.
fn scope_condition_at(scope: super::PassageScope<'_>, n: usize) -> String {
    match scope {
        super::PassageScope::Agent(_) => format!("agent_id = ${n}"),
        super::PassageScope::Sources(_) => format!("agent_id IS NULL AND source_id = ANY(${n})"),
    }
}

impl PgStore {
    /// Moves embeddings written before pgvector was available (f32 bytes) into the vector
    /// column, and indexes their dimensions. Only when the column was just set up: once it
    /// exists every write goes to it.
    async fn backfill_passage_vectors(&self) -> StoreResult<()> {
        if !self.vector.as_ref().is_some_and(|v| v.backfill) {
            return Ok(());
        }
        let mut dims = Vec::new();
        let mut moved = 0usize;
        loop {
            let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT id, embedding FROM agent_passages WHERE embedding IS NOT NULL LIMIT 500",
            )
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self.pool.begin().await?;
            for (id, bytes) in &rows {
                let values = decode_embedding(bytes)?;
                if !dims.contains(&values.len()) {
                    dims.push(values.len());
                }
                sqlx::query(
                    "UPDATE agent_passages SET embedding_vec = $2::real[]::vector, embedding = NULL \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(values)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            moved += rows.len();
        }
        if moved > 0 {
            tracing::info!(
                passages = moved,
                "postgres: moved stored embeddings into pgvector"
            );
            self.prepare_passage_dims(&dims).await?;
        }
        Ok(())
    }

    /// The pgvector search statement for a query of `dim` dimensions: binds the query
    /// (`real[]`), agent, organization, limit and offset. `indexed` orders by the expression
    /// of the dimension's HNSW index (approximate); otherwise by an expression no index has
    /// (exact).
    fn pgvector_search_sql(
        &self,
        dim: usize,
        indexed: bool,
        scope: super::PassageScope<'_>,
    ) -> String {
        let order = match hnsw_cast(dim) {
            Some((cast, _)) if indexed => {
                format!("embedding_vec::{cast}({dim}) <=> $1::real[]::{cast}({dim})")
            }
            _ => "embedding_vec <=> $1::real[]::vector".to_owned(),
        };
        format!(
            "SELECT {}, embedding_vec <=> $1::real[]::vector AS distance FROM agent_passages \
             WHERE embedding_dim = {dim} AND {} AND organization_id = $3 \
             ORDER BY {order}, created_at, id LIMIT $4 OFFSET $5",
            self.passage_columns(),
            scope_condition_at(scope, 2)
        )
    }

    /// Settings for an HNSW scan in the current transaction: a candidate list as long as
    /// the rows wanted, and iterative scanning so rows of other agents filtered out after
    /// the index scan do not leave the result short.
    async fn set_hnsw_scan(conn: &mut sqlx::PgConnection, wanted: i64) -> StoreResult<()> {
        sqlx::query(
            "SELECT set_config('hnsw.ef_search', $1, true), \
             set_config('hnsw.iterative_scan', 'strict_order', true)",
        )
        .bind(wanted.clamp(40, 1000).to_string())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Runs a statement of [`Self::pgvector_search_sql`]; `page` is (offset, limit).
    async fn fetch_scored_passages(
        conn: &mut sqlx::PgConnection,
        sql: &str,
        org_id: &str,
        scope: super::PassageScope<'_>,
        query: &[f32],
        (offset, limit): (i64, i64),
    ) -> StoreResult<Vec<super::ScoredPassage>> {
        let q = sqlx::query(sql).bind(query.to_vec());
        let q = match scope {
            super::PassageScope::Agent(agent_id) => q.bind(agent_id),
            super::PassageScope::Sources(ids) => q.bind(ids.to_vec()),
        };
        let rows = q
            .bind(org_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|row| {
                let distance: Option<f64> = row.try_get("distance")?;
                Ok(super::ScoredPassage {
                    passage: passage_from_row(row)?,
                    distance: distance.map_or(f32::NAN, |d| d as f32),
                })
            })
            .collect()
    }

    /// The plan Postgres chooses for a passage search with this query (EXPLAIN output, one
    /// line per row), under the same settings as `search_passages`: for diagnostics and tests.
    pub async fn explain_passage_search(
        &self,
        org_id: &str,
        agent_id: &str,
        query: &[f32],
        limit: i64,
    ) -> StoreResult<String> {
        if self.vector.is_none() {
            return Err(StoreError::Rejected(
                "pgvector is not in use: search is an exact scan in the server".to_owned(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        Self::set_hnsw_scan(&mut tx, limit).await?;
        let lines: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN {}",
            self.pgvector_search_sql(query.len(), true, super::PassageScope::Agent(agent_id))
        ))
        .bind(query.to_vec())
        .bind(agent_id)
        .bind(org_id)
        .bind(limit)
        .bind(0i64)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(lines.join("\n"))
    }
}
