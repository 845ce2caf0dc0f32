//! What a failed attempt means for its job, said in types.
//!
//! A job handler returns [`Handled`]: its result with an error type that
//! implements [`Failure`], which gives each error its [`Verdict`] (never run
//! again, run again after a given delay, or run again on the kind's backoff
//! schedule). The ack layer ([`crate::backend::AckLayer`]) reads the verdict
//! and turns it into the job's next state through [`outcome_of_failure`].
//!
//! # Why the verdict travels in the response, not in the error
//!
//! apalis 1.0 erases a handler's error to a `Box<dyn Error>` before any
//! layer sees it: the task-function service maps `Result<T, E>` to
//! `Result<T, BoxDynError>`, and the worker's lifecycle service, which sits
//! inside every layer, does the same. The *response* type, on the other hand,
//! reaches the backend's layer unchanged. So a handler answers `Ok(Handled)`
//! for every attempt it ran, the layer bound `Response = Handled<E>` with
//! `E: Failure` makes the mapping happen once with no downcast, and the layer
//! hands a failure back to apalis as an error again, so what the rest of the
//! worker sees is unchanged. Errors that do not come from the handler (a
//! timeout, a panic caught by a layer, an extractor that failed) have no
//! verdict and are retried on schedule.

use std::time::Duration;

use apalis_core::{error::BoxDynError, task::into_response::IntoResponse};

use crate::{Outcome, lease::Lease, now_millis, retry::RetryPolicies};

/// What a failed attempt means for its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The job can never succeed: dead at once, without further attempts.
    Permanent,
    /// Run again no sooner than this (a receiver's `Retry-After`), while
    /// attempts last.
    RetryAfter(Duration),
    /// Run again on the kind's backoff schedule, while attempts last.
    Schedule,
}

/// An error a job handler returns: it knows its own [`Verdict`].
pub trait Failure: std::error::Error + Send + Sync + 'static {
    /// What this failure means for the job.
    fn verdict(&self) -> Verdict;
}

/// What a job handler returns to a [`crate::QueueBackend`] worker: the
/// attempt's result, with the error still typed.
///
/// Built from a `Result` with `.into()`; see the module docs for why it is
/// not a plain `Result`.
#[derive(Debug)]
pub struct Handled<E>(pub Result<(), E>);

impl<E> From<Result<(), E>> for Handled<E> {
    fn from(result: Result<(), E>) -> Self {
        Self(result)
    }
}

impl<E: Failure> IntoResponse for Handled<E> {
    type Output = Self;

    fn into_response(self) -> Result<Self, BoxDynError> {
        Ok(self)
    }
}

/// Decides what a failed attempt means for the job: `verdict` from the
/// handler's error, `message` its text for the job's error history.
pub(crate) fn outcome_of_failure(
    verdict: Verdict,
    message: String,
    lease: &Lease,
    policies: &RetryPolicies,
) -> Outcome {
    let policy = policies.for_kind(&lease.kind);
    let max = lease.max_attempts.min(policy.max_attempts).max(1);
    let delay = match verdict {
        Verdict::Permanent => return Outcome::Dead { error: message },
        Verdict::RetryAfter(after) => after,
        Verdict::Schedule => policy.delay_after(lease.attempt),
    };
    if lease.attempt >= max {
        return Outcome::Dead {
            error: format!("gave up after {} attempts: {message}", lease.attempt),
        };
    }
    Outcome::Retry {
        at: now_millis() + delay.as_millis() as i64,
        error: message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JobId, RetryPolicy};

    fn lease(attempt: u32, max: u32) -> Lease {
        Lease {
            id: JobId::generate(),
            kind: "k".into(),
            attempt,
            max_attempts: max,
            lease: 1,
        }
    }

    #[test]
    fn permanent_failures_are_dead_at_once() {
        let out = outcome_of_failure(
            Verdict::Permanent,
            "400 bad request".into(),
            &lease(1, 10),
            &RetryPolicies::default(),
        );
        assert_eq!(
            out,
            Outcome::Dead {
                error: "400 bad request".into()
            }
        );
    }

    #[test]
    fn retry_after_is_honoured() {
        let before = now_millis();
        match outcome_of_failure(
            Verdict::RetryAfter(Duration::from_secs(120)),
            "429".into(),
            &lease(1, 10),
            &RetryPolicies::default(),
        ) {
            Outcome::Retry { at, .. } => {
                assert!(at >= before + 120_000 && at <= now_millis() + 120_000)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_scheduled_retry_waits_the_kinds_backoff() {
        // The default policy's first retry: 5 s with equal jitter, 2.5 to 5 s.
        let before = now_millis();
        match outcome_of_failure(
            Verdict::Schedule,
            "503".into(),
            &lease(1, 10),
            &RetryPolicies::default(),
        ) {
            Outcome::Retry { at, error } => {
                assert!(at >= before + 2_500 && at <= now_millis() + 5_000, "{at}");
                assert_eq!(error, "503");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_last_attempt_dead_letters_even_a_retryable_failure() {
        let out = outcome_of_failure(
            Verdict::Schedule,
            "503".into(),
            &lease(3, 3),
            &RetryPolicies::default(),
        );
        assert!(
            matches!(out, Outcome::Dead { ref error } if error.contains("gave up after 3")),
            "{out:?}"
        );
    }

    #[test]
    fn the_kind_policy_caps_attempts() {
        let policies = RetryPolicies::default().with_kind(
            "k",
            RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            },
        );
        let out = outcome_of_failure(Verdict::Schedule, "boom".into(), &lease(2, 25), &policies);
        assert!(matches!(out, Outcome::Dead { .. }), "{out:?}");
    }
}
