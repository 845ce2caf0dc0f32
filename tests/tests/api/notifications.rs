//! What payouts tell the world beyond the bonus POST, and what ops can do
//! about them: manual approval and holds, a `410 Gone` that switches the
//! bonus destination off (with an alert) until ops switch it back on,
//! alerts for dead payouts that link to their job, the status sync of
//! every milestone and payout change, and the hire hand-off to the CRM.
//!
//! Every outside system is a real local server ([`tests::receiver`]) that
//! verifies Standard Webhooks signatures where the real one would.

use std::time::Duration;

use entities::{payout::PayoutState, referral};
use jobs::payout::rules::{BonusRules, default_rules};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp},
    contract::{assert_all_alerts_follow_contract, assert_all_follow_contract},
    destinations::Destinations,
    fixtures::{
        GreenhouseApplication, application_by_ats_id, audit_with, credited_hire, payouts,
        post_greenhouse, processed, spawn_capture_app, tokens, tranche, unique, wait_until,
    },
    receiver::{Receiver, Reply},
};
use worker::config::Settings;

/// Points the app at every destination, with one bonus rule; retries come
/// quickly.
fn configure(world: &Destinations, s: &mut Settings, probation: Duration, approval: bool) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = probation;
    rule.require_approval = approval;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    world.point_at(s);
}

/// A credited Greenhouse application for `n`, hired (announced twice, as
/// Greenhouse does). Returns the builder, to send later events.
async fn referred_hire(app: &TestApp, n: u64) -> GreenhouseApplication {
    let application = GreenhouseApplication::new(
        880_000 + n,
        550_000 + n,
        4_012_345,
        &format!("notified{n}@example.org"),
    );
    credited_hire(app, "E-NOTE", application).await
}

async fn ops_post(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The texts of the alerts Slack got.
fn alert_texts(slack: &Receiver) -> Vec<String> {
    slack
        .bodies()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_payout_that_needs_approval_waits_for_ops_and_is_sent_once_approved() {
    let world = Destinations::start(vec![]).await;
    let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(&world, s, Duration::from_secs(86_400), true)
    })
    .await;
    let db = app.db();
    referred_hire(&app.app, 1).await;
    let hire = tranche(db, "hire").await;
    assert_eq!(hire.state, PayoutState::Eligible);
    assert!(hire.needs_approval);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(world.bonus.count(), 0, "nothing is sent before approval");

    let path = format!("/api/payouts/{}/approve", hire.id);
    let no_token = app
        .app
        .client
        .post(app.app.url(&path))
        .json(&json!({"reason": "ok"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = ops_post(&app.app, &path, tokens::EMPLOYEES, json!({"reason": "ok"})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the HRIS token may not approve"
    );
    let (status, body) = ops_post(&app.app, &path, tokens::OPS, json!({"reason": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_field", "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").starts_with("reason:"),
        "names the field: {body}"
    );

    // Held first (a dispute), then released by approval.
    let hold = format!("/api/payouts/{}/hold", hire.id);
    let (status, body) = ops_post(&app.app, &hold, tokens::OPS, json!({"reason": "dispute"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "held");
    let (status, body) = ops_post(
        &app.app,
        &path,
        tokens::OPS,
        json!({"reason": "checked with HR"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");

    wait_until("the approved payout delivered", || async {
        tranche(db, "hire").await.state == PayoutState::Delivered
    })
    .await;
    assert_eq!(world.bonus.count(), 1, "sent once");
    let (status, body) = ops_post(&app.app, &path, tokens::OPS, json!({"reason": "again"})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a delivered payout cannot be approved: {body}"
    );
    let approvals = audit_with(db, "payout.approved").await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].actor, "api:ops");
    assert_eq!(approvals[0].data["reason"], "checked with HR");
    assert_eq!(audit_with(db, "payout.held").await.len(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_410_switches_the_destination_off_with_an_alert_until_ops_switch_it_on() {
    let world = Destinations::start(vec![Reply::status(410).body("endpoint retired")]).await;
    let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(&world, s, Duration::from_secs(86_400), false)
    })
    .await;
    let db = app.db();
    referred_hire(&app.app, 2).await;
    wait_until("an alert about the 410", || async {
        alert_texts(&world.slack).iter().any(|t| t.contains("410"))
    })
    .await;
    let text = alert_texts(&world.slack)
        .into_iter()
        .find(|t| t.contains("410"))
        .expect("alert");
    assert!(text.contains("disabled"), "{text}");
    let hire = tranche(db, "hire").await;
    let job_id = hire.send_job_id.clone().expect("the send job is recorded");
    assert!(
        text.contains(&format!("/api/ops/jobs/{job_id}")),
        "the alert links to the job: {text}"
    );
    let job = app
        .app
        .client
        .get(app.app.url(&format!("/api/ops/jobs/{job_id}")))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("GET job");
    assert_eq!(job.status(), StatusCode::OK);
    let job: Value = job.json().await.expect("json");
    assert_eq!(job["kind"], "send_payout");

    assert_eq!(hire.state, PayoutState::Eligible, "the payout waits");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        world.bonus.count(),
        1,
        "nothing more is sent to a gone destination"
    );

    let (status, body) = ops_post(
        &app.app,
        "/api/ops/destinations/bonus/enable",
        tokens::OPS,
        json!({"reason": "receiver moved back"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_disabled"], true);
    wait_until("the waiting payout delivered", || async {
        tranche(db, "hire").await.state == PayoutState::Delivered
    })
    .await;
    let ids = world.bonus.webhook_ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "resent under the same webhook-id");
    assert_eq!(audit_with(db, "destination.disabled").await.len(), 1);
    assert_eq!(audit_with(db, "destination.enabled").await.len(), 1);
    let (status, _) = ops_post(
        &app.app,
        "/api/ops/destinations/nowhere/enable",
        tokens::OPS,
        json!({"reason": "typo"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.cleanup().await;
}

#[tokio::test]
async fn a_payout_that_dies_raises_an_alert_naming_its_job() {
    let world = Destinations::start(vec![
        Reply::status(503),
        Reply::status(503),
        Reply::status(503),
    ])
    .await;
    let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(&world, s, Duration::from_secs(86_400), false)
    })
    .await;
    let db = app.db();
    referred_hire(&app.app, 3).await;
    wait_until("the hire tranche dead", || async {
        tranche(db, "hire").await.state == PayoutState::Dead
    })
    .await;
    assert_eq!(
        world.bonus.count(),
        3,
        "one attempt and one retry per entry of the schedule"
    );
    let hire = tranche(db, "hire").await;
    let job_id = hire.send_job_id.expect("job");
    wait_until("an alert for the dead payout", || async {
        alert_texts(&world.slack)
            .iter()
            .any(|t| t.contains("is dead") && t.contains(&job_id))
    })
    .await;
    // The alert names what finance and ops search by, in its text and field
    // by field, and follows its published schema.
    let gh = GreenhouseApplication::new(880_003, 550_003, 4_012_345, "notified3@example.org");
    let referral = referral::Entity::find_by_id(hire.referral_id)
        .one(db)
        .await
        .expect("referrals")
        .expect("the referral");
    let alerts = world.slack.bodies();
    assert_all_alerts_follow_contract(&alerts);
    let alert = alerts
        .iter()
        .find(|b| b["text"].as_str().is_some_and(|t| t.contains("is dead")))
        .expect("the alert");
    let text = alert["text"].as_str().unwrap_or_default();
    for wanted in [
        hire.public_id.as_str(),
        referral.public_id.as_str(),
        "E-NOTE",
        &gh.application_id.to_string(),
        &gh.candidate_id.to_string(),
        "4012345",
        hire.idempotency_key.as_str(),
        "/api/ops/jobs/",
    ] {
        assert!(text.contains(wanted), "the alert names {wanted}: {text}");
    }
    let context = &alert["context"];
    assert_eq!(context["payout_id"], hire.public_id.as_str());
    assert_eq!(context["payout_state"], "dead");
    assert_eq!(context["referral_id"], referral.public_id.as_str());
    assert_eq!(context["referring_employee_id"], "E-NOTE");
    assert_eq!(context["idempotency_key"], hire.idempotency_key.as_str());
    assert_eq!(context["ats"], "greenhouse");
    assert_eq!(context["ats_application_id"], gh.application_id.to_string());
    assert_eq!(context["ats_candidate_id"], gh.candidate_id.to_string());
    assert_eq!(context["ats_job_id"], "4012345");
    let job = tests::fixtures::job(&app.app, &job_id).await.expect("job");
    assert_eq!(job.state, queue::JobState::Dead);
    app.cleanup().await;
}

#[tokio::test]
async fn every_milestone_and_payout_change_is_synced_and_the_crm_gets_the_hire() {
    let world = Destinations::start(vec![]).await;
    let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(&world, s, Duration::from_secs(2), false)
    })
    .await;
    let db = app.db();
    let gh = referred_hire(&app.app, 4).await;
    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let referral_row = payouts(db).await[0].referral_id;
    let referral_id = referral::Entity::find_by_id(referral_row)
        .one(db)
        .await
        .expect("referrals")
        .expect("the referral")
        .public_id;
    let seen = |subject: &str, what: &str, state: &str| {
        let bodies = world.status.bodies();
        bodies.iter().any(|b| {
            b["type"] == "referral.status_changed"
                && b["data"]["subject"] == subject
                && (b["data"]["milestone"] == what || b["data"]["tranche_name"] == what)
                && b["data"]["state"] == state
                && b["data"]["referral_id"] == referral_id.as_str()
        })
    };
    // Each change is its own message and job, so they arrive in any order
    // (receivers order them by `changed_at`): wait for every one, not for
    // the last change made.
    let expected = [
        ("milestone", "hired", "reached"),
        ("milestone", "probation_completed", "armed"),
        ("milestone", "probation_completed", "reached"),
        ("payout", "hire", "eligible"),
        ("payout", "hire", "delivered"),
        ("payout", "probation", "pending"),
        ("payout", "probation", "eligible"),
        ("payout", "probation", "delivered"),
    ];
    wait_until(&format!("a sync of each of {expected:?}"), || async {
        expected.iter().all(|(s, w, st)| seen(s, w, st))
    })
    .await;
    assert!(
        world
            .status
            .requests()
            .iter()
            .all(|r| r.verified == Some(true)),
        "every status sync is signed"
    );
    assert!(
        !world
            .status
            .bodies()
            .iter()
            .any(|b| b["data"]["state"] == "sending"),
        "the in-flight marker is not a state referrers see"
    );

    assert_all_follow_contract(&world.status.bodies());
    let crm = world.crm.bodies();
    assert_eq!(crm.len(), 1, "one hand-off for one hire: {crm:?}");
    assert_all_follow_contract(&crm);
    assert_eq!(crm[0]["type"], "referral.hire_confirmed");
    assert_eq!(crm[0]["data"]["referral_id"], referral_id.as_str());
    assert_eq!(crm[0]["data"]["referring_employee_id"], "E-NOTE");
    assert_eq!(
        crm[0]["data"]["candidate"]["ats_application_id"],
        gh.application_id.to_string()
    );
    let everything = format!("{:?}{:?}", world.status.bodies(), crm);
    assert!(
        !everything.contains("notified4@example.org") && !everything.contains("e-note@"),
        "no emails leave in notifications"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_rejection_after_the_hire_is_not_told_to_the_referrer_unless_configured() {
    for notify in [false, true] {
        let world = Destinations::start(vec![]).await;
        let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
            configure(&world, s, Duration::from_secs(86_400), false);
            s.notifications.notify_rejections = notify;
        })
        .await;
        let db = app.db();
        let n = if notify { 6 } else { 5 };
        let gh = referred_hire(&app.app, n).await;
        wait_until("the hire tranche delivered", || async {
            tranche(db, "hire").await.state == PayoutState::Delivered
        })
        .await;
        let mut reject = gh.clone();
        reject.action = "reject_candidate".into();
        reject.status = "rejected".into();
        processed(
            &app.app,
            post_greenhouse(&app.app, &unique("evt"), &reject.body()).await,
        )
        .await;
        assert_eq!(tranche(db, "probation").await.state, PayoutState::Cancelled);
        // The cancellation's sync, if any, is staged in the same
        // transaction and sent right after; give it time to arrive.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let told = world
            .status
            .bodies()
            .iter()
            .any(|b| b["data"]["state"] == "cancelled");
        assert_eq!(told, notify, "notify_rejections = {notify}");
        let referral = referral::Entity::find().one(db).await.expect("q");
        assert!(referral.is_some());
        let app_row = application_by_ats_id(db, &gh.application_id.to_string()).await;
        assert!(app_row.is_some());
        app.cleanup().await;
    }
}

#[test]
fn bonus_sends_follow_the_standard_webhooks_schedule_by_default() {
    let policies = worker::runtime::retry_policies(&Settings::default());
    for kind in ["send_payout", "deliver_message"] {
        let p = policies.for_kind(kind);
        assert_eq!(p.max_attempts, 10, "{kind}: one attempt and nine retries");
        assert!(p.delay_after(1) >= Duration::from_secs(5));
        assert!(p.delay_after(2) >= Duration::from_secs(300));
        assert!(p.delay_after(9) >= Duration::from_secs(24 * 3600));
    }
    let mut s = Settings::default();
    s.queue.kinds.insert(
        "send_payout".into(),
        worker::config::RetryOverride {
            max_attempts: Some(3),
            base_delay: None,
            max_delay: None,
        },
    );
    assert_eq!(
        worker::runtime::retry_policies(&s)
            .for_kind("send_payout")
            .max_attempts,
        3,
        "an explicit [queue.kinds.send_payout] wins"
    );
}

#[tokio::test]
async fn an_unknown_outcome_waits_for_ops_to_resend_it_under_the_same_id_or_mark_it_delivered() {
    let slow = Reply::ok().delay(Duration::from_millis(1_500));
    let world = Destinations::start(vec![slow.clone(), slow]).await;
    let app = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(&world, s, Duration::from_secs(1), false);
        s.payouts.destination_idempotent = false;
        s.payouts.destination_timeout = Duration::from_millis(500);
    })
    .await;
    let db = app.db();
    referred_hire(&app.app, 7).await;
    wait_until("both tranches' outcomes unknown", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::OutcomeUnknown)
    })
    .await;
    wait_until("ops alerted", || async {
        alert_texts(&world.slack)
            .iter()
            .filter(|t| t.contains("outcome_unknown") || t.contains("needs ops"))
            .count()
            >= 2
    })
    .await;
    assert_eq!(world.bonus.count(), 2, "nothing resent on its own");

    let hire = tranche(db, "hire").await;
    let (status, body) = ops_post(
        &app.app,
        &format!("/api/payouts/{}/resolve", hire.id),
        tokens::OPS,
        json!({"resolution": "resend", "reason": "bonus team has no record of it"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until("the resent tranche delivered", || async {
        tranche(db, "hire").await.state == PayoutState::Delivered
    })
    .await;
    let resent: Vec<_> = world
        .bonus
        .webhook_ids()
        .into_iter()
        .filter(|id| *id == hire.webhook_id)
        .collect();
    assert_eq!(resent.len(), 2, "resent once, under the same webhook-id");

    let probation = tranche(db, "probation").await;
    let path = format!("/api/payouts/{}/resolve", probation.id);
    let (status, _) = ops_post(
        &app.app,
        &path,
        tokens::OPS,
        json!({"resolution": "paid_twice", "reason": "x"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown resolution"
    );
    let (status, body) = ops_post(
        &app.app,
        &path,
        tokens::OPS,
        json!({"resolution": "delivered", "reason": "bonus team confirms receipt"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let probation = tranche(db, "probation").await;
    assert_eq!(probation.state, PayoutState::Delivered);
    assert!(probation.delivered_at.is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.bonus.count(), 3, "marking delivered sends nothing");
    let (status, _) = ops_post(
        &app.app,
        &path,
        tokens::OPS,
        json!({"resolution": "resend", "reason": "again"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(audit_with(db, "payout.marked_delivered").await.len(), 1);
    assert_eq!(audit_with(db, "payout.resend").await.len(), 1);
    app.cleanup().await;
}
