//! Tests of `ops/`.

use super::jobs::{JobCursor, masked_payload, timeline};
use super::request::{parse_job_id, parse_job_state, parse_name};
use entities::payout::PayoutState;
use queue::{AttemptError, JobId, JobInfo, JobState};

#[test]
fn known_payloads_are_shown_unknown_ones_masked() {
    let (v, masked) = masked_payload(r#"{"kind":"send_payout","args":{"payout_id":7}}"#);
    assert!(!masked);
    assert_eq!(v["args"]["payout_id"], 7);
    let (v, masked) =
        masked_payload(r#"{"kind":"mystery","args":{"email":"a@b.c","n":3,"l":["x"]}}"#);
    assert!(masked);
    assert_eq!(v["kind"], "mystery");
    assert_eq!(v["args"]["email"], "***");
    assert_eq!(v["args"]["n"], 3);
    assert_eq!(v["args"]["l"][0], "***");
    assert_eq!(masked_payload("not json").0, "*** (not JSON)");
}

#[test]
fn cursors_round_trip_and_bad_ones_name_the_field() {
    let c = JobCursor::parse("dead:50").expect("parses");
    assert_eq!(c.state, JobState::Dead);
    assert_eq!(c.offset, 50);
    assert_eq!(c.to_string(), "dead:50");
    for bad in ["", "dead", "dead:x", "zombie:1"] {
        let e = JobCursor::parse(bad).expect_err(bad);
        assert!(e.to_string().starts_with("cursor:"), "{e}");
    }
}

#[test]
fn names_parse_and_list_the_choices() {
    let s: PayoutState = parse_name("state", "outcome_unknown").expect("parses");
    assert_eq!(s, PayoutState::OutcomeUnknown);
    let e = parse_name::<PayoutState>("state", "paid").expect_err("unknown");
    assert!(e.to_string().contains("delivered"), "{e}");
    assert!(parse_job_state("state", "dead").is_ok());
    assert!(parse_job_id("id", "nope").is_err());
}

#[test]
fn timelines_put_attempts_between_enqueue_and_end() {
    let info = JobInfo {
        id: JobId::generate(),
        queue: "q".into(),
        kind: "probe".into(),
        state: JobState::Dead,
        payload: "{}".into(),
        attempts: 2,
        max_attempts: 2,
        created_at: 1_000,
        run_at: 1_000,
        updated_at: 5_000,
        finished_at: Some(5_000),
        lease_owner: None,
        lease_expires_at: None,
        idempotency_key: None,
        redeliveries: 1,
        last_error: Some("boom".into()),
        errors: vec![
            AttemptError {
                attempt: 1,
                at: 2_000,
                worker: "w1".into(),
                error: "lease expired: worker w1".into(),
            },
            AttemptError {
                attempt: 2,
                at: 4_000,
                worker: "w2".into(),
                error: "boom".into(),
            },
        ],
    };
    let events: Vec<&str> = timeline(&info).iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        ["enqueued", "redelivered", "attempt_failed", "dead"]
    );
}
