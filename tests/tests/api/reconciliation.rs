//! Reconciliation finds what is wrong, fixes what it safely can, records
//! every variance, and runs once per cron tick however many workers watch
//! the schedule.

use std::time::Duration;

use chrono::Utc;
use entities::{
    milestone::{self, MilestoneKind, MilestoneState},
    payout::{self, PayoutState},
    reconciliation_item::{self, VarianceKind},
    reconciliation_run,
};
use jobs::{
    db::audit::AuditEntry,
    payout::rules::{BonusRules, default_rules},
};
use queue::{JobFilter, JobId, JobState};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tests::{
    app::{Setup, TestApp, setting_var, spawn_process, worker_env},
    destinations::BONUS_SECRET,
    fixtures::{
        FakeGreenhouse, GreenhouseApplication, application_by_ats_id, credited_hire,
        spawn_capture_app_with, wait_until,
    },
    queue::redis_url,
    receiver::Receiver,
};
use worker::config::{Secret, Settings};

/// A referred application Greenhouse has and we never saw.
const UNSEEN: u64 = 9_990_001;
/// One we have as active and Greenhouse has as hired.
const LAGGING: u64 = 9_990_002;

/// A Harvest v3 that lists two applications that disagree with us, one
/// record a page (so every listing follows `Link` cursors).
async fn harvest() -> FakeGreenhouse {
    let fake = FakeGreenhouse::start().await;
    let h = &fake.harvest;
    let now = Utc::now();
    // Referred to a Greenhouse user (4410500) through referrer record 5501.
    h.application(UNSEEN, 77_001, 4_012_345, "in_process", now);
    h.referrer(5_501, Some(4_410_500));
    let mut unseen = h.record("applications", UNSEEN).expect("seeded");
    unseen["referrer_id"] = json!(5_501);
    h.put("applications", unseen);
    h.application(LAGGING, 1, 4_012_345, "hired", now);
    // Hire C's accepted offer starts on a day we never heard of.
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a day");
    h.offer(71, 3, "Accepted", day(2030, 1, 7));
    h.offer(72, 1, "Rejected", day(2030, 2, 1));
    // An accepted offer of an application we do not have: nothing to fix,
    // but a second page of offers.
    h.offer(73, 9_990_003, "Accepted", day(2030, 3, 2));
    h.page_size(1);
    fake
}

fn configure(s: &mut Settings, bonus: &Receiver, slack: &Receiver) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = Duration::from_secs(86_400);
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.destination_url = bonus.url("/bonus");
    s.payouts.destination_secret = Secret::new(BONUS_SECRET);
    s.payouts.timer_sweep = Duration::from_secs(3_600);
    s.notifications.alert_webhook_url = Secret::new(slack.url("/alerts"));
    s.reconciliation.schedule = String::new();
}

async fn hired(app: &TestApp, n: u64) -> i64 {
    let gh = GreenhouseApplication::new(n, 330_000 + n, 4_012_345, &format!("rec{n}@example.org"));
    let gh = credited_hire(app, "E-REC", gh).await;
    application_by_ats_id(&app.state.db, &gh.application_id.to_string())
        .await
        .expect("application")
        .id
}

async fn payouts_of(db: &DatabaseConnection, referral_id: i64) -> Vec<payout::Model> {
    payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(referral_id))
        .all(db)
        .await
        .expect("payouts")
}

async fn probation(db: &DatabaseConnection, application_id: i64) -> milestone::Model {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .expect("query")
        .expect("probation milestone")
}

#[tokio::test]
async fn reconciliation_finds_each_planted_discrepancy_and_rearms_a_deleted_timer() {
    let bonus = Receiver::builder().secret(BONUS_SECRET).start().await;
    let slack = Receiver::builder().start().await;
    let world = spawn_capture_app_with(Setup::EMBEDDED_SQLITE, harvest().await, |s| {
        configure(s, &bonus, &slack)
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let a = hired(app, 1).await;
    let b = hired(app, 2).await;
    let c = hired(app, 3).await;
    let d = hired(app, 4).await;
    // LAGGING exists with us, still active.
    tests::fixtures::processed(
        app,
        tests::fixtures::post_greenhouse(
            app,
            &tests::fixtures::unique("evt"),
            &GreenhouseApplication::new(LAGGING, 1, 4_012_345, "lagging@example.org").body(),
        )
        .await,
    )
    .await;
    wait_until("the hire tranches delivered", || async {
        payout::Entity::find()
            .all(db)
            .await
            .expect("payouts")
            .iter()
            .filter(|p| p.state == PayoutState::Delivered)
            .count()
            == 4
    })
    .await;
    let referral_of = |id| async move {
        entities::referral::Entity::find()
            .filter(entities::referral::Column::ApplicationId.eq(id))
            .one(db)
            .await
            .expect("q")
            .expect("referral")
            .id
    };

    // 1. A's payouts vanish: a credited hire without payout rows.
    payout::Entity::delete_many()
        .filter(payout::Column::ReferralId.eq(referral_of(a).await))
        .exec(db)
        .await
        .expect("delete");
    // 2. B's probation tranche: sendable for two days, no job.
    let b_probation = payouts_of(db, referral_of(b).await)
        .await
        .into_iter()
        .find(|p| p.tranche == "probation")
        .expect("probation tranche");
    let mut m: payout::ActiveModel = b_probation.clone().into();
    m.state = Set(PayoutState::Eligible);
    m.eligible_at = Set(Some(Utc::now() - chrono::Duration::days(2)));
    m.send_job_id = Set(None);
    m.update(db).await.expect("update");
    // 3. C's hire tranche: outcome unknown; and acknowledged twice.
    let c_hire = payouts_of(db, referral_of(c).await)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("hire tranche");
    let mut m: payout::ActiveModel = c_hire.clone().into();
    m.state = Set(PayoutState::OutcomeUnknown);
    m.update(db).await.expect("update");
    for _ in 0..2 {
        let tx = jobs::db::begin_locked(db, &[]).await.expect("tx");
        tx.audit(AuditEntry::system(
            "payout.attempt",
            "payout",
            c_hire.id,
            json!({ "state": "delivered", "status_code": 200 }),
        ));
        tx.commit().await.expect("commit");
    }
    // 4. C's probation timer job is cancelled out of the queue.
    let timer = probation(db, c).await;
    let job_id = JobId::parse(timer.timer_job_id.as_deref().expect("timer job")).expect("id");
    app.queue()
        .cancel(&job_id)
        .await
        .expect("cancel the timer's job");

    // 5. D's probation was reached but its tranche still waits (what a
    // referral attributed after the probation's end used to leave).
    let d_probation = probation(db, d).await;
    let mut m: milestone::ActiveModel = d_probation.into();
    m.state = Set(MilestoneState::Reached);
    m.occurred_at = Set(Some(Utc::now()));
    m.update(db).await.expect("update");
    let d_tranche = payouts_of(db, referral_of(d).await)
        .await
        .into_iter()
        .find(|p| p.tranche == "probation")
        .expect("D's probation tranche");
    assert_eq!(d_tranche.state, PayoutState::Pending);

    // A dry run finds it all and fixes nothing.
    let dry = jobs::maintenance::reconcile::run(&app.state.jobs, "manual:dry", true, "ops:test")
        .await
        .expect("dry run")
        .expect("a run");
    let kinds = |r: &jobs::maintenance::reconcile::RunReport| {
        let mut k: Vec<VarianceKind> = r.variances.iter().map(|v| v.kind).collect();
        k.sort_by_key(|k| format!("{k:?}"));
        k.dedup();
        k
    };
    let mut expected = vec![
        VarianceKind::HireWithoutPayout,
        VarianceKind::PayoutNotDelivered,
        VarianceKind::PayoutOutcomeUnknown,
        VarianceKind::DuplicateDelivery,
        VarianceKind::TimerNotArmed,
        VarianceKind::AtsReferralUnseen,
        VarianceKind::AtsHireUnseen,
        VarianceKind::StartDateMismatch,
        VarianceKind::TrancheNotReleased,
    ];
    expected.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(kinds(&dry), expected, "{:#?}", dry.variances);
    // The referrer record's user, in the id space webhooks credit.
    let unseen = dry
        .variances
        .iter()
        .find(|v| v.kind == VarianceKind::AtsReferralUnseen)
        .expect("the unseen referral");
    assert_eq!(unseen.detail["referrer_user_id"], "4410500", "{unseen:?}");
    // Harvest v3 was read page by page: each next page is the `Link`
    // cursor alone, exactly as given (the fake answers 422 otherwise).
    for path in ["/v3/applications", "/v3/offers"] {
        let pages = world.harvest.requests("GET", path);
        let cursors = pages
            .iter()
            .filter(|s| s.query.as_deref().is_some_and(|q| q.starts_with("cursor=")))
            .count();
        assert!(cursors >= 1, "{path}: {:?}", world.harvest.summary());
        assert!(
            pages.iter().all(|s| s
                .query
                .as_deref()
                .is_some_and(|q| !q.starts_with("cursor=") || !q.contains('&'))),
            "{path}: a cursor with other parameters"
        );
    }
    assert!(dry.variances.iter().all(|v| !v.fixed));
    assert!(
        payouts_of(db, referral_of(a).await).await.is_empty(),
        "dry: nothing fixed"
    );
    assert!(
        !app.queue()
            .is_live(probation(db, c).await.timer_job_id.as_deref())
            .await
            .expect("live"),
        "dry: the timer is still unarmed"
    );

    let report =
        jobs::maintenance::reconcile::run(&app.state.jobs, "manual:fix", false, "ops:test")
            .await
            .expect("run")
            .expect("a run");
    assert_eq!(kinds(&report), expected);
    let fixed: Vec<VarianceKind> = report
        .variances
        .iter()
        .filter(|v| v.fixed)
        .map(|v| v.kind)
        .collect();
    for kind in [
        VarianceKind::HireWithoutPayout,
        VarianceKind::PayoutNotDelivered,
        VarianceKind::TimerNotArmed,
        VarianceKind::StartDateMismatch,
        VarianceKind::TrancheNotReleased,
    ] {
        assert!(fixed.contains(&kind), "{kind:?} fixed");
    }
    assert_eq!(
        probation(db, c)
            .await
            .due_at
            .map(|d| d.date_naive().to_string()),
        Some("2030-01-08".to_string()),
        "C's timer follows the ATS's start date (+ 1 day of probation)"
    );
    assert_eq!(
        payouts_of(db, referral_of(a).await).await.len(),
        2,
        "A's rows are back"
    );
    assert!(
        app.queue()
            .is_live(probation(db, c).await.timer_job_id.as_deref())
            .await
            .expect("live"),
        "the timer is armed again"
    );
    wait_until("D's released tranche delivered", || async {
        payout::Entity::find_by_id(d_tranche.id)
            .one(db)
            .await
            .expect("q")
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;
    wait_until("B's late tranche delivered", || async {
        payout::Entity::find_by_id(b_probation.id)
            .one(db)
            .await
            .expect("q")
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;

    let items = reconciliation_item::Entity::find()
        .filter(reconciliation_item::Column::RunId.eq(report.run_id))
        .all(db)
        .await
        .expect("items");
    assert_eq!(
        items.len(),
        report.variances.len(),
        "every variance recorded"
    );
    let run = reconciliation_run::Entity::find_by_id(report.run_id)
        .one(db)
        .await
        .expect("q")
        .expect("run");
    assert!(run.finished_at.is_some() && !run.dry_run);
    assert_eq!(run.variance_count as usize, items.len());
    wait_until("ops alerted about the variance", || async {
        slack.bodies().iter().any(|b| {
            b["text"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("reconciliation run {}", report.run_id)))
        })
    })
    .await;
    assert!(
        jobs::maintenance::reconcile::run(&app.state.jobs, "manual:fix", false, "ops:test")
            .await
            .expect("again")
            .is_none(),
        "a trigger runs once"
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_worker_processes_and_one_cron_tick_give_one_run() {
    let world = spawn_capture_app_with(Setup::REDIS_POSTGRES, harvest().await, |s| {
        s.reconciliation.schedule = String::new();
    })
    .await;
    let mut world = world;
    world.app.stop().await.expect("stop the in-process app");
    let db = world.db().clone();
    let database_url = world.app.db.as_ref().expect("db").url.clone();
    let prefix = world.app.redis_prefix.clone().expect("prefix");
    let mut env = worker_env(&database_url, Some((&redis_url(), &prefix)));
    env.push((
        setting_var("reconciliation.schedule"),
        "*/2 * * * * *".to_string(),
    ));
    let mut workers: Vec<_> = (0..2)
        .map(|_| spawn_process(&["work", "--no-migrate"], env.clone()))
        .collect();
    wait_until("three ticks reconciled", || async {
        reconciliation_run::Entity::find()
            .filter(reconciliation_run::Column::FinishedAt.is_not_null())
            .all(&db)
            .await
            .expect("runs")
            .len()
            >= 3
    })
    .await;
    for w in &mut workers {
        w.assert_running();
    }
    drop(workers);

    let runs = reconciliation_run::Entity::find()
        .all(&db)
        .await
        .expect("runs");
    let mut triggers: Vec<&str> = runs.iter().map(|r| r.trigger.as_str()).collect();
    triggers.sort();
    triggers.dedup();
    assert_eq!(triggers.len(), runs.len(), "one run per tick");
    assert!(
        triggers
            .iter()
            .all(|t| t.starts_with("cron:reconciliation:"))
    );
    // Both processes saw every tick; the queue kept one job per tick.
    let store = tests::app::redis_store(&prefix).await;
    let jobs = store
        .list(&JobFilter::state(JobState::Succeeded).kind("reconcile"))
        .await
        .expect("jobs");
    let mut keys: Vec<String> = jobs
        .jobs
        .iter()
        .filter_map(|j| j.idempotency_key.clone())
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    assert_eq!(before, keys.len(), "no tick enqueued twice");
    assert!(
        jobs.jobs.len() >= runs.len() - 1 && jobs.jobs.len() <= runs.len() + 1,
        "one job per run: {} jobs, {} runs",
        jobs.jobs.len(),
        runs.len()
    );
    world.cleanup().await;
}

#[tokio::test]
async fn ops_reconcile_on_demand_and_export_the_run() {
    let bonus = Receiver::builder().secret(BONUS_SECRET).start().await;
    let slack = Receiver::builder().start().await;
    let world = spawn_capture_app_with(Setup::EMBEDDED_SQLITE, harvest().await, |s| {
        configure(s, &bonus, &slack)
    })
    .await;
    let app = &world.app;
    let post = |token: &'static str, body: serde_json::Value| {
        app.client
            .post(app.url("/api/reconciliation/runs"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let forbidden = post(tests::fixtures::tokens::EMPLOYEES, json!({"reason": "x"}))
        .await
        .expect("POST");
    assert_eq!(forbidden.status(), reqwest::StatusCode::FORBIDDEN);
    let no_reason = post(tests::fixtures::tokens::OPS, json!({"dry_run": true}))
        .await
        .expect("POST");
    assert_eq!(
        no_reason.status(),
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "a missing field is named"
    );
    let created = post(
        tests::fixtures::tokens::OPS,
        json!({"dry_run": true, "reason": "month-end check"}),
    )
    .await
    .expect("POST");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let report: serde_json::Value = created.json().await.expect("json");
    let run_id = report["run_id"].as_i64().expect("run id");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["summary"]["ats_referral_unseen"], 1, "{report}");

    let get = |path: String| {
        app.client
            .get(app.url(&path))
            .bearer_auth(tests::fixtures::tokens::OPS)
            .send()
    };
    let run: serde_json::Value = get(format!("/api/reconciliation/runs/{run_id}"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(run["items"].as_array().map(Vec::len), Some(1), "{run}");
    let csv = get(format!("/api/reconciliation/runs/{run_id}?format=csv"))
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("run_id,kind,subject_type,subject_id,resolved,detail")
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with(&format!("{run_id},ats_referral_unseen,"))),
        "{csv}"
    );
    let listed: serde_json::Value = get("/api/reconciliation/runs".into())
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["id"], run_id);
    let missing = get("/api/reconciliation/runs/999999".into())
        .await
        .expect("GET");
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);
    let audit = tests::fixtures::audit_with(world.db(), "reconciliation.completed").await;
    assert!(audit[0].actor.contains("month-end check"), "{:?}", audit[0]);
    world.cleanup().await;
}

/// The ATS listings are compared a page at a time: a `429` with a long
/// `Retry-After` slows the run down instead of failing it, and
/// a listing longer than `reconciliation.max_ats_pages` is reported as a
/// variance rather than silently cut short.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttled_listing_is_read_through_and_a_longer_one_is_reported() {
    let fake = FakeGreenhouse::start().await;
    let now = Utc::now();
    // Six referred applications we never saw, two a page: three pages.
    fake.harvest.referrer(5_601, Some(4_410_600));
    for n in 0..6 {
        let id = 9_991_000 + n;
        fake.harvest
            .application(id, 78_000 + n, 4_012_345, "in_process", now);
        let mut app = fake.harvest.record("applications", id).expect("seeded");
        app["referrer_id"] = json!(5_601);
        fake.harvest.put("applications", app);
    }
    fake.harvest.page_size(2);
    let (bonus, slack) = (
        Receiver::builder().start().await,
        Receiver::builder().start().await,
    );
    let world = spawn_capture_app_with(Setup::EMBEDDED_SQLITE, fake, |s| {
        configure(s, &bonus, &slack);
    })
    .await;
    let (app, fake) = (&world.app, &world.harvest);
    let unseen = |report: &jobs::maintenance::reconcile::RunReport, kind: VarianceKind| {
        report.variances.iter().filter(|v| v.kind == kind).count()
    };

    // The first page is refused with a Retry-After longer than the client
    // waits by itself (5 s): the run waits it out.
    fake.harvest.throttle(1, 6);
    let first =
        jobs::maintenance::reconcile::run(&app.state.jobs, "manual:paged", true, "ops:test")
            .await
            .expect("a run")
            .expect("recorded");
    assert_eq!(
        unseen(&first, VarianceKind::AtsReferralUnseen),
        6,
        "{first:?}"
    );
    assert_eq!(unseen(&first, VarianceKind::AtsListingTruncated), 0);

    // The same listing with two pages allowed a run: reported, not hidden.
    let mut ctx = (*app.state.jobs).clone();
    ctx.reconcile.max_ats_pages = 2;
    let capped = jobs::maintenance::reconcile::run(&ctx, "manual:capped", true, "ops:test")
        .await
        .expect("a run")
        .expect("recorded");
    assert_eq!(
        unseen(&capped, VarianceKind::AtsReferralUnseen),
        4,
        "two pages read"
    );
    let truncated: Vec<_> = capped
        .variances
        .iter()
        .filter(|v| v.kind == VarianceKind::AtsListingTruncated)
        .collect();
    assert_eq!(truncated.len(), 1, "{truncated:?}");
    assert_eq!(truncated[0].subject_id, "applications");
    assert_eq!(truncated[0].detail["pages_read"], 2);
    world.cleanup().await;
}
