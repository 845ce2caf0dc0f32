//! Tests of `connectors/ashby/webhook.rs`, on the Ashby samples in
//! `tests/payloads` (signed over their exact bytes in its
//! `signatures.json`) and on variants of them.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::test_support::payloads::{arb_json, hmac_hex, mutated, payload, payload_files, signed};

const SUBMIT: &str = "ashby_applicationSubmit.json";
const HIRE: &str = "ashby_candidateHire.json";
const STAGE_CHANGE: &str = "ashby_candidateStageChange.json";
const UPDATE: &str = "ashby_applicationUpdate.json";
const OFFER_UPDATE: &str = "ashby_offerUpdate.json";
const MERGE: &str = "ashby_candidateMerge.json";
const DELETE: &str = "ashby_candidateDelete.json";
const PING: &str = "ashby_ping.json";

const APPLICATION: &str = "1c9a7e52-4b3d-4f8e-9a61-2d5b7c8e9f01";
const CANDIDATE: &str = "5e0b2d4f-8a1c-4e6b-b3d7-9f2a6c1e8d42";
const JOB: &str = "a3f1c5e7-2b4d-4c6e-8f0a-1b3d5f7a9c2e";
const HIRE_ACTION_ID: &str = "9d2f6b1e-47a8-4c3d-b5e9-0a6c2f8d4b73";

fn secret(name: &str) -> Vec<u8> {
    signed(name).secret.expect("secret").into_bytes()
}

fn sample_json(name: &str) -> Value {
    serde_json::from_slice(&payload(name)).unwrap()
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value = sample_json(name);
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn invalid(field: &str, problem: &str) -> IntakeError {
    IntakeError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

fn stage_change_of(body: &[u8]) -> StageChange {
    match decode(body).unwrap() {
        IntakeEvent::StageChanged(sc) => sc,
        other => panic!("expected a stage change, got {other:?}"),
    }
}

#[test]
fn every_ashby_sample_verifies_with_its_recorded_signature_and_decodes() {
    let files = payload_files("ashby_");
    assert!(files.len() >= 8, "{files:?}");
    for name in files {
        let s = signed(&name);
        let body = payload(&name);
        let header = s.header(SIGNATURE_HEADER);
        verify(&secret(&name), Some(&header), &body).unwrap_or_else(|e| panic!("{name}: {e}"));
        decode(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        delivery_key(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_signature_covers_every_byte_and_needs_the_secret() {
    let body = payload(SUBMIT);
    let header = signed(SUBMIT).header(SIGNATURE_HEADER);
    let key = secret(SUBMIT);
    // One byte more (a re-serialiser's newline) breaks it.
    let mut longer = body.clone();
    longer.push(b'\n');
    assert!(matches!(
        verify(&key, Some(&header), &longer),
        Err(IntakeError::BadSignature(_))
    ));
    // The parsed and re-written JSON is the same data, other bytes.
    let rewritten = serde_json::to_vec(&sample_json(SUBMIT)).unwrap();
    assert!(verify(&key, Some(&header), &rewritten).is_err());
    assert!(verify(b"another-secret", Some(&header), &body).is_err());
}

#[test]
fn the_header_must_say_sha256_and_carry_the_hex() {
    let body = br#"{"action":"ping"}"#;
    let key = b"k3y";
    let hex = hmac_hex(key, &[body]);
    assert_eq!(verify(key, Some(&format!("sha256={hex}")), body), Ok(()));
    // Either case of the hex and the algorithm name; spaces around it.
    assert_eq!(
        verify(key, Some(&format!(" SHA256={} ", hex.to_uppercase())), body),
        Ok(())
    );
    for header in [
        hex.clone(),             // no algorithm
        format!("sha256 {hex}"), // Greenhouse's form
        format!("sha1={hex}"),   // another algorithm
        format!("sha256={}", &hex[..63]),
        "sha256=".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(
                verify(key, Some(&header), body),
                Err(IntakeError::BadSignature(_))
            ),
            "{header:?}"
        );
    }
    assert!(matches!(
        verify(key, None, body),
        Err(IntakeError::BadSignature(m)) if m.contains("missing")
    ));
    // An empty secret verifies nothing, however the body is signed.
    let unkeyed = hmac_hex(b"", &[body]);
    assert!(matches!(
        verify(b"", Some(&format!("sha256={unkeyed}")), body),
        Err(IntakeError::BadSignature(m)) if m.contains("configured")
    ));
}

#[test]
fn the_error_never_echoes_the_header() {
    let body = br#"{"action":"ping"}"#;
    let header = "sha256=<script>secret-looking-text</script>";
    let err = verify(b"k", Some(header), body).unwrap_err().to_string();
    assert!(!err.contains("script"), "{err}");
}

#[test]
fn one_hire_fans_out_into_three_keys_and_a_retry_repeats_its_key() {
    let keys: Vec<String> = [HIRE, STAGE_CHANGE, UPDATE]
        .iter()
        .map(|name| delivery_key(&payload(name)).unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            format!("{HIRE_ACTION_ID}/candidateHire"),
            format!("{HIRE_ACTION_ID}/candidateStageChange"),
            format!("{HIRE_ACTION_ID}/applicationUpdate"),
        ]
    );
    // A retry is the same body, hence the same key.
    assert_eq!(delivery_key(&payload(HIRE)).unwrap(), keys[0]);
}

#[test]
fn a_ping_without_an_action_id_is_keyed_by_its_bytes() {
    let key = delivery_key(&payload(PING)).unwrap();
    assert!(key.starts_with("ping/") && key.len() == 21, "{key}");
    assert_eq!(delivery_key(&payload(PING)).unwrap(), key);
    let other = delivery_key(br#"{"action":"ping","data":{}}"#).unwrap();
    assert_ne!(other, key);
    assert_eq!(
        decode(&payload(PING)),
        Ok(IntakeEvent::Ignored {
            event: "ping".into()
        })
    );
}

#[test]
fn the_key_needs_an_action_id_and_an_action() {
    assert_eq!(
        delivery_key(br#"{"action":"applicationSubmit","data":{}}"#),
        Err(invalid("webhookActionId", "missing"))
    );
    assert_eq!(
        delivery_key(br#"{"webhookActionId":"x"}"#),
        Err(invalid("action", "missing"))
    );
    assert!(matches!(
        delivery_key(br#"{"webhookActionId":"x","action":7}"#),
        Err(IntakeError::InvalidField { field, .. }) if field == "action"
    ));
    let long = format!(
        r#"{{"webhookActionId":"{}","action":"a"}}"#,
        "x".repeat(300)
    );
    assert!(matches!(
        delivery_key(long.as_bytes()),
        Err(IntakeError::InvalidField { field, .. }) if field == "webhookActionId"
    ));
    assert!(matches!(
        delivery_key(b"not json"),
        Err(IntakeError::MalformedJson(_))
    ));
}

#[test]
fn an_application_submit_decodes_to_the_application_with_our_token() {
    let IntakeEvent::Application(ev) = decode(&payload(SUBMIT)).unwrap() else {
        panic!("not an application");
    };
    assert_eq!(ev.source, Source::Ashby);
    assert_eq!(ev.ats, Ats::Ashby);
    assert_eq!(ev.event, "applicationSubmit");
    assert_eq!(ev.ats_application_id, APPLICATION);
    assert_eq!(ev.ats_candidate_id.as_deref(), Some(CANDIDATE));
    assert_eq!(ev.job_id, JOB);
    assert_eq!(ev.email.as_deref(), Some("Jose.Almeida+jobs@Example.org"));
    assert_eq!(ev.phone.as_deref(), Some("+49 30 1234 5678"));
    assert_eq!(ev.first_name.as_deref(), Some("José"));
    assert_eq!(ev.last_name.as_deref(), Some("Almeida-Test"));
    assert_eq!(ev.referral_token.as_deref(), Some("rt_7Q2MZK4P9XW3HD"));
    assert_eq!(ev.credited_employee_id, None);
    assert!(!ev.prospect);
    assert_eq!(ev.applied_at.to_rfc3339(), "2025-10-20T08:41:12.503+00:00");
    assert_eq!(ev.status.as_deref(), Some("active"));
    assert_eq!(ev.stage.as_deref(), Some("Application Review"));
}

#[test]
fn the_token_field_is_found_by_title_whatever_its_spelling() {
    for title in ["referral_token", "REFERRAL TOKEN", "Referral-Token"] {
        let body = edited(SUBMIT, |v| {
            v["data"]["application"]["customFields"][0]["title"] = title.into();
        });
        let IntakeEvent::Application(ev) = decode(&body).unwrap() else {
            panic!()
        };
        assert_eq!(
            ev.referral_token.as_deref(),
            Some("rt_7Q2MZK4P9XW3HD"),
            "{title}"
        );
    }
    let body = edited(SUBMIT, |v| {
        v["data"]["application"]["customFields"][0]["title"] = "Referrer".into();
    });
    let IntakeEvent::Application(ev) = decode(&body).unwrap() else {
        panic!()
    };
    assert_eq!(ev.referral_token, None, "another field is not the token");
    // A token that changed type is refused, not dropped.
    let body = edited(SUBMIT, |v| {
        v["data"]["application"]["customFields"][0]["value"] = json!(12);
    });
    assert_eq!(
        decode(&body),
        Err(invalid(
            "data.application.customFields[0].value",
            "expected a string, found number"
        ))
    );
}

#[test]
fn statuses_map_and_an_unknown_one_is_refused() {
    for (ashby, ours, prospect) in [
        ("Active", "active", false),
        ("Lead", "active", true),
        ("Hired", "hired", false),
        ("Archived", "archived", false),
    ] {
        let body = edited(SUBMIT, |v| {
            v["data"]["application"]["status"] = ashby.into()
        });
        let IntakeEvent::Application(ev) = decode(&body).unwrap() else {
            panic!()
        };
        assert_eq!(ev.status.as_deref(), Some(ours), "{ashby}");
        assert_eq!(ev.prospect, prospect, "{ashby}");
    }
    let body = edited(SUBMIT, |v| {
        v["data"]["application"]["status"] = "hired".into()
    });
    assert_eq!(
        decode(&body),
        Err(invalid(
            "data.application.status",
            "expected one of Hired, Archived, Active, Lead"
        ))
    );
}

#[test]
fn required_application_fields_are_named_when_missing_or_not_uuids() {
    // (what, the edit, the field named, the problem)
    type Case = (&'static str, fn(&mut Value), &'static str, &'static str);
    let cases: [Case; 6] = [
        (
            "no id",
            |v| {
                drop(
                    v["data"]["application"]
                        .as_object_mut()
                        .unwrap()
                        .remove("id"),
                )
            },
            "data.application.id",
            "missing",
        ),
        (
            "id not a uuid",
            |v| v["data"]["application"]["id"] = "abc".into(),
            "data.application.id",
            "expected a UUID",
        ),
        (
            "no candidate",
            |v| {
                drop(
                    v["data"]["application"]
                        .as_object_mut()
                        .unwrap()
                        .remove("candidate"),
                )
            },
            "data.application.candidate.id",
            "missing",
        ),
        (
            "numeric job",
            |v| v["data"]["application"]["job"]["id"] = json!(42),
            "data.application.job.id",
            "expected a UUID",
        ),
        (
            "no createdAt",
            |v| {
                drop(
                    v["data"]["application"]
                        .as_object_mut()
                        .unwrap()
                        .remove("createdAt"),
                )
            },
            "data.application.createdAt",
            "missing",
        ),
        (
            "no status",
            |v| {
                drop(
                    v["data"]["application"]
                        .as_object_mut()
                        .unwrap()
                        .remove("status"),
                )
            },
            "data.application.status",
            "missing",
        ),
    ];
    for (what, edit, field, problem) in cases {
        let body = edited(SUBMIT, edit);
        assert_eq!(decode(&body), Err(invalid(field, problem)), "{what}");
    }
    // A braced or bare-hex UUID is not what Ashby writes.
    let body = edited(SUBMIT, |v| {
        v["data"]["application"]["id"] = "1c9a7e524b3d4f8e9a612d5b7c8e9f01".into();
    });
    assert_eq!(
        decode(&body),
        Err(invalid("data.application.id", "expected a UUID"))
    );
}

#[test]
fn a_hire_carries_the_accepted_offer_s_start_date() {
    let sc = stage_change_of(&payload(HIRE));
    assert_eq!(sc.source, Source::Ashby);
    assert_eq!(sc.event, "candidateHire");
    assert_eq!(sc.ats_application_id, APPLICATION);
    assert_eq!(sc.ats_candidate_id.as_deref(), Some(CANDIDATE));
    assert_eq!(sc.job_id.as_deref(), Some(JOB));
    assert_eq!(sc.status.as_deref(), Some("hired"));
    assert_eq!(sc.stage.as_deref(), Some("Hired"));
    assert_eq!(sc.starts_at.as_deref(), Some("2026-01-12"));
    assert_eq!(
        sc.changed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-11-28T15:58:03+00:00"),
        "the offer's decision time"
    );
}

#[test]
fn a_hire_is_what_the_application_status_says_not_the_event_name() {
    let body = edited(HIRE, |v| {
        v["data"]["application"]["status"] = "Active".into()
    });
    assert_eq!(stage_change_of(&body).status.as_deref(), Some("active"));
}

#[test]
fn a_start_date_that_is_not_a_date_is_refused_not_dropped() {
    for bad in ["12/01/2026", "2026-13-01", "2026-01-12 garbage", "soon"] {
        let body = edited(HIRE, |v| {
            v["data"]["offer"]["latestVersion"]["startDate"] = bad.into();
        });
        assert_eq!(
            decode(&body),
            Err(invalid(
                "data.offer.latestVersion.startDate",
                "expected an ISO date or date-time"
            )),
            "{bad}"
        );
    }
    let body = edited(HIRE, |v| {
        v["data"]["offer"]["latestVersion"]["startDate"] = "2026-03-02".into();
    });
    assert_eq!(
        stage_change_of(&body).starts_at.as_deref(),
        Some("2026-03-02")
    );
    // A hire without an offer is a hire without a start date.
    let body = edited(HIRE, |v| v["data"]["offer"] = Value::Null);
    let sc = stage_change_of(&body);
    assert_eq!((sc.status.as_deref(), sc.starts_at), (Some("hired"), None));
}

#[test]
fn the_fanned_out_stage_change_and_update_restate_the_hire() {
    let sc = stage_change_of(&payload(STAGE_CHANGE));
    assert_eq!(sc.event, "candidateStageChange");
    assert_eq!(sc.status.as_deref(), Some("hired"));
    assert_eq!(sc.starts_at, None, "a stage change carries no offer");
    let IntakeEvent::Application(ev) = decode(&payload(UPDATE)).unwrap() else {
        panic!()
    };
    assert_eq!(ev.event, "applicationUpdate");
    assert_eq!(ev.status.as_deref(), Some("hired"));
}

#[test]
fn an_accepted_offer_update_moves_the_start_date() {
    let sc = stage_change_of(&payload(OFFER_UPDATE));
    assert_eq!(sc.event, "offerUpdate");
    assert_eq!(sc.ats_application_id, APPLICATION);
    assert_eq!(sc.starts_at.as_deref(), Some("2026-02-02"));
    assert_eq!(sc.status, None, "an offer update is no hire by itself");
}

#[test]
fn a_pending_offer_s_date_is_no_start_date_and_a_withdrawn_offer_undoes_its_hire() {
    let body = edited(OFFER_UPDATE, |v| {
        v["data"]["offer"]["acceptanceStatus"] = "WaitingOnResponse".into();
    });
    let sc = stage_change_of(&body);
    assert_eq!((sc.starts_at, sc.status), (None, None));
    for withdrawn in ["Declined", "Cancelled"] {
        let body = edited(OFFER_UPDATE, |v| {
            v["data"]["offer"]["acceptanceStatus"] = withdrawn.into();
        });
        let sc = stage_change_of(&body);
        assert_eq!(sc.status.as_deref(), Some("offer_deleted"), "{withdrawn}");
        assert_eq!(sc.starts_at, None);
    }
    let deleted = json!({
        "webhookActionId": "0f0f0f0f-0000-4000-8000-000000000001",
        "action": "offerDelete",
        "data": {"offer": {"id": "4b6d8f0a-2c4e-4a6c-9e8a-1d3f5b7d9f13", "applicationId": APPLICATION}}
    });
    let sc = stage_change_of(&serde_json::to_vec(&deleted).unwrap());
    assert_eq!(sc.status.as_deref(), Some("offer_deleted"));
    let body = edited(OFFER_UPDATE, |v| {
        drop(
            v["data"]["offer"]
                .as_object_mut()
                .unwrap()
                .remove("applicationId"),
        );
    });
    assert_eq!(
        decode(&body),
        Err(invalid("data.offer.applicationId", "missing"))
    );
}

#[test]
fn merges_and_deletions_name_their_candidates() {
    assert_eq!(
        decode(&payload(MERGE)),
        Ok(IntakeEvent::CandidateMerged {
            from_candidate_id: "8f1b3d5f-7a9c-4e1b-a3d5-0e2a4c6e8a92".into(),
            into_candidate_id: CANDIDATE.into(),
        })
    );
    assert_eq!(
        decode(&payload(DELETE)),
        Ok(IntakeEvent::CandidateAnonymized {
            candidate_id: CANDIDATE.into()
        })
    );
    let body = edited(MERGE, |v| v["data"]["mergedCandidate"] = json!({}));
    assert_eq!(
        decode(&body),
        Err(invalid("data.mergedCandidate.id", "missing"))
    );
}

#[test]
fn events_we_do_not_act_on_are_ignored() {
    for action in [
        "interviewScheduleCreate",
        "jobPostingUpdate",
        "pushToHRIS",
        "surveySubmit",
    ] {
        let body = json!({"webhookActionId": "x", "action": action, "data": {"whatever": 1}});
        assert_eq!(
            decode(&serde_json::to_vec(&body).unwrap()),
            Ok(IntakeEvent::Ignored {
                event: action.into()
            })
        );
    }
}

#[test]
fn malformed_bodies_are_told_apart_from_bad_fields() {
    assert!(matches!(decode(b"{"), Err(IntakeError::MalformedJson(_))));
    assert_eq!(
        decode(b"[]"),
        Err(invalid("$", "expected an object, found array"))
    );
    assert_eq!(decode(b"{}"), Err(invalid("action", "missing")));
    assert_eq!(
        decode(br#"{"action":"applicationSubmit","data":[]}"#),
        Err(invalid("data", "expected an object, found array"))
    );
}

proptest! {
    #[test]
    fn decode_of_any_json_is_ok_or_names_the_problem(value in arb_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        let result = decode(&body);
        prop_assert!(
            matches!(result, Ok(_) | Err(IntakeError::InvalidField { .. })),
            "{:?}", result
        );
        let _ = delivery_key(&body);
    }

    #[test]
    fn decode_of_a_mutated_sample_is_ok_or_names_a_field(
        value in prop::sample::select(payload_files("ashby_"))
            .prop_flat_map(|name| mutated(sample_json(&name)))
    ) {
        let body = serde_json::to_vec(&value).unwrap();
        let result = decode(&body);
        prop_assert!(
            matches!(result, Ok(_) | Err(IntakeError::InvalidField { .. })),
            "{:?}", result
        );
    }

    #[test]
    fn a_body_signed_per_ashby_verifies_for_any_secret_and_bytes(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let header = format!("sha256={}", hmac_hex(&key, &[&body]));
        prop_assert_eq!(verify(&key, Some(&header), &body), Ok(()));
        let mut other = key.clone();
        other[0] ^= 1;
        prop_assert!(verify(&other, Some(&header), &body).is_err());
    }
}
