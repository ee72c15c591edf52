//! The contract between the shared SQL in `sql/` and a backend. Every statement there is
//! text both databases accept; where they differ, the SQL calls one of the hooks below, and
//! each backend (`postgres.rs`, `sqlite.rs`) implements them. A new backend implements
//! [`Dialect`] (what depends only on the database) and [`SqlBackend`] (what depends on the
//! store's state, e.g. whether pgvector was found at connect), has a `pool` field, and
//! expands [`store_sql!`](crate::store_sql) to get every resource trait implemented.

use sqlx::QueryBuilder;

use super::{PassageScope, ScoredPassage, StoreResult};

/// The hooks that depend only on the database's SQL dialect.
pub trait Dialect {
    /// The sqlx database the shared SQL runs on.
    type Db: sqlx::Database;

    /// Appended to a `SELECT` inside a write transaction so the rows read stay locked until
    /// commit (empty where the transaction already holds the write lock).
    const LOCK_FOR_UPDATE: &'static str;
    /// The aggregate collecting a group's values into a JSON array.
    const JSON_ARRAY_AGG: &'static str;
    /// The function building a JSON object from `'key', value` pairs.
    const JSON_OBJECT: &'static str;
    /// The SQL expression for the byte length of the UTF-8 `text` column of a passage.
    const PASSAGE_TEXT_BYTES: &'static str;

    /// A boolean column as a JSON `true`/`false`/`null` inside [`Self::JSON_OBJECT`].
    fn json_bool(col: &str) -> String;
    /// A JSON column (stored as text) as a JSON value, not a string, inside
    /// [`Self::JSON_OBJECT`].
    fn json_embed(col: &str) -> String;
    /// Pushes `col IN (values)` with a single bind, so the statement text does not depend on
    /// the number of values (one cached prepared statement) and no parameter-count limit
    /// applies. An empty list matches nothing.
    fn push_in_list<S: AsRef<str>>(qb: &mut QueryBuilder<'_, Self::Db>, col: &str, values: &[S]);
    /// Pushes a condition that the JSON-array text column `col` contains every one of
    /// `values` (as whole elements), with a single bind.
    fn push_json_array_contains_all<S: AsRef<str>>(
        qb: &mut QueryBuilder<'_, Self::Db>,
        col: &str,
        values: &[S],
    );
    /// The embedding of a passage row selected with [`SqlBackend::passage_columns`].
    fn read_passage_embedding(
        row: &<Self::Db as sqlx::Database>::Row,
    ) -> StoreResult<Option<Vec<f32>>>;
}

/// The hooks that depend on the store itself: transactions and how vectors are stored.
// Native async fns: the shared SQL calls them on the concrete store, so their futures'
// `Send` is known there without boxing.
#[expect(
    async_fn_in_trait,
    reason = "only called on the concrete stores, never as dyn"
)]
pub trait SqlBackend {
    type Dialect: Dialect;

    /// Starts a transaction that will write.
    async fn begin_write(
        &self,
    ) -> StoreResult<sqlx::Transaction<'static, <Self::Dialect as Dialect>::Db>>;

    /// The select list of a full passage row.
    fn passage_columns(&self) -> String;
    /// The columns an inserted passage's embedding is written to.
    fn passage_embedding_columns(&self) -> &'static str;
    /// Pushes the values of [`Self::passage_embedding_columns`] into an INSERT row.
    fn push_passage_embedding<'args>(
        &self,
        b: &mut sqlx::query_builder::Separated<
            '_,
            'args,
            <Self::Dialect as Dialect>::Db,
            &'static str,
        >,
        embedding: Option<&[f32]>,
    );
    /// Pushes `, <embedding columns> = …` into an UPDATE.
    fn push_passage_embedding_set(
        &self,
        qb: &mut QueryBuilder<'_, <Self::Dialect as Dialect>::Db>,
        embedding: Option<&[f32]>,
    );
    /// Run before writing embeddings of these dimensions (e.g. to create their index).
    async fn prepare_passage_dims(&self, dims: &[usize]) -> StoreResult<()>;
    /// The passages of `scope` nearest to `query`, as `PassageStore::search_passages` says.
    async fn search_passage_rows(
        &self,
        org_id: &str,
        scope: PassageScope<'_>,
        query: &[f32],
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<ScoredPassage>>;
    /// Whether vector search runs in the database with an index.
    fn has_vector_index(&self) -> bool;
}
