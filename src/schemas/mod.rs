//! Wire types: the JSON the API accepts and returns, named as the reference OpenAPI document
//! names them. Services and stores use them as their domain values too.

pub mod agent;
pub mod agent_file;
pub mod batch;
pub mod block;
pub mod common;
pub mod group;
pub mod identity;
pub mod letta_message;
pub mod llm_config;
pub mod mcp;
pub mod message;
pub mod org;
pub mod passage;
pub mod provider;
pub mod run;
pub mod sandbox;
pub mod telemetry;
pub mod tool;
pub mod tool_rule;

pub use common::{Timestamp, new_id};
pub mod file;
pub mod source;
