//! Deliveries from our own careers site, signed with Standard Webhooks.
//!
//! # The protocol
//!
//! [Standard Webhooks](https://www.standardwebhooks.com/) (spec v1) is
//! the scheme Svix and others use, and we use it outbound too. A delivery
//! carries three headers:
//!
//! * `webhook-id`: the message id. It stays the same across retries, so it
//!   is the **delivery id** to dedupe on. [`verify`] returns it.
//! * `webhook-timestamp`: Unix seconds when *this attempt* was signed.
//! * `webhook-signature`: a space-separated list such as `v1,<base64>
//!   v1,<base64>`. During a secret rotation the sender signs with the old
//!   and the new secret, and any one valid `v1` entry is enough.
//!
//! The signature is `base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`,
//! where `key` is the base64-decoded secret after its `whsec_` prefix.
//! Because the timestamp is signed, a captured delivery cannot be replayed
//! later with a fresh timestamp. Deliveries more than five minutes old
//! (or early) are refused, and the caller dedupes on the id inside that
//! window.
//!
//! # Why we call `Webhook::sign` and not `Webhook::verify`
//!
//! The secret format and the HMAC come from the `standardwebhooks` crate,
//! which has been checked against other implementations (the tests verify
//! a signature from `signatures.json` that was made elsewhere). Its
//! `verify` in 1.0.1 is not used, for three reasons:
//!
//! * it takes an `http::HeaderMap`, and this crate has no HTTP dependency;
//! * it always reads the wall clock (`verify_with_timestamp` arrived
//!   later), so a fixed, recorded delivery could not be tested;
//! * it computes `now - timestamp` unchecked. A `webhook-timestamp` of
//!   `-9223372036854775808` makes that overflow: debug builds panic, and
//!   release builds wrap around and accept the timestamp as fresh.
//!
//! So [`verify_at`] reads the headers itself, signs with the crate, and
//! compares in constant time. It checks freshness with `abs_diff`, which
//! cannot overflow, using the same five-minute tolerance as the crate.
//!
//! # What a delivery becomes
//!
//! [`decode`] turns an `application.submitted` body into
//! [`IntakeEvent::Application`], an `application.status_changed` body (the
//! generic JSON any ATS without a connector of its own can send: `hired`,
//! `rejected`, a stage, a start date) into [`IntakeEvent::StageChanged`],
//! and every other `type` into [`IntakeEvent::Ignored`]. Email and phone are kept exactly as the
//! applicant typed them (`" Jose.Almeida+jobs@Example.org "`). The identity
//! module canonicalises them later and keeps the raw value beside the
//! canonical one.

use chrono::Utc;
use entities::states::Ats;
use sea_orm::ActiveEnum;
use standardwebhooks::{
    HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP, Webhook,
};
use subtle::ConstantTimeEq;

use crate::connectors::{
    json::{self, Obj},
    signature::HeaderLookup,
};
use crate::intake::event::{
    ApplicationEvent, Consent, IntakeError, IntakeEvent, Source, StageChange,
};
use crate::outbound::webhook::standard_webhook;

/// How far `webhook-timestamp` may be from now, either way, in seconds
/// (the crate's and the spec libraries' five minutes).
pub const TOLERANCE_SECS: u64 = 5 * 60;

pub use crate::outbound::webhook::MIN_SECRET_BYTES;

/// The event type [`decode`] maps to an application.
pub const APPLICATION_SUBMITTED: &str = "application.submitted";

/// The event type [`decode`] maps to a stage or status change:
///
/// ```json
/// {"type": "application.status_changed", "changed_at": "2026-01-05T09:00:00Z",
///  "application": {"id": "sub_…", "ats": "careers_site", "status": "hired",
///                  "stage": "Hired", "start_date": "2026-02-01"}}
/// ```
///
/// `application.id` is the application's id in its ATS; `ats` defaults to
/// `careers_site`. An application submitted through our careers site is
/// stored under `careers_site` and its `submission_id`, whatever its
/// `job.ats` says, so it is addressed that way here too.
/// The start date's field is configurable ([`decode_with`]).
pub const APPLICATION_STATUS_CHANGED: &str = "application.status_changed";

/// The default field of the start date in `application.status_changed`.
pub const DEFAULT_START_DATE_FIELD: &str = "start_date";

/// Checks that `secret` is a usable Standard Webhooks secret: `whsec_`
/// (optional) followed by base64 of at least [`MIN_SECRET_BYTES`] bytes.
///
/// [`verify`] runs the same check on every delivery. Call it at startup
/// too, so that a bad configuration fails the boot instead of every
/// delivery failing with 401.
///
/// # Errors
///
/// [`IntakeError::BadSignature`] saying what is wrong with the secret
/// (never the secret itself).
pub fn validate_secret(secret: &str) -> Result<(), IntakeError> {
    webhook(secret).map(|_| ())
}

/// Verifies a careers-site delivery against the wall clock. See
/// [`verify_at`].
///
/// # Errors
///
/// As [`verify_at`].
pub fn verify<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
) -> Result<String, IntakeError> {
    verify_at(secret, headers, body, Utc::now().timestamp())
}

/// Verifies a careers-site delivery as of `now_unix` (seconds). On success
/// it returns the `webhook-id`, the delivery id to dedupe on.
///
/// `headers` is any [`HeaderLookup`]: pairs, or a closure over a header
/// map. Names are matched ignoring case.
///
/// The signature is checked before the timestamp. An unauthenticated
/// caller then only ever sees `BadSignature`, and `Stale` in the logs
/// always means "authentic but late", i.e. a replay or a very slow retry.
///
/// # Errors
///
/// * [`IntakeError::BadSignature`]: the secret is unusable, a header is
///   missing or malformed, the body is not UTF-8 (Standard Webhooks signs
///   text), or no `v1` signature matches.
/// * [`IntakeError::Stale`]: authentic, but `webhook-timestamp` is more
///   than [`TOLERANCE_SECS`] away from `now_unix`.
pub fn verify_at<H: HeaderLookup + ?Sized>(
    secret: &str,
    headers: &H,
    body: &[u8],
    now_unix: i64,
) -> Result<String, IntakeError> {
    let webhook = webhook(secret)?;
    let id = required_header(headers, HEADER_WEBHOOK_ID)?;
    let timestamp_text = required_header(headers, HEADER_WEBHOOK_TIMESTAMP)?;
    let signatures = required_header(headers, HEADER_WEBHOOK_SIGNATURE)?;

    // The spec forbids `.` in the id because it separates the signed
    // parts. The id is also our dedupe key, so an empty one is useless.
    if id.is_empty() || id.contains('.') {
        return Err(bad("webhook-id must be non-empty and must not contain '.'"));
    }
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| bad("webhook-timestamp is not an integer number of seconds"))?;

    // The crate yields "v1,<base64>". The header's entries have the same
    // form, so the base64 text is compared directly, as the crate does.
    let expected = webhook
        .sign(&id, timestamp, body)
        .map_err(|_| bad("body is not UTF-8, so it cannot carry a Standard Webhooks signature"))?;
    let expected = expected
        .split_once(',')
        .map_or(expected.as_str(), |(_, b64)| b64);
    let matches = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .any(|(_, candidate)| bool::from(candidate.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return Err(bad("no v1 signature in webhook-signature matches"));
    }

    let skew = now_unix.abs_diff(timestamp);
    if skew > TOLERANCE_SECS {
        let when = if timestamp < now_unix {
            "old"
        } else {
            "in the future"
        };
        return Err(IntakeError::Stale(format!(
            "webhook-timestamp is {skew}s {when}; tolerance is {TOLERANCE_SECS}s"
        )));
    }
    Ok(id)
}

/// Decodes a verified careers-site body.
///
/// `application.submitted` becomes [`IntakeEvent::Application`]:
///
/// | Event field | Body field |
/// |---|---|
/// | `ats` | `job.ats`, default `careers_site` |
/// | `ats_application_id` | `submission_id` (required) |
/// | `job_id` | `job.ats_job_id` (required) |
/// | `applied_at` | `submitted_at` (required, RFC 3339) |
/// | `email`, `phone` | `applicant.email`, `applicant.phone`, raw; at least one required |
/// | `phone_region` | `applicant.phone_country_hint` |
/// | `first_name`, `last_name` | `applicant.first_name`, `applicant.last_name` |
/// | `referral_token` | `tracking.ref` |
/// | `location` | `job.location` |
/// | `consent` | `consent` (flags and `privacy_notice_version`; optional) |
///
/// The careers site knows no ATS candidate id, credited employee, stage,
/// status or department, so those are `None`, and `prospect` is `false`.
/// A blank (whitespace-only) email, phone or token counts as absent.
///
/// Any other `type` becomes [`IntakeEvent::Ignored`], and nothing beyond
/// `type` is checked.
///
/// # Errors
///
/// * [`IntakeError::MalformedJson`]: the body is not JSON.
/// * [`IntakeError::InvalidField`]: a required field is missing, or a
///   field that is read has the wrong type. `field` is the dotted path
///   (`job.ats_job_id`).
pub fn decode(body: &[u8]) -> Result<IntakeEvent, IntakeError> {
    decode_with(body, DEFAULT_START_DATE_FIELD)
}

/// [`decode`], reading an `application.status_changed` start date from
/// `start_date_field` (`[milestones] start_date_field`).
///
/// # Errors
/// As [`decode`].
pub fn decode_with(body: &[u8], start_date_field: &str) -> Result<IntakeEvent, IntakeError> {
    let value = json::parse(body)?;
    let root = Obj::root(&value)?;
    let kind = root.req_str("type")?;
    if kind == APPLICATION_STATUS_CHANGED {
        let app = root.obj("application")?;
        let start = json::non_blank(app.str(start_date_field)?);
        let mut start_day = None;
        if let Some(date) = &start {
            // `YYYY-MM-DD` or an RFC 3339 time; probation counts from the
            // date. The shape is checked byte by byte before chrono reads it
            // (chrono skips leading whitespace and takes unpadded numbers),
            // so the ten bytes checked are exactly the ten bytes stored.
            let day = date.get(..10).unwrap_or("");
            let shaped = day.len() == 10
                && day.bytes().enumerate().all(|(i, b)| match i {
                    4 | 7 => b == b'-',
                    _ => b.is_ascii_digit(),
                });
            if !shaped || chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() {
                return Err(json::invalid(
                    app.path_of(start_date_field),
                    "must be a date (YYYY-MM-DD) or an RFC 3339 time",
                ));
            }
            start_day = Some(day.to_owned());
        }
        let status = json::non_blank(app.str("status")?);
        if let Some(s) = &status
            && !["active", "hired", "rejected", "withdrawn"].contains(&s.as_str())
        {
            return Err(json::invalid(
                app.path_of("status"),
                "must be one of active, hired, rejected, withdrawn",
            ));
        }
        return Ok(IntakeEvent::StageChanged(StageChange {
            source: Source::CareersSite,
            event: APPLICATION_STATUS_CHANGED.to_owned(),
            ats: ats_named(app.str("ats")?),
            ats_application_id: app.req_id("id")?,
            ats_candidate_id: app.id("candidate_id")?,
            job_id: app.id("job_id")?,
            stage: json::non_blank(app.str("stage")?),
            status,
            changed_at: root.time_lenient("changed_at"),
            starts_at: start_day,
            version: None,
        }));
    }
    if kind != APPLICATION_SUBMITTED {
        return Ok(IntakeEvent::Ignored {
            event: kind.to_owned(),
        });
    }

    let submission_id = root.req_id("submission_id")?;
    let submitted_at = root.req_time("submitted_at")?;
    let job = root.obj("job")?;
    let job_id = job.req_id("ats_job_id")?;
    let applicant = root.obj("applicant")?;
    let email = json::non_blank(applicant.str("email")?);
    let phone = json::non_blank(applicant.str("phone")?);
    if email.is_none() && phone.is_none() {
        // Without either there is nobody to match against the ATS.
        return Err(json::invalid(
            applicant.path_of("email"),
            "missing, and so is applicant.phone; at least one is required",
        ));
    }
    let tracking = root.obj("tracking")?;
    let consent = consent_of(&root.obj("consent")?)?;
    // A test submission (`golive-check`); its flag is read by [`is_test`].
    root.bool("test")?;

    Ok(IntakeEvent::Application(ApplicationEvent {
        source: Source::CareersSite,
        event: APPLICATION_SUBMITTED.to_owned(),
        ats: ats_named(job.str("ats")?),
        ats_candidate_id: None,
        ats_application_id: submission_id,
        job_id,
        requisition_id: None,
        email,
        phone,
        phone_region: json::non_blank(applicant.str("phone_country_hint")?),
        first_name: applicant.str("first_name")?.map(str::to_owned),
        last_name: applicant.str("last_name")?.map(str::to_owned),
        referral_token: json::non_blank(tracking.str("ref")?),
        credited_employee_id: None,
        prospect: false,
        applied_at: submitted_at,
        status: None,
        stage: None,
        department: None,
        location: job.str("location")?.map(str::to_owned),
        start_date: None,
        consent,
        changed_at: Some(submitted_at),
    }))
}

/// `consent`: the flags and the notice version, each optional; a flag of
/// the wrong type is refused (422) like any other field. The IP address
/// and user agent beside them are not read (not kept; see
/// `entities::consent`).
fn consent_of(consent: &Obj<'_>) -> Result<Option<Consent>, IntakeError> {
    if !consent.is_present() {
        return Ok(None);
    }
    Ok(Some(Consent {
        privacy_notice_version: json::non_blank(consent.str("privacy_notice_version")?),
        processing: consent.bool("processing")?,
        retention: consent.bool("retention")?,
        referral_data_sharing: consent.bool("referral_data_sharing")?,
    }))
}

/// The ATS a delivery names (`job.ats`, `application.ats`): the careers
/// site itself when blank or absent; an ATS without a connector of its own
/// is `generic` (it speaks this generic format).
fn ats_named(name: Option<&str>) -> Ats {
    match json::non_blank(name) {
        None => Ats::CareersSite,
        Some(name) => Ats::try_from_value(&name).unwrap_or(Ats::Generic),
    }
}

/// Whether a careers-site `application.submitted` body is marked as a test
/// submission (top-level `"test": true`, as `referral-worker golive-check`
/// sends): its candidate, referral and payouts are then `is_test` and left
/// out of exports and KPIs. [`decode`] refuses a `test` that is not a
/// boolean (422); anything unreadable here counts as not a test.
pub fn is_test(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("test").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// The secret as a signer: the same check as the webhook sender's
/// ([`crate::outbound::webhook::standard_webhook`]).
fn webhook(secret: &str) -> Result<Webhook, IntakeError> {
    standard_webhook(secret).map_err(bad)
}

fn required_header<H: HeaderLookup + ?Sized>(
    headers: &H,
    name: &str,
) -> Result<String, IntakeError> {
    headers
        .header(name)
        .ok_or_else(|| bad(format!("missing {name} header")))
}

fn bad(reason: impl Into<String>) -> IntakeError {
    IntakeError::BadSignature(reason.into())
}

#[cfg(test)]
mod tests;
