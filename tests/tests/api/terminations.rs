//! Terminations by identity (issue 23.5), through `POST /api/employees`
//! and the HRIS CSV import:
//! a hire found by the employee id it was linked to, by the ATS
//! application id, by the ATS candidate id, by work email last; a
//! termination that matches nothing while an unlinked hire is in
//! probation is listed by `ops stuck` until ops ends the hire.

use std::time::Duration;

use entities::{
    application,
    milestone::{self, MilestoneKind, MilestoneState},
};
use jobs::payout::rules::{BonusRules, default_rules};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp, spawn_process, worker_env},
    fixtures::{GreenhouseApplication, api_post, credited_hire, spawn_capture_app, tokens, unique},
    queue::redis_url,
};
use worker::config::{ApiToken, Scope, Secret, Settings};

tests::both_setups!(
    a_termination_finds_its_hire_by_employee_id_then_ats_ids_then_work_email,
    an_unmatched_termination_is_listed_for_ops_until_ops_ends_the_hire,
    the_hris_csv_import_matches_terminations_by_its_ats_id_columns,
);

const JOB: u64 = 4_012_345;
const HIRES_TOKEN: &str = "hires-token-terminations-0123456789";

fn configure(s: &mut Settings) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = Duration::from_secs(90 * 86_400);
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.api.tokens.push(ApiToken {
        name: "hris-hires".into(),
        token: Secret::new(HIRES_TOKEN),
        scopes: vec![Scope::Hires],
    });
}

/// A referred hire in probation: application `n`, candidate `n + 1000`,
/// personal email `hire{n}@example.org`. Returns our application id.
async fn hire_in_probation(app: &TestApp, n: u64) -> i64 {
    let gh = GreenhouseApplication::new(n, n + 1_000, JOB, &format!("hire{n}@example.org"));
    credited_hire(app, "E-REFERRER", gh).await;
    let stored = application::Entity::find()
        .filter(application::Column::AtsApplicationId.eq(n.to_string()))
        .one(&app.state.db)
        .await
        .expect("read")
        .expect("the hire is stored");
    assert_eq!(
        probation(&app.state.db, stored.id).await,
        MilestoneState::Armed
    );
    stored.id
}

async fn probation(db: &DatabaseConnection, application_id: i64) -> MilestoneState {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .expect("read")
        .expect("a probation milestone")
        .state
}

/// `POST /api/employees` with `record`; returns the answer's body.
async fn hris(app: &TestApp, record: Value) -> Value {
    let response = api_post(app, "/api/employees", tokens::EMPLOYEES, record.clone()).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{record}: {status} {body}");
    body
}

fn employee(id: &str, email: &str, active: bool) -> Value {
    json!({ "employee_id": id, "email": email, "name": format!("Employee {id}"), "active": active })
}

async fn a_termination_finds_its_hire_by_employee_id_then_ats_ids_then_work_email(setup: Setup) {
    let world = spawn_capture_app(setup, configure).await;
    let (app, db) = (&world.app, world.db());

    // 1. The HRIS first lists the new hire active, naming their ATS
    //    candidate; their termination later carries the employee id only.
    let linked = hire_in_probation(app, 710_001).await;
    let mut joined = employee("E-NEW-1", "new.one@acme-example.com", true);
    joined["ats_candidate_id"] = json!("711001");
    hris(app, joined).await;
    let left = hris(app, employee("E-NEW-1", "new.one@acme-example.com", false)).await;
    assert_eq!(left["termination"]["matched_by"], "employee_id", "{left}");
    assert_eq!(left["termination"]["terminated"], json!([linked]));
    assert_eq!(probation(db, linked).await, MilestoneState::Cancelled);

    // 2. A termination naming the ATS application.
    let by_application = hire_in_probation(app, 710_002).await;
    let mut record = employee("E-NEW-2", "new.two@acme-example.com", false);
    record["ats_application_id"] = json!("710002");
    let left = hris(app, record).await;
    assert_eq!(
        left["termination"]["matched_by"], "ats_application_id",
        "{left}"
    );
    assert_eq!(
        probation(db, by_application).await,
        MilestoneState::Cancelled
    );

    // 3. A termination naming the ATS candidate.
    let by_candidate = hire_in_probation(app, 710_003).await;
    let mut record = employee("E-NEW-3", "new.three@acme-example.com", false);
    record["ats_candidate_id"] = json!("711003");
    let left = hris(app, record).await;
    assert_eq!(
        left["termination"]["matched_by"], "ats_candidate_id",
        "{left}"
    );
    assert_eq!(probation(db, by_candidate).await, MilestoneState::Cancelled);

    // 4. No ids: the work email, when it is the address the candidate
    //    applied with.
    let by_email = hire_in_probation(app, 710_004).await;
    let left = hris(app, employee("E-NEW-4", "Hire710004@Example.org", false)).await;
    assert_eq!(left["termination"]["matched_by"], "work_email", "{left}");
    assert_eq!(probation(db, by_email).await, MilestoneState::Cancelled);

    // A hire linked to one employee is not taken by another's ids.
    let taken = hire_in_probation(app, 710_005).await;
    let mut joined = employee("E-NEW-5", "new.five@acme-example.com", true);
    joined["ats_application_id"] = json!("710005");
    hris(app, joined).await;
    let mut other = employee("E-NEW-6", "new.six@acme-example.com", false);
    other["ats_application_id"] = json!("710005");
    let left = hris(app, other).await;
    assert_eq!(left["termination"]["matched_by"], Value::Null, "{left}");
    assert_eq!(probation(db, taken).await, MilestoneState::Armed);
    world.cleanup().await;
}

async fn an_unmatched_termination_is_listed_for_ops_until_ops_ends_the_hire(setup: Setup) {
    let world = spawn_capture_app(setup, configure).await;
    let (app, db) = (&world.app, world.db());
    let hire = hire_in_probation(app, 720_001).await;

    // The hire left, but the HRIS knows them by a work email and id that
    // nothing here has seen.
    let left = hris(app, employee("E-GONE", "gone@acme-example.com", false)).await;
    assert_eq!(left["termination"]["matched_by"], Value::Null, "{left}");
    let unmatched = left["termination"]["unmatched_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("listed for ops: {left}"));
    assert_eq!(
        probation(db, hire).await,
        MilestoneState::Armed,
        "nothing guessed"
    );

    // Reported again: still one listing.
    let again = hris(app, employee("E-GONE", "gone@acme-example.com", false)).await;
    assert_eq!(again["termination"]["unmatched_id"], json!(unmatched));

    let listed = stuck_terminations(app).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["ids"]["employee_id"], "E-GONE");
    assert_eq!(
        listed[0]["ids"]["unmatched_termination_id"],
        json!(unmatched)
    );
    assert!(
        listed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("/api/hires/")),
        "says what moves it: {}",
        listed[0]
    );

    // Ops find the hire and end it for that employee: no longer listed.
    let ended = app
        .client
        .post(app.url(&format!("/api/hires/{hire}/terminated")))
        .bearer_auth(HIRES_TOKEN)
        .json(&json!({ "reason": "left in week 3", "employee_id": "E-GONE" }))
        .send()
        .await
        .expect("send");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(probation(db, hire).await, MilestoneState::Cancelled);
    assert!(stuck_terminations(app).await.is_empty());
    let linked = application::Entity::find_by_id(hire)
        .one(db)
        .await
        .expect("read")
        .expect("the hire");
    assert_eq!(linked.hire_employee_id.as_deref(), Some("E-GONE"));

    // With no unlinked hire in probation, nothing is listed: there is no
    // probation such a termination could end.
    let quiet = hris(app, employee("E-ELSE", "else@acme-example.com", false)).await;
    assert_eq!(quiet["termination"]["unmatched_id"], Value::Null, "{quiet}");
    world.cleanup().await;
}

async fn stuck_terminations(app: &TestApp) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/ops/stuck"))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("GET /api/ops/stuck");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "termination_unmatched")
        .cloned()
        .collect()
}

/// The HRIS export through the real binary (`referral-worker employees
/// import FILE.csv`) carries the identity columns too: a row naming the
/// ATS application or the ATS candidate ends that hire's probation, and a
/// row naming nothing while an unlinked hire is in probation is printed
/// with its unmatched termination and listed for ops; the hire no row
/// names keeps waiting.
async fn the_hris_csv_import_matches_terminations_by_its_ats_id_columns(setup: Setup) {
    let world = spawn_capture_app(setup, configure).await;
    let (app, db) = (&world.app, world.db());
    let by_application = hire_in_probation(app, 720_001).await;
    let by_candidate = hire_in_probation(app, 720_002).await;
    let untouched = hire_in_probation(app, 720_003).await;

    let dir = std::env::temp_dir().join(unique("rw-terminations-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = dir.join("hris.csv");
    std::fs::write(
        &csv,
        "employee_id,email,name,active,ats_candidate_id,ats_application_id\n\
         E-CSV-1,csv.one@acme-example.com,Csv One,false,,720001\n\
         E-CSV-2,csv.two@acme-example.com,Csv Two,false,721002,\n\
         E-CSV-3,csv.three@acme-example.com,Csv Three,false,,\n",
    )
    .expect("write the CSV");
    let url = app.db.as_ref().expect("a database").url.clone();
    let path = csv.display().to_string();
    // The import connects to the app's database and, on production's setup,
    // its queue (ending a probation cancels what waits there).
    let queue = app
        .redis_prefix
        .as_deref()
        .map(|p| (redis_url(), p.to_owned()));
    let env = worker_env(&url, queue.as_ref().map(|(u, p)| (u.as_str(), p.as_str())));
    let mut import = spawn_process(&["employees", "import", &path], env);
    let status = import.wait_exit(Duration::from_secs(60)).await;
    let (stdout, stderr) = (import.stdout(), import.stderr());
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 created"), "{stdout}");
    assert!(
        stdout.contains("probations ended by the import: 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 4: employee E-CSV-3 left but matched no hire"),
        "{stdout}"
    );

    assert_eq!(
        probation(db, by_application).await,
        MilestoneState::Cancelled
    );
    assert_eq!(probation(db, by_candidate).await, MilestoneState::Cancelled);
    assert_eq!(probation(db, untouched).await, MilestoneState::Armed);
    let listed = stuck_terminations(app).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let _ = std::fs::remove_dir_all(&dir);
    world.cleanup().await;
}
