//! The one integration-test binary: the store conformance suite and the HTTP tests, each
//! run against SQLite (a temp file) and Postgres (a fresh database per run).

mod helpers;

mod admin;
mod agent_loop;
mod agents;
mod blocks;
mod health;
mod identities;
mod llm_chat;
mod messages;
mod mock_llm;
mod models;
mod openapi;
mod settings_doc;
mod steps;
mod store_agents;
mod store_blocks;
mod store_fixtures;
mod store_identities;
mod store_leases;
mod store_messages;
mod store_misc;
mod store_runs;
mod store_steps;
mod store_tools;
mod tags;
mod tools;
