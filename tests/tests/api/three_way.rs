//! The three-way reconciliation (issue 21) against the real app: the
//! referral platform's referrals imported as CSV through the binary, the
//! CRM's hires as JSON through the API, both idempotent per month and
//! refusing bad rows by name; every variance type found, with its fix,
//! listed, exported and alerted; the monthly schedule once per tick with
//! two processes watching; the day-7 audit once after go-live, surviving a
//! restart with the queue forgotten.
//!
//! Every scenario runs on SQLite (queue in SQLite) and on PostgreSQL + Redis.

use std::collections::BTreeMap;

use chrono::{Days, Utc};
use entities::{reconciliation_import, reconciliation_import_row, reconciliation_run, referral};
use queue::{JobFilter, JobState};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp, try_spawn_app},
    fixtures::{
        CaptureApp, FakeGreenhouse, GreenhouseApplication, application_by_ats_id, credited_hire,
        spawn_capture_app_with, wait_until,
    },
    receiver::Receiver,
    three_way::{
        by_kind, csv_file, get_json, import_json, month_of, referral_worker, this_month,
        three_way_now, today,
    },
};
use worker::config::{Secret, Settings};

tests::both_setups!(
    imports_are_compared_three_ways_and_every_variance_has_a_fix,
    imports_replace_their_month_and_bad_rows_change_nothing,
    the_monthly_comparison_runs_once_per_tick_across_processes,
    the_day7_audit_runs_once_and_alerts_and_survives_a_restart_with_the_queue_forgotten,
);

/// A Greenhouse job id.
const JOB: u64 = 4_012_345;
/// Hired, credited in the ATS, on the platform and in the CRM: agrees.
const AGREES: u64 = 9_800_001;
/// Hired; the ATS names no referrer, the platform another referrer, the
/// CRM does not have the hire.
const DISPUTED: u64 = 9_800_002;
/// Hired; not on the platform, the CRM names another referrer.
const UNLISTED: u64 = 9_800_003;
/// A CRM hire we never credited a referral for.
const CRM_ONLY: u64 = 9_800_099;

/// A Harvest whose referrer record 5501 is Greenhouse user 4410500, and
/// that credits it on AGREES and UNLISTED, not on DISPUTED.
async fn harvest() -> FakeGreenhouse {
    let fake = FakeGreenhouse::start().await;
    let h = &fake.harvest;
    h.referrer(5_501, Some(4_410_500));
    for (id, credited) in [(AGREES, true), (DISPUTED, false), (UNLISTED, true)] {
        h.application(id, 70_000 + id, JOB, "hired", Utc::now());
        if credited {
            let mut app = h.record("applications", id).expect("seeded");
            app["referrer_id"] = json!(5_501);
            h.put("applications", app);
        }
    }
    fake
}

fn quiet(s: &mut Settings, alerts: &Receiver) {
    s.reconciliation.schedule = String::new();
    s.reconciliation.three_way_schedule = String::new();
    s.notifications.alert_webhook_url = Secret::new(alerts.url("/alerts"));
}

async fn spawn(setup: Setup, alerts: &Receiver, more: impl FnOnce(&mut Settings)) -> CaptureApp {
    spawn_capture_app_with(setup, harvest().await, |s| {
        quiet(s, alerts);
        more(s);
    })
    .await
}

fn database_url(app: &TestApp) -> String {
    app.db.as_ref().expect("its database").url.clone()
}

/// Our `ref_…` id of the credited referral on Greenhouse application `n`.
async fn referral_of(db: &DatabaseConnection, n: u64) -> String {
    let app = application_by_ats_id(db, &n.to_string())
        .await
        .expect("the application");
    referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .one(db)
        .await
        .expect("read")
        .expect("its referral")
        .public_id
}

async fn hire(app: &TestApp, n: u64, referrer: &str) {
    let gh = GreenhouseApplication::new(n, 70_000 + n, JOB, &format!("three{n}@example.org"));
    credited_hire(app, referrer, gh).await;
}

async fn import_rows(db: &DatabaseConnection) -> Vec<reconciliation_import_row::Model> {
    reconciliation_import_row::Entity::find()
        .all(db)
        .await
        .expect("rows")
}

async fn imports_are_compared_three_ways_and_every_variance_has_a_fix(setup: Setup) {
    let alerts = Receiver::builder().start().await;
    let world = spawn(setup, &alerts, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    hire(app, AGREES, "E-ONE").await;
    hire(app, DISPUTED, "E-TWO").await;
    hire(app, UNLISTED, "E-THREE").await;
    let (month, day) = (this_month(), today());

    // The platform's list, as its CSV export, through the binary.
    let dir = std::env::temp_dir().join(format!("rw-3way-{}", ulid::Ulid::generate()));
    let platform = csv_file(
        &dir,
        "platform.csv",
        &format!(
            "platform_referral_id,referral_id,employee_id,ats,ats_application_id,referred_on\n\
             P-1,,E-ONE,greenhouse,{AGREES},{day}\n\
             P-2,,E-OTHER,greenhouse,{DISPUTED},{day}\n\
             P-GHOST,,E-ONE,,,{day}\n"
        ),
    );
    let ran = referral_worker(
        &database_url(app),
        &[
            "reconcile",
            "import-platform",
            &platform,
            "--period",
            &month,
        ],
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.contains("3 row(s)"), "{ran:?}");
    // The CRM's hires, as JSON, through the API.
    let (status, body) = import_json(
        app,
        "crm",
        &month,
        json!([
            { "crm_hire_id": "C-1", "ats": "greenhouse", "ats_application_id": AGREES.to_string(),
              "hired_on": day, "employee_id": "E-ONE" },
            { "crm_hire_id": "C-3", "ats": "greenhouse", "ats_application_id": UNLISTED.to_string(),
              "hired_on": day, "employee_id": "E-WRONG" },
            { "crm_hire_id": "C-NOREF", "ats": "greenhouse",
              "ats_application_id": CRM_ONLY.to_string(), "hired_on": day, "employee_id": null },
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rows"], 3);

    let (status, report) = three_way_now(app, &month).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["scope"], "three_way");
    let (disputed, unlisted) = (
        referral_of(db, DISPUTED).await,
        referral_of(db, UNLISTED).await,
    );
    let disputed_app = application_by_ats_id(db, &DISPUTED.to_string())
        .await
        .expect("app")
        .id
        .to_string();
    let mut mismatched = vec![disputed.clone(), unlisted.clone()];
    mismatched.sort();
    let want: BTreeMap<String, Vec<String>> = [
        ("referral_missing_in_ats", vec![disputed.clone()]),
        ("referrer_mismatch", mismatched),
        ("hire_not_in_crm", vec![disputed_app]),
        ("crm_hire_without_referral", vec!["C-NOREF".to_owned()]),
        ("platform_referral_unknown", vec!["P-GHOST".to_owned()]),
        ("referral_missing_on_platform", vec![unlisted.clone()]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(by_kind(&report["variances"]), want, "{report:#}");
    for v in report["variances"].as_array().expect("variances") {
        let fix = v["suggested_fix"].as_str().unwrap_or_default();
        assert!(fix.len() > 20, "every variance says what to do: {v}");
        assert!(
            !v.to_string().contains("@example.org"),
            "no candidate email: {v}"
        );
    }
    let by_source: Vec<&str> = report["variances"]
        .as_array()
        .expect("variances")
        .iter()
        .filter(|v| v["kind"] == "referrer_mismatch")
        .filter_map(|v| v["detail"]["source"].as_str())
        .collect();
    assert!(
        by_source.contains(&"platform") && by_source.contains(&"crm"),
        "{by_source:?}"
    );

    // The run is listed, readable with its fixes, alerted and exported.
    let run_id = report["run_id"].as_i64().expect("run id");
    let listed = get_json(app, "/api/reconciliation/runs?scope=three_way").await;
    assert_eq!(listed[0]["id"], run_id, "{listed}");
    assert_eq!(listed[0]["variance_count"], 7);
    let ledger = get_json(app, "/api/reconciliation/runs?scope=ledger").await;
    assert!(
        ledger
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["id"] != run_id)
    );
    let run = get_json(app, &format!("/api/reconciliation/runs/{run_id}")).await;
    assert_eq!(by_kind(&run["items"]), want);
    assert!(run["items"][0]["suggested_fix"].is_string(), "{run}");
    wait_until("ops alerted", || async {
        alerts.bodies().iter().any(|b| {
            b.to_string()
                .contains(&format!("three-way reconciliation run {run_id}"))
        })
    })
    .await;
    let export = get_json(
        app,
        &format!("/api/exports/reconciliation?from={day}&to={day}&format=json"),
    )
    .await;
    let exported: Vec<&Value> = export
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["run_id"] == run_id)
        .collect();
    assert_eq!(exported.len(), 7, "{export}");
    assert!(
        exported
            .iter()
            .all(|r| r["scope"] == "three_way" && r["suggested_fix"].is_string())
    );

    // The binary runs the same comparison and exits 1 on variances.
    let ran = referral_worker(
        &database_url(app),
        &["reconcile", "three-way", "--period", &month],
    );
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(
        ran.stdout.contains("platform_referral_unknown") && ran.stdout.contains("fix: "),
        "{ran:?}"
    );

    // A month nobody imported: the comparison says what is missing.
    let last_month = month_of(
        Utc::now()
            .date_naive()
            .checked_sub_months(chrono::Months::new(1))
            .expect("a month"),
    );
    let (_, earlier) = three_way_now(app, &last_month).await;
    assert_eq!(
        by_kind(&earlier["variances"])["import_missing"],
        vec![
            format!("crm:{last_month}"),
            format!("platform:{last_month}")
        ],
        "{earlier}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

async fn imports_replace_their_month_and_bad_rows_change_nothing(setup: Setup) {
    let alerts = Receiver::builder().start().await;
    let world = spawn(setup, &alerts, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let (month, day) = (this_month(), today());
    let url = database_url(app);
    let dir = std::env::temp_dir().join(format!("rw-3way-{}", ulid::Ulid::generate()));
    let good = csv_file(
        &dir,
        "good.csv",
        &format!("platform_referral_id,employee_id,referred_on\nP-1,E-1,{day}\nP-2,E-2,{day}\n"),
    );

    let first = referral_worker(
        &url,
        &[
            "reconcile",
            "import-platform",
            &good,
            "--period",
            &month,
            "--json",
        ],
    );
    assert_eq!(first.code, Some(0), "{first:?}");
    let first: Value = serde_json::from_str(&first.stdout).expect("json");
    assert_eq!(
        (first["rows"].clone(), first["replaced"].clone()),
        (json!(2), json!(false))
    );
    // The same file again: nothing doubles.
    let again = referral_worker(
        &url,
        &[
            "reconcile",
            "import-platform",
            &good,
            "--period",
            &month,
            "--json",
        ],
    );
    let again: Value = serde_json::from_str(&again.stdout).expect("json");
    assert_eq!(again["unchanged"], true, "{again}");
    assert_eq!(again["import_id"], first["import_id"]);
    assert_eq!(import_rows(db).await.len(), 2);

    // A bad row: named by line and column, and the month's import stays.
    let bad = csv_file(
        &dir,
        "bad.csv",
        &format!(
            "platform_referral_id,employee_id,referred_on\nP-1,E-1,{day}\nP-3,E-3,31/12/2026\n"
        ),
    );
    let refused = referral_worker(
        &url,
        &["reconcile", "import-platform", &bad, "--period", &month],
    );
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("line 3: referred_on"),
        "{refused:?}"
    );
    let ids: Vec<String> = import_rows(db)
        .await
        .into_iter()
        .map(|r| r.external_id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"P-2".to_owned()), "{ids:?}");
    let malformed = referral_worker(
        &url,
        &["reconcile", "import-crm", &good, "--period", "2026-13"],
    );
    assert_eq!(malformed.code, Some(1));
    assert!(malformed.stderr.contains("period"), "{malformed:?}");

    // A new list for the month replaces the old one, through the API too.
    let (status, body) = import_json(
        app,
        "platform",
        &month,
        json!([{ "platform_referral_id": "P-9", "employee_id": "E-9", "referred_on": day }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["replaced"].clone(), body["rows"].clone()),
        (json!(true), json!(1))
    );
    let rows = import_rows(db).await;
    assert_eq!(
        rows.iter()
            .map(|r| r.external_id.as_str())
            .collect::<Vec<_>>(),
        ["P-9"]
    );
    assert_eq!(
        reconciliation_import::Entity::find()
            .all(db)
            .await
            .expect("imports")
            .len(),
        1,
        "one import per source and month"
    );

    // Bad JSON input: 4xx naming the field; nothing changes.
    for (source, period, rows, status, named) in [
        (
            "platform",
            month.as_str(),
            json!([{ "platform_referral_id": "P-1", "referred_on": day }]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rows[0].employee_id",
        ),
        (
            "crm",
            month.as_str(),
            json!([{ "crm_hire_id": "C-1", "ats": "taleo", "ats_application_id": "1", "hired_on": day }]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rows[0].ats",
        ),
        (
            "crm",
            month.as_str(),
            json!([{ "crm_hire_id": "C-1", "ats": "greenhouse", "ats_application_id": "1",
            "hired_on": day, "candidate_email": "x@example.org" }]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "rows[0].candidate_email",
        ),
        (
            "platform",
            "2026-1",
            json!([]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "period",
        ),
        (
            "hris",
            month.as_str(),
            json!([]),
            StatusCode::NOT_FOUND,
            "hris",
        ),
    ] {
        let (got, body) = import_json(app, source, period, rows).await;
        assert_eq!(got, status, "{source} {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(named), "{named} not named in {body}");
    }
    let forbidden = app
        .client
        .post(app.url("/api/reconciliation/imports/crm"))
        .bearer_auth(tests::fixtures::tokens::EMPLOYEES)
        .json(&json!({ "period": month, "rows": [] }))
        .send()
        .await
        .expect("POST");
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let rows = import_rows(db).await;
    assert_eq!(
        rows.iter()
            .map(|r| r.external_id.as_str())
            .collect::<Vec<_>>(),
        ["P-9"]
    );
    let listed = get_json(app, "/api/reconciliation/imports").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}

async fn three_way_runs(db: &DatabaseConnection) -> Vec<reconciliation_run::Model> {
    reconciliation_run::Entity::find()
        .filter(reconciliation_run::Column::Scope.eq(reconciliation_run::RunScope::ThreeWay))
        .all(db)
        .await
        .expect("runs")
}

async fn the_monthly_comparison_runs_once_per_tick_across_processes(setup: Setup) {
    let alerts = Receiver::builder().start().await;
    let world = spawn(setup, &alerts, |s| {
        // Every two seconds instead of monthly.
        s.reconciliation.three_way_schedule = "*/2 * * * * *".into();
    })
    .await;
    let (app, db) = (&world.app, world.db());
    // A second process on the same database and queue watches the schedule too.
    let mut second = try_spawn_app(app.settings.clone())
        .await
        .expect("a second process");
    wait_until("three monthly runs", || async {
        three_way_runs(db).await.len() >= 3
    })
    .await;
    second.stop().await.expect("stops");
    let runs = three_way_runs(db).await;
    let mut triggers: Vec<&str> = runs.iter().map(|r| r.trigger.as_str()).collect();
    triggers.sort_unstable();
    triggers.dedup();
    assert_eq!(triggers.len(), runs.len(), "one run per tick: {triggers:?}");
    assert!(
        triggers.iter().all(|t| t.starts_with("cron:three_way:")),
        "{triggers:?}"
    );
    // Each compares the calendar month before its tick.
    for r in &runs {
        let (from, until) = (r.period_from.expect("from"), r.period_until.expect("until"));
        assert!(
            until <= r.started_at && from < until && (until - from).num_days() >= 28,
            "{r:?}"
        );
    }
    // The tick again (the queue forgot it, or a third process): nothing more.
    let again = jobs::maintenance::three_way::run_tick(&app.state.jobs, &runs[0].trigger)
        .await
        .expect("runs");
    assert!(again.is_none(), "one run per tick");
    world.cleanup().await;
}

async fn the_day7_audit_runs_once_and_alerts_and_survives_a_restart_with_the_queue_forgotten(
    setup: Setup,
) {
    let alerts = Receiver::builder().start().await;
    let world = spawn(setup, &alerts, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    // Went live eight days ago: the audit's seven days are over.
    let go_live = Utc::now().date_naive() - Days::new(8);
    let window = jobs::maintenance::three_way::Day7 { go_live }
        .period()
        .expect("a period");
    // Both lists imported for every month of the window; the CRM has a
    // referral hire on go-live day that nobody referred through us.
    for month in jobs::maintenance::three_way::imports::Month::covering(window) {
        let crm = if month.to_string() == month_of(go_live) {
            json!([{ "crm_hire_id": "C-DAY1", "ats": "greenhouse", "ats_application_id": "555",
                     "hired_on": go_live.to_string() }])
        } else {
            json!([])
        };
        let (status, body) = import_json(app, "crm", &month.to_string(), crm).await;
        assert!(status.is_success(), "{body}");
        let (status, body) = import_json(app, "platform", &month.to_string(), json!([])).await;
        assert!(status.is_success(), "{body}");
    }

    // The service learns its go-live date and restarts.
    let mut settings = app.settings.clone();
    settings.reconciliation.go_live = go_live.to_string();
    let mut live = try_spawn_app(settings.clone()).await.expect("restarted");
    let trigger = format!("day7:{go_live}");
    wait_until("the day-7 audit", || async {
        reconciliation_run::Entity::find()
            .filter(reconciliation_run::Column::Trigger.eq(&trigger))
            .one(db)
            .await
            .expect("read")
            .is_some_and(|r| r.finished_at.is_some())
    })
    .await;
    let audit = three_way_runs(db).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].period_from, audit[0].period_until),
        (Some(window.from), Some(window.until))
    );
    let run = get_json(app, &format!("/api/reconciliation/runs/{}", audit[0].id)).await;
    assert_eq!(
        by_kind(&run["items"]),
        BTreeMap::from([(
            "crm_hire_without_referral".to_owned(),
            vec!["C-DAY1".to_owned()]
        )]),
        "{run}"
    );
    wait_until("ops alerted of the day-7 audit", || async {
        alerts
            .bodies()
            .iter()
            .any(|b| b.to_string().contains("day-7 attribution audit"))
    })
    .await;
    live.stop().await.expect("stops");

    // The queue forgets (a Redis wipe; the embedded queue purged) and the
    // service restarts: the run row decides, nothing is enqueued again.
    match &app.redis_prefix {
        Some(prefix) => tests::app::delete_redis_prefix(prefix).await,
        None => {
            use sea_orm::ConnectionTrait;
            db.execute_unprepared("DELETE FROM queue_jobs")
                .await
                .expect("purge the queue");
        }
    }
    let mut again = try_spawn_app(settings).await.expect("restarted again");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let mut queued = 0;
    for state in JobState::ALL {
        queued += again
            .queue()
            .list(&JobFilter::state(state).kind("day7_audit"))
            .await
            .expect("list")
            .jobs
            .len();
    }
    assert_eq!(queued, 0, "the day-7 audit is not enqueued again");
    assert_eq!(three_way_runs(db).await.len(), 1, "once only");
    assert!(
        jobs::maintenance::three_way::day7_audit(&app.state.jobs, go_live)
            .await
            .expect("runs")
            .is_none()
    );
    again.stop().await.expect("stops");
    world.cleanup().await;
}
