// Files of sources: metadata and ingestion progress, their text, their passages (rows of
// `agent_passages` without an agent), and the files agents have in context. Shared by both
// backends through `include!`.

use crate::schemas::file::{FileAgent, FileMetadata, FileProcessingStatus};

const FILE_COLUMNS: &str = "f.id, f.organization_id, f.source_id, f.file_name, \
     f.original_file_name, f.file_path, f.file_type, f.file_size, f.file_creation_date, \
     f.file_last_modified_date, f.processing_status, f.error_message, f.total_chunks, \
     f.chunks_embedded, f.created_at, f.updated_at";

/// Statuses of a file still being ingested.
const UNFINISHED_FILE_STATUSES: &str = "('pending', 'parsing', 'embedding')";

fn file_from_row(
    row: &<Db as sqlx::Database>::Row,
    include_content: bool,
) -> StoreResult<FileMetadata> {
    let status: String = row.try_get("processing_status")?;
    let total_chunks: Option<i32> = row.try_get("total_chunks")?;
    let chunks_embedded: Option<i32> = row.try_get("chunks_embedded")?;
    Ok(FileMetadata {
        id: row.try_get("id")?,
        organization_id: Some(row.try_get("organization_id")?),
        source_id: row.try_get("source_id")?,
        file_name: Some(row.try_get("file_name")?),
        original_file_name: Some(row.try_get("original_file_name")?),
        file_path: row.try_get("file_path")?,
        file_type: row.try_get("file_type")?,
        file_size: row.try_get("file_size")?,
        file_creation_date: row.try_get("file_creation_date")?,
        file_last_modified_date: row.try_get("file_last_modified_date")?,
        processing_status: FileProcessingStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown file status {status:?}")))?,
        error_message: row.try_get("error_message")?,
        total_chunks: total_chunks.map(i64::from),
        chunks_embedded: chunks_embedded.map(i64::from),
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        is_deleted: false,
        content: if include_content {
            row.try_get("content")?
        } else {
            None
        },
    })
}

fn file_agent_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<FileAgent> {
    Ok(FileAgent {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        agent_id: row.try_get("agent_id")?,
        file_id: row.try_get("file_id")?,
        source_id: row.try_get("source_id")?,
        file_name: row.try_get("file_name")?,
        is_open: row.try_get("is_open")?,
        visible_content: row.try_get("visible_content")?,
        last_accessed_at: row.try_get("last_accessed_at")?,
    })
}

/// The select list and joins of a file row, with its text when `include_content`.
fn file_select(include_content: bool) -> String {
    if include_content {
        format!(
            "SELECT {FILE_COLUMNS}, c.text AS content FROM files f \
             LEFT JOIN file_contents c ON c.file_id = f.id"
        )
    } else {
        format!("SELECT {FILE_COLUMNS} FROM files f")
    }
}

/// Whether the file exists and is still being ingested, locking its row until commit.
async fn lock_unfinished_file(conn: &mut Conn, file_id: &str) -> StoreResult<bool> {
    let found: Option<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM files WHERE id = $1 AND processing_status IN {UNFINISHED_FILE_STATUSES}{LOCK_FOR_UPDATE}"
    ))
    .bind(file_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.is_some())
}

/// Inserts a file row, recording the replica that will ingest it (if any). `ForeignKey`
/// for an unknown source.
async fn insert_file(
conn: &mut Conn,
file: &FileMetadata,
replica: Option<&crate::replica::ReplicaId>,
) -> StoreResult<()> {
    let org = file
        .organization_id
        .as_deref()
        .ok_or_else(|| StoreError::Rejected("organization_id is required".to_owned()))?;
    let ts = file.created_at.unwrap_or_else(now);
    sqlx::query(
        "INSERT INTO files (id, organization_id, source_id, file_name, original_file_name, \
         file_path, file_type, file_size, file_creation_date, file_last_modified_date, \
         processing_status, error_message, total_chunks, chunks_embedded, replica_id, \
         replica_incarnation, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&file.id)
    .bind(org)
    .bind(&file.source_id)
    .bind(file.file_name.as_deref().unwrap_or_default())
    .bind(file.original_file_name.as_deref().unwrap_or_default())
    .bind(file.file_path.as_deref())
    .bind(file.file_type.as_deref())
    .bind(file.file_size)
    .bind(file.file_creation_date.as_deref())
    .bind(file.file_last_modified_date.as_deref())
    .bind(file.processing_status.as_str())
    .bind(file.error_message.as_deref())
    .bind(file.total_chunks.map(|n| n as i32))
    .bind(file.chunks_embedded.map(|n| n as i32))
    .bind(replica.map(|r| r.name.as_str()))
    .bind(replica.map(|r| r.incarnation.as_str()))
    .bind(ts)
    .bind(file.updated_at.unwrap_or(ts))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::FileStore for SqlStore {
    async fn create_file(
        &self,
        file: &FileMetadata,
        replica: &crate::replica::ReplicaId,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        insert_file(&mut conn, file, Some(replica)).await
    }

    async fn get_file(
        &self,
        org_id: &str,
        file_id: &str,
        include_content: bool,
    ) -> StoreResult<Option<FileMetadata>> {
        let row = sqlx::query(&format!(
            "{} WHERE f.id = $1 AND f.organization_id = $2",
            file_select(include_content)
        ))
        .bind(file_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|r| file_from_row(r, include_content))
            .transpose()
    }

    async fn list_files(
        &self,
        org_id: &str,
        source_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        include_content: bool,
    ) -> StoreResult<Vec<FileMetadata>> {
        let mut qb = QueryBuilder::<Db>::new(file_select(include_content));
        qb.push(" WHERE f.organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND f.source_id = ");
        qb.push_bind(source_id.to_owned());
        if let Some(id) = after {
            let Some(created_at) =
                cursor_created_at(&self.pool, "files", "source_id", source_id, id).await?
            else {
                return Ok(Vec::new());
            };
            qb.push(" AND (f.created_at, f.id) > (");
            qb.push_bind(created_at);
            qb.push(", ");
            qb.push_bind(id.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY f.created_at ASC, f.id ASC");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| file_from_row(r, include_content))
            .collect()
    }

    async fn count_files_named(
        &self,
        source_id: &str,
        original_file_name: &str,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM files WHERE source_id = $1 AND original_file_name = $2",
        )
        .bind(source_id)
        .bind(original_file_name)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn update_file_progress(
        &self,
        file_id: &str,
        progress: &super::FileProgress,
    ) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE files SET processing_status = COALESCE($2, processing_status), \
             error_message = COALESCE($3, error_message), \
             total_chunks = COALESCE($4, total_chunks), \
             chunks_embedded = COALESCE($5, chunks_embedded), updated_at = $6 \
             WHERE id = $1 AND processing_status IN {UNFINISHED_FILE_STATUSES}"
        ))
        .bind(file_id)
        .bind(progress.status.map(FileProcessingStatus::as_str))
        .bind(progress.error_message.as_deref())
        .bind(progress.total_chunks.map(|n| n as i32))
        .bind(progress.chunks_embedded.map(|n| n as i32))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_file_content(&self, file_id: &str, text: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if !lock_unfinished_file(&mut tx, file_id).await? {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO file_contents (file_id, text) VALUES ($1, $2) \
             ON CONFLICT (file_id) DO UPDATE SET text = excluded.text",
        )
        .bind(file_id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_file_passages(
        &self,
        file_id: &str,
        passages: &[crate::schemas::passage::Passage],
    ) -> StoreResult<bool> {
        let (rows, dims) = passage_inserts(passages)?;
        if rows.iter().any(|(p, _, agent, _)| {
            agent.is_some() || p.file_id.as_deref() != Some(file_id) || p.source_id.is_none()
        }) {
            return Err(StoreError::Rejected(format!(
                "passages of file {file_id} must name it and its source, and no agent"
            )));
        }
        self.prepare_passage_dims(&dims).await?;
        let mut tx = self.begin_write().await?;
        if !lock_unfinished_file(&mut tx, file_id).await? {
            return Ok(false);
        }
        self.insert_passage_rows(&mut tx, &rows).await?;
        sqlx::query(
            "UPDATE files SET chunks_embedded = COALESCE(chunks_embedded, 0) + $2, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(file_id)
        .bind(rows.len() as i32)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_file(
        &self,
        org_id: &str,
        file_id: &str,
    ) -> StoreResult<Option<super::Removed<FileMetadata>>> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(&format!(
            "{} WHERE f.id = $1 AND f.organization_id = $2{LOCK_FOR_UPDATE}",
            file_select(false)
        ))
        .bind(file_id)
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let file = file_from_row(&row, false)?;
        let agent_ids =
            delete_files_where(&mut tx, "id = $1 AND organization_id = $2", file_id, org_id)
                .await?;
        tx.commit().await?;
        Ok(Some(super::Removed {
            item: file,
            agent_ids,
        }))
    }

    async fn list_source_passages(
        &self,
        org_id: &str,
        source_id: &str,
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> StoreResult<Vec<crate::schemas::passage::Passage>> {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {} FROM agent_passages WHERE organization_id = ",
            self.passage_columns()
        ));
        qb.push_bind(org_id.to_owned());
        qb.push(" AND agent_id IS NULL AND source_id = ");
        qb.push_bind(source_id.to_owned());
        for (cursor, forward) in [(after, true), (before, false)] {
            if let Some(id) = cursor {
                let Some(created_at) =
                    cursor_created_at(&self.pool, "agent_passages", "source_id", source_id, id)
                        .await?
                else {
                    return Ok(Vec::new());
                };
                push_position_filter(&mut qb, created_at, id, forward);
            }
        }
        qb.push(" ORDER BY created_at ASC, id ASC");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(passage_from_row).collect()
    }

    async fn search_source_passages(
        &self,
        org_id: &str,
        source_ids: &[String],
        query: &[f32],
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>> {
        check_vector(query).map_err(|e| StoreError::Rejected(format!("search query: {e}")))?;
        if query.is_empty() || limit <= 0 || source_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.search_passage_rows(org_id, PassageScope::Sources(source_ids), query, 0, limit)
            .await
    }

    async fn fail_unfinished_files(
        &self,
        of: super::Leftovers<'_>,
        error: &str,
    ) -> StoreResult<u64> {
        let (all, name, incarnation) = match of {
            super::Leftovers::All => (1_i64, "", ""),
            super::Leftovers::OlderIncarnations(r) => {
                (0_i64, r.name.as_str(), r.incarnation.as_str())
            }
        };
        let done = sqlx::query(&format!(
            "UPDATE files SET processing_status = 'error', error_message = $4, updated_at = $5 \
             WHERE processing_status IN {UNFINISHED_FILE_STATUSES} \
             AND ($1 = 1 OR (replica_id = $2 AND replica_incarnation <> $3))"
        ))
        .bind(all)
        .bind(name)
        .bind(incarnation)
        .bind(error)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn fail_stale_files(
        &self,
        stale_before: crate::schemas::Timestamp,
        error: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query(&format!(
            "UPDATE files SET processing_status = 'error', error_message = $2, updated_at = $3 \
             WHERE processing_status IN {UNFINISHED_FILE_STATUSES} AND updated_at < $1"
        ))
        .bind(stale_before)
        .bind(error)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait::async_trait]
impl super::FileAgentStore for SqlStore {
    async fn file_agents_of(
        &self,
        agent_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<FileAgent>>> {
        let mut out: HashMap<String, Vec<FileAgent>> = HashMap::new();
        if agent_ids.is_empty() {
            return Ok(out);
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM files_agents WHERE ");
        push_in_list(&mut qb, "agent_id", agent_ids);
        qb.push(" ORDER BY file_name ASC");
        let rows = qb.build().fetch_all(&self.pool).await?;
        for row in &rows {
            let fa = file_agent_from_row(row)?;
            out.entry(fa.agent_id.clone()).or_default().push(fa);
        }
        Ok(out)
    }

    async fn open_files(
        &self,
        org_id: &str,
        agent_id: &str,
        files: &[super::FileToOpen],
        max_open: usize,
    ) -> StoreResult<Vec<String>> {
        let mut seen = std::collections::HashSet::new();
        let files: Vec<&super::FileToOpen> = files
            .iter()
            .filter(|f| seen.insert(f.file_name.as_str()))
            .collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let ts = now();
        let mut tx = self.begin_write().await?;
        let open_rows = sqlx::query(&format!(
            "SELECT file_name FROM files_agents WHERE agent_id = $1 AND is_open = $2 \
             ORDER BY last_accessed_at ASC, file_name ASC{LOCK_FOR_UPDATE}"
        ))
        .bind(agent_id)
        .bind(true)
        .fetch_all(&mut *tx)
        .await?;
        let currently_open: Vec<String> = open_rows
            .iter()
            .map(|r| r.try_get("file_name"))
            .collect::<Result<_, _>>()?;
        let new_names: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
        let still_open: Vec<&String> = currently_open
            .iter()
            .filter(|n| !new_names.contains(&n.as_str()))
            .collect();
        let mut final_open: Vec<&str> = new_names.iter().take(max_open).copied().collect();
        let room = max_open.saturating_sub(final_open.len());
        final_open.extend(
            still_open[still_open.len().saturating_sub(room)..]
                .iter()
                .map(|s| s.as_str()),
        );
        let mut closed: Vec<String> = currently_open
            .iter()
            .filter(|n| !final_open.contains(&n.as_str()))
            .cloned()
            .collect();
        for name in &closed {
            sqlx::query(
                "UPDATE files_agents SET is_open = $3, visible_content = NULL, updated_at = $4 \
                 WHERE agent_id = $1 AND file_name = $2",
            )
            .bind(agent_id)
            .bind(name)
            .bind(false)
            .bind(ts)
            .execute(&mut *tx)
            .await?;
        }
        for file in &files {
            let open = final_open.contains(&file.file_name.as_str());
            if !open {
                closed.push(file.file_name.clone());
            }
            sqlx::query(
                "INSERT INTO files_agents (id, organization_id, agent_id, file_id, source_id, \
                 file_name, is_open, visible_content, last_accessed_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9) \
                 ON CONFLICT (agent_id, file_name) DO UPDATE SET is_open = excluded.is_open, \
                 visible_content = excluded.visible_content, \
                 last_accessed_at = excluded.last_accessed_at, updated_at = excluded.updated_at",
            )
            .bind(crate::schemas::new_id("file_agent"))
            .bind(org_id)
            .bind(agent_id)
            .bind(&file.file_id)
            .bind(&file.source_id)
            .bind(&file.file_name)
            .bind(open)
            .bind(open.then(|| file.visible_content.clone()))
            .bind(ts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(closed)
    }

    async fn close_files(&self, agent_id: &str, keep: &[String]) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let names: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT file_name FROM files_agents WHERE agent_id = $1 AND is_open = $2 \
             ORDER BY file_name{LOCK_FOR_UPDATE}"
        ))
        .bind(agent_id)
        .bind(true)
        .fetch_all(&mut *tx)
        .await?;
        let closing: Vec<String> = names.into_iter().filter(|n| !keep.contains(n)).collect();
        for name in &closing {
            sqlx::query(
                "UPDATE files_agents SET is_open = $3, visible_content = NULL, updated_at = $4 \
                 WHERE agent_id = $1 AND file_name = $2",
            )
            .bind(agent_id)
            .bind(name)
            .bind(false)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(closing)
    }

    async fn mark_files_accessed(&self, agent_id: &str, file_names: &[String]) -> StoreResult<()> {
        if file_names.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<Db>::new("UPDATE files_agents SET last_accessed_at = ");
        qb.push_bind(now());
        qb.push(" WHERE agent_id = ");
        qb.push_bind(agent_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "file_name", file_names);
        qb.build().execute(&self.pool).await?;
        Ok(())
    }
}
