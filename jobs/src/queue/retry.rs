//! How long to wait before the next attempt, and how many attempts a job gets.
//!
//! Used by the worker's ack path ([`super::backend`]) when an attempt fails
//! with a retryable error: the delay is computed here and the retry is stored
//! in the queue as a `retrying` job with a `run_at`, so a waiting retry never
//! holds a worker slot and survives a restart.

use std::{collections::HashMap, time::Duration};

use rand::Rng;

/// A kind's retry budget and backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the job is dead (the first run counts).
    pub max_attempts: u32,
    /// The delay after the first failure; doubles with each further failure.
    pub base_delay: Duration,
    /// The ceiling of the delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 25 attempts, 5 s doubling to at most a day: about three weeks of
    /// retries, the same order as Sidekiq's default, long enough to ride out a
    /// receiver's weekend outage.
    fn default() -> Self {
        Self {
            max_attempts: 25,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `failed_attempt` (1-based).
    ///
    /// Exponential with "equal jitter": half the exponential step is fixed and
    /// half random, so retries of many jobs that failed together (a receiver
    /// outage) spread out instead of arriving in lockstep, while no retry
    /// comes sooner than half its nominal delay.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        let exp = failed_attempt.saturating_sub(1).min(32);
        let nominal = self
            .base_delay
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max_delay);
        let half = nominal / 2;
        let jitter_ms = half.as_millis() as u64;
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
        };
        half + jitter
    }
}

/// The retry policy of every job kind, with a default for the rest.
#[derive(Debug, Clone, Default)]
pub struct RetryPolicies {
    default: RetryPolicy,
    by_kind: HashMap<String, RetryPolicy>,
}

impl RetryPolicies {
    /// Policies that give every kind `default`.
    pub fn new(default: RetryPolicy) -> Self {
        Self {
            default,
            by_kind: HashMap::new(),
        }
    }

    /// Gives `kind` its own policy.
    pub fn with_kind(mut self, kind: impl Into<String>, policy: RetryPolicy) -> Self {
        self.by_kind.insert(kind.into(), policy);
        self
    }

    /// The policy for `kind`.
    pub fn for_kind(&self, kind: &str) -> RetryPolicy {
        self.by_kind.get(kind).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_and_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(4),
            max_delay: Duration::from_secs(60),
        };
        for _ in 0..200 {
            let d1 = p.delay_after(1);
            assert!(
                d1 >= Duration::from_secs(2) && d1 <= Duration::from_secs(4),
                "{d1:?}"
            );
            let d3 = p.delay_after(3);
            assert!(
                d3 >= Duration::from_secs(8) && d3 <= Duration::from_secs(16),
                "{d3:?}"
            );
            let d20 = p.delay_after(20);
            assert!(
                d20 >= Duration::from_secs(30) && d20 <= Duration::from_secs(60),
                "{d20:?}"
            );
        }
    }

    #[test]
    fn kinds_fall_back_to_the_default_policy() {
        let strict = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let policies = RetryPolicies::default().with_kind("bonus", strict);
        assert_eq!(policies.for_kind("bonus").max_attempts, 3);
        assert_eq!(policies.for_kind("other").max_attempts, 25);
    }
}
