//! Payouts end to end: the ledger rows a hire creates, and the signed,
//! idempotent bonus POST to a real local receiver
//! ([`tests::receiver::Receiver`]) that verifies the signature, records
//! every request, and fails, throttles or stalls on demand.
//!
//! Time is asserted only from below: "not before" is a correctness
//! property (a `Retry-After` honoured, a tranche not paid before its due
//! time); "within N seconds" would only measure the machine.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use entities::{
    milestone::{self, MilestoneKind, MilestoneState},
    payout::{self, PayoutState},
};
use jobs::outbound::webhook::SendOutcome;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tests::{
    app::{Setup, TestApp, delete_redis_prefix, idle_app},
    contract::assert_all_follow_contract,
    destinations::BONUS_SECRET,
    fixtures::{
        self, CareersApplication, GreenhouseApplication, application_by_ats_id, credited_hire,
        find_tranche, lever_hired, lever_opportunity, mint_link, payload, payouts,
        post_careers_site, post_greenhouse, post_greenhouse_sample, post_lever_sample, processed,
        put_employee, referrals, sample, seed_link, spawn_capture_app, tranche, unique, wait_until,
    },
    receiver::{Receiver, Reply},
    tls::TestCa,
};
use worker::config::{Secret, Settings};

tests::both_setups!(
    hire_then_probation_pays_two_tranches_each_once,
    an_attribution_arriving_after_the_probation_ended_pays_both_tranches_once,
    an_unhire_cancels_the_pending_tranche,
    a_receiver_failing_three_times_gets_the_payout_once_under_one_webhook_id,
    a_400_fails_without_retry,
    a_429_with_retry_after_2_is_resent_no_sooner_than_2s_later_and_delivered_once,
    a_read_timeout_to_an_idempotent_receiver_is_resent_with_the_same_webhook_id_and_key,
    a_read_timeout_to_a_non_idempotent_receiver_ends_outcome_unknown_and_is_never_resent,
    an_interrupted_send_to_a_non_idempotent_receiver_is_not_resent,
);

/// Where the bonus system listens on its receiver.
const BONUS_PATH: &str = "/bonus";

/// The test's request timeout for bonus POSTs (`payouts.destination_timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// A receiver delay well past [`REQUEST_TIMEOUT`]: the request arrives, the
/// answer never reaches the client.
const STALL: Duration = Duration::from_millis(1_500);

/// A bonus system: verifies our signature (401 otherwise), answers
/// `script` in order, then 200.
async fn bonus_receiver(script: Vec<Reply>) -> Receiver {
    Receiver::builder()
        .secret(BONUS_SECRET)
        .path(BONUS_PATH)
        .script(script)
        .start()
        .await
}

/// The payout settings of every test here: one rule with `probation`, a
/// quick timer sweep, the receiver at `url`, and the send job's retry
/// schedule (the one place to adapt it).
fn configure(s: &mut Settings, url: &str, probation: Duration) {
    tests::destinations::pay_to_bonus(s, url, probation);
}

async fn tranche_in(db: &DatabaseConnection, name: &str, state: PayoutState) -> bool {
    find_tranche(db, name)
        .await
        .is_some_and(|p| p.state == state)
}

async fn probation_milestone(
    db: &DatabaseConnection,
    application_id: i64,
) -> Option<milestone::Model> {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .expect("milestones")
}

/// Every request the receiver got carried a signature it verified.
fn assert_all_signed(receiver: &Receiver) {
    for r in receiver.requests() {
        assert_eq!(r.verified, Some(true), "unsigned or forged: {r:?}");
    }
}

/// A referred application, then its hire announced twice (fan-out).
/// Returns the application's id.
async fn referred_hire(app: &TestApp, n: u64) -> i64 {
    let application = GreenhouseApplication::new(
        990_000 + n,
        660_000 + n,
        4_012_345,
        &format!("paid{n}@example.org"),
    );
    let gh = credited_hire(app, "E-PAY", application).await;
    application_by_ats_id(&app.state.db, &gh.application_id.to_string())
        .await
        .expect("application")
        .id
}

/// Both tranches delivered, adding up to the rule's amount, each key
/// received and acted on exactly once, each under its own webhook-id.
async fn assert_two_tranches_paid_once(db: &DatabaseConnection, receiver: &Receiver) {
    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let rows = payouts(db).await;
    let total: i64 = rows.iter().map(|p| p.amount_minor).sum();
    assert_eq!(total, 100_000, "the tranches add up to the rule's amount");
    let referral = referrals(db)
        .await
        .into_iter()
        .find(|r| r.id == rows[0].referral_id)
        .expect("the paid referral")
        .public_id;
    let once: BTreeMap<String, usize> = [
        (format!("{referral}:hired"), 1),
        (format!("{referral}:probation_completed"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        receiver.count_by_idempotency_key(),
        once,
        "each tranche once"
    );
    assert_eq!(receiver.deliveries_by_idempotency_key(), once);
    let mut ids = receiver.webhook_ids();
    ids.sort();
    let mut expected: Vec<String> = rows.iter().map(|p| p.webhook_id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected, "one webhook-id per tranche, the row's");
    assert_all_signed(receiver);
    assert_all_follow_contract(&receiver.bodies());
    let probation = receiver
        .bodies()
        .into_iter()
        .find(|b| b["data"]["milestone"] == "probation_completed")
        .expect("the probation message");
    let sample = fixtures::payload_json("outbound_referral_milestone_reached.json");
    assert_eq!(
        shape(&probation),
        shape(&sample),
        "the same fields as the published sample"
    );
    assert_eq!(probation["data"]["bonus"]["tranche"], 2);
    assert_eq!(probation["data"]["bonus"]["of_tranches"], 2);
    for r in receiver.requests() {
        assert_eq!(
            r.idempotency_key(),
            r.body["data"]["idempotency_key"].as_str(),
            "the body's key is the header's"
        );
    }
}

/// The field names of `v`, nested, without the values.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), shape(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::Value::Null,
    }
}

/// The sample the bonus contract is published with follows the schema
/// the service publishes (and the tests check every message against).
#[test]
fn the_published_bonus_sample_follows_the_schema() {
    assert_all_follow_contract(&[fixtures::payload_json(
        "outbound_referral_milestone_reached.json",
    )]);
}

// ---------------------------------------------------------------------------
// The ledger and the happy path
// ---------------------------------------------------------------------------

async fn hire_then_probation_pays_two_tranches_each_once(setup: Setup) {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(2))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 1).await;
    assert_two_tranches_paid_once(db, &receiver).await;
    // The schema is served as documented.
    let served = app
        .client
        .get(app.url("/api/schemas/referral.milestone_reached.json"))
        .send()
        .await
        .expect("GET schema");
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.json().await.expect("a JSON schema");
    let documented: serde_json::Value = serde_json::from_str(include_str!(
        "../../../docs/schemas/referral.milestone_reached.json"
    ))
    .expect("docs schema");
    assert_eq!(served, documented);
    world.cleanup().await;
}

/// Found by the full chaos run: the hire and the whole probation can pass
/// before the referral is known (here the careers-site submission carrying
/// the link is processed after the ATS hire and the probation's end). The
/// probation tranche, created pending when the referral arrives, must not
/// wait for a timer that has already fired.
async fn an_attribution_arriving_after_the_probation_ended_pays_both_tranches_once(setup: Setup) {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(1))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-PAY", "e-pay@acme-example.com", true).await;
    let email = "late-referral@example.org";
    let gh = GreenhouseApplication::new(990_077, 660_077, 4_012_345, email);
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    let mut hired = gh.clone();
    hired.action = "hire_candidate".into();
    hired.status = "hired".into();
    hired.stage = "Hired".into();
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &hired.body()).await,
    )
    .await;
    let application_id = application_by_ats_id(db, &gh.application_id.to_string())
        .await
        .expect("application")
        .id;
    wait_until("the unattributed probation ended", || async {
        probation_milestone(db, application_id)
            .await
            .is_some_and(|m| m.state == MilestoneState::Reached)
    })
    .await;
    assert!(payouts(db).await.is_empty(), "no referral, no payout yet");

    let token = mint_link(app, "E-PAY", "4012345").await;
    let late = CareersApplication::new("4012345", email).referred_by(&token);
    processed(app, fixtures::submit(app, &late).await).await;

    assert_two_tranches_paid_once(db, &receiver).await;
    let probation = probation_milestone(db, application_id)
        .await
        .expect("probation");
    assert_eq!(
        Some(probation.referral_id),
        payouts(db).await.first().map(|p| Some(p.referral_id)),
        "the probation milestone belongs to the referral now"
    );
    world.cleanup().await;
}

async fn an_unhire_cancels_the_pending_tranche(setup: Setup) {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 4).await;
    let gh = GreenhouseApplication::new(990_004, 660_004, 4_012_345, "paid4@example.org");
    let mut unhire = gh.clone();
    unhire.action = "unhire_candidate".into();
    unhire.status = "active".into();
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &unhire.body()).await,
    )
    .await;
    let probation = tranche(db, "probation").await;
    assert_eq!(probation.state, PayoutState::Cancelled);
    assert!(probation.reason.unwrap_or_default().contains("active"));
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// What the receiver answers
// ---------------------------------------------------------------------------

async fn a_receiver_failing_three_times_gets_the_payout_once_under_one_webhook_id(setup: Setup) {
    let receiver = bonus_receiver([500, 503, 502, 200].map(Reply::status).to_vec()).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 2).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    let hire = tranche(db, "hire").await;
    assert_eq!(hire.attempts, 4);
    let seen = receiver.requests();
    assert_eq!(seen.len(), 4, "three failures and one success");
    assert!(
        receiver
            .webhook_ids()
            .iter()
            .all(|id| *id == hire.webhook_id),
        "the same webhook-id every time"
    );
    assert_eq!(
        receiver.deliveries_by_idempotency_key()[&hire.idempotency_key],
        1
    );
    assert_all_signed(&receiver);
    let probation = tranche(db, "probation").await;
    assert_eq!(probation.state, PayoutState::Pending, "waits for its timer");
    world.cleanup().await;
}

async fn a_400_fails_without_retry(setup: Setup) {
    let receiver = bonus_receiver(vec![Reply::status(400).body("amount_minor: bad")]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 3).await;
    wait_until("the hire tranche failed", || {
        tranche_in(db, "hire", PayoutState::Failed)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.count(), 1, "no retry after a 4xx");
    let hire = tranche(db, "hire").await;
    assert_eq!(hire.state, PayoutState::Failed);
    assert_eq!(hire.last_status_code, Some(400));
    world.cleanup().await;
}

async fn a_429_with_retry_after_2_is_resent_no_sooner_than_2s_later_and_delivered_once(
    setup: Setup,
) {
    let receiver = bonus_receiver(vec![Reply::status(429).retry_after("2")]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 6).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    let hire = tranche(db, "hire").await;
    let seen = receiver.requests();
    let statuses: Vec<u16> = seen.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200], "throttled once, then accepted");
    assert_eq!(hire.attempts, 2);
    assert_eq!(
        receiver.deliveries_by_idempotency_key()[&hire.idempotency_key],
        1,
        "delivered exactly once"
    );
    assert!(
        receiver
            .webhook_ids()
            .iter()
            .all(|id| *id == hire.webhook_id),
        "the same webhook-id on the resend"
    );
    // The server's wait is honoured. The 429 was answered after the first
    // request arrived, and the wait runs from the answer, so 2 s is a
    // lower bound; the margin only absorbs clock granularity (the
    // default backoff here is 100-200 ms, far below it).
    let gap = seen[1].at.duration_since(seen[0].at);
    assert!(
        gap >= Duration::from_millis(1_950),
        "resent {gap:?} after a 429 with Retry-After: 2"
    );
    assert_all_signed(&receiver);
    world.cleanup().await;
}

async fn a_read_timeout_to_an_idempotent_receiver_is_resent_with_the_same_webhook_id_and_key(
    setup: Setup,
) {
    // The first request arrives and is answered only after the client gave
    // up: the receiver may have acted on it, but it dedupes, so resending
    // the same message is safe.
    let receiver = bonus_receiver(vec![Reply::ok().delay(STALL)]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400));
        s.payouts.destination_timeout = REQUEST_TIMEOUT;
        s.payouts.destination_idempotent = true;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 7).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    let hire = tranche(db, "hire").await;
    let seen = receiver.requests();
    assert_eq!(seen.len(), 2, "the stalled request and its resend");
    for r in &seen {
        assert_eq!(r.webhook_id(), Some(hire.webhook_id.as_str()));
        assert_eq!(r.idempotency_key(), Some(hire.idempotency_key.as_str()));
    }
    assert_eq!(
        seen[0].body["data"], seen[1].body["data"],
        "the same message (byte identity: `every_retry_of_a_bonus_post_sends_the_same_bytes`)"
    );
    assert_eq!(hire.attempts, 2);
    assert_eq!(hire.last_status_code, Some(200));
    assert_all_signed(&receiver);
    world.cleanup().await;
}

async fn a_read_timeout_to_a_non_idempotent_receiver_ends_outcome_unknown_and_is_never_resent(
    setup: Setup,
) {
    // The same stall at a receiver that does not dedupe: a resend could pay
    // the bonus twice, so the payout waits for a human.
    let receiver = bonus_receiver(vec![Reply::ok().delay(STALL)]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400));
        s.payouts.destination_timeout = REQUEST_TIMEOUT;
        s.payouts.destination_idempotent = false;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 8).await;
    wait_until("the hire tranche's outcome is unknown", || {
        tranche_in(db, "hire", PayoutState::OutcomeUnknown)
    })
    .await;
    assert_eq!(receiver.count(), 1, "it did reach the receiver, once");
    // Long enough for several timer sweeps and retry delays: nothing may
    // pick it up again.
    tokio::time::sleep(STALL + Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1, "never resent");
    let hire = tranche(db, "hire").await;
    assert_eq!(hire.state, PayoutState::OutcomeUnknown);
    assert_eq!(hire.attempts, 1);
    assert!(hire.reason.is_some(), "the reason is recorded for ops");
    assert_all_signed(&receiver);
    world.cleanup().await;
}

async fn an_interrupted_send_to_a_non_idempotent_receiver_is_not_resent(setup: Setup) {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(setup, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400));
        s.payouts.destination_idempotent = false;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 5).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    // The probation tranche as a worker killed mid-POST leaves it.
    let pending = tranche(db, "probation").await;
    let mut a: payout::ActiveModel = pending.clone().into();
    a.state = sea_orm::ActiveValue::Set(PayoutState::Sending);
    sea_orm::ActiveModelTrait::update(a, db)
        .await
        .expect("update");
    let before = receiver.count();

    let ctx = worker::runtime::job_context(&app.state.settings, &app.state).expect("context");
    jobs::payout::send::send(&ctx, pending.id, 2)
        .await
        .expect("send");

    let after = payout::Entity::find_by_id(pending.id)
        .one(db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(after.state, PayoutState::OutcomeUnknown);
    assert_eq!(receiver.count(), before, "not resent");
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_retry_of_a_bonus_post_sends_the_same_bytes() {
    // Standard Webhooks: a retry is the same message, id *and* body; only
    // webhook-timestamp (and so the signature) is the attempt's own.
    let receiver = bonus_receiver(vec![Reply::status(503)]).await;
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 10).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    let seen = receiver.requests();
    assert_eq!(seen.len(), 2, "one 503, one 200");
    assert_eq!(seen[0].webhook_id(), seen[1].webhook_id());
    assert_eq!(
        String::from_utf8_lossy(&seen[0].raw),
        String::from_utf8_lossy(&seen[1].raw),
        "a retry sends the very same body"
    );
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// PostgreSQL + Redis
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_wipe_while_the_probation_timer_is_pending_still_pays_it_once_and_not_early() {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(4))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let application_id = referred_hire(app, 9).await;
    wait_until("the hire tranche delivered", || {
        tranche_in(db, "hire", PayoutState::Delivered)
    })
    .await;
    let armed = probation_milestone(db, application_id)
        .await
        .expect("probation milestone");
    assert_eq!(armed.state, MilestoneState::Armed, "still pending");
    let due: DateTime<Utc> = armed.due_at.expect("due time");
    let first_job = armed.timer_job_id.clone().expect("a timer job");

    // FLUSHALL for this test: the timer's job is gone with everything else.
    delete_redis_prefix(app.redis_prefix.as_deref().expect("a Redis app")).await;
    assert!(
        fixtures::job(app, &first_job).await.is_none(),
        "the wipe removed the timer's job"
    );

    wait_until("the probation tranche delivered", || {
        tranche_in(db, "probation", PayoutState::Delivered)
    })
    .await;
    let done = probation_milestone(db, application_id)
        .await
        .expect("probation milestone");
    assert_eq!(done.state, MilestoneState::Reached);
    assert_eq!(done.occurred_at, Some(due), "completed at its due time");
    assert_ne!(
        done.timer_job_id.as_deref(),
        Some(first_job.as_str()),
        "the sweeper armed a new job"
    );
    let paid = tranche(db, "probation").await;
    let sent_at = paid.sent_at.expect("sent_at");
    assert!(
        sent_at >= due,
        "sent at {sent_at}, before it was due at {due}"
    );
    assert!(paid.delivered_at.is_some_and(|d| d >= due));
    let counts = receiver.count_by_idempotency_key();
    assert_eq!(counts.get(&paid.idempotency_key), Some(&1), "{counts:?}");
    let hire = tranche(db, "hire").await;
    assert_eq!(counts.get(&hire.idempotency_key), Some(&1), "{counts:?}");
    assert_eq!(receiver.count(), 2);
    assert_all_signed(&receiver);
    world.cleanup().await;
}

/// The Greenhouse samples byte for byte, as a real candidacy produces
/// them: the careers-site submission carrying the sample token, the
/// Greenhouse application it becomes, Offer, Hired as a stage change and as
/// `hire_candidate`. The samples' hire lies in the past, so the probation
/// timer (hire + 3 s) is due at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_greenhouse_samples_pay_the_hire_and_probation_tranches_each_once() {
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(3))
    })
    .await;
    world.harvest.seed_samples();
    let (app, db) = (&world.app, world.db());
    put_employee(app, sample::REFERRER, sample::REFERRER_EMAIL, true).await;
    seed_link(
        db,
        sample::TOKEN,
        sample::REFERRER,
        sample::JOB,
        "2025-08-01T00:00:00Z".parse().expect("time"),
        Utc::now() + chrono::Duration::days(365),
    )
    .await;
    let careers = payload(fixtures::CAREERS_SITE_SAMPLE);
    processed(app, post_careers_site(app, "msg_sample_1", &careers).await).await;
    for name in [
        fixtures::GH_NEW_APPLICATION,
        fixtures::GH_STAGE_CHANGE,
        fixtures::GH_STAGE_CHANGE_HIRED,
        fixtures::GH_HIRE,
    ] {
        processed(app, post_greenhouse_sample(app, name).await).await;
    }
    assert_two_tranches_paid_once(db, &receiver).await;

    let mut bodies = receiver.bodies();
    bodies.sort_by_key(|b| b["data"]["milestone"].to_string());
    let milestones: Vec<&str> = bodies
        .iter()
        .map(|b| b["data"]["milestone"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(milestones, ["hired", "probation_completed"]);
    for b in &bodies {
        assert_eq!(b["type"], "referral.milestone_reached");
        let data = &b["data"];
        assert_eq!(data["referring_employee_id"], sample::REFERRER);
        assert_eq!(
            data["candidate"]["ats_application_id"],
            sample::GH_APPLICATION
        );
        assert_eq!(data["job"]["ats_job_id"], sample::JOB);
        assert_eq!(data["bonus"]["amount_minor"], 50_000);
        assert_eq!(data["bonus"]["currency"], "EUR");
    }
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .expect("the Greenhouse application");
    let due = probation_milestone(db, gh.id)
        .await
        .and_then(|m| m.due_at)
        .expect("probation due time");
    let paid = tranche(db, "probation").await;
    assert!(paid.sent_at.is_some_and(|t| t >= due), "not before due");
    world.cleanup().await;
}

/// The Lever samples: a careers-site submission referred for a Lever
/// posting, the same person's opportunity moving to Offer
/// (`candidateStageChange`) and hired (`candidateHired`), its facts
/// re-fetched from a fake Lever API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lever_samples_pay_the_hire_and_probation_tranches_each_once() {
    const POSTING: &str = "lever-posting-1";
    let receiver = bonus_receiver(vec![]).await;
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        configure(s, &receiver.url(BONUS_PATH), Duration::from_secs(3))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-LEVER", "lever.referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-LEVER", POSTING).await;
    let mut submission = CareersApplication::new(POSTING, sample::EMAIL_CANONICAL)
        .referred_by(&token)
        .json();
    submission["job"]["ats"] = "lever".into();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;

    let opportunity = |stage: &str| {
        lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            stage,
            POSTING,
            Utc::now(),
        )
    };
    world
        .lever
        .set_opportunity(sample::LEVER_OPPORTUNITY, opportunity("Offer"));
    processed(
        app,
        post_lever_sample(app, fixtures::LEVER_STAGE_CHANGE).await,
    )
    .await;
    let lever = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .expect("the Lever application");
    let credited = referrals(db).await;
    assert_eq!(credited.len(), 1, "{credited:#?}");
    assert_eq!(
        credited[0].application_id,
        Some(lever.id),
        "the referral moved to the Lever opportunity"
    );

    world
        .lever
        .set_opportunity(sample::LEVER_OPPORTUNITY, lever_hired(opportunity("Hired")));
    processed(app, post_lever_sample(app, fixtures::LEVER_HIRED).await).await;
    let hired = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .expect("the Lever application");
    assert_eq!(
        hired.status,
        entities::application::ApplicationStatus::Hired
    );
    assert!(
        hired.hired_at.is_some(),
        "a hired Lever application has a hire time (the milestones need it): {hired:?}"
    );
    assert_two_tranches_paid_once(db, &receiver).await;
    world.cleanup().await;
}

/// A bonus system behind a private CA (on-premise payroll): with
/// `outbound.ca_file` naming that CA, the client the app builds from its
/// settings delivers the signed POST over HTTPS; without it the handshake
/// fails on the unknown issuer and nothing arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bonus_system_behind_a_private_ca_is_reached_through_outbound_ca_file() {
    let ca = TestCa::new("payroll CA");
    let bonus = Receiver::builder()
        .secret(BONUS_SECRET)
        .path(BONUS_PATH)
        .tls(&ca.server_cert())
        .start()
        .await;
    assert!(bonus.url(BONUS_PATH).starts_with("https://localhost:"));
    let dir = std::env::temp_dir().join(format!("rw-ca-{}", unique("")));
    std::fs::create_dir_all(&dir).expect("create the CA directory");
    let ca_file = ca.write_pem(&dir).display().to_string();
    let message = jobs::outbound::webhook::Message {
        id: unique("msg_"),
        event_type: "referral.milestone_reached".into(),
        occurred_at: Utc::now(),
        data: serde_json::json!({ "payout_id": 1 }),
        idempotency_key: "1:hire".into(),
    };
    let bonus_url = bonus.url(BONUS_PATH);
    let app_with = |ca_file: Option<String>| {
        let bonus_url = bonus_url.clone();
        idle_app(Setup::EMBEDDED_SQLITE, move |s| {
            s.payouts.destination_url = bonus_url;
            s.payouts.destination_secret = Secret::new(BONUS_SECRET);
            s.payouts.destination_timeout = Duration::from_secs(5);
            if let Some(path) = ca_file {
                s.outbound.ca_file = path;
            }
        })
    };

    let untrusted = app_with(None).await;
    let client = untrusted.state.jobs.payouts.destination.clone();
    let outcome = client.expect("a bonus client").send(&message).await;
    let shown = format!("{outcome:?}");
    assert!(!matches!(outcome, SendOutcome::Delivered { .. }), "{shown}");
    assert!(shown.contains("UnknownIssuer"), "{shown}");
    assert_eq!(bonus.count(), 0);
    untrusted.cleanup().await;

    let trusted = app_with(Some(ca_file)).await;
    let client = trusted.state.jobs.payouts.destination.clone();
    let outcome = client.expect("a bonus client").send(&message).await;
    assert!(
        matches!(outcome, SendOutcome::Delivered { status: 200, .. }),
        "{outcome:?}"
    );
    let received = bonus.accepted();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].verified, Some(true));
    assert_eq!(received[0].webhook_id(), Some(message.id.as_str()));
    trusted.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `outbound.ca_file` naming a file that holds no certificate stops
/// start-up naming the key, rather than failing every send later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_ca_file_without_a_certificate_stops_start_up() {
    let dir = std::env::temp_dir().join(format!("rw-ca-{}", unique("")));
    std::fs::create_dir_all(&dir).expect("create the CA directory");
    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    let db = tests::app::fresh_db(tests::app::DbDriver::Sqlite).await;
    let mut settings = tests::app::test_settings(&db.url, None);
    settings.payouts.destination_url = "https://payroll.example/bonus".into();
    settings.payouts.destination_secret = Secret::new(BONUS_SECRET);
    settings.outbound.ca_file = not_pem.display().to_string();
    let error = match tests::app::try_spawn_app(settings).await {
        Ok(mut app) => {
            let _ = app.stop().await;
            panic!("the app started with a CA file holding no certificate");
        }
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("payouts.destination"), "{error}");
    assert!(
        error.contains("CA bundle holds no PEM certificate"),
        "{error}"
    );
    db.drop_database().await;
    let _ = std::fs::remove_dir_all(&dir);
}
