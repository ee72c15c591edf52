//! The one integration-test binary: the store conformance suite and the HTTP tests, each
//! run against SQLite (a temp file) and Postgres (a fresh database per run).

#![allow(
    clippy::unwrap_used,
    reason = "a panic is how a test reports a failure, in helpers as in tests"
)]

mod helpers;

mod admin;
mod agent_file_sources;
mod agent_files;
mod agent_loop;
mod agents;
mod archival;
mod batches;
mod blocks;
mod builtin_tools;
mod composio;
mod custom_tool_loop;
mod custom_tools;
mod file_tools;
mod files;
mod group_managers;
mod groups;
mod health;
mod hostile_input;
mod identities;
mod jobs;
mod llm_chat;
mod manager_routes;
mod mcp;
mod messages;
mod mock_llm;
mod models;
mod multi_agent_tools;
mod openapi;
mod ops;
mod providers;
mod redis_faults;
mod replicas;
mod runs;
mod sandbox;
mod sandbox_configs;
mod security;
mod settings_doc;
mod sleeptime;
mod sources;
mod sse;
mod steps;
mod store_agents;
mod store_blocks;
mod store_fixtures;
mod store_identities;
mod store_leases;
mod store_messages;
mod store_misc;
mod store_passages;
mod store_runs;
mod store_sandbox;
mod store_sources;
mod store_steps;
mod store_tools;
mod streaming;
mod tags;
mod telemetry;
mod tools;
mod voice;
