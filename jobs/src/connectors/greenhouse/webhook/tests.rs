//! Tests of `connectors/greenhouse/webhook.rs`.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::test_support::payloads::{arb_json, hmac_hex, mutated, payload, payload_files, signed};

const NEW_APPLICATION: &str = "greenhouse_new_candidate_application.json";
const STAGE_CHANGE: &str = "greenhouse_candidate_stage_change.json";
const STAGE_CHANGE_HIRED: &str = "greenhouse_candidate_stage_change_hired.json";
const HIRE: &str = "greenhouse_hire_candidate.json";
const MERGE: &str = "greenhouse_merge_candidate.json";

/// Body, secret and `Signature` header of a recorded delivery.
fn delivery(name: &str) -> (Vec<u8>, Vec<u8>, String) {
    let fixture = signed(name);
    let secret = fixture.secret.clone().expect("secret").into_bytes();
    (payload(name), secret, fixture.header(SIGNATURE_HEADER))
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn decode_value(value: &Value) -> Result<IntakeEvent, IntakeError> {
    decode(&serde_json::to_vec(value).unwrap())
}

fn fixture_value(name: &str) -> Value {
    serde_json::from_slice(&payload(name)).unwrap()
}

fn application_of(event: Result<IntakeEvent, IntakeError>) -> ApplicationEvent {
    match event {
        Ok(IntakeEvent::Application(app)) => app,
        other => panic!("expected an application, got {other:?}"),
    }
}

fn stage_change_of(event: Result<IntakeEvent, IntakeError>) -> StageChange {
    match event {
        Ok(IntakeEvent::StageChanged(change)) => change,
        other => panic!("expected a stage change, got {other:?}"),
    }
}

#[test]
fn every_greenhouse_payload_verifies_over_its_exact_bytes_and_decodes() {
    let files = payload_files("greenhouse_");
    assert!(files.len() >= 5, "{files:?}");
    for name in files {
        let (body, secret, header) = delivery(&name);
        verify(&secret, Some(&header), &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let event = decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !matches!(event, IntakeEvent::Ignored { .. }),
            "{name}: {event:?}"
        );
    }
}

#[test]
fn decodes_new_candidate_application() {
    let app = application_of(decode(&payload(NEW_APPLICATION)));
    assert_eq!(
        app,
        ApplicationEvent {
            source: Source::Greenhouse,
            event: "new_candidate_application".into(),
            ats: Ats::Greenhouse,
            ats_candidate_id: Some("90077001".into()),
            ats_application_id: "120450001".into(),
            job_id: "4012345".into(),
            requisition_id: Some("REQ-2025-118".into()),
            email: Some("Jose.Almeida+jobs@Example.org".into()),
            phone: Some("+49 30 1234 5678".into()),
            phone_region: None,
            // `Jos\u00e9` in the body.
            first_name: Some("José".into()),
            last_name: Some("Almeida-Test".into()),
            referral_token: Some("rt_7Q2MZK4P9XW3HD".into()),
            credited_employee_id: Some("E-10442".into()),
            prospect: false,
            applied_at: time("2025-09-02T10:15:31Z"),
            status: Some("active".into()),
            stage: Some("Application Review".into()),
            department: Some("Engineering".into()),
            location: Some("Berlin".into()),
            start_date: None,
            consent: None,
            changed_at: Some(time("2025-09-02T10:15:31Z")),
        }
    );
}

#[test]
fn decodes_stage_change_to_offer() {
    let change = stage_change_of(decode(&payload(STAGE_CHANGE)));
    assert_eq!(
        change,
        StageChange {
            source: Source::Greenhouse,
            event: "candidate_stage_change".into(),
            ats: Ats::Greenhouse,
            ats_application_id: "120450001".into(),
            ats_candidate_id: Some("90077001".into()),
            job_id: Some("4012345".into()),
            stage: Some("Offer".into()),
            status: Some("active".into()),
            changed_at: Some(time("2025-10-21T14:03:09Z")),
            starts_at: None,
            version: None,
        }
    );
}

#[test]
fn decodes_stage_change_to_hired() {
    let change = stage_change_of(decode(&payload(STAGE_CHANGE_HIRED)));
    assert_eq!(change.stage.as_deref(), Some("Hired"));
    assert_eq!(change.status.as_deref(), Some("hired"));
    assert_eq!(change.changed_at, Some(time("2025-10-24T09:30:02Z")));
    assert_eq!(change.ats_application_id, "120450001");
}

#[test]
fn decodes_hire_candidate_with_offer_start_date() {
    let change = stage_change_of(decode(&payload(HIRE)));
    assert_eq!(change.event, "hire_candidate");
    assert_eq!(change.ats_application_id, "120450001");
    assert_eq!(change.ats_candidate_id.as_deref(), Some("90077001"));
    assert_eq!(change.job_id.as_deref(), Some("4012345"));
    assert_eq!(change.status.as_deref(), Some("hired"));
    assert_eq!(change.starts_at.as_deref(), Some("2025-12-01"));
    // No last_activity_at in this event: the acceptance time is the hire time.
    assert_eq!(change.changed_at, Some(time("2025-10-24T09:29:55Z")));
    // The sample has no current_stage.
    assert_eq!(change.stage, None);
}

#[test]
fn decodes_merge_candidate() {
    assert_eq!(
        decode(&payload(MERGE)),
        Ok(IntakeEvent::CandidateMerged {
            from_candidate_id: "90077555".into(),
            into_candidate_id: "90077001".into(),
        })
    );
}

#[test]
fn decodes_delete_application_and_anonymisation() {
    // Shapes from Greenhouse's webhook docs.
    let deleted = json!({"action": "delete_application", "payload": {"application": {
        "id": 46194062, "candidate_id": 37031511, "job_id": 371417, "referrer_id": 158104}}});
    assert_eq!(
        decode_value(&deleted),
        Ok(IntakeEvent::ApplicationDeleted {
            application_id: "46194062".into(),
            candidate_id: Some("37031511".into()),
            job_id: Some("371417".into()),
        })
    );
    let anonymized = json!({"action": "candidate_anonymized",
        "payload": {"candidate_id": 37031511, "anonymized_fields": ["full_name"]}});
    assert_eq!(
        decode_value(&anonymized),
        Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: "37031511".into()
        })
    );
}

#[test]
fn other_actions_are_ignored() {
    for action in [
        "ping",
        "delete_candidate",
        "job_created",
        "update_candidate",
    ] {
        assert_eq!(
            decode_value(&json!({"action": action, "payload": {"anything": [1]}})),
            Ok(IntakeEvent::Ignored {
                event: action.into()
            })
        );
    }
}

#[test]
fn reject_and_unhire_are_stage_changes() {
    let mut value = fixture_value(STAGE_CHANGE);
    value["action"] = "reject_candidate".into();
    value["payload"]["application"]["status"] = "rejected".into();
    value["payload"]["application"]["rejected_at"] = "2025-10-22T08:00:00Z".into();
    let change = stage_change_of(decode_value(&value));
    assert_eq!(change.status.as_deref(), Some("rejected"));
    assert_eq!(change.changed_at, Some(time("2025-10-22T08:00:00Z")));

    value["action"] = "unhire_candidate".into();
    value["payload"]["application"]["status"] = "active".into();
    let change = stage_change_of(decode_value(&value));
    assert_eq!(change.event, "unhire_candidate");
    assert_eq!(change.changed_at, Some(time("2025-10-21T14:03:09Z")));
}

#[test]
fn changed_at_is_best_effort() {
    let mut value = fixture_value(HIRE);
    value["payload"]["application"]["offer"]["resolved_at"] = "2025-10-24".into();
    assert_eq!(
        stage_change_of(decode_value(&value)).changed_at,
        Some(time("2025-10-24T00:00:00Z"))
    );
    value["payload"]["application"]["offer"]["resolved_at"] = 17.into();
    assert_eq!(stage_change_of(decode_value(&value)).changed_at, None);
}

#[test]
fn string_and_numeric_ids_decode_alike() {
    let mut value = fixture_value(NEW_APPLICATION);
    let app = &mut value["payload"]["application"];
    app["id"] = "120450001".into();
    app["candidate"]["id"] = "90077001".into();
    app["jobs"][0]["id"] = "4012345".into();
    app["credited_to"]["employee_id"] = 10442.into();
    let decoded = application_of(decode_value(&value));
    let original = application_of(decode(&payload(NEW_APPLICATION)));
    assert_eq!(decoded.credited_employee_id.as_deref(), Some("10442"));
    assert_eq!(
        ApplicationEvent {
            credited_employee_id: original.credited_employee_id.clone(),
            ..decoded
        },
        original
    );
}

#[test]
fn contact_preference_and_fallbacks() {
    let mut value = fixture_value(NEW_APPLICATION);
    let candidate = &mut value["payload"]["application"]["candidate"];
    candidate["email_addresses"] = json!([
        {"value": " ", "type": "personal"},
        {"value": "person@work.example", "type": "work"},
        {"value": "Person@Home.example", "type": "Personal "},
    ]);
    candidate["phone_numbers"] = json!([
        {"value": "330-281-8004", "type": "other "},
        null,
        {"value": "911", "type": "home"},
    ]);
    let app = application_of(decode_value(&value));
    assert_eq!(app.email.as_deref(), Some("Person@Home.example"));
    // No mobile: the first non-blank number, raw.
    assert_eq!(app.phone.as_deref(), Some("330-281-8004"));

    let candidate = &mut value["payload"]["application"]["candidate"];
    candidate["email_addresses"] = json!([]);
    candidate.as_object_mut().unwrap().remove("phone_numbers");
    let app = application_of(decode_value(&value));
    assert_eq!((app.email, app.phone), (None, None));
}

#[test]
fn referral_token_falls_back_to_the_candidate_field() {
    let mut value = fixture_value(NEW_APPLICATION);
    // Empty custom fields written as `[]`, as Greenhouse does in places.
    value["payload"]["application"]["custom_fields"] = json!([]);
    value["payload"]["application"]["candidate"]["custom_fields"]["referral_token"]["value"] =
        "rt_FROM_CANDIDATE".into();
    let app = application_of(decode_value(&value));
    assert_eq!(app.referral_token.as_deref(), Some("rt_FROM_CANDIDATE"));

    value["payload"]["application"]["candidate"]["custom_fields"] = json!({});
    assert_eq!(application_of(decode_value(&value)).referral_token, None);
}

#[test]
fn null_credited_to_and_prospects() {
    let mut value = fixture_value(NEW_APPLICATION);
    value["action"] = "new_prospect_application".into();
    let app = &mut value["payload"]["application"];
    app["credited_to"] = Value::Null;
    app["current_stage"] = Value::Null;
    app.as_object_mut().unwrap().remove("prospect");
    let app = application_of(decode_value(&value));
    assert_eq!(app.credited_employee_id, None);
    assert_eq!(app.stage, None);
    assert!(app.prospect);
}

#[test]
fn jobs_fall_back_to_the_deprecated_job_and_jobless_applications_are_ignored() {
    let mut value = fixture_value(HIRE);
    value["action"] = "application_updated".into();
    let app = &mut value["payload"]["application"];
    app["applied_at"] = "2025-09-02T10:15:31Z".into();
    app["jobs"] = json!([]);
    let decoded = application_of(decode_value(&value));
    assert_eq!(decoded.job_id, "4012345");
    assert_eq!(decoded.requisition_id.as_deref(), Some("REQ-2025-118"));
    assert_eq!(decoded.department.as_deref(), Some("Engineering"));

    value["payload"]["application"]
        .as_object_mut()
        .unwrap()
        .remove("job");
    assert_eq!(
        decode_value(&value),
        Ok(IntakeEvent::Ignored {
            event: "application_updated".into()
        })
    );
}

#[test]
fn missing_and_mistyped_fields_name_their_path() {
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            NEW_APPLICATION,
            json!(null),
            "payload.application.id",
            "missing",
        ),
        (
            NEW_APPLICATION,
            json!(true),
            "payload.application.id",
            "expected a string or an integer, found boolean",
        ),
        (
            NEW_APPLICATION,
            json!(1.5),
            "payload.application.candidate.id",
            "expected a string or an integer, found number",
        ),
        (
            NEW_APPLICATION,
            json!(null),
            "payload.application.applied_at",
            "missing",
        ),
        (
            NEW_APPLICATION,
            json!("yesterday"),
            "payload.application.applied_at",
            "expected an RFC 3339 timestamp",
        ),
        (
            NEW_APPLICATION,
            json!(42),
            "payload.application.custom_fields.referral_token.value",
            "expected a string, found number",
        ),
        (
            NEW_APPLICATION,
            json!("x"),
            "payload.application.prospect",
            "expected a boolean, found string",
        ),
        (
            NEW_APPLICATION,
            json!({}),
            "payload.application.jobs",
            "expected an array, found object",
        ),
        (
            NEW_APPLICATION,
            json!(null),
            "payload.application.jobs[0].id",
            "missing",
        ),
        (
            NEW_APPLICATION,
            json!(7),
            "payload.application.candidate.email_addresses[0].value",
            "expected a string, found number",
        ),
        (
            HIRE,
            json!(20251201),
            "payload.application.offer.starts_at",
            "expected a string, found number",
        ),
        (
            MERGE,
            json!(null),
            "payload.person.new_candidate_id",
            "missing",
        ),
        (MERGE, json!(""), "payload.person.id", "empty"),
    ];
    for (name, replacement, field, problem) in cases {
        let mut value = fixture_value(name);
        let pointer = format!("/{}", field.replace('.', "/").replace("[0]", "/0"));
        *value
            .pointer_mut(&pointer)
            .unwrap_or_else(|| panic!("no {pointer} in {name}")) = replacement;
        assert_eq!(
            decode_value(&value),
            Err(json::invalid(field, problem)),
            "{name} {field}"
        );
    }
    assert_eq!(decode(b"{}"), Err(json::invalid("action", "missing")));
    assert_eq!(
        decode_value(&json!({"action": "merge_candidate"})),
        Err(json::invalid("payload.person.id", "missing"))
    );
}

#[test]
fn non_json_is_malformed() {
    for body in [
        &b""[..],
        b"action=hire_candidate",
        b"{\"action\":\"hire_candidate\"",
        &[0xc3, 0x28],
    ] {
        assert!(
            matches!(decode(body), Err(IntakeError::MalformedJson(_))),
            "{body:?}"
        );
    }
}

#[test]
fn a_flipped_body_byte_is_a_bad_signature() {
    let (body, secret, header) = delivery(NEW_APPLICATION);
    for index in [0, body.len() / 2, body.len() - 1] {
        let mut tampered = body.clone();
        tampered[index] ^= 0x20;
        assert_eq!(
            verify(&secret, Some(&header), &tampered),
            Err(bad("Signature does not match the body"))
        );
    }
}

#[test]
fn re_serialised_json_is_a_bad_signature() {
    // Parsing and re-encoding turns `Jos\u00e9` into `José`. This is why
    // verify must see the raw bytes.
    let (body, secret, header) = delivery(NEW_APPLICATION);
    let reencoded = serde_json::to_vec_pretty(&fixture_value(NEW_APPLICATION)).unwrap();
    assert_ne!(reencoded, body);
    assert!(verify(&secret, Some(&header), &reencoded).is_err());
}

#[test]
fn missing_header_wrong_secret_and_empty_secret_are_bad_signatures() {
    let (body, secret, header) = delivery(HIRE);
    assert_eq!(
        verify(&secret, None, &body),
        Err(bad("missing Signature header"))
    );
    assert_eq!(
        verify(b"gh_test_secret_wrong", Some(&header), &body),
        Err(bad("Signature does not match the body"))
    );
    assert_eq!(
        verify(b"", Some(&header), &body),
        Err(bad("no Greenhouse secret key is configured"))
    );
}

#[test]
fn sign_reproduces_every_recorded_greenhouse_signature() {
    for name in payload_files("greenhouse_") {
        let (body, secret, header) = delivery(&name);
        assert_eq!(sign(&secret, &body), header, "{name}");
    }
    let (body, secret, _) = delivery(HIRE);
    assert_ne!(sign(b"another secret", &body), sign(&secret, &body));
}

#[test]
fn signature_header_format() {
    let (body, secret, header) = delivery(MERGE);
    let hex = header.strip_prefix("sha256 ").unwrap();
    for ok in [
        format!("SHA256 {hex}"),
        format!("sha256 {}", hex.to_uppercase()),
        format!("  sha256  {hex} "),
    ] {
        assert_eq!(verify(&secret, Some(&ok), &body), Ok(()), "{ok:?}");
    }
    for refused in [
        String::new(),
        hex.to_owned(),
        "sha256".to_owned(),
        format!("sha1 {hex}"),
        format!("sha256 {hex} {hex}"),
        format!("sha256 {}", &hex[..63]),
        format!("sha256={hex}"),
    ] {
        assert!(
            matches!(
                verify(&secret, Some(&refused), &body),
                Err(IntakeError::BadSignature(_))
            ),
            "{refused:?}"
        );
    }
}

#[test]
fn a_fresh_signature_over_edited_bytes_verifies() {
    // The other side of the coin: the check is about the secret, not the
    // fixture. Any body signed with the secret verifies.
    let secret = b"gh_test_secret_0123456789abcdef0123456789";
    let body = br#"{"action":"ping","payload":{}}"#;
    let header = format!("sha256 {}", hmac_hex(secret, &[body]));
    assert_eq!(verify(secret, Some(&header), body), Ok(()));
}

proptest! {
    #[test]
    fn verify_never_panics(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        header in proptest::option::of(prop_oneof![
            "\\PC{0,100}",
            "sha256 [0-9a-fA-F]{0,70}",
        ]),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = verify(&secret, header.as_deref(), &body);
    }

    #[test]
    fn any_single_byte_change_breaks_every_fixture(
        file in prop::sample::select(payload_files("greenhouse_")),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let (body, secret, header) = delivery(&file);
        let mut tampered = body.clone();
        tampered[at.index(body.len())] ^= xor;
        prop_assert_eq!(
            verify(&secret, Some(&header), &tampered),
            Err(bad("Signature does not match the body"))
        );
    }

    #[test]
    fn decode_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body);
    }

    #[test]
    fn decode_never_panics_on_json(value in arb_json()) {
        prop_assert!(!matches!(decode_value(&value), Err(IntakeError::MalformedJson(_))));
    }

    #[test]
    fn decode_of_a_mutated_fixture_is_ok_or_names_a_field(
        value in prop::sample::select(payload_files("greenhouse_"))
            .prop_flat_map(|name| mutated(fixture_value(&name)))
    ) {
        let result = decode_value(&value);
        prop_assert!(
            matches!(result, Ok(_) | Err(IntakeError::InvalidField { .. })),
            "{:?}", result
        );
    }
}

/// A configured Greenhouse secret key: any non-empty bytes.
fn arb_secret() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[!-~]{1,64}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..100),
    ]
}

/// A raw body: any bytes, or JSON as Greenhouse sends it.
fn arb_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_body_signed_with_the_secret_verifies_for_any_secret_and_body(
        secret in arb_secret(),
        body in arb_body(),
        upper_algorithm in any::<bool>(),
        upper_hex in any::<bool>(),
    ) {
        let mac = hmac_hex(&secret, &[&body]);
        let header = format!(
            "{} {}",
            if upper_algorithm { "SHA256" } else { "sha256" },
            if upper_hex { mac.to_uppercase() } else { mac },
        );
        prop_assert_eq!(verify(&secret, Some(&header), &body), Ok(()));
    }

    #[test]
    fn a_different_secret_is_a_bad_signature_for_any_body(
        secret in arb_secret(),
        body in arb_body(),
        flip_at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let header = format!("sha256 {}", hmac_hex(&secret, &[&body]));
        let mut other = secret.clone();
        other[flip_at.index(secret.len())] ^= 1 << bit;
        prop_assert_eq!(
            verify(&other, Some(&header), &body),
            Err(bad("Signature does not match the body"))
        );
    }

    #[test]
    fn a_flipped_signature_bit_or_hex_digit_is_a_bad_signature(
        secret in arb_secret(),
        body in arb_body(),
        mac_at in 0usize..32,
        bit in 0u8..8,
        digit_at in 0usize..64,
        digit in 1u8..16,
    ) {
        let good = hmac_hex(&secret, &[&body]);
        let mut mac = hex::decode(&good).unwrap();
        mac[mac_at] ^= 1 << bit;
        prop_assert_eq!(
            verify(&secret, Some(&format!("sha256 {}", hex::encode(&mac))), &body),
            Err(bad("Signature does not match the body"))
        );

        // A different hex digit (not merely the other letter case) at
        // any position.
        let old = char::from(good.as_bytes()[digit_at]).to_digit(16).unwrap();
        let new = char::from_digit((old + u32::from(digit)) % 16, 16).unwrap();
        let edited = format!("{}{new}{}", &good[..digit_at], &good[digit_at + 1..]);
        prop_assert_eq!(
            verify(&secret, Some(&format!("sha256 {edited}")), &body),
            Err(bad("Signature does not match the body"))
        );
    }

    #[test]
    fn an_empty_secret_refuses_even_the_empty_key_mac(body in arb_body()) {
        // Anyone can compute HMAC under the empty key, so no secret
        // configured must never mean "any correctly formed MAC".
        let header = format!("sha256 {}", hmac_hex(b"", &[&body]));
        prop_assert_eq!(
            verify(b"", Some(&header), &body),
            Err(bad("no Greenhouse secret key is configured"))
        );
    }
}

/// An `offer_updated` as Greenhouse documents it: flat payload, start date
/// in `MM/DD/YYYY`.
fn offer_updated(start_date: Value) -> Value {
    json!({
        "action": "offer_updated",
        "payload": {
            "id": 3001, "application_id": 120450001, "job_id": 4012345, "user_id": 52,
            "version": 2, "sent_on": "2013-03-01", "resolved_at": null,
            "start_date": start_date, "offer_status": "Accepted", "custom_fields": {}
        }
    })
}

#[test]
fn offer_start_dates_are_read_in_both_documented_formats() {
    for (sent, read) in [
        ("04/15/2013", "2013-04-15"),
        ("2013-04-15", "2013-04-15"),
        ("12/01/2025", "2025-12-01"),
        ("2025-12-01T00:00:00Z", "2025-12-01"),
    ] {
        let change = stage_change_of(decode_value(&offer_updated(sent.into())));
        assert_eq!(change.starts_at.as_deref(), Some(read), "{sent}");
        assert_eq!(change.ats_application_id, "120450001");
    }
    // No date is no date; a date we cannot read is refused by its path,
    // never silently dropped.
    let change = stage_change_of(decode_value(&offer_updated(json!(null))));
    assert_eq!(change.starts_at, None);
    for bad in ["15/04/2013", "April 15", "2013-13-01"] {
        assert_eq!(
            decode_value(&offer_updated(bad.into())),
            Err(json::invalid(
                "payload.start_date",
                "expected a date as YYYY-MM-DD or MM/DD/YYYY"
            )),
            "{bad}"
        );
    }
}

#[test]
fn greenhouse_ids_must_be_numeric() {
    for (name, field) in [
        (NEW_APPLICATION, "payload.application.id"),
        (NEW_APPLICATION, "payload.application.candidate.id"),
        (NEW_APPLICATION, "payload.application.jobs[0].id"),
        (STAGE_CHANGE, "payload.application.id"),
        (MERGE, "payload.person.new_candidate_id"),
    ] {
        let mut value = fixture_value(name);
        let pointer = format!("/{}", field.replace('.', "/").replace("[0]", "/0"));
        *value.pointer_mut(&pointer).unwrap() = "abc".into();
        assert_eq!(
            decode_value(&value),
            Err(json::invalid(field, "expected a numeric id")),
            "{name} {field}"
        );
    }
    let mut offer = offer_updated("04/15/2013".into());
    offer["payload"]["application_id"] = "12/../34".into();
    assert_eq!(
        decode_value(&offer),
        Err(json::invalid(
            "payload.application_id",
            "expected a numeric id"
        ))
    );
}

#[test]
fn an_application_without_a_candidate_is_refused() {
    let mut value = fixture_value(NEW_APPLICATION);
    let app = value["payload"]["application"].as_object_mut().unwrap();
    app.remove("candidate");
    app.remove("candidate_id");
    assert_eq!(
        decode_value(&value),
        Err(json::invalid("payload.application.candidate", "missing"))
    );
    // The flat `candidate_id` some payloads carry is enough.
    value["payload"]["application"]["candidate_id"] = 90077001.into();
    assert_eq!(
        application_of(decode_value(&value))
            .ats_candidate_id
            .as_deref(),
        Some("90077001")
    );
}
