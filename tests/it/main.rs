//! The one integration-test binary: the store conformance suite and the HTTP tests, each
//! run against SQLite (a temp file) and Postgres (a fresh database per run).

mod helpers;

mod admin;
mod agents;
mod blocks;
mod health;
mod identities;
mod models;
mod openapi;
mod settings_doc;
mod store_agents;
mod store_blocks;
mod store_fixtures;
mod store_identities;
mod store_misc;
mod store_tools;
mod tags;
mod tools;
