//! The production backend. JSON columns hold JSON text (TEXT, so object key order survives a
//! round trip), timestamps TIMESTAMPTZ.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Store, StoreError, StoreResult};

pub type Db = sqlx::Postgres;
type Pool = sqlx::PgPool;

pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Runs the migrations on an existing pool.
    pub async fn from_pool(pool: Pool) -> StoreResult<Self> {
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| super::StoreError::Database(e.to_string()))?;
        Ok(PgStore { pool })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
}

type SqlStore = PgStore;

/// The aggregate collecting a group's values into a JSON array.
/// Locks a row read inside a write transaction until it commits.
const LOCK_FOR_UPDATE: &str = " FOR UPDATE";

const JSON_ARRAY_AGG: &str = "json_agg";

/// The function building a JSON object from `'key', value` pairs.
const JSON_OBJECT: &str = "json_build_object";

/// A boolean column as a JSON value inside [`JSON_OBJECT`].
fn json_bool(col: &str) -> String {
    col.to_owned()
}

/// A JSON column (stored as text) as a JSON value, not a string, inside [`JSON_OBJECT`].
fn json_embed(col: &str) -> String {
    format!("({col})::json")
}

/// Pushes `col IN (values)` with a single bind (`col = ANY($n)` over a text array), so the
/// statement text does not depend on the number of values (one cached prepared statement)
/// and no parameter-count limit applies. An empty list matches nothing.
fn push_in_list<S: AsRef<str>>(qb: &mut sqlx::QueryBuilder<'_, Db>, col: &str, values: &[S]) {
    qb.push(col);
    qb.push(" = ANY(");
    let list: Vec<String> = values.iter().map(|v| v.as_ref().to_owned()).collect();
    qb.push_bind(list);
    qb.push(")");
}

/// Pushes a condition that the JSON-array text column `col` contains every one of `values`
/// (as whole elements), with a single bind.
fn push_json_array_contains_all<S: AsRef<str>>(
    qb: &mut sqlx::QueryBuilder<'_, Db>,
    col: &str,
    values: &[S],
) {
    let list: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
    qb.push(format!("CAST({col} AS JSONB) @> CAST("));
    qb.push_bind(serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned()));
    qb.push(" AS JSONB)");
}

include!("sql/common.rs");
include!("sql/orgs.rs");
include!("sql/agents.rs");
include!("sql/blocks.rs");
include!("sql/tools.rs");
include!("sql/identities.rs");
include!("sql/messages.rs");
include!("sql/steps.rs");
include!("sql/runs.rs");
include!("sql/leases.rs");
