//! How long to wait before the next attempt, and how many attempts a job gets.
//!
//! Used by the worker's ack path ([`crate::backend`]) when an attempt fails
//! with a retryable error: the delay is computed here and the retry is stored
//! in the queue as a `retrying` job with a `run_at`, so a waiting retry never
//! holds a worker slot and survives a restart.

use std::{collections::HashMap, sync::Arc, time::Duration};

use rand::Rng;

/// A kind's retry budget and backoff schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before the job is dead (the first run counts).
    pub max_attempts: u32,
    /// The delay after the first failure; doubles with each further failure.
    pub base_delay: Duration,
    /// The ceiling of the delay.
    pub max_delay: Duration,
    /// An explicit schedule instead of doubling: the delay after the n-th
    /// failure is `schedule[n-1]` (the last entry repeats). Outbound
    /// webhooks use Standard Webhooks' (see [`RetryPolicy::webhook_schedule`]).
    pub schedule: Option<Arc<[Duration]>>,
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
            schedule: None,
        }
    }
}

impl RetryPolicy {
    /// The retry delays Standard Webhooks recommends for senders: 5 s, 5 m,
    /// 30 m, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h, about three days in all.
    pub fn webhook_schedule() -> Vec<Duration> {
        const MIN: u64 = 60;
        const HOUR: u64 = 3600;
        [
            5,
            5 * MIN,
            30 * MIN,
            2 * HOUR,
            5 * HOUR,
            10 * HOUR,
            14 * HOUR,
            20 * HOUR,
            24 * HOUR,
        ]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
    }

    /// A policy that follows `schedule`: one attempt, then one retry per
    /// entry, so `max_attempts` is `schedule.len() + 1`.
    pub fn scheduled(schedule: Vec<Duration>) -> Self {
        let max = schedule.iter().copied().max().unwrap_or_default();
        Self {
            max_attempts: schedule.len() as u32 + 1,
            base_delay: schedule.first().copied().unwrap_or_default(),
            max_delay: max,
            schedule: Some(schedule.into()),
        }
    }

    /// The delay before the attempt after `failed_attempt` (1-based).
    ///
    /// Exponential with "equal jitter": half the exponential step is fixed and
    /// half random, so retries of many jobs that failed together (a receiver
    /// outage) spread out instead of arriving in lockstep, while no retry
    /// comes sooner than half its nominal delay.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        if let Some(schedule) = self.schedule.as_deref().filter(|s| !s.is_empty()) {
            // A schedule names when to retry: jitter only later, by up to a
            // tenth, so a fleet of failed sends spreads out without any
            // retry coming sooner than promised.
            let index = (failed_attempt.max(1) as usize - 1).min(schedule.len() - 1);
            let nominal = schedule[index];
            let spread = (nominal / 10).as_millis() as u64;
            let jitter = if spread == 0 {
                0
            } else {
                rand::rng().random_range(0..=spread)
            };
            return nominal + Duration::from_millis(jitter);
        }
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
        self.by_kind
            .get(kind)
            .cloned()
            .unwrap_or_else(|| self.default.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_followed_with_jitter_that_only_delays() {
        let p = RetryPolicy::scheduled(RetryPolicy::webhook_schedule());
        assert_eq!(p.max_attempts, 10, "one attempt plus nine retries");
        for _ in 0..100 {
            let d1 = p.delay_after(1);
            assert!(d1 >= Duration::from_secs(5) && d1 <= Duration::from_millis(5_500));
            let d2 = p.delay_after(2);
            assert!(d2 >= Duration::from_secs(300) && d2 <= Duration::from_secs(330));
            let d9 = p.delay_after(9);
            assert!(d9 >= Duration::from_secs(24 * 3600));
            assert!(p.delay_after(40) <= Duration::from_secs(24 * 3600 + 8640));
        }
    }

    #[test]
    fn delays_grow_exponentially_within_jitter_and_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(4),
            max_delay: Duration::from_secs(60),
            schedule: None,
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
