// Groups, their ordered participants and shared blocks, and the messages sent in them.
// Shared by both backends through `include!`.

use super::{GroupFilter, GroupMessageFilter};
use crate::schemas::group::{Group, ManagerType};

/// A group row; `agent_ids`/`shared_block_ids` are filled by [`fill_group_links`].
fn group_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<Group> {
    let manager_type: String = row.try_get("manager_type")?;
    Ok(Group {
        id: row.try_get("id")?,
        manager_type: ManagerType::parse(&manager_type).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown manager_type {manager_type:?}"))
        })?,
        agent_ids: Vec::new(),
        description: row.try_get("description")?,
        shared_block_ids: Vec::new(),
        manager_agent_id: row.try_get("manager_agent_id")?,
        termination_token: row.try_get("termination_token")?,
        max_turns: row.try_get("max_turns")?,
        sleeptime_agent_frequency: row.try_get("sleeptime_agent_frequency")?,
        turns_counter: row.try_get("turns_counter")?,
        last_processed_message_id: row.try_get("last_processed_message_id")?,
        max_message_buffer_length: row.try_get("max_message_buffer_length")?,
        min_message_buffer_length: row.try_get("min_message_buffer_length")?,
        organization_id: row.try_get("organization_id")?,
    })
}

/// Loads the participants (in speaking order) and shared blocks of the groups.
async fn fill_group_links(conn: &mut Conn, groups: &mut [Group]) -> StoreResult<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
    let index: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.clone(), n))
        .collect();
    for (table, col, order) in [
        ("groups_agents", "agent_id", "position"),
        ("groups_blocks", "block_id", "block_id"),
    ] {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT group_id, {col} AS linked FROM {table} WHERE "
        ));
        push_in_list(&mut qb, "group_id", &ids);
        qb.push(format!(" ORDER BY group_id, {order}"));
        for row in qb.build().fetch_all(&mut *conn).await? {
            let group_id: String = row.try_get("group_id")?;
            let linked: String = row.try_get("linked")?;
            if let Some(&n) = index.get(&group_id) {
                if col == "agent_id" {
                    groups[n].agent_ids.push(linked);
                } else {
                    groups[n].shared_block_ids.push(linked);
                }
            }
        }
    }
    Ok(())
}

/// Replaces the group's participants by `agent_ids`, in that order.
async fn write_group_agents(conn: &mut Conn, group_id: &str, agent_ids: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM groups_agents WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    let ordered: Vec<(usize, String)> = dedup_ordered(agent_ids).into_iter().enumerate().collect();
    for chunk in ordered.chunks(INSERT_CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO groups_agents (group_id, agent_id, position) ");
        qb.push_values(chunk, |mut b, (position, id)| {
            b.push_bind(group_id.to_owned())
                .push_bind(id.clone())
                .push_bind(*position as i64);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Runs a group query (`SELECT * FROM groups …`) and loads the links of what it found.
async fn fetch_groups(conn: &mut Conn, mut qb: QueryBuilder<'_, Db>) -> StoreResult<Vec<Group>> {
    let rows = qb.build().fetch_all(&mut *conn).await?;
    let mut groups = rows
        .iter()
        .map(group_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    fill_group_links(conn, &mut groups).await?;
    Ok(groups)
}

/// The settable columns of a group, bound as `$1`…`$10`.
const GROUP_SET: &str = "description = $1, manager_agent_id = $2, termination_token = $3, max_turns = $4, \
     sleeptime_agent_frequency = $5, turns_counter = $6, last_processed_message_id = $7, \
     max_message_buffer_length = $8, min_message_buffer_length = $9, updated_at = $10";

/// Writes a group, its participants and its shared blocks (attached to every participant
/// and the manager) on `conn`.
async fn insert_group(conn: &mut Conn, group: &Group) -> StoreResult<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO groups (id, organization_id, description, manager_type, manager_agent_id, \
         termination_token, max_turns, sleeptime_agent_frequency, turns_counter, \
         last_processed_message_id, max_message_buffer_length, min_message_buffer_length, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
    )
    .bind(&group.id)
    .bind(&group.organization_id)
    .bind(&group.description)
    .bind(group.manager_type.as_str())
    .bind(group.manager_agent_id.as_deref())
    .bind(group.termination_token.as_deref())
    .bind(group.max_turns)
    .bind(group.sleeptime_agent_frequency)
    .bind(group.turns_counter)
    .bind(group.last_processed_message_id.as_deref())
    .bind(group.max_message_buffer_length)
    .bind(group.min_message_buffer_length)
    .bind(ts)
    .execute(&mut *conn)
    .await?;
    write_group_agents(conn, &group.id, &group.agent_ids).await?;
    let blocks = dedup_ordered(&group.shared_block_ids);
    let mut holders = dedup_ordered(&group.agent_ids);
    if let Some(manager) = &group.manager_agent_id
        && !holders.contains(manager)
    {
        holders.push(manager.clone());
    }
    for block_id in &blocks {
        sqlx::query("INSERT INTO groups_blocks (group_id, block_id) VALUES ($1, $2)")
            .bind(&group.id)
            .bind(block_id)
            .execute(&mut *conn)
            .await?;
        for agent_id in &holders {
            sqlx::query(
                "INSERT INTO blocks_agents (agent_id, block_id, block_label, position) \
                 SELECT a.id, b.id, b.label, \
                 COALESCE((SELECT MAX(position) FROM blocks_agents WHERE agent_id = $1), -1) + 1 \
                 FROM blocks b JOIN agents a ON a.organization_id = b.organization_id \
                 WHERE a.id = $1 AND b.id = $2 \
                 ON CONFLICT (agent_id, block_id) DO NOTHING",
            )
            .bind(agent_id)
            .bind(block_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl super::GroupStore for SqlStore {
    async fn create_group(&self, group: &Group) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_group(&mut tx, group).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_group(&self, org_id: &str, id: &str) -> StoreResult<Option<Group>> {
        let mut conn = self.pool.acquire().await?;
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM groups WHERE id = ");
        qb.push_bind(id.to_owned());
        qb.push(" AND organization_id = ");
        qb.push_bind(org_id.to_owned());
        Ok(fetch_groups(&mut conn, qb).await?.pop())
    }

    async fn list_groups(
        &self,
        org_id: &str,
        filter: &GroupFilter,
    ) -> StoreResult<Option<Vec<Group>>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM groups WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        if let Some(kind) = filter.manager_type {
            qb.push(" AND manager_type = ");
            qb.push_bind(kind.as_str());
        }
        for (cursor, forward) in [(&filter.after, true), (&filter.before, false)] {
            if let Some(cursor) = cursor {
                let Some(at) =
                    cursor_created_at(&self.pool, "groups", "organization_id", org_id, cursor)
                        .await?
                else {
                    return Ok(None);
                };
                push_position_filter(&mut qb, at, cursor, forward);
            }
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, filter.limit);
        let mut conn = self.pool.acquire().await?;
        Ok(Some(fetch_groups(&mut conn, qb).await?))
    }

    async fn count_groups(&self, org_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM groups WHERE organization_id = $1")
                .bind(org_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_group(
        &self,
        org_id: &str,
        group: &Group,
        replace_agents: bool,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "UPDATE groups SET {GROUP_SET} WHERE id = $11 AND organization_id = $12"
        ))
        .bind(&group.description)
        .bind(group.manager_agent_id.as_deref())
        .bind(group.termination_token.as_deref())
        .bind(group.max_turns)
        .bind(group.sleeptime_agent_frequency)
        .bind(group.turns_counter)
        .bind(group.last_processed_message_id.as_deref())
        .bind(group.max_message_buffer_length)
        .bind(group.min_message_buffer_length)
        .bind(now())
        .bind(&group.id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if replace_agents {
            write_group_agents(&mut tx, &group.id, &group.agent_ids).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_group(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM groups WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_groups_and_agents(
        &self,
        org_id: &str,
        group_ids: &[String],
        agent_ids: &[String],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        for id in group_ids {
            sqlx::query("DELETE FROM groups WHERE id = $1 AND organization_id = $2")
                .bind(id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut deleted = 0;
        for id in agent_ids {
            deleted += sqlx::query("DELETE FROM agents WHERE id = $1 AND organization_id = $2")
                .bind(id)
                .bind(org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn groups_of_agent(
        &self,
        agent_id: &str,
        manager_type: Option<&str>,
    ) -> StoreResult<Vec<Group>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT g.* FROM groups g JOIN groups_agents ga ON ga.group_id = g.id WHERE ga.agent_id = ",
        );
        qb.push_bind(agent_id.to_owned());
        if let Some(kind) = manager_type {
            qb.push(" AND g.manager_type = ");
            qb.push_bind(kind.to_owned());
        }
        qb.push(" ORDER BY g.created_at, g.id");
        let mut conn = self.pool.acquire().await?;
        fetch_groups(&mut conn, qb).await
    }

    async fn groups_managed_by(&self, agent_ids: &[String]) -> StoreResult<Vec<Group>> {
        if agent_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM groups WHERE ");
        push_in_list(&mut qb, "manager_agent_id", agent_ids);
        qb.push(" ORDER BY created_at, id");
        let mut conn = self.pool.acquire().await?;
        fetch_groups(&mut conn, qb).await
    }

    async fn list_group_messages(
        &self,
        org_id: &str,
        group_id: &str,
        filter: &GroupMessageFilter,
    ) -> StoreResult<Option<Vec<Message>>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT * FROM messages WHERE organization_id = ");
        qb.push_bind(org_id.to_owned());
        qb.push(" AND group_id = ");
        qb.push_bind(group_id.to_owned());
        for (cursor, forward) in [(&filter.after, true), (&filter.before, false)] {
            if let Some(cursor) = cursor {
                let Some(at) =
                    cursor_created_at(&self.pool, "messages", "organization_id", org_id, cursor)
                        .await?
                else {
                    return Ok(None);
                };
                push_position_filter(&mut qb, at, cursor, forward);
            }
        }
        qb.push(" ORDER BY created_at, id");
        push_limit(&mut qb, filter.limit);
        let rows = qb.build().fetch_all(&self.pool).await?;
        Ok(Some(
            rows.iter()
                .map(message_from_row)
                .collect::<StoreResult<Vec<_>>>()?,
        ))
    }

    async fn delete_group_messages(&self, org_id: &str, group_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, agent_id FROM messages WHERE organization_id = $1 AND group_id = $2",
        )
        .bind(org_id)
        .bind(group_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut gone: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            let agent_id: String = row.try_get("agent_id")?;
            gone.entry(agent_id).or_default().insert(id);
        }
        for (agent_id, ids) in &gone {
            let row = sqlx::query(&format!(
                "SELECT message_ids FROM agents WHERE id = $1{LOCK_FOR_UPDATE}"
            ))
            .bind(agent_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let current: Vec<String> = json_col(&row, "message_ids")?;
            let kept: Vec<String> = current.into_iter().filter(|id| !ids.contains(id)).collect();
            sqlx::query("UPDATE agents SET message_ids = $1 WHERE id = $2")
                .bind(to_json(&kept))
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM messages WHERE organization_id = $1 AND group_id = $2")
            .bind(org_id)
            .bind(group_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
