//! Greenhouse Recruiting webhooks.
//!
//! # The protocol
//!
//! Greenhouse POSTs `{"action": "<event>", "payload": {...}}` with two
//! headers that matter:
//!
//! * `Signature: sha256 <hex>`, where hex is `HMAC-SHA256(secret key, raw
//!   body)` in lowercase. The whole body is signed, so once [`verify`]
//!   passes, every field of the payload can be trusted.
//! * `Greenhouse-Event-ID`: unique per delivery. Nothing in the signature
//!   covers time, so Greenhouse has **no built-in replay protection**. The
//!   caller must store this id and refuse repeats.
//!
//! Greenhouse escapes non-ASCII and HTML characters (`Jos\u00e9`,
//! `\u003cp\u003e`) and signs the escaped text. [`verify`] must therefore
//! see the bytes exactly as they arrived. Parsing and re-serialising would
//! produce `José` and `<p>`, and the signature would no longer match.
//!
//! # What a delivery becomes
//!
//! | `action` | Event |
//! |---|---|
//! | `new_candidate_application`, `new_prospect_application`, `application_updated` | [`IntakeEvent::Application`] (or `Ignored` if the application has no job; see [`decode`]) |
//! | `candidate_stage_change`, `hire_candidate`, `unhire_candidate`, `reject_candidate`, `unreject_candidate` | [`IntakeEvent::StageChanged`] |
//! | `offer_created`, `offer_updated` (the start date), `offer_deleted` (status `offer_deleted`) | [`IntakeEvent::StageChanged`] |
//! | `merge_candidate` | [`IntakeEvent::CandidateMerged`] |
//! | `delete_application` | [`IntakeEvent::ApplicationDeleted`] |
//! | `candidate_anonymized` | [`IntakeEvent::CandidateAnonymized`] |
//! | anything else (including the `ping` sent when a webhook is saved) | [`IntakeEvent::Ignored`] |
//!
//! Greenhouse sends ids as JSON numbers. They come out as strings
//! (`120450001` → `"120450001"`), the same as other sources' ids. Field
//! paths in errors start at the body root (`payload.application.id`).

use entities::states::Ats;

use crate::connectors::{
    json::{self, Obj},
    signature,
};
use crate::intake::event::{ApplicationEvent, IntakeError, IntakeEvent, Source, StageChange};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Signature";

/// The header that carries the per-delivery id (the replay/dedupe key).
pub const EVENT_ID_HEADER: &str = "Greenhouse-Event-ID";

/// The `ats` value of Greenhouse events.
const ATS: Ats = Ats::Greenhouse;

/// Checks the `Signature` header (`sha256 <hex>`) of a Greenhouse delivery
/// against `HMAC-SHA256(secret, body)`.
///
/// `body` must be the raw request bytes. The MAC comparison runs in
/// constant time. This check does not stop replays (see the module docs):
/// dedupe on [`EVENT_ID_HEADER`].
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
        return Err(bad("no Greenhouse secret key is configured"));
    }
    let header = signature_header.ok_or_else(|| bad("missing Signature header"))?;
    let mut parts = header.split_whitespace();
    let (Some(algorithm), Some(claimed), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("Signature header is not of the form `sha256 <hex>`"));
    };
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(bad("Signature header names an algorithm other than sha256"));
    }
    if signature::hmac_sha256_hex_matches(secret, &[body], claimed) {
        Ok(())
    } else {
        Err(bad("Signature does not match the body"))
    }
}

/// The `Signature` header value Greenhouse sends for `body` under
/// `secret`: `sha256 <lowercase hex HMAC-SHA256>`. What [`verify`] checks;
/// `referral-worker demo` signs its fake Greenhouse's deliveries with it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = signature::hmac_sha256(secret);
    mac.update(body);
    format!("sha256 {}", hex::encode(mac.finalize().into_bytes()))
}

/// Decodes a verified Greenhouse body.
///
/// **Applications** (`new_candidate_application`,
/// `new_prospect_application`, `application_updated`), all under
/// `payload.application`:
///
/// | Event field | Greenhouse field |
/// |---|---|
/// | `ats_application_id` | `id` (required) |
/// | `ats_candidate_id` | `candidate.id`, else `candidate_id` |
/// | `job_id`, `requisition_id` | `jobs[0].id` (required), `jobs[0].requisition_id`; the deprecated `job` if `jobs` is empty |
/// | `email` | the first non-blank `candidate.email_addresses[].value` of type `personal`, else the first one |
/// | `phone` | the same over `candidate.phone_numbers[]`, preferring `mobile` |
/// | `first_name`, `last_name` | `candidate.first_name`, `candidate.last_name` |
/// | `referral_token` | `custom_fields.referral_token.value`, else the same on `candidate` |
/// | `credited_employee_id` | `credited_to.employee_id` |
/// | `prospect` | `prospect` (default: whether the action is `new_prospect_application`) |
/// | `applied_at` | `applied_at` (required, RFC 3339) |
/// | `status`, `stage` | `status`, `current_stage.name` |
/// | `department`, `location` | the job's `departments[0].name`, `offices[0].name` |
///
/// Email and phone are raw (`Jose.Almeida+jobs@Example.org`, free-text
/// phones such as `911`). The identity module canonicalises them and
/// refuses dummy values.
///
/// An application with **no job at all** (`jobs: []` and no `job`) becomes
/// [`IntakeEvent::Ignored`]. Greenhouse sends this for prospects (0..n jobs)
/// and in its own `application_updated` example, and
/// [`ApplicationEvent::job_id`] cannot be empty. Once a job is added,
/// Greenhouse sends the facts again with one.
///
/// **Stage changes** (`candidate_stage_change`, `hire_candidate`,
/// `unhire_candidate`, `reject_candidate`, `unreject_candidate`) use the
/// same ids (all optional except `id`). They also carry `status`,
/// `current_stage.name`, `offer.starts_at` (raw `YYYY-MM-DD`, the start
/// date probation counts from) and `changed_at`. For `changed_at` the
/// event's own time comes first (`offer.resolved_at` on a hire,
/// `rejected_at` on a rejection), then `last_activity_at`. It is `None` if
/// neither is readable, and the caller then uses the delivery time.
/// `unreject_candidate` is included so that a rejection can be undone.
///
/// **Merges**: `payload.person.id` → `payload.person.new_candidate_id`.
/// **Deleted applications**: `payload.application.{id, candidate_id,
/// job_id}`. **Anonymisation**: `payload.candidate_id`.
///
/// # Errors
///
/// * [`IntakeError::MalformedJson`]: the body is not JSON.
/// * [`IntakeError::InvalidField`]: `action` or a required field is
///   missing, or a field that is read has the wrong type. `field` is the
///   dotted path from the body root.
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let action = root.req_str("action")?;
    let payload = root.obj("payload")?;
    match action {
        "new_candidate_application" | "new_prospect_application" | "application_updated" => {
            application(action, &payload.obj("application")?)
        }
        "candidate_stage_change"
        | "hire_candidate"
        | "unhire_candidate"
        | "reject_candidate"
        | "unreject_candidate" => stage_change(action, &payload.obj("application")?),
        "offer_created" | "offer_updated" | "offer_deleted" => offer_change(action, &payload),
        "merge_candidate" => {
            let person = payload.obj("person")?;
            Ok(IntakeEvent::CandidateMerged {
                from_candidate_id: person.req_num_id("id")?,
                into_candidate_id: person.req_num_id("new_candidate_id")?,
            })
        }
        "delete_application" => {
            let app = payload.obj("application")?;
            Ok(IntakeEvent::ApplicationDeleted {
                application_id: app.req_num_id("id")?,
                candidate_id: app.num_id("candidate_id")?,
                job_id: app.num_id("job_id")?,
            })
        }
        "candidate_anonymized" => Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: payload.req_num_id("candidate_id")?,
        }),
        other => Ok(IntakeEvent::Ignored {
            event: other.to_owned(),
        }),
    }
}

fn application(action: &str, app: &Obj<'_>) -> Result<IntakeEvent, IntakeError> {
    let ats_application_id = app.req_num_id("id")?;
    let job = primary_job(app)?;
    if !job.is_present() {
        return Ok(IntakeEvent::Ignored {
            event: action.to_owned(),
        });
    }
    let job_id = job.req_num_id("id")?;
    let candidate = app.obj("candidate")?;
    // Every application belongs to a candidate: one without is not a
    // Greenhouse delivery we can attribute or write back to.
    let ats_candidate_id = candidate_id(app, &candidate)?
        .ok_or_else(|| json::invalid(app.path_of("candidate"), "missing"))?;

    // Custom fields on applications are an Enterprise-tier feature, so some
    // customers can only put the token on the candidate. The key is the
    // field's immutable slug: renaming the field in Greenhouse keeps
    // `referral_token`.
    let referral_token = match referral_token(app)? {
        Some(token) => Some(token),
        None => referral_token(&candidate)?,
    };

    Ok(IntakeEvent::Application(ApplicationEvent {
        source: Source::Greenhouse,
        event: action.to_owned(),
        ats: ATS,
        ats_candidate_id: Some(ats_candidate_id),
        ats_application_id,
        job_id,
        requisition_id: job.id("requisition_id")?,
        email: preferred_value(&candidate.all("email_addresses")?, "personal")?,
        phone: preferred_value(&candidate.all("phone_numbers")?, "mobile")?,
        // Greenhouse gives no region for a phone. The identity module falls
        // back to the office's country.
        phone_region: None,
        first_name: owned(candidate.str("first_name")?),
        last_name: owned(candidate.str("last_name")?),
        referral_token,
        credited_employee_id: app.obj("credited_to")?.id("employee_id")?,
        prospect: app
            .bool("prospect")?
            .unwrap_or(action == "new_prospect_application"),
        applied_at: app.req_time("applied_at")?,
        status: owned(app.str("status")?),
        stage: owned(app.obj("current_stage")?.str("name")?),
        department: owned(job.first("departments")?.str("name")?),
        location: owned(job.first("offices")?.str("name")?),
        start_date: None,
        consent: None,
        changed_at: app.time_lenient("last_activity_at"),
    }))
}

fn stage_change(action: &str, app: &Obj<'_>) -> Result<IntakeEvent, IntakeError> {
    let ats_application_id = app.req_num_id("id")?;
    let candidate = app.obj("candidate")?;
    let offer = app.obj("offer")?;
    let own_time = match action {
        "hire_candidate" => offer.time_lenient("resolved_at"),
        "reject_candidate" => app.time_lenient("rejected_at"),
        _ => None,
    };
    Ok(IntakeEvent::StageChanged(StageChange {
        source: Source::Greenhouse,
        event: action.to_owned(),
        ats: ATS,
        ats_application_id,
        ats_candidate_id: candidate_id(app, &candidate)?,
        job_id: primary_job(app)?.num_id("id")?,
        stage: owned(app.obj("current_stage")?.str("name")?),
        status: owned(app.str("status")?),
        changed_at: own_time.or_else(|| app.time_lenient("last_activity_at")),
        starts_at: start_date(&offer, "starts_at")?,
        version: offer.int("version")?,
    }))
}

/// An offer event: the offer's fields sit in `payload` itself (some
/// accounts nest them under `payload.offer`). The start date is
/// `start_date` (`starts_at` in the application's embedded offer); a
/// deleted offer is reported with the status `offer_deleted`, which undoes
/// a hire that rested on it.
fn offer_change(action: &str, payload: &Obj<'_>) -> Result<IntakeEvent, IntakeError> {
    let nested = payload.obj("offer")?;
    let offer = if nested.is_present() {
        nested
    } else {
        payload.clone()
    };
    let starts_at = match start_date(&offer, "start_date")? {
        Some(date) => Some(date),
        None => start_date(&offer, "starts_at")?,
    };
    Ok(IntakeEvent::StageChanged(StageChange {
        source: Source::Greenhouse,
        event: action.to_owned(),
        ats: ATS,
        ats_application_id: offer.req_num_id("application_id")?,
        ats_candidate_id: offer.num_id("candidate_id")?,
        job_id: offer.num_id("job_id")?,
        stage: None,
        status: (action == "offer_deleted").then(|| "offer_deleted".to_owned()),
        changed_at: offer.time_lenient("updated_at"),
        starts_at,
        version: offer.int("version")?,
    }))
}

/// `jobs[0]`, or the deprecated `job` object if `jobs` is empty or absent
/// (an absent [`Obj`] if neither exists).
fn primary_job<'a>(app: &Obj<'a>) -> Result<Obj<'a>, IntakeError> {
    let first = app.first("jobs")?;
    if first.is_present() {
        Ok(first)
    } else {
        app.obj("job")
    }
}

/// `candidate.id`, else the flat `candidate_id` that some payloads carry.
fn candidate_id(app: &Obj<'_>, candidate: &Obj<'_>) -> Result<Option<String>, IntakeError> {
    match candidate.num_id("id")? {
        Some(id) => Ok(Some(id)),
        None => app.num_id("candidate_id"),
    }
}

/// A start date `key` of `offer` as `YYYY-MM-DD`. Greenhouse documents
/// `MM/DD/YYYY` for the offer events' `start_date` and `YYYY-MM-DD` for
/// the embedded offer's `starts_at`; both are read, a date-time is cut to
/// its date, and anything else is refused by path rather than dropped (a
/// dropped date would leave the probation timer on the old day).
fn start_date(offer: &Obj<'_>, key: &str) -> Result<Option<String>, IntakeError> {
    let Some(raw) = json::non_blank(offer.str(key)?) else {
        return Ok(None);
    };
    let raw = raw.trim();
    let day = chrono::NaiveDate::parse_from_str(raw.get(..10).unwrap_or(raw), "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(raw, "%m/%d/%Y"))
        .map_err(|_| {
            json::invalid(
                offer.path_of(key),
                "expected a date as YYYY-MM-DD or MM/DD/YYYY",
            )
        })?;
    Ok(Some(day.format("%Y-%m-%d").to_string()))
}

/// `custom_fields.referral_token.value` of `owner`, if set.
fn referral_token(owner: &Obj<'_>) -> Result<Option<String>, IntakeError> {
    let field = owner
        .map_or_empty_array("custom_fields")?
        .obj("referral_token")?;
    Ok(json::non_blank(field.str("value")?))
}

/// The first non-blank `value` whose `type` is `preferred` (compared
/// ignoring case and surrounding spaces: Greenhouse's own example has
/// `"type": "other "`), else the first non-blank `value`.
fn preferred_value(entries: &[Obj<'_>], preferred: &str) -> Result<Option<String>, IntakeError> {
    let mut fallback = None;
    for entry in entries {
        let Some(value) = json::non_blank(entry.str("value")?) else {
            continue;
        };
        if entry
            .str("type")?
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(preferred))
        {
            return Ok(Some(value));
        }
        fallback.get_or_insert(value);
    }
    Ok(fallback)
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

fn bad(reason: &str) -> IntakeError {
    IntakeError::BadSignature(reason.to_owned())
}

#[cfg(test)]
mod tests;
