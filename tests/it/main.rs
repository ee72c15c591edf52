//! The one integration-test binary: the store conformance suite and the HTTP tests, each
//! run against SQLite (a temp file) and Postgres (a fresh database per run).

mod helpers;

mod health;
mod agents;
mod openapi;
