//! The production backend. JSON columns are JSONB, timestamps TIMESTAMPTZ.

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

include!("sql/common.rs");
include!("sql/orgs.rs");
include!("sql/agents.rs");
include!("sql/blocks.rs");
include!("sql/tools.rs");
include!("sql/identities.rs");
include!("sql/messages.rs");
