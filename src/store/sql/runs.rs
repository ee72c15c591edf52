// Runs, stored in the `jobs` table, and the messages they produced. Shared by both backends
// through `include!`.

/// The statuses a run never leaves, as SQL literals for `status NOT IN (…)`.
const TERMINAL_RUN_STATUSES: &str = "('completed', 'failed', 'cancelled', 'expired')";

/// The statuses `fail_unfinished_runs` recovers from, as SQL literals for `status IN (…)`.
const UNFINISHED_RUN_STATUSES: &str = "('created', 'running')";

fn run_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Run> {
    use crate::schemas::run::JobType;
    let status: String = row.try_get("status")?;
    let job_type: String = row.try_get("job_type")?;
    Ok(Run {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job status {status:?}")))?,
        completed_at: row.try_get("completed_at")?,
        metadata: json_col_opt(row, "metadata")?,
        job_type: JobType::parse(&job_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown job type {job_type:?}")))?,
        callback_url: row.try_get("callback_url")?,
        callback_sent_at: row.try_get("callback_sent_at")?,
        callback_status_code: row.try_get("callback_status_code")?,
        callback_error: row.try_get("callback_error")?,
        id: row.try_get("id")?,
        user_id: Some(row.try_get("user_id")?),
        request_config: json_col_opt(row, "request_config")?,
        agent_id: row.try_get("agent_id")?,
        organization_id: row.try_get("organization_id")?,
    })
}

/// `metadata` with `error` set (kept in place when present, appended otherwise); a missing
/// or non-object metadata becomes `{"error": …}`.
fn metadata_with_error(metadata: Option<&str>, error: &str) -> String {
    let mut map = metadata
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|value| match value {
            serde_json::Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default();
    map.insert(
        "error".to_owned(),
        serde_json::Value::String(error.to_owned()),
    );
    to_json(&map)
}

/// The text value of the top-level `key` of the JSON-text column `col` (NULL when absent or
/// not a scalar), in this dialect. `key` must be a plain identifier.
fn json_text_field(col: &str, key: &str) -> String {
    debug_assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if <Db as sqlx::Database>::NAME == "PostgreSQL" {
        format!("(CAST({col} AS JSONB) ->> '{key}')")
    } else {
        format!("json_extract({col}, '$.{key}')")
    }
}

impl SqlStore {
    async fn insert_run(
        &self,
        run: &Run,
        replica: Option<&crate::replica::ReplicaId>,
    ) -> StoreResult<()> {
        let ts = now();
        let created_at = run.created_at.unwrap_or(ts);
        sqlx::query(
            "INSERT INTO jobs (id, organization_id, user_id, agent_id, status, job_type, completed_at, \
             metadata, request_config, callback_url, callback_sent_at, callback_status_code, \
             callback_error, created_by_id, last_updated_by_id, created_at, updated_at, \
             replica_id, replica_incarnation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19)",
        )
        .bind(&run.id)
        .bind(&run.organization_id)
        .bind(run.user_id.as_deref())
        .bind(run.agent_id.as_deref())
        .bind(run.status.as_str())
        .bind(run.job_type.as_str())
        .bind(run.completed_at)
        .bind(run.metadata.as_ref().map(to_json))
        .bind(run.request_config.as_ref().map(to_json))
        .bind(run.callback_url.as_deref())
        .bind(run.callback_sent_at)
        .bind(run.callback_status_code)
        .bind(run.callback_error.as_deref())
        .bind(run.created_by_id.as_deref())
        .bind(run.last_updated_by_id.as_deref())
        .bind(created_at)
        .bind(run.updated_at.unwrap_or(created_at))
        .bind(replica.map(|r| r.name.as_str()))
        .bind(replica.map(|r| r.incarnation.as_str()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl super::RunStore for SqlStore {
    async fn create_run(&self, run: &Run) -> StoreResult<()> {
        self.insert_run(run, None).await
    }

    async fn create_run_on(
        &self,
        run: &Run,
        replica: &crate::replica::ReplicaId,
    ) -> StoreResult<()> {
        self.insert_run(run, Some(replica)).await
    }

    async fn get_run(&self, user_id: &str, run_id: &str) -> StoreResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1 AND user_id = $2")
            .bind(run_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn get_run_any(&self, run_id: &str) -> StoreResult<Option<Run>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn update_run(&self, run: &Run) -> StoreResult<bool> {
        // One conditional statement: a run that reached a terminal status, even concurrently,
        // is never written again.
        let done = sqlx::query(&format!(
            "UPDATE jobs SET status = $2, completed_at = $3, metadata = $4, callback_url = $5, \
             callback_sent_at = $6, callback_status_code = $7, callback_error = $8, updated_at = $9 \
             WHERE id = $1 AND status NOT IN {TERMINAL_RUN_STATUSES}"
        ))
        .bind(&run.id)
        .bind(run.status.as_str())
        .bind(run.completed_at)
        .bind(run.metadata.as_ref().map(to_json))
        .bind(run.callback_url.as_deref())
        .bind(run.callback_sent_at)
        .bind(run.callback_status_code)
        .bind(run.callback_error.as_deref())
        .bind(run.updated_at.unwrap_or_else(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_runs(&self, user_id: &str, filter: &RunFilter) -> StoreResult<Vec<Run>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM jobs WHERE user_id = ");
        qb.push_bind(user_id.to_owned());
        if !filter.agent_ids.is_empty() {
            qb.push(" AND ");
            push_in_list(&mut qb, "agent_id", &filter.agent_ids);
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            qb.push(" AND ");
            push_in_list(&mut qb, "status", &statuses);
        }
        if let Some(job_type) = filter.job_type {
            qb.push(" AND job_type = ");
            qb.push_bind(job_type.as_str());
        }
        if let Some(source_id) = &filter.source_id {
            qb.push(format!(" AND {} = ", json_text_field("metadata", "source_id")));
            qb.push_bind(source_id.clone());
        }
        // Cursors are relative to the listing direction: `after` continues the listing,
        // `before` goes back. A cursor that is not a run of the user filters nothing.
        for (cursor, forward) in [
            (&filter.after, filter.ascending),
            (&filter.before, !filter.ascending),
        ] {
            if let Some(cursor) = cursor
                && let Some(at) =
                    cursor_created_at(&self.pool, "jobs", "user_id", user_id, cursor).await?
            {
                push_position_filter(&mut qb, at, cursor, forward);
            }
        }
        qb.push(if filter.ascending {
            " ORDER BY created_at ASC, id ASC"
        } else {
            " ORDER BY created_at DESC, id DESC"
        });
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn delete_run(&self, user_id: &str, run_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1 AND user_id = $2")
            .bind(run_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_run_messages(
        &self,
        run_id: &str,
        filter: &super::RunMessageFilter,
    ) -> StoreResult<Vec<Message>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT m.* FROM job_messages jm JOIN messages m ON m.id = jm.message_id \
             WHERE jm.job_id = ",
        );
        qb.push_bind(run_id.to_owned());
        if let Some(role) = filter.role {
            qb.push(" AND m.role = ");
            qb.push_bind(role.as_str());
        }
        // Positions in the insertion order, whatever the listing direction; a cursor that is
        // not a message filters nothing.
        for (cursor, op) in [(&filter.after, ">"), (&filter.before, "<")] {
            if let Some(cursor) = cursor {
                let sequence: Option<i64> =
                    sqlx::query_scalar("SELECT sequence_id FROM messages WHERE id = $1")
                        .bind(cursor)
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some(sequence) = sequence {
                    qb.push(format!(" AND m.sequence_id {op} "));
                    qb.push_bind(sequence);
                }
            }
        }
        qb.push(if filter.ascending {
            " ORDER BY m.sequence_id ASC"
        } else {
            " ORDER BY m.sequence_id DESC"
        });
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn record_callback(
        &self,
        run_id: &str,
        sent_at: crate::schemas::Timestamp,
        status_code: Option<i64>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET callback_sent_at = $2, callback_status_code = $3, \
             callback_error = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(run_id)
        .bind(sent_at)
        .bind(status_code)
        .bind(error)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_run(&self, run_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET updated_at = $2 WHERE id = $1 AND status IN {UNFINISHED_RUN_STATUSES}"
        ))
        .bind(run_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn fail_unfinished_runs(
        &self,
        stale_before: crate::schemas::Timestamp,
        error: &str,
    ) -> StoreResult<u64> {
        let ts = now();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, metadata FROM jobs WHERE status IN {UNFINISHED_RUN_STATUSES} \
             AND job_type = 'run' AND updated_at < $1"
        ))
        .bind(stale_before)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            let metadata: Option<String> = row.try_get("metadata")?;
            // The metadata is merged here rather than in SQL so its keys keep their order.
            let done = sqlx::query(&format!(
                "UPDATE jobs SET status = 'failed', completed_at = $2, updated_at = $2, \
                 metadata = $3 WHERE id = $1 AND status IN {UNFINISHED_RUN_STATUSES} \
                 AND updated_at < $4"
            ))
            .bind(&id)
            .bind(ts)
            .bind(metadata_with_error(metadata.as_deref(), error))
            .bind(stale_before)
            .execute(&mut *tx)
            .await?;
            changed += done.rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }
}
