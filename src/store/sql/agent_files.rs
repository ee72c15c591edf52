// Agent-file imports: one transaction over tools, blocks and agents. Shared by both backends
// through `include!`.

/// The ids of the organization's tools with these names, read inside the transaction.
async fn tool_ids_by_name(
    conn: &mut Conn,
    org_id: &str,
    names: &[String],
) -> StoreResult<HashMap<String, String>> {
    let mut ids = HashMap::new();
    for chunk in dedup_ordered(names).chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("SELECT id, name FROM tools WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "name", chunk);
        for row in qb.build().fetch_all(&mut *conn).await? {
            ids.insert(row.try_get("name")?, row.try_get("id")?);
        }
    }
    Ok(ids)
}

#[async_trait::async_trait]
impl super::AgentFileStore for SqlStore {
    async fn import_bundle(&self, bundle: &super::ImportBundle) -> StoreResult<()> {
        let org_id = bundle.organization_id.as_str();
        let mut tx = self.begin_write().await?;
        let upsert = format!("{INSERT_TOOL} {UPSERT_TOOL_BY_NAME}");
        for tool in &bundle.tools {
            bind_new_tool(sqlx::query(&upsert), tool)
                .fetch_one(&mut *tx)
                .await?;
        }
        for block in &bundle.blocks {
            insert_block_row(&mut tx, org_id, block).await?;
        }
        let names: Vec<String> = bundle
            .agents
            .iter()
            .flat_map(|a| a.tool_names.iter().cloned())
            .collect();
        let ids = tool_ids_by_name(&mut tx, org_id, &names).await?;
        for imported in &bundle.agents {
            let mut agent = imported.agent.clone();
            agent.tool_ids = imported
                .tool_names
                .iter()
                .map(|name| {
                    ids.get(name).cloned().ok_or_else(|| {
                        StoreError::Rejected(format!("Tool {name:?} no longer exists"))
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            insert_new_agent(&mut tx, &agent).await?;
        }
        for group in &bundle.groups {
            insert_group(&mut tx, group).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
