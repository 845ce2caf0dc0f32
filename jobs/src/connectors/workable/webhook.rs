//! Workable webhooks: verify a delivery, key it, and decode it into an
//! [`IntakeEvent`]. Pure (no I/O); the HTTP intake
//! (`worker/src/http/webhooks.rs`) calls [`verify`] and [`delivery_key`],
//! [`crate::intake::decode`] calls [`decode`].
//!
//! # The protocol (`docs/workable-smartrecruiters.md` §A2)
//!
//! Workable POSTs the Candidate object, in third-party code inside an
//! envelope `{id, event_type, fired_at, resource_type, data}`, with
//! `X-Workable-Signature`: HMAC-SHA256 of the raw body, keyed with the
//! account token (token-created subscriptions) or the OAuth app's client
//! secret. The docs do not state the encoding; verifiers in the wild
//! compare lowercase **hex**, and so do we, in constant time. The whole
//! body is signed, but it is the candidate **as it is when sent**, not as
//! it was when the event fired: it names the candidate to re-read, it does
//! not decide anything ([`IntakeEvent::WorkableCandidate`], acted on in
//! `crate::capture`).
//!
//! The envelope keys are third-party ([S]), so decoding is tolerant: the
//! event name is `event_type`, else `type`; the candidate is `data`, else
//! the body itself.
//!
//! | event | Event |
//! |---|---|
//! | `candidate_created`, `candidate_moved` | [`IntakeEvent::WorkableCandidate`] (re-read through the API) |
//! | anything else (the HR events `employee_*`, `onboarding_completed`, `timeoff_updated`) | [`IntakeEvent::Ignored`] |
//!
//! There is no documented delivery id: the inbox key is
//! (candidate `id`, event, `stage`, `fired_at`), and without `fired_at` a
//! digest of the body ([`delivery_key`]). Workable sends no merge, delete
//! or hire event: reconciliation notices those.

use entities::states::Ats;
use sha2::{Digest, Sha256};

use crate::connectors::{
    json::{self, Obj},
    signature,
};
use crate::intake::event::{IntakeError, IntakeEvent};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Workable-Signature";

/// The events that name a candidate to re-read.
pub const CANDIDATE_EVENTS: [&str; 2] = ["candidate_created", "candidate_moved"];

/// The `stage_kind` of a hired stage.
pub const HIRED_STAGE_KIND: &str = "hired";

/// Longest candidate id accepted (Workable's are a few characters).
const MAX_ID_LEN: usize = 64;

/// Longest inbox key we accept.
const MAX_KEY_LEN: usize = 200;

/// The ATS a decoded event belongs to.
pub const ATS: Ats = Ats::Workable;

/// Checks `X-Workable-Signature: <hex>` against `HMAC-SHA256(secret,
/// body)`, in constant time. `body` must be the raw request bytes.
///
/// # Errors
///
/// [`IntakeError::BadSignature`] if no secret is configured, or the header
/// is missing, is not 64 hex digits, or does not match. The message never
/// echoes header content.
pub fn verify(
    secret: &[u8],
    signature_header: Option<&str>,
    body: &[u8],
) -> Result<(), IntakeError> {
    if secret.is_empty() {
        // Anyone can compute an HMAC under an empty key.
        return Err(bad("no Workable webhook secret is configured"));
    }
    let header = signature_header.ok_or_else(|| bad("missing X-Workable-Signature header"))?;
    // Some senders prefix the algorithm; the digest is what is compared.
    let claimed = header.trim();
    let claimed = claimed.strip_prefix("sha256=").unwrap_or(claimed);
    if signature::hmac_sha256_hex_matches(secret, &[body], claimed.trim()) {
        Ok(())
    } else {
        Err(bad("X-Workable-Signature does not match the body"))
    }
}

/// The inbox key of a verified delivery:
/// `<candidate id>/<event>/<stage>/<fired_at>`, or with the first 16 hex of
/// SHA-256(body) in place of `fired_at` when the envelope has none (a
/// replay of the same bytes is then the same key). An event that is not a
/// candidate's is keyed by its envelope `id`, else by the digest.
///
/// # Errors
///
/// [`IntakeError::MalformedJson`] for a body that is not JSON;
/// [`IntakeError::InvalidField`] for a mistyped or missing field [`decode`]
/// would refuse, or a key longer than 200 characters.
pub fn delivery_key(body: &[u8]) -> Result<String, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let envelope = Envelope::read(&root)?;
    let digest = || hex::encode(&Sha256::digest(body)[..8]);
    let when = root
        .id("fired_at")?
        .map(|t| t.trim().to_owned())
        .unwrap_or_else(digest);
    let key = match envelope.event {
        Some(event) if !CANDIDATE_EVENTS.contains(&event) => {
            let id = root.id("id")?.unwrap_or_else(digest);
            format!("{event}/{id}")
        }
        event => {
            let candidate = candidate_id(&envelope.candidate)?;
            let stage = envelope.candidate.str("stage")?.unwrap_or("").trim();
            let event = event.unwrap_or("candidate");
            format!("{candidate}/{event}/{stage}/{when}")
        }
    };
    if key.len() > MAX_KEY_LEN {
        return Err(json::invalid(
            "fired_at",
            "longer than 200 characters together with the candidate id, event and stage",
        ));
    }
    Ok(key)
}

/// Decodes a verified Workable body: a candidate event becomes
/// [`IntakeEvent::WorkableCandidate`] with the candidate `id` (required:
/// 1 to 64 letters, digits, `_` or `-`) and whether the body claims a hire
/// (`stage_kind == "hired"` or `hired_at` set); any other event is
/// [`IntakeEvent::Ignored`]. A body without an event name is read as a bare
/// candidate (event `candidate`).
///
/// # Errors
///
/// * [`IntakeError::MalformedJson`]: the body is not JSON.
/// * [`IntakeError::InvalidField`]: the candidate id is missing or not an
///   id, or a field that is read has the wrong type.
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let envelope = Envelope::read(&root)?;
    match envelope.event {
        Some(other) if !CANDIDATE_EVENTS.contains(&other) => Ok(IntakeEvent::Ignored {
            event: other.to_owned(),
        }),
        event => {
            let c = &envelope.candidate;
            let candidate_id = candidate_id(c)?;
            let stage_kind = c.str("stage_kind")?;
            let hired_at = c.str("hired_at")?;
            // Read so that a mistyped field is refused here, not later.
            c.str("stage")?;
            c.bool("disqualified")?;
            Ok(IntakeEvent::WorkableCandidate {
                event: event.unwrap_or("candidate").to_owned(),
                candidate_id,
                claims_hired: stage_kind.is_some_and(|k| k.trim() == HIRED_STAGE_KIND)
                    || hired_at.is_some_and(|t| !t.trim().is_empty()),
            })
        }
    }
}

/// What the envelope says, read tolerantly (module docs).
struct Envelope<'a> {
    event: Option<&'a str>,
    candidate: Obj<'a>,
}

impl<'a> Envelope<'a> {
    fn read(root: &Obj<'a>) -> Result<Self, IntakeError> {
        let event = match root.str("event_type")? {
            Some(e) => Some(e),
            None => root.str("type")?,
        }
        .map(str::trim)
        .filter(|e| !e.is_empty());
        let data = root.obj("data")?;
        let candidate = if data.is_present() {
            data
        } else {
            root.clone()
        };
        Ok(Self { event, candidate })
    }
}

/// The candidate's required `id`, checked to be an id (it becomes a path
/// segment of an API call and a database key).
fn candidate_id(candidate: &Obj<'_>) -> Result<String, IntakeError> {
    let id = candidate.req_id("id")?;
    let id = id.trim();
    let well_formed = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if well_formed {
        Ok(id.to_owned())
    } else {
        Err(json::invalid(
            candidate.path_of("id"),
            "expected a Workable candidate id (1 to 64 letters, digits, `_` or `-`)",
        ))
    }
}

fn bad(reason: &str) -> IntakeError {
    IntakeError::BadSignature(reason.to_owned())
}

#[cfg(test)]
mod tests;
