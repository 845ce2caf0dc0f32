use super::*;

const SECRET: &[u8] = b"workable-test-secret-0123";

fn sign(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = signature::hmac_sha256(SECRET);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn moved(stage_kind: &str, hired_at: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": "evt-1", "event_type": "candidate_moved", "fired_at": "2026-12-07T10:00:00Z",
        "resource_type": "candidate",
        "data": { "id": "ce4da98", "firstname": "Ada", "email": "ada@example.com",
                  "job": {"shortcode": "GROOV005", "title": "Engineer"},
                  "stage": "hired", "stage_kind": stage_kind, "hired_at": hired_at,
                  "disqualified": false, "created_at": "2026-12-01T09:00:00Z" }
    }))
    .unwrap()
}

#[test]
fn a_hex_signature_of_the_body_verifies_and_anything_else_does_not() {
    let body = moved("hired", None);
    let good = sign(&body);
    assert_eq!(verify(SECRET, Some(good.as_str()), &body), Ok(()));
    let upper = good.to_uppercase();
    assert_eq!(verify(SECRET, Some(upper.as_str()), &body), Ok(()));
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert!(matches!(
        verify(SECRET, Some(good.as_str()), &tampered),
        Err(IntakeError::BadSignature(_))
    ));
    assert!(matches!(
        verify(SECRET, None, &body),
        Err(IntakeError::BadSignature(_))
    ));
    assert!(matches!(
        verify(b"", Some(good.as_str()), &body),
        Err(IntakeError::BadSignature(_))
    ));
    assert!(matches!(
        verify(SECRET, Some("not-hex"), &body),
        Err(IntakeError::BadSignature(_))
    ));
}

#[test]
fn a_move_into_a_hired_stage_is_a_claim_to_re_read() {
    assert_eq!(
        decode(&moved("hired", None)),
        Ok(IntakeEvent::WorkableCandidate {
            event: "candidate_moved".into(),
            candidate_id: "ce4da98".into(),
            claims_hired: true,
        })
    );
    let by_date = decode(&moved("offer", Some("2026-12-07T10:00:00Z"))).unwrap();
    assert!(matches!(
        by_date,
        IntakeEvent::WorkableCandidate {
            claims_hired: true,
            ..
        }
    ));
    let interview = decode(&moved("interview", None)).unwrap();
    assert!(matches!(
        interview,
        IntakeEvent::WorkableCandidate {
            claims_hired: false,
            ..
        }
    ));
}

#[test]
fn the_envelope_is_read_tolerantly() {
    let typed = br#"{"type": "candidate_created", "data": {"id": "abc123"}}"#;
    assert!(matches!(
        decode(typed),
        Ok(IntakeEvent::WorkableCandidate { ref event, ref candidate_id, .. })
            if event == "candidate_created" && candidate_id == "abc123"
    ));
    let bare = br#"{"id": "abc123", "stage": "applied"}"#;
    assert!(matches!(
        decode(bare),
        Ok(IntakeEvent::WorkableCandidate { ref event, .. }) if event == "candidate"
    ));
    let hr = br#"{"event_type": "employee_created", "data": {"id": "e1"}}"#;
    assert_eq!(
        decode(hr),
        Ok(IntakeEvent::Ignored {
            event: "employee_created".into()
        })
    );
}

#[test]
fn a_missing_or_hostile_candidate_id_is_refused_by_name() {
    for body in [
        &br#"{"event_type": "candidate_moved", "data": {"stage": "hired"}}"#[..],
        br#"{"event_type": "candidate_moved", "data": {"id": "../../members"}}"#,
        br#"{"event_type": "candidate_moved", "data": {"id": ""}}"#,
    ] {
        assert!(
            matches!(decode(body), Err(IntakeError::InvalidField { ref field, .. }) if field == "data.id"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(matches!(
        decode(br#"{"event_type": "candidate_moved", "data": {"id": "a1", "stage_kind": 3}}"#),
        Err(IntakeError::InvalidField { ref field, .. }) if field == "data.stage_kind"
    ));
    assert!(matches!(
        decode(b"{not json"),
        Err(IntakeError::MalformedJson(_))
    ));
}

#[test]
fn the_inbox_key_is_candidate_event_stage_and_time() {
    assert_eq!(
        delivery_key(&moved("hired", None)).unwrap(),
        "ce4da98/candidate_moved/hired/2026-12-07T10:00:00Z"
    );
    // Without `fired_at`, the same bytes give the same key and other bytes another.
    let a = br#"{"event_type": "candidate_moved", "data": {"id": "a1", "stage": "offer"}}"#;
    let b = br#"{"event_type": "candidate_moved", "data": {"id": "a1", "stage": "offer", "x": 1}}"#;
    assert_eq!(delivery_key(a).unwrap(), delivery_key(a).unwrap());
    assert_ne!(delivery_key(a).unwrap(), delivery_key(b).unwrap());
}
