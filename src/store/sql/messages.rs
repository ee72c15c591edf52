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

/// Inserts messages with multi-row INSERTs; the database assigns `sequence_id` in the order
/// of `messages`.
async fn insert_message_rows(conn: &mut Conn, messages: &[Message]) -> StoreResult<()> {
    for chunk in messages.chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO messages (id, organization_id, agent_id, role, content, model, name, tool_calls, \
             tool_call_id, tool_returns, step_id, otid, group_id, sender_id, batch_item_id, created_by_id, \
             last_updated_by_id, created_at, updated_at) ",
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
                .push_bind(m.updated_at);
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
            "UPDATE messages SET content = $1, updated_at = $2 WHERE id = $3 AND organization_id = $4",
        )
        .bind(to_json(&message.content))
        .bind(message.updated_at)
        .bind(&message.id)
        .bind(&message.organization_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
