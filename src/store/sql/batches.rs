// Message batches. Shared by both backends through `include!`.

use crate::schemas::run::Run as BatchRun;

impl SqlStore {
    async fn insert_batch_job(
        conn: &mut Conn,
        run: &BatchRun,
        batch_id: Option<&str>,
        replica: &crate::replica::ReplicaId,
    ) -> StoreResult<()> {
        let created_at = run.created_at.unwrap_or_else(now);
        sqlx::query(
            "INSERT INTO jobs (id, organization_id, user_id, agent_id, status, job_type, \
             completed_at, metadata, request_config, callback_url, created_by_id, \
             last_updated_by_id, created_at, updated_at, replica_id, replica_incarnation, batch_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        .bind(run.created_by_id.as_deref())
        .bind(run.last_updated_by_id.as_deref())
        .bind(created_at)
        .bind(run.updated_at.unwrap_or(created_at))
        .bind(replica.name.as_str())
        .bind(replica.incarnation.as_str())
        .bind(batch_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl super::BatchStore for SqlStore {
    async fn create_batch(
        &self,
        batch: &BatchRun,
        items: &[BatchRun],
        replica: &crate::replica::ReplicaId,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        Self::insert_batch_job(&mut tx, batch, None, replica).await?;
        for item in items {
            Self::insert_batch_job(&mut tx, item, Some(&batch.id), replica).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn batch_items(&self, batch_id: &str) -> StoreResult<Vec<BatchRun>> {
        sqlx::query("SELECT * FROM jobs WHERE batch_id = $1 ORDER BY created_at, id")
            .bind(batch_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run_from_row)
            .collect()
    }

    async fn list_open_batches(&self, user_id: &str) -> StoreResult<Vec<BatchRun>> {
        sqlx::query(&format!(
            "SELECT * FROM jobs WHERE user_id = $1 AND job_type = 'batch' \
             AND status IN {UNFINISHED_RUN_STATUSES} ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_from_row)
        .collect()
    }

    async fn cancel_waiting_batch_items(&self, batch_id: &str) -> StoreResult<u64> {
        let ts = now();
        let done = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', completed_at = $2, updated_at = $2 \
             WHERE batch_id = $1 AND status = 'created'",
        )
        .bind(batch_id)
        .bind(ts)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn touch_batch_items(&self, batch_id: &str) -> StoreResult<u64> {
        let done = sqlx::query(&format!(
            "UPDATE jobs SET updated_at = $2 WHERE batch_id = $1 \
             AND status IN {UNFINISHED_RUN_STATUSES}"
        ))
        .bind(batch_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_batch_messages(
        &self,
        batch_id: &str,
        filter: &super::BatchMessageFilter,
    ) -> StoreResult<Vec<Message>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT m.* FROM job_messages jm JOIN messages m ON m.id = jm.message_id \
             JOIN jobs j ON j.id = jm.job_id WHERE j.batch_id = ",
        );
        qb.push_bind(batch_id.to_owned());
        if let Some(agent_id) = &filter.agent_id {
            qb.push(" AND m.agent_id = ");
            qb.push_bind(agent_id.clone());
        }
        if let Some(cursor) = &filter.cursor {
            let sequence: Option<i64> =
                sqlx::query_scalar("SELECT sequence_id FROM messages WHERE id = $1")
                    .bind(cursor)
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(sequence) = sequence {
                qb.push(if filter.descending {
                    " AND m.sequence_id < "
                } else {
                    " AND m.sequence_id > "
                });
                qb.push_bind(sequence);
            }
        }
        qb.push(if filter.descending {
            " ORDER BY m.sequence_id DESC"
        } else {
            " ORDER BY m.sequence_id ASC"
        });
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(message_from_row).collect()
    }
}
