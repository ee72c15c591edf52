// Agent-file imports: one transaction over MCP servers, tools, blocks, sources, files and
// agents. Shared by both backends through `include!`.

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

/// Writes an agent's file row as it is (open or closed, its view and access time).
async fn insert_file_agent(
    conn: &mut Conn,
    file: &crate::schemas::file::FileAgent,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO files_agents (id, organization_id, agent_id, file_id, source_id, \
         file_name, is_open, visible_content, last_accessed_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&file.id)
    .bind(&file.organization_id)
    .bind(&file.agent_id)
    .bind(&file.file_id)
    .bind(&file.source_id)
    .bind(&file.file_name)
    .bind(file.is_open)
    .bind(file.visible_content.as_deref())
    .bind(file.last_accessed_at)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::AgentFileStore for SqlStore {
    async fn import_bundle(&self, bundle: &super::ImportBundle) -> StoreResult<()> {
        let org_id = bundle.organization_id.as_str();
        let mut tx = self.begin_write().await?;
        for server in &bundle.mcp_servers {
            upsert_mcp_server_by_name(&mut tx, server).await?;
        }
        let upsert = format!("{INSERT_TOOL} {UPSERT_TOOL_BY_NAME}");
        for tool in &bundle.tools {
            bind_new_tool(sqlx::query(&upsert), tool)
                .fetch_one(&mut *tx)
                .await?;
        }
        for block in &bundle.blocks {
            insert_block_row(&mut tx, org_id, block).await?;
        }
        for source in &bundle.sources {
            insert_source(&mut tx, source).await?;
        }
        for imported in &bundle.files {
            insert_file(&mut tx, &imported.file, bundle.replica.as_ref()).await?;
            if let Some(text) = &imported.content {
                sqlx::query("INSERT INTO file_contents (file_id, text) VALUES ($1, $2)")
                    .bind(&imported.file.id)
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let names: Vec<String> = bundle
            .agents
            .iter()
            .flat_map(|a| a.tool_names.iter().cloned())
            .collect();
        let ids = tool_ids_by_name(&mut tx, org_id, &names).await?;
        let attached_at = now();
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
            for (i, source_id) in imported.source_ids.iter().enumerate() {
                // One microsecond apart, so listings keep the file's attachment order.
                let at = attached_at + chrono::Duration::microseconds(i as i64);
                link_source(&mut tx, &agent.row.id, source_id, at).await?;
            }
            for file in &imported.files {
                insert_file_agent(&mut tx, file).await?;
            }
        }
        for group in &bundle.groups {
            insert_group(&mut tx, group).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
