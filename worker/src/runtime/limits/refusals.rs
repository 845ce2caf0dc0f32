//! The per-source rate limit on refused requests: an address that keeps
//! sending what the service refuses (unsigned or forged webhooks, requests
//! without a token, probes for paths that do not exist) gets 429 with
//! `Retry-After` on everything until its budget refills, and its requests
//! stop reaching the handlers: no more `rejected` inbox rows, no more
//! signature checks or database work on its behalf.
//!
//! Each address has a token bucket of `http.refused_per_minute` tokens,
//! refilled at that rate. A request reserves a token before its handler
//! runs and gets it back when its answer is not a refusal (refusals: 400,
//! 401, 403, 404, 405, 408, 413, 415 or 422). So an accepted request costs
//! nothing and a busy, well-behaved sender is never throttled, while the
//! refusals one address can earn are bounded exactly (the burst, plus the
//! rate times the time), however many of its requests are in flight at
//! once. An address with no token left gets 429 with `Retry-After` (when
//! its next token is due) before any handler runs. `/healthz`, `/readyz`
//! and `/metrics` are never throttled.
//!
//! governor (used for the outbound limits) has no way to hand a token
//! back, which is what makes the bound exact under concurrency, so the
//! bucket here is a few lines of its own.
//!
//! Counted in `referral_worker_http_throttled_total` (requests answered 429
//! here). Memory: one bucket and at most one block entry per address seen
//! refusing recently; both are swept of stale entries as they grow.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::Peer;

/// Beyond this many addresses, full (idle) buckets are swept on insert.
const SWEEP_AT: usize = 4096;

/// The limiter behind [`throttle`].
#[derive(Debug)]
pub struct RefusalLimiter {
    /// Tokens per address and second.
    rate: f64,
    /// Most tokens an address holds (the burst).
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
    trusted_proxies: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RefusalLimiter {
    /// A limiter allowing `per_minute` refusals per address and minute;
    /// `None` for 0 (off).
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Option<RefusalLimiter> {
        (per_minute > 0).then(|| RefusalLimiter {
            rate: f64::from(per_minute) / 60.0,
            burst: f64::from(per_minute),
            buckets: Mutex::new(HashMap::new()),
            trusted_proxies,
        })
    }

    /// The address a request is counted against: the TCP peer, or, when
    /// the peer is a trusted proxy, the right-most `X-Forwarded-For` entry
    /// that is not one.
    pub fn source(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// Takes a token from `source`'s bucket for a request about to run;
    /// when none is left, how long until the next one is due.
    pub fn reserve(&self, source: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= SWEEP_AT && !buckets.contains_key(&source) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| refilled(*b, now, rate, burst) < burst);
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = refilled(*bucket, now, self.rate, self.burst);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    /// Gives back the token of a request that was not refused.
    pub fn refund(&self, source: IpAddr) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bucket) = buckets.get_mut(&source) {
            let tokens = refilled(*bucket, now, self.rate, self.burst);
            *bucket = Bucket {
                tokens: (tokens + 1.0).min(self.burst),
                at: now,
            };
        }
    }
}

/// `bucket`'s tokens at `now`.
fn refilled(bucket: Bucket, now: Instant, rate: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(burst)
}

/// Whether a status is a refusal that costs budget.
fn is_refusal(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        400 | 401 | 403 | 404 | 405 | 408 | 413 | 415 | 422
    )
}

/// Never throttled: the probes a load balancer depends on, and metrics.
fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware: 429 for a blocked address, else the handler, then a
/// charge when the answer was a refusal.
pub async fn throttle(
    State(limiter): State<Arc<RefusalLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if is_exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Some(Peer(peer)) = request.extensions().get::<Peer>().copied() else {
        // Not from the accept loop (an in-process call): nothing to key on.
        return next.run(request).await;
    };
    let source = limiter.source(peer, request.headers());
    if let Err(left) = limiter.reserve(source) {
        metrics::counter!("referral_worker_http_throttled_total").increment(1);
        return too_many(left);
    }
    let response = next.run(request).await;
    if !is_refusal(response.status()) {
        limiter.refund(source);
    }
    response
}

/// 429 with `Retry-After` in whole seconds (at least 1) and the service's
/// JSON error shape.
fn too_many(left: Duration) -> Response {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let secs = secs.max(1);
    let body = serde_json::json!({
        "error": "too_many_requests",
        "detail": format!(
            "too many refused requests from this address; retry in {secs}s"
        ),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_throttled_once_its_burst_of_refusals_is_spent() {
        let limiter = RefusalLimiter::new(3, Vec::new()).unwrap();
        let a = ip("203.0.113.7");
        for _ in 0..3 {
            limiter.reserve(a).expect("within the burst");
        }
        let left = limiter.reserve(a).expect_err("the 4th is throttled");
        assert!(
            left <= Duration::from_secs(20),
            "one token is 20s: {left:?}"
        );
        assert!(limiter.reserve(ip("203.0.113.8")).is_ok(), "per address");
    }

    #[test]
    fn accepted_requests_give_their_token_back() {
        let limiter = RefusalLimiter::new(2, Vec::new()).unwrap();
        let a = ip("198.51.100.1");
        for _ in 0..100 {
            limiter.reserve(a).expect("never throttled");
            limiter.refund(a);
        }
        // Two in flight at once hold both tokens: a third waits, whatever
        // their answers turn out to be.
        limiter.reserve(a).unwrap();
        limiter.reserve(a).unwrap();
        assert!(limiter.reserve(a).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(RefusalLimiter::new(0, Vec::new()).is_none());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.2");
        let limiter = RefusalLimiter::new(1, vec![proxy]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 198.51.100.9, 10.0.0.2"),
        );
        // The right-most untrusted entry: the client the proxy saw (a
        // client can prepend anything, so the left-most is not believed).
        assert_eq!(limiter.source(proxy, &headers), ip("198.51.100.9"));
        assert_eq!(limiter.source(ip("192.0.2.1"), &headers), ip("192.0.2.1"));
        assert_eq!(limiter.source(proxy, &HeaderMap::new()), proxy);
    }

    #[test]
    fn refusals_are_the_4xx_a_prober_or_forger_earns() {
        for s in [400, 401, 403, 404, 405, 408, 413, 415, 422] {
            assert!(is_refusal(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 201, 202, 204, 302, 409, 429, 500, 503] {
            assert!(!is_refusal(StatusCode::from_u16(s).unwrap()), "{s}");
        }
    }
}
