//! The ops API end to end, on the real app: queues, jobs (listed, retried,
//! cancelled, requeued, with dry runs), the stuck finder, the inbox and
//! replay, a referral's workflow, tokens on every route, and the OpenAPI
//! document. Every action is checked in the queue and the audit log, not
//! only in the answer.

use std::time::Duration;

use entities::{
    inbox::{self, InboxStatus},
    outbound_destination,
    payout::{self, PayoutState},
    referral,
};
use jobs::{
    job::{Job, Probe},
    payout::rules::{BonusRules, default_rules},
};
use queue::{JobId, JobState};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp},
    destinations::{BONUS_SECRET, SYNC_SECRET},
    fixtures::{
        GreenhouseApplication, audit_with, credited_hire, enqueue, job, payouts, post_greenhouse,
        processed, spawn_capture_app, tokens, unique, wait_inbox, wait_job_state, wait_until,
    },
    receiver::Receiver,
};
use worker::config::{Secret, Settings};

/// Every ops route: (method, path, scope it needs).
const OPS_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/ops/queues", "ops_read"),
    ("GET", "/api/ops/jobs", "ops_read"),
    (
        "GET",
        "/api/ops/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "ops_read",
    ),
    (
        "POST",
        "/api/ops/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/retry",
        "ops_admin",
    ),
    (
        "POST",
        "/api/ops/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel",
        "ops_admin",
    ),
    ("POST", "/api/ops/jobs/requeue-dead", "ops_admin"),
    ("GET", "/api/ops/workflows", "ops_read"),
    ("GET", "/api/ops/workflows/1", "ops_read"),
    ("GET", "/api/ops/stuck", "ops_read"),
    ("GET", "/api/ops/inbox", "ops_read"),
    ("POST", "/api/ops/inbox/1/replay", "ops_admin"),
    ("GET", "/api/ops/payouts", "ops_read"),
    ("POST", "/api/ops/destinations/bonus/enable", "ops_admin"),
    ("POST", "/api/payouts/1/approve", "ops_admin"),
    ("POST", "/api/payouts/1/hold", "ops_admin"),
    ("POST", "/api/payouts/1/resolve", "ops_admin"),
];

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(tokens::OPS)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Enqueues a probe and returns its id.
async fn enqueue_probe(app: &TestApp, probe: Probe, delay: Option<Duration>) -> String {
    let mut new = Job::Probe(probe)
        .to_new_job(&app.state.retry)
        .expect("a probe job");
    if let Some(d) = delay {
        new = new.run_after(d);
    }
    enqueue(app, new).await
}

fn dying() -> Probe {
    Probe {
        sleep_ms: 0,
        fail_attempts: 0,
        permanent_failure: true,
    }
}

fn healthy() -> Probe {
    Probe {
        sleep_ms: 0,
        fail_attempts: 0,
        permanent_failure: false,
    }
}

async fn queue_state(app: &TestApp, id: &str) -> JobState {
    job(app, id).await.expect("the job exists").state
}

async fn dead_job_is_listed_retried_and_cancelled(setup: Setup) {
    let capture = spawn_capture_app(setup, |_| {}).await;
    let app = &capture.app;
    let dead = enqueue_probe(app, dying(), None).await;
    wait_job_state(app, &dead, JobState::Dead).await;

    // Listed by state and kind, with its timeline and an unmasked payload.
    let (status, body) = get(app, "/api/ops/jobs?state=dead&kind=probe").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jobs = body["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{body}");
    assert_eq!(jobs[0]["id"], dead.as_str());
    assert_eq!(jobs[0]["payload"]["kind"], "probe");
    assert_eq!(jobs[0]["payload_masked"], false);
    assert!(body["next"].is_null(), "{body}");
    let (_, all) = get(app, "/api/ops/jobs?limit=500").await;
    assert!(
        all["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["id"] == dead.as_str()),
        "listed without a state filter too: {all}"
    );

    // The queues view counts it and names it as the oldest dead job.
    let (status, body) = get(app, "/api/ops/queues").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let states = body["queues"][0]["states"].as_array().expect("states");
    let dead_state = states
        .iter()
        .find(|s| s["state"] == "dead")
        .expect("a dead row");
    assert_eq!(dead_state["count"], 1, "{body}");
    assert_eq!(dead_state["oldest"]["job_id"], dead.as_str(), "{body}");
    assert_eq!(dead_state["oldest"]["since"], "finished_at");

    // One job: its timeline ends dead, after the failed attempt.
    let (status, one) = get(app, &format!("/api/ops/jobs/{dead}")).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let events: Vec<&str> = one["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events, ["enqueued", "attempt_failed", "dead"], "{one}");

    // A dry run answers what would happen and changes nothing.
    let path = format!("/api/ops/jobs/{dead}/retry?dry_run=true");
    let (status, body) = post(app, &path, json!({"reason": "checking"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["from"], "dead");
    assert_eq!(body["to"], "ready");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = job(app, &dead).await.expect("job");
    assert_eq!(info.state, JobState::Dead, "a dry run retries nothing");
    assert_eq!(info.errors.len(), 1);
    assert!(audit_with(&app.state.db, "job.retried").await.is_empty());

    // A reason is required; a bad id is a 404; nothing changes.
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{dead}/retry"),
        json!({"reason": " "}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").starts_with("reason"));
    let (status, body) = post(app, "/api/ops/jobs/not-a-job/retry", json!({"reason": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{dead}/retry?dry_run=perhaps"),
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("dry_run"));

    // The real retry runs it again (it dies again: a second error).
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{dead}/retry"),
        json!({"reason": "receiver fixed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dry_run"], false);
    wait_until("the retried job ran again", || async {
        job(app, &dead)
            .await
            .is_some_and(|j| j.state == JobState::Dead && j.errors.len() == 2)
    })
    .await;
    let retried = audit_with(&app.state.db, "job.retried").await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].actor, "api:ops");
    assert_eq!(retried[0].data["reason"], "receiver fixed");
    let (_, one) = get(app, &format!("/api/ops/jobs/{dead}")).await;
    assert_eq!(one["audit"][0]["action"], "job.retried", "{one}");

    // Cancel a scheduled job: the dry run leaves it, the real one cancels.
    let later = enqueue_probe(app, healthy(), Some(Duration::from_secs(3600))).await;
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{later}/cancel?dry_run=true"),
        json!({"reason": "not needed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["to"], "cancelled");
    assert_eq!(queue_state(app, &later).await, JobState::Scheduled);
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{later}/cancel"),
        json!({"reason": "not needed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(queue_state(app, &later).await, JobState::Cancelled);
    // Cancelling it again is refused, dry run or not.
    for q in ["?dry_run=true", ""] {
        let (status, body) = post(
            app,
            &format!("/api/ops/jobs/{later}/cancel{q}"),
            json!({"reason": "again"}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains("cancelled"),
            "{body}"
        );
    }
    assert_eq!(audit_with(&app.state.db, "job.cancelled").await.len(), 1);

    // A retry of the cancelled job runs it to success.
    let (status, body) = post(
        app,
        &format!("/api/ops/jobs/{later}/retry"),
        json!({"reason": "needed after all"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["from"], "cancelled");
    wait_job_state(app, &later, JobState::Succeeded).await;
    // Retrying a succeeded job is refused (it could pay twice).
    let (status, _) = post(
        app,
        &format!("/api/ops/jobs/{later}/retry?dry_run=true"),
        json!({"reason": "again"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    capture.cleanup().await;
}

#[tokio::test]
async fn a_dead_job_is_listed_a_dry_run_changes_nothing_and_retry_and_cancel_work_embedded() {
    dead_job_is_listed_retried_and_cancelled(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test]
async fn a_dead_job_is_listed_a_dry_run_changes_nothing_and_retry_and_cancel_work_on_redis() {
    dead_job_is_listed_retried_and_cancelled(Setup::REDIS_POSTGRES).await;
}

#[tokio::test]
async fn requeue_dead_by_kind_lists_on_a_dry_run_and_requeues_for_real() {
    let capture = spawn_capture_app(Setup::REDIS_POSTGRES, |_| {}).await;
    let app = &capture.app;
    let a = enqueue_probe(app, dying(), None).await;
    let b = enqueue_probe(app, dying(), None).await;
    wait_job_state(app, &a, JobState::Dead).await;
    wait_job_state(app, &b, JobState::Dead).await;

    let (status, body) = post(
        app,
        "/api/ops/jobs/requeue-dead?dry_run=true",
        json!({"kind": "probe", "reason": "see what would go"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 2, "{body}");
    let ids: Vec<&str> = body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_str())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&b.as_str()),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    for id in [&a, &b] {
        let j = job(app, id).await.expect("job");
        assert_eq!((j.state, j.errors.len()), (JobState::Dead, 1), "untouched");
    }
    let (status, body) = post(
        app,
        "/api/ops/jobs/requeue-dead?dry_run=true",
        json!({"kind": "send_payout", "reason": "none of those"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 0);
    let (status, body) = post(app, "/api/ops/jobs/requeue-dead", json!({"kind": "probe"})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {body}"
    );

    let (status, body) = post(
        app,
        "/api/ops/jobs/requeue-dead",
        json!({"kind": "probe", "reason": "bonus system back"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["count"], 2);
    for id in [&a, &b] {
        wait_until("the requeued job ran again", || async {
            job(app, id)
                .await
                .is_some_and(|j| j.state == JobState::Dead && j.errors.len() == 2)
        })
        .await;
    }
    let events = audit_with(&app.state.db, "jobs.requeued_dead").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["count"], 2);
    assert_eq!(events[0].data["reason"], "bonus system back");
    capture.cleanup().await;
}

/// Points payouts (and the status sync) at receivers.
fn configure_payouts(s: &mut Settings, bonus: &Receiver, status: &Receiver, approval: bool) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = Duration::from_secs(86_400);
    rule.require_approval = approval;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.payouts.destination_url = bonus.url("/bonus");
    s.payouts.destination_secret = Secret::new(BONUS_SECRET);
    s.notifications.status_sync_url = status.url("/status");
    s.notifications.status_sync_secret = Secret::new(SYNC_SECRET);
}

#[tokio::test]
async fn the_stuck_finder_names_a_payout_awaiting_approval_and_a_disabled_destination() {
    let bonus = Receiver::builder().secret(BONUS_SECRET).start().await;
    let status = Receiver::builder().secret(SYNC_SECRET).start().await;
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        configure_payouts(s, &bonus, &status, true)
    })
    .await;
    let app = &capture.app;
    let application = GreenhouseApplication::new(770_001, 660_001, 4_012_345, "stuck@example.org");
    credited_hire(app, "E-STUCK", application).await;
    let hire = payouts(&app.state.db)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("a hire tranche");
    assert!(hire.needs_approval && hire.state == PayoutState::Eligible);
    outbound_destination::ActiveModel {
        name: Set("crm".into()),
        disabled: Set(true),
        reason: Set(Some("410 Gone: endpoint retired".into())),
        updated_at: Set(chrono::Utc::now()),
    }
    .insert(&app.state.db)
    .await
    .expect("a disabled destination");

    let before = chrono::Utc::now();
    let (code, body) = get(app, "/api/ops/stuck").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let items = body["items"].as_array().expect("items");
    let approval = items
        .iter()
        .find(|i| i["kind"] == "payout_awaiting_approval")
        .unwrap_or_else(|| panic!("no payout awaiting approval in {body}"));
    assert_eq!(approval["ids"]["payout_id"], hire.id, "{approval}");
    assert_eq!(approval["ids"]["referral_id"], hire.referral_id);
    let reason = approval["reason"].as_str().expect("reason");
    assert!(reason.contains("approve"), "{reason}");
    let next: chrono::DateTime<chrono::Utc> = approval["next_check"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("next_check");
    assert!(
        next >= before && next <= chrono::Utc::now() + chrono::Duration::seconds(5),
        "now + timer_sweep: {next}"
    );
    let crm = items
        .iter()
        .find(|i| i["kind"] == "destination_disabled")
        .unwrap_or_else(|| panic!("no disabled destination in {body}"));
    assert_eq!(crm["ids"]["destination"], "crm");
    let reason = crm["reason"].as_str().expect("reason");
    assert!(
        reason.contains("410 Gone: endpoint retired") && reason.contains("enable"),
        "{reason}"
    );
    // Nothing else is stuck: the probation timer is armed and live.
    assert!(
        !items
            .iter()
            .any(|i| i["kind"] == "milestone_timer_missing" || i["kind"] == "milestone_overdue"),
        "{body}"
    );

    // Once approved (and sent), it is no longer named.
    let (code, _) = post(
        app,
        &format!("/api/payouts/{}/approve", hire.id),
        json!({"reason": "checked"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    wait_until("the approved payout delivered", || async {
        payout::Entity::find_by_id(hire.id)
            .one(&app.state.db)
            .await
            .ok()
            .flatten()
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let (_, body) = get(app, "/api/ops/stuck").await;
    assert!(
        !body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["kind"].as_str().unwrap_or("").starts_with("payout_")),
        "{body}"
    );
    capture.cleanup().await;
}

#[tokio::test]
async fn the_inbox_lists_deliveries_without_bodies_and_replays_one() {
    let capture = spawn_capture_app(Setup::REDIS_POSTGRES, |_| {}).await;
    let app = &capture.app;
    let gh = GreenhouseApplication::new(770_101, 660_101, 4_012_345, "inbox@example.org");
    let inbox_id = processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    // A forged delivery: refused and recorded without its body.
    let forged = app
        .client
        .post(app.url("/webhooks/greenhouse"))
        .header("content-type", "application/json")
        .header("greenhouse-event-id", unique("evt"))
        .header("signature", "sha256 00")
        .body(gh.body())
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = get(app, "/api/ops/inbox?source=greenhouse").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = body["items"].as_array().expect("items");
    assert_eq!(rows.len(), 2, "{body}");
    assert!(
        rows.iter().all(|r| r.get("raw_body").is_none()),
        "no bodies: {body}"
    );
    let ok = rows.iter().find(|r| r["id"] == inbox_id).expect("the row");
    assert_eq!(ok["status"], "processed");
    assert!(ok["body_bytes"].as_i64().unwrap_or(0) > 0, "{ok}");
    let rejected = rows
        .iter()
        .find(|r| r["status"] == "rejected")
        .expect("the forged row");
    assert!(rejected["body_bytes"].is_null(), "{rejected}");
    let (_, body) = get(app, "/api/ops/inbox?status=rejected").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, body) = get(app, "/api/ops/inbox?status=lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").starts_with("status"));
    let (_, page) = get(app, "/api/ops/inbox?limit=1").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let next = page["next"].as_i64().expect("a next page");
    let (_, page2) = get(app, &format!("/api/ops/inbox?limit=1&cursor={next}")).await;
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(page["items"][0]["id"], page2["items"][0]["id"]);

    // Replay the processed delivery: a new row, processed again.
    let (status, body) = post(
        app,
        &format!("/api/ops/inbox/{inbox_id}/replay"),
        json!({"reason": "re-apply after the fix"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let replay_id = body["replay_inbox_id"].as_i64().expect("replay_inbox_id");
    assert_ne!(replay_id, inbox_id);
    let replayed = wait_inbox(app, replay_id, InboxStatus::Processed).await;
    assert!(
        replayed
            .delivery_id
            .starts_with(&format!("replay:{inbox_id}:"))
    );
    let original = inbox::Entity::find_by_id(inbox_id)
        .one(&app.state.db)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(original.status, InboxStatus::Processed, "left as it was");
    let events = audit_with(&app.state.db, "inbox.replayed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["reason"], "re-apply after the fix");

    // The forged row kept no body: 409, naming why; nothing changes.
    let rejected_id = rejected["id"].as_i64().expect("id");
    let (status, body) = post(
        app,
        &format!("/api/ops/inbox/{rejected_id}/replay"),
        json!({"reason": "try"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("no stored body"),
        "{body}"
    );
    let (status, _) = post(app, "/api/ops/inbox/999999/replay", json!({"reason": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(app, "/api/ops/inbox/abc/replay", json!({"reason": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(audit_with(&app.state.db, "inbox.replayed").await.len(), 1);
    capture.cleanup().await;
}

#[tokio::test]
async fn the_workflow_view_shows_a_paid_referral_with_its_jobs() {
    let bonus = Receiver::builder().secret(BONUS_SECRET).start().await;
    let status = Receiver::builder().secret(SYNC_SECRET).start().await;
    let capture = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        configure_payouts(s, &bonus, &status, false)
    })
    .await;
    let app = &capture.app;
    let db = &app.state.db;
    let application = GreenhouseApplication::new(770_201, 660_201, 4_012_345, "paid@example.org");
    credited_hire(app, "E-PAID", application).await;
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    let r = referral::Entity::find()
        .all(db)
        .await
        .expect("referrals")
        .into_iter()
        .next()
        .expect("a referral");
    let hire = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("hire");
    let send_job = hire.send_job_id.clone().expect("send job");
    wait_job_state(app, &send_job, JobState::Succeeded).await;

    let (code, w) = get(app, &format!("/api/ops/workflows/{}", r.id)).await;
    assert_eq!(code, StatusCode::OK, "{w}");
    assert_eq!(w["referral"]["id"], r.id);
    assert_eq!(w["referral"]["state"], "credited");
    assert_eq!(w["application"]["status"], "hired", "{w}");
    assert_eq!(w["application"]["ats_application_id"], "770201");
    let milestones = w["milestones"].as_array().expect("milestones");
    let m = |kind: &str| {
        milestones
            .iter()
            .find(|m| m["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} milestone in {w}"))
    };
    assert_eq!(m("hire")["state"], "reached");
    let probation = m("probation_complete");
    assert_eq!(probation["state"], "armed");
    assert!(probation["due_at"].is_string());
    assert_eq!(probation["timer_job"]["live"], true, "{probation}");
    assert_eq!(probation["timer_job"]["state"], "scheduled");
    let ps = w["payouts"].as_array().expect("payouts");
    let paid = ps.iter().find(|p| p["tranche"] == "hire").expect("hire");
    assert_eq!(paid["state"], "delivered");
    assert_eq!(paid["attempts"], 1);
    assert_eq!(paid["send_job"]["job_id"], send_job.as_str());
    assert_eq!(paid["send_job"]["state"], "succeeded");
    assert_eq!(paid["send_job"]["live"], false);
    let messages = w["messages"].as_array().expect("messages");
    assert!(
        messages
            .iter()
            .any(|m| m["subject_type"] == "payout" && m["subject_id"] == hire.id),
        "the payout's status sync is listed: {w}"
    );
    assert!(
        messages.iter().all(|m| m.get("data").is_none()),
        "no message bodies"
    );

    // The same referral's jobs, from the jobs listing.
    let (code, body) = get(
        app,
        &format!("/api/ops/jobs?referral_id={}&limit=500", r.id),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let kinds: Vec<&str> = body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["kind"].as_str())
        .collect();
    for kind in [
        "send_payout",
        "probation_due",
        "process_delivery",
        "deliver_message",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(!kinds.contains(&"probe"));
    assert!(
        body["matched"]["payout_ids"]
            .as_array()
            .expect("payout ids")
            .contains(&json!(hire.id))
    );
    let (code, by_candidate) = get(app, "/api/ops/jobs?candidate_ats_id=660201&limit=500").await;
    assert_eq!(code, StatusCode::OK, "{by_candidate}");
    let candidate_jobs: Vec<&Value> = by_candidate["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| &j["id"])
        .collect();
    for j in body["jobs"].as_array().expect("jobs") {
        assert!(
            candidate_jobs.contains(&&j["id"]),
            "the referral's job {} is the candidate's too",
            j["id"]
        );
    }
    let (code, _) = get(app, "/api/ops/jobs?referral_id=999999").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, body) = get(app, "/api/ops/jobs?referral_id=abc").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let (code, body) = get(app, "/api/ops/jobs?from=2030-01-02&to=2030-01-01").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let (code, body) = get(app, "/api/ops/jobs?frm=2030-01-01").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").starts_with("frm"));

    // Lists: referrals and payouts.
    let (code, list) = get(app, "/api/ops/workflows?state=credited").await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], r.id);
    let (_, list) = get(app, "/api/ops/workflows?state=void").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (code, list) = get(app, "/api/ops/payouts?state=delivered").await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], hire.id);
    let (code, _) = get(app, "/api/ops/workflows/999999").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    capture.cleanup().await;
}

#[tokio::test]
async fn every_ops_route_answers_401_without_a_token_and_403_without_the_scope() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;
    for (method, path, _) in OPS_ROUTES {
        let request = |token: Option<&str>| {
            let mut r = match *method {
                "GET" => app.client.get(app.url(path)),
                _ => app
                    .client
                    .post(app.url(path))
                    .json(&json!({"reason": "r", "kind": "probe", "resolution": "delivered"})),
            };
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        let none = request(None).await.expect("send");
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let body: Value = none.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"], "unauthorized", "{method} {path}: {body}");
        for token in [tokens::EMPLOYEES, "not-a-token"] {
            let wrong = request(Some(token)).await.expect("send");
            assert_eq!(wrong.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    assert!(audit_with(&app.state.db, "job.retried").await.is_empty());
    capture.cleanup().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.expect("json");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let templated = |path: &str| -> String {
        path.split('/')
            .map(|seg| {
                if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty()
                    || JobId::parse(seg).is_ok()
                {
                    "{}".to_string()
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let documented: Vec<(String, String, String)> = paths
        .iter()
        .flat_map(|(path, methods)| {
            let generic: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "{}".to_string()
                    } else {
                        seg.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            methods
                .as_object()
                .expect("methods")
                .iter()
                .map(move |(m, op)| {
                    (
                        generic.clone(),
                        m.to_uppercase(),
                        op["x-scope"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for (method, path, scope) in OPS_ROUTES {
        let want = (
            templated(path).replace("/bonus/", "/{}/"),
            method.to_string(),
        );
        let found = documented
            .iter()
            .find(|(p, m, _)| (p, m) == (&want.0, &want.1))
            .unwrap_or_else(|| panic!("{method} {path} is not in the document"));
        assert_eq!(found.2, *scope, "{method} {path}");
    }
    for (method, path) in [
        ("POST", "/api/employees"),
        ("POST", "/api/referral-links"),
        ("DELETE", "/api/referral-links/{}"),
        ("POST", "/api/hires/{}/terminated"),
        ("GET", "/api/exports/{}"),
        ("GET", "/api/reports/kpis"),
        ("GET", "/api/openapi.json"),
    ] {
        assert!(
            documented.iter().any(|(p, m, _)| p == path && m == method),
            "{method} {path} is not in the document"
        );
    }
    // Every documented route is routed: none answers the fallback 404.
    for (path, method, _) in &documented {
        let concrete = path.replace("{}", "1");
        let request = match method.as_str() {
            "GET" => app.client.get(app.url(&concrete)),
            "POST" => app.client.post(app.url(&concrete)),
            "DELETE" => app.client.delete(app.url(&concrete)),
            other => panic!("unexpected method {other}"),
        };
        let response = request.send().await.expect("send");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("no route for"));
        assert!(
            !fallback && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
    capture.cleanup().await;
}

/// Every answer carries `x-request-id`: the caller's when it is a short
/// token (echoed on errors too), a new ULID otherwise.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };

    let first = id_of(&app.get("/healthz").await);
    let second = id_of(&app.get("/healthz").await);
    assert!(ulid::Ulid::from_string(&first).is_ok(), "{first:?}");
    assert!(ulid::Ulid::from_string(&second).is_ok(), "{second:?}");
    assert_ne!(first, second, "each request gets its own");

    let sent = "lb-7f3a.42:retry";
    let refused = app
        .client
        .get(app.url("/api/ops/queues"))
        .header("x-request-id", sent)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(id_of(&refused), sent);
    let unknown = app
        .client
        .get(app.url("/no/such/route"))
        .header("x-request-id", sent)
        .send()
        .await
        .expect("answer");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(id_of(&unknown), sent);

    for unusable in ["x".repeat(200), "two words".to_string()] {
        let r = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", &unusable)
            .send()
            .await
            .expect("answer");
        let id = id_of(&r);
        assert!(
            ulid::Ulid::from_string(&id).is_ok(),
            "{unusable:?} became {id:?}"
        );
    }
    capture.cleanup().await;
}
