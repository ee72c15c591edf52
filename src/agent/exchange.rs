//! What a turn is asked and what it answers: the options beyond the input messages, the
//! checks on the inputs made before anything is written, the finished turn's result and the
//! LettaMessages a response shows.

use serde_json::json;

use crate::schemas::letta_message::{
    LettaMessage, LettaRequest, LettaUsageStatistics, StopReasonType,
};
use crate::schemas::message::{Message, MessageCreate, MessageCreateRole, MessageRole};
use crate::services::messages::{ConvertOptions, convert};
use crate::services::{ServiceError, ServiceResult};

/// Options of one turn beyond the input messages.
#[derive(Debug, Clone)]
pub struct TurnOptions {
    pub max_steps: i64,
    pub use_assistant_message: bool,
    pub assistant_message_tool_name: String,
    pub assistant_message_tool_kwarg: String,
    pub include_return_message_types: Option<Vec<String>>,
}

impl From<&LettaRequest> for TurnOptions {
    fn from(req: &LettaRequest) -> Self {
        TurnOptions {
            max_steps: req.max_steps,
            use_assistant_message: req.use_assistant_message,
            assistant_message_tool_name: req.assistant_message_tool_name.clone(),
            assistant_message_tool_kwarg: req.assistant_message_tool_kwarg.clone(),
            include_return_message_types: req
                .include_return_message_types
                .as_ref()
                .map(|types| types.iter().map(|t| t.as_str().to_owned()).collect()),
        }
    }
}

/// What a finished turn produced.
#[derive(Debug, Clone)]
pub struct TurnResult {
    /// Every message the turn created (inputs included), in creation order.
    pub created: Vec<Message>,
    pub stop_reason: StopReasonType,
    pub usage: LettaUsageStatistics,
}

/// Checks the inputs before anything is written.
pub fn validate_inputs(messages: &[MessageCreate]) -> ServiceResult<()> {
    for (i, m) in messages.iter().enumerate() {
        if m.role == MessageCreateRole::Assistant {
            return Err(ServiceError::value_error(
                &["body", "messages", &i.to_string(), "role"],
                "assistant messages cannot be sent to an agent; send user or system messages",
                json!("assistant"),
            ));
        }
        if m.content.to_text().is_empty()
            && matches!(m.content, crate::schemas::message::MessageContent::Text(_))
        {
            return Err(ServiceError::value_error(
                &["body", "messages", &i.to_string(), "content"],
                "message content must not be empty",
                json!(""),
            ));
        }
    }
    Ok(())
}

/// The LettaMessages a turn answers with: everything it created but user messages,
/// filtered by the requested types.
pub fn response_messages(
    created: &[Message],
    opts: &TurnOptions,
) -> ServiceResult<Vec<LettaMessage>> {
    let shown: Vec<Message> = created
        .iter()
        .filter(|m| m.role != MessageRole::User)
        .cloned()
        .collect();
    let mut out = convert(
        &shown,
        ConvertOptions {
            use_assistant_message: opts.use_assistant_message,
            tool_name: &opts.assistant_message_tool_name,
            tool_kwarg: &opts.assistant_message_tool_kwarg,
        },
    )?;
    if let Some(types) = &opts.include_return_message_types {
        out.retain(|m| types.iter().any(|t| t == m.message_type()));
    }
    Ok(out)
}
