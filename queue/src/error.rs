//! The one error type of the queue: what its stores and backend return.
//!
//! Storage failures (Redis, SQL, payload encoding) are transient for the
//! caller to retry; [`Error::NotFound`] and [`Error::InvalidState`] answer an
//! operation on a job (ops retry or cancel); [`Error::Corrupt`] means the
//! storage holds something this code did not write. A job handler's own
//! failures are not here: they carry a [`crate::Verdict`] instead.

/// Everything that can go wrong in the queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis refused or dropped a command. Transient: retried by callers.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),

    /// The SQL database refused or dropped a statement. Transient.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),

    /// A record could not be encoded or decoded.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),

    /// An operation named a job that does not exist (or has expired).
    #[error("job {0} not found")]
    NotFound(String),

    /// An operation is not allowed in the job's current state, e.g. cancelling
    /// a running job or retrying a succeeded one.
    #[error("job {id} is {state}: {reason}")]
    InvalidState {
        /// The job.
        id: String,
        /// Its current state.
        state: String,
        /// Why the operation is refused.
        reason: &'static str,
    },

    /// The queue's storage answered with something this code did not write.
    #[error("corrupt queue data: {0}")]
    Corrupt(String),
}

/// The queue's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
