//! Provider traces (each step's model request and answer, kept when `PROVIDER_TRACES` is on,
//! with keys redacted and a per-organization retention) and step transaction ids.

use serde_json::{Map, Value, json};

use super::{ServiceError, ServiceResult};
use crate::llm::ProviderKeys;
use crate::llm::chat::{ChatRequest, ChatResponse, ReasoningPart};
use crate::schemas::common::now;
use crate::schemas::llm_config::LlmConfig;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::run::Step;
use crate::schemas::telemetry::ProviderTrace;
use crate::store::Store;

/// Object keys whose values are credentials wherever they appear in a trace.
const SECRET_FIELDS: &[&str] = &[
    "authorization",
    "api_key",
    "api-key",
    "x-api-key",
    "apikey",
    "access_key",
    "secret",
    "password",
];

/// Whether traces are kept, and how many per organization.
#[derive(Debug, Clone, Copy)]
pub struct TraceSettings {
    pub enabled: bool,
    pub retention: i64,
}

impl From<&crate::config::Config> for TraceSettings {
    fn from(config: &crate::config::Config) -> Self {
        TraceSettings {
            enabled: config.provider_traces,
            retention: config.provider_trace_retention,
        }
    }
}

pub struct TelemetryService<'a> {
    store: &'a dyn Store,
    settings: TraceSettings,
}

impl<'a> TelemetryService<'a> {
    pub fn new(store: &'a dyn Store, settings: TraceSettings) -> Self {
        TelemetryService { store, settings }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// The newest trace of the step; 404 when there is none (traces off, pruned, or no such
    /// step of the organization).
    pub async fn trace_for_step(
        &self,
        actor: &Actor,
        step_id: &str,
    ) -> ServiceResult<ProviderTrace> {
        self.store
            .get_provider_trace_by_step(&actor.organization_id, step_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("No provider trace found for step {step_id}"))
            })
    }

    pub async fn set_transaction_id(
        &self,
        actor: &Actor,
        step_id: &str,
        transaction_id: &str,
    ) -> ServiceResult<Step> {
        self.store
            .set_step_transaction_id(&actor.organization_id, step_id, transaction_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Step with id {step_id} not found")))
    }

    /// Stores the trace of a step (when traces are on), with every known key redacted.
    /// A failure is logged, never the step's: a trace is a diagnostic.
    pub async fn record(
        &self,
        org_id: &str,
        actor_id: &str,
        step_id: &str,
        request: Value,
        response: &ChatResponse,
        keys: &ProviderKeys,
    ) {
        if !self.settings.enabled {
            return;
        }
        let secrets = known_secrets(keys);
        let as_object = |value: Value| match redact(value, &secrets) {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        let trace = ProviderTrace {
            created_by_id: Some(actor_id.to_owned()),
            last_updated_by_id: None,
            created_at: now(),
            updated_at: None,
            id: new_id("provider_trace"),
            request_json: as_object(request),
            response_json: as_object(response_json(response)),
            step_id: Some(step_id.to_owned()),
            organization_id: org_id.to_owned(),
        };
        if let Err(err) = self
            .store
            .insert_provider_trace(&trace, self.settings.retention)
            .await
        {
            tracing::warn!(step_id, error = %err, "provider trace not stored");
        }
    }
}

/// The wire body a chat request is sent as, by the protocol of the agent's model.
pub fn request_json(llm_config: &LlmConfig, request: &ChatRequest, stream: bool) -> Value {
    use crate::llm::{anthropic, openai};
    let body = match llm_config.model_endpoint_type.as_str() {
        "anthropic" => anthropic::chat::request_body(request, stream),
        "ollama" => openai::chat::request_body(request, stream, openai::chat::Dialect::Ollama),
        _ => openai::chat::request_body(request, stream, openai::chat::Dialect::OpenAi),
    };
    json!({
        "endpoint": llm_config.model_endpoint,
        "endpoint_type": llm_config.model_endpoint_type,
        "body": body,
    })
}

/// The answer as a chat completion (a streamed answer folded into one).
fn response_json(response: &ChatResponse) -> Value {
    let reasoning: Vec<Value> = response
        .reasoning
        .iter()
        .map(|part| match part {
            ReasoningPart::Reasoning { text, signature } => {
                json!({"type": "reasoning", "text": text, "signature": signature})
            }
            ReasoningPart::Redacted { .. } => json!({"type": "redacted_reasoning"}),
        })
        .collect();
    let tool_calls: Vec<Value> = response
        .tool_calls
        .iter()
        .map(|call| {
            json!({"id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": call.arguments}})
        })
        .collect();
    json!({
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": response.content,
                "tool_calls": tool_calls,
                "reasoning": reasoning,
            },
            "finish_reason": response.finish_reason,
        }],
        "usage": {
            "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens,
            "total_tokens": response.usage.total_tokens,
        },
    })
}

fn known_secrets(keys: &ProviderKeys) -> Vec<String> {
    [&keys.openai_api_key, &keys.anthropic_api_key]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_owned())
        .filter(|s| s.len() >= 4)
        .collect()
}

/// The value with credential fields replaced and any known key in a string masked.
fn redact(value: Value, secrets: &[String]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if SECRET_FIELDS.contains(&k.to_ascii_lowercase().as_str()) && !v.is_null() {
                        (k, Value::String("[REDACTED]".to_owned()))
                    } else {
                        (k, redact(v, secrets))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| redact(v, secrets)).collect())
        }
        Value::String(mut s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    s = s.replace(secret.as_str(), "[REDACTED]");
                }
            }
            Value::String(s)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_everywhere() {
        let value = json!({
            "Authorization": "Bearer sk-live-123456",
            "nested": [{"api_key": "k", "text": "my key is sk-live-123456!"}],
            "fine": 1,
        });
        let out = redact(value, &["sk-live-123456".to_owned()]);
        assert_eq!(
            out,
            json!({
                "Authorization": "[REDACTED]",
                "nested": [{"api_key": "[REDACTED]", "text": "my key is [REDACTED]!"}],
                "fine": 1,
            })
        );
    }
}
