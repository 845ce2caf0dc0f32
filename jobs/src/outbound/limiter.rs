//! Process-wide rate limiting per ATS account (and, the same way, per
//! webhook destination: [`super::webhook`]).
//!
//! An ATS rate-limits per credential (Greenhouse Harvest v3:
//! `X-RateLimit-Limit` requests per fixed 30-second window, 75 in the docs'
//! example; Lever: a token bucket of
//! 10 req/s with bursts of 20). Every job that writes to the same account
//! must therefore share one budget, however many clients the process builds.
//! Two mechanisms cooperate here:
//!
//! 1. **Pacing, before a request:** a [`governor`] GCRA limiter with a quota
//!    a little under the vendor's published limit. It stops this process from
//!    causing 429s in the first place.
//! 2. **Obeying the server, after a response:** the server knows things the
//!    local limiter cannot: other processes and other integrations spend
//!    the same key, and "unlisted vendors may be subject to additional rate
//!    limits" (Greenhouse). So a `429` with `Retry-After`, or a success whose
//!    `X-RateLimit-Remaining` is `0`, *pauses the whole account* until the
//!    time the server named. Every request for that account, from any job,
//!    waits out the pause (or hands it back to the queue, see
//!    [`AccountLimiter::acquire`]).
//!
//! Limiters are shared through a process-wide registry keyed by
//! [`account_key`]: the ATS base URL plus a fingerprint of the API key (never
//! the key itself, so the key cannot leak through logs or debug output).
//!
//! Limits are per process. With several worker processes on one key the
//! local pacing multiplies; the server-driven pauses are what keep the fleet
//! within the vendor's budget then.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use governor::{DefaultDirectRateLimiter, Quota};
use reqwest::{StatusCode, header::HeaderMap};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Server-announced waits longer than this are capped. A misbehaving proxy
/// saying `Retry-After: 999999` should not park a job for eleven days; an
/// early retry costs one more 429 at worst.
pub const MAX_SERVER_PAUSE: Duration = Duration::from_secs(3600);

/// The key under which an account's limiter is registered: the base URL
/// (scheme, host, port, path) and the first 8 bytes of SHA-256 of the API key,
/// hex-encoded.
///
/// Hashing keeps the secret out of the registry and out of anything that
/// prints a key, while two clients built with the same credentials still
/// land on the same limiter.
pub fn account_key(base_url: &url::Url, api_key: &str) -> String {
    let digest = Sha256::digest(api_key.as_bytes());
    let base = base_url.as_str().trim_end_matches('/');
    format!("{base}#{}", hex::encode(&digest[..8]))
}

/// The rate limiter of one ATS account: local pacing plus a pause the server
/// can impose. Obtain shared instances with [`AccountLimiter::shared`].
pub struct AccountLimiter {
    key: String,
    quota: Quota,
    governor: DefaultDirectRateLimiter,
    /// Set by the server (429 `Retry-After`, or `X-RateLimit-Remaining: 0`).
    /// A std mutex: it is only ever held for a read or a write, never across
    /// an `.await`.
    paused_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for AccountLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountLimiter")
            .field("key", &self.key)
            .field("quota", &self.quota)
            .field("paused_for", &self.paused_for())
            .finish()
    }
}

type Registry = Mutex<HashMap<String, Weak<AccountLimiter>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

impl AccountLimiter {
    /// A limiter that belongs to nobody else. Use [`AccountLimiter::shared`]
    /// for real clients; this is for callers that manage sharing themselves.
    pub fn new(key: impl Into<String>, quota: Quota) -> Self {
        Self {
            key: key.into(),
            quota,
            governor: DefaultDirectRateLimiter::direct(quota),
            paused_until: Mutex::new(None),
        }
    }

    /// The process-wide limiter for `key`, created with `quota` if no live
    /// client holds one yet.
    ///
    /// The first registration's quota wins: two budgets for one account
    /// would together exceed the vendor's limit, which is the one thing this
    /// type exists to prevent. A later, different quota is logged and
    /// ignored. The registry holds weak references, so an account's state
    /// goes away with its last client.
    pub fn shared(key: &str, quota: Quota) -> Arc<Self> {
        let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(key).and_then(Weak::upgrade) {
            if existing.quota != quota {
                tracing::warn!(
                    account = %existing.key,
                    ?quota,
                    kept = ?existing.quota,
                    "an ATS account's rate limiter already exists with another quota; keeping the first"
                );
            }
            return existing;
        }
        // Drop entries whose clients are all gone before adding one.
        map.retain(|_, weak| weak.strong_count() > 0);
        let limiter = Arc::new(Self::new(key, quota));
        map.insert(key.to_owned(), Arc::downgrade(&limiter));
        limiter
    }

    /// The registry key (base URL and key fingerprint; no secret).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The local pacing quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The underlying `governor` limiter. Exposed so tests and diagnostics
    /// can ask [`check`](governor::RateLimiter::check) without waiting;
    /// note that a successful `check` spends a cell.
    pub fn governor(&self) -> &DefaultDirectRateLimiter {
        &self.governor
    }

    /// How much longer the server asked this account to stay quiet, if at all.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().unwrap_or_else(|p| p.into_inner()))?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Pauses the account for `d` (capped at [`MAX_SERVER_PAUSE`]). A pause
    /// only ever grows: a short `Retry-After` from one response must not cut
    /// short a longer one another response announced.
    pub fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d.min(MAX_SERVER_PAUSE);
        let mut slot = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none_or(|current| current < until) {
            *slot = Some(until);
        }
    }

    /// Waits until one request may be sent, or gives the wait back to the
    /// job queue.
    ///
    /// Waiting holds a worker slot, so it is bounded by `max_wait`: a server
    /// pause longer than that, or a local queue of requests too long to
    /// drain within it, fails at once with [`Error::RetryAfter`] and the
    /// job is retried when the account should be free again.
    ///
    /// # Errors
    /// [`Error::RetryAfter`] as described; nothing else.
    pub async fn acquire(&self, max_wait: Duration) -> Result<()> {
        let started = Instant::now();
        let result = self.acquire_inner(max_wait).await;
        let waited = started.elapsed();
        // An immediate acquisition is not a wait; the threshold keeps the
        // count meaningful without timing governor's own bookkeeping.
        let outcome = match &result {
            Ok(()) if waited < Duration::from_millis(1) => None,
            Ok(()) => Some("acquired"),
            Err(_) => Some("handed_back"),
        };
        if let Some(outcome) = outcome {
            // A histogram: its `_count` is the number of waits, its `_sum`
            // the total seconds waited.
            metrics::histogram!("referral_worker_rate_limiter_wait_seconds", "outcome" => outcome)
                .record(waited.as_secs_f64());
        }
        result
    }

    async fn acquire_inner(&self, max_wait: Duration) -> Result<()> {
        if let Some(pause) = self.paused_for() {
            if pause > max_wait {
                return Err(Error::RetryAfter {
                    after: pause,
                    reason: format!("ATS account {} is rate-limited by the server", self.key),
                });
            }
            tokio::time::sleep(pause).await;
        }
        // A cancelled `until_ready` spends no cell, so timing out is free.
        match tokio::time::timeout(max_wait, self.governor.until_ready()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::RetryAfter {
                after: max_wait,
                reason: format!(
                    "local rate limit for ATS account {}: too many requests queued",
                    self.key
                ),
            }),
        }
    }

    /// Reads the rate-limit headers of a response and pauses the account
    /// when the server asks for it. Returns the wait the server *named*
    /// (`Retry-After`, else `X-RateLimit-Reset`), capped at
    /// [`MAX_SERVER_PAUSE`], so the caller can put it on the job's error.
    ///
    /// * `429`: pause for `Retry-After`, else until `X-RateLimit-Reset`,
    ///   else for `fallback`. Without a named wait the return is `None`: the
    ///   job then retries on the queue's exponential backoff (what Lever asks
    ///   for), while the pause still protects the other jobs of the account.
    /// * `5xx` with `Retry-After` (RFC 9110 allows it on 503): pause for it.
    /// * Any other response with `X-RateLimit-Remaining: 0`: the window is
    ///   spent; pause until `X-RateLimit-Reset`, else for `fallback`. This
    ///   spares the next request a certain 429.
    pub fn observe(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        fallback: Duration,
    ) -> Option<Duration> {
        let now = SystemTime::now();
        let retry_after =
            header_str(headers, "retry-after").and_then(|v| parse_retry_after(v, now));
        // Workable spells them `X-Rate-Limit-*`.
        let either = |a: &str, b: &str| header_str(headers, a).or_else(|| header_str(headers, b));
        let reset = either("x-ratelimit-reset", "x-rate-limit-reset")
            .and_then(|v| parse_rate_limit_reset(v, now));
        let window_spent = either("x-ratelimit-remaining", "x-rate-limit-remaining")
            .and_then(|v| v.trim().parse::<u64>().ok())
            == Some(0);
        let (asked, pause) = if status == StatusCode::TOO_MANY_REQUESTS {
            let asked = retry_after.or(reset);
            (asked, Some(asked.unwrap_or(fallback)))
        } else if status.is_server_error() && retry_after.is_some() {
            (retry_after, retry_after)
        } else if window_spent {
            (reset, Some(reset.unwrap_or(fallback)))
        } else {
            (None, None)
        };
        if let Some(d) = pause {
            self.pause_for(d);
        }
        asked.map(|d| d.min(MAX_SERVER_PAUSE))
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// Parses `Retry-After` (RFC 9110 §10.2.3): either delay-seconds or an
/// HTTP-date. A date in the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    until_http_date(value, now)
}

/// Parses `X-RateLimit-Reset`, which vendors spell differently: Greenhouse
/// documents it only as "a timestamp". Accepted, in order:
///
/// * a Unix time in seconds (≥ 10⁹) or milliseconds (≥ 10¹²);
/// * a small integer, read as seconds from now (the GitHub/IETF-draft style);
/// * an HTTP-date or RFC 3339 timestamp.
///
/// Times in the past give zero.
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(n) = value.parse::<u64>() {
        let since_epoch = if n >= 1_000_000_000_000 {
            Duration::from_millis(n)
        } else if n >= 1_000_000_000 {
            Duration::from_secs(n)
        } else {
            return Some(Duration::from_secs(n));
        };
        return Some(until(UNIX_EPOCH + since_epoch, now));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(until(SystemTime::from(t), now));
    }
    until_http_date(value, now)
}

fn until_http_date(value: &str, now: SystemTime) -> Option<Duration> {
    // RFC 2822 parsing accepts IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
    let t = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(until(SystemTime::from(t), now))
}

fn until(t: SystemTime, now: SystemTime) -> Duration {
    t.duration_since(now).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota::per_second(NonZeroU32::new(per_second).unwrap())
            .allow_burst(NonZeroU32::new(burst).unwrap())
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21T07:28:00Z
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn rate_limit_reset_takes_epoch_seconds_millis_deltas_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_rate_limit_reset("1700000012", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_rate_limit_reset("1700000000500", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_rate_limit_reset("1699999990", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_rate_limit_reset("9", now),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            parse_rate_limit_reset("2023-11-14T22:13:25Z", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_rate_limit_reset("later", now), None);
    }

    #[test]
    fn account_key_hides_the_api_key_but_tells_accounts_apart() {
        let base = url::Url::parse("https://harvest.greenhouse.io/v3/").unwrap();
        let a = account_key(&base, "secret-key-a");
        assert!(!a.contains("secret"));
        assert!(a.starts_with("https://harvest.greenhouse.io/v3#"));
        assert_eq!(a, account_key(&base, "secret-key-a"));
        assert_ne!(a, account_key(&base, "secret-key-b"));
    }

    #[test]
    fn the_registry_shares_one_limiter_per_account_and_keeps_the_first_quota() {
        let key = "test://registry-shares#1";
        let first = AccountLimiter::shared(key, quota(5, 1));
        let second = AccountLimiter::shared(key, quota(50, 50));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(second.quota(), quota(5, 1));
        let other = AccountLimiter::shared("test://registry-shares#2", quota(5, 1));
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[test]
    fn a_quota_of_burst_one_refuses_an_immediate_second_request() {
        let limiter = AccountLimiter::new("test://burst-one", quota(5, 1));
        assert!(limiter.governor().check().is_ok());
        assert!(limiter.governor().check().is_err());
    }

    #[test]
    fn pauses_only_grow() {
        let limiter = AccountLimiter::new("test://pauses", quota(5, 1));
        assert_eq!(limiter.paused_for(), None);
        limiter.pause_for(Duration::from_secs(60));
        limiter.pause_for(Duration::from_secs(1));
        assert!(limiter.paused_for().unwrap() > Duration::from_secs(30));
        limiter.pause_for(Duration::from_secs(1_000_000));
        assert!(limiter.paused_for().unwrap() <= MAX_SERVER_PAUSE);
    }

    #[test]
    fn observe_pauses_on_429_and_on_an_empty_window() {
        let fallback = Duration::from_secs(10);
        let limiter = AccountLimiter::new("test://observe", quota(5, 1));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "3".parse().unwrap());
        assert_eq!(limiter.observe(StatusCode::OK, &headers, fallback), None);
        assert_eq!(
            limiter.observe(StatusCode::SERVICE_UNAVAILABLE, &headers, fallback),
            None
        );
        assert_eq!(limiter.paused_for(), None);

        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert_eq!(limiter.observe(StatusCode::OK, &headers, fallback), None);
        assert!(limiter.paused_for().is_some());

        let limiter = AccountLimiter::new("test://observe-429", quota(5, 1));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            limiter.observe(StatusCode::TOO_MANY_REQUESTS, &headers, fallback),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            limiter.observe(StatusCode::SERVICE_UNAVAILABLE, &headers, fallback),
            Some(Duration::from_secs(7))
        );

        // A bare 429 names no wait (the queue's backoff decides) but still
        // pauses the account for the fallback.
        let limiter = AccountLimiter::new("test://observe-bare-429", quota(5, 1));
        assert_eq!(
            limiter.observe(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), fallback),
            None
        );
        assert!(limiter.paused_for().unwrap() > Duration::from_secs(5));
    }

    #[tokio::test]
    async fn acquire_hands_a_long_server_pause_back_to_the_queue() {
        let limiter = AccountLimiter::new("test://acquire", quota(5, 1));
        limiter.pause_for(Duration::from_secs(60));
        match limiter.acquire(Duration::from_secs(1)).await {
            Err(Error::RetryAfter { after, .. }) => assert!(after > Duration::from_secs(30)),
            other => panic!("expected RetryAfter, got {other:?}"),
        }
        // The refusal spent no cell.
        assert!(limiter.governor().check().is_ok());
    }
}
