// Identities and their links to agents and blocks. Shared by both backends through
// `include!`.

/// An identity row; `agent_ids`/`block_ids` are filled by [`fill_identity_links`].
fn identity_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Identity> {
    let identity_type: String = row.try_get("identity_type")?;
    Ok(Identity {
        id: row.try_get("id")?,
        identifier_key: row.try_get("identifier_key")?,
        name: row.try_get("name")?,
        identity_type: IdentityType::parse(&identity_type).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown identity_type {identity_type:?}"))
        })?,
        project_id: row.try_get("project_id")?,
        agent_ids: Vec::new(),
        block_ids: Vec::new(),
        organization_id: Some(row.try_get("organization_id")?),
        properties: json_col(row, "properties")?,
    })
}

/// Loads the agent and block links of the identities, one query per link table.
async fn fill_identity_links(conn: &mut Conn, identities: &mut [Identity]) -> StoreResult<()> {
    if identities.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = identities.iter().map(|i| i.id.clone()).collect();
    let index: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.clone(), n))
        .collect();
    for (table, col) in [
        ("identities_agents", "agent_id"),
        ("identities_blocks", "block_id"),
    ] {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT identity_id, {col} AS linked FROM {table} WHERE "
        ));
        push_in_list(&mut qb, "identity_id", &ids);
        qb.push(format!(" ORDER BY identity_id, {col}"));
        for row in qb.build().fetch_all(&mut *conn).await? {
            let identity_id: String = row.try_get("identity_id")?;
            let linked: String = row.try_get("linked")?;
            if let Some(&n) = index.get(&identity_id) {
                if col == "agent_id" {
                    identities[n].agent_ids.push(linked);
                } else {
                    identities[n].block_ids.push(linked);
                }
            }
        }
    }
    Ok(())
}

/// Adds links from the identity to agents or blocks, ignoring those already present.
async fn add_identity_links(
    conn: &mut Conn,
    identity_id: &str,
    table: &str,
    col: &str,
    ids: &[String],
) -> StoreResult<()> {
    for chunk in dedup_ordered(ids).chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(format!("INSERT INTO {table} (identity_id, {col}) "));
        qb.push_values(chunk, |mut b, id| {
            b.push_bind(identity_id.to_owned()).push_bind(id.clone());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Applies `links` to the identity's link tables (`None` lists are left alone).
async fn write_identity_links(
    conn: &mut Conn,
    identity_id: &str,
    links: &IdentityLinks,
) -> StoreResult<()> {
    for (table, col, ids) in [
        ("identities_agents", "agent_id", &links.agent_ids),
        ("identities_blocks", "block_id", &links.block_ids),
    ] {
        let Some(ids) = ids else { continue };
        if links.replace {
            sqlx::query(&format!("DELETE FROM {table} WHERE identity_id = $1"))
                .bind(identity_id)
                .execute(&mut *conn)
                .await?;
        }
        add_identity_links(conn, identity_id, table, col, ids).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl super::IdentityStore for SqlStore {
    async fn create_identity(&self, identity: &Identity) -> StoreResult<()> {
        let ts = now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO identities (id, organization_id, identifier_key, name, identity_type, project_id, \
             properties, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&identity.id)
        .bind(identity.organization_id.as_deref())
        .bind(&identity.identifier_key)
        .bind(&identity.name)
        .bind(identity.identity_type.as_str())
        .bind(identity.project_id.as_deref())
        .bind(to_json(&identity.properties))
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        let links = IdentityLinks {
            agent_ids: Some(identity.agent_ids.clone()),
            block_ids: Some(identity.block_ids.clone()),
            replace: false,
        };
        write_identity_links(&mut tx, &identity.id, &links).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_identity(&self, org_id: &str, id: &str) -> StoreResult<Option<Identity>> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query("SELECT * FROM identities WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut found = [identity_from_row(&row)?];
        fill_identity_links(&mut conn, &mut found).await?;
        let [identity] = found;
        Ok(Some(identity))
    }

    async fn find_identity_by_key(
        &self,
        org_id: &str,
        identifier_key: &str,
        project_id: Option<&str>,
    ) -> StoreResult<Option<Identity>> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT * FROM identities WHERE organization_id = $1 AND identifier_key = $2 \
             AND COALESCE(project_id, '') = COALESCE($3, '')",
        )
        .bind(org_id)
        .bind(identifier_key)
        .bind(project_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut found = [identity_from_row(&row)?];
        fill_identity_links(&mut conn, &mut found).await?;
        let [identity] = found;
        Ok(Some(identity))
    }

    async fn list_identities(
        &self,
        org_id: &str,
        filter: &IdentityFilter,
    ) -> StoreResult<Vec<Identity>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM identities WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(name) = &filter.name {
            qb.push(" AND LOWER(name) LIKE LOWER(");
            qb.push_bind(contains_pattern(name));
            qb.push(")");
        }
        if let Some(project_id) = &filter.project_id {
            qb.push(" AND project_id = ");
            qb.push_bind(project_id.clone());
        }
        if let Some(key) = &filter.identifier_key {
            qb.push(" AND identifier_key = ");
            qb.push_bind(key.clone());
        }
        if let Some(kind) = filter.identity_type {
            qb.push(" AND identity_type = ");
            qb.push_bind(kind.as_str());
        }
        for (cursor, op) in [(&filter.after, ">"), (&filter.before, "<")] {
            if let Some(cursor) = cursor {
                qb.push(format!(
                    " AND (created_at, id) {op} (SELECT created_at, id FROM identities WHERE id = "
                ));
                qb.push_bind(cursor.clone());
                qb.push(" AND organization_id = ");
                qb.push_bind(org_id.to_owned());
                qb.push(")");
            }
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, filter.limit);
        let mut conn = self.pool.acquire().await?;
        let rows = qb.build().fetch_all(&mut *conn).await?;
        let mut identities = rows
            .iter()
            .map(identity_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        fill_identity_links(&mut conn, &mut identities).await?;
        Ok(identities)
    }

    async fn count_identities(&self, org_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_identity(
        &self,
        org_id: &str,
        identity: &Identity,
        links: &IdentityLinks,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE identities SET identifier_key = $1, name = $2, identity_type = $3, project_id = $4, \
             properties = $5, updated_at = $6 WHERE id = $7 AND organization_id = $8",
        )
        .bind(&identity.identifier_key)
        .bind(&identity.name)
        .bind(identity.identity_type.as_str())
        .bind(identity.project_id.as_deref())
        .bind(to_json(&identity.properties))
        .bind(now())
        .bind(&identity.id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        write_identity_links(&mut tx, &identity.id, links).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_identity_properties(
        &self,
        org_id: &str,
        id: &str,
        properties: &[IdentityProperty],
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE identities SET properties = $1, updated_at = $2 WHERE id = $3 AND organization_id = $4",
        )
        .bind(to_json(&properties))
        .bind(now())
        .bind(id)
        .bind(org_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_identity(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM identities WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
