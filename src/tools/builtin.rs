//! Letta's built-in utility tools (`letta_builtin`): `web_search` through Firecrawl and
//! `run_code` in the local sandbox.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::executor::{ToolContext, ToolExecutor, ToolOutcome};
use crate::sandbox::{ToolExecution, ToolStatus};
use crate::schemas::tool::Tool;

/// The key's name in the agent's tool environment and in the server's settings.
const FIRECRAWL_KEY: &str = "FIRECRAWL_API_KEY";
const SEARCH_TIMEOUT: Duration = Duration::from_secs(60);

pub struct BuiltinTools;

#[async_trait]
impl ToolExecutor for BuiltinTools {
    async fn execute(
        &self,
        ctx: &ToolContext<'_>,
        tool: &Tool,
        args: &Map<String, Value>,
    ) -> ToolOutcome {
        let result = match tool.name() {
            "web_search" => web_search(ctx, args).await,
            "run_code" => run_code(ctx, args).await,
            other => Err(format!("Tool {other} cannot be executed by this server")),
        };
        result.unwrap_or_else(ToolOutcome::error)
    }
}

/// Runs `code` in the local sandbox with the agent's tool environment. The sandbox answers
/// other languages than Python with a clear error, and a sandbox that cannot start is the
/// tool's error too, never the request's.
async fn run_code(ctx: &ToolContext<'_>, args: &Map<String, Value>) -> Result<ToolOutcome, String> {
    let code = super::core::str_arg(args, "code")?;
    let language = super::core::str_arg(args, "language")?;
    let env = ctx.environment().await.map_err(|e| e.to_string())?.clone();
    let execution = match ctx.state.sandbox.get().await {
        Ok(sandbox) => sandbox.run_code(code, language, env).await,
        Err(err) => Err(err),
    };
    let execution = execution.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "the tool sandbox failed");
        ToolExecution::from_sandbox_error("run_code", &err)
    });
    Ok(ToolOutcome {
        ok: execution.status == ToolStatus::Success,
        message: execution.func_return,
        stdout: Some(execution.stdout),
        stderr: Some(execution.stderr),
        memory_changed: false,
    })
}

/// Each task's query is searched on Firecrawl; its answer lists the pages found (title,
/// address, description, and with `return_raw` their text). The original then has an
/// OpenAI model pick passages that answer the question; here the pages are returned as
/// found.
async fn web_search(
    ctx: &ToolContext<'_>,
    args: &Map<String, Value>,
) -> Result<ToolOutcome, String> {
    let tasks: Vec<(String, String)> = match args.get("tasks") {
        Some(Value::Array(tasks)) if !tasks.is_empty() => tasks
            .iter()
            .map(|t| {
                let field = |name: &str| {
                    t.get(name)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("Each task needs a string {name}"))
                };
                Ok((field("query")?, field("question")?))
            })
            .collect::<Result<_, String>>()?,
        _ => return Err("Argument tasks must be a non-empty list of {query, question}".to_owned()),
    };
    let limit = match args.get("limit") {
        None | Some(Value::Null) => 3,
        Some(v) => v
            .as_i64()
            .filter(|n| *n > 0)
            .ok_or_else(|| "limit must be greater than 0".to_owned())?,
    };
    let return_raw = args
        .get("return_raw")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let env = ctx.environment().await.map_err(|e| e.to_string())?;
    let (key, source) = match env.get(FIRECRAWL_KEY) {
        Some(key) if !key.is_empty() => (key.clone(), "agent_environment"),
        _ => match ctx.state.config.firecrawl_api_key.as_ref() {
            Some(key) => (key.expose().to_owned(), "system_settings"),
            None => {
                return Err(format!(
                    "web_search needs a Firecrawl API key: set {FIRECRAWL_KEY} in the server's settings or in the agent's tool environment variables"
                ));
            }
        },
    };
    let url = format!(
        "{}/v1/search",
        ctx.state.config.firecrawl_api_base.trim_end_matches('/')
    );
    let mut results = Map::new();
    for (query, question) in tasks {
        let sources = firecrawl_search(&url, &key, &query, limit, return_raw).await?;
        results.insert(
            query.clone(),
            json!({"query": query, "question": question, "sources": sources}),
        );
    }
    let body = json!({"api_key_source": source, "results": results});
    Ok(ToolOutcome::ok(
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    ))
}

async fn firecrawl_search(
    url: &str,
    key: &str,
    query: &str,
    limit: i64,
    return_raw: bool,
) -> Result<Vec<Value>, String> {
    let mut body = json!({"query": query, "limit": limit});
    if return_raw {
        body["scrapeOptions"] = json!({"formats": ["markdown"]});
    }
    let response = crate::llm::transport::shared_client()
        .post(url)
        .bearer_auth(key)
        .timeout(SEARCH_TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            format!(
                "web_search: Firecrawl could not be reached: {}",
                e.without_url()
            )
        })?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("web_search: Firecrawl answered {status} with no JSON: {e}"))?;
    if !status.is_success() {
        let message = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no detail");
        return Err(format!(
            "web_search: Firecrawl answered {status}: {message}"
        ));
    }
    let pages = answer
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(pages
        .iter()
        .map(|page| {
            let mut source = json!({
                "url": page.get("url"),
                "title": page.get("title"),
                "description": page.get("description"),
            });
            if return_raw {
                source["content"] = page.get("markdown").cloned().unwrap_or(Value::Null);
            }
            source
        })
        .collect())
}
