// Tools and their attachment to agents. Shared by both backends through `include!`.

/// The columns [`tool_from_row`] reads, qualified by the alias `t`.
const TOOL_COLUMNS: &str = "t.id, t.organization_id, t.name, t.tool_type, t.description, t.tags, \
     t.source_type, t.source_code, t.json_schema, t.args_json_schema, t.return_char_limit, \
     t.pip_requirements, t.metadata, t.created_by_id, t.last_updated_by_id";

fn tool_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Tool> {
    let tool_type: String = row.try_get("tool_type")?;
    Ok(Tool {
        id: row.try_get("id")?,
        tool_type: ToolType::parse(&tool_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown tool_type {tool_type:?}")))?,
        description: row.try_get("description")?,
        source_type: Some(row.try_get("source_type")?),
        organization_id: Some(row.try_get("organization_id")?),
        name: Some(row.try_get("name")?),
        tags: json_col(row, "tags")?,
        source_code: row.try_get("source_code")?,
        json_schema: json_col_opt(row, "json_schema")?,
        args_json_schema: json_col_opt(row, "args_json_schema")?,
        return_char_limit: row.try_get("return_char_limit")?,
        pip_requirements: json_col_opt(row, "pip_requirements")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        metadata_: json_col_opt(row, "metadata")?,
    })
}

/// Inserts a tool row; the caller adds what happens on a name clash and `RETURNING *`.
const INSERT_TOOL: &str = "INSERT INTO tools (id, organization_id, name, tool_type, description, \
     tags, source_type, source_code, json_schema, args_json_schema, return_char_limit, \
     pip_requirements, metadata, created_by_id, last_updated_by_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)";

/// What `upsert_tools_by_name` does to an existing tool of the same name.
const UPSERT_TOOL_BY_NAME: &str = "ON CONFLICT (organization_id, name) DO UPDATE SET tool_type = excluded.tool_type, \
     description = excluded.description, tags = excluded.tags, source_type = excluded.source_type, \
     source_code = excluded.source_code, json_schema = excluded.json_schema, \
     args_json_schema = excluded.args_json_schema, return_char_limit = excluded.return_char_limit, \
     pip_requirements = excluded.pip_requirements, metadata = excluded.metadata, \
     last_updated_by_id = excluded.last_updated_by_id, updated_at = excluded.updated_at \
     RETURNING *";

/// Binds [`INSERT_TOOL`]'s parameters for `tool`, stamped now.
fn bind_new_tool<'q>(
    query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    tool: &'q Tool,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    query
        .bind(&tool.id)
        .bind(tool.organization_id.as_deref())
        .bind(tool.name.as_deref())
        .bind(tool.tool_type.as_str())
        .bind(tool.description.as_deref())
        .bind(to_json(&tool.tags))
        .bind(tool.source_type.as_deref().unwrap_or("python"))
        .bind(tool.source_code.as_deref())
        .bind(tool.json_schema.as_ref().map(to_json))
        .bind(tool.args_json_schema.as_ref().map(to_json))
        .bind(tool.return_char_limit)
        .bind(tool.pip_requirements.as_ref().map(to_json))
        .bind(tool.metadata_.as_ref().map(to_json))
        .bind(tool.created_by_id.as_deref())
        .bind(tool.last_updated_by_id.as_deref())
        .bind(now())
}

/// Orders `tools` as their `key` appears in `order` (first occurrence), dropping the others.
fn tools_in_order(tools: Vec<Tool>, order: &[String], key: fn(&Tool) -> &str) -> Vec<Tool> {
    let mut by_key: HashMap<String, Tool> =
        tools.into_iter().map(|t| (key(&t).to_owned(), t)).collect();
    dedup_ordered(order)
        .iter()
        .filter_map(|k| by_key.remove(k))
        .collect()
}

#[async_trait::async_trait]
impl super::ToolStore for SqlStore {
    async fn upsert_tools_by_name(&self, tools: &[Tool]) -> StoreResult<Vec<Tool>> {
        let mut stored = Vec::with_capacity(tools.len());
        let sql = format!("{INSERT_TOOL} {UPSERT_TOOL_BY_NAME}");
        let mut tx = self.begin_write().await?;
        for tool in tools {
            let row = bind_new_tool(sqlx::query(&sql), tool)
            .fetch_one(&mut *tx)
            .await?;
            stored.push(tool_from_row(&row)?);
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn get_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<Option<Tool>> {
        let row = sqlx::query("SELECT * FROM tools WHERE id = $1 AND organization_id = $2")
            .bind(tool_id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tool_from_row).transpose()
    }

    async fn list_tools(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        name: Option<&str>,
    ) -> StoreResult<Vec<Tool>> {
        if let Some(name) = name {
            let row = sqlx::query("SELECT * FROM tools WHERE organization_id = $1 AND name = $2")
                .bind(org_id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            return row.as_ref().map(tool_from_row).into_iter().collect();
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM tools WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(after) = after {
            qb.push(" AND (created_at, id) > (SELECT created_at, id FROM tools WHERE id = ");
            qb.push_bind(after.to_owned());
            qb.push(" AND organization_id = ");
            qb.push_bind(org_id.to_owned());
            qb.push(")");
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(tool_from_row).collect()
    }

    async fn count_tools(&self, org_id: &str, exclude_names: &[&str]) -> StoreResult<i64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM tools WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if !exclude_names.is_empty() {
            qb.push(" AND NOT (");
            push_in_list(&mut qb, "name", exclude_names);
            qb.push(")");
        }
        Ok(qb.build_query_scalar().fetch_one(&self.pool).await?)
    }

    async fn tools_by_names(&self, org_id: &str, names: &[String]) -> StoreResult<Vec<Tool>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM tools WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "name", names);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let tools = rows
            .iter()
            .map(tool_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(tools_in_order(tools, names, Tool::name))
    }

    async fn tools_by_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Tool>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM tools WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "id", ids);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let tools = rows
            .iter()
            .map(tool_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(tools_in_order(tools, ids, |t| t.id.as_str()))
    }

    async fn attach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tools_agents (agent_id, tool_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(agent_id)
        .bind(tool_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn detach_tool(&self, agent_id: &str, tool_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM tools_agents WHERE agent_id = $1 AND tool_id = $2")
            .bind(agent_id)
            .bind(tool_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_tool(&self, tool: &Tool) -> StoreResult<Tool> {
        let sql = format!("{INSERT_TOOL} RETURNING *");
        let row = bind_new_tool(sqlx::query(&sql), tool)
        .fetch_one(&self.pool)
        .await?;
        tool_from_row(&row)
    }

    async fn update_tool(&self, tool: &Tool) -> StoreResult<Option<Tool>> {
        let row = sqlx::query(
            "UPDATE tools SET name = $3, description = $4, tags = $5, source_type = $6, \
             source_code = $7, json_schema = $8, args_json_schema = $9, return_char_limit = $10, \
             pip_requirements = $11, last_updated_by_id = $12, updated_at = $13 \
             WHERE id = $1 AND organization_id = $2 RETURNING *",
        )
        .bind(&tool.id)
        .bind(tool.organization_id.as_deref())
        .bind(tool.name.as_deref())
        .bind(tool.description.as_deref())
        .bind(to_json(&tool.tags))
        .bind(tool.source_type.as_deref().unwrap_or("python"))
        .bind(tool.source_code.as_deref())
        .bind(tool.json_schema.as_ref().map(to_json))
        .bind(tool.args_json_schema.as_ref().map(to_json))
        .bind(tool.return_char_limit)
        .bind(tool.pip_requirements.as_ref().map(to_json))
        .bind(tool.last_updated_by_id.as_deref())
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tool_from_row).transpose()
    }

    async fn delete_tool(&self, org_id: &str, tool_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM tools WHERE id = $1 AND organization_id = $2")
            .bind(tool_id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
