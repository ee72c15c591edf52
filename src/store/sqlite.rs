//! The embedded backend: one SQLite file in WAL mode. JSON columns hold JSON text,
//! timestamps RFC 3339 text. Write transactions take the write lock up front
//! (`BEGIN IMMEDIATE`) so a read-then-write never fails on a lock upgrade.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::dialect::{Dialect, SqlBackend};
use super::{Store, StoreError, StoreResult};

pub type Db = sqlx::Sqlite;
type Pool = sqlx::SqlitePool;

pub struct SqliteStore {
    pool: Pool,
}

impl SqliteStore {
    pub async fn open_file(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open(options, &path.display().to_string()).await
    }

    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL {url}: {e}")))?
            .create_if_missing(true);
        Self::open(options, url).await
    }

    /// `place` (the file or URL) names the database in errors: SQLite's own message
    /// ("unable to open database file") does not say which file.
    async fn open(options: SqliteConnectOptions, place: &str) -> StoreResult<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        let pool = SqlitePoolOptions::new()
            .max_connections((cores * 2).max(4))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open the SQLite database {place}: {e}"))
            })?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| {
                StoreError::Database(format!("migrating the SQLite database {place}: {e}"))
            })?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_status(&self) -> super::PoolStatus {
        super::PoolStatus {
            size: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }
}

/// The SQLite dialect of the shared SQL.
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Db;

    /// SQLite write transactions already hold the database write lock (BEGIN IMMEDIATE).
    const LOCK_FOR_UPDATE: &'static str = "";
    const JSON_ARRAY_AGG: &'static str = "json_group_array";
    const JSON_OBJECT: &'static str = "json_object";
    const PASSAGE_TEXT_BYTES: &'static str = "length(CAST(text AS BLOB))";

    /// Booleans are stored as 0/1/NULL.
    fn json_bool(col: &str) -> String {
        format!("json(CASE WHEN {col} IS NULL THEN 'null' WHEN {col} THEN 'true' ELSE 'false' END)")
    }

    fn json_embed(col: &str) -> String {
        format!("json({col})")
    }

    /// A JSON array expanded by `json_each`.
    fn push_in_list<S: AsRef<str>>(qb: &mut QueryBuilder<'_, Db>, col: &str, values: &[S]) {
        let list: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        qb.push(col);
        qb.push(" IN (SELECT value FROM json_each(");
        qb.push_bind(serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned()));
        qb.push("))");
    }

    fn push_json_array_contains_all<S: AsRef<str>>(
        qb: &mut QueryBuilder<'_, Db>,
        col: &str,
        values: &[S],
    ) {
        let list: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
        qb.push("NOT EXISTS (SELECT 1 FROM json_each(");
        qb.push_bind(serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned()));
        qb.push(format!(
            ") wanted WHERE wanted.value NOT IN (SELECT have.value FROM json_each({col}) have))"
        ));
    }

    /// Embeddings are little-endian f32 BLOBs.
    fn read_passage_embedding(row: &sqlx::sqlite::SqliteRow) -> StoreResult<Option<Vec<f32>>> {
        use sqlx::Row as _;
        row.try_get::<Option<&[u8]>, _>("embedding")?
            .map(decode_embedding)
            .transpose()
    }
}

store_sql!(SqliteStore);

// Archival memory (see sql/passages.rs): embeddings as little-endian f32 BLOBs, searched by
// an exact cosine scan in this process.

impl SqlBackend for SqliteStore {
    type Dialect = SqliteDialect;

    /// `BEGIN IMMEDIATE`: a read-then-write never fails on a lock upgrade.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The select list of a full passage row.
    fn passage_columns(&self) -> String {
        format!("{PASSAGE_SCALAR_COLUMNS}, embedding")
    }

    fn passage_embedding_columns(&self) -> &'static str {
        "embedding"
    }

    fn push_passage_embedding<'args>(
        &self,
        b: &mut sqlx::query_builder::Separated<'_, 'args, Db, &'static str>,
        embedding: Option<&[f32]>,
    ) {
        b.push_bind(embedding.map(encode_embedding));
    }

    fn push_passage_embedding_set(
        &self,
        qb: &mut sqlx::QueryBuilder<'_, Db>,
        embedding: Option<&[f32]>,
    ) {
        qb.push(", embedding = ");
        qb.push_bind(embedding.map(encode_embedding));
    }

    /// Nothing to prepare: no index per dimension.
    async fn prepare_passage_dims(&self, _dims: &[usize]) -> StoreResult<()> {
        Ok(())
    }

    async fn search_passage_rows(
        &self,
        org_id: &str,
        scope: super::PassageScope<'_>,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<super::ScoredPassage>> {
        exact_passage_search(self, org_id, scope, query, offset, limit).await
    }

    fn has_vector_index(&self) -> bool {
        false
    }
}
