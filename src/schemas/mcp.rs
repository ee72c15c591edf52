//! MCP servers (Model Context Protocol) as the API names them: the three transports'
//! configurations (`StdioServerConfig`, `SSEServerConfig`, `StreamableHTTPServerConfig`),
//! the update bodies, the stored server and the tools a server lists (`MCPTool`).
//!
//! Tokens, header values and environment values are secrets: the API returns them to the
//! organization (as the original does) but no `Debug` here prints them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};

use super::Timestamp;

/// The header a bare token goes in, and the scheme put before it there.
pub const AUTHORIZATION: &str = "Authorization";
const BEARER_PREFIX: &str = "Bearer ";

/// The tag an MCP tool carries to name its server: `mcp:<server name>`.
pub const MCP_TAG_PREFIX: &str = "mcp:";

/// The server an MCP tool names: its `mcp:<server>` tag, else `metadata_.mcp.server_name`.
pub fn mcp_tool_server(
    tags: &[String],
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    tags.iter()
        .find_map(|t| t.strip_prefix(MCP_TAG_PREFIX))
        .or_else(|| metadata?.get("mcp")?.get("server_name")?.as_str())
        .map(str::to_owned)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MCPServerType)]
pub enum McpServerType {
    Sse,
    Stdio,
    StreamableHttp,
}

impl McpServerType {
    pub fn as_str(self) -> &'static str {
        match self {
            McpServerType::Sse => "sse",
            McpServerType::Stdio => "stdio",
            McpServerType::StreamableHttp => "streamable_http",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sse" => Some(McpServerType::Sse),
            "stdio" => Some(McpServerType::Stdio),
            "streamable_http" => Some(McpServerType::StreamableHttp),
            _ => None,
        }
    }
}

fn stdio_type() -> McpServerType {
    McpServerType::Stdio
}

/// A server the server starts itself and talks to over its stdin and stdout.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StdioServerConfig {
    /// The name of the server
    pub server_name: String,
    #[serde(rename = "type", default = "stdio_type")]
    #[schema(required = false, default = "stdio")]
    pub kind: McpServerType,
    /// The command to run (MCP 'local' client will run this command)
    pub command: String,
    /// The arguments to pass to the command
    pub args: Vec<String>,
    /// Environment variables to set
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

impl fmt::Debug for StdioServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioServerConfig")
            .field("server_name", &self.server_name)
            .field("command", &self.command)
            .field("args", &self.args)
            .field(
                "env",
                &self.env.as_ref().map(|e| e.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// A server reached over HTTP: with server-sent events (`sse`) or streamable HTTP. Both
/// configurations have these fields; `type` says which transport.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RemoteServerConfig {
    /// The name of the server
    pub server_name: String,
    #[serde(rename = "type")]
    #[schema(required = false)]
    pub kind: McpServerType,
    /// The URL of the server
    pub server_url: String,
    /// The name of the authentication header (e.g., 'Authorization')
    #[serde(default)]
    pub auth_header: Option<String>,
    /// The authentication token or API key value
    #[serde(default)]
    pub auth_token: Option<String>,
    /// Custom HTTP headers to include with requests
    #[serde(default)]
    pub custom_headers: Option<BTreeMap<String, String>>,
}

impl fmt::Debug for RemoteServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteServerConfig")
            .field("server_name", &self.server_name)
            .field("type", &self.kind)
            .field("server_url", &self.server_url)
            .field("auth_header", &self.auth_header)
            .field(
                "custom_headers",
                &self
                    .custom_headers
                    .as_ref()
                    .map(|h| h.keys().collect::<Vec<_>>()),
            )
            .finish_non_exhaustive()
    }
}

/// A server configuration of any transport (the body of `add_mcp_server` and
/// `test_mcp_server`, the items the routes answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum McpServerConfig {
    Stdio(StdioServerConfig),
    Remote(RemoteServerConfig),
}

impl McpServerConfig {
    pub fn server_name(&self) -> &str {
        match self {
            McpServerConfig::Stdio(c) => &c.server_name,
            McpServerConfig::Remote(c) => &c.server_name,
        }
    }

    pub fn kind(&self) -> McpServerType {
        match self {
            McpServerConfig::Stdio(_) => McpServerType::Stdio,
            McpServerConfig::Remote(c) => c.kind,
        }
    }
}

impl<'de> Deserialize<'de> for McpServerConfig {
    /// The transport is the `type` sent; without one a body with a `command` is a stdio
    /// server and any other an SSE server (the first remote shape of the original's union).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        let kind = match map.get("type") {
            None | Some(Value::Null) if map.contains_key("command") => McpServerType::Stdio,
            None | Some(Value::Null) => McpServerType::Sse,
            Some(Value::String(s)) => McpServerType::parse(s).ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown MCP server type {s:?}: expected 'sse', 'stdio' or 'streamable_http'"
                ))
            })?,
            Some(_) => return Err(D::Error::custom("type must be a string")),
        };
        let mut value = Value::Object(map);
        value["type"] = Value::String(kind.as_str().to_owned());
        match kind {
            McpServerType::Stdio => serde_json::from_value(value)
                .map(McpServerConfig::Stdio)
                .map_err(D::Error::custom),
            _ => serde_json::from_value(value)
                .map(McpServerConfig::Remote)
                .map_err(D::Error::custom),
        }
    }
}

/// The three configuration schemas, as the reference names them.
fn config_any_of() -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(Ref::from_schema_name("StdioServerConfig"))
        .item(Ref::from_schema_name("SSEServerConfig"))
        .item(Ref::from_schema_name("StreamableHTTPServerConfig"))
        .into()
}

fn config_schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    use utoipa::PartialSchema as _;
    schemas.push(("StdioServerConfig".into(), StdioServerConfig::schema()));
    schemas.push(("SSEServerConfig".into(), RemoteServerConfig::schema()));
    schemas.push((
        "StreamableHTTPServerConfig".into(),
        RemoteServerConfig::schema(),
    ));
    schemas.push(("MCPServerType".into(), McpServerType::schema()));
}

impl utoipa::PartialSchema for McpServerConfig {
    fn schema() -> RefOr<Schema> {
        config_any_of()
    }
}

impl ToSchema for McpServerConfig {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MCPServerConfig")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        config_schemas(schemas);
    }
}

/// Every server of the organization as a list (`add_mcp_server`, `delete_mcp_server`).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct McpServerConfigList(pub Vec<McpServerConfig>);

impl utoipa::PartialSchema for McpServerConfigList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new().items(config_any_of()).into()
    }
}

impl ToSchema for McpServerConfigList {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        config_schemas(schemas);
    }
}

/// Every server of the organization by name, in creation order (`list_mcp_servers`).
#[derive(Debug, Clone, Default)]
pub struct McpServerConfigMap(pub Vec<(String, McpServerConfig)>);

impl Serialize for McpServerConfigMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, config) in &self.0 {
            map.serialize_entry(name, config)?;
        }
        map.end()
    }
}

impl utoipa::PartialSchema for McpServerConfigMap {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .additional_properties(Some(config_any_of()))
            .into()
    }
}

impl ToSchema for McpServerConfigMap {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        config_schemas(schemas);
    }
}

/// Update an SSE MCP server
#[derive(Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateSSEMCPServer)]
pub struct UpdateSseMcpServer {
    /// The name of the server
    #[serde(default)]
    pub server_name: Option<String>,
    /// The URL of the server (MCP SSE client will connect to this URL)
    #[serde(default)]
    pub server_url: Option<String>,
    /// The access token or API key for the MCP server (used for SSE authentication)
    #[serde(default)]
    pub token: Option<String>,
    /// Custom authentication headers as key-value pairs
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub custom_headers: Option<Option<BTreeMap<String, String>>>,
}

/// Update a Streamable HTTP MCP server
#[derive(Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UpdateStreamableHTTPMCPServer)]
pub struct UpdateStreamableHttpMcpServer {
    /// The name of the server
    #[serde(default)]
    pub server_name: Option<String>,
    /// The URL path for the streamable HTTP server (e.g., 'example/mcp')
    #[serde(default)]
    pub server_url: Option<String>,
    /// The name of the authentication header (e.g., 'Authorization')
    #[serde(default)]
    pub auth_header: Option<String>,
    /// The authentication token or API key value
    #[serde(default)]
    pub auth_token: Option<String>,
    /// Custom authentication headers as key-value pairs
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub custom_headers: Option<Option<BTreeMap<String, String>>>,
}

/// A field that was sent (`Some`), possibly as `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `update_mcp_server`, with the fields sent.
#[derive(Clone, Default, PartialEq)]
pub struct McpServerUpdate {
    pub server_name: Option<String>,
    pub server_url: Option<String>,
    /// The new (header, value) to authenticate with.
    pub auth: Option<(String, String)>,
    /// `Some(None)` removes the custom headers.
    pub custom_headers: Option<Option<BTreeMap<String, String>>>,
}

impl fmt::Debug for McpServerUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServerUpdate")
            .field("server_name", &self.server_name)
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl<'de> Deserialize<'de> for McpServerUpdate {
    /// Either update shape: a body with `token` is the SSE one, any other the streamable
    /// HTTP one; each refuses fields it does not have.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        let value = Value::Object(map);
        if value.get("token").is_some() {
            let u: UpdateSseMcpServer = serde_json::from_value(value).map_err(D::Error::custom)?;
            Ok(McpServerUpdate {
                server_name: u.server_name,
                server_url: u.server_url,
                auth: u.token.map(|t| auth_pair(None, t)),
                custom_headers: u.custom_headers,
            })
        } else {
            let u: UpdateStreamableHttpMcpServer =
                serde_json::from_value(value).map_err(D::Error::custom)?;
            if u.auth_header.is_some() && u.auth_token.is_none() {
                return Err(D::Error::custom("auth_header needs an auth_token"));
            }
            Ok(McpServerUpdate {
                server_name: u.server_name,
                server_url: u.server_url,
                auth: u.auth_token.map(|t| auth_pair(u.auth_header, t)),
                custom_headers: u.custom_headers,
            })
        }
    }
}

impl utoipa::PartialSchema for McpServerUpdate {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("UpdateSSEMCPServer"))
            .item(Ref::from_schema_name("UpdateStreamableHTTPMCPServer"))
            .into()
    }
}

impl ToSchema for McpServerUpdate {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use utoipa::PartialSchema as _;
        schemas.push(("UpdateSSEMCPServer".into(), UpdateSseMcpServer::schema()));
        schemas.push((
            "UpdateStreamableHTTPMCPServer".into(),
            UpdateStreamableHttpMcpServer::schema(),
        ));
    }
}

/// The header and value a token is sent as: the named header, else `Authorization`; a
/// bare token in `Authorization` gets the `Bearer` scheme (as the original sends it).
pub fn auth_pair(header: Option<String>, token: String) -> (String, String) {
    let header = header
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| AUTHORIZATION.to_owned());
    let value = if header.eq_ignore_ascii_case(AUTHORIZATION)
        && !token.starts_with(BEARER_PREFIX)
        && !token.contains(' ')
    {
        format!("{BEARER_PREFIX}{token}")
    } else {
        token
    };
    (header, value)
}

/// A stored MCP server of an organization.
#[derive(Clone, PartialEq)]
pub struct McpServer {
    pub id: String,
    pub organization_id: String,
    pub server_name: String,
    pub server_type: McpServerType,
    /// SSE and streamable HTTP: where the server is.
    pub server_url: Option<String>,
    /// SSE and streamable HTTP: the header carrying the token, and its full value.
    pub auth_header: Option<String>,
    pub auth_token: Option<String>,
    pub custom_headers: Option<BTreeMap<String, String>>,
    /// Stdio: what to run.
    pub stdio_config: Option<StdioServerConfig>,
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServer")
            .field("id", &self.id)
            .field("server_name", &self.server_name)
            .field("server_type", &self.server_type)
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// The configuration the API shows for this server.
    pub fn to_config(&self) -> McpServerConfig {
        match (&self.stdio_config, self.server_type) {
            (Some(stdio), McpServerType::Stdio) => McpServerConfig::Stdio(StdioServerConfig {
                server_name: self.server_name.clone(),
                kind: McpServerType::Stdio,
                ..stdio.clone()
            }),
            _ => McpServerConfig::Remote(RemoteServerConfig {
                server_name: self.server_name.clone(),
                kind: self.server_type,
                server_url: self.server_url.clone().unwrap_or_default(),
                auth_header: self.auth_header.clone(),
                auth_token: self.auth_token.clone(),
                custom_headers: self.custom_headers.clone(),
            }),
        }
    }
}

/// A tool as an MCP server lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MCPTool)]
pub struct McpTool {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "inputSchema")]
    #[schema(value_type = Object)]
    pub input_schema: Map<String, Value>,
    #[serde(rename = "outputSchema", default)]
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<Map<String, Value>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Value>,
    #[serde(rename = "_meta", default)]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_transport_comes_from_type_else_from_the_shape() {
        let c: McpServerConfig =
            serde_json::from_value(json!({"server_name": "a", "command": "x", "args": []}))
                .unwrap();
        assert_eq!(c.kind(), McpServerType::Stdio);
        let c: McpServerConfig =
            serde_json::from_value(json!({"server_name": "a", "server_url": "http://h"})).unwrap();
        assert_eq!(c.kind(), McpServerType::Sse);
        let c: McpServerConfig = serde_json::from_value(
            json!({"server_name": "a", "server_url": "http://h", "type": "streamable_http"}),
        )
        .unwrap();
        assert_eq!(c.kind(), McpServerType::StreamableHttp);
        assert!(
            serde_json::from_value::<McpServerConfig>(json!({"server_name": "a", "type": "x"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<McpServerConfig>(json!({"server_name": "a", "command": "x"}))
                .is_err()
        );
    }

    #[test]
    fn tokens_go_in_authorization_with_bearer_unless_named() {
        assert_eq!(
            auth_pair(None, "abc".into()),
            ("Authorization".into(), "Bearer abc".into())
        );
        assert_eq!(
            auth_pair(Some("Authorization".into()), "Bearer abc".into()),
            ("Authorization".into(), "Bearer abc".into())
        );
        assert_eq!(
            auth_pair(Some("X-Key".into()), "abc".into()),
            ("X-Key".into(), "abc".into())
        );
    }

    #[test]
    fn updates_take_either_shape_and_refuse_mixtures() {
        let u: McpServerUpdate = serde_json::from_value(json!({"token": "t"})).unwrap();
        assert_eq!(u.auth, Some(("Authorization".into(), "Bearer t".into())));
        let u: McpServerUpdate =
            serde_json::from_value(json!({"custom_headers": null, "server_url": "http://x"}))
                .unwrap();
        assert_eq!(u.custom_headers, Some(None));
        assert!(
            serde_json::from_value::<McpServerUpdate>(json!({"token": "t", "auth_token": "u"}))
                .is_err()
        );
        assert!(serde_json::from_value::<McpServerUpdate>(json!({"bogus": 1})).is_err());
    }
}
