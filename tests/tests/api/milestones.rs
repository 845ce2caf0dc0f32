//! Milestones end to end: a hire reached once however many events announce
//! it, a probation timer armed from the start date that fires once, moves
//! with the start date, dies with an unhire or a termination, and survives
//! a wiped Redis.

use std::time::Duration;

use chrono::Utc;
use entities::milestone::{self, MilestoneKind, MilestoneState};
use jobs::payout::rules::{BonusRules, default_rules};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp, delete_redis_prefix},
    fixtures::{
        self, GreenhouseApplication, application_by_ats_id, audit_with, post_greenhouse, processed,
        spawn_capture_app, time, unique, wait_until,
    },
};
use worker::config::{ApiToken, Scope, Secret, Settings};

const HIRES_TOKEN: &str = "hires-token-0123456789abcdef";

fn with_probation(s: &mut Settings, probation: Duration) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = probation;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.api.tokens.push(ApiToken {
        name: "hris-hires".into(),
        token: Secret::new(HIRES_TOKEN),
        scopes: vec![Scope::Hires],
    });
}

async fn milestones_of(db: &DatabaseConnection, application_id: i64) -> Vec<milestone::Model> {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .all(db)
        .await
        .expect("milestones")
}

async fn probation(db: &DatabaseConnection, application_id: i64) -> Option<milestone::Model> {
    milestones_of(db, application_id)
        .await
        .into_iter()
        .find(|m| m.kind == MilestoneKind::ProbationComplete)
}

/// An application, then the same hire announced twice (stage change and
/// hire_candidate), as Greenhouse fans it out.
async fn hire(app: &TestApp, gh: &GreenhouseApplication, start: Option<&str>) -> i64 {
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    for action in ["candidate_stage_change", "hire_candidate"] {
        let mut event = gh.clone();
        event.action = action.into();
        event.status = "hired".into();
        event.stage = "Hired".into();
        let mut body = event.json();
        if let Some(start) = start {
            body["payload"]["application"]["offer"] = json!({ "id": 1, "starts_at": start });
        }
        processed(
            app,
            post_greenhouse(app, &unique("evt"), body.to_string().as_bytes()).await,
        )
        .await;
    }
    application_by_ats_id(app_db(app), &gh.application_id.to_string())
        .await
        .expect("application stored")
        .id
}

fn app_db(app: &TestApp) -> &DatabaseConnection {
    &app.state.db
}

fn applicant(n: u64) -> GreenhouseApplication {
    let mut gh = GreenhouseApplication::new(
        880_000 + n,
        770_000 + n,
        4_012_345,
        &format!("hire{n}@example.org"),
    );
    gh.applied_at = Utc::now();
    gh
}

#[tokio::test]
async fn a_hire_announced_twice_is_one_milestone_and_its_probation_fires_once() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s, Duration::from_secs(2))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let application_id = hire(app, &applicant(1), None).await;

    let rows = milestones_of(db, application_id).await;
    assert_eq!(
        rows.len(),
        2,
        "one hire and one probation milestone: {rows:#?}"
    );
    let hired = rows
        .iter()
        .find(|m| m.kind == MilestoneKind::Hire)
        .expect("hire milestone");
    assert_eq!(hired.state, MilestoneState::Reached);
    let armed = probation(db, application_id)
        .await
        .expect("probation milestone");
    assert_eq!(armed.state, MilestoneState::Armed);
    let hired_at = hired.occurred_at.expect("hire time");
    assert_eq!(
        armed.due_at,
        Some(hired_at + chrono::Duration::seconds(2)),
        "no start date: hire date + probation"
    );

    wait_until("the probation timer fires", || async {
        probation(db, application_id)
            .await
            .is_some_and(|m| m.state == MilestoneState::Reached)
    })
    .await;
    let done = probation(db, application_id)
        .await
        .expect("probation milestone");
    assert_eq!(done.occurred_at, armed.due_at, "reached at its due time");
    assert!(
        Utc::now() >= armed.due_at.expect("due"),
        "not before its time"
    );
    assert_eq!(audit_with(db, "milestone.hire_reached").await.len(), 1);
    assert_eq!(
        audit_with(db, "milestone.probation_completed").await.len(),
        1
    );
    world.cleanup().await;
}

#[tokio::test]
async fn a_start_date_change_moves_the_timer() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s, Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let gh = applicant(2);
    let application_id = hire(app, &gh, Some("2031-01-01")).await;
    let first = probation(db, application_id).await.expect("armed");
    assert_eq!(first.due_at, Some(time("2031-01-02T00:00:00Z")));

    // The offer is updated: a later start moves the timer.
    let mut moved = gh.clone();
    moved.action = "hire_candidate".into();
    moved.status = "hired".into();
    let mut body: Value = moved.json();
    body["payload"]["application"]["offer"] = json!({ "id": 1, "starts_at": "2031-03-01" });
    processed(
        app,
        post_greenhouse(app, &unique("evt"), body.to_string().as_bytes()).await,
    )
    .await;

    let now = probation(db, application_id).await.expect("armed");
    assert_eq!(now.state, MilestoneState::Armed);
    assert_eq!(now.due_at, Some(time("2031-03-02T00:00:00Z")));
    assert_eq!(now.id, first.id, "the same milestone, re-armed");
    assert_eq!(audit_with(db, "milestone.probation_rearmed").await.len(), 1);
    let scheduled = app
        .queue()
        .list(&queue::JobFilter::state(queue::JobState::Scheduled).kind("probation_due"))
        .await
        .expect("list");
    assert!(
        scheduled
            .jobs
            .iter()
            .any(|j| j.run_at == time("2031-03-02T00:00:00Z").timestamp_millis()),
        "a timer job at the new due time: {:?}",
        scheduled.jobs.iter().map(|j| j.run_at).collect::<Vec<_>>()
    );
    world.cleanup().await;
}

#[tokio::test]
async fn an_unhire_cancels_the_pending_probation() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s, Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let gh = applicant(3);
    let application_id = hire(app, &gh, None).await;
    let mut unhire = gh.clone();
    unhire.action = "unhire_candidate".into();
    unhire.status = "active".into();
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &unhire.body()).await,
    )
    .await;
    for m in milestones_of(db, application_id).await {
        assert_eq!(m.state, MilestoneState::Cancelled, "{m:?}");
        assert!(m.cancel_reason.unwrap_or_default().contains("active"));
    }
    world.cleanup().await;
}

#[tokio::test]
async fn a_reported_termination_cancels_the_pending_probation() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s, Duration::from_secs(86_400))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let application_id = hire(app, &applicant(4), None).await;
    let url = app.url(&format!("/api/hires/{application_id}/terminated"));
    let denied = app
        .client
        .post(&url)
        .bearer_auth(fixtures::tokens::LINKS)
        .send()
        .await
        .expect("send");
    assert_eq!(
        denied.status(),
        reqwest::StatusCode::FORBIDDEN,
        "needs the hires scope"
    );
    let ok = app
        .client
        .post(&url)
        .bearer_auth(HIRES_TOKEN)
        .json(&json!({ "reason": "left during probation" }))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), reqwest::StatusCode::NO_CONTENT);
    let p = probation(db, application_id).await.expect("probation");
    assert_eq!(p.state, MilestoneState::Cancelled);
    assert!(
        p.cancel_reason
            .unwrap_or_default()
            .contains("left during probation")
    );
    let unknown = app
        .client
        .post(app.url("/api/hires/999999/terminated"))
        .bearer_auth(HIRES_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
    world.cleanup().await;
}

#[tokio::test]
async fn a_wiped_redis_loses_no_timer() {
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        with_probation(s, Duration::from_secs(3))
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let application_id = hire(app, &applicant(5), None).await;
    let armed = probation(db, application_id).await.expect("armed");
    // Everything the queue held is gone, the timer's job with it.
    delete_redis_prefix(app.redis_prefix.as_deref().expect("a Redis app")).await;
    wait_until("the swept timer fires", || async {
        probation(db, application_id)
            .await
            .is_some_and(|m| m.state == MilestoneState::Reached)
    })
    .await;
    let done = probation(db, application_id).await.expect("probation");
    assert_eq!(done.occurred_at, armed.due_at, "paid on time, not late");
    world.cleanup().await;
}

#[tokio::test]
async fn a_sweep_rearms_every_timer_a_wipe_lost_page_by_page() {
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        with_probation(s, Duration::from_secs(3600));
        // Only this test's own calls sweep.
        s.payouts.timer_sweep = Duration::from_secs(3600);
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let ctx = &app.state.jobs;
    let mut applications = Vec::new();
    for n in 0..5 {
        applications.push(hire(app, &applicant(40 + n), None).await);
    }
    assert_eq!(
        jobs::milestones::rearm_missing_timers(ctx, 2)
            .await
            .expect("sweep"),
        0,
        "nothing to re-arm while the queue holds every timer"
    );
    delete_redis_prefix(app.redis_prefix.as_deref().expect("a Redis app")).await;
    assert_eq!(
        jobs::milestones::rearm_missing_timers(ctx, 2)
            .await
            .expect("sweep"),
        5,
        "all five found, across three pages"
    );
    for application_id in applications {
        let m = probation(db, application_id).await.expect("armed");
        let id =
            queue::JobId::parse(m.timer_job_id.as_deref().expect("a timer job")).expect("an id");
        let job = ctx
            .queue
            .get(&id)
            .await
            .expect("get")
            .expect("back in the queue");
        assert_eq!(job.state, queue::JobState::Scheduled);
        assert_eq!(job.run_at, m.due_at.expect("due").timestamp_millis());
    }
    assert_eq!(
        jobs::milestones::rearm_missing_timers(ctx, 2)
            .await
            .expect("sweep"),
        0,
        "re-armed once"
    );
    world.cleanup().await;
}
