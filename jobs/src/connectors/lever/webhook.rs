//! Lever webhooks.
//!
//! # The protocol, and what it does not protect
//!
//! Lever POSTs a JSON body with no signature header:
//!
//! ```json
//! {"id": "…", "triggeredAt": 1761298200123, "event": "candidateStageChange",
//!  "data": {"opportunityId": "…", …}, "signature": "<hex>", "token": "<48 chars>"}
//! ```
//!
//! `signature` is `hex(HMAC-SHA256(signatureToken, token + triggeredAt))`.
//! `token` is random per delivery and `triggeredAt` (epoch milliseconds)
//! is written in decimal. **Only those two values are signed.** Anyone who
//! captures one delivery can reuse its `token`, `triggeredAt` and
//! `signature` with a different `data`, and it still verifies. Three
//! consequences:
//!
//! * [`decode`] trusts nothing in `data` except which opportunity to look
//!   at. The job re-fetches the opportunity from the Lever API (over TLS,
//!   with our credentials) before acting.
//! * Replays are refused by remembering `token`. [`verify`] returns it in
//!   [`LeverDelivery`], and the caller stores it and refuses a token it has
//!   seen before.
//! * Old deliveries are refused by `triggeredAt`. This bounds how long
//!   the caller has to remember tokens.
//!
//! The signing token comes from Lever's webhook settings (one per
//! webhook, and it can be regenerated).
//!
//! # Choosing `max_age`
//!
//! Lever retries a failed delivery "five times, waiting longer and
//! longer". Its docs do not say whether a retry gets a fresh `token` and
//! `triggeredAt`. If it does not, a `max_age` shorter than the retry
//! schedule refuses late retries as stale. The caller's replay store must
//! keep tokens for at least `max_age`. Otherwise a token could be
//! forgotten while its delivery still counts as fresh, and it could be
//! replayed.

use std::time::Duration;

use serde_json::Value;

use crate::connectors::{
    json::{self, Obj},
    signature,
};
use crate::intake::event::{IntakeError, IntakeEvent};

/// How far in the future `triggeredAt` may be (clock skew between Lever
/// and us).
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

/// The events [`decode`] maps to [`IntakeEvent::LeverOpportunity`]. These
/// are the events Lever can filter by candidate origin (so "referred"
/// works).
pub const OPPORTUNITY_EVENTS: [&str; 4] = [
    "applicationCreated",
    "candidateStageChange",
    "candidateHired",
    "candidateArchiveChange",
];

/// The authenticated envelope of a Lever delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeverDelivery {
    /// Lever's per-delivery random token. It is the delivery id: store it
    /// and refuse a repeat.
    pub token: String,
    /// `triggeredAt`, epoch milliseconds.
    pub triggered_at_ms: i64,
    /// The event name (`candidateHired`, ...). It is not signed. It says
    /// which handler to run, never what is true.
    pub event: String,
}

/// Authenticates a Lever delivery as of `now_ms` (epoch milliseconds).
///
/// The checks run in this order:
///
/// 1. `signature` equals `hex(HMAC-SHA256(signature_token, token +
///    triggeredAt))`, compared in constant time;
/// 2. `triggeredAt` is at most `max_age` old and at most
///    [`MAX_FUTURE_SKEW`] in the future;
/// 3. `event` is a string.
///
/// The signature comes first so that an unauthenticated caller only ever
/// sees `BadSignature`, and `Stale` always means "genuine, but late".
///
/// Passing is **not** enough on its own. The caller must also refuse a
/// `token` it has seen before (see the module docs).
///
/// # Errors
///
/// * [`IntakeError::BadSignature`]: no signing token configured; body not a
///   JSON object; `token`, `triggeredAt` (an integer) or `signature`
///   missing; or no match.
/// * [`IntakeError::Stale`]: genuine, but outside the time window.
/// * [`IntakeError::InvalidField`] (`event`): genuine and fresh, but with
///   no event name.
pub fn verify(
    signature_token: &[u8],
    body: &[u8],
    now_ms: i64,
    max_age: Duration,
) -> Result<LeverDelivery, IntakeError> {
    if signature_token.is_empty() {
        // Anyone can compute an HMAC under an empty key.
        return Err(bad("no Lever signature token is configured"));
    }
    // The signature lives inside the body. A body we cannot read carries
    // no signature, so this is a 401 like any other unauthenticated
    // request, not a 400.
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| bad("body is not JSON, so it carries no Lever signature"))?;
    let Some(envelope) = value.as_object() else {
        return Err(bad(
            "body is not a JSON object, so it carries no Lever signature",
        ));
    };
    let token = envelope
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("missing token"))?;
    // Lever signs the decimal form of the integer. A float or a string
    // here is not something Lever sends, so it is refused rather than
    // guessed at.
    let triggered_at_ms = envelope
        .get("triggeredAt")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("triggeredAt is missing or not an integer"))?;
    let claimed = envelope
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing signature"))?;

    let signed_at = triggered_at_ms.to_string();
    if !signature::hmac_sha256_hex_matches(
        signature_token,
        &[token.as_bytes(), signed_at.as_bytes()],
        claimed,
    ) {
        return Err(bad("signature does not match token + triggeredAt"));
    }

    check_fresh(triggered_at_ms, now_ms, max_age)?;

    let event = Obj::root(&value)?.req_str("event")?.to_owned();
    Ok(LeverDelivery {
        token: token.to_owned(),
        triggered_at_ms,
        event,
    })
}

/// Decodes a verified Lever body.
///
/// The events in [`OPPORTUNITY_EVENTS`] become
/// [`IntakeEvent::LeverOpportunity`] with `data.opportunityId`. Nothing
/// else from `data` is used, because it is not signed (see the module
/// docs). `candidateId` is deprecated upstream and also ignored. Every
/// other event becomes [`IntakeEvent::Ignored`].
///
/// # Errors
///
/// * [`IntakeError::MalformedJson`]: the body is not JSON.
/// * [`IntakeError::InvalidField`]: `event` is missing, or an opportunity
///   event has no `data.opportunityId`. That includes Lever's connection
///   test, which sends `data: {}`.
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let event = root.req_str("event")?;
    if OPPORTUNITY_EVENTS.contains(&event) {
        Ok(IntakeEvent::LeverOpportunity {
            event: event.to_owned(),
            opportunity_id: root.obj("data")?.req_id("opportunityId")?,
        })
    } else {
        Ok(IntakeEvent::Ignored {
            event: event.to_owned(),
        })
    }
}

/// Refuses a `triggeredAt` older than `max_age` or further in the future
/// than [`MAX_FUTURE_SKEW`]. The arithmetic is done in `i128`, so no pair of
/// `i64` times and no `Duration` can overflow it.
fn check_fresh(triggered_at_ms: i64, now_ms: i64, max_age: Duration) -> Result<(), IntakeError> {
    let age_ms = i128::from(now_ms) - i128::from(triggered_at_ms);
    let max_age_ms = i128::try_from(max_age.as_millis()).unwrap_or(i128::MAX);
    let max_skew_ms = i128::try_from(MAX_FUTURE_SKEW.as_millis()).unwrap_or(i128::MAX);
    if age_ms > max_age_ms {
        return Err(IntakeError::Stale(format!(
            "triggeredAt is {}s old; the limit is {}s",
            age_ms / 1000,
            max_age.as_secs()
        )));
    }
    if -age_ms > max_skew_ms {
        return Err(IntakeError::Stale(format!(
            "triggeredAt is {}s in the future; the limit is {}s",
            -age_ms / 1000,
            MAX_FUTURE_SKEW.as_secs()
        )));
    }
    Ok(())
}

fn bad(reason: &str) -> IntakeError {
    IntakeError::BadSignature(reason.to_owned())
}

#[cfg(test)]
mod tests;
