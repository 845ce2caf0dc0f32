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
//!   crate and secret check as [`crate::connectors::careers_site`]);
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

use base64::Engine as _;

use super::{
    http::{self, HttpOptions, count_request},
    limiter::{self, AccountLimiter},
    sandbox::{Recorded, Recorder, loggable_url},
};
use crate::error::{Error, Result};

/// The prefix of the [`Error::Permanent`] message that
/// [`SendOutcome::OutcomeUnknown`] becomes. See [`is_outcome_unknown`].
pub const OUTCOME_UNKNOWN: &str = "outcome unknown";

/// The shortest key the Standard Webhooks spec allows (24 bytes). A
/// shorter key, or an empty one, which anyone could forge with, is
/// refused, here and by the careers-site intake that verifies with it
/// ([`crate::connectors::careers_site`]).
pub const MIN_SECRET_BYTES: usize = 24;

/// Where signed messages go, from configuration.
#[derive(Clone)]
pub struct Destination {
    /// A short name for logs and alerts, e.g. `"bonus"`.
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

/// A fresh Standard Webhooks secret: `whsec_` and the base64 of 32 random
/// bytes (more than [`MIN_SECRET_BYTES`]). For `referral-worker demo`,
/// which signs and verifies with secrets nobody configured.
pub fn new_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    )
}

/// A Standard Webhooks secret: `whsec_` (optional) followed by base64 of
/// at least [`MIN_SECRET_BYTES`] bytes, padded or not. The one check both
/// directions and `config check` share: the careers-site intake verifies
/// with it, [`sign`] and [`OutboundClient`] sign with it, and the
/// configuration's validation (run by `config check` and at start-up)
/// calls it for every `whsec_` secret.
///
/// The key is decoded here rather than by `Webhook::new` because the crate
/// hides the key, so its length could not be checked, and because the
/// crate insists on padding where the official Standard Webhooks
/// libraries accept an unpadded secret (`whsec_…` as some providers show
/// it); the padding carries no key bits, so both decode to the same key.
///
/// # Errors
/// What is wrong with the secret, never the secret itself.
pub fn standard_webhook(secret: &str) -> std::result::Result<Webhook, String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const PADDED_OR_NOT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = PADDED_OR_NOT
        .decode(encoded)
        .map_err(|_| "configured secret is not whsec_ followed by base64".to_owned())?;
    if key.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "configured secret decodes to {} bytes; at least {MIN_SECRET_BYTES} are required",
            key.len()
        ));
    }
    Webhook::from_bytes(key).map_err(|_| "configured secret was refused".to_owned())
}

/// The crate's signer, after the same secret check as the careers-site
/// intake (`whsec_` + base64 of at least 24 bytes).
fn signer(secret: &str) -> Result<Webhook> {
    // Worded as the intake words a bad secret (`signature: …`), which is
    // what this reported when it called the intake's check.
    standard_webhook(secret).map_err(|why| Error::invalid("secret", format!("signature: {why}")))
}

/// Sends signed [`Message`]s to one [`Destination`].
pub struct OutboundClient {
    destination: Destination,
    http: reqwest::Client,
    /// What the client was built from; with a proxy, its guard checks the
    /// destination before each call.
    transport: http::HttpOptions,
    /// `None` for an unsigned (Slack-compatible) destination.
    webhook: Option<Webhook>,
    limiter: Arc<AccountLimiter>,
    /// The longest one attempt can take (the request timeout).
    request_timeout: Duration,
    max_wait: Duration,
    fallback_pause: Duration,
    /// Sandbox: record what would be sent instead of sending it.
    record_only: Option<Recorder>,
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
            transport: options.http.clone(),
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
    /// sending nothing. See [`super::sandbox`].
    #[must_use]
    pub fn record_only(mut self, recorder: Recorder) -> Self {
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
            return record_message(recorder, &self.destination, msg).await;
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

        if let Err(e) = self.transport.check_target(&self.destination.url).await {
            let reason = format!("{dest}: {e}");
            return match e {
                Error::Retryable(_) => SendOutcome::Retry {
                    after: None,
                    reason,
                    status: None,
                },
                _ => SendOutcome::Failed { status: 0, reason },
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
        let (location, body) = http::failure_answer(&mut resp).await;
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
                    location
                        .as_deref()
                        .map_or_else(|| "no Location".to_owned(), |l| self.excerpt(l.as_bytes()))
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
        let detail = self.scrub(&http::error_chain(e, true));
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
        http::excerpt(body, &self.secrets())
    }

    fn scrub(&self, text: &str) -> String {
        http::scrub(text, &self.secrets())
    }

    /// What to scrub: the secret as configured and its key without
    /// `whsec_`; nothing for an unsigned destination (no secret) or a bare
    /// `whsec_`.
    fn secrets(&self) -> Vec<&str> {
        let secret = self.destination.secret.as_str();
        let bare = secret.strip_prefix("whsec_").unwrap_or(secret);
        if bare.is_empty() {
            Vec::new()
        } else {
            vec![secret, bare]
        }
    }
}

/// What a record-only [`OutboundClient`] does instead of POSTing `msg`:
/// record it (a `sandbox.recorded` audit event) and answer delivered, or a
/// retry when the record could not be written.
async fn record_message(
    recorder: &Recorder,
    destination: &Destination,
    msg: &Message,
) -> SendOutcome {
    let started = std::time::Instant::now();
    let recorded = recorder
        .record(Recorded {
            destination: &destination.name,
            method: "POST",
            url: loggable_url(&destination.url, destination.signed),
            message_id: &msg.id,
            message_type: &msg.event_type,
            subject_type: "message",
            subject_id: msg.id.clone(),
        })
        .await;
    match recorded {
        Ok(_) => SendOutcome::Delivered {
            status: 200,
            duration: started.elapsed(),
        },
        Err(e) => SendOutcome::Retry {
            after: None,
            reason: format!(
                "{}: sandbox: could not record the message (not sent): {e}",
                destination.name
            ),
            status: None,
        },
    }
}

#[cfg(test)]
mod tests;
