//! User-defined (custom) Python tools: create, upsert, modify, delete, run once from source,
//! and schema generation (spec §5.2, §5.4).
//!
//! A tool's JSON schema is derived from its source when it is written (the original derives
//! it again on every read) and stored, so reads never run an interpreter. An explicit
//! `json_schema` is only used when the source cannot be derived from, which gives the same
//! responses as the original's re-derivation on read.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::tools::ToolService;
use super::{ServiceError, ServiceResult};
use crate::sandbox::{SchemaError, SchemaErrorKind, ToolRun, ToolStatus};
use crate::schemas::common::{format_message_date, now};
use crate::schemas::letta_message::ToolReturnMessage;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::tool::{
    PipRequirement, Tool, ToolCreate, ToolRunFromSource, ToolType, ToolUpdate,
};
use crate::store::StoreError;

/// The original's 409 text for a name clash on create.
const NAME_TAKEN: &str = "Tool with this name already exists.";

/// What a write resolves from the source: the schema to store and the tool's name.
struct Resolved {
    json_schema: Value,
    name: String,
}

fn schema_error(err: SchemaError) -> ServiceError {
    match err.kind {
        // The interpreter could not run: the server's problem, not the request's.
        SchemaErrorKind::Interpreter => ServiceError::Internal(err.message),
        _ => ServiceError::BadRequest(err.message),
    }
}

fn only_python(source_type: &str) -> ServiceResult<()> {
    if source_type == "python" {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Only Python source code is supported at this time (source_type {source_type:?})"
        )))
    }
}

/// pydantic's `min_length=1` on `PipRequirement.name`, as a 422.
fn check_requirements(reqs: Option<&[PipRequirement]>) -> ServiceResult<()> {
    match reqs
        .unwrap_or_default()
        .iter()
        .position(|r| r.name.is_empty())
    {
        Some(i) => Err(ServiceError::Validation {
            loc: vec![
                "body".into(),
                "pip_requirements".into(),
                i.into(),
                "name".into(),
            ],
            msg: "String should have at least 1 character".into(),
            input: Value::String(String::new()),
        }),
        None => Ok(()),
    }
}

fn name_clash(err: StoreError) -> ServiceError {
    match err {
        StoreError::Unique(_) => ServiceError::Conflict(NAME_TAKEN.into()),
        other => other.into(),
    }
}

impl ToolService<'_> {
    /// The schema for `source_code` (§5.2): with `args_json_schema`, built from it (errors are
    /// 400s, as the original's); else derived from the source, falling back to an explicit
    /// `json_schema` when derivation fails, except on a syntax error: a source that does not
    /// parse can never run, so it is refused whatever schema comes with it.
    async fn resolve_schema(
        &self,
        source_code: &str,
        args_json_schema: Option<&Value>,
        json_schema: Option<&Value>,
        name: Option<&str>,
    ) -> ServiceResult<Resolved> {
        let sandbox = self
            .sandbox
            .get()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let derived = sandbox
            .derive_schema(source_code, args_json_schema, name)
            .await;
        let schema = match (derived, json_schema) {
            (Ok(schema), _) => schema,
            (Err(e), Some(given))
                if args_json_schema.is_none()
                    && !matches!(
                        e.kind,
                        SchemaErrorKind::Syntax | SchemaErrorKind::Interpreter
                    ) =>
            {
                given.clone()
            }
            (Err(e), _) => return Err(schema_error(e)),
        };
        let name = schema
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ServiceError::BadRequest("The tool's json_schema has no \"name\"".into())
            })?
            .to_owned();
        Ok(Resolved {
            json_schema: schema,
            name,
        })
    }

    /// A new custom tool (not stored) from a create body, its schema resolved.
    async fn build_custom(&self, actor: &Actor, create: &ToolCreate) -> ServiceResult<Tool> {
        only_python(&create.source_type)?;
        // Built-in names must be taken before a custom tool can claim one.
        self.ensure_base_tools(actor).await?;
        check_requirements(create.pip_requirements.as_deref())?;
        let resolved = self
            .resolve_schema(
                &create.source_code,
                create.args_json_schema.as_ref(),
                create.json_schema.as_ref(),
                None,
            )
            .await?;
        let description = create.description.clone().or_else(|| {
            resolved
                .json_schema
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Ok(Tool {
            id: new_id("tool"),
            tool_type: ToolType::Custom,
            description,
            source_type: Some(create.source_type.clone()),
            organization_id: Some(actor.organization_id.clone()),
            name: Some(resolved.name),
            tags: create.tags.clone(),
            source_code: Some(create.source_code.clone()),
            json_schema: Some(resolved.json_schema),
            args_json_schema: create.args_json_schema.clone(),
            return_char_limit: Some(create.return_char_limit),
            pip_requirements: create.pip_requirements.clone(),
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            metadata_: Some(Map::new()),
        })
    }

    /// `create_tool`: 409 when the organization has a tool of the derived name.
    pub async fn create(&self, actor: &Actor, create: ToolCreate) -> ServiceResult<Tool> {
        let tool = self.build_custom(actor, &create).await?;
        self.store.create_tool(&tool).await.map_err(name_clash)
    }

    /// `upsert_tool`: by the derived name, overwrite the tool of that name (its id, type and
    /// creation kept) or create one. A built-in tool's name is refused: its behaviour comes
    /// from its type, so custom source stored over it would never run.
    pub async fn upsert(&self, actor: &Actor, create: ToolCreate) -> ServiceResult<Tool> {
        let new = self.build_custom(actor, &create).await?;
        let existing = self
            .store
            .list_tools(&actor.organization_id, None, Some(1), new.name.as_deref())
            .await?
            .into_iter()
            .next();
        let Some(mut tool) = existing else {
            return self.store.create_tool(&new).await.map_err(name_clash);
        };
        if tool.tool_type != ToolType::Custom {
            return Err(ServiceError::BadRequest(format!(
                "Tool {} is a built-in tool and cannot be replaced by a custom tool",
                tool.name()
            )));
        }
        // The given description, else the new schema's (as the original's rebuilt tool).
        tool.description = new.description;
        tool.tags = new.tags;
        tool.source_code = new.source_code;
        tool.source_type = new.source_type;
        tool.json_schema = new.json_schema;
        if new.args_json_schema.is_some() {
            tool.args_json_schema = new.args_json_schema;
        }
        tool.return_char_limit = new.return_char_limit;
        if new.pip_requirements.is_some() {
            tool.pip_requirements = new.pip_requirements;
        }
        tool.last_updated_by_id = Some(actor.user_id.clone());
        self.store
            .update_tool(&tool)
            .await
            .map_err(name_clash)?
            .ok_or_else(|| not_found(&tool.id))
    }

    /// `modify_tool`: applies the non-null fields. When the source, its schema or its args
    /// schema changes on a custom tool, the schema is resolved again as on create and the
    /// tool takes the derived function's name. Built-in tools only take `description`,
    /// `tags` and `return_char_limit`: their code and schema are fixed.
    pub async fn modify(
        &self,
        actor: &Actor,
        tool_id: &str,
        update: ToolUpdate,
    ) -> ServiceResult<Tool> {
        check_requirements(update.pip_requirements.as_deref())?;
        let mut tool = self.get(actor, tool_id).await?;
        let code_change = update.source_code.is_some()
            || update.source_type.is_some()
            || update.json_schema.is_some()
            || update.args_json_schema.is_some()
            || update.pip_requirements.is_some();
        if code_change && tool.tool_type != ToolType::Custom {
            return Err(ServiceError::BadRequest(format!(
                "Tool {} is a built-in tool: only its description, tags and return_char_limit can be changed",
                tool.name()
            )));
        }
        if let Some(source_type) = &update.source_type {
            only_python(source_type)?;
            tool.source_type = Some(source_type.clone());
        }
        if let Some(description) = update.description {
            tool.description = Some(description);
        }
        if let Some(tags) = update.tags {
            tool.tags = tags;
        }
        if let Some(limit) = update.return_char_limit {
            tool.return_char_limit = Some(limit);
        }
        if let Some(reqs) = update.pip_requirements {
            tool.pip_requirements = Some(reqs);
        }
        let resolve_again = update.source_code.is_some()
            || update.json_schema.is_some()
            || update.args_json_schema.is_some();
        if update.args_json_schema.is_some() {
            tool.args_json_schema = update.args_json_schema;
        }
        if resolve_again {
            if let Some(source) = update.source_code {
                tool.source_code = Some(source);
            }
            let source = tool.source_code.clone().unwrap_or_default();
            let resolved = self
                .resolve_schema(
                    &source,
                    tool.args_json_schema.as_ref(),
                    update.json_schema.as_ref(),
                    None,
                )
                .await?;
            tool.json_schema = Some(resolved.json_schema);
            tool.name = Some(resolved.name);
        }
        tool.last_updated_by_id = Some(actor.user_id.clone());
        self.store
            .update_tool(&tool)
            .await
            .map_err(name_clash)?
            .ok_or_else(|| not_found(tool_id))
    }

    /// `delete_tool`: hard delete, detaching it from every agent. A deleted built-in tool
    /// comes back at the next listing from the start, as in the original.
    pub async fn delete(&self, actor: &Actor, tool_id: &str) -> ServiceResult<()> {
        if self
            .store
            .delete_tool(&actor.organization_id, tool_id)
            .await?
        {
            Ok(())
        } else {
            // The original's status and words for an unknown id.
            Err(ServiceError::BadRequest(format!(
                "Tool with id {tool_id} not found."
            )))
        }
    }

    /// `generate_json_schema`: the schema the source derives, or a 400 naming the problem.
    pub async fn generate_schema(&self, code: &str) -> ServiceResult<Value> {
        let sandbox = self
            .sandbox
            .get()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        sandbox
            .derive_schema(code, None, None)
            .await
            .map_err(|e| match e.kind {
                SchemaErrorKind::Interpreter => ServiceError::Internal(e.message),
                _ => ServiceError::BadRequest(format!("Failed to generate schema: {}", e.message)),
            })
    }

    /// `run_tool_from_source`: builds an unsaved tool and runs it once in the sandbox with
    /// only `env_vars` as its variables. What the tool does (raising included) is a 200
    /// with `status: error`; a source that yields no tool is a 400.
    pub async fn run_from_source(
        &self,
        _actor: &Actor,
        request: ToolRunFromSource,
    ) -> ServiceResult<ToolReturnMessage> {
        if let Some(source_type) = &request.source_type {
            only_python(source_type)?;
        }
        check_requirements(request.pip_requirements.as_deref())?;
        let resolved = self
            .resolve_schema(
                &request.source_code,
                request.args_json_schema.as_ref(),
                request.json_schema.as_ref(),
                request.name.as_deref(),
            )
            .await?;
        // As the original: an explicit name is the function called, else the schema's.
        let function = request.name.clone().unwrap_or(resolved.name);
        let run = ToolRun {
            source_code: request.source_code,
            function: function.clone(),
            args: request.args,
            json_schema: Some(resolved.json_schema),
            agent_state: None,
            env: request.env_vars.into_iter().collect::<BTreeMap<_, _>>(),
            pip_requirements: request
                .pip_requirements
                .unwrap_or_default()
                .into_iter()
                .map(|r| crate::sandbox::PipRequirement {
                    name: r.name,
                    version: r.version,
                })
                .collect(),
        };
        let sandbox = self
            .sandbox
            .get()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut result = match sandbox.run_tool(&run).await {
            Ok(result) => result,
            Err(e) => crate::sandbox::ToolExecution::from_sandbox_error(&function, &e),
        };
        // The original's executor appends its note past the custom-tool limit (nothing is
        // cut here; the agent loop cuts).
        let limit = crate::schemas::tool::CUSTOM_TOOL_RETURN_CHAR_LIMIT as usize;
        let n = result.func_return.chars().count();
        if n > limit {
            result.func_return = format!(
                "{}... [NOTE: function output was truncated since it exceeded the character limit: {n} > {limit}]",
                result.func_return
            );
        }
        Ok(ToolReturnMessage {
            id: "null".into(),
            date: format_message_date(&now()),
            name: None,
            message_type: "tool_return_message".into(),
            otid: None,
            sender_id: None,
            step_id: None,
            tool_return: result.func_return,
            status: match result.status {
                ToolStatus::Success => "success".into(),
                ToolStatus::Error => "error".into(),
            },
            tool_call_id: "null".into(),
            stdout: Some(result.stdout),
            stderr: Some(result.stderr),
        })
    }
}

fn not_found(tool_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Tool with id {tool_id} not found"))
}
