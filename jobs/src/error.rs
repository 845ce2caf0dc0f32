//! The one error type of the `jobs` crate.
//!
//! Three audiences read it. Storage calls return it for database and
//! encoding failures, and wrap the queue's own errors ([`Error::Queue`]).
//! Job handlers return it, and there the variant is the *decision* about what
//! happens next, given to the queue as a [`queue::Verdict`]:
//! [`Error::Permanent`] makes the job dead at once, [`Error::RetryAfter`]
//! retries it at the time the handler asked for, and everything else retries
//! on the kind's backoff schedule. Deciding retryability in the type keeps
//! handlers from ever building stringly errors that the queue has to guess
//! about. The HTTP and CLI edges map [`Error::Invalid`], [`Error::NotFound`]
//! and [`Error::InvalidState`] to a caller's mistake (4xx, exit 2).

use std::time::Duration;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The queue refused an operation or its storage failed.
    #[error(transparent)]
    Queue(#[from] queue::Error),

    /// The SQL database refused or dropped a statement. Transient for jobs.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),

    /// A payload could not be encoded or decoded.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),

    /// The job could not be done now but may succeed later; the queue retries
    /// it on the kind's backoff schedule.
    #[error("{0}")]
    Retryable(String),

    /// The job asked to be retried no sooner than `after` (for example a
    /// receiver's `Retry-After`).
    #[error("retry after {after:?}: {reason}")]
    RetryAfter {
        /// How long to wait before the next attempt.
        after: Duration,
        /// Why the attempt did not succeed.
        reason: String,
    },

    /// The job can never succeed (a 4xx from a receiver, a payload that makes
    /// no sense). The queue dead-letters it without further attempts.
    #[error("permanent failure: {0}")]
    Permanent(String),

    /// An operation named something that does not exist (or has expired);
    /// the text says what (`"job <id>"`, `"payout 7"`).
    #[error("job {0} not found")]
    NotFound(String),

    /// An operation is not allowed in its subject's current state, e.g.
    /// cancelling a running job or approving a paid payout.
    #[error("job {id} is {state}: {reason}")]
    InvalidState {
        /// The job.
        id: String,
        /// Its current state.
        state: String,
        /// Why the operation is refused.
        reason: &'static str,
    },

    /// A caller's input is unacceptable; `field` names it (HTTP 422).
    #[error("{field}: {problem}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },

    /// Storage answered with something this code did not write.
    #[error("corrupt queue data: {0}")]
    Corrupt(String),
}

impl Error {
    /// A retryable failure with a message.
    pub fn retryable(msg: impl Into<String>) -> Self {
        Self::Retryable(msg.into())
    }

    /// An invalid input named by `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// A permanent failure with a message.
    pub fn permanent(msg: impl Into<String>) -> Self {
        Self::Permanent(msg.into())
    }
}

impl queue::Failure for Error {
    /// [`Error::Permanent`] never runs again, [`Error::RetryAfter`] runs again
    /// when it asked, everything else (storage errors included) on the kind's
    /// backoff schedule.
    fn verdict(&self) -> queue::Verdict {
        use queue::Verdict;
        match self {
            Error::Permanent(_) => Verdict::Permanent,
            Error::RetryAfter { after, .. } => Verdict::RetryAfter(*after),
            _ => Verdict::Schedule,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{Failure, Verdict};

    #[test]
    fn a_permanent_failure_is_never_retried() {
        assert_eq!(
            Error::permanent("400 bad request").verdict(),
            Verdict::Permanent
        );
    }

    #[test]
    fn retry_after_carries_the_asked_delay() {
        let e = Error::RetryAfter {
            after: Duration::from_secs(120),
            reason: "429".into(),
        };
        assert_eq!(e.verdict(), Verdict::RetryAfter(Duration::from_secs(120)));
    }

    #[test]
    fn other_errors_retry_on_the_kinds_schedule() {
        assert_eq!(Error::retryable("503").verdict(), Verdict::Schedule);
        assert_eq!(
            Error::Corrupt("unreadable".into()).verdict(),
            Verdict::Schedule
        );
    }
}
