// Core-memory blocks and their attachment to agents. Shared by both backends through
// `include!`.

/// How many times `edit_block` re-reads and retries after losing a race on the version.
const BLOCK_UPDATE_ATTEMPTS: usize = 5;

fn block_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Block> {
    Ok(Block {
        value: row.try_get("value")?,
        limit: row.try_get("limit")?,
        name: row.try_get("template_name")?,
        is_template: row.try_get("is_template")?,
        preserve_on_migration: row.try_get("preserve_on_migration")?,
        label: Some(row.try_get("label")?),
        read_only: row.try_get("read_only")?,
        description: row.try_get("description")?,
        metadata: json_col_opt(row, "metadata")?,
        id: row.try_get("id")?,
        organization_id: Some(row.try_get("organization_id")?),
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
    })
}

/// Inserts a block of `org_id` at version 1.
async fn insert_block_row(conn: &mut Conn, org_id: &str, block: &Block) -> StoreResult<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO blocks (id, organization_id, label, value, \"limit\", template_name, description, \
         is_template, preserve_on_migration, read_only, metadata, version, created_by_id, \
         last_updated_by_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14, $14)",
    )
    .bind(&block.id)
    .bind(org_id)
    .bind(block.label())
    .bind(&block.value)
    .bind(block.limit)
    .bind(block.name.as_deref())
    .bind(block.description.as_deref())
    .bind(block.is_template)
    .bind(block.preserve_on_migration)
    .bind(block.read_only)
    .bind(block.metadata.as_ref().map(to_json))
    .bind(block.created_by_id.as_deref())
    .bind(block.last_updated_by_id.as_deref())
    .bind(ts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::BlockStore for SqlStore {
    async fn create_block(&self, block: &Block) -> StoreResult<()> {
        let org_id = block.organization_id.as_deref().ok_or_else(|| {
            StoreError::Database(format!("block {} has no organization_id", block.id))
        })?;
        let mut conn = self.pool.acquire().await?;
        insert_block_row(&mut conn, org_id, block).await
    }

    async fn get_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>> {
        let row = sqlx::query("SELECT * FROM blocks WHERE id = $1 AND organization_id = $2")
            .bind(block_id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(block_from_row).transpose()
    }

    async fn list_blocks(&self, org_id: &str, filter: &BlockFilter) -> StoreResult<Vec<Block>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT b.* FROM blocks b WHERE b.organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND b.is_template = ");
        qb.push_bind(filter.templates_only);
        if let Some(label) = &filter.label {
            qb.push(" AND b.label = ");
            qb.push_bind(label.clone());
        }
        if let Some(name) = &filter.name {
            qb.push(" AND b.template_name = ");
            qb.push_bind(name.clone());
        }
        if let Some(identity_id) = &filter.identity_id {
            qb.push(" AND b.id IN (SELECT block_id FROM identities_blocks WHERE identity_id = ");
            qb.push_bind(identity_id.clone());
            qb.push(")");
        }
        if !filter.identifier_keys.is_empty() {
            qb.push(
                " AND b.id IN (SELECT ib.block_id FROM identities_blocks ib \
                 JOIN identities i ON i.id = ib.identity_id WHERE i.organization_id = ",
            );
            qb.push_bind(org_id.to_owned());
            qb.push(" AND ");
            push_in_list(&mut qb, "i.identifier_key", &filter.identifier_keys);
            qb.push(")");
        }
        qb.push(" ORDER BY b.created_at, b.id");
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(block_from_row).collect()
    }

    async fn count_blocks(&self, org_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM blocks WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn edit_block(
        &self,
        org_id: &str,
        block_id: &str,
        edit: BlockEdit<'_>,
    ) -> StoreResult<Option<Block>> {
        for _ in 0..BLOCK_UPDATE_ATTEMPTS {
            let mut tx = self.begin_write().await?;
            let select =
                format!("SELECT * FROM blocks WHERE id = $1 AND organization_id = $2{LOCK_FOR_UPDATE}");
            let Some(row) = sqlx::query(&select)
                    .bind(block_id)
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?
            else {
                return Ok(None);
            };
            let current = block_from_row(&row)?;
            let version: i64 = row.try_get("version")?;

            let mut next = current.clone();
            edit(&mut next).map_err(StoreError::Rejected)?;
            // Identity and creation metadata are the stored row's.
            next.id = current.id.clone();
            next.organization_id = current.organization_id.clone();
            next.created_by_id = current.created_by_id.clone();
            if next.label.is_none() {
                next.label = current.label.clone();
            }

            let done = sqlx::query(
                "UPDATE blocks SET label = $1, value = $2, \"limit\" = $3, template_name = $4, \
                 description = $5, is_template = $6, preserve_on_migration = $7, read_only = $8, \
                 metadata = $9, last_updated_by_id = $10, updated_at = $11, version = version + 1 \
                 WHERE id = $12 AND organization_id = $13 AND version = $14",
            )
            .bind(next.label())
            .bind(&next.value)
            .bind(next.limit)
            .bind(next.name.as_deref())
            .bind(next.description.as_deref())
            .bind(next.is_template)
            .bind(next.preserve_on_migration)
            .bind(next.read_only)
            .bind(next.metadata.as_ref().map(to_json))
            .bind(next.last_updated_by_id.as_deref())
            .bind(now())
            .bind(&next.id)
            .bind(org_id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                // A concurrent writer changed the row since it was read: read it again.
                tx.rollback().await?;
                continue;
            }
            if next.label() != current.label() {
                sqlx::query("UPDATE blocks_agents SET block_label = $1 WHERE block_id = $2")
                    .bind(next.label())
                    .bind(&next.id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(Some(next));
        }
        Err(StoreError::Database(format!(
            "block {block_id} kept changing concurrently; gave up after {BLOCK_UPDATE_ATTEMPTS} attempts"
        )))
    }

    async fn delete_block(&self, org_id: &str, block_id: &str) -> StoreResult<Option<Block>> {
        let row =
            sqlx::query("DELETE FROM blocks WHERE id = $1 AND organization_id = $2 RETURNING *")
                .bind(block_id)
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(block_from_row).transpose()
    }

    async fn attach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO blocks_agents (agent_id, block_id, block_label, position) \
             SELECT a.id, b.id, b.label, \
             COALESCE((SELECT MAX(position) FROM blocks_agents WHERE agent_id = $1), -1) + 1 \
             FROM blocks b JOIN agents a ON a.organization_id = b.organization_id \
             WHERE a.id = $1 AND b.id = $2",
        )
        .bind(agent_id)
        .bind(block_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ForeignKey(format!(
                "no block {block_id} in the organization of agent {agent_id}"
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn detach_block(&self, agent_id: &str, block_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM blocks_agents WHERE agent_id = $1 AND block_id = $2")
            .bind(agent_id)
            .bind(block_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn agent_block_by_label(
        &self,
        agent_id: &str,
        label: &str,
    ) -> StoreResult<Option<Block>> {
        let row = sqlx::query(
            "SELECT b.* FROM blocks_agents ba JOIN blocks b ON b.id = ba.block_id \
             WHERE ba.agent_id = $1 AND ba.block_label = $2",
        )
        .bind(agent_id)
        .bind(label)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(block_from_row).transpose()
    }

    async fn existing_block_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT id FROM blocks WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "id", ids);
        let found: Vec<String> = qb.build_query_scalar().fetch_all(&self.pool).await?;
        Ok(keep_found(ids, found))
    }
}
