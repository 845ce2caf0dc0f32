//! Payouts end to end: the ledger rows a hire creates, and the signed,
//! idempotent bonus POST to a real local receiver that verifies the
//! signature, counts deliveries by idempotency key and fails on demand.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use entities::payout::{self, PayoutState};
use jobs::payout::rules::{BonusRules, default_rules};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tests::{
    app::{Setup, TestApp},
    fixtures::{
        GreenhouseApplication, application_by_ats_id, post_greenhouse, processed, put_employee,
        spawn_capture_app, unique, wait_until,
    },
};
use worker::config::{RetryOverride, Secret, Settings};

const SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";

/// One request the receiver got: webhook-id, Idempotency-Key.
type Seen = (String, String);

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let hook = standardwebhooks::Webhook::new(SECRET).expect("secret");
    if hook.verify(&body, &headers).is_err() {
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    let get = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    r.seen
        .lock()
        .expect("lock")
        .push((get("webhook-id"), get("idempotency-key")));
    let status = r.script.lock().expect("lock").pop_front().unwrap_or(200);
    axum::http::StatusCode::from_u16(status).expect("status")
}

async fn start_receiver(script: &[u16]) -> (Receiver, String) {
    let r = Receiver::default();
    r.script
        .lock()
        .expect("lock")
        .extend(script.iter().copied());
    let app = Router::new()
        .route("/bonus", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (r, format!("http://{addr}/bonus"))
}

fn configure(s: &mut Settings, url: &str, probation: Duration) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = probation;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.payouts.destination_url = url.to_string();
    s.payouts.destination_secret = Secret::new(SECRET);
    s.queue.kinds.insert(
        "send_payout".into(),
        RetryOverride {
            max_attempts: Some(6),
            base_delay: Some(Duration::from_millis(100)),
            max_delay: Some(Duration::from_millis(200)),
        },
    );
}

async fn payouts(db: &DatabaseConnection) -> Vec<payout::Model> {
    payout::Entity::find().all(db).await.expect("payouts")
}

/// A referred application, then its hire announced twice (fan-out).
async fn referred_hire(app: &TestApp, n: u64) -> i64 {
    put_employee(app, "E-PAY", "payer@acme-example.com", true).await;
    let gh = GreenhouseApplication::new(
        990_000 + n,
        660_000 + n,
        4_012_345,
        &format!("paid{n}@example.org"),
    )
    .credited_to("E-PAY");
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    for action in ["candidate_stage_change", "hire_candidate"] {
        let mut e = gh.clone();
        e.action = action.into();
        e.status = "hired".into();
        e.stage = "Hired".into();
        processed(app, post_greenhouse(app, &unique("evt"), &e.body()).await).await;
    }
    application_by_ats_id(&app.state.db, &gh.application_id.to_string())
        .await
        .expect("application")
        .id
}

#[tokio::test]
async fn hire_then_probation_pays_two_tranches_each_once() {
    let (receiver, url) = start_receiver(&[]).await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &url, Duration::from_secs(2))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 1).await;
    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let rows = payouts(db).await;
    let total: i64 = rows.iter().map(|p| p.amount_minor).sum();
    assert_eq!(total, 100_000, "the tranches add up to the rule's amount");
    let seen = receiver.seen.lock().expect("lock").clone();
    let mut keys: Vec<String> = seen.iter().map(|(_, k)| k.clone()).collect();
    keys.sort();
    let referral = rows[0].referral_id;
    assert_eq!(
        keys,
        vec![
            format!("{referral}:hire"),
            format!("{referral}:probation_complete")
        ],
        "each tranche once"
    );
    world.cleanup().await;
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_payout_once_under_one_webhook_id() {
    let (receiver, url) = start_receiver(&[500, 503, 502, 200]).await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &url, Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 2).await;
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    let hire = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("hire tranche");
    assert_eq!(hire.attempts, 4);
    let seen = receiver.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4, "three failures and one success");
    assert!(
        seen.iter().all(|(id, _)| *id == hire.webhook_id),
        "the same webhook-id every time"
    );
    let probation = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "probation")
        .expect("probation tranche");
    assert_eq!(probation.state, PayoutState::Pending, "waits for its timer");
    world.cleanup().await;
}

#[tokio::test]
async fn a_400_fails_without_retry() {
    let (receiver, url) = start_receiver(&[400]).await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &url, Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 3).await;
    wait_until("the hire tranche failed", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Failed)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        receiver.seen.lock().expect("lock").len(),
        1,
        "no retry after a 4xx"
    );
    world.cleanup().await;
}

#[tokio::test]
async fn an_unhire_cancels_the_pending_tranche() {
    let (_receiver, url) = start_receiver(&[]).await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &url, Duration::from_secs(86_400))
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
    let probation = payout::Entity::find()
        .filter(payout::Column::Tranche.eq("probation"))
        .one(db)
        .await
        .expect("query")
        .expect("probation tranche");
    assert_eq!(probation.state, PayoutState::Cancelled);
    assert!(probation.reason.unwrap_or_default().contains("active"));
    world.cleanup().await;
}

#[tokio::test]
async fn an_interrupted_send_to_a_non_idempotent_receiver_is_not_resent() {
    let (receiver, url) = start_receiver(&[]).await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &url, Duration::from_secs(86_400));
        s.payouts.destination_idempotent = false;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    referred_hire(app, 5).await;
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    // The probation tranche as a worker killed mid-POST leaves it.
    let pending = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "probation")
        .expect("probation tranche");
    let mut a: payout::ActiveModel = pending.clone().into();
    a.state = sea_orm::ActiveValue::Set(PayoutState::Sending);
    sea_orm::ActiveModelTrait::update(a, db)
        .await
        .expect("update");
    let before = receiver.seen.lock().expect("lock").len();

    let ctx = worker::runtime::job_context(&app.state.settings, &app.state).expect("context");
    jobs::payout::ledger::send(&ctx, pending.id, 2)
        .await
        .expect("send");

    let after = payout::Entity::find_by_id(pending.id)
        .one(db)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(after.state, PayoutState::OutcomeUnknown);
    assert_eq!(
        receiver.seen.lock().expect("lock").len(),
        before,
        "not resent"
    );
    world.cleanup().await;
}
