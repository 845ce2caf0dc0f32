//! Ashby webhooks: verify a delivery and decode it into an [`IntakeEvent`].
//! Pure (no I/O); the HTTP intake (`worker/src/http/webhooks.rs`) calls
//! [`verify`] and [`delivery_key`], [`crate::intake::decode`] calls
//! [`decode`].
//!
//! # The protocol
//!
//! Ashby POSTs `{"webhookActionId": "<uuid>", "action": "<event>", "data":
//! {...}}`, one event type per configured webhook, with
//! `Ashby-Signature: sha256=<hex>`: `HMAC-SHA256(secret token, raw body)`
//! in lowercase hex. The whole body is signed, so once [`verify`] passes
//! every field can be trusted (unlike Lever). The signature is optional on
//! Ashby's side (sent only when a secret token is configured); **we require
//! it**.
//!
//! Nothing time-related is signed, so there is no replay window: the inbox
//! key is what stops a replay. That key is **(`webhookActionId`,
//! `action`)** ([`delivery_key`]), not the id alone: one hire fires
//! `candidateHire`, `candidateStageChange` and `applicationUpdate` with the
//! same `webhookActionId`, and those are three deliveries, while a retry of
//! any one of them repeats both halves of its key.
//!
//! # What a delivery becomes
//!
//! | `action` | Event |
//! |---|---|
//! | `applicationSubmit`, `applicationUpdate` | [`IntakeEvent::Application`] |
//! | `candidateStageChange`, `candidateHire` (with the accepted offer's start date) | [`IntakeEvent::StageChanged`] |
//! | `offerCreate`, `offerUpdate` (the start date of an accepted offer; a declined or cancelled offer is `offer_deleted`), `offerDelete` | [`IntakeEvent::StageChanged`] |
//! | `candidateMerge` | [`IntakeEvent::CandidateMerged`] |
//! | `candidateDelete` | [`IntakeEvent::CandidateAnonymized`] (our copy keeps ids only) |
//! | anything else (`ping` when a webhook is saved, interviews, job postings, …) | [`IntakeEvent::Ignored`] |
//!
//! Ashby ids are UUIDs; an id that is not one is refused (422 naming the
//! field), so nothing else ever reaches an API call. Field paths in errors
//! start at the body root (`data.application.candidate.id`).

use chrono::{DateTime, Utc};
use entities::states::Ats;
use sha2::{Digest, Sha256};

use crate::connectors::{
    json::{self, Obj},
    signature,
};
use crate::intake::event::{ApplicationEvent, IntakeError, IntakeEvent, Source, StageChange};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Ashby-Signature";

/// The application custom field that carries our referral token, compared
/// by title ignoring case, spaces, `_` and `-` ("Referral token",
/// `referral_token`, "Referral-Token"). Ashby addresses fields by UUID, but
/// a title is what a customer can set up without asking us for an id.
pub const TOKEN_FIELD_TITLE: &str = "Referral token";

/// Longest inbox key we accept (a UUID, `/` and an action name are far
/// shorter).
const MAX_KEY_LEN: usize = 200;

const ATS: Ats = Ats::Ashby;

/// Checks `Ashby-Signature: sha256=<hex>` against `HMAC-SHA256(secret,
/// body)`, in constant time.
///
/// `body` must be the raw request bytes (parsing and re-serialising would
/// change them).
///
/// # Errors
///
/// [`IntakeError::BadSignature`] if no secret is configured, or the header
/// is missing, names another algorithm, is malformed, or does not match.
/// The message never echoes header content.
pub fn verify(
    secret: &[u8],
    signature_header: Option<&str>,
    body: &[u8],
) -> Result<(), IntakeError> {
    if secret.is_empty() {
        // Anyone can compute an HMAC under an empty key.
        return Err(bad("no Ashby webhook secret is configured"));
    }
    let header = signature_header.ok_or_else(|| bad("missing Ashby-Signature header"))?;
    let Some((algorithm, claimed)) = header.trim().split_once('=') else {
        return Err(bad("Ashby-Signature is not of the form `sha256=<hex>`"));
    };
    if !algorithm.trim().eq_ignore_ascii_case("sha256") {
        return Err(bad("Ashby-Signature names an algorithm other than sha256"));
    }
    if signature::hmac_sha256_hex_matches(secret, &[body], claimed.trim()) {
        Ok(())
    } else {
        Err(bad("Ashby-Signature does not match the body"))
    }
}

/// The inbox key of a verified delivery: `<webhookActionId>/<action>`.
///
/// The `ping` Ashby sends when a webhook is saved carries no
/// `webhookActionId`; its key is `ping/<first 16 hex of SHA-256(body)>`,
/// so it is stored (and answered 2xx, or Ashby would create the webhook
/// disabled) and a repeated identical ping is a duplicate.
///
/// # Errors
///
/// [`IntakeError::MalformedJson`] for a body that is not JSON;
/// [`IntakeError::InvalidField`] for a missing or mistyped `action`, a
/// missing `webhookActionId` on anything but a ping, or a key longer than
/// 200 characters.
pub fn delivery_key(body: &[u8]) -> Result<String, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let action = root.req_str("action")?;
    let key = match root.id("webhookActionId")? {
        Some(id) => format!("{}/{action}", id.trim()),
        None if action == "ping" => {
            let digest = hex::encode(Sha256::digest(body));
            format!("ping/{}", &digest[..16])
        }
        None => return Err(json::invalid("webhookActionId", "missing")),
    };
    if key.len() > MAX_KEY_LEN {
        return Err(json::invalid(
            "webhookActionId",
            "longer than 200 characters together with action",
        ));
    }
    Ok(key)
}

/// Decodes a verified Ashby body.
///
/// **Applications** (`applicationSubmit`, `applicationUpdate`), from
/// `data.application`:
///
/// | Event field | Ashby field |
/// |---|---|
/// | `ats_application_id` | `id` (required, UUID) |
/// | `ats_candidate_id` | `candidate.id` (required, UUID) |
/// | `job_id` | `job.id` (required, UUID) |
/// | `email`, `phone` | `candidate.primaryEmailAddress.value`, `candidate.primaryPhoneNumber.value` (the webhook carries only the primary ones) |
/// | `first_name`, `last_name` | `candidate.name`, split at its last space |
/// | `referral_token` | `value` of the `customFields[]` entry titled [`TOKEN_FIELD_TITLE`] |
/// | `prospect` | `status == "Lead"` |
/// | `applied_at` | `createdAt` (required, RFC 3339) |
/// | `status` | `status` (required): `Hired` → `hired`, `Archived` → `archived`, `Active`/`Lead` → `active` |
/// | `stage` | `currentInterviewStage.title` |
///
/// Ashby credits a referral to an Ashby *user* (`creditedToUser`), not to
/// an employee id, so `credited_employee_id` stays empty here; our token
/// and the careers-site twin carry the attribution.
///
/// **Stage changes** (`candidateStageChange`, `candidateHire`) read the same
/// application (`candidate.id` and `job.id` optional) plus, on a hire,
/// `data.offer`: its `latestVersion.startDate` (an ISO date-time; its date
/// is the start date) and `decidedAt` (when it happened). A hire is
/// `status == "Hired"` as Ashby states it, not the event name.
///
/// **Offers** (`offerCreate`, `offerUpdate`, `offerDelete`) from
/// `data.offer`: `applicationId` (required); the start date only of an
/// offer whose `acceptanceStatus` is `Accepted` (a pending offer's date is a
/// proposal); `Declined` or `Cancelled`, and `offerDelete`, become the
/// status `offer_deleted`, which undoes a hire that rested on the offer.
///
/// **Merges**: `data.deletedCandidate.id` → `data.mergedCandidate.id`.
/// **Deletions**: `data.candidate.id`.
///
/// # Errors
///
/// * [`IntakeError::MalformedJson`]: the body is not JSON.
/// * [`IntakeError::InvalidField`]: `action` or a required field is
///   missing, an id is not a UUID, a status is not one Ashby documents, a
///   start date is not a date, or a field that is read has the wrong type.
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let action = root.req_str("action")?;
    let data = root.obj("data")?;
    match action {
        "applicationSubmit" | "applicationUpdate" => {
            application(action, &data.obj("application")?).map(IntakeEvent::Application)
        }
        "candidateStageChange" => stage_change(action, &data.obj("application")?, None),
        "candidateHire" => {
            stage_change(action, &data.obj("application")?, Some(&data.obj("offer")?))
        }
        "offerCreate" | "offerUpdate" | "offerDelete" => offer_change(action, &data.obj("offer")?),
        "candidateMerge" => Ok(IntakeEvent::CandidateMerged {
            from_candidate_id: uuid(&data.obj("deletedCandidate")?, "id")?,
            into_candidate_id: uuid(&data.obj("mergedCandidate")?, "id")?,
        }),
        "candidateDelete" => Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: uuid(&data.obj("candidate")?, "id")?,
        }),
        other => Ok(IntakeEvent::Ignored {
            event: other.to_owned(),
        }),
    }
}

fn application(action: &str, app: &Obj<'_>) -> Result<ApplicationEvent, IntakeError> {
    let ats_application_id = uuid(app, "id")?;
    let candidate = app.obj("candidate")?;
    let ats_candidate_id = uuid(&candidate, "id")?;
    let job_id = uuid(&app.obj("job")?, "id")?;
    let status_raw = app.req_str("status")?;
    let status = status(app, status_raw)?;
    let (first_name, last_name) = split_name(candidate.str("name")?);
    Ok(ApplicationEvent {
        source: Source::Ashby,
        event: action.to_owned(),
        ats: ATS,
        ats_candidate_id: Some(ats_candidate_id),
        ats_application_id,
        job_id,
        requisition_id: None,
        email: json::non_blank(candidate.obj("primaryEmailAddress")?.str("value")?),
        phone: json::non_blank(candidate.obj("primaryPhoneNumber")?.str("value")?),
        // Ashby gives no region for a phone; the identity module falls
        // back to the configured default.
        phone_region: None,
        first_name,
        last_name,
        referral_token: referral_token(app)?,
        credited_employee_id: None,
        prospect: status_raw == "Lead",
        applied_at: app.req_time("createdAt")?,
        status: Some(status.to_owned()),
        stage: stage_title(app)?,
        // Ashby sends only `job.departmentId` / `job.locationId`.
        department: None,
        location: None,
        // An application event carries no offer; hires and offer events
        // carry the start date (`StageChange::starts_at`).
        start_date: None,
        // Ashby's webhook carries no consent record of the applicant's.
        consent: None,
        changed_at: app.time_lenient("updatedAt"),
    })
}

fn stage_change(
    action: &str,
    app: &Obj<'_>,
    offer: Option<&Obj<'_>>,
) -> Result<IntakeEvent, IntakeError> {
    let ats_application_id = uuid(app, "id")?;
    let status = status(app, app.req_str("status")?)?;
    // A hire happened when its offer was decided; other changes when the
    // application was last updated.
    let changed_at = offer
        .and_then(|o| o.time_lenient("decidedAt"))
        .or_else(|| app.time_lenient("updatedAt"));
    Ok(IntakeEvent::StageChanged(StageChange {
        source: Source::Ashby,
        event: action.to_owned(),
        ats: ATS,
        ats_application_id,
        ats_candidate_id: opt_uuid(&app.obj("candidate")?, "id")?,
        job_id: opt_uuid(&app.obj("job")?, "id")?,
        stage: stage_title(app)?,
        status: Some(status.to_owned()),
        changed_at,
        starts_at: offer.map(start_date).transpose()?.flatten(),
        version: None,
    }))
}

fn offer_change(action: &str, offer: &Obj<'_>) -> Result<IntakeEvent, IntakeError> {
    let ats_application_id = uuid(offer, "applicationId")?;
    let acceptance = offer.str("acceptanceStatus")?;
    let withdrawn = action == "offerDelete" || matches!(acceptance, Some("Declined" | "Cancelled"));
    let accepted = action != "offerDelete" && acceptance == Some("Accepted");
    Ok(IntakeEvent::StageChanged(StageChange {
        source: Source::Ashby,
        event: action.to_owned(),
        ats: ATS,
        ats_application_id,
        ats_candidate_id: None,
        job_id: None,
        stage: None,
        status: withdrawn.then(|| "offer_deleted".to_owned()),
        // A new offer version (a moved start date) is created after the
        // offer was decided: the later of the two is this change's time.
        changed_at: latest([
            offer.time_lenient("decidedAt"),
            offer
                .obj("latestVersion")
                .ok()
                .and_then(|v| v.time_lenient("createdAt")),
        ]),
        starts_at: if accepted { start_date(offer)? } else { None },
        version: None,
    }))
}

/// The latest of the times given, `None` when none is.
fn latest<const N: usize>(times: [Option<DateTime<Utc>>; N]) -> Option<DateTime<Utc>> {
    times.into_iter().flatten().max()
}

/// Ashby's application `status` as our status text.
fn status(app: &Obj<'_>, raw: &str) -> Result<&'static str, IntakeError> {
    match raw {
        "Hired" => Ok("hired"),
        "Archived" => Ok("archived"),
        "Active" | "Lead" => Ok("active"),
        _ => Err(json::invalid(
            app.path_of("status"),
            "expected one of Hired, Archived, Active, Lead",
        )),
    }
}

fn stage_title(app: &Obj<'_>) -> Result<Option<String>, IntakeError> {
    Ok(json::non_blank(
        app.obj("currentInterviewStage")?.str("title")?,
    ))
}

/// `latestVersion.startDate` of `offer` as `YYYY-MM-DD`: Ashby documents a
/// date-time; a bare date is accepted too. Anything else is refused
/// rather than dropped, since a start date moves the probation timer.
fn start_date(offer: &Obj<'_>) -> Result<Option<String>, IntakeError> {
    let version = offer.obj("latestVersion")?;
    let Some(raw) = json::non_blank(version.str("startDate")?) else {
        return Ok(None);
    };
    let raw = raw.trim();
    let date = raw.get(..10).unwrap_or(raw);
    let well_formed = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
        && (raw.len() == 10 || chrono::DateTime::parse_from_rfc3339(raw).is_ok());
    if well_formed {
        Ok(Some(date.to_owned()))
    } else {
        Err(json::invalid(
            version.path_of("startDate"),
            "expected an ISO date or date-time",
        ))
    }
}

/// The `value` of the custom field titled like [`TOKEN_FIELD_TITLE`].
fn referral_token(app: &Obj<'_>) -> Result<Option<String>, IntakeError> {
    let wanted = title_key(TOKEN_FIELD_TITLE);
    for field in app.all("customFields")? {
        if field.str("title")?.map(title_key) == Some(wanted.clone()) {
            return Ok(json::non_blank(field.str("value")?).map(|t| t.trim().to_owned()));
        }
    }
    Ok(None)
}

/// A field title as it is compared: lowercase, without spaces, `_`, `-`.
pub(crate) fn title_key(title: &str) -> String {
    title
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `"José Almeida-Test"` → (`José`, `Almeida-Test`); one word is a first
/// name only.
fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => match name.rsplit_once(' ') {
            Some((first, last)) => (Some(first.trim().to_owned()), Some(last.to_owned())),
            None => (Some(name.to_owned()), None),
        },
        None => (None, None),
    }
}

/// Required UUID `key` of `obj`.
fn uuid(obj: &Obj<'_>, key: &str) -> Result<String, IntakeError> {
    let id = obj.req_id(key)?;
    check_uuid(obj, key, id)
}

/// Optional UUID `key` of `obj`.
fn opt_uuid(obj: &Obj<'_>, key: &str) -> Result<Option<String>, IntakeError> {
    obj.id(key)?.map(|id| check_uuid(obj, key, id)).transpose()
}

fn check_uuid(obj: &Obj<'_>, key: &str, id: String) -> Result<String, IntakeError> {
    // Only the hyphenated form Ashby sends (`uuid` also parses braces,
    // URNs and bare hex, which Ashby never writes).
    if id.len() == 36 && uuid::Uuid::try_parse(&id).is_ok() {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(json::invalid(obj.path_of(key), "expected a UUID"))
    }
}

fn bad(reason: &str) -> IntakeError {
    IntakeError::BadSignature(reason.to_owned())
}

#[cfg(test)]
mod tests;
