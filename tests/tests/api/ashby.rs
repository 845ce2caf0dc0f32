//! Ashby end to end: its sample deliveries verified, deduplicated on
//! (`webhookActionId`, `action`) and captured; the intake contract at
//! `/webhooks/ashby` (401 only for a bad signature, 503 while no secret is
//! configured, since Ashby never retries a 401); and a referral link's
//! token on an Ashby application written back to a fake Ashby, then the
//! hire with its start date paying both tranches once while Ashby fans the
//! hire out and repeats every delivery.

use chrono::{TimeZone, Utc};
use std::time::Duration;

use entities::{
    application::ApplicationStatus,
    inbox::{InboxSource, InboxStatus},
    milestone::{self, MilestoneKind},
    payout::PayoutState,
    referral::{ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use tests::{
    app::Setup,
    ashby::{
        self, ASHBY_KEY, AshbyApplication, FakeAshby, ashby_headers, post_ashby, post_ashby_sample,
        sample,
    },
    ats_e2e::{Refusal, assert_refused, both_tranches_once},
    destinations::{BONUS_SECRET, pay_to_bonus},
    fixtures::{
        accepted, application_by_ats_id, audit_with, candidates, inbox_rows, mint_link, payouts,
        processed, put_employee, referrals, sample as shared, seed_link, spawn_capture_app,
        wait_inbox, wait_until,
    },
    receiver::Receiver,
};
use worker::config::Secret;

/// The referrer of the samples (Priya Raman), as our HRIS knows her.
const REFERRER: &str = "E-10442";

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_samples_are_verified_deduplicated_and_captured() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, REFERRER, shared::REFERRER_EMAIL, true).await;
    seed_link(
        db,
        shared::TOKEN,
        REFERRER,
        sample::JOB,
        Utc.with_ymd_and_hms(2025, 10, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    )
    .await;

    // The application carries our token in its "Referral token" field.
    processed(app, post_ashby_sample(app, ashby::SUBMIT).await).await;
    let stored = application_by_ats_id(db, sample::APPLICATION)
        .await
        .expect("the Ashby application");
    assert_eq!(stored.ats, Ats::Ashby);
    assert_eq!(stored.job_id, sample::JOB);
    assert_eq!(stored.status, ApplicationStatus::Active);
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    assert_eq!(refs[0].employee_id, REFERRER);
    assert_eq!(refs[0].state, ReferralState::Credited);
    assert_eq!(refs[0].source, ReferralSource::ReferralLink);
    assert_eq!(refs[0].application_id, Some(stored.id));
    let person = candidates(db).await;
    assert_eq!(person.len(), 1);
    assert_eq!(
        person[0].email_canonical.as_deref(),
        Some(shared::EMAIL_CANONICAL)
    );

    // The hire: Hired as Ashby states it, from the accepted offer's start.
    processed(app, post_ashby_sample(app, ashby::HIRE).await).await;
    let hired = application_by_ats_id(db, sample::APPLICATION)
        .await
        .unwrap();
    assert_eq!(hired.status, ApplicationStatus::Hired);
    assert_eq!(
        hired.start_date,
        Some(Utc.with_ymd_and_hms(2026, 1, 12, 0, 0, 0).unwrap())
    );

    // Its fan-out shares the webhookActionId: other actions, other
    // deliveries. A retry of any of them is a duplicate.
    processed(app, post_ashby_sample(app, ashby::STAGE_CHANGE).await).await;
    processed(app, post_ashby_sample(app, ashby::UPDATE).await).await;
    for name in [ashby::HIRE, ashby::STAGE_CHANGE, ashby::UPDATE] {
        let (status, body) = status_and_body(post_ashby_sample(app, name).await).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{name}: {body}"
        );
    }
    let ashby_rows: Vec<_> = inbox_rows(db)
        .await
        .into_iter()
        .filter(|r| r.source == InboxSource::Ashby)
        .collect();
    let keys: Vec<&str> = ashby_rows.iter().map(|r| r.delivery_id.as_str()).collect();
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with(sample::HIRE_ACTION))
            .count(),
        3,
        "{keys:?}"
    );
    assert!(keys.contains(&format!("{}/candidateHire", sample::HIRE_ACTION).as_str()));
    let still = application_by_ats_id(db, sample::APPLICATION)
        .await
        .unwrap();
    assert_eq!(
        (still.status, still.start_date),
        (hired.status, hired.start_date),
        "the fan-out re-states the hire and changes nothing"
    );

    // A later start date moves the start.
    processed(app, post_ashby_sample(app, ashby::OFFER_UPDATE).await).await;
    let moved = application_by_ats_id(db, sample::APPLICATION)
        .await
        .unwrap();
    assert_eq!(
        moved.start_date,
        Some(Utc.with_ymd_and_hms(2026, 2, 2, 0, 0, 0).unwrap())
    );

    // A merge of a candidate we never saw changes nothing of ours.
    let merged = accepted(post_ashby_sample(app, ashby::MERGE).await).await;
    wait_inbox(app, merged.inbox_id, InboxStatus::Ignored).await;

    // Deleting the candidate in Ashby erases our copy's personal data;
    // the referral and the application stay.
    processed(app, post_ashby_sample(app, ashby::DELETE).await).await;
    let erased = candidates(db).await;
    assert!(erased[0].anonymized_at.is_some(), "{:?}", erased[0]);
    assert_eq!(erased[0].email_canonical, None);
    assert_eq!(referrals(db).await.len(), 1);

    // The ping Ashby sends when a webhook is saved is answered 2xx.
    let ping = accepted(post_ashby_sample(app, ashby::PING).await).await;
    wait_inbox(app, ping.inbox_id, InboxStatus::Ignored).await;
    let (status, _) = status_and_body(post_ashby_sample(app, ashby::PING).await).await;
    assert_eq!(status, 200);
    world.cleanup().await;
}

#[tokio::test]
async fn refusals_follow_the_intake_contract_and_name_the_problem() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let body = br#"{"webhookActionId":"3b8e5f1a-92c4-4d7e-a6b0-5c1d9e2f7a41","action":"applicationSubmit","data":{"application":{"id":"abc"}}}"#;

    let mut forged = ashby_headers(body);
    forged[1].1 = ashby::ashby_signature("not-the-secret-at-all", body);
    let cases: Vec<Refusal> = vec![
        ("forged", forged, body.to_vec(), 401, "does not match"),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            body.to_vec(),
            401,
            "missing Ashby-Signature",
        ),
        (
            "signed, not JSON",
            ashby_headers(b"{not json"),
            b"{not json".to_vec(),
            400,
            "malformed JSON",
        ),
        (
            "signed, no webhookActionId",
            ashby_headers(br#"{"action":"applicationSubmit","data":{}}"#),
            br#"{"action":"applicationSubmit","data":{}}"#.to_vec(),
            422,
            "webhookActionId",
        ),
        (
            "signed, an id that is not a UUID",
            ashby_headers(body),
            body.to_vec(),
            422,
            "data.application.id: expected a UUID",
        ),
        (
            "text/plain",
            {
                let mut h = ashby_headers(body);
                h[0].1 = "text/plain".into();
                h
            },
            body.to_vec(),
            415,
            "application/json",
        ),
    ];
    assert_refused(app, db, "/webhooks/ashby", InboxSource::Ashby, cases).await;
    assert!(application_by_ats_id(db, "abc").await.is_none());
    world.cleanup().await;

    // No secret configured: 503, which Ashby retries, never 401.
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.ashby.webhook_secret = Secret::default();
    })
    .await;
    let (status, answer) =
        status_and_body(post_ashby_sample(&world.app, ashby::SUBMIT).await).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "unavailable");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ats.ashby.webhook_secret")
    );
    let rows = inbox_rows(world.db()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status, rows[0].raw_body.is_none()),
        (InboxStatus::Rejected, true)
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_referral_link_on_an_ashby_application_is_written_back_and_its_hire_paid_once() {
    let fake = FakeAshby::start().await;
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let base = fake.ats.base_url.clone();
    let bonus = receiver.url("/bonus");
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.ashby.api_key = Secret::new(ASHBY_KEY);
        s.ats.ashby.base_url = base;
        s.ats.ashby.requests_per_second = 100;
        pay_to_bonus(s, &bonus, Duration::from_secs(2));
    })
    .await;
    let (app, db) = (&world.app, world.db());

    // Priya shares a link; the candidate applies on Ashby's job board,
    // whose form puts the link's token in the "Referral token" field.
    put_employee(app, "E-ASH", shared::REFERRER_EMAIL, true).await;
    let token = mint_link(app, "E-ASH", sample::JOB).await;
    let mut application = AshbyApplication::new(
        "7e1d2c3b-4a5f-4e6d-8c7b-9a0f1e2d3c4b",
        "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
        sample::JOB,
        "ashby.candidate@example.org",
    );
    application.token = Some(token.clone());
    fake.set_application(&application);
    processed(
        app,
        post_ashby(
            app,
            &application.delivery(&unique_uuid(), "applicationSubmit", None),
        )
        .await,
    )
    .await;

    // Written back: our token in the field, the tag, Priya credited.
    wait_until("the attribution written back to Ashby", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    assert_eq!(
        fake.token_of(&application.id),
        Some(Value::from(token.as_str()))
    );
    assert_eq!(
        fake.tags_of(&application.candidate_id),
        ["Employee Referral"]
    );
    assert_eq!(
        fake.credited(&application.id).as_deref(),
        Some(sample::PRIYA_USER)
    );

    // The hire, fanned out by Ashby into three webhooks under one action
    // id, each delivered twice at once.
    application.status = "Hired".into();
    application.stage = "Hired".into();
    fake.set_application(&application);
    let start = Utc::now().date_naive();
    let start_text = format!("{start}T00:00:00.000Z");
    let action_id = unique_uuid();
    let bodies: Vec<Vec<u8>> = [
        ("candidateHire", Some(start_text.as_str())),
        ("candidateStageChange", None),
        ("applicationUpdate", None),
    ]
    .iter()
    .map(|(action, start)| application.delivery(&action_id, action, *start))
    .collect();
    let sends = bodies
        .iter()
        .chain(bodies.iter())
        .map(|body| post_ashby(app, body));
    let answers = futures::future::join_all(sends).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 202, 202, 202],
        "three deliveries, three repeats"
    );

    // Both tranches, each delivered once; probation from the start date.
    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let once = both_tranches_once(db).await;
    assert_eq!(receiver.deliveries_by_idempotency_key(), once);
    assert_eq!(receiver.count_by_idempotency_key(), once);
    let stored = application_by_ats_id(db, &application.id).await.unwrap();
    assert_eq!(stored.status, ApplicationStatus::Hired);
    let probation = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(stored.id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .unwrap()
        .expect("the probation milestone");
    assert_eq!(
        probation.due_at,
        Some(start.and_hms_opt(0, 0, 2).unwrap().and_utc()),
        "start date + probation"
    );
    world.cleanup().await;
}

/// A fresh unique id in the UUID form Ashby uses (a ULID's 128 bits).
fn unique_uuid() -> String {
    let bits: u128 = ulid::Ulid::generate().into();
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
