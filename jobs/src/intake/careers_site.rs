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
use standardwebhooks::{
    HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP, Webhook,
};
use subtle::ConstantTimeEq;

use super::signature::HeaderLookup;
use super::signature::json::{self, Obj};
use super::{ApplicationEvent, IntakeError, IntakeEvent, Source, StageChange};
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
            ats: json::non_blank(app.str("ats")?).unwrap_or_else(|| "careers_site".to_owned()),
            ats_application_id: app.req_id("id")?,
            ats_candidate_id: app.id("candidate_id")?,
            job_id: app.id("job_id")?,
            stage: json::non_blank(app.str("stage")?),
            status,
            changed_at: root.time_lenient("changed_at"),
            starts_at: start_day,
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
    // A test submission (`golive-check`); its flag is read by [`is_test`].
    root.bool("test")?;

    Ok(IntakeEvent::Application(ApplicationEvent {
        source: Source::CareersSite,
        event: APPLICATION_SUBMITTED.to_owned(),
        ats: json::non_blank(job.str("ats")?).unwrap_or_else(|| "careers_site".to_owned()),
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
    }))
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
mod tests {
    use base64::Engine as _;
    use chrono::{DateTime, TimeZone};
    use proptest::prelude::*;

    use super::*;
    use crate::intake::signature::test_support::{self, mutated, payload, payload_files, signed};

    /// A test-only secret: base64 of 31 bytes.
    const SECRET: &str = "whsec_Y2FyZWVycy1zaXRlLXRlc3Qtb25seS1zZWNyZXQhIQ==";
    const MSG_ID: &str = "msg_2nVq8m1c0QZb7D3xR5tY9uWz";
    /// 2025-09-02T10:15:30Z, a second after the sample's `submitted_at`.
    const SENT_AT: i64 = 1_756_808_130;
    const SAMPLE: &str = "careers_site_application_submitted.json";

    /// Headers of a delivery of `body` signed with `secret` at `timestamp`.
    fn signed_headers(
        secret: &str,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let signature = Webhook::new(secret)
            .unwrap()
            .sign(id, timestamp, body)
            .unwrap();
        vec![
            ("Webhook-Id".to_owned(), id.to_owned()),
            ("Webhook-Timestamp".to_owned(), timestamp.to_string()),
            ("Webhook-Signature".to_owned(), signature),
        ]
    }

    fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    }

    fn replaced(headers: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
        let mut out = without(headers, name);
        out.push((name.to_owned(), value.to_owned()));
        out
    }

    fn is_bad_signature(result: &Result<String, IntakeError>) -> bool {
        matches!(result, Err(IntakeError::BadSignature(_)))
    }

    #[test]
    fn every_careers_site_payload_verifies_over_its_exact_bytes() {
        let files = payload_files("careers_site_");
        assert!(!files.is_empty());
        for name in files {
            // The careers-site samples carry no recorded signature (our own
            // site signs at send time), so sign the exact file bytes here.
            let body = payload(&name);
            let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
            assert_eq!(
                verify_at(SECRET, &headers, &body, SENT_AT + 2).unwrap(),
                MSG_ID,
                "{name}"
            );
            decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn verifies_a_signature_made_by_another_implementation() {
        // The outbound sample in signatures.json was signed elsewhere.
        // Checking it proves we agree with other Standard Webhooks
        // implementations, not just with ourselves.
        let name = "outbound_referral_milestone_reached.json";
        let body = payload(name);
        let fixture = signed(name);
        let secret = fixture.secret.clone().unwrap();
        let timestamp: i64 = fixture.header("webhook-timestamp").parse().unwrap();
        let id = verify_at(&secret, &fixture.headers, &body, timestamp + 60).unwrap();
        assert_eq!(id, "msg_2nVq8m1c0QZb7D3xR5tY9uWk");
        // The wall clock is far from that timestamp, so the live entry
        // point must call it stale, not bad.
        if Utc::now().timestamp().abs_diff(timestamp) > TOLERANCE_SECS {
            assert!(matches!(
                verify(&secret, &fixture.headers, &body),
                Err(IntakeError::Stale(_))
            ));
        }
    }

    #[test]
    fn verify_uses_the_wall_clock() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, Utc::now().timestamp(), &body);
        assert_eq!(verify(SECRET, &headers, &body).unwrap(), MSG_ID);
    }

    #[test]
    fn accepts_any_matching_entry_during_secret_rotation() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        let ours = headers[2].1.clone();
        let rotated = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {ours} v1a,ignored");
        let headers = replaced(&headers, "webhook-signature", &rotated);
        assert_eq!(verify_at(SECRET, &headers, &body, SENT_AT).unwrap(), MSG_ID);
    }

    #[test]
    fn a_flipped_body_byte_is_a_bad_signature() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        for index in [0, body.len() / 2, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[index] ^= 0x01;
            assert!(is_bad_signature(&verify_at(
                SECRET, &headers, &tampered, SENT_AT
            )));
        }
    }

    #[test]
    fn a_changed_id_or_timestamp_is_a_bad_signature() {
        // Both are signed. Otherwise an attacker could refresh the
        // timestamp of a captured delivery, or dodge dedupe with a new id.
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        let new_id = replaced(&headers, "webhook-id", "msg_other");
        assert!(is_bad_signature(&verify_at(
            SECRET, &new_id, &body, SENT_AT
        )));
        let new_ts = replaced(&headers, "webhook-timestamp", &(SENT_AT + 1).to_string());
        assert!(is_bad_signature(&verify_at(
            SECRET, &new_ts, &body, SENT_AT
        )));
    }

    #[test]
    fn each_missing_header_is_a_bad_signature() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let result = verify_at(SECRET, &without(&headers, name), &body, SENT_AT);
            assert_eq!(result, Err(bad(format!("missing {name} header"))));
        }
    }

    #[test]
    fn malformed_headers_are_bad_signatures() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        for (name, value) in [
            ("webhook-timestamp", "soon"),
            ("webhook-timestamp", "1756808130.5"),
            ("webhook-id", ""),
            ("webhook-id", "a.b"),
            ("webhook-signature", ""),
            ("webhook-signature", "v1,"),
            ("webhook-signature", "v2,whatever"),
        ] {
            let result = verify_at(SECRET, &replaced(&headers, name, value), &body, SENT_AT);
            assert!(
                is_bad_signature(&result),
                "{name}: {value:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn a_wrong_or_unusable_secret_is_a_bad_signature() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        let other = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";
        assert!(is_bad_signature(&verify_at(
            other, &headers, &body, SENT_AT
        )));
        for unusable in ["", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="] {
            assert!(validate_secret(unusable).is_err(), "{unusable:?}");
            assert!(is_bad_signature(&verify_at(
                unusable, &headers, &body, SENT_AT
            )));
        }
        assert!(validate_secret(SECRET).is_ok());
        // The prefix is optional, as in the crate.
        assert!(validate_secret(SECRET.trim_start_matches("whsec_")).is_ok());
    }

    #[test]
    fn a_non_utf8_body_is_a_bad_signature() {
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, b"{}");
        assert_eq!(
            verify_at(SECRET, &headers, &[0xff, 0xfe], SENT_AT),
            Err(bad(
                "body is not UTF-8, so it cannot carry a Standard Webhooks signature"
            ))
        );
    }

    #[test]
    fn old_and_future_timestamps_are_stale_only_beyond_the_tolerance() {
        let body = payload(SAMPLE);
        let headers = signed_headers(SECRET, MSG_ID, SENT_AT, &body);
        let limit = i64::try_from(TOLERANCE_SECS).unwrap();
        assert!(verify_at(SECRET, &headers, &body, SENT_AT + limit).is_ok());
        assert!(verify_at(SECRET, &headers, &body, SENT_AT - limit).is_ok());
        assert_eq!(
            verify_at(SECRET, &headers, &body, SENT_AT + limit + 1),
            Err(IntakeError::Stale(
                "webhook-timestamp is 301s old; tolerance is 300s".into()
            ))
        );
        assert_eq!(
            verify_at(SECRET, &headers, &body, SENT_AT - limit - 1),
            Err(IntakeError::Stale(
                "webhook-timestamp is 301s in the future; tolerance is 300s".into()
            ))
        );
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        // `Webhook::verify` in standardwebhooks 1.0.1 panics (debug) or
        // accepts (release) a validly signed i64::MIN timestamp.
        let body = payload(SAMPLE);
        for ts in [i64::MIN, i64::MAX, 0, -1] {
            let headers = signed_headers(SECRET, MSG_ID, ts, &body);
            for now in [i64::MIN, 0, SENT_AT, i64::MAX] {
                let result = verify_at(SECRET, &headers, &body, now);
                if ts.abs_diff(now) <= TOLERANCE_SECS {
                    assert_eq!(result.as_deref(), Ok(MSG_ID));
                } else {
                    assert!(
                        matches!(result, Err(IntakeError::Stale(_))),
                        "ts {ts} now {now}"
                    );
                }
            }
        }
    }

    #[test]
    fn decodes_the_sample_application() {
        let event = decode(&payload(SAMPLE)).unwrap();
        let IntakeEvent::Application(app) = event else {
            panic!("expected an application, got {event:?}");
        };
        assert_eq!(
            app,
            ApplicationEvent {
                source: Source::CareersSite,
                event: "application.submitted".into(),
                ats: "greenhouse".into(),
                ats_candidate_id: None,
                ats_application_id: "sub_01JB7Y3K9Q2W5E8R1T4Y6U0I3O".into(),
                job_id: "4012345".into(),
                requisition_id: None,
                // Raw, spaces and case included.
                email: Some(" Jose.Almeida+jobs@Example.org ".into()),
                phone: Some("030 1234-5678".into()),
                phone_region: Some("DE".into()),
                first_name: Some("José".into()),
                last_name: Some("Almeida-Test".into()),
                referral_token: Some("rt_7Q2MZK4P9XW3HD".into()),
                credited_employee_id: None,
                prospect: false,
                applied_at: DateTime::parse_from_rfc3339("2025-09-02T10:15:29.512Z")
                    .unwrap()
                    .with_timezone(&Utc),
                status: None,
                stage: None,
                department: None,
                location: Some("Berlin, Germany".into()),
            }
        );
        assert_eq!(
            app.applied_at.timestamp_millis(),
            Utc.with_ymd_and_hms(2025, 9, 2, 10, 15, 29)
                .unwrap()
                .timestamp_millis()
                + 512
        );
    }

    fn sample_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut value: serde_json::Value = serde_json::from_slice(&payload(SAMPLE)).unwrap();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    /// An in-place edit of the sample, for table-driven tests.
    type Edit = fn(&mut serde_json::Value);

    fn field_error(field: &str, problem: &str) -> Result<IntakeEvent, IntakeError> {
        Err(json::invalid(field, problem))
    }

    #[test]
    fn ats_defaults_to_careers_site_and_blank_values_are_absent() {
        let body = sample_with(|v| {
            v["job"].as_object_mut().unwrap().remove("ats");
            v["applicant"]["phone"] = "  ".into();
            v["tracking"]["ref"] = serde_json::Value::Null;
        });
        let IntakeEvent::Application(app) = decode(&body).unwrap() else {
            panic!("expected an application")
        };
        assert_eq!(app.ats, "careers_site");
        assert_eq!(app.phone, None);
        assert_eq!(app.referral_token, None);
        assert!(app.email.is_some());
    }

    #[test]
    fn missing_required_fields_name_their_path() {
        let cases: [(&str, Edit); 5] = [
            ("type", |v| {
                v.as_object_mut().unwrap().remove("type");
            }),
            ("submission_id", |v| {
                v.as_object_mut().unwrap().remove("submission_id");
            }),
            ("submitted_at", |v| {
                v.as_object_mut().unwrap().remove("submitted_at");
            }),
            ("job.ats_job_id", |v| {
                v["job"].as_object_mut().unwrap().remove("ats_job_id");
            }),
            ("job.ats_job_id", |v| {
                v.as_object_mut().unwrap().remove("job");
            }),
        ];
        for (field, edit) in cases {
            assert_eq!(decode(&sample_with(edit)), field_error(field, "missing"));
        }
        let no_contact = sample_with(|v| {
            v["applicant"].as_object_mut().unwrap().remove("email");
            v["applicant"]["phone"] = serde_json::Value::Null;
        });
        assert_eq!(
            decode(&no_contact),
            field_error(
                "applicant.email",
                "missing, and so is applicant.phone; at least one is required"
            )
        );
        // Either one alone is enough.
        let phone_only = sample_with(|v| {
            v["applicant"].as_object_mut().unwrap().remove("email");
        });
        assert!(decode(&phone_only).is_ok());
    }

    #[test]
    fn wrong_types_name_their_path() {
        let cases: [(&str, &str, Edit); 6] = [
            (
                "job.ats_job_id",
                "expected a string or an integer, found boolean",
                |v| {
                    v["job"]["ats_job_id"] = true.into();
                },
            ),
            ("submitted_at", "expected an RFC 3339 timestamp", |v| {
                v["submitted_at"] = "2025-09-02".into();
            }),
            ("submitted_at", "expected a string, found number", |v| {
                v["submitted_at"] = 1.into();
            }),
            ("applicant.email", "expected a string, found array", |v| {
                v["applicant"]["email"] = serde_json::json!(["a@example.org"]);
            }),
            ("tracking.ref", "expected a string, found object", |v| {
                v["tracking"]["ref"] = serde_json::json!({});
            }),
            ("job", "expected an object, found string", |v| {
                v["job"] = "4012345".into();
            }),
        ];
        for (field, problem, edit) in cases {
            assert_eq!(decode(&sample_with(edit)), field_error(field, problem));
        }
        // A numeric job id is fine: ids are read as strings or integers.
        let numeric = sample_with(|v| v["job"]["ats_job_id"] = 4_012_345.into());
        let IntakeEvent::Application(app) = decode(&numeric).unwrap() else {
            panic!("expected an application")
        };
        assert_eq!(app.job_id, "4012345");
    }

    #[test]
    fn other_types_are_ignored_without_further_checks() {
        assert_eq!(
            decode(br#"{"type":"application.withdrawn"}"#),
            Ok(IntakeEvent::Ignored {
                event: "application.withdrawn".into()
            })
        );
    }

    #[test]
    fn non_json_is_malformed() {
        for body in [&b""[..], b"not json", b"{\"type\":", &[0xff, 0x00]] {
            assert!(
                matches!(decode(body), Err(IntakeError::MalformedJson(_))),
                "{body:?}"
            );
        }
        assert_eq!(
            decode(b"[]"),
            field_error("$", "expected an object, found array")
        );
    }

    #[test]
    fn a_start_date_is_stored_exactly_as_checked() {
        // Found by fuzzing: chrono skips leading Unicode whitespace and
        // reads unpadded numbers, so a check on bytes and a store of chars
        // disagreed about which date was meant.
        for start in [
            "\u{3000}226-1-1X",
            "\u{a0}2026-1-15",
            "2026-1-15",
            " 2026-01-15",
        ] {
            let body = serde_json::to_vec(&serde_json::json!({
                "type": "application.status_changed",
                "application": { "id": "x", "start_date": start },
            }))
            .unwrap();
            assert!(decode(&body).is_err(), "{start:?} must be refused");
        }
        for (start, day) in [
            ("2026-01-15", "2026-01-15"),
            ("2026-01-15T09:00:00Z", "2026-01-15"),
        ] {
            let body = serde_json::to_vec(&serde_json::json!({
                "type": "application.status_changed",
                "application": { "id": "x", "start_date": start },
            }))
            .unwrap();
            match decode(&body) {
                Ok(IntakeEvent::StageChanged(sc)) => assert_eq!(sc.starts_at.as_deref(), Some(day)),
                other => panic!("{start}: {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn verify_never_panics(
            secret in prop_oneof![Just(SECRET.to_owned()), "\\PC{0,60}"],
            id in proptest::option::of("\\PC{0,40}"),
            timestamp in proptest::option::of(prop_oneof![any::<i64>().prop_map(|t| t.to_string()), "\\PC{0,24}"]),
            signature in proptest::option::of("\\PC{0,120}"),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            now in any::<i64>(),
        ) {
            let mut headers = Vec::new();
            for (name, value) in [("webhook-id", id), ("webhook-timestamp", timestamp), ("webhook-signature", signature)] {
                if let Some(value) = value {
                    headers.push((name.to_owned(), value));
                }
            }
            let _ = verify_at(&secret, &headers, &body, now);
            let _ = verify(&secret, &headers, &body);
        }

        #[test]
        fn sign_then_verify_round_trips_and_any_body_change_breaks_it(
            id in "[A-Za-z0-9_-]{1,40}",
            offset in -300i64..=300,
            body in "\\PC{1,200}",
            flip_at in any::<prop::sample::Index>(),
            flip_bit in 0u8..8,
        ) {
            let body = body.into_bytes();
            let headers = signed_headers(SECRET, &id, SENT_AT + offset, &body);
            prop_assert_eq!(verify_at(SECRET, &headers, &body, SENT_AT).unwrap(), id);
            let mut tampered = body.clone();
            tampered[flip_at.index(body.len())] ^= 1 << flip_bit;
            prop_assert!(verify_at(SECRET, &headers, &tampered, SENT_AT).is_err());
        }

        #[test]
        fn decode_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&body);
        }

        #[test]
        fn decode_never_panics_on_json(value in test_support::arb_json()) {
            let body = serde_json::to_vec(&value).unwrap();
            prop_assert!(!matches!(decode(&body), Err(IntakeError::MalformedJson(_))));
        }

        #[test]
        fn decode_of_a_mutated_sample_is_ok_or_names_a_field(
            value in mutated(serde_json::from_slice(&payload(SAMPLE)).unwrap())
        ) {
            let body = serde_json::to_vec(&value).unwrap();
            let result = decode(&body);
            prop_assert!(
                matches!(result, Ok(_) | Err(IntakeError::InvalidField { .. })),
                "{:?}", result
            );
        }
    }

    /// The configured form of a Standard Webhooks key: base64, with or
    /// without the optional `whsec_` prefix.
    fn secret_for(key: &[u8], prefixed: bool) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        if prefixed {
            format!("whsec_{encoded}")
        } else {
            encoded
        }
    }

    /// The MAC the Standard Webhooks spec defines, computed with the `hmac`
    /// crate rather than the `standardwebhooks` crate the verifier signs
    /// with: HMAC-SHA256(key, "{id}.{timestamp}.{body}").
    fn spec_mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// A `webhook-signature` entry: `v1,` + base64 of `mac`.
    fn v1(mac: &[u8]) -> String {
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac)
        )
    }

    /// Headers of a delivery whose `webhook-signature` is `signature`.
    fn spec_headers(id: &str, timestamp: i64, signature: &str) -> Vec<(String, String)> {
        vec![
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            ("webhook-signature".to_owned(), signature.to_owned()),
        ]
    }

    /// A key the spec accepts: 24 to 64 random bytes.
    fn arb_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), MIN_SECRET_BYTES..=64)
    }

    /// A `webhook-id`: anything non-empty without `.`.
    fn arb_id() -> impl Strategy<Value = String> {
        prop_oneof!["[A-Za-z0-9_-]{1,40}", "[^.]{1,40}"]
    }

    /// A UTF-8 body: free text, or JSON such as the site sends.
    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "\\PC{0,300}".prop_map(String::into_bytes),
            test_support::arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_body_signed_per_the_spec_verifies_for_any_secret_id_body_and_time(
            key in arb_key(),
            prefixed in any::<bool>(),
            id in arb_id(),
            body in arb_body(),
            timestamp in any::<i64>(),
            skew in -300i64..=300,
        ) {
            let secret = secret_for(&key, prefixed);
            let headers = spec_headers(&id, timestamp, &v1(&spec_mac(&key, &id, timestamp, &body)));
            let now = timestamp.saturating_add(skew);
            prop_assert_eq!(verify_at(&secret, &headers, &body, now), Ok(id));
        }

        #[test]
        fn a_different_secret_is_a_bad_signature(
            key in arb_key(),
            id in arb_id(),
            body in arb_body(),
            flip_at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let headers = spec_headers(&id, SENT_AT, &v1(&spec_mac(&key, &id, SENT_AT, &body)));
            let mut other = key.clone();
            other[flip_at.index(key.len())] ^= 1 << bit;
            let result = verify_at(&secret_for(&other, true), &headers, &body, SENT_AT);
            prop_assert!(is_bad_signature(&result), "{:?}", result);
        }

        #[test]
        fn a_flipped_signature_bit_or_character_is_a_bad_signature(
            key in arb_key(),
            id in arb_id(),
            body in arb_body(),
            mac_at in 0usize..32,
            bit in 0u8..8,
            char_at in any::<prop::sample::Index>(),
            replacement in "[A-Za-z0-9+/=]",
        ) {
            let secret = secret_for(&key, true);
            let mac = spec_mac(&key, &id, SENT_AT, &body);
            let mut flipped = mac;
            flipped[mac_at] ^= 1 << bit;
            let result = verify_at(&secret, &spec_headers(&id, SENT_AT, &v1(&flipped)), &body, SENT_AT);
            prop_assert!(is_bad_signature(&result), "{:?}", result);

            // The base64 text is compared as text: changing any one
            // character of it, even to one that decodes alike, is refused.
            let good = v1(&mac);
            let i = 3 + char_at.index(good.len() - 3);
            let edited = format!("{}{replacement}{}", &good[..i], &good[i + 1..]);
            let result = verify_at(&secret, &spec_headers(&id, SENT_AT, &edited), &body, SENT_AT);
            if edited == good {
                prop_assert_eq!(result, Ok(id));
            } else {
                prop_assert!(is_bad_signature(&result), "{} gave {:?}", edited, result);
            }
        }

        #[test]
        fn a_genuine_delivery_is_accepted_exactly_within_the_tolerance(
            key in arb_key(),
            id in arb_id(),
            timestamp in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(SENT_AT)],
            offset in proptest::option::weighted(0.85, prop_oneof![
                -900i64..=900,
                prop::sample::select(vec![-301i64, -300, 300, 301]),
            ]),
            anywhere in any::<i64>(),
        ) {
            // `now` is mostly near the timestamp, often right at either
            // edge of the tolerance, and sometimes anywhere at all.
            let now = offset.map_or(anywhere, |offset| timestamp.saturating_add(offset));
            let body = payload(SAMPLE);
            let headers = spec_headers(&id, timestamp, &v1(&spec_mac(&key, &id, timestamp, &body)));
            let result = verify_at(&secret_for(&key, true), &headers, &body, now);
            if timestamp.abs_diff(now) <= TOLERANCE_SECS {
                prop_assert_eq!(result, Ok(id));
            } else {
                prop_assert!(matches!(result, Err(IntakeError::Stale(_))), "{:?}", result);
            }
        }

        #[test]
        fn a_changed_id_or_timestamp_is_a_bad_signature_for_any_delivery(
            key in arb_key(),
            id in arb_id(),
            other_id in arb_id(),
            body in arb_body(),
            timestamp in any::<i64>(),
            other_timestamp in any::<i64>(),
        ) {
            let secret = secret_for(&key, true);
            let signature = v1(&spec_mac(&key, &id, timestamp, &body));
            // `now` is the claimed time, so only the signature can refuse it.
            if other_id != id {
                let result = verify_at(&secret, &spec_headers(&other_id, timestamp, &signature), &body, timestamp);
                prop_assert!(is_bad_signature(&result), "{:?}", result);
            }
            if other_timestamp != timestamp {
                let result = verify_at(&secret, &spec_headers(&id, other_timestamp, &signature), &body, other_timestamp);
                prop_assert!(is_bad_signature(&result), "{:?}", result);
            }
        }

        #[test]
        fn one_valid_v1_entry_among_any_decoys_is_enough_and_is_needed(
            key in arb_key(),
            id in arb_id(),
            body in arb_body(),
            decoys in proptest::collection::vec(
                (prop_oneof![Just("v1"), Just("v1a"), Just("v2")], proptest::array::uniform32(any::<u8>())),
                0..5,
            ),
            at in any::<prop::sample::Index>(),
        ) {
            let secret = secret_for(&key, true);
            let mac = spec_mac(&key, &id, SENT_AT, &body);
            let mut entries: Vec<String> = decoys
                .iter()
                .map(|(version, bytes)| format!("{version},{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
                .collect();
            let decoys_only = entries.join(" ");
            entries.insert(at.index(entries.len() + 1), v1(&mac));
            let with_valid = entries.join(" ");
            prop_assert_eq!(
                verify_at(&secret, &spec_headers(&id, SENT_AT, &with_valid), &body, SENT_AT),
                Ok(id.clone())
            );
            let result = verify_at(&secret, &spec_headers(&id, SENT_AT, &decoys_only), &body, SENT_AT);
            prop_assert!(is_bad_signature(&result), "{:?}", result);
            // The right MAC under another version label does not count.
            let relabelled = v1(&mac).replacen("v1,", "v2,", 1);
            let result = verify_at(&secret, &spec_headers(&id, SENT_AT, &relabelled), &body, SENT_AT);
            prop_assert!(is_bad_signature(&result), "{:?}", result);
        }

        #[test]
        fn the_ref_of_a_share_url_reaches_the_decoded_application_unchanged(
            job_id in "[A-Za-z0-9 _/-]{1,20}",
            token in prop_oneof![
                Just(()).prop_map(|()| crate::referral::links::new_token()),
                "[A-Za-z0-9_-]{1,128}",
            ],
        ) {
            // The careers site reads `ref` from the landing URL and sends it
            // as `tracking.ref`. No code of ours parses that URL (capture
            // takes `tracking.ref` as is), so the URL parser stands in for
            // the site here.
            let shared = crate::referral::links::share_url("https://careers.acme.example/", &job_id, &token);
            let landing = url::Url::parse(&shared).unwrap();
            let refs: Vec<String> = landing
                .query_pairs()
                .filter(|(k, _)| k == "ref")
                .map(|(_, v)| v.into_owned())
                .collect();
            prop_assert_eq!(refs.len(), 1);
            let body = sample_with(|v| v["tracking"]["ref"] = refs[0].clone().into());
            let IntakeEvent::Application(app) = decode(&body).unwrap() else {
                panic!("expected an application")
            };
            prop_assert_eq!(app.referral_token.as_deref(), Some(token.as_str()));
            prop_assert!(crate::referral::links::looks_like_token(&token));
        }
    }
}
