//! Workable against a fake Workable API ([`tests::vendors::workable`]):
//!
//! * [`end_to_end`]: a referral link's token carried into Workable (in a
//!   tag) found when Workable announces the candidate, the attribution
//!   written back (custom attribute and tag), a hire paid only when the
//!   Workable API confirms it, once under fanned-out and repeated
//!   deliveries, its start date from the HRIS, and a reconciliation over
//!   the rate-limited, paged API that finds nothing;
//! * [`removals`]: merges and deletions, which Workable never announces,
//!   noticed by reconciliation as a 404 (`ats_application_gone`);
//! * [`job_facts`]: the job read from `GET /jobs/:shortcode` choosing the
//!   bonus tier;
//! * here: the intake contract at `/webhooks/workable` (200 on receipt,
//!   since Workable replays anything else; 401 for a bad signature; 422
//!   naming the field; 503 while no secret is configured).

mod end_to_end;
mod job_facts;
mod removals;

use std::time::Duration;

use entities::inbox::InboxSource;
use serde_json::Value;
use tests::{
    app::Setup,
    ats_e2e::{Refusal, assert_refused},
    destinations::pay_to_bonus,
    fixtures::{application_by_ats_id, spawn_capture_app},
    vendors::workable::{
        TOKEN_ATTRIBUTE, TOKEN_TAG_PREFIX, WORKABLE_TOKEN, WorkableCandidate, post_workable,
        workable_signature,
    },
};
use worker::config::{Secret, Settings};

/// The job the candidates apply to (a Workable shortcode).
const JOB: &str = "GROOV005";

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The app's Workable client pointed at `fake`, paying to `bonus` after
/// `probation`; reconciliation only when a test runs it.
fn workable_at(s: &mut Settings, fake: &str, bonus: &str, probation: Duration) {
    s.ats.workable.token = Secret::new(WORKABLE_TOKEN);
    s.ats.workable.base_url = fake.to_owned();
    s.ats.workable.custom_attribute_key = TOKEN_ATTRIBUTE.into();
    s.ats.workable.token_tag_prefix = TOKEN_TAG_PREFIX.into();
    s.reconciliation.schedule = String::new();
    pay_to_bonus(s, bonus, probation);
}

#[tokio::test]
async fn refusals_follow_the_intake_contract_and_name_the_problem() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let body =
        WorkableCandidate::new("ce4da98", JOB, "someone@example.org").delivery("candidate_created");
    let signed = |bytes: &[u8]| {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-workable-signature".to_owned(),
                workable_signature(tests::vendors::workable::WORKABLE_SECRET, bytes),
            ),
        ]
    };
    let mut forged = signed(&body);
    forged[1].1 = workable_signature("not-the-secret-at-all", &body);
    let no_id = br#"{"event_type":"candidate_moved","fired_at":"2026-12-07T10:00:00Z","data":{"stage":"hired"}}"#;
    let bad_id = br#"{"event_type":"candidate_moved","data":{"id":"../members"}}"#;
    let cases: Vec<Refusal> = vec![
        ("forged", forged, body.clone(), 401, "does not match"),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            body.clone(),
            401,
            "missing X-Workable-Signature",
        ),
        (
            "signed, not JSON",
            signed(b"{not json"),
            b"{not json".to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "signed, no candidate id",
            signed(no_id),
            no_id.to_vec(),
            422,
            "data.id",
        ),
        (
            "signed, an id that is not one",
            signed(bad_id),
            bad_id.to_vec(),
            422,
            "data.id",
        ),
    ];
    assert_refused(app, db, "/webhooks/workable", InboxSource::Workable, cases).await;
    assert!(application_by_ats_id(db, "ce4da98").await.is_none());
    world.cleanup().await;

    // No secret configured: 503, which Workable replays.
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.workable.webhook_secret = Secret::default();
    })
    .await;
    let (status, answer) = status_and_body(post_workable(&world.app, &body).await).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ats.workable.webhook_secret"),
        "{answer}"
    );
    world.cleanup().await;
}
