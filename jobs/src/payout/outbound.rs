//! Signed outbound POSTs: the bonus message to the referral program system
//! (and, signed the same way, status syncs and CRM hand-offs).
//!
//! # The message
//!
//! A [`Message`] becomes a [Standard Webhooks](https://www.standardwebhooks.com/)
//! delivery: the body `{"type":…,"timestamp":…,"data":…}` (compact JSON,
//! built once per attempt from the same [`Message`], so the bytes are
//! identical on every retry), and the headers
//!
//! * `webhook-id`: [`Message::id`], the **same on every retry**; receivers
//!   dedupe on it;
//! * `webhook-timestamp`: Unix seconds of *this attempt* (so a receiver's
//!   five-minute freshness window holds for a retry a day later);
//! * `webhook-signature`: `v1,<base64 HMAC-SHA256>` over
//!   `id.timestamp.body`, made by the `standardwebhooks` crate (the same
//!   crate and secret check as [`crate::intake::careers_site`]);
//! * `Idempotency-Key`: [`Message::idempotency_key`]
//!   (`{referral_id}:{milestone}` for a bonus), for receivers that dedupe
//!   on a header of their own;
//! * `Content-Type: application/json`.
//!
//! # What a response means
//!
//! [`OutboundClient::send`] makes **one** attempt and returns a
//! [`SendOutcome`]; the job queue owns the retry schedule.
//! [`SendOutcome::into_job_result`] turns it into the crate's retry decision:
//!
//! | what happened | outcome | job result |
//! |---|---|---|
//! | 2xx | [`SendOutcome::Delivered`] | `Ok(())` |
//! | 429, 500, 502, 503, 504 (and any other 5xx) | [`SendOutcome::Retry`] | [`Error::RetryAfter`] if the server sent `Retry-After`, else [`Error::Retryable`] |
//! | could not connect (DNS, TCP, TLS, connect timeout) | [`SendOutcome::Retry`] | [`Error::Retryable`] |
//! | local rate limit or a server pause longer than the wait budget | [`SendOutcome::Retry`] | [`Error::RetryAfter`] |
//! | sent, but no answer, to an idempotent destination | [`SendOutcome::Retry`] | [`Error::Retryable`] |
//! | sent, but no answer, to a non-idempotent destination | [`SendOutcome::OutcomeUnknown`] | [`Error::Permanent`] starting `outcome unknown` |
//! | 410 | [`SendOutcome::Gone`] | [`Error::Permanent`]; the caller disables the destination and alerts |
//! | 3xx (never followed), other 4xx, other statuses | [`SendOutcome::Failed`] | [`Error::Permanent`] |
//!
//! Other 5xx (501, 505, …) are retried like 500: the destination is broken
//! now, and a bonus is worth another attempt. 408 is a 4xx and fails like
//! any other; the issue lists the retryable statuses and 408 is not one.
//!
//! # "Never left" versus "left, no answer"
//!
//! A resend is only safe if the receiver either never saw the request or
//! dedupes it. So transport failures are split by reqwest's error kinds:
//!
//! * [`reqwest::Error::is_connect`]: DNS, TCP connect, TLS handshake, or
//!   the connect timeout. hyper writes nothing of the request before the
//!   connection is established (for HTTPS: before the handshake is done),
//!   so the receiver cannot have seen it. **Retried everywhere.** This is
//!   checked first, because a connect *timeout* is both `is_connect` and
//!   `is_timeout`.
//! * [`reqwest::Error::is_timeout`], [`reqwest::Error::is_request`],
//!   [`reqwest::Error::is_body`], anything else: the connection existed
//!   and some or all of the request may have been written (read timeout,
//!   reset while waiting for the answer, a failure writing the body). The
//!   receiver may have acted on it. **Retried only to an idempotent
//!   destination** ([`Destination::idempotent`]: it dedupes on `webhook-id`
//!   or `Idempotency-Key`); otherwise [`SendOutcome::OutcomeUnknown`] and a
//!   human decides.
//!
//! Limits of this reasoning:
//!
//! * It errs one way only. An `is_request` error on a reused keep-alive
//!   connection may in fact have been written to nobody (the server closed
//!   the idle connection as we wrote); it is still reported as unknown.
//!   hyper itself already retries requests it *knows* were never sent on
//!   a reused connection, so those never reach us.
//! * The total request timeout also runs while connecting. If it fired
//!   before the connect timeout, the error would be a bare timeout and be
//!   reported as unknown, so [`OutboundClient::with_options`] refuses a
//!   connect timeout that is not shorter than the request timeout.
//! * A 2xx whose connection then dies is still [`SendOutcome::Delivered`]:
//!   the status line is the answer, and 2xx bodies are not read.
//! * Proxies in between can turn "never reached the destination" into a
//!   502/504 (retried) or a timeout (unknown); nothing here can see past
//!   them.
//!
//! # Rate limits
//!
//! Each destination has a process-wide [`AccountLimiter`] (shared through
//! [`AccountLimiter::shared`], keyed by the URL and a fingerprint of the
//! secret, never the secret) with a quota of
//! [`Destination::requests_per_second`]. A `429`/`5xx` with `Retry-After`
//! pauses the destination for every job in the process. The quota is per
//! process: with N worker processes, configure `requests_per_second` as
//! the destination's budget divided by N; server pauses keep the fleet
//! honest beyond that.
//!
//! # Secrets
//!
//! The secret is never logged or put in an outcome: [`Destination`] and
//! [`OutboundClient`] print it as `[redacted]`, transport errors are
//! rendered without their URL, and response excerpts have the secret
//! removed should a receiver echo it.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use governor::Quota;
use reqwest::{StatusCode, header};
use serde::{Deserialize, Serialize};
use standardwebhooks::{
    HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP, Webhook,
};
use url::Url;

use crate::ats::{
    HttpOptions,
    limiter::{self, AccountLimiter},
};
use crate::error::{Error, Result};

/// The prefix of the [`Error::Permanent`] message that
/// [`SendOutcome::OutcomeUnknown`] becomes. See [`is_outcome_unknown`].
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";

/// Most of a non-2xx body read for the reason text.
const ERROR_BODY_LIMIT: usize = 8 * 1024;
/// Longest body excerpt put into a reason.
const EXCERPT_CHARS: usize = 300;

/// Where signed messages go, from configuration.
#[derive(Clone)]
pub struct Destination {
    /// A short name for logs and alerts, e.g. `"bonus-system"`.
    pub name: String,
    /// The URL messages are POSTed to (http or https).
    pub url: Url,
    /// The Standard Webhooks secret, `whsec_` + base64 of 24–64 bytes.
    pub secret: String,
    /// Whether the destination dedupes on `webhook-id` / `Idempotency-Key`,
    /// so a message whose outcome is unknown may be sent again. Default
    /// `true` (see [`Destination::new`]).
    pub idempotent: bool,
    /// Local pacing for this destination, per process.
    pub requests_per_second: NonZeroU32,
    /// Standard Webhooks envelope and signature (`true`, the default), or a
    /// Slack-compatible incoming webhook (`false`): the body is the
    /// message's `data` as is (`{"text": …}`) and nothing is signed, because
    /// such a URL is itself the credential.
    pub signed: bool,
}

impl Destination {
    /// A destination that honours `webhook-id` / `Idempotency-Key`.
    pub fn new(
        name: impl Into<String>,
        url: Url,
        secret: impl Into<String>,
        requests_per_second: NonZeroU32,
    ) -> Self {
        Self {
            name: name.into(),
            url,
            secret: secret.into(),
            idempotent: true,
            requests_per_second,
            signed: true,
        }
    }

    /// A Slack-compatible incoming webhook: unsigned, body = `data`.
    pub fn slack(name: impl Into<String>, url: Url, requests_per_second: NonZeroU32) -> Self {
        Self {
            name: name.into(),
            url,
            secret: String::new(),
            // A repeated alert is harmless; a lost one is not.
            idempotent: true,
            requests_per_second,
            signed: false,
        }
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("secret", &"[redacted]")
            .field("idempotent", &self.idempotent)
            .field("requests_per_second", &self.requests_per_second)
            .field("signed", &self.signed)
            .finish()
    }
}

/// Transport settings of an [`OutboundClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundOptions {
    /// Timeouts and User-Agent. Default: connect 5 s, whole request 15 s
    /// (the low end of Standard Webhooks' 15–30 s), redirects off.
    pub http: HttpOptions,
    /// Longest wait for the rate limiter before the attempt is handed back
    /// as [`SendOutcome::Retry`] with a time. Default 10 s.
    pub max_wait: Duration,
    /// Pause imposed on the destination after a `429` without a usable
    /// `Retry-After`. Default 5 s.
    pub fallback_pause: Duration,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        Self {
            http: HttpOptions {
                connect_timeout: Duration::from_secs(5),
                timeout: Duration::from_secs(15),
                ..HttpOptions::default()
            },
            max_wait: Duration::from_secs(10),
            fallback_pause: Duration::from_secs(5),
        }
    }
}

/// One message to deliver. Keep it (e.g. in the job payload) and pass the
/// same value to every attempt: the id and the body must not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `webhook-id`, identical on every retry (e.g. `msg_<ulid>`). No `.`.
    pub id: String,
    /// The body's `type`, e.g. `referral.milestone_reached`.
    pub event_type: String,
    /// The body's `timestamp`: when the event happened (not this attempt).
    pub occurred_at: DateTime<Utc>,
    /// The body's `data`.
    pub data: serde_json::Value,
    /// The `Idempotency-Key` header, e.g. `{referral_id}:{milestone}`.
    pub idempotency_key: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a serde_json::Value,
}

impl Message {
    /// The exact body bytes: compact `{"type":…,"timestamp":…,"data":…}`,
    /// the timestamp in RFC 3339 UTC with `Z` (fractional seconds only when
    /// non-zero). Deterministic, so every attempt sends the same bytes.
    pub fn body(&self) -> Vec<u8> {
        let envelope = Envelope {
            event_type: &self.event_type,
            timestamp: self
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            data: &self.data,
        };
        // Serialising a `Value` with string keys cannot fail.
        serde_json::to_vec(&envelope).expect("a JSON value serialises")
    }

    /// Checks what the headers need: a non-empty id without `.` (the
    /// signature's separator), and ids and keys that are visible ASCII.
    fn check(&self) -> std::result::Result<(), String> {
        let header_safe = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !header_safe(&self.id) || self.id.contains('.') {
            return Err(format!(
                "message id {:?} must be non-empty visible ASCII without '.'",
                self.id
            ));
        }
        if !header_safe(&self.idempotency_key) {
            return Err(format!(
                "idempotency key {:?} must be non-empty visible ASCII",
                self.idempotency_key
            ));
        }
        Ok(())
    }
}

/// What one attempt came to. See the module docs for the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// A 2xx.
    Delivered {
        /// The status code.
        status: u16,
        /// From sending to the response headers.
        duration: Duration,
    },
    /// Try again later: 429, 500, 502, 503, 504 (and other 5xx), a failure
    /// to connect, the local rate limit, or an unknown outcome at an
    /// idempotent destination.
    Retry {
        /// The wait the server (`Retry-After`) or the rate limiter named.
        after: Option<Duration>,
        /// What happened (no secret).
        reason: String,
        /// The status, if a response came.
        status: Option<u16>,
    },
    /// The request may have reached the destination but no answer came,
    /// and the destination is not idempotent: never resent automatically.
    OutcomeUnknown {
        /// What happened.
        reason: String,
    },
    /// A permanent failure: a 3xx (redirects are not followed), a 4xx other
    /// than 410/429, or an unexpected status. `status` is `0` when nothing
    /// was sent because the message or the signing was invalid.
    Failed {
        /// The status code, or `0` if nothing was sent.
        status: u16,
        /// What happened, with an excerpt of the body.
        reason: String,
    },
    /// 410: the destination asks never to be called again. The caller
    /// disables it and alerts.
    Gone {
        /// What happened.
        reason: String,
    },
}

impl SendOutcome {
    /// The job queue's decision for this outcome: `Ok` when delivered;
    /// [`Error::RetryAfter`] / [`Error::Retryable`] for a retry;
    /// [`Error::Permanent`] otherwise, whose message starts with
    /// [`OUTCOME_UNKNOWN`] for [`SendOutcome::OutcomeUnknown`].
    ///
    /// # Errors
    /// As described.
    pub fn into_job_result(self) -> Result<()> {
        match self {
            SendOutcome::Delivered { .. } => Ok(()),
            SendOutcome::Retry {
                after: Some(after),
                reason,
                ..
            } => Err(Error::RetryAfter { after, reason }),
            SendOutcome::Retry {
                after: None,
                reason,
                ..
            } => Err(Error::Retryable(reason)),
            SendOutcome::OutcomeUnknown { reason } => {
                Err(Error::Permanent(format!("{OUTCOME_UNKNOWN}: {reason}")))
            }
            SendOutcome::Failed { reason, .. } => Err(Error::Permanent(reason)),
            SendOutcome::Gone { reason } => Err(Error::Permanent(format!(
                "destination gone (410), disable it: {reason}"
            ))),
        }
    }

    /// The HTTP status, if a response came.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendOutcome::Delivered { status, .. } => Some(*status),
            SendOutcome::Retry { status, .. } => *status,
            SendOutcome::Failed { status, .. } => (*status != 0).then_some(*status),
            SendOutcome::Gone { .. } => Some(410),
            SendOutcome::OutcomeUnknown { .. } => None,
        }
    }
}

/// Counts one outbound request in `referral_worker_outbound_requests_total`
/// (status code, or the transport failure's class) and its duration. Shared
/// with the ATS clients; `destination` is a configured name, never a URL.
pub(crate) fn count_request(
    destination: &str,
    result: std::result::Result<StatusCode, &reqwest::Error>,
    duration: Duration,
) {
    let status = match result {
        Ok(s) => s.as_u16().to_string(),
        Err(e) if e.is_timeout() => "timeout".to_string(),
        Err(e) if e.is_connect() => "connect_error".to_string(),
        Err(_) => "transport_error".to_string(),
    };
    metrics::counter!(
        "referral_worker_outbound_requests_total",
        "destination" => destination.to_string(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "referral_worker_outbound_request_duration_seconds",
        "destination" => destination.to_string()
    )
    .record(duration.as_secs_f64());
}

/// Whether `err` came from [`SendOutcome::OutcomeUnknown`].
pub fn is_outcome_unknown(err: &Error) -> bool {
    matches!(err, Error::Permanent(m) if m.starts_with(OUTCOME_UNKNOWN))
}

/// Signs `body` for Standard Webhooks: `v1,<base64>` over
/// `msg_id.timestamp.body` with `secret` (`whsec_…`).
///
/// # Errors
/// [`Error::Invalid`] (field `secret`) for an unusable secret, never
/// echoing it; [`Error::Permanent`] for a body that is not UTF-8.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    signer(secret)?
        .sign(msg_id, timestamp, body)
        .map_err(|e| Error::permanent(format!("signing message {msg_id}: {e}")))
}

/// The crate's signer, after the same secret check as the careers-site
/// intake (`whsec_` + base64 of at least 24 bytes).
fn signer(secret: &str) -> Result<Webhook> {
    crate::intake::careers_site::validate_secret(secret)
        .map_err(|e| Error::invalid("secret", e.to_string()))?;
    Webhook::new(secret).map_err(|_| Error::invalid("secret", "not whsec_ followed by base64"))
}

/// Sends signed [`Message`]s to one [`Destination`].
pub struct OutboundClient {
    destination: Destination,
    http: reqwest::Client,
    /// `None` for an unsigned (Slack-compatible) destination.
    webhook: Option<Webhook>,
    limiter: Arc<AccountLimiter>,
    /// The longest one attempt can take (the request timeout).
    request_timeout: Duration,
    max_wait: Duration,
    fallback_pause: Duration,
    /// Sandbox: record what would be sent instead of sending it.
    record_only: Option<crate::sandbox::Recorder>,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("destination", &self.destination)
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// A client with the default options (connect 5 s, request 15 s, no
    /// redirects).
    ///
    /// # Errors
    /// As [`OutboundClient::with_options`].
    pub fn new(destination: Destination) -> Result<Self> {
        Self::with_options(destination, &OutboundOptions::default())
    }

    /// A client with explicit options (tests use short timeouts).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a URL that is not http(s), an unusable
    /// secret, or a connect timeout not shorter than the request timeout
    /// (see the module docs); [`Error::Permanent`] if the HTTP client
    /// cannot be built.
    pub fn with_options(destination: Destination, options: &OutboundOptions) -> Result<Self> {
        if !matches!(destination.url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                "url",
                format!("destination {} is not an http(s) URL", destination.name),
            ));
        }
        options.http.check_url("url", &destination.url)?;
        if options.http.connect_timeout >= options.http.timeout {
            return Err(Error::invalid(
                "connect_timeout",
                "must be shorter than the request timeout, or a slow connect looks like an unknown outcome",
            ));
        }
        let webhook = if destination.signed {
            Some(signer(&destination.secret)?)
        } else {
            None
        };
        // `build_client` turns redirects off: a 3xx comes back as is.
        let http = options.http.build_client()?;
        let key = format!(
            "outbound:{}",
            limiter::account_key(&destination.url, &destination.secret)
        );
        let limiter =
            AccountLimiter::shared(&key, Quota::per_second(destination.requests_per_second));
        Ok(Self {
            destination,
            http,
            webhook,
            limiter,
            max_wait: options.max_wait,
            request_timeout: options.http.timeout,
            fallback_pause: options.fallback_pause,
            record_only: None,
        })
    }

    /// Sandbox mode: [`OutboundClient::send`] records each message with
    /// `recorder` (a `sandbox.recorded` audit event) and answers delivered,
    /// sending nothing. See [`crate::sandbox`].
    #[must_use]
    pub fn record_only(mut self, recorder: crate::sandbox::Recorder) -> Self {
        self.record_only = Some(recorder);
        self
    }

    /// Whether this client records instead of sending.
    pub fn is_record_only(&self) -> bool {
        self.record_only.is_some()
    }

    /// The destination (its `Debug` hides the secret).
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The longest one attempt can take, answer included.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The destination's process-wide rate limiter.
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        &self.limiter
    }

    /// Signs `body` as this client does: `v1,<base64>` over
    /// `msg_id.timestamp.body`.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a body that is not UTF-8.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
        let Some(webhook) = &self.webhook else {
            return Err(Error::permanent(format!(
                "destination {} is unsigned",
                self.destination.name
            )));
        };
        webhook
            .sign(msg_id, timestamp, body)
            .map_err(|e| Error::permanent(format!("signing message {msg_id}: {e}")))
    }

    /// Makes one attempt to deliver `msg`. Never follows a redirect; retries
    /// nothing itself (the job queue does, from
    /// [`SendOutcome::into_job_result`]).
    pub async fn send(&self, msg: &Message) -> SendOutcome {
        let dest = &self.destination.name;
        if let Err(problem) = msg.check() {
            return SendOutcome::Failed {
                status: 0,
                reason: format!("{dest}: not sent: {problem}"),
            };
        }
        if let Some(recorder) = &self.record_only {
            return recorder.record_message(&self.destination, msg).await;
        }
        if let Err(e) = self.limiter.acquire(self.max_wait).await {
            let (after, reason) = match e {
                Error::RetryAfter { after, reason } => (Some(after), reason),
                other => (None, other.to_string()),
            };
            return SendOutcome::Retry {
                after,
                reason: format!("{dest}: not sent: {reason}"),
                status: None,
            };
        }

        let timestamp = Utc::now().timestamp();
        let mut request = self.http.post(self.destination.url.clone());
        let body = if self.webhook.is_some() {
            let body = msg.body();
            let signature = match self.sign(&msg.id, timestamp, &body) {
                Ok(s) => s,
                Err(e) => {
                    return SendOutcome::Failed {
                        status: 0,
                        reason: format!("{dest}: not sent: {e}"),
                    };
                }
            };
            request = request
                .header(HEADER_WEBHOOK_ID, &msg.id)
                .header(HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string())
                .header(HEADER_WEBHOOK_SIGNATURE, signature);
            body
        } else {
            // A JSON value always serialises.
            serde_json::to_vec(&msg.data).unwrap_or_default()
        };

        let started = std::time::Instant::now();
        let result = request
            .header("Idempotency-Key", &msg.idempotency_key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let duration = started.elapsed();
        count_request(dest, result.as_ref().map(|r| r.status()), duration);

        let outcome = match result {
            Ok(resp) => self.response_outcome(resp, duration).await,
            Err(e) => self.transport_outcome(&e),
        };
        tracing::info!(
            destination = %dest,
            webhook_id = %msg.id,
            status = ?outcome.status(),
            duration_ms = duration.as_millis() as u64,
            outcome = ?outcome,
            "outbound webhook attempt"
        );
        outcome
    }

    async fn response_outcome(
        &self,
        mut resp: reqwest::Response,
        duration: Duration,
    ) -> SendOutcome {
        let status = resp.status();
        let asked = self
            .limiter
            .observe(status, resp.headers(), self.fallback_pause);
        if status.is_success() {
            return SendOutcome::Delivered {
                status: status.as_u16(),
                duration,
            };
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // A failed body read does not lose the status.
        let body = read_at_most(&mut resp, ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default();
        let excerpt = self.excerpt(&body);
        let dest = &self.destination.name;
        let reason = if excerpt.is_empty() {
            format!("{dest}: {status}")
        } else {
            format!("{dest}: {status}: {excerpt}")
        };
        match status {
            StatusCode::GONE => SendOutcome::Gone { reason },
            StatusCode::TOO_MANY_REQUESTS => SendOutcome::Retry {
                after: asked,
                reason,
                status: Some(status.as_u16()),
            },
            s if s.is_server_error() => SendOutcome::Retry {
                after: asked,
                reason,
                status: Some(s.as_u16()),
            },
            s if s.is_redirection() => SendOutcome::Failed {
                status: s.as_u16(),
                reason: format!(
                    "{dest}: {s} redirect to {} not followed",
                    location.as_deref().unwrap_or("no Location")
                ),
            },
            s => SendOutcome::Failed {
                status: s.as_u16(),
                reason,
            },
        }
    }

    /// Splits transport failures into "never left" (connect) and "may have
    /// left" (everything else); see the module docs.
    fn transport_outcome(&self, e: &reqwest::Error) -> SendOutcome {
        let dest = &self.destination.name;
        let detail = self.scrub(&error_chain(e));
        if e.is_connect() {
            return SendOutcome::Retry {
                after: None,
                reason: format!("{dest}: could not connect (not sent): {detail}"),
                status: None,
            };
        }
        if e.is_builder() {
            return SendOutcome::Failed {
                status: 0,
                reason: format!("{dest}: request could not be built (not sent): {detail}"),
            };
        }
        let what = if e.is_timeout() {
            "no answer in time"
        } else {
            "connection failed after sending"
        };
        if self.destination.idempotent {
            SendOutcome::Retry {
                after: None,
                reason: format!(
                    "{dest}: {what}; resending with the same webhook-id (idempotent destination): {detail}"
                ),
                status: None,
            }
        } else {
            SendOutcome::OutcomeUnknown {
                reason: format!(
                    "{dest}: {what}; the request may have been received, not resending (destination is not idempotent): {detail}"
                ),
            }
        }
    }

    /// The start of a body on one line, the secret removed.
    fn excerpt(&self, body: &[u8]) -> String {
        let text = self.scrub(&String::from_utf8_lossy(body));
        let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some((cut, _)) = out.char_indices().nth(EXCERPT_CHARS) {
            out.truncate(cut);
            out.push('…');
        }
        out
    }

    fn scrub(&self, text: &str) -> String {
        let secret = &self.destination.secret;
        let bare = secret.strip_prefix("whsec_").unwrap_or(secret);
        if bare.is_empty() {
            return text.to_owned();
        }
        text.replace(secret.as_str(), "[redacted]")
            .replace(bare, "[redacted]")
    }
}

/// reqwest's error and its causes ("connection refused" lives in
/// `source()`), without the URL (it may carry a token in its query).
fn error_chain(e: &reqwest::Error) -> String {
    let mut detail = match e.url() {
        Some(url) => e.to_string().replace(url.as_str(), "[url]"),
        None => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}

/// Reads at most `limit` bytes of a body; the rest is left unread.
async fn read_at_most(
    resp: &mut reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{
            Mutex,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use axum::http::StatusCode as AxumStatus;
    use chrono::TimeZone;

    use super::*;
    use crate::ats::test_server::{Reply, Seen, TestServer};
    use crate::intake::signature::test_support::{payload, signed};

    const SAMPLE: &str = "outbound_referral_milestone_reached.json";
    /// A test-only secret: base64 of 32 bytes.
    const SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";

    fn message() -> Message {
        let sample: serde_json::Value = serde_json::from_slice(&payload(SAMPLE)).unwrap();
        Message {
            id: "msg_2nVq8m1c0QZb7D3xR5tY9uWk".into(),
            event_type: "referral.milestone_reached".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 5, 0).unwrap(),
            data: sample["data"].clone(),
            idempotency_key: "ref_01JB7Y4M2N8P0Q3R5S7T9V1W3X:probation_completed".into(),
        }
    }

    fn options(timeout: Duration) -> OutboundOptions {
        OutboundOptions {
            http: HttpOptions {
                connect_timeout: timeout / 2,
                timeout,
                allow_private_networks: true,
                ..HttpOptions::default()
            },
            ..OutboundOptions::default()
        }
    }

    fn client_for(base: &str, idempotent: bool, timeout: Duration) -> OutboundClient {
        let mut dest = Destination::new(
            "bonus-system",
            Url::parse(&format!("{base}/hooks/bonus")).unwrap(),
            SECRET,
            NonZeroU32::new(100).unwrap(),
        );
        dest.idempotent = idempotent;
        OutboundClient::with_options(dest, &options(timeout)).unwrap()
    }

    fn client(base: &str) -> OutboundClient {
        client_for(base, true, Duration::from_secs(5))
    }

    /// A bonus-system receiver: verifies the signature with the
    /// `standardwebhooks` crate (401 if bad), then answers with `reply`
    /// for the n-th (0-based) verified request, and counts deliveries
    /// (2xx answers) by `Idempotency-Key`.
    struct Receiver {
        server: TestServer,
        delivered: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl Receiver {
        async fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
            Self::start_with_delay(None, reply).await
        }

        async fn start_with_delay(
            delay: Option<Duration>,
            reply: impl Fn(usize) -> Reply + Send + Sync + 'static,
        ) -> Self {
            let delivered = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
            let counter = AtomicUsize::new(0);
            let seen_delivered = delivered.clone();
            let server = TestServer::start_with_delay(delay, move |seen: &Seen| {
                if let Err(e) = Webhook::new(SECRET)
                    .unwrap()
                    .verify(&seen.body, &seen.headers)
                {
                    return (
                        AxumStatus::UNAUTHORIZED,
                        vec![],
                        format!("bad signature: {e}"),
                    );
                }
                let reply = reply(counter.fetch_add(1, Ordering::SeqCst));
                if reply.0.is_success() {
                    let key = seen.header("idempotency-key").unwrap_or("").to_owned();
                    *seen_delivered.lock().unwrap().entry(key).or_default() += 1;
                }
                reply
            })
            .await;
            Self { server, delivered }
        }

        fn deliveries(&self, key: &str) -> usize {
            self.delivered
                .lock()
                .unwrap()
                .get(key)
                .copied()
                .unwrap_or(0)
        }
    }

    fn status(code: AxumStatus) -> Reply {
        (code, vec![], String::new())
    }

    #[test]
    fn the_signer_reproduces_the_recorded_signature() {
        let body = payload(SAMPLE);
        let fixture = signed(SAMPLE);
        let secret = fixture.secret.clone().unwrap();
        let id = fixture.header("webhook-id");
        let timestamp: i64 = fixture.header("webhook-timestamp").parse().unwrap();
        let expected = fixture.header("webhook-signature");
        assert_eq!(sign(&secret, &id, timestamp, &body).unwrap(), expected);

        let client = OutboundClient::new(Destination::new(
            "bonus-system",
            Url::parse("https://bonus.example/hooks").unwrap(),
            secret,
            NonZeroU32::new(5).unwrap(),
        ))
        .unwrap();
        assert_eq!(client.sign(&id, timestamp, &body).unwrap(), expected);
    }

    #[test]
    fn the_body_is_the_compact_envelope_and_stable() {
        let msg = message();
        let body = msg.body();
        assert!(body.starts_with(
            br#"{"type":"referral.milestone_reached","timestamp":"2026-03-01T00:05:00Z","data":{"#
        ));
        assert_eq!(body, msg.body());
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let sample: serde_json::Value = serde_json::from_slice(&payload(SAMPLE)).unwrap();
        assert_eq!(parsed, sample);
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        let dest = Destination::new(
            "bonus-system",
            Url::parse("https://bonus.example/hooks").unwrap(),
            SECRET,
            NonZeroU32::new(5).unwrap(),
        );
        let printed = format!("{dest:?}");
        assert!(!printed.contains("dGVzdC1vbmx5"), "{printed}");
        let client = OutboundClient::new(dest.clone()).unwrap();
        assert!(!format!("{client:?}").contains("dGVzdC1vbmx5"));

        let short = Destination {
            secret: "whsec_c2hvcnQ=".into(),
            ..dest.clone()
        };
        assert!(matches!(
            OutboundClient::new(short),
            Err(Error::Invalid { field, .. }) if field == "secret"
        ));
        let ftp = Destination {
            url: Url::parse("ftp://bonus.example/").unwrap(),
            ..dest
        };
        assert!(OutboundClient::new(ftp).is_err());
    }

    #[tokio::test]
    async fn a_2xx_is_delivered_with_signed_headers() {
        let receiver = Receiver::start(|_| status(AxumStatus::ACCEPTED)).await;
        let msg = message();
        let outcome = client(&receiver.server.base).send(&msg).await;
        assert!(
            matches!(outcome, SendOutcome::Delivered { status: 202, .. }),
            "{outcome:?}"
        );
        assert_eq!(receiver.deliveries(&msg.idempotency_key), 1);
        let seen = receiver.server.seen();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.method, axum::http::Method::POST);
        assert_eq!(req.uri, "/hooks/bonus");
        assert_eq!(req.header("webhook-id"), Some(msg.id.as_str()));
        assert_eq!(
            req.header("idempotency-key"),
            Some(msg.idempotency_key.as_str())
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert!(req.header("webhook-signature").unwrap().starts_with("v1,"));
        assert_eq!(req.body.as_ref(), msg.body().as_slice());
        assert_eq!(outcome.into_job_result().ok(), Some(()));
    }

    #[tokio::test]
    async fn three_500s_then_200_resend_the_same_id_and_body() {
        let receiver = Receiver::start(|n| {
            if n < 3 {
                status(AxumStatus::INTERNAL_SERVER_ERROR)
            } else {
                status(AxumStatus::OK)
            }
        })
        .await;
        let client = client(&receiver.server.base);
        let msg = message();
        let mut outcomes = Vec::new();
        for _ in 0..4 {
            outcomes.push(client.send(&msg).await);
        }
        for outcome in &outcomes[..3] {
            assert!(
                matches!(
                    outcome,
                    SendOutcome::Retry {
                        after: None,
                        status: Some(500),
                        ..
                    }
                ),
                "{outcome:?}"
            );
        }
        assert!(matches!(
            outcomes[3],
            SendOutcome::Delivered { status: 200, .. }
        ));
        assert!(matches!(
            outcomes[0].clone().into_job_result(),
            Err(Error::Retryable(_))
        ));

        let seen = receiver.server.seen();
        assert_eq!(seen.len(), 4);
        for req in &seen {
            assert_eq!(req.header("webhook-id"), seen[0].header("webhook-id"));
            assert_eq!(req.body, seen[0].body);
            assert!(req.header("webhook-timestamp").is_some());
        }
        assert_eq!(receiver.deliveries(&msg.idempotency_key), 1);
    }

    #[tokio::test]
    async fn a_429_with_retry_after_is_a_retry_at_that_time() {
        let receiver = Receiver::start(|_| {
            (
                AxumStatus::TOO_MANY_REQUESTS,
                vec![("retry-after", "7".into())],
                "slow down".into(),
            )
        })
        .await;
        let client = client(&receiver.server.base);
        let outcome = client.send(&message()).await;
        match &outcome {
            SendOutcome::Retry {
                after,
                status,
                reason,
            } => {
                assert_eq!(*after, Some(Duration::from_secs(7)));
                assert_eq!(*status, Some(429));
                assert!(reason.contains("slow down"), "{reason}");
            }
            other => panic!("expected Retry, got {other:?}"),
        }
        // The destination is paused for everyone in the process.
        assert!(client.limiter().paused_for().is_some());
        match outcome.into_job_result() {
            Err(Error::RetryAfter { after, .. }) => assert_eq!(after, Duration::from_secs(7)),
            other => panic!("expected RetryAfter, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_400_fails_without_retry() {
        let receiver =
            Receiver::start(|_| (AxumStatus::BAD_REQUEST, vec![], "amount_minor: bad".into()))
                .await;
        let msg = message();
        let outcome = client(&receiver.server.base).send(&msg).await;
        match &outcome {
            SendOutcome::Failed { status, reason } => {
                assert_eq!(*status, 400);
                assert!(reason.contains("amount_minor: bad"), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        assert!(matches!(
            outcome.into_job_result(),
            Err(Error::Permanent(_))
        ));
        assert_eq!(receiver.server.seen().len(), 1);
        assert_eq!(receiver.deliveries(&msg.idempotency_key), 0);
    }

    #[tokio::test]
    async fn a_410_is_gone() {
        let receiver = Receiver::start(|_| status(AxumStatus::GONE)).await;
        let outcome = client(&receiver.server.base).send(&message()).await;
        assert!(matches!(outcome, SendOutcome::Gone { .. }), "{outcome:?}");
        assert!(matches!(outcome.into_job_result(), Err(Error::Permanent(m)) if m.contains("410")));
    }

    #[tokio::test]
    async fn a_redirect_fails_and_is_not_followed() {
        let receiver = Receiver::start(|_| {
            (
                AxumStatus::FOUND,
                vec![("location", "/elsewhere".into())],
                String::new(),
            )
        })
        .await;
        let outcome = client(&receiver.server.base).send(&message()).await;
        match &outcome {
            SendOutcome::Failed { status, reason } => {
                assert_eq!(*status, 302);
                assert!(reason.contains("/elsewhere"), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        let seen = receiver.server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].uri, "/hooks/bonus");
    }

    #[tokio::test]
    async fn no_answer_is_resent_only_to_an_idempotent_destination() {
        // The receiver reads the whole request, then sleeps far past the
        // client's timeout.
        let receiver =
            Receiver::start_with_delay(Some(Duration::from_secs(30)), |_| status(AxumStatus::OK))
                .await;
        let timeout = Duration::from_millis(300);
        let msg = message();

        let idempotent = client_for(&receiver.server.base, true, timeout);
        let outcome = idempotent.send(&msg).await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    after: None,
                    status: None,
                    ..
                }
            ),
            "{outcome:?}"
        );

        let not_idempotent = client_for(&receiver.server.base, false, timeout);
        let outcome = not_idempotent.send(&msg).await;
        assert!(
            matches!(outcome, SendOutcome::OutcomeUnknown { .. }),
            "{outcome:?}"
        );
        let err = outcome.into_job_result().unwrap_err();
        assert!(is_outcome_unknown(&err), "{err}");
        assert!(matches!(&err, Error::Permanent(m) if m.starts_with("outcome unknown")));

        // Both requests did reach the receiver: that is why the outcome is
        // unknown and not "never sent".
        assert_eq!(receiver.server.seen().len(), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_retried_everywhere() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        for idempotent in [true, false] {
            let outcome = client_for(&base, idempotent, Duration::from_secs(2))
                .send(&message())
                .await;
            match &outcome {
                SendOutcome::Retry {
                    after: None,
                    status: None,
                    reason,
                } => assert!(reason.contains("could not connect"), "{reason}"),
                other => panic!("idempotent={idempotent}: expected Retry, got {other:?}"),
            }
            assert!(!format!("{outcome:?}").contains("dGVzdC1vbmx5"));
        }
    }

    #[tokio::test]
    async fn an_invalid_message_is_not_sent() {
        let receiver = Receiver::start(|_| status(AxumStatus::OK)).await;
        let msg = Message {
            id: "msg.with.dots".into(),
            ..message()
        };
        let outcome = client(&receiver.server.base).send(&msg).await;
        assert!(
            matches!(outcome, SendOutcome::Failed { status: 0, .. }),
            "{outcome:?}"
        );
        assert!(receiver.server.seen().is_empty());
    }

    /// Properties of what [`sign`] produces, for any secret and message.
    mod signing_properties {
        use base64::Engine as _;
        use proptest::prelude::*;

        use super::*;
        use crate::intake::signature::test_support::arb_json;

        /// A usable key: 24 to 64 random bytes.
        fn arb_key() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(any::<u8>(), 24..=64)
        }

        /// `whsec_` + base64 of `key`.
        fn secret_for(key: &[u8]) -> String {
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            )
        }

        /// A message id the client sends: visible ASCII without `.`.
        fn arb_id() -> impl Strategy<Value = String> {
            prop_oneof!["msg_[0-9A-Z]{26}", "[!-\\-/-~]{1,40}"]
        }

        fn arb_message() -> impl Strategy<Value = Message> {
            (
                arb_id(),
                "\\PC{0,30}",
                0i64..4_102_444_800,
                0u32..1_000_000_000,
                arb_json(),
                "[!-~]{1,40}",
            )
                .prop_map(|(id, event_type, secs, nanos, data, idempotency_key)| {
                    Message {
                        id,
                        event_type,
                        occurred_at: Utc.timestamp_opt(secs, nanos).unwrap(),
                        data,
                        idempotency_key,
                    }
                })
        }

        fn headers(id: &str, timestamp: i64, signature: &str) -> reqwest::header::HeaderMap {
            let mut map = reqwest::header::HeaderMap::new();
            map.insert(HEADER_WEBHOOK_ID, id.parse().unwrap());
            map.insert(HEADER_WEBHOOK_TIMESTAMP, timestamp.into());
            map.insert(HEADER_WEBHOOK_SIGNATURE, signature.parse().unwrap());
            map
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn what_we_sign_verifies_with_the_standardwebhooks_receiver_and_tampering_does_not(
                key in arb_key(),
                msg in arb_message(),
                other_id in arb_id(),
                skew in -240i64..=240,
                flip_at in any::<prop::sample::Index>(),
                bit in 0u8..8,
            ) {
                prop_assert_eq!(msg.check(), Ok(()));
                let secret = secret_for(&key);
                let body = msg.body();
                // `Webhook::verify` reads the wall clock and allows five
                // minutes either way.
                let timestamp = Utc::now().timestamp() + skew;
                let signature = sign(&secret, &msg.id, timestamp, &body).unwrap();
                let receiver = Webhook::new(&secret).unwrap();
                let sent = headers(&msg.id, timestamp, &signature);
                prop_assert!(receiver.verify(&body, &sent).is_ok());

                let mut tampered = body.clone();
                tampered[flip_at.index(body.len())] ^= 1 << bit;
                prop_assert!(receiver.verify(&tampered, &sent).is_err());

                if other_id != msg.id {
                    let relabelled = headers(&other_id, timestamp, &signature);
                    prop_assert!(receiver.verify(&body, &relabelled).is_err());
                }
            }

            #[test]
            fn the_signature_is_the_spec_mac_at_any_timestamp(
                key in arb_key(),
                id in arb_id(),
                body in "\\PC{0,300}",
                timestamp in any::<i64>(),
            ) {
                use hmac::{KeyInit, Mac};
                let secret = secret_for(&key);
                let signature = sign(&secret, &id, timestamp, body.as_bytes()).unwrap();
                let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
                mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
                let expected = format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
                );
                prop_assert_eq!(&signature, &expected);
                // And our own intake accepts it at that time.
                let timestamp_text = timestamp.to_string();
                let sent = [
                    ("webhook-id", id.as_str()),
                    ("webhook-timestamp", timestamp_text.as_str()),
                    ("webhook-signature", signature.as_str()),
                ];
                prop_assert_eq!(
                    crate::intake::careers_site::verify_at(&secret, &sent, body.as_bytes(), timestamp),
                    Ok(id)
                );
            }
        }
    }
}
