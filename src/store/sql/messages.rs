// Messages of agents. Shared by both backends through `include!`.

fn message_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Message> {
    let role: String = row.try_get("role")?;
    Ok(Message {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        agent_id: row.try_get("agent_id")?,
        role: MessageRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown message role {role:?}")))?,
        content: json_col(row, "content")?,
        model: row.try_get("model")?,
        name: row.try_get("name")?,
        tool_calls: json_col(row, "tool_calls")?,
        tool_call_id: row.try_get("tool_call_id")?,
        tool_returns: json_col(row, "tool_returns")?,
        step_id: row.try_get("step_id")?,
        otid: row.try_get("otid")?,
        group_id: row.try_get("group_id")?,
        sender_id: row.try_get("sender_id")?,
        batch_item_id: row.try_get("batch_item_id")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The searchable copy of a message: its text parts (every content part with a string
/// `text`) joined by newlines, lowercased.
fn message_search_text(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|part| part.get("text").and_then(serde_json::Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and the escape character itself
/// escaped (use with `ESCAPE '\'`).
fn escaped_contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Inserts messages with multi-row INSERTs; the database assigns `sequence_id` in the order
/// of `messages`.
async fn insert_message_rows(conn: &mut Conn, messages: &[Message]) -> StoreResult<()> {
    for chunk in messages.chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO messages (id, organization_id, agent_id, role, content, model, name, tool_calls, \
             tool_call_id, tool_returns, step_id, otid, group_id, sender_id, batch_item_id, created_by_id, \
             last_updated_by_id, created_at, updated_at, search_text) ",
        );
        qb.push_values(chunk, |mut b, m| {
            b.push_bind(m.id.clone())
                .push_bind(m.organization_id.clone())
                .push_bind(m.agent_id.clone())
                .push_bind(m.role.as_str())
                .push_bind(to_json(&m.content))
                .push_bind(m.model.clone())
                .push_bind(m.name.clone())
                .push_bind(to_json(&m.tool_calls))
                .push_bind(m.tool_call_id.clone())
                .push_bind(to_json(&m.tool_returns))
                .push_bind(m.step_id.clone())
                .push_bind(m.otid.clone())
                .push_bind(m.group_id.clone())
                .push_bind(m.sender_id.clone())
                .push_bind(m.batch_item_id.clone())
                .push_bind(m.created_by_id.clone())
                .push_bind(m.last_updated_by_id.clone())
                .push_bind(m.created_at)
                .push_bind(m.updated_at)
                .push_bind(message_search_text(m));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl super::MessageStore for SqlStore {
    async fn insert_messages(&self, messages: &[Message]) -> StoreResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        insert_message_rows(&mut tx, messages).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_messages(&self, org_id: &str, ids: &[String]) -> StoreResult<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM messages WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND ");
        push_in_list(&mut qb, "id", ids);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let by_id: HashMap<String, Message> = rows
            .iter()
            .map(|row| message_from_row(row).map(|m| (m.id.clone(), m)))
            .collect::<StoreResult<_>>()?;
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    async fn count_agent_messages(&self, agent_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_message_content(&self, message: &Message) -> StoreResult<()> {
        sqlx::query(
            "UPDATE messages SET content = $1, updated_at = $2, search_text = $5 \
             WHERE id = $3 AND organization_id = $4",
        )
        .bind(to_json(&message.content))
        .bind(message.updated_at)
        .bind(&message.id)
        .bind(&message.organization_id)
        .bind(message_search_text(message))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_message(&self, message: &Message) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE messages SET role = $3, content = $4, search_text = $5, model = $6, name = $7, \
             tool_calls = $8, tool_call_id = $9, tool_returns = $10, step_id = $11, otid = $12, \
             group_id = $13, sender_id = $14, batch_item_id = $15, last_updated_by_id = $16, \
             updated_at = $17 WHERE id = $1 AND organization_id = $2",
        )
        .bind(&message.id)
        .bind(&message.organization_id)
        .bind(message.role.as_str())
        .bind(to_json(&message.content))
        .bind(message_search_text(message))
        .bind(message.model.as_deref())
        .bind(message.name.as_deref())
        .bind(to_json(&message.tool_calls))
        .bind(message.tool_call_id.as_deref())
        .bind(to_json(&message.tool_returns))
        .bind(message.step_id.as_deref())
        .bind(message.otid.as_deref())
        .bind(message.group_id.as_deref())
        .bind(message.sender_id.as_deref())
        .bind(message.batch_item_id.as_deref())
        .bind(message.last_updated_by_id.as_deref())
        .bind(message.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn message_sequence_id(&self, message_id: &str) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT sequence_id FROM messages WHERE id = $1")
                .bind(message_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn list_agent_messages(
        &self,
        agent_id: &str,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Message>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM messages WHERE agent_id = ");
        qb.push_bind(agent_id.to_owned());
        if let Some(after) = filter.after_sequence {
            qb.push(" AND sequence_id > ");
            qb.push_bind(after);
        }
        if let Some(before) = filter.before_sequence {
            qb.push(" AND sequence_id < ");
            qb.push_bind(before);
        }
        if let Some(group_id) = &filter.group_id {
            qb.push(" AND group_id = ");
            qb.push_bind(group_id.clone());
        }
        qb.push(if filter.ascending {
            " ORDER BY sequence_id ASC"
        } else {
            " ORDER BY sequence_id DESC"
        });
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn search_agent_messages(
        &self,
        agent_id: &str,
        query: &str,
        roles: &[MessageRole],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM messages WHERE agent_id = ");
        qb.push_bind(agent_id.to_owned());
        // Lowercased here rather than with SQL `lower()`, whose Unicode handling differs
        // between the dialects (SQLite's folds ASCII only); `search_text` is lowercased the
        // same way when written.
        qb.push(" AND search_text LIKE ");
        qb.push_bind(escaped_contains_pattern(&query.to_lowercase()));
        qb.push(" ESCAPE '\\'");
        if !roles.is_empty() {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            qb.push(" AND ");
            push_in_list(&mut qb, "role", &roles);
        }
        qb.push(" ORDER BY sequence_id ASC LIMIT ");
        qb.push_bind(limit.max(0));
        qb.push(" OFFSET ");
        qb.push_bind(offset.max(0));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn delete_agent_messages_except(
        &self,
        agent_id: &str,
        keep: &[String],
    ) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<Db>::new("DELETE FROM messages WHERE agent_id = ");
        qb.push_bind(agent_id.to_owned());
        if !keep.is_empty() {
            qb.push(" AND NOT (");
            push_in_list(&mut qb, "id", keep);
            qb.push(")");
        }
        let done = qb.build().execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
