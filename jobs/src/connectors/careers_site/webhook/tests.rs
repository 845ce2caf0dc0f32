//! Tests of `connectors/careers_site/webhook.rs`.

use base64::Engine as _;
use chrono::{DateTime, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::test_support::payloads::{
    self as test_support, mutated, payload, payload_files, signed,
};

/// A test-only secret: base64 of 31 bytes.
const SECRET: &str = "whsec_Y2FyZWVycy1zaXRlLXRlc3Qtb25seS1zZWNyZXQhIQ==";
const MSG_ID: &str = "msg_2nVq8m1c0QZb7D3xR5tY9uWz";
/// 2025-09-02T10:15:30Z, a second after the sample's `submitted_at`.
const SENT_AT: i64 = 1_756_808_130;
const SAMPLE: &str = "careers_site_application_submitted.json";

/// Headers of a delivery of `body` signed with `secret` at `timestamp`.
fn signed_headers(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
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
            ats: Ats::Greenhouse,
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
            start_date: None,
            // The flags and the notice version; not the IP or user agent.
            consent: Some(Consent {
                privacy_notice_version: Some("2025-06".into()),
                processing: Some(true),
                retention: Some(true),
                referral_data_sharing: Some(true),
            }),
            // The submission's own time orders what it states.
            changed_at: Some(
                DateTime::parse_from_rfc3339("2025-09-02T10:15:29.512Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ),
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
    assert_eq!(app.ats, Ats::CareersSite);
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
fn consent_is_optional_and_a_mistyped_flag_is_named() {
    let without = sample_with(|v| {
        v.as_object_mut().unwrap().remove("consent");
    });
    let IntakeEvent::Application(app) = decode(&without).unwrap() else {
        panic!("an application");
    };
    assert_eq!(app.consent, None, "no consent sent: none recorded");

    let partial = sample_with(|v| v["consent"] = serde_json::json!({ "processing": false }));
    let IntakeEvent::Application(app) = decode(&partial).unwrap() else {
        panic!("an application");
    };
    assert_eq!(
        app.consent,
        Some(Consent {
            processing: Some(false),
            ..Consent::default()
        }),
        "a flag left out is neither given nor refused"
    );

    let mistyped = sample_with(|v| v["consent"]["retention"] = "yes".into());
    assert!(
        matches!(decode(&mistyped), Err(IntakeError::InvalidField { ref field, .. }) if field == "consent.retention"),
        "{:?}",
        decode(&mistyped)
    );
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
