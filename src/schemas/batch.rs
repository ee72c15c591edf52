//! Message batches: many agents' message requests in one call (`CreateBatch`), tracked as a
//! job of type `batch` (`BatchJob`) whose requests run as runs of their own.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;
use super::letta_message::{LettaMessage, LettaRequest, MessageType};
use super::message::MessageCreate;
use super::run::{JobStatus, JobType, Run};

fn default_max_steps() -> i64 {
    50
}

fn default_true() -> bool {
    true
}

fn default_tool_name() -> String {
    "send_message".to_owned()
}

fn default_tool_kwarg() -> String {
    "message".to_owned()
}

/// One agent's request in a batch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LettaBatchRequest {
    /// The messages to be sent to the agent.
    pub messages: Vec<MessageCreate>,
    /// Maximum number of steps the agent should take to process the request.
    #[serde(default = "default_max_steps")]
    #[schema(default = 50)]
    pub max_steps: i64,
    /// Whether the server should parse specific tool call arguments (default `send_message`)
    /// as `AssistantMessage` objects.
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub use_assistant_message: bool,
    /// The name of the designated message tool.
    #[serde(default = "default_tool_name")]
    #[schema(default = "send_message")]
    pub assistant_message_tool_name: String,
    /// The name of the message argument in the designated message tool.
    #[serde(default = "default_tool_kwarg")]
    #[schema(default = "message")]
    pub assistant_message_tool_kwarg: String,
    /// Only return specified message types in the response. If `None` (default) returns all
    /// messages.
    #[serde(default)]
    pub include_return_message_types: Option<Vec<MessageType>>,
    /// The ID of the agent to send this batch request for
    pub agent_id: String,
}

impl LettaBatchRequest {
    /// The message request this batch item makes of its agent.
    pub fn to_request(&self) -> LettaRequest {
        LettaRequest {
            messages: self.messages.clone(),
            max_steps: self.max_steps,
            use_assistant_message: self.use_assistant_message,
            assistant_message_tool_name: self.assistant_message_tool_name.clone(),
            assistant_message_tool_kwarg: self.assistant_message_tool_kwarg.clone(),
            include_return_message_types: self.include_return_message_types.clone(),
        }
    }
}

/// Body of `create_messages_batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateBatch {
    /// List of requests to be processed in batch.
    pub requests: Vec<LettaBatchRequest>,
    /// Optional URL to call via POST when the batch completes.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// A batch as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BatchJob {
    pub created_by_id: Option<String>,
    pub last_updated_by_id: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Timestamp>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub updated_at: Option<Timestamp>,
    #[schema(required = false)]
    pub status: JobStatus,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub completed_at: Option<Timestamp>,
    /// The batch's kind, its requests (`items`: run id, agent id, status) and their counts
    /// by status.
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub job_type: JobType,
    pub callback_url: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub callback_sent_at: Option<Timestamp>,
    pub callback_status_code: Option<i64>,
    pub callback_error: Option<String>,
    #[schema(required = false, pattern = "^(job|run)-[a-fA-F0-9]{8}")]
    pub id: String,
    pub user_id: Option<String>,
}

impl From<Run> for BatchJob {
    fn from(run: Run) -> Self {
        BatchJob {
            created_by_id: run.created_by_id,
            last_updated_by_id: run.last_updated_by_id,
            created_at: run.created_at,
            updated_at: run.updated_at,
            status: run.status,
            completed_at: run.completed_at,
            metadata: run.metadata,
            job_type: run.job_type,
            callback_url: run.callback_url,
            callback_sent_at: run.callback_sent_at,
            callback_status_code: run.callback_status_code,
            callback_error: run.callback_error,
            id: run.id,
            user_id: run.user_id,
        }
    }
}

/// Answer of `list_batch_messages`: the messages of the batch's runs, as LettaMessages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LettaBatchMessages {
    pub messages: Vec<LettaMessage>,
}
