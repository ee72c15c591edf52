//! Runs (jobs of type `run`: one per message request) and steps (one per model call).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Timestamp;
use super::common::naive_utc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Created,
    Running,
    Completed,
    Failed,
    Pending,
    Cancelled,
    Expired,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Created => "created",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Pending => "pending",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }

    /// Completed, failed, cancelled and expired runs never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Expired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    Job,
    Run,
    Batch,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Job => "job",
            JobType::Run => "run",
            JobType::Batch => "batch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// The request options a run was started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LettaRequestConfig {
    pub use_assistant_message: bool,
    pub assistant_message_tool_name: String,
    pub assistant_message_tool_kwarg: String,
    pub include_return_message_types: Option<Vec<String>>,
}

/// A run: the record of one message request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
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
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub job_type: JobType,
    pub callback_url: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub callback_sent_at: Option<Timestamp>,
    pub callback_status_code: Option<i64>,
    pub callback_error: Option<String>,
    #[schema(required = false)]
    pub id: String,
    pub user_id: Option<String>,
    pub request_config: Option<LettaRequestConfig>,
    /// The agent the run belongs to (also kept in `metadata.agent_id`); not serialized.
    #[serde(skip)]
    pub agent_id: Option<String>,
    /// Owning organization; not serialized.
    #[serde(skip)]
    pub organization_id: String,
}

// Built from a `Run` by `From`; its doc comment is the OpenAPI description.
/// A row of the jobs table as `/v1/jobs` shows it: a run without its request config.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Job {
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
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(required = false)]
    pub job_type: JobType,
    pub callback_url: Option<String>,
    #[serde(with = "naive_utc::option")]
    #[schema(value_type = Option<String>)]
    pub callback_sent_at: Option<Timestamp>,
    pub callback_status_code: Option<i64>,
    pub callback_error: Option<String>,
    #[schema(required = false)]
    pub id: String,
    pub user_id: Option<String>,
}

impl From<Run> for Job {
    fn from(run: Run) -> Self {
        Job {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackType {
    Positive,
    Negative,
}

impl FeedbackType {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackType::Positive => "positive",
            FeedbackType::Negative => "negative",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "positive" => Some(FeedbackType::Positive),
            "negative" => Some(FeedbackType::Negative),
            _ => None,
        }
    }
}

/// One model call made by an agent, with its token counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    pub id: String,
    pub origin: Option<String>,
    pub organization_id: Option<String>,
    pub provider_id: Option<String>,
    pub job_id: Option<String>,
    pub agent_id: Option<String>,
    pub provider_name: Option<String>,
    pub provider_category: Option<String>,
    pub model: Option<String>,
    pub model_endpoint: Option<String>,
    pub context_window_limit: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub prompt_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub completion_tokens_details: Option<Value>,
    #[schema(required = false)]
    pub tags: Vec<String>,
    pub tid: Option<String>,
    pub trace_id: Option<String>,
    /// Always empty, as in the original.
    #[schema(required = false, value_type = Vec<Object>)]
    pub messages: Vec<Value>,
    pub feedback: Option<FeedbackType>,
    pub project_id: Option<String>,
    /// When the step was recorded; not serialized (the original's Step has no timestamps).
    #[serde(skip)]
    pub created_at: Option<Timestamp>,
}
