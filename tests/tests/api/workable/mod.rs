//! Workable end to end: a referral link's token carried into Workable (in
//! a tag) found when Workable announces the candidate, the attribution
//! written back to a fake Workable (custom attribute and tag), and a hire
//! paid only when the Workable API confirms it, once under repeated
//! deliveries; the intake contract at `/webhooks/workable` (200 on
//! receipt, since Workable replays anything else; 401 for a bad
//! signature; 422 naming the field; 503 while no secret is configured).

use std::time::Duration;

use entities::{
    application::ApplicationStatus,
    inbox::{InboxSource, InboxStatus},
    payout::PayoutState,
    referral::ReferralState,
    states::Ats,
};
use serde_json::Value;
use tests::{
    app::Setup,
    ats_e2e::{Refusal, assert_refused, both_tranches_once},
    destinations::{BONUS_SECRET, pay_to_bonus},
    fixtures::{
        application_by_ats_id, audit_with, mint_link, payouts, put_employee, referrals,
        spawn_capture_app, wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::workable::{
        FakeWorkable, TOKEN_ATTRIBUTE, TOKEN_TAG_PREFIX, WORKABLE_TOKEN, WorkableCandidate,
        post_workable, stored, workable_signature,
    },
};
use worker::config::{Secret, Settings};

/// The job the candidates apply to (a Workable shortcode).
const JOB: &str = "GROOV005";

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The app's Workable client pointed at `fake`, paying to `bonus`.
fn workable_at(s: &mut Settings, fake: &str, bonus: &str) {
    s.ats.workable.token = Secret::new(WORKABLE_TOKEN);
    s.ats.workable.base_url = fake.to_owned();
    s.ats.workable.custom_attribute_key = TOKEN_ATTRIBUTE.into();
    s.ats.workable.token_tag_prefix = TOKEN_TAG_PREFIX.into();
    pay_to_bonus(s, bonus, Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_referral_on_workable_is_written_back_and_only_a_confirmed_hire_is_paid_once() {
    let fake = FakeWorkable::start().await;
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let (base, bonus) = (fake.ats.base_url.clone(), receiver.url("/bonus"));
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| workable_at(s, &base, &bonus)).await;
    let (app, db) = (&world.app, world.db());

    // Priya shares a link; the candidate applies on Workable, whose
    // referral flow carries the link's token in a `ref-` tag.
    put_employee(app, "E-WRK", "priya.raman@acme-example.com", true).await;
    let token = mint_link(app, "E-WRK", JOB).await;
    let mut candidate = WorkableCandidate::new("ce4da98", JOB, "workable.candidate@example.org");
    candidate.tags = vec![format!("{TOKEN_TAG_PREFIX}{token}")];
    fake.put_candidate(&candidate);
    let created = stored(post_workable(app, &candidate.delivery("candidate_created")).await).await;
    wait_inbox(app, created, InboxStatus::Processed).await;

    let application = application_by_ats_id(db, &candidate.id)
        .await
        .expect("the Workable candidate as an application");
    assert_eq!(application.ats, Ats::Workable);
    assert_eq!(application.job_id, JOB);
    assert_eq!(application.status, ApplicationStatus::Active);
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    assert_eq!(refs[0].employee_id, "E-WRK");
    assert_eq!(refs[0].state, ReferralState::Credited);

    // Written back: our token in the custom attribute, our tag added to
    // the candidate's (PUT replaces the list: the `ref-` tag stays).
    wait_until("the attribution written back to Workable", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    assert_eq!(
        fake.attribute_of(&candidate.id, TOKEN_ATTRIBUTE),
        Some(Value::from(token.as_str()))
    );
    assert_eq!(
        fake.tags_of(&candidate.id),
        [
            format!("{TOKEN_TAG_PREFIX}{token}"),
            "Employee Referral".into()
        ]
    );

    // A move whose body claims a hire while the API says the candidate is
    // still at the offer: recorded, and nothing paid.
    let mut claimed = candidate.clone();
    claimed.stage = "hired".into();
    claimed.stage_kind = "hired".into();
    claimed.hired_at = Some(chrono::Utc::now().to_rfc3339());
    fake.edit_candidate(&candidate.id, |c| {
        c["stage"] = "offer".into();
        c["stage_kind"] = "offer".into();
    });
    let unconfirmed = stored(post_workable(app, &claimed.delivery("candidate_moved")).await).await;
    wait_inbox(app, unconfirmed, InboxStatus::Ignored).await;
    let audited = audit_with(db, "workable.hire_unconfirmed").await;
    assert_eq!(audited.len(), 1, "{audited:#?}");
    let still = application_by_ats_id(db, &candidate.id).await.unwrap();
    assert_ne!(still.status, ApplicationStatus::Hired);
    assert!(payouts(db).await.is_empty(), "no money on a claim alone");

    // The real hire, confirmed by the API; each delivery arrives twice at
    // once, and Workable's replay of the first is a duplicate.
    fake.edit_candidate(&candidate.id, |c| {
        c["stage"] = "hired".into();
        c["stage_kind"] = "hired".into();
        c["hired_at"] = claimed.hired_at.clone().into();
    });
    let hire = claimed.delivery("candidate_moved");
    let answers =
        futures::future::join_all([post_workable(app, &hire), post_workable(app, &hire)]).await;
    let mut seen: Vec<String> = Vec::new();
    for answer in answers {
        let (status, body) = status_and_body(answer).await;
        assert_eq!(status, 200, "Workable is answered 200: {body}");
        seen.push(body["status"].as_str().unwrap_or_default().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["accepted", "duplicate"]);

    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let hired = application_by_ats_id(db, &candidate.id).await.unwrap();
    assert_eq!(hired.status, ApplicationStatus::Hired);
    let once = both_tranches_once(db).await;
    assert_eq!(receiver.deliveries_by_idempotency_key(), once);
    world.cleanup().await;
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
