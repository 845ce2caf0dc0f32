//! Milestone sources end to end (issue 4): Greenhouse offer events that set,
//! move or undo what a hire rests on, the careers site's generic
//! `application.status_changed`, hire stages named in the configuration, and
//! an HRIS termination, each through the running app: signed deliveries over
//! HTTP, the app's own workers, and the rows they leave.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use entities::{
    application::{self, ApplicationStatus},
    inbox::InboxStatus,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::PayoutState,
    referral::ReferralState,
};
use jobs::payout::rules::{BonusRules, default_rules};
use queue::{JobFilter, JobState};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp},
    fixtures::{
        CareersApplication, GreenhouseApplication, application_by_ats_id, audit_with, event_time,
        inbox_rows, mint_link, payouts, post_careers_site, post_greenhouse, processed,
        put_employee, referrals, spawn_capture_app, time, tranche, unique,
    },
};
use worker::config::Settings;

/// The probation period of the one bonus rule here: long, so no timer fires
/// while a test looks at it.
const PROBATION_DAYS: u64 = 30;

/// The employee who refers every candidate here.
const REFERRER: &str = "E-SOURCES";

/// The Greenhouse job.
const JOB: u64 = 4_012_345;

/// The careers-site job (the site itself is the system of record).
const CAREERS_JOB: &str = "careers-job-17";

fn probation() -> chrono::Duration {
    chrono::Duration::days(PROBATION_DAYS as i64)
}

/// One bonus rule (the default: 50% at hire, 50% at probation) with
/// [`PROBATION_DAYS`], and a quick timer sweep. No bonus destination: the
/// tranches stay in the ledger, where the tests read them.
fn with_probation(s: &mut Settings) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = Duration::from_secs(PROBATION_DAYS * 86_400);
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
}

/// [`with_probation`], and Greenhouse's "Offer Accepted" stage means hired.
fn with_offer_accepted_as_hire(s: &mut Settings) {
    with_probation(s);
    s.milestones
        .hire_stages
        .insert("greenhouse".into(), vec!["Offer Accepted".into()]);
}

/// Midnight UTC of `YYYY-MM-DD`: where probation counts from.
fn day(text: &str) -> DateTime<Utc> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .expect("a date")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

// ---------------------------------------------------------------------------
// Reading rows
// ---------------------------------------------------------------------------

async fn milestone_of(
    db: &DatabaseConnection,
    application_id: i64,
    kind: MilestoneKind,
) -> Option<milestone::Model> {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(kind))
        .one(db)
        .await
        .expect("milestones")
}

async fn hire_milestone(db: &DatabaseConnection, application_id: i64) -> milestone::Model {
    milestone_of(db, application_id, MilestoneKind::Hire)
        .await
        .expect("a hire milestone")
}

async fn probation_milestone(db: &DatabaseConnection, application_id: i64) -> milestone::Model {
    milestone_of(db, application_id, MilestoneKind::ProbationComplete)
        .await
        .expect("a probation milestone")
}

async fn all_milestones(db: &DatabaseConnection) -> Vec<milestone::Model> {
    milestone::Entity::find().all(db).await.expect("milestones")
}

async fn application_row(db: &DatabaseConnection, id: i64) -> application::Model {
    application::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read the application")
        .expect("the application")
}

/// The credited referral's id (exactly one per test).
async fn credited_referral(db: &DatabaseConnection) -> i64 {
    let credited: Vec<_> = referrals(db)
        .await
        .into_iter()
        .filter(|r| r.state == ReferralState::Credited)
        .collect();
    assert_eq!(credited.len(), 1, "one credited referral: {credited:#?}");
    credited[0].id
}

/// The `probation_due` jobs scheduled, by run time (ms).
async fn scheduled_timers(app: &TestApp) -> Vec<i64> {
    app.queue()
        .list(&JobFilter::state(JobState::Scheduled).kind("probation_due"))
        .await
        .expect("list scheduled jobs")
        .jobs
        .iter()
        .map(|j| j.run_at)
        .collect()
}

// ---------------------------------------------------------------------------
// Greenhouse
// ---------------------------------------------------------------------------

/// Delivers a signed Greenhouse body and waits until it is processed.
async fn deliver(app: &TestApp, body: &Value) {
    processed(
        app,
        post_greenhouse(app, &unique("evt"), body.to_string().as_bytes()).await,
    )
    .await;
}

/// A new Greenhouse application credited to [`REFERRER`] (an active
/// employee), processed. Its candidate's email is `source{n}@example.org`.
async fn referred_application(app: &TestApp, n: u64) -> GreenhouseApplication {
    put_employee(app, REFERRER, "sources.referrer@acme-example.com", true).await;
    let gh = GreenhouseApplication::new(
        550_000 + n,
        440_000 + n,
        JOB,
        &format!("source{n}@example.org"),
    )
    .credited_to(REFERRER);
    deliver(app, &gh.json()).await;
    gh
}

/// Our row id of `gh`.
async fn row_id(app: &TestApp, gh: &GreenhouseApplication) -> i64 {
    application_by_ats_id(&app.state.db, &gh.application_id.to_string())
        .await
        .expect("the application is stored")
        .id
}

/// `gh` as a `candidate_stage_change` to `stage` with `status`.
fn stage_change(gh: &GreenhouseApplication, stage: &str, status: &str) -> Value {
    let mut e = gh.clone();
    e.action = "candidate_stage_change".into();
    e.stage = stage.into();
    e.status = status.into();
    e.json()
}

/// `gh` hired (`hire_candidate`), with the embedded offer's start date when
/// given. Returns our application id.
async fn hire(app: &TestApp, gh: &GreenhouseApplication, starts_at: Option<&str>) -> i64 {
    let mut e = gh.clone();
    e.action = "hire_candidate".into();
    e.status = "hired".into();
    e.stage = "Hired".into();
    let mut body = e.json();
    if let Some(start) = starts_at {
        body["payload"]["application"]["offer"] = json!({ "id": 1, "starts_at": start });
    }
    deliver(app, &body).await;
    row_id(app, gh).await
}

/// A Greenhouse offer webhook about `gh`'s application, the offer's fields
/// flat in `payload` (as Greenhouse sends them), plus `fields`.
fn offer_event(action: &str, gh: &GreenhouseApplication, fields: Value) -> Value {
    json!({ "action": action, "payload": offer(gh, fields) })
}

/// The same, the offer nested under `payload.offer` (as some accounts send it).
fn nested_offer_event(action: &str, gh: &GreenhouseApplication, fields: Value) -> Value {
    json!({ "action": action, "payload": { "offer": offer(gh, fields) } })
}

fn offer(gh: &GreenhouseApplication, fields: Value) -> Value {
    let mut offer = json!({
        "id": 7_700_001,
        "version": 1,
        "application_id": gh.application_id,
        "candidate_id": gh.candidate_id,
        "job_id": gh.job_id,
        "offer_status": "Accepted",
    });
    for (k, v) in fields.as_object().expect("offer fields") {
        offer[k] = v.clone();
    }
    offer
}

// ---------------------------------------------------------------------------
// 1. Greenhouse offer events
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_offer_created_before_the_hire_sets_the_start_date_probation_counts_from() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 1).await;
    deliver(app, &stage_change(&gh, "Offer", "active")).await;

    deliver(
        app,
        &nested_offer_event("offer_created", &gh, json!({ "starts_at": "2031-01-15" })),
    )
    .await;
    let id = row_id(app, &gh).await;
    let offered = application_row(db, id).await;
    assert_eq!(offered.start_date, Some(day("2031-01-15")));
    assert_eq!(
        offered.status,
        ApplicationStatus::Active,
        "an offer is no hire"
    );
    assert!(
        all_milestones(db).await.is_empty(),
        "no milestone before the hire"
    );

    let id = hire(app, &gh, None).await;
    let armed = probation_milestone(db, id).await;
    assert_eq!(armed.state, MilestoneState::Armed);
    assert_eq!(
        armed.due_at,
        Some(day("2031-01-15") + probation()),
        "the offer's start date + probation, not the hire date"
    );
    world.cleanup().await;
}

async fn an_offer_update_moves_the_probation_timer_on(setup: Setup) {
    let world = spawn_capture_app(setup, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 2).await;
    let id = hire(app, &gh, Some("2031-01-01")).await;
    let first = probation_milestone(db, id).await;
    assert_eq!(first.state, MilestoneState::Armed);
    assert_eq!(first.due_at, Some(day("2031-01-01") + probation()));
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);

    // The start is pushed back two months.
    deliver(
        app,
        &offer_event(
            "offer_updated",
            &gh,
            json!({ "version": 2, "start_date": "2031-03-01", "updated_at": "2030-12-01T10:00:00Z" }),
        ),
    )
    .await;

    let new_due = day("2031-03-01") + probation();
    let moved = probation_milestone(db, id).await;
    assert_eq!(moved.id, first.id, "the same milestone, re-armed");
    assert_eq!(moved.state, MilestoneState::Armed);
    assert_eq!(moved.due_at, Some(new_due));
    let hired = application_row(db, id).await;
    assert_eq!(hired.status, ApplicationStatus::Hired, "still hired");
    assert_eq!(hired.start_date, Some(day("2031-03-01")));

    let rearmed = audit_with(db, "milestone.probation_rearmed").await;
    assert_eq!(rearmed.len(), 1, "{rearmed:#?}");
    assert_eq!(rearmed[0].subject_type, "application");
    assert_eq!(rearmed[0].subject_id, id.to_string());
    let audited_due: DateTime<Utc> = serde_json::from_value(rearmed[0].data["due_at"].clone())
        .expect("due_at in the audit event");
    assert_eq!(audited_due, new_due);

    let timers = scheduled_timers(app).await;
    assert!(
        timers.contains(&new_due.timestamp_millis()),
        "a timer job at the new due time: {timers:?}"
    );
    assert_eq!(
        tranche(db, "probation").await.state,
        PayoutState::Pending,
        "the probation tranche waits for the moved timer"
    );
    world.cleanup().await;
}

#[tokio::test]
async fn an_offer_update_moves_the_probation_timer() {
    an_offer_update_moves_the_probation_timer_on(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_update_moves_the_probation_timer_on_postgres_and_redis() {
    an_offer_update_moves_the_probation_timer_on(Setup::REDIS_POSTGRES).await;
}

async fn a_deleted_offer_undoes_the_hire_on(setup: Setup) {
    let world = spawn_capture_app(setup, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 3).await;
    let id = hire(app, &gh, Some("2031-01-01")).await;
    assert_eq!(
        probation_milestone(db, id).await.state,
        MilestoneState::Armed
    );
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);

    deliver(app, &offer_event("offer_deleted", &gh, json!({}))).await;

    let unhired = application_row(db, id).await;
    assert_eq!(unhired.status, ApplicationStatus::Active, "no longer hired");
    for m in [
        hire_milestone(db, id).await,
        probation_milestone(db, id).await,
    ] {
        assert_eq!(m.state, MilestoneState::Cancelled, "{m:?}");
        assert!(
            m.cancel_reason.as_deref().is_some_and(|r| !r.is_empty()),
            "cancelled with a reason: {m:?}"
        );
    }
    let pending = tranche(db, "probation").await;
    assert_eq!(pending.state, PayoutState::Cancelled);
    assert!(
        pending.reason.as_deref().is_some_and(|r| !r.is_empty()),
        "cancelled with a reason: {pending:?}"
    );
    assert_eq!(audit_with(db, "milestone.cancelled").await.len(), 2);
    world.cleanup().await;
}

#[tokio::test]
async fn a_deleted_offer_undoes_the_hire() {
    a_deleted_offer_undoes_the_hire_on(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_offer_undoes_the_hire_on_postgres_and_redis() {
    a_deleted_offer_undoes_the_hire_on(Setup::REDIS_POSTGRES).await;
}

#[tokio::test]
async fn a_deleted_offer_before_any_hire_changes_nothing() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 4).await;
    deliver(app, &stage_change(&gh, "Offer", "active")).await;
    let id = row_id(app, &gh).await;
    let before = application_row(db, id).await;

    deliver(app, &offer_event("offer_deleted", &gh, json!({}))).await;

    let after = application_row(db, id).await;
    assert_eq!(after.status, ApplicationStatus::Active);
    assert_eq!(
        (
            &after.stage,
            after.hired_at,
            after.start_date,
            after.rejected_at
        ),
        (
            &before.stage,
            before.hired_at,
            before.start_date,
            before.rejected_at
        )
    );
    assert!(all_milestones(db).await.is_empty());
    assert!(payouts(db).await.is_empty());
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// 2. Careers-site / generic `application.status_changed`
// ---------------------------------------------------------------------------

/// A careers-site submission for [`CAREERS_JOB`] through a referral link of
/// an active employee, processed. `job.ats` is left out, so the site
/// (`careers_site`) is the application's system of record. Returns the
/// submission id and our application id.
async fn referred_submission(app: &TestApp, email: &str) -> (String, i64) {
    put_employee(app, "E-SITE", "site.referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-SITE", CAREERS_JOB).await;
    let submission = CareersApplication::new(CAREERS_JOB, email).referred_by(&token);
    let mut body = submission.json();
    body["job"]
        .as_object_mut()
        .expect("job object")
        .remove("ats");
    processed(
        app,
        post_careers_site(app, &unique("msg_"), body.to_string().as_bytes()).await,
    )
    .await;
    let id = application_by_ats_id(&app.state.db, &submission.submission_id)
        .await
        .expect("the submission is stored")
        .id;
    (submission.submission_id, id)
}

/// An `application.status_changed` about `submission_id` on the careers
/// site, `fields` added to its `application`.
fn status_changed(submission_id: &str, changed_at: &str, fields: Value) -> Value {
    let mut application = json!({ "id": submission_id, "ats": "careers_site" });
    for (k, v) in fields.as_object().expect("application fields") {
        application[k] = v.clone();
    }
    json!({
        "type": "application.status_changed",
        "changed_at": changed_at,
        "application": application,
    })
}

async fn post_status(app: &TestApp, body: &Value) -> reqwest::Response {
    post_careers_site(app, &unique("msg_"), body.to_string().as_bytes()).await
}

async fn a_careers_site_hire_arms_probation_from_its_start_date_on(setup: Setup) {
    let world = spawn_capture_app(setup, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let (submission, id) = referred_submission(app, "site.hire@example.org").await;
    let referral_id = credited_referral(db).await;

    let changed_at = "2026-01-05T09:00:00Z";
    let hired = status_changed(
        &submission,
        changed_at,
        json!({ "status": "hired", "stage": "Hired", "start_date": "2031-02-01" }),
    );
    processed(app, post_status(app, &hired).await).await;

    let row = application_row(db, id).await;
    assert_eq!(row.status, ApplicationStatus::Hired);
    assert_eq!(
        row.hired_at,
        Some(time(changed_at)),
        "hired when it changed"
    );
    assert_eq!(row.start_date, Some(day("2031-02-01")));
    let hire = hire_milestone(db, id).await;
    assert_eq!(hire.state, MilestoneState::Reached);
    assert_eq!(hire.occurred_at, Some(time(changed_at)));
    assert_eq!(hire.referral_id, Some(referral_id), "the referral's hire");
    let armed = probation_milestone(db, id).await;
    assert_eq!(armed.state, MilestoneState::Armed);
    assert_eq!(armed.due_at, Some(day("2031-02-01") + probation()));
    assert_eq!(audit_with(db, "milestone.hire_reached").await.len(), 1);
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);
    tranche(db, "hire").await;
    world.cleanup().await;
}

#[tokio::test]
async fn a_careers_site_hire_arms_probation_from_its_start_date() {
    a_careers_site_hire_arms_probation_from_its_start_date_on(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_careers_site_hire_arms_probation_from_its_start_date_on_postgres_and_redis() {
    a_careers_site_hire_arms_probation_from_its_start_date_on(Setup::REDIS_POSTGRES).await;
}

#[tokio::test]
async fn a_configured_start_date_field_is_read_instead_of_start_date() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s);
        s.milestones.start_date_field = "first_day".into();
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let (submission, id) = referred_submission(app, "first.day@example.org").await;

    let hired = status_changed(
        &submission,
        "2026-01-05T09:00:00Z",
        json!({ "status": "hired", "first_day": "2031-06-01", "start_date": "2031-01-01" }),
    );
    processed(app, post_status(app, &hired).await).await;

    assert_eq!(
        application_row(db, id).await.start_date,
        Some(day("2031-06-01"))
    );
    let armed = probation_milestone(db, id).await;
    assert_eq!(armed.state, MilestoneState::Armed);
    assert_eq!(
        armed.due_at,
        Some(day("2031-06-01") + probation()),
        "first_day counts, start_date is not read"
    );
    world.cleanup().await;
}

/// Delivers `body` and asserts the refusal: `422` naming `field`, one more
/// inbox row (rejected, 422), and nothing else changed for application `id`.
async fn assert_refused_naming(app: &TestApp, id: i64, body: &Value, field: &str) {
    let db = &app.state.db;
    let before = application_row(db, id).await;
    let inbox_before = inbox_rows(db).await.len();

    let response = post_status(app, body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{answer}"
    );
    assert_eq!(answer["error"], "invalid_field", "{answer}");
    let detail = answer["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(field), "the answer names {field}: {answer}");

    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), inbox_before + 1, "one rejection record");
    let rejected = rows.last().expect("the rejection record");
    assert_eq!(rejected.status, InboxStatus::Rejected);
    assert_eq!(rejected.http_status, 422);
    assert_eq!(rejected.job_id, None, "nothing enqueued");

    let after = application_row(db, id).await;
    assert_eq!(
        (after.status, after.hired_at, after.start_date, &after.stage),
        (
            before.status,
            before.hired_at,
            before.start_date,
            &before.stage
        ),
        "the application is unchanged"
    );
    assert!(all_milestones(db).await.is_empty(), "no milestone");
    assert!(payouts(db).await.is_empty(), "no payout");
    assert!(
        audit_with(db, "application.stage_changed").await.is_empty(),
        "no stage change recorded"
    );
}

#[tokio::test]
async fn a_bad_date_in_the_configured_start_date_field_is_refused_naming_it() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        with_probation(s);
        s.milestones.start_date_field = "first_day".into();
    })
    .await;
    let app = &world.app;
    let (submission, id) = referred_submission(app, "bad.date@example.org").await;
    let body = status_changed(
        &submission,
        "2026-01-05T09:00:00Z",
        json!({ "status": "hired", "first_day": "next Monday" }),
    );
    assert_refused_naming(app, id, &body, "application.first_day").await;
    world.cleanup().await;
}

#[tokio::test]
async fn an_unknown_status_is_refused_naming_it() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let app = &world.app;
    let (submission, id) = referred_submission(app, "promoted@example.org").await;
    let body = status_changed(
        &submission,
        "2026-01-05T09:00:00Z",
        json!({ "status": "promoted", "start_date": "2031-02-01" }),
    );
    assert_refused_naming(app, id, &body, "application.status").await;
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// 3. Configured hire stages
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_configured_hire_stage_hires_the_application() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_offer_accepted_as_hire).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 5).await;

    // Greenhouse still calls it active; the stage name says hired (in
    // another case than configured).
    deliver(app, &stage_change(&gh, "offer accepted", "active")).await;

    let id = row_id(app, &gh).await;
    let row = application_row(db, id).await;
    assert_eq!(row.status, ApplicationStatus::Hired);
    let hired_at = row.hired_at.expect("a hire time");
    assert_eq!(hire_milestone(db, id).await.state, MilestoneState::Reached);
    let armed = probation_milestone(db, id).await;
    assert_eq!(armed.state, MilestoneState::Armed);
    assert_eq!(armed.due_at, Some(hired_at + probation()));
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);
    world.cleanup().await;
}

#[tokio::test]
async fn without_configured_hire_stages_the_same_stage_change_does_not_hire() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 6).await;

    deliver(app, &stage_change(&gh, "offer accepted", "active")).await;

    let row = application_row(db, row_id(app, &gh).await).await;
    assert_eq!(row.status, ApplicationStatus::Active);
    assert_eq!(
        row.stage.as_deref(),
        Some("offer accepted"),
        "the stage moved"
    );
    assert_eq!(row.hired_at, None);
    assert!(all_milestones(db).await.is_empty());
    assert!(payouts(db).await.is_empty());
    world.cleanup().await;
}

/// Greenhouse keeps such an application `active` at "Offer Accepted", and
/// sends `application_updated` with those facts whenever anything on it
/// changes: that must not undo the configured hire.
#[tokio::test]
async fn a_configured_hire_survives_a_later_application_update_at_the_same_stage() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_offer_accepted_as_hire).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 7).await;
    deliver(app, &stage_change(&gh, "Offer Accepted", "active")).await;
    let id = row_id(app, &gh).await;
    assert_eq!(
        application_row(db, id).await.status,
        ApplicationStatus::Hired
    );

    let mut updated = gh.clone();
    updated.action = "application_updated".into();
    updated.stage = "Offer Accepted".into();
    updated.status = "active".into();
    deliver(app, &updated.json()).await;

    assert_eq!(
        application_row(db, id).await.status,
        ApplicationStatus::Hired,
        "still hired"
    );
    assert_eq!(hire_milestone(db, id).await.state, MilestoneState::Reached);
    assert_eq!(
        probation_milestone(db, id).await.state,
        MilestoneState::Armed
    );
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// 4. HRIS termination
// ---------------------------------------------------------------------------

async fn an_hris_termination_cancels_the_pending_probation_on(setup: Setup) {
    let world = spawn_capture_app(setup, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 8).await; // source8@example.org
    let id = hire(app, &gh, Some("2031-01-01")).await;
    assert_eq!(
        probation_milestone(db, id).await.state,
        MilestoneState::Armed
    );

    // Someone else leaving changes nothing.
    put_employee(app, "E-OTHER", "someone.else@acme-example.com", false).await;
    assert_eq!(
        probation_milestone(db, id).await.state,
        MilestoneState::Armed
    );
    assert_eq!(tranche(db, "probation").await.state, PayoutState::Pending);

    // The hire, now an employee, leaves: the HRIS writes their email its
    // own way, the same address canonically.
    put_employee(app, "E-NEWHIRE", "Source8@Example.ORG", false).await;

    let cancelled = probation_milestone(db, id).await;
    assert_eq!(cancelled.state, MilestoneState::Cancelled);
    let reason = cancelled.cancel_reason.clone().unwrap_or_default();
    assert!(reason.contains("terminated"), "{reason:?}");
    let pending = tranche(db, "probation").await;
    assert_eq!(pending.state, PayoutState::Cancelled);
    let reason = pending.reason.clone().unwrap_or_default();
    assert!(reason.contains("terminated"), "{reason:?}");
    assert_eq!(
        hire_milestone(db, id).await.state,
        MilestoneState::Reached,
        "the hire itself happened"
    );
    world.cleanup().await;
}

#[tokio::test]
async fn an_hris_termination_cancels_the_pending_probation() {
    an_hris_termination_cancels_the_pending_probation_on(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_hris_termination_cancels_the_pending_probation_on_postgres_and_redis() {
    an_hris_termination_cancels_the_pending_probation_on(Setup::REDIS_POSTGRES).await;
}

// ---------------------------------------------------------------------------
// Deliveries processed out of order (found by the chaos suite)
// ---------------------------------------------------------------------------

/// A late copy of the application's first snapshot (`active`) is older than
/// the hire already recorded: it must not undo the hire.
#[tokio::test]
async fn a_stale_active_snapshot_does_not_undo_a_hire() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let app = &world.app;
    let db = world.db();
    // Greenhouse stamps each snapshot with its `last_activity_at`: the late
    // copy carries the time it was taken, before the hire.
    let first_snapshot = event_time();
    let gh = referred_application(app, 900).await;
    let id = hire(app, &gh, None).await;
    let mut late = gh.clone();
    late.last_activity_at = Some(first_snapshot);
    deliver(app, &late.json()).await;
    assert_eq!(
        application_row(db, id).await.status,
        ApplicationStatus::Hired
    );
    assert_eq!(hire_milestone(db, id).await.state, MilestoneState::Reached);
    assert!(
        payouts(db)
            .await
            .iter()
            .all(|p| p.state != PayoutState::Cancelled),
        "nothing cancelled"
    );
    world.cleanup().await;
}

/// The careers-site submission is processed after the ATS application it
/// became, already hired: its referral moves there and the hire pays.
#[tokio::test]
async fn a_submission_processed_after_its_hired_ats_application_still_credits_it() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, REFERRER, "sources.referrer@acme-example.com", true).await;
    let token = mint_link(app, REFERRER, &JOB.to_string()).await;
    let gh = GreenhouseApplication::new(550_901, 440_901, JOB, "late901@example.org");
    deliver(app, &gh.json()).await;
    let id = hire(app, &gh, None).await;
    assert!(
        payouts(db).await.is_empty(),
        "no referral yet, nothing to pay"
    );

    let submission =
        CareersApplication::new(&JOB.to_string(), "late901@example.org").referred_by(&token);
    let body = submission.json().to_string();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), body.as_bytes()).await,
    )
    .await;
    let referral = referrals(db).await.into_iter().next().expect("a referral");
    assert_eq!(referral.state, ReferralState::Credited);
    assert_eq!(
        referral.application_id,
        Some(id),
        "moved to the ATS application"
    );
    assert_eq!(hire_milestone(db, id).await.referral_id, Some(referral.id));
    let tranches = payouts(db).await;
    assert_eq!(tranches.len(), 2, "both tranches: {tranches:?}");
    world.cleanup().await;
}

/// Greenhouse documents `offer_created`/`offer_updated`'s `start_date` as
/// `MM/DD/YYYY`: a start pushed later and then pulled earlier, both sent
/// that way, move the probation timer each time (issue 17).
#[tokio::test]
async fn an_offer_update_in_us_date_format_moves_the_probation_timer_later_and_earlier() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, with_probation).await;
    let (app, db) = (&world.app, world.db());
    let gh = referred_application(app, 171).await;
    let id = hire(app, &gh, Some("2031-03-01")).await;
    let first = probation_milestone(db, id).await;
    assert_eq!(first.due_at, Some(day("2031-03-01") + probation()));

    for (version, sent, start) in [
        (2, "04/15/2031", "2031-04-15"),
        (3, "02/03/2031", "2031-02-03"),
    ] {
        deliver(
            app,
            &offer_event(
                "offer_updated",
                &gh,
                json!({ "version": version, "start_date": sent,
                        "updated_at": format!("2030-12-0{version}T10:00:00Z") }),
            ),
        )
        .await;
        let moved = probation_milestone(db, id).await;
        assert_eq!(moved.id, first.id, "the same milestone, re-armed");
        assert_eq!(moved.state, MilestoneState::Armed);
        assert_eq!(moved.due_at, Some(day(start) + probation()), "{sent}");
        assert_eq!(application_row(db, id).await.start_date, Some(day(start)));
        let due = day(start) + probation();
        assert!(
            scheduled_timers(app)
                .await
                .contains(&due.timestamp_millis()),
            "a timer job at {due} for {sent}"
        );
    }
    assert_eq!(
        audit_with(db, "milestone.probation_rearmed").await.len(),
        2,
        "re-armed once later, once earlier"
    );
    world.cleanup().await;
}
