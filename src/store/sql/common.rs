// Shared by the Postgres and SQLite stores through `include!`: `Db`, `Pool` and `SqlStore`
// are the including module's. Every statement here is valid in both dialects
// (`$N` placeholders work in both).

#[allow(unused_imports)]
use super::{
    AgentFilter, AgentPatch, AgentRelations, AgentRow, AgentSort, BlockCheck, BlockFilter,
    IdentityFilter, IdentityLinks, NewAgent, RelationSet,
};
#[allow(unused_imports)]
use crate::schemas::common::now;
#[allow(unused_imports)]
use crate::schemas::{
    agent::{AgentEnvironmentVariable, AgentType},
    block::Block,
    identity::{Identity, IdentityProperty, IdentityType},
    message::{Message, MessageRole},
    org::{Organization, User},
    tool::{Tool, ToolType},
};
#[allow(unused_imports)]
use sqlx::{QueryBuilder, Row};
#[allow(unused_imports)]
use std::collections::HashMap;

/// The connection a transaction derefs to; helpers shared by several writes take it.
#[allow(dead_code)]
type Conn = <Db as sqlx::Database>::Connection;

/// Rows per multi-row INSERT, well under both databases' bind-parameter limits.
#[allow(dead_code)]
const INSERT_CHUNK: usize = 500;

/// Keeps the first occurrence of each value, in order.
#[allow(dead_code)]
fn dedup_ordered(values: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .iter()
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// The values of `wanted` (first occurrences, in order) that are in `found`.
#[allow(dead_code)]
fn keep_found(wanted: &[String], found: Vec<String>) -> Vec<String> {
    let found: std::collections::HashSet<String> = found.into_iter().collect();
    dedup_ordered(wanted)
        .into_iter()
        .filter(|id| found.contains(id))
        .collect()
}

/// A `LIKE` pattern matching `text` anywhere (`%`/`_` in `text` are not escaped, as the
/// original does not escape them either).
#[allow(dead_code)]
fn contains_pattern(text: &str) -> String {
    format!("%{text}%")
}

/// Reads a JSON column into a typed value.
#[allow(dead_code)]
fn json_col<T: serde::de::DeserializeOwned>(
    row: &<Db as sqlx::Database>::Row,
    col: &str,
) -> super::StoreResult<T> {
    let value: sqlx::types::Json<serde_json::Value> = row.try_get(col)?;
    Ok(serde_json::from_value(value.0)?)
}

/// Reads a nullable JSON column; JSON `null` and SQL NULL both give `None`.
#[allow(dead_code)]
fn json_col_opt<T: serde::de::DeserializeOwned>(
    row: &<Db as sqlx::Database>::Row,
    col: &str,
) -> super::StoreResult<Option<T>> {
    let value: Option<sqlx::types::Json<serde_json::Value>> = row.try_get(col)?;
    match value {
        None => Ok(None),
        Some(v) if v.0.is_null() => Ok(None),
        Some(v) => Ok(Some(serde_json::from_value(v.0)?)),
    }
}

/// Wraps a value for a JSON column.
#[allow(dead_code)]
fn to_json<T: serde::Serialize>(value: &T) -> sqlx::types::Json<serde_json::Value> {
    sqlx::types::Json(serde_json::to_value(value).unwrap_or(serde_json::Value::Null))
}

/// A limit as SQL understands it: `None` (no limit) becomes -1 for SQLite and NULL-safe
/// large value for Postgres; callers push `LIMIT` only when a limit is set.
#[allow(dead_code)]
fn push_limit(qb: &mut QueryBuilder<'_, Db>, limit: Option<i64>) {
    if let Some(limit) = limit {
        qb.push(" LIMIT ");
        qb.push_bind(limit);
    }
}
