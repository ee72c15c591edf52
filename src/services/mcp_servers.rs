//! MCP servers of an organization: storing their configurations, listing their tools, and
//! registering a server's tool as a Letta tool of type `external_mcp` (which the tool
//! executor then calls through the warm session of [`crate::mcp::McpPool`]).
//!
//! A server that cannot be started or reached, that hangs or answers nonsense is a 400
//! naming the problem; every wait is bounded by the MCP timeouts. Tokens, header values
//! and environment values are never logged.

use serde_json::{Map, Value, json};

use super::{ServiceError, ServiceResult};
use crate::mcp::pool::STDIO_DISABLED;
use crate::mcp::{McpError, McpPool, McpTarget};
use crate::schemas::mcp::{
    MCP_TAG_PREFIX, McpServer, McpServerConfig, McpServerConfigList, McpServerConfigMap,
    McpServerType, McpServerUpdate, McpTool, auth_pair, mcp_tool_server,
};
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{CUSTOM_TOOL_RETURN_CHAR_LIMIT, Tool, ToolType};
use crate::store::{DynStore, StoreError};

/// Longest server name (it is a path segment and part of tool tags).
const MAX_NAME_CHARS: usize = 256;

const HEARTBEAT_DESCRIPTION: &str = "Request an immediate heartbeat after function execution. Set to `True` if you want to send a follow-up message or run a follow-up function.";

/// The key of a server's session in the pool.
pub fn pool_key(server: &McpServer) -> String {
    format!("{}/{}", server.organization_id, server.id)
}

/// The server an MCP tool belongs to: its `mcp:<server>` tag, else its metadata.
pub fn tool_server_name(tool: &Tool) -> Option<String> {
    mcp_tool_server(&tool.tags, tool.metadata_.as_ref())
}

/// Labels a tool as one of `server_name`'s: the `mcp:<server>` tag (other `mcp:` tags
/// removed) and `metadata_.mcp.server_name`, which is how the executor finds its server.
pub fn label_mcp_tool(
    tags: &mut Vec<String>,
    metadata: &mut Map<String, Value>,
    server_name: &str,
) {
    tags.retain(|t| !t.starts_with(MCP_TAG_PREFIX));
    tags.push(format!("{MCP_TAG_PREFIX}{server_name}"));
    metadata.insert("mcp".into(), json!({"server_name": server_name}));
}

pub struct McpServerService<'a> {
    store: &'a DynStore,
    pool: &'a McpPool,
}

fn not_found(name: &str) -> ServiceError {
    ServiceError::NotFound(format!("MCP server {name} not found"))
}

fn name_taken(name: &str) -> ServiceError {
    ServiceError::Conflict(format!("MCP server with name '{name}' already exists"))
}

fn unreachable(name: &str, err: McpError) -> ServiceError {
    ServiceError::BadRequest(format!("MCP server '{name}': {err}"))
}

fn check_name(loc: &[&str], name: &str) -> ServiceResult<()> {
    let problem = if name.trim().is_empty() {
        Some("the server name cannot be empty")
    } else if name.contains('/') {
        Some("the server name cannot contain '/'")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("the server name is too long (256 characters at most)")
    } else if name.chars().any(char::is_control) {
        Some("the server name cannot contain control characters")
    } else {
        None
    };
    match problem {
        Some(msg) => Err(ServiceError::value_error(loc, msg, json!(name))),
        None => Ok(()),
    }
}

fn check_url(loc: &[&str], url: &str) -> ServiceResult<()> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ServiceError::value_error(
            loc,
            "server_url must be an absolute http(s) URL",
            json!(url),
        )),
    }
}

/// Refuses configurations that can never connect, before anything is stored or started.
fn check_config(config: &McpServerConfig) -> ServiceResult<()> {
    check_name(&["body", "server_name"], config.server_name())?;
    match config {
        McpServerConfig::Stdio(c) => {
            if c.command.trim().is_empty() {
                return Err(ServiceError::value_error(
                    &["body", "command"],
                    "the command cannot be empty",
                    json!(c.command),
                ));
            }
            Ok(())
        }
        McpServerConfig::Remote(c) => check_url(&["body", "server_url"], &c.server_url),
    }
}

/// The stored form of a configuration sent by a client.
fn new_server(actor: &Actor, config: McpServerConfig) -> McpServer {
    let mut server = McpServer {
        id: new_id("mcp_server"),
        organization_id: actor.organization_id.clone(),
        server_name: config.server_name().to_owned(),
        server_type: config.kind(),
        server_url: None,
        auth_header: None,
        auth_token: None,
        custom_headers: None,
        stdio_config: None,
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        created_at: None,
        updated_at: None,
    };
    match config {
        McpServerConfig::Stdio(c) => server.stdio_config = Some(c),
        McpServerConfig::Remote(c) => {
            let auth = c.auth_token.map(|t| auth_pair(c.auth_header, t));
            server.server_url = Some(c.server_url);
            server.auth_header = auth.as_ref().map(|a| a.0.clone());
            server.auth_token = auth.map(|a| a.1);
            server.custom_headers = c.custom_headers;
        }
    }
    server
}

/// The schema the model sees for an MCP tool: the server's input schema as the
/// parameters, with `request_heartbeat` added (as the original stores it).
fn tool_json_schema(tool: &McpTool) -> Value {
    let mut params: Map<String, Value> = tool.input_schema.clone();
    params
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    let properties = params
        .entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(props) = properties {
        props.insert(
            "request_heartbeat".into(),
            json!({"type": "boolean", "description": HEARTBEAT_DESCRIPTION}),
        );
    }
    let required = params
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = required
        && !items.iter().any(|v| v == "request_heartbeat")
    {
        items.push(json!("request_heartbeat"));
    }
    json!({
        "name": tool.name,
        "description": tool.description,
        "parameters": Value::Object(params),
    })
}

impl<'a> McpServerService<'a> {
    pub fn new(store: &'a DynStore, pool: &'a McpPool) -> Self {
        McpServerService { store, pool }
    }

    /// Refuses what can never connect, before anything is stored or started: the rules of
    /// `add` (a 422 for a bad name, URL or command, a 400 for stdio while it is disabled).
    pub fn check(&self, config: &McpServerConfig) -> ServiceResult<()> {
        check_config(config)?;
        if matches!(config, McpServerConfig::Stdio(_)) && !self.pool.settings().allow_stdio {
            return Err(ServiceError::BadRequest(STDIO_DISABLED.to_owned()));
        }
        Ok(())
    }

    async fn server(&self, actor: &Actor, name: &str) -> ServiceResult<McpServer> {
        self.store
            .get_mcp_server_by_name(&actor.organization_id, name)
            .await?
            .ok_or_else(|| not_found(name))
    }

    async fn all(&self, actor: &Actor) -> ServiceResult<Vec<McpServer>> {
        Ok(self.store.list_mcp_servers(&actor.organization_id).await?)
    }

    /// `list_mcp_servers`: every server of the organization by name.
    pub async fn list(&self, actor: &Actor) -> ServiceResult<McpServerConfigMap> {
        Ok(McpServerConfigMap(
            self.all(actor)
                .await?
                .into_iter()
                .map(|s| (s.server_name.clone(), s.to_config()))
                .collect(),
        ))
    }

    /// `add_mcp_server`: stores the server (409 when the name is taken) and answers every
    /// server of the organization. Nothing is started or reached here.
    pub async fn add(
        &self,
        actor: &Actor,
        config: McpServerConfig,
    ) -> ServiceResult<McpServerConfigList> {
        self.check(&config)?;
        let name = config.server_name().to_owned();
        let server = new_server(actor, config);
        match self.store.create_mcp_server(&server).await {
            Ok(_) => {}
            Err(StoreError::Unique(_)) => return Err(name_taken(&name)),
            Err(err) => return Err(err.into()),
        }
        Ok(McpServerConfigList(
            self.all(actor)
                .await?
                .iter()
                .map(McpServer::to_config)
                .collect(),
        ))
    }

    /// The server an agent file's configuration becomes, checked as `add` checks, to be
    /// written by the import (create or update by name, as later Letta's
    /// `create_or_update_mcp_server`): a new server, or the organization's server of that
    /// name (same id) with the file's type, URL or command. Files carry no secrets, so a
    /// server that keeps its transport keeps its token, headers and stdio environment.
    pub async fn for_import(
        &self,
        actor: &Actor,
        config: McpServerConfig,
    ) -> ServiceResult<McpServer> {
        self.check(&config)?;
        let mut server = new_server(actor, config);
        let Some(existing) = self
            .store
            .get_mcp_server_by_name(&actor.organization_id, &server.server_name)
            .await?
        else {
            return Ok(server);
        };
        server.id = existing.id;
        server.created_by_id = existing.created_by_id;
        if existing.server_type == server.server_type {
            if server.auth_token.is_none() {
                server.auth_header = existing.auth_header;
                server.auth_token = existing.auth_token;
            }
            if server.custom_headers.is_none() {
                server.custom_headers = existing.custom_headers;
            }
            if let (Some(new), Some(old)) = (&mut server.stdio_config, existing.stdio_config)
                && new.env.is_none()
            {
                new.env = old.env;
            }
        }
        Ok(server)
    }

    /// Drops the warm session of a server whose settings an import changed.
    pub async fn forget_session(&self, server: &McpServer) {
        self.pool.forget(&pool_key(server)).await;
    }

    /// `update_mcp_server`: applies the fields sent. A stdio server only takes a new name
    /// (its command is set when it is added); the others take a new name, URL, token and
    /// headers (`custom_headers: null` removes them).
    pub async fn update(
        &self,
        actor: &Actor,
        name: &str,
        update: McpServerUpdate,
    ) -> ServiceResult<McpServerConfig> {
        let mut server = self.server(actor, name).await?;
        if let Some(new_name) = &update.server_name {
            check_name(&["body", "server_name"], new_name)?;
        }
        let remote_fields =
            update.server_url.is_some() || update.auth.is_some() || update.custom_headers.is_some();
        if server.server_type == McpServerType::Stdio && remote_fields {
            return Err(ServiceError::BadRequest(format!(
                "MCP server {name} is a stdio server: only its server_name can be updated"
            )));
        }
        if let Some(url) = &update.server_url {
            check_url(&["body", "server_url"], url)?;
        }
        if let Some(new_name) = update.server_name {
            server.server_name = new_name;
        }
        if let Some(url) = update.server_url {
            server.server_url = Some(url);
        }
        if let Some((header, value)) = update.auth {
            server.auth_header = Some(header);
            server.auth_token = Some(value);
        }
        if let Some(headers) = update.custom_headers {
            server.custom_headers = headers;
        }
        server.last_updated_by_id = Some(actor.user_id.clone());
        let stored = match self.store.update_mcp_server(&server).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Err(not_found(name)),
            Err(StoreError::Unique(_)) => return Err(name_taken(&server.server_name)),
            Err(err) => return Err(err.into()),
        };
        self.pool.forget(&pool_key(&stored)).await;
        Ok(stored.to_config())
    }

    /// `delete_mcp_server`: deletes the server (its session closed) and answers the
    /// remaining ones. Tools registered from it stay; calling them is a tool error.
    pub async fn delete(&self, actor: &Actor, name: &str) -> ServiceResult<McpServerConfigList> {
        let server = self.server(actor, name).await?;
        if !self
            .store
            .delete_mcp_server(&actor.organization_id, &server.id)
            .await?
        {
            return Err(not_found(name));
        }
        self.pool.forget(&pool_key(&server)).await;
        Ok(McpServerConfigList(
            self.all(actor)
                .await?
                .iter()
                .map(McpServer::to_config)
                .collect(),
        ))
    }

    /// `test_mcp_server`: connects to a server that is not stored and lists its tools; the
    /// session is closed (a stdio server stopped) right after.
    pub async fn test(&self, config: McpServerConfig) -> ServiceResult<Vec<McpTool>> {
        self.check(&config)?;
        self.pool
            .probe(&McpTarget::from_config(&config))
            .await
            .map_err(|e| unreachable(config.server_name(), e))
    }

    /// `list_mcp_tools_by_server`: the tools the stored server lists now.
    pub async fn list_tools(&self, actor: &Actor, name: &str) -> ServiceResult<Vec<McpTool>> {
        let server = self.server(actor, name).await?;
        self.pool
            .list_tools(&pool_key(&server), &McpTarget::from_server(&server))
            .await
            .map_err(|e| unreachable(name, e))
    }

    /// `add_mcp_tool`: registers the server's tool `tool_name` as a tool of type
    /// `external_mcp` (tag `mcp:<server>`), or refreshes the MCP tool of that name.
    pub async fn add_tool(
        &self,
        actor: &Actor,
        server_name: &str,
        tool_name: &str,
    ) -> ServiceResult<Tool> {
        let tools = self.list_tools(actor, server_name).await?;
        let Some(mcp_tool) = tools.iter().find(|t| t.name == tool_name) else {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            return Err(ServiceError::NotFound(format!(
                "Tool {tool_name} not found in MCP server {server_name} - available tools: {}",
                names.join(", ")
            )));
        };
        let existing = self
            .store
            .list_tools(&actor.organization_id, None, Some(1), Some(tool_name))
            .await?;
        if let Some(other) = existing.first()
            && other.tool_type != ToolType::ExternalMcp
        {
            return Err(ServiceError::Conflict(format!(
                "A tool named {tool_name} already exists and is not an MCP tool"
            )));
        }
        let mut tags = Vec::new();
        let mut metadata = Map::new();
        label_mcp_tool(&mut tags, &mut metadata, server_name);
        let tool = Tool {
            id: new_id("tool"),
            tool_type: ToolType::ExternalMcp,
            description: mcp_tool.description.clone(),
            source_type: Some("python".into()),
            organization_id: Some(actor.organization_id.clone()),
            name: Some(mcp_tool.name.clone()),
            tags,
            source_code: None,
            json_schema: Some(tool_json_schema(mcp_tool)),
            args_json_schema: None,
            return_char_limit: Some(CUSTOM_TOOL_RETURN_CHAR_LIMIT),
            pip_requirements: None,
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            metadata_: Some(metadata),
        };
        let stored = self.store.upsert_tools_by_name(&[tool]).await?;
        stored
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("the tool upsert returned no row".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_schema_is_the_servers_with_a_heartbeat() {
        let tool: McpTool = serde_json::from_value(json!({
            "name": "echo",
            "description": "Echoes.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        }))
        .unwrap();
        let schema = tool_json_schema(&tool);
        assert_eq!(schema["name"], "echo");
        assert_eq!(schema["parameters"]["properties"]["text"]["type"], "string");
        assert_eq!(
            schema["parameters"]["required"],
            json!(["request_heartbeat"])
        );
    }

    #[test]
    fn names_must_fit_a_path_segment() {
        assert!(check_name(&["body"], "ok-name").is_ok());
        assert!(check_name(&["body"], "").is_err());
        assert!(check_name(&["body"], "a/b").is_err());
        assert!(check_url(&["body"], "ftp://x").is_err());
        assert!(check_url(&["body"], "http://127.0.0.1:9/mcp").is_ok());
    }
}
