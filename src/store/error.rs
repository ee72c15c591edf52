use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique constraint rejected the write (e.g. a label already used on an agent).
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A foreign key rejected the write (a referenced row does not exist).
    #[error("foreign key constraint violated: {0}")]
    ForeignKey(String),
    /// A rule checked inside a store transaction refused the change.
    #[error("{0}")]
    Rejected(String),
    /// The database could not be reached in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) => {
                let msg = db.message().to_owned();
                match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => StoreError::Unique(msg),
                    sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::ForeignKey(msg),
                    _ => StoreError::Database(msg),
                }
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(err.to_string())
            }
            _ => StoreError::Database(err.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}
