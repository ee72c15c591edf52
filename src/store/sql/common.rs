// Shared by the Postgres and SQLite stores through `store_sql!`: `Db`, `Pool` and `SqlStore`
// are the including module's, the dialect hooks come from `store/dialect.rs`. Every statement
// here is valid in both dialects (`$N` placeholders work in both).

use super::{
    AgentFilter, AgentPatch, AgentRelations, AgentRow, AgentSort, BlockEdit, BlockFilter,
    IdentityFilter, IdentityLinks, MessageFilter, NewAgent, RelationSet, RunFilter, StepFilter,
};
use crate::schemas::common::now;
use crate::schemas::{
    agent::{AgentEnvironmentVariable, AgentType},
    block::Block,
    identity::{Identity, IdentityProperty, IdentityType},
    message::{Message, MessageRole},
    run::{FeedbackType, JobStatus, Run, Step},
    tool::{Tool, ToolType},
};
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// The connection a transaction derefs to; helpers shared by several writes take it.
type Conn = <Db as sqlx::Database>::Connection;

/// Rows per multi-row INSERT, well under both databases' bind-parameter limits.
const INSERT_CHUNK: usize = 500;

/// Keeps the first occurrence of each value, in order.
fn dedup_ordered(values: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .iter()
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// The values of `wanted` (first occurrences, in order) that are in `found`.
fn keep_found(wanted: &[String], found: Vec<String>) -> Vec<String> {
    let found: std::collections::HashSet<String> = found.into_iter().collect();
    dedup_ordered(wanted)
        .into_iter()
        .filter(|id| found.contains(id))
        .collect()
}

/// A `LIKE` pattern matching `text` anywhere (`%`/`_` in `text` are not escaped, as the
/// original does not escape them either).
fn contains_pattern(text: &str) -> String {
    format!("%{text}%")
}

/// Decodes the JSON value of a column, `None` for SQL NULL. Stored JSON columns are JSON
/// text in both dialects and are parsed as written, so object keys keep their stored order;
/// an expression of a JSON type (a Postgres `json_agg`, say) is decoded as such.
fn decode_json<T: serde::de::DeserializeOwned>(
    row: &<Db as sqlx::Database>::Row,
    col: &str,
) -> super::StoreResult<Option<T>> {
    use sqlx::{TypeInfo as _, ValueRef as _};
    let raw = row.try_get_raw(col)?;
    if raw.is_null() {
        return Ok(None);
    }
    if matches!(raw.type_info().name(), "JSON" | "JSONB") {
        let value: sqlx::types::Json<T> = row.try_get(col)?;
        return Ok(Some(value.0));
    }
    let text: String = row.try_get(col)?;
    Ok(Some(serde_json::from_str(&text)?))
}

/// Reads a JSON column into a typed value.
fn json_col<T: serde::de::DeserializeOwned>(
    row: &<Db as sqlx::Database>::Row,
    col: &str,
) -> super::StoreResult<T> {
    decode_json(row, col)?
        .ok_or_else(|| super::StoreError::Corrupt(format!("column {col} is NULL")))
}

/// Reads a nullable JSON column; JSON `null` and SQL NULL both give `None`.
fn json_col_opt<T: serde::de::DeserializeOwned>(
    row: &<Db as sqlx::Database>::Row,
    col: &str,
) -> super::StoreResult<Option<T>> {
    Ok(decode_json::<Option<T>>(row, col)?.flatten())
}

/// A value as JSON text for a JSON column (TEXT in both dialects): written byte for byte,
/// so object keys read back in the order they were serialized (a JSONB column would
/// reorder them).
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// A limit as SQL understands it: `None` (no limit) becomes -1 for SQLite and NULL-safe
/// large value for Postgres; callers push `LIMIT` only when a limit is set.
fn push_limit(qb: &mut QueryBuilder<'_, Db>, limit: Option<i64>) {
    if let Some(limit) = limit {
        qb.push(" LIMIT ");
        qb.push_bind(limit);
    }
}

/// The `created_at` of the row `id` of `table` within `scope_col = scope`: the position of a
/// `(created_at, id)` cursor. `None` when the cursor is not such a row.
async fn cursor_created_at(
    pool: &Pool,
    table: &str,
    scope_col: &str,
    scope: &str,
    id: &str,
) -> super::StoreResult<Option<crate::schemas::Timestamp>> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT created_at FROM {table} WHERE id = $1 AND {scope_col} = $2"
    ))
    .bind(id)
    .bind(scope)
    .fetch_optional(pool)
    .await?)
}

/// Keeps the rows strictly beyond the cursor at `(created_at, id)` in `(created_at, id)`
/// order: after it when `forward`, before it otherwise.
fn push_position_filter(
    qb: &mut QueryBuilder<'_, Db>,
    created_at: crate::schemas::Timestamp,
    id: &str,
    forward: bool,
) {
    let op = if forward { ">" } else { "<" };
    qb.push(format!(" AND (created_at, id) {op} ("));
    qb.push_bind(created_at);
    qb.push(", ");
    qb.push_bind(id.to_owned());
    qb.push(")");
}
