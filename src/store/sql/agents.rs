// Agents, their tags, tool/block/identity links and environment variables. Shared by both
// backends through `include!`.

fn agent_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<AgentRow> {
    let agent_type: String = row.try_get("agent_type")?;
    Ok(AgentRow {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        agent_type: AgentType::parse(&agent_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown agent_type {agent_type:?}")))?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        system: row.try_get("system")?,
        message_ids: json_col(row, "message_ids")?,
        response_format: json_col_opt(row, "response_format")?,
        metadata: json_col_opt(row, "metadata")?,
        llm_config: json_col(row, "llm_config")?,
        embedding_config: json_col(row, "embedding_config")?,
        tool_rules: json_col(row, "tool_rules")?,
        project_id: row.try_get("project_id")?,
        template_id: row.try_get("template_id")?,
        base_template_id: row.try_get("base_template_id")?,
        message_buffer_autoclear: row.try_get("message_buffer_autoclear")?,
        enable_sleeptime: row.try_get("enable_sleeptime")?,
        last_run_completion: row.try_get("last_run_completion")?,
        last_run_duration_ms: row.try_get("last_run_duration_ms")?,
        timezone: row.try_get("timezone")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn env_var_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<AgentEnvironmentVariable> {
    Ok(AgentEnvironmentVariable {
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        value: row.try_get("value")?,
        description: row.try_get("description")?,
        organization_id: Some(row.try_get("organization_id")?),
        agent_id: row.try_get("agent_id")?,
    })
}

async fn insert_agent_row(conn: &mut Conn, row: &AgentRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agents (id, organization_id, agent_type, name, description, system, message_ids, \
         response_format, metadata, llm_config, embedding_config, tool_rules, project_id, template_id, \
         base_template_id, message_buffer_autoclear, enable_sleeptime, last_run_completion, \
         last_run_duration_ms, timezone, created_by_id, last_updated_by_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22, $23, $24)",
    )
    .bind(&row.id)
    .bind(&row.organization_id)
    .bind(row.agent_type.as_str())
    .bind(&row.name)
    .bind(row.description.as_deref())
    .bind(&row.system)
    .bind(to_json(&row.message_ids))
    .bind(row.response_format.as_ref().map(to_json))
    .bind(row.metadata.as_ref().map(to_json))
    .bind(to_json(&row.llm_config))
    .bind(to_json(&row.embedding_config))
    .bind(to_json(&row.tool_rules))
    .bind(row.project_id.as_deref())
    .bind(row.template_id.as_deref())
    .bind(row.base_template_id.as_deref())
    .bind(row.message_buffer_autoclear)
    .bind(row.enable_sleeptime)
    .bind(row.last_run_completion)
    .bind(row.last_run_duration_ms)
    .bind(row.timezone.as_deref())
    .bind(row.created_by_id.as_deref())
    .bind(row.last_updated_by_id.as_deref())
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Attaches blocks of the organization to the agent in order, after `position`; a block whose
/// label (or id) is already attached is skipped silently. Returns the next free position.
async fn link_blocks_in_order(
    conn: &mut Conn,
    org_id: &str,
    agent_id: &str,
    block_ids: &[String],
    mut position: i64,
) -> StoreResult<i64> {
    for block_id in block_ids {
        let done = sqlx::query(
            "INSERT INTO blocks_agents (agent_id, block_id, block_label, position) \
             SELECT $1, b.id, b.label, $3 FROM blocks b WHERE b.id = $2 AND b.organization_id = $4 \
             ON CONFLICT DO NOTHING",
        )
        .bind(agent_id)
        .bind(block_id)
        .bind(position)
        .bind(org_id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            position += 1;
        }
    }
    Ok(position)
}

async fn link_tools(conn: &mut Conn, agent_id: &str, tool_ids: &[String]) -> StoreResult<()> {
    for chunk in dedup_ordered(tool_ids).chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO tools_agents (agent_id, tool_id) ");
        qb.push_values(chunk, |mut b, tool_id| {
            b.push_bind(agent_id.to_owned()).push_bind(tool_id.clone());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_tags(conn: &mut Conn, agent_id: &str, tags: &[String]) -> StoreResult<()> {
    for chunk in dedup_ordered(tags).chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO agents_tags (agent_id, tag) ");
        qb.push_values(chunk, |mut b, tag| {
            b.push_bind(agent_id.to_owned()).push_bind(tag.clone());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn link_identities_to_agent(
    conn: &mut Conn,
    agent_id: &str,
    identity_ids: &[String],
) -> StoreResult<()> {
    for chunk in dedup_ordered(identity_ids).chunks(INSERT_CHUNK) {
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO identities_agents (identity_id, agent_id) ");
        qb.push_values(chunk, |mut b, identity_id| {
            b.push_bind(identity_id.clone())
                .push_bind(agent_id.to_owned());
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_env_vars(
    conn: &mut Conn,
    org_id: &str,
    agent_id: &str,
    vars: &[AgentEnvironmentVariable],
) -> StoreResult<()> {
    let ts = now();
    for chunk in vars.chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO agent_environment_variables (id, organization_id, agent_id, key, value, \
             description, created_by_id, last_updated_by_id, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, var| {
            let id = if var.id.is_empty() {
                crate::schemas::new_id("agent-env")
            } else {
                var.id.clone()
            };
            b.push_bind(id)
                .push_bind(
                    var.organization_id
                        .clone()
                        .unwrap_or_else(|| org_id.to_owned()),
                )
                .push_bind(agent_id.to_owned())
                .push_bind(var.key.clone())
                .push_bind(var.value.clone())
                .push_bind(var.description.clone())
                .push_bind(var.created_by_id.clone())
                .push_bind(var.last_updated_by_id.clone())
                .push_bind(var.created_at.unwrap_or(ts))
                .push_bind(var.updated_at.unwrap_or(ts));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes everything of a new agent (row, blocks, links, tags, variables, messages) on `conn`.
async fn insert_new_agent(conn: &mut Conn, agent: &NewAgent) -> StoreResult<()> {
    let row = &agent.row;
    let org_id = row.organization_id.as_str();
    insert_agent_row(conn, row).await?;
    for block in &agent.new_blocks {
        insert_block_row(conn, org_id, block).await?;
    }
    let new_ids: Vec<String> = agent.new_blocks.iter().map(|b| b.id.clone()).collect();
    let position = link_blocks_in_order(conn, org_id, &row.id, &new_ids, 0).await?;
    link_blocks_in_order(conn, org_id, &row.id, &agent.block_ids, position).await?;
    link_tools(conn, &row.id, &agent.tool_ids).await?;
    insert_tags(conn, &row.id, &agent.tags).await?;
    link_identities_to_agent(conn, &row.id, &agent.identity_ids).await?;
    insert_env_vars(conn, org_id, &row.id, &agent.env_vars).await?;
    insert_message_rows(conn, &agent.messages).await?;
    Ok(())
}

/// `ORDER BY` column of an agent listing.
fn agent_sort_column(sort: AgentSort) -> &'static str {
    match sort {
        AgentSort::CreatedAt => "created_at",
        AgentSort::LastRunCompletion => "last_run_completion",
    }
}

/// Joins the cursor agent's `(sort value, id)` as `alias.cv, alias.cid`: one row when the
/// cursor is an agent of the organization, NULLs otherwise (an unknown cursor filters nothing).
fn push_agent_cursor_join(
    qb: &mut QueryBuilder<'_, Db>,
    alias: &str,
    sort_col: &str,
    cursor: &str,
    org_id: &str,
) {
    qb.push(format!(
        " LEFT JOIN (SELECT {sort_col} AS cv, id AS cid FROM agents WHERE id = "
    ));
    qb.push_bind(cursor.to_owned());
    qb.push(" AND organization_id = ");
    qb.push_bind(org_id.to_owned());
    qb.push(format!(") {alias} ON 1 = 1"));
}

/// Keeps the rows strictly beyond the cursor joined as `alias`: `forward` is the ascending
/// direction `(v, id) > ref`. With `nulls_last` (sorting by `last_run_completion`) the rules
/// of the original apply: from a NULL reference forward = NULLs with a greater id plus all
/// non-NULLs, backward = NULLs with a smaller id; from a non-NULL reference forward = greater
/// non-NULL values only, backward = smaller values plus all NULLs.
fn push_agent_cursor_filter(
    qb: &mut QueryBuilder<'_, Db>,
    alias: &str,
    sort_col: &str,
    forward: bool,
    nulls_last: bool,
) {
    let col = format!("a.{sort_col}");
    let (cv, cid) = (format!("{alias}.cv"), format!("{alias}.cid"));
    let op = if forward { ">" } else { "<" };
    let beyond = format!("({col} {op} {cv} OR ({col} = {cv} AND a.id {op} {cid}))");
    let cond = if !nulls_last {
        beyond
    } else if forward {
        format!(
            "(({cv} IS NULL AND (({col} IS NULL AND a.id > {cid}) OR {col} IS NOT NULL)) \
             OR ({cv} IS NOT NULL AND {col} IS NOT NULL AND {beyond}))"
        )
    } else {
        format!(
            "(({cv} IS NULL AND {col} IS NULL AND a.id < {cid}) \
             OR ({cv} IS NOT NULL AND ({col} IS NULL OR {beyond})))"
        )
    };
    qb.push(format!(" AND ({cid} IS NULL OR {cond})"));
}

/// A block attached to an agent, as the memory relation query returns it.
#[derive(serde::Deserialize)]
struct BlockLink {
    agent_id: String,
    position: i64,
    block: Block,
}

/// The `(agent_id, col)` pairs of a link table for these agents, sorted, in one query
/// returning one row (two parallel JSON arrays).
async fn fetch_link_pairs(
    conn: &mut Conn,
    table: &str,
    col: &str,
    agent_ids: &[String],
) -> StoreResult<Vec<(String, String)>> {
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT {JSON_ARRAY_AGG}(agent_id) AS agent_ids, {JSON_ARRAY_AGG}({col}) AS linked \
         FROM {table} WHERE "
    ));
    push_in_list(&mut qb, "agent_id", agent_ids);
    let row = qb.build().fetch_one(&mut *conn).await?;
    let agents: Vec<String> = json_col_opt(&row, "agent_ids")?.unwrap_or_default();
    let linked: Vec<String> = json_col_opt(&row, "linked")?.unwrap_or_default();
    if agents.len() != linked.len() {
        return Err(StoreError::Corrupt(format!(
            "mismatched link arrays from {table}"
        )));
    }
    let mut pairs: Vec<(String, String)> = agents.into_iter().zip(linked).collect();
    pairs.sort();
    Ok(pairs)
}

#[async_trait::async_trait]
impl super::AgentStore for SqlStore {
    async fn create_agent(&self, agent: &NewAgent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_new_agent(&mut tx, agent).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<Option<AgentRow>> {
        let row = sqlx::query("SELECT * FROM agents WHERE id = $1 AND organization_id = $2")
            .bind(agent_id)
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    async fn list_agents(&self, org_id: &str, filter: &AgentFilter) -> StoreResult<Vec<AgentRow>> {
        let sort_col = agent_sort_column(filter.sort_by);
        let nulls_last = filter.sort_by == AgentSort::LastRunCompletion;
        let mut qb = QueryBuilder::<Db>::new("SELECT a.* FROM agents a");
        if let Some(after) = &filter.after {
            push_agent_cursor_join(&mut qb, "ca", sort_col, after, org_id);
        }
        if let Some(before) = &filter.before {
            push_agent_cursor_join(&mut qb, "cb", sort_col, before, org_id);
        }
        qb.push(" WHERE a.organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(name) = &filter.name {
            qb.push(" AND a.name = ");
            qb.push_bind(name.clone());
        }
        if let Some(text) = &filter.query_text {
            qb.push(" AND LOWER(a.name) LIKE LOWER(");
            qb.push_bind(contains_pattern(text));
            qb.push(")");
        }
        for (col, value) in [
            ("a.project_id", &filter.project_id),
            ("a.template_id", &filter.template_id),
            ("a.base_template_id", &filter.base_template_id),
        ] {
            if let Some(value) = value {
                qb.push(format!(" AND {col} = "));
                qb.push_bind(value.clone());
            }
        }
        if !filter.tags.is_empty() {
            let tags = dedup_ordered(&filter.tags);
            qb.push(" AND a.id IN (SELECT agent_id FROM agents_tags WHERE ");
            push_in_list(&mut qb, "tag", &tags);
            if filter.match_all_tags {
                qb.push(" GROUP BY agent_id HAVING COUNT(*) = ");
                qb.push_bind(tags.len() as i64);
            }
            qb.push(")");
        }
        if let Some(identity_id) = &filter.identity_id {
            qb.push(" AND a.id IN (SELECT agent_id FROM identities_agents WHERE identity_id = ");
            qb.push_bind(identity_id.clone());
            qb.push(")");
        }
        if !filter.identifier_keys.is_empty() {
            qb.push(
                " AND a.id IN (SELECT ia.agent_id FROM identities_agents ia \
                 JOIN identities i ON i.id = ia.identity_id WHERE i.organization_id = ",
            );
            qb.push_bind(org_id.to_owned());
            qb.push(" AND ");
            push_in_list(&mut qb, "i.identifier_key", &filter.identifier_keys);
            qb.push(")");
        }
        if filter.after.is_some() {
            push_agent_cursor_filter(&mut qb, "ca", sort_col, filter.ascending, nulls_last);
        }
        if filter.before.is_some() {
            push_agent_cursor_filter(&mut qb, "cb", sort_col, !filter.ascending, nulls_last);
        }
        let dir = if filter.ascending { "ASC" } else { "DESC" };
        let nulls = if nulls_last { " NULLS LAST" } else { "" };
        qb.push(format!(" ORDER BY a.{sort_col} {dir}{nulls}, a.id {dir}"));
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(agent_from_row).collect()
    }

    async fn count_agents(&self, org_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn load_relations(
        &self,
        agent_ids: &[String],
        which: RelationSet,
    ) -> StoreResult<HashMap<String, AgentRelations>> {
        let ids = dedup_ordered(agent_ids);
        let mut out: HashMap<String, AgentRelations> = ids
            .iter()
            .map(|id| (id.clone(), AgentRelations::default()))
            .collect();
        if ids.is_empty() {
            return Ok(out);
        }
        // Each relationship kind is one query returning one row (JSON arrays aggregated by
        // the database) or one row per distinct tool: decoding a few JSON documents is much
        // cheaper than moving hundreds of rows through the driver.
        let mut conn = self.pool.acquire().await?;
        if which.tags {
            let pairs = fetch_link_pairs(&mut conn, "agents_tags", "tag", &ids).await?;
            for (agent_id, tag) in pairs {
                if let Some(rel) = out.get_mut(&agent_id) {
                    rel.tags.push(tag);
                }
            }
        }
        if which.tools {
            // Agents mostly share the same tools: one row per distinct tool, with the ids of
            // the agents it is attached to, so each tool is transferred and decoded once.
            // The links are grouped before the join so only narrow rows are aggregated.
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {TOOL_COLUMNS}, l.agent_ids AS link_agent_ids FROM \
                 (SELECT tool_id, {JSON_ARRAY_AGG}(agent_id) AS agent_ids FROM tools_agents WHERE "
            ));
            push_in_list(&mut qb, "agent_id", &ids);
            qb.push(" GROUP BY tool_id) l JOIN tools t ON t.id = l.tool_id ORDER BY t.id");
            for row in qb.build().fetch_all(&mut *conn).await? {
                let tool = tool_from_row(&row)?;
                let agent_ids: Vec<String> = json_col(&row, "link_agent_ids")?;
                for agent_id in agent_ids {
                    if let Some(rel) = out.get_mut(&agent_id) {
                        rel.tools.push(tool.clone());
                    }
                }
            }
        }
        if which.memory {
            let block = format!(
                "{JSON_OBJECT}('id', b.id, 'organization_id', b.organization_id, 'label', b.label, \
                 'value', b.value, 'limit', b.\"limit\", 'name', b.template_name, \
                 'description', b.description, 'is_template', {}, 'preserve_on_migration', {}, \
                 'read_only', {}, 'metadata', {}, 'created_by_id', b.created_by_id, \
                 'last_updated_by_id', b.last_updated_by_id)",
                json_bool("b.is_template"),
                json_bool("b.preserve_on_migration"),
                json_bool("b.read_only"),
                json_embed("b.metadata"),
            );
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {JSON_ARRAY_AGG}({JSON_OBJECT}('agent_id', ba.agent_id, \
                 'position', ba.position, 'block', {block})) AS links \
                 FROM blocks_agents ba JOIN blocks b ON b.id = ba.block_id WHERE "
            ));
            push_in_list(&mut qb, "ba.agent_id", &ids);
            let row = qb.build().fetch_one(&mut *conn).await?;
            let mut links: Vec<BlockLink> = json_col_opt(&row, "links")?.unwrap_or_default();
            links.sort_by(|x, y| {
                (&x.agent_id, x.position, &x.block.id).cmp(&(&y.agent_id, y.position, &y.block.id))
            });
            for link in links {
                if let Some(rel) = out.get_mut(&link.agent_id) {
                    rel.blocks.push(link.block);
                }
            }
        }
        if which.identity_ids {
            let pairs =
                fetch_link_pairs(&mut conn, "identities_agents", "identity_id", &ids).await?;
            for (agent_id, identity_id) in pairs {
                if let Some(rel) = out.get_mut(&agent_id) {
                    rel.identity_ids.push(identity_id);
                }
            }
        }
        if which.env_vars {
            let mut qb =
                QueryBuilder::<Db>::new("SELECT * FROM agent_environment_variables WHERE ");
            push_in_list(&mut qb, "agent_id", &ids);
            qb.push(" ORDER BY agent_id, key");
            for row in qb.build().fetch_all(&mut *conn).await? {
                let var = env_var_from_row(&row)?;
                if let Some(rel) = out.get_mut(&var.agent_id) {
                    rel.env_vars.push(var);
                }
            }
        }
        Ok(out)
    }

    async fn update_agent(
        &self,
        org_id: &str,
        agent_id: &str,
        patch: &AgentPatch,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM agents WHERE id = $1 AND organization_id = $2")
            .bind(agent_id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }

        let mut qb = QueryBuilder::<Db>::new("UPDATE agents SET ");
        let mut any = false;
        {
            let mut set = qb.separated(", ");
            macro_rules! set_col {
                ($col:literal, $value:expr) => {
                    if let Some(value) = $value {
                        set.push(concat!($col, " = "));
                        set.push_bind_unseparated(value);
                        any = true;
                    }
                };
            }
            set_col!("name", patch.name.clone());
            set_col!("description", patch.description.clone());
            set_col!("system", patch.system.clone());
            set_col!("message_ids", patch.message_ids.as_ref().map(to_json));
            set_col!(
                "response_format",
                patch.response_format.as_ref().map(to_json)
            );
            set_col!("metadata", patch.metadata.as_ref().map(to_json));
            set_col!("llm_config", patch.llm_config.as_ref().map(to_json));
            set_col!(
                "embedding_config",
                patch.embedding_config.as_ref().map(to_json)
            );
            set_col!("tool_rules", patch.tool_rules.as_ref().map(to_json));
            set_col!("project_id", patch.project_id.clone());
            set_col!("template_id", patch.template_id.clone());
            set_col!("base_template_id", patch.base_template_id.clone());
            set_col!("message_buffer_autoclear", patch.message_buffer_autoclear);
            set_col!("enable_sleeptime", patch.enable_sleeptime);
            set_col!("last_run_completion", patch.last_run_completion);
            set_col!("last_run_duration_ms", patch.last_run_duration_ms);
            set_col!("timezone", patch.timezone.clone());
            set_col!("last_updated_by_id", patch.last_updated_by_id.clone());
            set_col!("updated_at", patch.updated_at);
        }
        if any {
            qb.push(" WHERE id = ");
            qb.push_bind(agent_id.to_owned());
            qb.push(" AND organization_id = ");
            qb.push_bind(org_id.to_owned());
            qb.build().execute(&mut *tx).await?;
        }

        if let Some(tool_ids) = &patch.tool_ids {
            sqlx::query("DELETE FROM tools_agents WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            link_tools(&mut tx, agent_id, tool_ids).await?;
        }
        if let Some(block_ids) = &patch.block_ids {
            sqlx::query("DELETE FROM blocks_agents WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            link_blocks_in_order(&mut tx, org_id, agent_id, block_ids, 0).await?;
        }
        if let Some(tags) = &patch.tags {
            sqlx::query("DELETE FROM agents_tags WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            insert_tags(&mut tx, agent_id, tags).await?;
        }
        if let Some(identity_ids) = &patch.identity_ids {
            sqlx::query("DELETE FROM identities_agents WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            link_identities_to_agent(&mut tx, agent_id, identity_ids).await?;
        }
        if let Some(vars) = &patch.env_vars {
            sqlx::query("DELETE FROM agent_environment_variables WHERE agent_id = $1")
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            insert_env_vars(&mut tx, org_id, agent_id, vars).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_agent(&self, org_id: &str, agent_id: &str) -> StoreResult<bool> {
        use super::GroupStore;
        let deleted = self
            .delete_groups_and_agents(org_id, &[], &[agent_id.to_owned()])
            .await?;
        Ok(deleted > 0)
    }

    async fn agents_for_block(&self, org_id: &str, block_id: &str) -> StoreResult<Vec<AgentRow>> {
        let rows = sqlx::query(
            "SELECT a.* FROM agents a JOIN blocks_agents ba ON ba.agent_id = a.id \
             WHERE ba.block_id = $1 AND a.organization_id = $2 ORDER BY a.created_at, a.id",
        )
        .bind(block_id)
        .bind(org_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    async fn list_tags(
        &self,
        org_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        query_text: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT DISTINCT t.tag FROM agents_tags t JOIN agents a ON a.id = t.agent_id \
             WHERE a.organization_id = ",
        );
        qb.push_bind(org_id.to_owned());
        if let Some(after) = after {
            qb.push(" AND t.tag > ");
            qb.push_bind(after.to_owned());
        }
        if let Some(text) = query_text {
            qb.push(" AND LOWER(t.tag) LIKE LOWER(");
            qb.push_bind(contains_pattern(text));
            qb.push(")");
        }
        qb.push(" ORDER BY t.tag");
        push_limit(&mut qb, limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("tag")?)).collect()
    }

    async fn existing_agent_ids(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT id FROM agents WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "id", ids);
        let found: Vec<String> = qb.build_query_scalar().fetch_all(&self.pool).await?;
        Ok(keep_found(ids, found))
    }

    async fn agents_matching_tags(
        &self,
        org_id: &str,
        all: &[String],
        some: &[String],
        limit: i64,
    ) -> StoreResult<Vec<AgentRow>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT a.* FROM agents a WHERE a.organization_id = ");
        qb.push_bind(org_id.to_owned());
        let all = dedup_ordered(all);
        if !all.is_empty() {
            qb.push(" AND a.id IN (SELECT agent_id FROM agents_tags WHERE ");
            push_in_list(&mut qb, "tag", &all);
            qb.push(" GROUP BY agent_id HAVING COUNT(*) = ");
            qb.push_bind(all.len() as i64);
            qb.push(")");
        }
        let some = dedup_ordered(some);
        if !some.is_empty() {
            qb.push(" AND a.id IN (SELECT agent_id FROM agents_tags WHERE ");
            push_in_list(&mut qb, "tag", &some);
            qb.push(")");
        }
        qb.push(" ORDER BY a.id");
        push_limit(&mut qb, Some(limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(agent_from_row).collect()
    }
}
