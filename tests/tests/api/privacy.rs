//! Data-subject requests (issue 21) against the real app: a candidate's
//! and a referrer's export and erasure through `/api/privacy/...`, the
//! consent the careers site sends, the retention purge of referrers, and
//! the `privacy` commands of the binary.
//!
//! Every API scenario runs on SQLite (queue in SQLite) and on PostgreSQL +
//! Redis.

use std::time::Duration;

use chrono::Utc;
use entities::{application, consent, employee, inbox, payout, referral, referral_link};
use jobs::db::audit::{Verification, sha256_hex};
use reqwest::StatusCode;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp, binary_path},
    fixtures::{
        CareersApplication, GreenhouseApplication, all, application_by_ats_id, audit, audit_with,
        candidates, credited_hire, employees, mint_link, post_careers_site, processed,
        put_employee, tokens, unique, wait_until,
    },
};

tests::both_setups!(
    an_export_holds_what_we_have_on_the_candidate_with_their_consent,
    erasing_a_paid_candidate_keeps_the_money_trail_and_the_audit_chain,
    requests_for_nobody_or_without_the_scope_are_refused_by_name,
    a_referrer_is_erased_only_once_the_hris_reports_them_gone,
    the_retention_purge_erases_referrers_inactive_longer_than_referrer_after,
);

/// A Greenhouse job id.
const JOB: u64 = 4_012_345;

async fn privacy_post(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `POST path` as the data-protection officer; panics unless 200.
async fn ok(app: &TestApp, path: &str) -> Value {
    let (status, body) = privacy_post(app, path, tokens::PRIVACY).await;
    assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
    body
}

async fn assert_chain_intact(db: &DatabaseConnection) {
    let verdict = jobs::db::audit::verify(db).await.expect("verify");
    assert!(
        matches!(verdict, Verification::Intact { .. }),
        "{verdict:?}"
    );
}

async fn employee_row(db: &DatabaseConnection, id: &str) -> employee::Model {
    employees(db)
        .await
        .into_iter()
        .find(|e| e.employee_id == id)
        .unwrap_or_else(|| panic!("employee {id}"))
}

async fn an_export_holds_what_we_have_on_the_candidate_with_their_consent(setup: Setup) {
    let world = tests::fixtures::spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-PRV", "referrer.prv@acme-example.com", true).await;
    let token = mint_link(app, "E-PRV", &JOB.to_string()).await;
    let submitted = CareersApplication::new(&JOB.to_string(), " Privacy.Person@Example.org ")
        .referred_by(&token);
    let mut body = submitted.json();
    body["consent"] = json!({
        "privacy_notice_version": "2025-06",
        "processing": true,
        "retention": false,
        "referral_data_sharing": true,
        "ip": "203.0.113.47",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    });
    let bytes = serde_json::to_vec(&body).expect("serialise");
    processed(app, post_careers_site(app, &unique("msg_"), &bytes).await).await;

    let cand = candidates(db).await.remove(0);
    let stored = all::<consent::Entity>(db).await;
    assert_eq!(stored.len(), 1, "one consent with the application");
    assert_eq!(stored[0].candidate_id, cand.id);
    assert_eq!(
        stored[0].given_at.timestamp_millis(),
        submitted.submitted_at.timestamp_millis(),
        "given when the application was submitted"
    );

    let response = app
        .client
        .post(app.url(&format!("/api/privacy/candidates/{}/export", cand.id)))
        .bearer_auth(tokens::PRIVACY)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().ok()),
        Some(Some("no-store")),
        "a person's data is never cached"
    );
    let doc: Value = response.json().await.expect("JSON");
    assert_eq!(
        doc["subject"],
        json!({ "type": "candidate", "id": cand.id })
    );
    assert_eq!(
        doc["candidates"][0]["email_raw"],
        " Privacy.Person@Example.org "
    );
    assert_eq!(doc["candidates"][0]["first_name"], "Test");
    assert_eq!(doc["applications"][0]["job_id"], JOB.to_string());
    assert_eq!(doc["referrals"][0]["employee_id"], "E-PRV");
    assert_eq!(doc["consents"][0]["source"], "careers_site");
    assert_eq!(
        doc["consents"][0]["flags"],
        json!({ "privacy_notice_version": "2025-06", "processing": true,
                "retention": false, "referral_data_sharing": true })
    );
    let deliveries = doc["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{doc}");
    assert_eq!(
        deliveries[0]["body"]["applicant"]["email"], " Privacy.Person@Example.org ",
        "the stored webhook body is theirs too"
    );
    assert!(
        doc["audit_events"]
            .as_array()
            .expect("audit events")
            .iter()
            .any(|e| e["action"] == "attribution.credited"),
        "{doc}"
    );
    let text = doc.to_string();
    assert!(
        !text.contains("referrer.prv@acme-example.com"),
        "the referrer's own data is not in the candidate's export"
    );
    let stored_text = format!("{stored:?}");
    assert!(
        !stored_text.contains("203.0.113.47") && !stored_text.contains("Mozilla"),
        "the IP and user agent are not kept: {stored_text}"
    );
    world.cleanup().await;
}

async fn erasing_a_paid_candidate_keeps_the_money_trail_and_the_audit_chain(setup: Setup) {
    let world = tests::fixtures::spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let mut gh = GreenhouseApplication::new(730_001, 830_001, JOB, "Erase.Me@Example.org");
    gh.phone = Some("+49 30 5550001".into());
    let gh = credited_hire(app, "E-PAYS", gh).await;
    wait_until("the hire tranche is in the ledger", || async {
        !all::<payout::Entity>(db).await.is_empty()
    })
    .await;
    let app_row = application_by_ats_id(db, &gh.application_id.to_string())
        .await
        .expect("captured");
    let id = app_row.candidate_id;
    // Whatever the payout's send job does meanwhile, the erasure must not
    // touch it: compare what identifies the money.
    let money = |p: &payout::Model| {
        (
            p.id,
            p.referral_id,
            p.tranche.clone(),
            p.amount_minor,
            p.currency.clone(),
            p.idempotency_key.clone(),
            p.webhook_id.clone(),
        )
    };
    let payouts_before: Vec<_> = all::<payout::Entity>(db).await.iter().map(money).collect();
    let referrals_before = all::<referral::Entity>(db).await;
    let applications_before = all::<application::Entity>(db).await;
    let bodies_before = all::<inbox::Entity>(db)
        .await
        .iter()
        .filter(|r| r.raw_body.is_some())
        .count();
    assert!(
        bodies_before >= 3,
        "the application and the hire deliveries"
    );

    let report = ok(app, &format!("/api/privacy/candidates/{id}/erase")).await;
    assert_eq!(report["erased"], json!([id]), "{report}");
    assert_eq!(
        report["deliveries_cleared"].as_array().map(Vec::len),
        Some(bodies_before),
        "every stored body was about them: {report}"
    );
    assert_eq!(report["deliveries_pending"], json!([]));

    let c = candidates(db).await.remove(0);
    assert_eq!(c.id, id);
    assert_eq!(
        (
            c.email_raw.as_deref(),
            c.email_canonical.as_deref(),
            c.phone_raw.as_deref(),
            c.phone_e164.as_deref(),
            c.first_name.as_str(),
            c.last_name.as_deref(),
        ),
        (None, None, None, None, "", None)
    );
    let tombstone = c.erasure_tombstone.clone().expect("a tombstone");
    let tomb: Value = serde_json::from_str(&tombstone).expect("JSON tombstone");
    assert_eq!(tomb["subject_id"], id.to_string());
    assert_eq!(tomb["cause"], "privacy.candidate_erased");
    let erased = audit_with(db, "privacy.candidate_erased").await;
    assert_eq!(erased.len(), 1, "{erased:?}");
    assert_eq!(erased[0].actor, "api:dpo");
    assert_eq!(erased[0].subject_id, id.to_string());
    assert_eq!(
        erased[0].data["tombstone_sha256"],
        sha256_hex(&tombstone),
        "the audit log proves the tombstone"
    );
    assert_eq!(
        report["tombstones"],
        json!([[id, sha256_hex(&tombstone)]]),
        "{report}"
    );

    assert_eq!(
        all::<payout::Entity>(db)
            .await
            .iter()
            .map(money)
            .collect::<Vec<_>>(),
        payouts_before,
        "payout amounts, ids, keys and webhook ids stay"
    );
    let key = |r: &referral::Model| {
        (
            r.id,
            r.candidate_id,
            r.application_id,
            r.employee_id.clone(),
            r.state,
        )
    };
    assert_eq!(
        all::<referral::Entity>(db)
            .await
            .iter()
            .map(key)
            .collect::<Vec<_>>(),
        referrals_before.iter().map(key).collect::<Vec<_>>(),
        "the attribution stays"
    );
    assert_eq!(
        all::<application::Entity>(db).await.len(),
        applications_before.len()
    );
    assert!(
        all::<inbox::Entity>(db)
            .await
            .iter()
            .all(|r| r.raw_body.is_none()),
        "the stored webhook bodies are cleared"
    );
    let log = serde_json::to_string(
        &audit(db)
            .await
            .iter()
            .map(|a| a.data.clone())
            .collect::<Vec<_>>(),
    )
    .expect("serialise");
    assert!(
        !log.to_lowercase().contains("erase.me"),
        "no personal data in the audit log"
    );
    assert_chain_intact(db).await;

    let after = ok(app, &format!("/api/privacy/candidates/{id}/export")).await;
    assert!(
        !after.to_string().to_lowercase().contains("erase.me")
            && !after.to_string().contains("5550001"),
        "nothing of theirs is left to export: {after}"
    );
    assert_eq!(
        after["payouts"].as_array().map(Vec::len),
        Some(payouts_before.len())
    );
    assert!(after["candidates"][0]["erasure_tombstone"].is_object());

    let again = ok(app, &format!("/api/privacy/candidates/{id}/erase")).await;
    assert_eq!(again["erased"], json!([]), "already erased: {again}");
    assert_eq!(audit_with(db, "privacy.candidate_erased").await.len(), 1);
    assert_chain_intact(db).await;
    world.cleanup().await;
}

async fn requests_for_nobody_or_without_the_scope_are_refused_by_name(setup: Setup) {
    let world = tests::fixtures::spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let (status, body) =
        privacy_post(app, "/api/privacy/candidates/999999/erase", tokens::PRIVACY).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("candidate 999999"),
        "{body}"
    );
    let (status, body) = privacy_post(
        app,
        "/api/privacy/referrers/E-NOBODY/export",
        tokens::PRIVACY,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("E-NOBODY"),
        "{body}"
    );
    let (status, body) =
        privacy_post(app, "/api/privacy/candidates/seven/export", tokens::PRIVACY).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("seven"),
        "{body}"
    );
    let (status, body) = privacy_post(app, "/api/privacy/candidates/1/export", tokens::OPS).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "ops may not read a person's data: {body}"
    );
    let response = app
        .client
        .post(app.url("/api/privacy/candidates/1/erase"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        audit_with(app_db(app), "privacy.candidate_erased")
            .await
            .is_empty(),
        "nothing changed"
    );
    world.cleanup().await;
}

fn app_db(app: &TestApp) -> &DatabaseConnection {
    &app.state.db
}

async fn a_referrer_is_erased_only_once_the_hris_reports_them_gone(setup: Setup) {
    let world = tests::fixtures::spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-GONE", "leaving.soon@acme-example.com", true).await;
    let token = mint_link(app, "E-GONE", &JOB.to_string()).await;

    let (status, body) =
        privacy_post(app, "/api/privacy/referrers/E-GONE/erase", tokens::PRIVACY).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("active"),
        "{body}"
    );
    assert_eq!(
        employee_row(db, "E-GONE").await.email,
        "leaving.soon@acme-example.com"
    );

    put_employee(app, "E-GONE", "leaving.soon@acme-example.com", false).await;
    let export = ok(app, "/api/privacy/referrers/E-GONE/export").await;
    assert_eq!(export["employee"]["email"], "leaving.soon@acme-example.com");
    assert_eq!(export["referral_links"][0]["token"], token.as_str());
    assert!(export["employee"]["deactivated_at"].is_string(), "{export}");

    let report = ok(app, "/api/privacy/referrers/E-GONE/erase").await;
    assert_eq!(report["erased"], true, "{report}");
    assert_eq!(report["links_revoked"], 1, "{report}");
    let e = employee_row(db, "E-GONE").await;
    assert_eq!(
        (
            e.email.as_str(),
            e.email_canonical.as_str(),
            e.name.as_str()
        ),
        ("", "", "")
    );
    assert!(e.erased_at.is_some());
    let tombstone = e.erasure_tombstone.clone().expect("a tombstone");
    let events = audit_with(db, "privacy.referrer_erased").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, "E-GONE");
    assert_eq!(events[0].data["tombstone_sha256"], sha256_hex(&tombstone));
    let link = referral_link::Entity::find()
        .filter(referral_link::Column::Token.eq(&token))
        .one(db)
        .await
        .expect("read")
        .expect("the link row stays");
    assert!(link.revoked_at.is_some(), "their links stop working");

    // The HRIS still lists them as gone: the sync brings nothing back.
    put_employee(app, "E-GONE", "leaving.soon@acme-example.com", false).await;
    assert_eq!(employee_row(db, "E-GONE").await.email, "");
    let after = ok(app, "/api/privacy/referrers/E-GONE/export").await;
    assert!(!after.to_string().contains("leaving.soon"), "{after}");
    let again = ok(app, "/api/privacy/referrers/E-GONE/erase").await;
    assert_eq!(again["erased"], false, "{again}");
    assert_chain_intact(db).await;
    world.cleanup().await;
}

async fn the_retention_purge_erases_referrers_inactive_longer_than_referrer_after(setup: Setup) {
    let world = tests::fixtures::spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-LEFT-LONG-AGO", "long.ago@acme-example.com", false).await;
    put_employee(app, "E-LEFT-LATELY", "lately@acme-example.com", false).await;
    put_employee(app, "E-STAYS", "stays@acme-example.com", true).await;
    let old = employee_row(db, "E-LEFT-LONG-AGO").await;
    employee::Entity::update(employee::ActiveModel {
        id: Set(old.id),
        deactivated_at: Set(Some(Utc::now() - chrono::Duration::days(60))),
        ..Default::default()
    })
    .exec(db)
    .await
    .expect("backdate the departure");
    let after = Duration::from_secs(30 * 86_400);
    let ctx = &app.state.jobs;

    let dry = jobs::maintenance::retention::purge_referrers(ctx, after, true, "ops:test")
        .await
        .expect("dry run");
    assert_eq!(dry.referrers, vec!["E-LEFT-LONG-AGO".to_owned()]);
    assert_eq!(
        employee_row(db, "E-LEFT-LONG-AGO").await.email,
        "long.ago@acme-example.com"
    );
    assert!(audit_with(db, "retention.referrer_purged").await.is_empty());

    let run = jobs::maintenance::retention::purge_referrers(ctx, after, false, "ops:test")
        .await
        .expect("purge");
    assert_eq!(run.referrers, vec!["E-LEFT-LONG-AGO".to_owned()]);
    let gone = employee_row(db, "E-LEFT-LONG-AGO").await;
    assert_eq!((gone.email.as_str(), gone.name.as_str()), ("", ""));
    let events = audit_with(db, "retention.referrer_purged").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "ops:test");
    assert_eq!(
        events[0].data["tombstone_sha256"],
        sha256_hex(gone.erasure_tombstone.as_deref().expect("tombstone"))
    );
    assert_eq!(
        employee_row(db, "E-LEFT-LATELY").await.email,
        "lately@acme-example.com"
    );
    assert_eq!(
        employee_row(db, "E-STAYS").await.email,
        "stays@acme-example.com"
    );

    let second = jobs::maintenance::retention::purge_referrers(ctx, after, false, "ops:test")
        .await
        .expect("purge again");
    assert!(second.referrers.is_empty(), "{second:?}");
    assert_chain_intact(db).await;
    world.cleanup().await;
}

/// `referral-worker privacy ...` against the database of a running app:
/// bad input exits non-zero naming it, and a referrer is erased and
/// exported as through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_privacy_commands_name_bad_input_and_act_like_the_api() {
    let world = tests::fixtures::spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let url = app.db.as_ref().expect("its database").url.clone();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary_path())
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("USER", "dpo")
            .output()
            .expect("run the binary");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, _, stderr) = run(&["privacy", "candidate", "erase", "seven"]);
    assert_eq!(code, Some(2), "a malformed id is a usage error: {stderr}");
    assert!(stderr.contains("seven"), "{stderr}");
    let (code, _, stderr) = run(&["privacy", "candidate", "export", "999999"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("candidate 999999 not found"), "{stderr}");

    put_employee(app, "E-CLI", "cli.person@acme-example.com", true).await;
    let (code, _, stderr) = run(&["privacy", "referrer", "erase", "E-CLI"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("active"), "{stderr}");
    assert_eq!(
        employee_row(&app.state.db, "E-CLI").await.email,
        "cli.person@acme-example.com"
    );

    put_employee(app, "E-CLI", "cli.person@acme-example.com", false).await;
    let (code, stdout, stderr) = run(&["privacy", "referrer", "erase", "E-CLI", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["erased"], true, "{report}");
    let (code, stdout, stderr) = run(&["privacy", "referrer", "export", "E-CLI"]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON export");
    assert_eq!(doc["employee"]["email"], "");
    let events = audit_with(&app.state.db, "privacy.referrer_erased").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "cli:dpo");
    world.cleanup().await;
}
