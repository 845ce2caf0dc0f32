//! What every vendor fake can be told to do besides answering: throttle
//! the next requests with `429` + `Retry-After`, fail them with a `5xx`,
//! refuse the credentials it accepted so far, and hold callers to the
//! vendor's documented rate limit (a token bucket that answers `429` with
//! the wait when a caller goes faster). Each fake keeps one [`Faults`] in
//! its state, asks [`Faults::intercept`] before answering, and renders a
//! [`Fault`] in its vendor's error shape. Used by the fakes in this folder
//! and by [`crate::ashby::FakeAshby`]; the connector conformance harness
//! ([`crate::connectors`]) drives them.

use std::time::{Duration, Instant};

/// Requests beyond the burst the bucket lets through: a client pacing
/// itself exactly at the limit can still have two requests arrive close
/// together when the first was delayed on the way (a loaded test machine),
/// and that is not the client's fault.
const LEEWAY: f64 = 2.0;

/// A vendor's documented request budget, as a token bucket: `burst`
/// requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Steady rate.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: u32,
}

/// What a fake answers instead of its real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429` with `Retry-After: secs`: forced, or the rate limit exceeded.
    Throttled {
        /// The `Retry-After` seconds.
        retry_after: u64,
    },
    /// A server error with this status (no `Retry-After`).
    ServerError(u16),
}

/// The faults a fake holds (module docs).
#[derive(Debug, Default)]
pub struct Faults {
    throttle: Option<(u32, u64)>,
    fail: Option<(u32, u16)>,
    /// The bucket: its limit, the tokens left, when it was last refilled.
    bucket: Option<(RateLimit, f64, Instant)>,
    /// Requests answered 429 because the caller exceeded the limit.
    over_limit: usize,
    /// Whether the credentials accepted so far are refused from now on.
    pub credentials_revoked: bool,
}

impl Faults {
    /// The next `n` requests are answered `429` with `Retry-After: secs`.
    pub fn throttle(&mut self, n: u32, secs: u64) {
        self.throttle = (n > 0).then_some((n, secs));
    }

    /// The next `n` requests are answered with server error `status`.
    pub fn fail(&mut self, n: u32, status: u16) {
        self.fail = (n > 0).then_some((n, status));
    }

    /// Holds callers to `limit` from now on (a full bucket to start).
    pub fn enforce(&mut self, limit: RateLimit) {
        self.bucket = Some((limit, f64::from(limit.burst) + LEEWAY, Instant::now()));
    }

    /// How many requests exceeded the enforced limit.
    pub fn over_limit(&self) -> usize {
        self.over_limit
    }

    /// The fault to answer the request arriving now with, if any: forced
    /// throttles first, then forced failures, then the rate limit (a
    /// request that is refused does not spend a token).
    pub fn intercept(&mut self) -> Option<Fault> {
        if let Some((n, secs)) = self.throttle.take() {
            self.throttle = (n > 1).then_some((n - 1, secs));
            return Some(Fault::Throttled { retry_after: secs });
        }
        if let Some((n, status)) = self.fail.take() {
            self.fail = (n > 1).then_some((n - 1, status));
            return Some(Fault::ServerError(status));
        }
        let (limit, tokens, at) = self.bucket.as_mut()?;
        let now = Instant::now();
        let refill = now.duration_since(*at).as_secs_f64() * limit.per_second;
        *tokens = (*tokens + refill).min(f64::from(limit.burst) + LEEWAY);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return None;
        }
        self.over_limit += 1;
        let wait = Duration::from_secs_f64((1.0 - *tokens) / limit.per_second);
        Some(Fault::Throttled {
            retry_after: wait.as_secs().max(1),
        })
    }
}

/// `Retry-After` as a fake sends it.
pub fn retry_after(secs: u64) -> Vec<(&'static str, String)> {
    vec![("retry-after", secs.to_string())]
}
