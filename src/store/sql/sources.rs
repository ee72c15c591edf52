// Sources and which agents they are attached to. Shared by both backends through
// `include!`. A source's files and their passages are deleted with it (see `sql/files.rs`).

use crate::schemas::source::{FileStats, OrganizationSourcesStats, Source, SourceStats};

const SOURCE_COLUMNS: &str = "id, organization_id, name, description, instructions, \
     embedding_config, metadata, created_by_id, last_updated_by_id, created_at, updated_at";

fn source_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Source> {
    Ok(Source {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        instructions: row.try_get("instructions")?,
        embedding_config: json_col(row, "embedding_config")?,
        organization_id: Some(row.try_get("organization_id")?),
        metadata: json_col_opt(row, "metadata")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
    })
}

/// Deletes the file passages, agents' file rows and files of the files selected by
/// `files_where` (a condition on `files`, its values bound as `$1`, `$2`), inside a
/// transaction; returns the agents that had one of the files in context.
async fn delete_files_where(
    conn: &mut Conn,
    files_where: &str,
    a: &str,
    b: &str,
) -> StoreResult<Vec<String>> {
    let agent_ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT agent_id FROM files_agents WHERE file_id IN \
         (SELECT id FROM files WHERE {files_where})"
    ))
    .bind(a)
    .bind(b)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM agent_passages WHERE agent_id IS NULL AND file_id IN \
         (SELECT id FROM files WHERE {files_where})"
    ))
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM files_agents WHERE file_id IN (SELECT id FROM files WHERE {files_where})"
    ))
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM file_contents WHERE file_id IN (SELECT id FROM files WHERE {files_where})"
    ))
    .bind(a)
    .bind(b)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!("DELETE FROM files WHERE {files_where}"))
        .bind(a)
        .bind(b)
        .execute(&mut *conn)
        .await?;
    Ok(agent_ids)
}

/// Attaches a source to an agent at `at` (the attachment order); idempotent.
async fn link_source(
    conn: &mut Conn,
    agent_id: &str,
    source_id: &str,
    at: crate::schemas::Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sources_agents (agent_id, source_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (agent_id, source_id) DO NOTHING",
    )
    .bind(agent_id)
    .bind(source_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts a source row (`Unique` on a name its organization uses).
async fn insert_source(conn: &mut Conn, source: &Source) -> StoreResult<()> {
    let org = source
        .organization_id
        .as_deref()
        .ok_or_else(|| StoreError::Rejected("organization_id is required".to_owned()))?;
    let ts = source.created_at.unwrap_or_else(now);
    sqlx::query(&format!(
        "INSERT INTO sources ({SOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&source.id)
    .bind(org)
    .bind(&source.name)
    .bind(source.description.as_deref())
    .bind(source.instructions.as_deref())
    .bind(to_json(&source.embedding_config))
    .bind(source.metadata.as_ref().map(to_json))
    .bind(source.created_by_id.as_deref())
    .bind(source.last_updated_by_id.as_deref())
    .bind(ts)
    .bind(source.updated_at.unwrap_or(ts))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::SourceStore for SqlStore {
    async fn create_source(&self, source: &Source) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        insert_source(&mut conn, source).await
    }

    async fn get_source(&self, org_id: &str, source_id: &str) -> StoreResult<Option<Source>> {
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1 AND organization_id = $2"
        ))
        .bind(source_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    async fn get_source_by_name(&self, org_id: &str, name: &str) -> StoreResult<Option<Source>> {
        let row = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE name = $1 AND organization_id = $2"
        ))
        .bind(name)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(source_from_row).transpose()
    }

    async fn list_sources(&self, org_id: &str) -> StoreResult<Vec<Source>> {
        let rows = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE organization_id = $1 \
             ORDER BY created_at ASC, id ASC"
        ))
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_from_row).collect()
    }

    async fn count_sources(&self, org_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM sources WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_source(&self, source: &Source) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sources SET name = $3, description = $4, instructions = $5, metadata = $6, \
             embedding_config = $7, last_updated_by_id = $8, updated_at = $9 \
             WHERE id = $1 AND organization_id = $2",
        )
        .bind(&source.id)
        .bind(source.organization_id.as_deref())
        .bind(&source.name)
        .bind(source.description.as_deref())
        .bind(source.instructions.as_deref())
        .bind(source.metadata.as_ref().map(to_json))
        .bind(to_json(&source.embedding_config))
        .bind(source.last_updated_by_id.as_deref())
        .bind(source.updated_at.unwrap_or_else(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_source(
        &self,
        org_id: &str,
        source_id: &str,
    ) -> StoreResult<Option<super::Removed<Source>>> {
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query(&format!(
            "SELECT {SOURCE_COLUMNS} FROM sources WHERE id = $1 AND organization_id = $2{LOCK_FOR_UPDATE}"
        ))
        .bind(source_id)
        .bind(org_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let source = source_from_row(&row)?;
        let mut agent_ids: Vec<String> =
            sqlx::query_scalar("SELECT agent_id FROM sources_agents WHERE source_id = $1")
                .bind(source_id)
                .fetch_all(&mut *tx)
                .await?;
        let with_files = delete_files_where(
            &mut tx,
            "source_id = $1 AND organization_id = $2",
            source_id,
            org_id,
        )
        .await?;
        for id in with_files {
            if !agent_ids.contains(&id) {
                agent_ids.push(id);
            }
        }
        // Passages of the source without a file row (none are written so, but be thorough).
        sqlx::query("DELETE FROM agent_passages WHERE agent_id IS NULL AND source_id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sources_agents WHERE source_id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sources WHERE id = $1")
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(super::Removed {
            item: source,
            agent_ids,
        }))
    }

    async fn sources_metadata(&self, org_id: &str) -> StoreResult<OrganizationSourcesStats> {
        let sources = sqlx::query(
            "SELECT id, name FROM sources WHERE organization_id = $1 ORDER BY name ASC, id ASC",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let files = sqlx::query(
            "SELECT id, source_id, file_name, file_size FROM files WHERE organization_id = $1 \
             ORDER BY file_name ASC, id ASC",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        let mut by_source: HashMap<String, Vec<FileStats>> = HashMap::new();
        for row in &files {
            let source_id: String = row.try_get("source_id")?;
            by_source.entry(source_id).or_default().push(FileStats {
                file_id: row.try_get("id")?,
                file_name: row.try_get("file_name")?,
                file_size: row.try_get("file_size")?,
            });
        }
        let mut stats = OrganizationSourcesStats::default();
        for row in &sources {
            let source_id: String = row.try_get("id")?;
            let files = by_source.remove(&source_id).unwrap_or_default();
            let total_size: i64 = files.iter().filter_map(|f| f.file_size).sum();
            stats.total_files += files.len() as i64;
            stats.total_size += total_size;
            stats.sources.push(SourceStats {
                source_id,
                source_name: row.try_get("name")?,
                file_count: files.len() as i64,
                total_size,
                files,
            });
        }
        stats.total_sources = stats.sources.len() as i64;
        Ok(stats)
    }

    async fn attach_source(&self, agent_id: &str, source_id: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        link_source(&mut conn, agent_id, source_id, now()).await
    }

    async fn detach_source(&self, agent_id: &str, source_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM sources_agents WHERE agent_id = $1 AND source_id = $2")
            .bind(agent_id)
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM files_agents WHERE agent_id = $1 AND source_id = $2")
            .bind(agent_id)
            .bind(source_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn sources_of_agents(
        &self,
        agent_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<Source>>> {
        let mut out: HashMap<String, Vec<Source>> = HashMap::new();
        if agent_ids.is_empty() {
            return Ok(out);
        }
        let cols = SOURCE_COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT sa.agent_id AS link_agent_id, {cols} FROM sources_agents sa \
             JOIN sources s ON s.id = sa.source_id WHERE "
        ));
        push_in_list(&mut qb, "sa.agent_id", agent_ids);
        qb.push(" ORDER BY sa.created_at ASC, s.id ASC");
        let rows = qb.build().fetch_all(&self.pool).await?;
        for row in &rows {
            let agent_id: String = row.try_get("link_agent_id")?;
            out.entry(agent_id).or_default().push(source_from_row(row)?);
        }
        Ok(out)
    }

    async fn agents_of_source(&self, source_id: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT agent_id FROM sources_agents WHERE source_id = $1 ORDER BY created_at, agent_id",
        )
        .bind(source_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
