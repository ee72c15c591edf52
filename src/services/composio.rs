//! Composio: its apps and actions listed through its HTTP API, an action registered as a
//! tool of type `external_composio`, and such a tool's call executed by Composio.
//!
//! Without a key every route is a 400 (as the original); Composio refusing the key is a 400
//! naming it, Composio unreachable a 502. The key is never logged nor returned.

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{ServiceError, ServiceResult};
use crate::config::{Config, Secret};
use crate::llm::chat::LlmErrorKind;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{CUSTOM_TOOL_RETURN_CHAR_LIMIT, Tool, ToolType};
use crate::store::Store;

/// Tag of the tools made from Composio actions.
pub const COMPOSIO_TAG: &str = "composio";
/// Time limit of one call to Composio.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The entity Composio acts for (the original's default).
const ENTITY_ID: &str = "default";

const NO_KEY: &str = "No API keys found for Composio. Please add your Composio API Key as an \
     environment variable for your sandbox configuration, or set it as environment variable \
     COMPOSIO_API_KEY.";

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Where Composio is and the key to use.
#[derive(Debug, Clone)]
pub struct ComposioApi {
    base: String,
    key: Option<Secret>,
}

impl ComposioApi {
    pub fn from_config(config: &Config) -> Self {
        ComposioApi {
            base: config.composio_api_base.trim_end_matches('/').to_owned(),
            key: config.composio_api_key.clone(),
        }
    }

    /// The same API with another key (an agent's own `COMPOSIO_API_KEY`).
    pub fn with_key(mut self, key: Option<Secret>) -> Self {
        if key.is_some() {
            self.key = key;
        }
        self
    }

    fn key(&self) -> ServiceResult<&Secret> {
        self.key
            .as_ref()
            .ok_or_else(|| ServiceError::BadRequest(NO_KEY.to_owned()))
    }

    /// One request; `Ok(None)` for a 404.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> ServiceResult<Option<Value>> {
        let key = self.key()?;
        let url = format!("{}{path}", self.base);
        let mut req = client()
            .request(method, &url)
            .header("x-api-key", key.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| {
            ServiceError::upstream(
                LlmErrorKind::Connection,
                format!(
                    "Composio could not be reached at {}: {}",
                    crate::llm::display_url(&url),
                    e.without_url()
                ),
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let text = text.replace(key.expose(), "***");
        match status.as_u16() {
            200..=299 => serde_json::from_str(&text).map(Some).map_err(|e| {
                ServiceError::upstream(
                    LlmErrorKind::InvalidResponse,
                    format!("Composio sent an unreadable answer: {e}"),
                )
            }),
            404 => Ok(None),
            401 | 403 => Err(ServiceError::BadRequest(format!(
                "Composio refused the API key (HTTP {status}): {}",
                short(&text)
            ))),
            400..=499 => Err(ServiceError::BadRequest(format!(
                "Composio refused the request (HTTP {status}): {}",
                short(&text)
            ))),
            _ => Err(ServiceError::upstream(
                LlmErrorKind::Server,
                format!("Composio failed (HTTP {status}): {}", short(&text)),
            )),
        }
    }

    /// The `items` of a listing.
    async fn items(&self, path: &str) -> ServiceResult<Vec<Value>> {
        let answer = self
            .call(reqwest::Method::GET, path, None)
            .await?
            .unwrap_or_else(|| json!({"items": []}));
        Ok(match answer {
            Value::Array(items) => items,
            mut other => match other.get_mut("items").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
        })
    }

    pub async fn list_apps(&self) -> ServiceResult<Vec<Value>> {
        self.items("/api/v1/apps").await
    }

    pub async fn list_actions(&self, app: &str) -> ServiceResult<Vec<Value>> {
        let app: String = form_urlencoded::byte_serialize(app.as_bytes()).collect();
        self.items(&format!("/api/v2/actions?apps={app}")).await
    }

    /// The action's description; 404 when Composio has no such action.
    pub async fn action(&self, name: &str) -> ServiceResult<Value> {
        let path: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        self.call(
            reqwest::Method::GET,
            &format!("/api/v2/actions/{path}"),
            None,
        )
        .await?
        .filter(Value::is_object)
        .ok_or_else(|| ServiceError::NotFound(format!("Composio action {name} not found")))
    }

    /// Runs the action with these arguments: `Ok(data)` or `Err(Composio's error text)`.
    pub async fn execute(&self, action: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let path: String = form_urlencoded::byte_serialize(action.as_bytes()).collect();
        let body = json!({"entityId": ENTITY_ID, "input": args});
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v2/actions/{path}/execute"),
                Some(&body),
            )
            .await
            .map_err(|e| e.public_message())?
            .ok_or_else(|| format!("Composio action {action} not found"))?;
        let succeeded = answer
            .get("successful")
            .or_else(|| answer.get("successfull"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if succeeded {
            Ok(answer.get("data").cloned().unwrap_or(Value::Null))
        } else {
            Err(answer
                .get("error")
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .unwrap_or_else(|| "Composio reported a failure".to_owned()))
        }
    }
}

fn short(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_owned(),
    }
}

/// The tool a Composio action becomes: named after the action (lower case), its
/// parameters as the schema, executed by Composio.
fn tool_for(actor: &Actor, action_name: &str, action: &Value) -> Tool {
    let name = action_name.to_ascii_lowercase();
    let description = action
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let params = action.get("parameters").cloned().unwrap_or_default();
    let json_schema = json!({
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": params.get("properties").cloned().unwrap_or_else(|| json!({})),
            "required": params.get("required").cloned().unwrap_or_else(|| json!([])),
        },
    });
    let source = format!(
        "def {name}(**kwargs):\n    \"\"\"Runs the Composio action {action_name}; executed by the \
         server through the Composio API.\"\"\"\n    raise RuntimeError(\"executed by the server\")\n"
    );
    let mut metadata = Map::new();
    metadata.insert("composio_action".to_owned(), json!(action_name));
    Tool {
        id: new_id("tool"),
        tool_type: ToolType::ExternalComposio,
        description,
        source_type: Some("python".to_owned()),
        organization_id: Some(actor.organization_id.clone()),
        name: Some(name),
        tags: vec![COMPOSIO_TAG.to_owned()],
        source_code: Some(source),
        json_schema: Some(json_schema),
        args_json_schema: None,
        return_char_limit: Some(CUSTOM_TOOL_RETURN_CHAR_LIMIT),
        pip_requirements: None,
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        metadata_: Some(metadata),
    }
}

/// The action a Composio tool runs: recorded in its metadata, else its name upper-cased.
pub fn action_of(tool: &Tool) -> String {
    tool.metadata_
        .as_ref()
        .and_then(|m| m.get("composio_action"))
        .and_then(Value::as_str)
        .map_or_else(|| tool.name().to_ascii_uppercase(), str::to_owned)
}

pub struct ComposioService<'a> {
    store: &'a dyn Store,
    api: ComposioApi,
}

impl<'a> ComposioService<'a> {
    pub fn new(store: &'a dyn Store, api: ComposioApi) -> Self {
        ComposioService { store, api }
    }

    pub async fn list_apps(&self) -> ServiceResult<Vec<Value>> {
        self.api.list_apps().await
    }

    pub async fn list_actions(&self, app: &str) -> ServiceResult<Vec<Value>> {
        self.api.list_actions(app).await
    }

    /// Registers the action as a tool of the organization, or refreshes the Composio tool of
    /// that name; 409 when a tool of another type has the name.
    pub async fn add_tool(&self, actor: &Actor, action_name: &str) -> ServiceResult<Tool> {
        let action = self.api.action(action_name).await?;
        let tool = tool_for(actor, action_name, &action);
        let existing = self
            .store
            .tools_by_names(&actor.organization_id, &[tool.name().to_owned()])
            .await?;
        if let Some(other) = existing
            .iter()
            .find(|t| t.tool_type != ToolType::ExternalComposio)
        {
            return Err(ServiceError::Conflict(format!(
                "A tool named {} already exists and is not a Composio tool",
                other.name()
            )));
        }
        let mut stored = self.store.upsert_tools_by_name(&[tool]).await?;
        stored
            .pop()
            .ok_or_else(|| ServiceError::Internal("the upserted tool was not returned".into()))
    }
}
