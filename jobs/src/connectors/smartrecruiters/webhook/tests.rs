use super::*;

/// The SmartRecruiters docs' example (`docs/workable-smartrecruiters.md`
/// §B2), with the angle brackets the rendered page drops.
const DOC_KEY: &[u8] = b"HeBVky2bccvvkcXPimH8c";
const DOC_TS: i64 = 1_574_080_897;
const DOC_BODY: &[u8] = br#"{"job_id":"jid","candidate_id":"cid"}"#;
const DOC_SIGNATURE: &str = "v1=2e9291f10d44ca10204a4cd81b05d73b6a316b2b605d4e2e0e0b37b40198ce1f";
const TOLERANCE: Duration = Duration::from_secs(300);

fn doc_headers(signature: &str) -> Vec<(String, String)> {
    [
        ("smartrecruiters-timestamp", DOC_TS.to_string()),
        ("event-id", "123".to_owned()),
        ("event-name", "application.created".to_owned()),
        ("event-version", "v201910".to_owned()),
        (
            "link",
            "<http://smartrecruiters.com/endpoint>; rel=self".to_owned(),
        ),
        ("smartrecruiters-signature", signature.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn check(
    keys: &[&[u8]],
    headers: &[(String, String)],
    now: i64,
) -> Result<Notification, IntakeError> {
    verify_at(keys, headers, DOC_BODY, now, TOLERANCE)
}

#[test]
fn the_docs_example_verifies() {
    let n = check(&[DOC_KEY], &doc_headers(DOC_SIGNATURE), DOC_TS).expect("the docs' vector");
    assert_eq!(n.event_id, "123");
    assert_eq!(n.event_name, "application.created");
    assert_eq!(n.link, "<http://smartrecruiters.com/endpoint>; rel=self");
}

#[test]
fn any_v1_value_under_any_key_verifies() {
    let other = "v1=".to_owned() + &"ab".repeat(32);
    // A rotated signature list, the good one last, and a rotated key list.
    let listed = format!("{other};{DOC_SIGNATURE}");
    assert!(
        check(
            &[b"old-key-still-valid-24h", DOC_KEY],
            &doc_headers(&listed),
            DOC_TS
        )
        .is_ok()
    );
    let upper = DOC_SIGNATURE.to_uppercase().replace("V1=", "v1=");
    assert!(check(&[DOC_KEY], &doc_headers(&upper), DOC_TS).is_ok());
}

#[test]
fn anything_changed_or_missing_does_not_verify() {
    let refused = |keys: &[&[u8]], headers: Vec<(String, String)>| {
        matches!(
            check(keys, &headers, DOC_TS),
            Err(IntakeError::BadSignature(_))
        )
    };
    assert!(refused(&[b"another-key"], doc_headers(DOC_SIGNATURE)));
    assert!(refused(&[b""], doc_headers(DOC_SIGNATURE)), "an empty key");
    assert!(refused(&[], doc_headers(DOC_SIGNATURE)), "no key");
    assert!(
        refused(&[DOC_KEY], doc_headers(&DOC_SIGNATURE[3..])),
        "no v1="
    );
    assert!(refused(&[DOC_KEY], doc_headers("v1=zz")));
    let mut no_sig = doc_headers(DOC_SIGNATURE);
    no_sig.retain(|(k, _)| k != "smartrecruiters-signature");
    assert!(refused(&[DOC_KEY], no_sig));
    // Every signed header counts, the link's brackets included.
    for (name, value) in [
        ("event-id", "124"),
        ("event-name", "application.status.updated"),
        ("event-version", "v201907"),
        ("link", "http://smartrecruiters.com/endpoint; rel=self"),
        ("smartrecruiters-timestamp", "1574080898"),
    ] {
        let mut h = doc_headers(DOC_SIGNATURE);
        h.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_owned();
        assert!(refused(&[DOC_KEY], h), "{name} changed");
    }
    assert!(matches!(
        verify_at(
            &[DOC_KEY],
            &doc_headers(DOC_SIGNATURE),
            b"{}",
            DOC_TS,
            TOLERANCE
        ),
        Err(IntakeError::BadSignature(_))
    ));
}

#[test]
fn an_authentic_notification_outside_the_tolerance_is_stale() {
    let h = doc_headers(DOC_SIGNATURE);
    assert!(check(&[DOC_KEY], &h, DOC_TS + 300).is_ok());
    assert!(check(&[DOC_KEY], &h, DOC_TS - 300).is_ok());
    assert!(matches!(
        check(&[DOC_KEY], &h, DOC_TS + 301),
        Err(IntakeError::Stale(_))
    ));
    assert!(matches!(
        check(&[DOC_KEY], &h, DOC_TS - 301),
        Err(IntakeError::Stale(_))
    ));
}

#[test]
fn the_stored_envelope_decodes_to_the_assignment_to_re_read() {
    let n = check(&[DOC_KEY], &doc_headers(DOC_SIGNATURE), DOC_TS).unwrap();
    let stored = stored_envelope(&n, DOC_BODY).unwrap();
    assert_eq!(
        decode(&stored),
        Ok(IntakeEvent::SmartRecruitersAssignment {
            event: "application.created".into(),
            candidate_id: "cid".into(),
            job_id: Some("jid".into()),
        })
    );
    assert!(matches!(
        stored_envelope(&n, b"{not json"),
        Err(IntakeError::MalformedJson(_))
    ));
}

fn envelope(event: &str, payload: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"smartrecruiters": {"event_id": "e1", "event_name": event}, "payload": payload}),
    )
    .unwrap()
}

#[test]
fn each_event_means_what_the_table_says() {
    assert_eq!(
        decode(&envelope(
            "candidate.deleted",
            json!({"candidate_id": "c-1"})
        )),
        Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: "c-1".into()
        })
    );
    assert_eq!(
        decode(&envelope("candidate.created", json!({"id": "c-1"}))),
        Ok(IntakeEvent::SmartRecruitersAssignment {
            event: "candidate.created".into(),
            candidate_id: "c-1".into(),
            job_id: None,
        })
    );
    assert_eq!(
        decode(&envelope(
            "application.fields.updated",
            json!({"candidate_id": "c", "job_id": "j"})
        )),
        Ok(IntakeEvent::Ignored {
            event: "application.fields.updated".into()
        })
    );
}

#[test]
fn a_missing_or_hostile_id_is_refused_by_name() {
    let field = |e: Result<IntakeEvent, IntakeError>| match e {
        Err(IntakeError::InvalidField { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let status = "application.status.updated";
    assert_eq!(
        field(decode(&envelope(status, json!({"candidate_id": "c"})))),
        "job_id"
    );
    assert_eq!(
        field(decode(&envelope(status, json!({"job_id": "j"})))),
        "candidate_id"
    );
    assert_eq!(
        field(decode(&envelope(
            status,
            json!({"candidate_id": "../x", "job_id": "j"})
        ))),
        "candidate_id"
    );
    assert_eq!(field(decode(&envelope(status, json!([1, 2])))), "$");
    assert_eq!(
        field(decode(br#"{"payload": {}}"#)),
        "smartrecruiters.event_name"
    );
}

#[test]
fn a_handshake_secret_is_echoed_only_when_it_is_one() {
    assert_eq!(handshake_secret("abc-123_XYZ"), Ok("abc-123_XYZ"));
    for bad in ["", "has space", "x\u{7f}", &"a".repeat(257)] {
        assert!(handshake_secret(bad).is_err(), "{bad:?}");
    }
}
