//! SmartRecruiters webhooks: the subscription handshake, verifying a
//! notification, the envelope the inbox stores, and decoding it into an
//! [`IntakeEvent`]. Pure (no I/O); the HTTP intake
//! (`worker/src/http/webhooks.rs`) calls [`handshake_secret`],
//! [`verify_at`] and [`stored_envelope`], [`crate::intake::decode`] calls
//! [`decode`].
//!
//! # The protocol (`docs/workable-smartrecruiters.md` §B2)
//!
//! **Handshake.** Activating a subscription makes SmartRecruiters POST to
//! the callback with an `X-Hook-Secret` header, which must come back in
//! the answer's `X-Hook-Secret` header, with a 200, within 20 s. That value
//! proves the callback answers; it is **not** the key notifications are
//! signed with (that key is generated afterwards, through the API, and
//! configured here as `ats.smartrecruiters.webhook_secret`), so nothing of
//! the handshake is stored. A request carrying `X-Hook-Secret` is a
//! handshake and nothing else: it is echoed (a value of 1 to 256 visible
//! ASCII characters; anything else is refused) and never stored or acted
//! on, whatever its body.
//!
//! **Notifications.** Headers `event-name`, `event-version`, `event-id`,
//! `link` (`<url>; rel=self`), `smartrecruiters-timestamp` (Unix seconds)
//! and `smartrecruiters-signature: v1=<hex>[;v1=<hex>…]`, where each hex
//! is HMAC-SHA256, under one of the subscription's keys, of
//!
//! ```text
//! timestamp.body.event-id.event-name.event-version.link
//! ```
//!
//! with the exact header values ("" for an absent one; `link` keeps its
//! angle brackets and `; rel=self`). A notification is accepted when
//! **any** `v1=` value matches under **any** configured key (after a key
//! rotation the old key stays valid for 24 h, so two are configured), in
//! constant time, and then only when its timestamp is within the
//! tolerance of now. The body carries ids only (`{"job_id", "candidate_id"}`
//! for application events), so every decision re-reads the candidate
//! through the API; `event-id` is the inbox key.
//!
//! **What the inbox stores.** The event name travels in a header, not in
//! the body, so the inbox row holds an envelope built from the verified
//! headers and the verified body ([`stored_envelope`]):
//! `{"smartrecruiters": {event_id, event_name, event_version, link,
//! timestamp}, "payload": <body>}`. Every later reader (capture, ops,
//! privacy) decodes that envelope with [`decode`].
//!
//! | event | Event |
//! |---|---|
//! | `application.created`, `application.status.updated`, `application.source.updated` | [`IntakeEvent::SmartRecruitersAssignment`] for (`candidate_id`, `job_id`): re-read |
//! | `candidate.created`, `candidate.updated` | [`IntakeEvent::SmartRecruitersAssignment`] without a job: the primary assignment is re-read |
//! | `candidate.deleted` | [`IntakeEvent::CandidateAnonymized`]: the erasure path |
//! | anything else (`application.fields.updated`, the echo of our own write; offers; onboarding) | [`IntakeEvent::Ignored`] |

use std::time::Duration;

use entities::states::Ats;
use serde_json::json;

use crate::connectors::{
    json::{self, Obj},
    signature::{self, HeaderLookup},
};
use crate::intake::event::{IntakeError, IntakeEvent};

/// The handshake header, asked and answered.
pub const HOOK_SECRET_HEADER: &str = "x-hook-secret";

/// The header that carries the signatures.
pub const SIGNATURE_HEADER: &str = "smartrecruiters-signature";

/// The header that carries the Unix-seconds timestamp.
pub const TIMESTAMP_HEADER: &str = "smartrecruiters-timestamp";

/// Longest `X-Hook-Secret` echoed.
pub const MAX_HOOK_SECRET_LEN: usize = 256;

/// Most `v1=` values looked at (SmartRecruiters keeps at most 16 keys).
const MAX_SIGNATURES: usize = 16;

/// Longest event id (the inbox key).
const MAX_EVENT_ID_LEN: usize = 200;

/// Longest candidate or job id (SmartRecruiters' are UUIDs).
const MAX_ID_LEN: usize = 64;

/// The events that name an assignment to re-read.
pub const ASSIGNMENT_EVENTS: [&str; 5] = [
    "application.created",
    "application.status.updated",
    "application.source.updated",
    "candidate.created",
    "candidate.updated",
];

/// The only delete signal.
pub const CANDIDATE_DELETED: &str = "candidate.deleted";

/// The ATS a decoded event belongs to.
pub const ATS: Ats = Ats::SmartRecruiters;

/// The value to echo for a handshake's `X-Hook-Secret`.
///
/// # Errors
/// [`IntakeError::InvalidField`] naming `X-Hook-Secret` for a value that
/// is empty, longer than 256 characters or not visible ASCII.
pub fn handshake_secret(value: &str) -> Result<&str, IntakeError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_HOOK_SECRET_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value)
    } else {
        Err(json::invalid(
            "X-Hook-Secret",
            "expected 1 to 256 visible ASCII characters",
        ))
    }
}

/// A notification's signed headers, exactly as received ("" when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `smartrecruiters-timestamp`.
    pub timestamp: String,
    /// `event-id`.
    pub event_id: String,
    /// `event-name`.
    pub event_name: String,
    /// `event-version`.
    pub event_version: String,
    /// `link`.
    pub link: String,
}

impl Notification {
    /// The headers of a request.
    pub fn from_headers<H: HeaderLookup + ?Sized>(headers: &H) -> Self {
        let get = |name: &str| headers.header(name).unwrap_or_default();
        Self {
            timestamp: get(TIMESTAMP_HEADER),
            event_id: get("event-id"),
            event_name: get("event-name"),
            event_version: get("event-version"),
            link: get("link"),
        }
    }

    /// What is signed, in parts: `timestamp.body.event-id.event-name.
    /// event-version.link`.
    fn signed<'a>(&'a self, body: &'a [u8]) -> [&'a [u8]; 11] {
        [
            self.timestamp.as_bytes(),
            b".",
            body,
            b".",
            self.event_id.as_bytes(),
            b".",
            self.event_name.as_bytes(),
            b".",
            self.event_version.as_bytes(),
            b".",
            self.link.as_bytes(),
        ]
    }
}

/// Verifies a notification at Unix time `now` (module docs): any `v1=`
/// value of `smartrecruiters-signature` under any of `keys` (empty keys
/// are ignored), then the timestamp within `tolerance`, then a usable
/// `event-id`.
///
/// # Errors
/// * [`IntakeError::BadSignature`]: no key configured, the header missing,
///   no `v1=` value, or none matching. Never echoes header content.
/// * [`IntakeError::Stale`]: authentic, but the timestamp is missing or
///   further from now than `tolerance`.
/// * [`IntakeError::InvalidField`] naming `event-id`: authentic and fresh,
///   but without an event id of 1 to 200 characters to key it by.
pub fn verify_at<H: HeaderLookup + ?Sized>(
    keys: &[&[u8]],
    headers: &H,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<Notification, IntakeError> {
    let keys: Vec<&[u8]> = keys.iter().copied().filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        // Anyone can compute an HMAC under an empty key.
        return Err(bad("no SmartRecruiters signing key is configured"));
    }
    let header = headers
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| bad("missing smartrecruiters-signature header"))?;
    let claimed: Vec<&str> = header
        .split([';', ','])
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .map(str::trim)
        .take(MAX_SIGNATURES)
        .collect();
    if claimed.is_empty() {
        return Err(bad("smartrecruiters-signature has no v1= value"));
    }
    let n = Notification::from_headers(headers);
    let parts = n.signed(body);
    // Every pair is checked, so the time taken does not say which matched.
    let matched = keys.iter().fold(false, |found, key| {
        claimed.iter().fold(found, |found, sig| {
            signature::hmac_sha256_hex_matches(key, &parts, sig) | found
        })
    });
    if !matched {
        return Err(bad("smartrecruiters-signature does not match"));
    }
    let Ok(ts) = n.timestamp.trim().parse::<i64>() else {
        return Err(IntakeError::Stale(
            "smartrecruiters-timestamp is missing or not Unix seconds".into(),
        ));
    };
    let skew = now.saturating_sub(ts).unsigned_abs();
    if skew > tolerance.as_secs() {
        return Err(IntakeError::Stale(format!(
            "smartrecruiters-timestamp is {skew} s from now, more than the {} s tolerated",
            tolerance.as_secs()
        )));
    }
    let id = n.event_id.trim();
    if id.is_empty() || id.len() > MAX_EVENT_ID_LEN {
        return Err(json::invalid(
            "event-id",
            "header missing or longer than 200 characters",
        ));
    }
    Ok(n)
}

/// The inbox body of verified notification `n` with body `body` (module
/// docs).
///
/// # Errors
/// [`IntakeError::MalformedJson`] for a body that is not JSON.
pub fn stored_envelope(n: &Notification, body: &[u8]) -> Result<Vec<u8>, IntakeError> {
    let payload = json::parse(body)?;
    let envelope = json!({
        "smartrecruiters": {
            "event_id": n.event_id.trim(), "event_name": n.event_name.trim(),
            "event_version": n.event_version.trim(), "link": n.link,
            "timestamp": n.timestamp.trim(),
        },
        "payload": payload,
    });
    serde_json::to_vec(&envelope).map_err(|e| IntakeError::MalformedJson(e.to_string()))
}

/// Decodes a stored envelope ([`stored_envelope`]; module docs table).
///
/// # Errors
/// * [`IntakeError::MalformedJson`]: not JSON.
/// * [`IntakeError::InvalidField`]: the envelope's event name missing, the
///   payload not an object (`$`), an id missing or not an id.
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let event = root
        .obj("smartrecruiters")?
        .req_str("event_name")?
        .trim()
        .to_owned();
    // The payload is the sender's body: its errors are named from its root.
    let payload = Obj::root(&value["payload"])?;
    if event == CANDIDATE_DELETED {
        return Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: candidate_id(&payload)?,
        });
    }
    if !ASSIGNMENT_EVENTS.contains(&event.as_str()) {
        return Ok(IntakeEvent::Ignored { event });
    }
    let candidate_id = candidate_id(&payload)?;
    let job_id = if event.starts_with("application.") {
        Some(well_formed(&payload, "job_id", payload.req_id("job_id")?)?)
    } else {
        None
    };
    Ok(IntakeEvent::SmartRecruitersAssignment {
        event,
        candidate_id,
        job_id,
    })
}

/// The payload's `candidate_id` (or, for candidate events, `id`).
fn candidate_id(payload: &Obj<'_>) -> Result<String, IntakeError> {
    match payload.id("candidate_id")? {
        Some(id) => well_formed(payload, "candidate_id", id),
        None => match payload.id("id")? {
            Some(id) => well_formed(payload, "id", id),
            None => Err(json::invalid("candidate_id", "missing")),
        },
    }
}

/// `id` checked to be an id: it becomes a path segment of an API call
/// and part of a database key.
fn well_formed(obj: &Obj<'_>, key: &str, id: String) -> Result<String, IntakeError> {
    let id = id.trim();
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(json::invalid(
            obj.path_of(key),
            "expected a SmartRecruiters id (1 to 64 letters, digits, `_` or `-`)",
        ))
    }
}

fn bad(reason: &str) -> IntakeError {
    IntakeError::BadSignature(reason.to_owned())
}

#[cfg(test)]
mod tests;
