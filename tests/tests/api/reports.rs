//! Leadership reporting (issue 21): the programme KPIs (participation, the
//! click → application → hire funnel per referrer and per link, cost per
//! hire with the programme's own costs, hires by channel) through
//! `/api/reports/kpis`, and the scheduled report: kept once per tick as a
//! row finance exports, and POSTed to the CRM as a signed `report.kpis`
//! that follows its schema.

use chrono::{Datelike, Utc};
use entities::kpi_report;
use jobs::finance::{programme::ProgramCost, report::ReportPeriod};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp},
    contract::assert_all_follow_contract,
    destinations::CRM_SECRET,
    fixtures::{
        CareersApplication, mint_link, post_careers_site, processed, put_employee,
        spawn_capture_app, tokens, unique, wait_until,
    },
    receiver::Receiver,
};
use worker::config::Secret;

tests::both_setups!(
    the_kpis_count_participation_the_funnel_and_cost_per_hire,
    a_scheduled_report_is_kept_once_per_tick_and_sent_to_the_crm,
);

const JOB: &str = "J-REPORT-1";

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// This month, as `[[reports.program_costs]]` names it.
fn this_month() -> String {
    let today = Utc::now().date_naive();
    format!("{:04}-{:02}", today.year(), today.month())
}

async fn the_kpis_count_participation_the_funnel_and_cost_per_hire(setup: Setup) {
    let world = spawn_capture_app(setup, |s| {
        s.reports.program_costs = vec![ProgramCost {
            month: this_month(),
            currency: "EUR".into(),
            amount_minor: 50_000,
        }];
    })
    .await;
    let app = &world.app;
    for (id, email) in [
        ("E-SHARES", "shares@acme-example.com"),
        ("E-ALSO", "also.shares@acme-example.com"),
        ("E-QUIET", "quiet@acme-example.com"),
    ] {
        put_employee(app, id, email, true).await;
    }
    put_employee(app, "E-LEFT", "left@acme-example.com", false).await;
    // E-SHARES shares two links, one clicked twice and used; E-ALSO one.
    let used = mint_link(app, "E-SHARES", JOB).await;
    mint_link(app, "E-SHARES", "J-REPORT-2").await;
    mint_link(app, "E-ALSO", JOB).await;
    // A browser following the shared link: 303 to the careers site.
    let browser = tests::app::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    for _ in 0..2 {
        let response = browser
            .get(app.url(&format!("/r/{used}")))
            .send()
            .await
            .expect("follow the link");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    let submission = CareersApplication::new(JOB, "funnel.candidate@example.org")
        .referred_by(&used)
        .json();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;
    let hired = json!({
        "type": "application.status_changed",
        "changed_at": Utc::now().to_rfc3339(),
        "application": { "id": submission["submission_id"], "ats": "careers_site", "status": "hired" },
    });
    processed(
        app,
        post_careers_site(app, &unique("msg_"), hired.to_string().as_bytes()).await,
    )
    .await;

    let today = Utc::now().date_naive();
    let first = today.with_day(1).expect("the first");
    let kpis = get_json(app, &format!("/api/reports/kpis?from={first}&to={today}")).await;
    let p = &kpis["programme"];
    assert_eq!(
        p["participation"],
        json!({ "active_employees": 3, "sharing_employees": 2, "rate": 2.0 / 3.0 }),
        "{p}"
    );
    let referrers = p["funnel_by_referrer"].as_array().expect("referrers");
    assert_eq!(
        referrers[0],
        json!({ "employee_id": "E-SHARES", "links": 2, "clicks": 2, "applications": 1, "hires": 1 })
    );
    assert_eq!(
        referrers[1],
        json!({ "employee_id": "E-ALSO", "links": 1, "clicks": 0, "applications": 0, "hires": 0 })
    );
    let top_link = &p["funnel_by_link"][0];
    assert_eq!(top_link["employee_id"], "E-SHARES");
    assert_eq!(top_link["job_id"], JOB);
    assert_eq!(
        (
            &top_link["clicks"],
            &top_link["applications"],
            &top_link["hires"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    assert!(
        !p.to_string().contains(&used),
        "links are named by id, never by token"
    );
    // No bonus destination: nothing delivered, the programme's cost alone.
    assert_eq!(
        p["cost_per_hire"],
        json!([{ "currency": "EUR", "bonuses_minor": 0, "program_costs_minor": 50_000,
                 "hires": 1, "per_hire_minor": 50_000 }])
    );
    assert_eq!(p["hires_by_channel"], json!({ "referral": 1, "other": 0 }));
    world.cleanup().await;
}

async fn a_scheduled_report_is_kept_once_per_tick_and_sent_to_the_crm(setup: Setup) {
    let crm = Receiver::builder().secret(CRM_SECRET).start().await;
    let world = spawn_capture_app(setup, |s| {
        s.notifications.crm_url = crm.url("/crm");
        s.notifications.crm_secret = Secret::new(CRM_SECRET);
        // Every two seconds, reporting the day before each tick.
        s.reports.schedule = "*/2 * * * * *".into();
        s.reports.period = ReportPeriod::Day;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    wait_until("a report.kpis at the CRM", || async {
        crm.bodies().iter().any(|b| b["type"] == "report.kpis")
    })
    .await;
    let body = crm
        .bodies()
        .into_iter()
        .find(|b| b["type"] == "report.kpis")
        .expect("a report");
    assert_all_follow_contract(std::slice::from_ref(&body));
    assert!(
        crm.requests().iter().all(|r| r.verified == Some(true)),
        "signed"
    );
    let trigger = body["data"]["trigger"]
        .as_str()
        .expect("trigger")
        .to_owned();
    assert!(trigger.starts_with("cron:reports:"), "{trigger}");
    let row = kpi_report::Entity::find()
        .filter(kpi_report::Column::Trigger.eq(&trigger))
        .one(db)
        .await
        .expect("read")
        .expect("the report is kept");
    assert_eq!(body["data"]["report_id"], row.id.to_string());
    assert!(row.message_id.is_some(), "the row names its CRM message");
    // The day before the tick, in UTC.
    assert_eq!(
        row.period_until - row.period_from,
        chrono::Duration::days(1),
        "{row:?}"
    );

    // The same tick again (another process, or the job re-run after the
    // queue forgot it) reports nothing more.
    let again =
        jobs::finance::report::run_tick(&app.state.jobs, &trigger, ReportPeriod::Day, "UTC")
            .await
            .expect("runs");
    assert_eq!(again, None, "one report per tick");
    let same = kpi_report::Entity::find()
        .filter(kpi_report::Column::Trigger.eq(&trigger))
        .all(db)
        .await
        .expect("read");
    assert_eq!(same.len(), 1);

    // Finance exports what was sent.
    let today = Utc::now().date_naive();
    let export = get_json(
        app,
        &format!("/api/exports/reports?from={today}&to={today}&format=json"),
    )
    .await;
    let rows = export.as_array().expect("rows");
    let exported = rows
        .iter()
        .find(|r| r["trigger"] == trigger.as_str())
        .unwrap_or_else(|| panic!("the report in the export: {export}"));
    assert_eq!(exported["sent_to_crm"], true);
    assert_eq!(exported["kpis"], body["data"]["kpis"]);
    world.cleanup().await;
}
