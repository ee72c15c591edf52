// MCP servers. Shared by both backends through `include!`. Tokens, header values and
// environment values are secrets: nothing here logs a row.

use crate::schemas::mcp::{McpServer, McpServerType};

fn mcp_server_from_row(row: &<Db as sqlx::Database>::Row) -> StoreResult<McpServer> {
    let kind: String = row.try_get("server_type")?;
    Ok(McpServer {
        id: row.try_get("id")?,
        organization_id: row.try_get("organization_id")?,
        server_name: row.try_get("server_name")?,
        server_type: McpServerType::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown MCP server type {kind:?}")))?,
        server_url: row.try_get("server_url")?,
        auth_header: row.try_get("auth_header")?,
        auth_token: row.try_get("auth_token")?,
        custom_headers: json_col_opt(row, "custom_headers")?,
        stdio_config: json_col_opt(row, "stdio_config")?,
        created_by_id: row.try_get("created_by_id")?,
        last_updated_by_id: row.try_get("last_updated_by_id")?,
        created_at: Some(row.try_get("created_at")?),
        updated_at: Some(row.try_get("updated_at")?),
    })
}

/// Inserts a server row; the caller adds what happens on a name clash.
const INSERT_MCP_SERVER: &str = "INSERT INTO mcp_servers (id, organization_id, server_name, \
     server_type, server_url, auth_header, auth_token, custom_headers, stdio_config, \
     created_by_id, last_updated_by_id, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";

/// Binds [`INSERT_MCP_SERVER`]'s parameters for `server`, created at `ts`.
fn bind_new_mcp_server<'q>(
    query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    server: &'q McpServer,
    ts: crate::schemas::Timestamp,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    query
        .bind(&server.id)
        .bind(&server.organization_id)
        .bind(&server.server_name)
        .bind(server.server_type.as_str())
        .bind(server.server_url.as_deref())
        .bind(server.auth_header.as_deref())
        .bind(server.auth_token.as_deref())
        .bind(server.custom_headers.as_ref().map(to_json))
        .bind(server.stdio_config.as_ref().map(to_json))
        .bind(server.created_by_id.as_deref())
        .bind(server.last_updated_by_id.as_deref())
        .bind(ts)
}

/// Creates the organization's server of `server.server_name`, or overwrites that server's
/// type, URL, authentication, headers and stdio settings in place (its id and creation
/// time stay).
async fn upsert_mcp_server_by_name(conn: &mut Conn, server: &McpServer) -> StoreResult<()> {
    let sql = format!(
        "{INSERT_MCP_SERVER} ON CONFLICT (organization_id, server_name) DO UPDATE SET \
         server_type = excluded.server_type, server_url = excluded.server_url, \
         auth_header = excluded.auth_header, auth_token = excluded.auth_token, \
         custom_headers = excluded.custom_headers, stdio_config = excluded.stdio_config, \
         last_updated_by_id = excluded.last_updated_by_id, updated_at = excluded.updated_at"
    );
    bind_new_mcp_server(sqlx::query(&sql), server, now())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl super::McpServerStore for SqlStore {
    async fn create_mcp_server(&self, server: &McpServer) -> StoreResult<McpServer> {
        let ts = server.created_at.unwrap_or_else(now);
        let sql = format!("{INSERT_MCP_SERVER} RETURNING *");
        let row = bind_new_mcp_server(sqlx::query(&sql), server, ts)
            .fetch_one(&self.pool)
            .await?;
        mcp_server_from_row(&row)
    }

    async fn get_mcp_server_by_name(
        &self,
        org_id: &str,
        server_name: &str,
    ) -> StoreResult<Option<McpServer>> {
        sqlx::query("SELECT * FROM mcp_servers WHERE organization_id = $1 AND server_name = $2")
            .bind(org_id)
            .bind(server_name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(mcp_server_from_row)
            .transpose()
    }

    async fn list_mcp_servers(&self, org_id: &str) -> StoreResult<Vec<McpServer>> {
        sqlx::query("SELECT * FROM mcp_servers WHERE organization_id = $1 ORDER BY created_at, id")
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(mcp_server_from_row)
            .collect()
    }

    async fn update_mcp_server(&self, server: &McpServer) -> StoreResult<Option<McpServer>> {
        sqlx::query(
            "UPDATE mcp_servers SET server_name = $1, server_url = $2, auth_header = $3, \
             auth_token = $4, custom_headers = $5, stdio_config = $6, last_updated_by_id = $7, \
             updated_at = $8 WHERE id = $9 AND organization_id = $10 RETURNING *",
        )
        .bind(&server.server_name)
        .bind(server.server_url.as_deref())
        .bind(server.auth_header.as_deref())
        .bind(server.auth_token.as_deref())
        .bind(server.custom_headers.as_ref().map(to_json))
        .bind(server.stdio_config.as_ref().map(to_json))
        .bind(server.last_updated_by_id.as_deref())
        .bind(now())
        .bind(&server.id)
        .bind(&server.organization_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(mcp_server_from_row)
        .transpose()
    }

    async fn delete_mcp_server(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mcp_servers WHERE id = $1 AND organization_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
