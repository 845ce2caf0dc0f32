//! Events applied by their own time (issue 23.1): per vendor (Greenhouse,
//! Ashby, Lever, the careers site), a table of replayed and reordered
//! deliveries and the state each must end in; a
//! property test that any arrival order of a hire/unhire/start-date
//! sequence ends in the state of the newest event; and a replayed signed
//! hire through the HTTP endpoint that must not re-hire.
//!
//! The tables store each body in the inbox as intake does and run the
//! `process_delivery` job on it, in the order given: the decoders, the
//! fact clock and capture are the real ones.

use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use entities::{
    application::{self, ApplicationStatus},
    inbox::{self, InboxSource, InboxStatus},
    milestone::{self, MilestoneKind, MilestoneState},
};
use jobs::{capture::Processed, context::JobContext};
use proptest::prelude::*;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use tests::{
    app::{IdleApp, Setup, idle_app},
    fixtures::{
        CaptureApp, GreenhouseApplication, accepted, audit_with, lever_body, lever_hired,
        lever_opportunity, payload_json, post_greenhouse, post_lever, processed, put_employee,
        spawn_capture_app, unique, wait_inbox, wait_until,
    },
    vendors::lever::{HIRED_ELSEWHERE_REASON, archived},
};

tests::both_setups!(
    greenhouse_replays_and_reorders_end_in_the_newest_state,
    a_greenhouse_body_already_applied_is_a_duplicate_whatever_its_event_id,
    ashby_replays_and_reorders_end_in_the_newest_state,
    lever_replays_and_reorders_end_in_the_api_s_state,
    careers_site_reorders_end_in_the_newest_state,
    a_replayed_signed_hire_after_an_unhire_leaves_the_hire_undone,
    a_retried_hire_whose_milestone_sync_died_still_reaches_the_milestone,
);

const JOB: u64 = 4_012_345;

/// `minute` minutes into a fixed morning: the vendors' event times.
fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

/// Stores `body` from `source` in the inbox, verified, as intake does, and
/// runs its `process_delivery` job; returns what processing amounted to.
async fn deliver(ctx: &JobContext, source: InboxSource, body: &Value) -> (i64, Processed) {
    let row = inbox::ActiveModel {
        source: Set(source),
        delivery_id: Set(ulid::Ulid::generate().to_string()),
        event: Set(None),
        received_at: Set(Utc::now()),
        raw_body: Set(Some(body.to_string().into_bytes())),
        verification: Set(inbox::Verification::Verified),
        status: Set(InboxStatus::Enqueued),
        http_status: Set(202),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await
    .expect("store a delivery");
    let done = jobs::capture::process_delivery(ctx, row.id, 1)
        .await
        .unwrap_or_else(|e| panic!("processing {body}: {e}"));
    (row.id, done)
}

async fn application_of(ctx: &JobContext, ats_id: &str) -> application::Model {
    application_of_db(&ctx.db, ats_id).await
}

async fn world(setup: Setup) -> IdleApp {
    idle_app(setup, |_| {}).await
}

/// One row of a vendor's table: the deliveries in arrival order and the
/// state they must leave.
struct Case {
    name: &'static str,
    deliveries: Vec<Value>,
    status: ApplicationStatus,
    start: Option<&'static str>,
}

async fn run_table(ctx: &JobContext, source: InboxSource, cases: Vec<(String, Case)>) {
    for (ats_id, case) in cases {
        for body in &case.deliveries {
            deliver(ctx, source, body).await;
        }
        let app = application_of(ctx, &ats_id).await;
        assert_eq!(app.status, case.status, "{}: status", case.name);
        assert_eq!(
            app.start_date.map(|d| d.date_naive().to_string()),
            case.start.map(str::to_owned),
            "{}: start date",
            case.name
        );
    }
}

// ---------------------------------------------------------------------------
// Greenhouse
// ---------------------------------------------------------------------------

/// A Greenhouse application event (`action`) of application `id` as of
/// `last_activity_at` = `at`.
fn gh(id: u64, action: &str, status: &str, at: DateTime<Utc>) -> Value {
    let mut g =
        GreenhouseApplication::new(id, id + 1_000_000, JOB, &format!("order{id}@example.org"));
    g.applied_at = t(0);
    g.action = action.into();
    g.status = status.into();
    g.last_activity_at = Some(at);
    g.json()
}

fn gh_new(id: u64) -> Value {
    gh(id, "new_candidate_application", "active", t(0))
}

/// Greenhouse `offer_updated` of application `id`: start `date`, the
/// offer's `updated_at` = `at`, its `version`.
fn gh_offer(id: u64, date: &str, at: DateTime<Utc>, version: i64) -> Value {
    json!({ "action": "offer_updated", "payload": {
        "id": 55, "application_id": id, "job_id": JOB, "start_date": date,
        "updated_at": at.to_rfc3339(), "version": version, "offer_status": "Accepted",
    }})
}

fn greenhouse_cases() -> Vec<(String, Case)> {
    let mut n = 610_000;
    let mut next = || {
        n += 1;
        n
    };
    let mut cases = Vec::new();
    let mut case = |id: u64, c: Case| cases.push((id.to_string(), c));

    let id = next();
    let hire = gh(id, "hire_candidate", "hired", t(10));
    case(
        id,
        Case {
            name: "hire, unhire, the same signed hire replayed under a new event id",
            deliveries: vec![
                gh_new(id),
                hire.clone(),
                gh(id, "unhire_candidate", "active", t(20)),
                hire,
            ],
            status: ApplicationStatus::Active,
            start: None,
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "the unhire arrives before the hire it undid",
            deliveries: vec![
                gh_new(id),
                gh(id, "unhire_candidate", "active", t(20)),
                gh(id, "hire_candidate", "hired", t(10)),
            ],
            status: ApplicationStatus::Active,
            start: None,
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "an application snapshot older than the hire, delivered late",
            deliveries: vec![
                gh_new(id),
                gh(id, "hire_candidate", "hired", t(10)),
                gh(id, "application_updated", "active", t(5)),
            ],
            status: ApplicationStatus::Hired,
            start: None,
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "a rejection, then an older stage change delivered late",
            deliveries: vec![
                gh_new(id),
                gh(id, "reject_candidate", "rejected", t(20)),
                gh(id, "candidate_stage_change", "active", t(10)),
            ],
            status: ApplicationStatus::Rejected,
            start: None,
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "start dates by the offer's time: the older offer delivered last",
            deliveries: vec![
                gh_new(id),
                gh(id, "hire_candidate", "hired", t(10)),
                gh_offer(id, "2031-03-01", t(30), 2),
                gh_offer(id, "2031-02-01", t(20), 1),
            ],
            status: ApplicationStatus::Hired,
            start: Some("2031-03-01"),
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "the same offer time: the higher version wins",
            deliveries: vec![
                gh_new(id),
                gh_offer(id, "2031-05-01", t(30), 3),
                gh_offer(id, "2031-04-01", t(30), 2),
            ],
            status: ApplicationStatus::Active,
            start: Some("2031-05-01"),
        },
    );
    let id = next();
    case(
        id,
        Case {
            name: "two events at the same time: the one applied first stays",
            deliveries: vec![
                gh_new(id),
                gh(id, "hire_candidate", "hired", t(10)),
                gh(id, "unhire_candidate", "active", t(10)),
            ],
            status: ApplicationStatus::Hired,
            start: None,
        },
    );
    cases
}

async fn greenhouse_replays_and_reorders_end_in_the_newest_state(setup: Setup) {
    let w = world(setup).await;
    let ctx = &w.state.jobs;
    run_table(ctx, InboxSource::Greenhouse, greenhouse_cases()).await;
    let stale = audit_with(&ctx.db, "application.stale").await;
    assert!(
        stale.len() >= 5,
        "every older delivery is audited as stale: {stale:#?}"
    );
    w.cleanup().await;
}

async fn a_greenhouse_body_already_applied_is_a_duplicate_whatever_its_event_id(setup: Setup) {
    let w = world(setup).await;
    let ctx = &w.state.jobs;
    let id = 619_001;
    deliver(ctx, InboxSource::Greenhouse, &gh_new(id)).await;
    let hire = gh(id, "hire_candidate", "hired", t(10));
    let (first, applied) = deliver(ctx, InboxSource::Greenhouse, &hire).await;
    assert_eq!(applied, Processed::Applied);
    let (again, replay) = deliver(ctx, InboxSource::Greenhouse, &hire).await;
    assert_eq!(
        replay,
        Processed::Ignored,
        "the same body, a new delivery id"
    );
    let row = inbox::Entity::find_by_id(again)
        .one(&ctx.db)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.status, InboxStatus::Ignored);
    assert!(
        row.error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("inbox row {first}"))),
        "names the delivery that applied it: {:?}",
        row.error
    );
    w.cleanup().await;
}

// ---------------------------------------------------------------------------
// Ashby
// ---------------------------------------------------------------------------

fn ashby_uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// Ashby `applicationUpdate` of application `n`, `status` as of `updatedAt` = `at`.
fn ashby_update(n: u64, status: &str, at: DateTime<Utc>) -> Value {
    let mut body = payload_json("ashby_applicationUpdate.json");
    body["webhookActionId"] = json!(ulid::Ulid::generate().to_string());
    let app = &mut body["data"]["application"];
    app["id"] = json!(ashby_uuid(n));
    app["candidate"]["id"] = json!(ashby_uuid(n + 1_000_000));
    app["candidate"]["primaryEmailAddress"]["value"] = json!(format!("ashby{n}@example.org"));
    app["status"] = json!(status);
    app["updatedAt"] = json!(at.to_rfc3339());
    body
}

/// Ashby `offerUpdate` of application `n`, accepted, start `date`, its
/// latest version created at `at`.
fn ashby_offer(n: u64, date: &str, at: DateTime<Utc>) -> Value {
    let mut body = payload_json("ashby_offerUpdate.json");
    body["webhookActionId"] = json!(ulid::Ulid::generate().to_string());
    let offer = &mut body["data"]["offer"];
    offer["applicationId"] = json!(ashby_uuid(n));
    offer["decidedAt"] = json!(t(1).to_rfc3339());
    offer["latestVersion"]["startDate"] = json!(format!("{date}T00:00:00.000Z"));
    offer["latestVersion"]["createdAt"] = json!(at.to_rfc3339());
    body
}

async fn ashby_replays_and_reorders_end_in_the_newest_state(setup: Setup) {
    let w = world(setup).await;
    let ctx = &w.state.jobs;
    let (a, b, c) = (620_001, 620_002, 620_003);
    let cases = vec![
        (
            ashby_uuid(a),
            Case {
                name: "an older Active update delivered after the Hired one",
                deliveries: vec![
                    ashby_update(a, "Active", t(0)),
                    ashby_update(a, "Hired", t(20)),
                    ashby_update(a, "Active", t(10)),
                ],
                status: ApplicationStatus::Hired,
                start: None,
            },
        ),
        (
            ashby_uuid(b),
            Case {
                name: "archived after the hire, the hire delivered last",
                deliveries: vec![
                    ashby_update(b, "Active", t(0)),
                    ashby_update(b, "Archived", t(30)),
                    ashby_update(b, "Hired", t(20)),
                ],
                status: ApplicationStatus::Withdrawn,
                start: None,
            },
        ),
        (
            ashby_uuid(c),
            Case {
                name: "a moved start date (a newer offer version) delivered before the older one",
                deliveries: vec![
                    ashby_update(c, "Hired", t(2)),
                    ashby_offer(c, "2031-06-01", t(40)),
                    ashby_offer(c, "2031-05-01", t(30)),
                ],
                status: ApplicationStatus::Hired,
                start: Some("2031-06-01"),
            },
        ),
    ];
    run_table(ctx, InboxSource::Ashby, cases).await;
    w.cleanup().await;
}

// ---------------------------------------------------------------------------
// Lever
// ---------------------------------------------------------------------------

/// Lever bodies carry only ids and are signed over `token + triggeredAt`;
/// every event re-reads the opportunity, so the API's state at processing
/// time decides whatever order (or how often) the events arrive.
/// Posts `body`; a repeated token is answered 200 and changes nothing, a
/// new one is processed or ignored (an unconfirmed hire).
async fn post_lever_event(world: &CaptureApp, body: &Value) {
    let app = &world.app;
    let bytes = serde_json::to_vec(body).expect("json");
    let response = post_lever(app, &bytes).await;
    if response.status() == reqwest::StatusCode::OK {
        let receipt: Value = response.json().await.expect("a receipt");
        assert_eq!(receipt["status"], "duplicate", "{receipt}");
        return;
    }
    let id = accepted(response).await.inbox_id;
    wait_until("the Lever delivery settled", || async {
        inbox::Entity::find_by_id(id)
            .one(world.db())
            .await
            .ok()
            .flatten()
            .is_some_and(|r| matches!(r.status, InboxStatus::Processed | InboxStatus::Ignored))
    })
    .await;
}

/// One step of a Lever case: what the API shows from now on (if it
/// changes), then the delivery.
struct LeverStep {
    api: Option<Value>,
    body: Value,
}

async fn lever_replays_and_reorders_end_in_the_api_s_state(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let opp = |n: u32| format!("opp-order-{n}");
    let state = |n: u32, stage: &str| {
        lever_opportunity(
            &opp(n),
            &format!("contact-order-{n}"),
            &format!("lever.order{n}@example.org"),
            stage,
            "lever-posting-order",
            t(0),
        )
    };
    let step = |api: Option<Value>, body: &Value| LeverStep {
        api,
        body: body.clone(),
    };

    let hire_1 = lever_body("candidateHired", &opp(1));
    let early_hire_2 = lever_body("candidateHired", &opp(2));
    let early_change_3 = lever_body("candidateStageChange", &opp(3));
    let early_hire_4 = lever_body("candidateHired", &opp(4));
    let cases: Vec<(&str, u32, Vec<LeverStep>, ApplicationStatus)> = vec![
        (
            "hired, Lever unarchives it, the hire redelivered (its retry: the same token)",
            1,
            vec![
                step(Some(lever_hired(state(1, "Hired"))), &hire_1),
                step(
                    Some(state(1, "Offer")),
                    &lever_body("candidateStageChange", &opp(1)),
                ),
                step(None, &hire_1),
            ],
            ApplicationStatus::Active,
        ),
        (
            "an earlier candidateHired (another token) delivered after Lever unarchived it",
            2,
            vec![
                step(
                    Some(state(2, "Offer")),
                    &lever_body("candidateStageChange", &opp(2)),
                ),
                step(None, &early_hire_2),
            ],
            ApplicationStatus::Active,
        ),
        (
            "the stage change from before the hire delivered after it",
            3,
            vec![
                step(
                    Some(lever_hired(state(3, "Hired"))),
                    &lever_body("candidateHired", &opp(3)),
                ),
                step(None, &early_change_3),
            ],
            ApplicationStatus::Hired,
        ),
        (
            "a candidateHired delivered after Lever archived it for a non-hired reason",
            4,
            vec![
                step(
                    Some(state(4, "Offer")),
                    &lever_body("candidateStageChange", &opp(4)),
                ),
                step(
                    Some(archived(
                        state(4, "Hired"),
                        HIRED_ELSEWHERE_REASON,
                        Utc::now(),
                    )),
                    &early_hire_4,
                ),
            ],
            ApplicationStatus::Active,
        ),
    ];
    for (name, n, steps, status) in cases {
        for s in steps {
            if let Some(api) = s.api {
                world.lever.set_opportunity(&opp(n), api);
            }
            post_lever_event(&world, &s.body).await;
        }
        let app = application_of_db(world.db(), &opp(n)).await;
        assert_eq!(app.status, status, "{name}");
    }
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// The careers site
// ---------------------------------------------------------------------------

fn careers_submitted(submission: &str, email: &str) -> Value {
    json!({
        "type": "application.submitted",
        "submission_id": submission,
        "submitted_at": t(0).to_rfc3339(),
        "job": { "ats": "careers_site", "ats_job_id": "J-ORDER", "title": "Engineer" },
        "tracking": { "ref": null },
        "applicant": { "first_name": "Test", "last_name": "Applicant", "email": email },
    })
}

fn careers_status(submission: &str, status: &str, start: Option<&str>, at: DateTime<Utc>) -> Value {
    json!({
        "type": "application.status_changed",
        "changed_at": at.to_rfc3339(),
        "application": { "id": submission, "ats": "careers_site", "status": status, "start_date": start },
    })
}

async fn careers_site_reorders_end_in_the_newest_state(setup: Setup) {
    let w = world(setup).await;
    let ctx = &w.state.jobs;
    let (a, b) = (unique("sub_order_"), unique("sub_order_"));
    let cases = vec![
        (
            a.clone(),
            Case {
                name: "hired then rejected, the hire delivered last",
                deliveries: vec![
                    careers_submitted(&a, "careers-a@example.org"),
                    careers_status(&a, "rejected", None, t(30)),
                    careers_status(&a, "hired", Some("2031-01-01"), t(20)),
                ],
                status: ApplicationStatus::Rejected,
                // The start date is a fact of its own: nothing newer moved it.
                start: Some("2031-01-01"),
            },
        ),
        (
            b.clone(),
            Case {
                name: "a start date moved, the older one delivered last",
                deliveries: vec![
                    careers_submitted(&b, "careers-b@example.org"),
                    careers_status(&b, "hired", Some("2031-02-01"), t(40)),
                    careers_status(&b, "hired", Some("2031-01-15"), t(20)),
                ],
                status: ApplicationStatus::Hired,
                start: Some("2031-02-01"),
            },
        ),
    ];
    run_table(ctx, InboxSource::CareersSite, cases).await;
    w.cleanup().await;
}

// ---------------------------------------------------------------------------
// Any arrival order ends in the newest event's state
// ---------------------------------------------------------------------------

/// One Greenhouse event of a generated sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Hire,
    Unhire,
    /// An offer update moving the start date to the given day of March 2031.
    StartDate(u32),
}

/// The body of `step`, the `minute`-th event of application `id`.
fn body_of(id: u64, step: Step, minute: i64) -> Value {
    match step {
        Step::Hire => gh(id, "hire_candidate", "hired", t(minute)),
        Step::Unhire => gh(id, "unhire_candidate", "active", t(minute)),
        Step::StartDate(day) => gh_offer(id, &format!("2031-03-{day:02}"), t(minute), minute),
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Hire),
        Just(Step::Unhire),
        (1u32..=28).prop_map(Step::StartDate)
    ]
}

/// A sequence of events (in the order they happened, a minute apart) and
/// an order they arrive in.
fn sequence() -> impl Strategy<Value = (Vec<Step>, Vec<usize>)> {
    proptest::collection::vec(step(), 1..7).prop_flat_map(|steps| {
        let order: Vec<usize> = (0..steps.len()).collect();
        (Just(steps), Just(order).prop_shuffle())
    })
}

/// Delivers `steps` of a new application in `order`; the application must
/// end as the newest status event and the newest start date say.
async fn check_sequence(ctx: &JobContext, id: u64, steps: &[Step], order: &[usize]) {
    deliver(ctx, InboxSource::Greenhouse, &gh_new(id)).await;
    for &i in order {
        let minute = i64::try_from(i).expect("small") + 1;
        deliver(ctx, InboxSource::Greenhouse, &body_of(id, steps[i], minute)).await;
    }
    let status = match steps
        .iter()
        .rev()
        .find(|s| !matches!(s, Step::StartDate(_)))
    {
        Some(Step::Hire) => ApplicationStatus::Hired,
        _ => ApplicationStatus::Active,
    };
    let start = steps.iter().rev().find_map(|s| match s {
        Step::StartDate(day) => Some(format!("2031-03-{day:02}")),
        _ => None,
    });
    let app = application_of(ctx, &id.to_string()).await;
    assert_eq!(app.status, status, "{steps:?} arriving as {order:?}");
    assert_eq!(
        app.start_date.map(|d| d.date_naive().to_string()),
        start,
        "{steps:?} arriving as {order:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_arrival_order_ends_in_the_state_of_the_newest_event() {
    // Hundreds of generated orders: the embedded default only (the tables
    // above run on both setups).
    let w = world(Setup::EMBEDDED_SQLITE).await;
    let ctx = w.state.jobs.clone();
    let handle = tokio::runtime::Handle::current();
    // proptest's runner is synchronous: it runs on a blocking thread, each
    // case on an application of its own, driven on the test's runtime.
    tokio::task::spawn_blocking(move || {
        let next = std::sync::atomic::AtomicU64::new(630_000);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 24,
            ..ProptestConfig::default()
        });
        runner
            .run(&sequence(), |(steps, order)| {
                let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                handle.block_on(check_sequence(&ctx, id, &steps, &order));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    })
    .await
    .expect("the property holds");
    w.cleanup().await;
}

// ---------------------------------------------------------------------------
// Through the HTTP endpoint
// ---------------------------------------------------------------------------

async fn a_replayed_signed_hire_after_an_unhire_leaves_the_hire_undone(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-ORDER", "e-order@acme-example.com", true).await;
    let at = |minute: i64| Utc::now().trunc_subsecs(0) + Duration::minutes(minute);
    let mut gh = GreenhouseApplication::new(640_001, 1_640_001, JOB, "replayed@example.org")
        .credited_to("E-ORDER");
    gh.last_activity_at = Some(at(0));
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    let mut hire = gh.clone();
    hire.action = "hire_candidate".into();
    hire.status = "hired".into();
    hire.stage = "Hired".into();
    hire.last_activity_at = Some(at(10));
    let hire_body = hire.body();
    processed(app, post_greenhouse(app, &unique("evt"), &hire_body).await).await;
    let mut unhire = gh.clone();
    unhire.action = "unhire_candidate".into();
    unhire.last_activity_at = Some(at(20));
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &unhire.body()).await,
    )
    .await;

    // The captured signed hire, re-posted under a new Greenhouse-Event-ID:
    // accepted (it is authentic), and changes nothing.
    let replay = accepted(post_greenhouse(app, &unique("evt"), &hire_body).await).await;
    wait_inbox(app, replay.inbox_id, InboxStatus::Ignored).await;
    let stored = application_of_db(db, "640001").await;
    assert_eq!(stored.status, ApplicationStatus::Active, "still unhired");
    let hire_milestone = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(stored.id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::Hire))
        .one(db)
        .await
        .expect("read")
        .expect("hire milestone");
    assert_eq!(
        hire_milestone.state,
        MilestoneState::Cancelled,
        "the hire milestone stays cancelled"
    );
    assert_eq!(
        audit_with(db, "milestone.hire_reached").await.len(),
        1,
        "the hire was reached once, not revived"
    );

    // An older hire with another body (say, Greenhouse's retry of an
    // earlier event) is stale rather than a duplicate: ignored, audited.
    let mut late = hire.clone();
    late.stage = "Offer".into();
    late.last_activity_at = Some(at(15));
    let late = accepted(post_greenhouse(app, &unique("evt"), &late.body()).await).await;
    wait_inbox(app, late.inbox_id, InboxStatus::Ignored).await;
    assert_eq!(
        application_of_db(db, "640001").await.status,
        ApplicationStatus::Active
    );
    assert_eq!(audit_with(db, "application.stale").await.len(), 1);
    world.cleanup().await;
}

/// The process dies after a hire's stage change committed and before the
/// milestones caught up (the chaos suite's kills found it): the queue runs
/// the same delivery again, which is stale now, and must still bring the
/// milestones up, or the hire is never paid.
async fn a_retried_hire_whose_milestone_sync_died_still_reaches_the_milestone(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-RETRY", "retry.referrer@acme-example.com", true).await;
    let gh = GreenhouseApplication::new(650_001, 651_001, JOB, "retried.hire@example.org")
        .credited_to("E-RETRY");
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    let mut hire = gh.clone();
    hire.action = "hire_candidate".into();
    hire.status = "hired".into();
    hire.stage = "Hired".into();
    let delivery = processed(
        app,
        post_greenhouse(app, &unique("evt"), &hire.body()).await,
    )
    .await;
    let stored = application_of_db(db, "650001").await;
    assert_eq!(stored.status, ApplicationStatus::Hired);

    // What the kill leaves: the hire committed, no milestone (nor the
    // payouts that hang on it) written.
    let written: Vec<i64> = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(stored.id))
        .all(db)
        .await
        .expect("read")
        .iter()
        .map(|m| m.id)
        .collect();
    entities::payout::Entity::delete_many()
        .filter(entities::payout::Column::MilestoneId.is_in(written))
        .exec(db)
        .await
        .expect("remove the payouts");
    milestone::Entity::delete_many()
        .filter(milestone::Column::ApplicationId.eq(stored.id))
        .exec(db)
        .await
        .expect("remove the milestones");
    // Nor was the delivery marked done.
    let mut row: inbox::ActiveModel = inbox::Entity::find_by_id(delivery)
        .one(db)
        .await
        .expect("read")
        .expect("the delivery")
        .into();
    row.status = Set(InboxStatus::Enqueued);
    row.body_sha256 = Set(None);
    row.update(db).await.expect("reset the delivery");
    // The queue's retry of the same delivery.
    jobs::capture::process_delivery(&app.state.jobs, delivery, 2)
        .await
        .expect("the retry runs");
    assert!(
        !audit_with(db, "application.stale").await.is_empty(),
        "the retry is stale"
    );
    let hire_milestone = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(stored.id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::Hire))
        .one(db)
        .await
        .expect("read");
    assert_eq!(
        hire_milestone.map(|m| m.state),
        Some(MilestoneState::Reached),
        "the hire milestone is reached on the retry"
    );
    world.cleanup().await;
}

async fn application_of_db(db: &DatabaseConnection, ats_id: &str) -> application::Model {
    application::Entity::find()
        .filter(application::Column::AtsApplicationId.eq(ats_id))
        .one(db)
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("application {ats_id} stored"))
}
