//! Sandbox mode and the go-live check.
//!
//! * With `[sandbox] enabled = true` and no sandbox URLs, a paid referral
//!   reaches none of the configured (real) receivers: every call is a
//!   `sandbox.recorded` audit event, and the payout still ends delivered.
//!   With a sandbox bonus URL, the bonus POST goes there instead.
//! * `referral-worker golive-check`, run as the real binary against an
//!   in-process app, walks a test referral through every hop and exits 0;
//!   its records are `is_test` and left out of the payouts export.

use std::time::Duration;

use entities::{
    outbound_message::{self, OutboundState},
    payout::PayoutState,
};
use jobs::payout::rules::{BonusRules, default_rules};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use tests::{
    app::{TestApp, spawn_process, worker_env},
    destinations::{BONUS_SECRET, Destinations},
    fixtures::{
        CAREERS_SITE_SECRET, GreenhouseApplication, audit_with, candidates, credited_hire, payouts,
        referrals, spawn_capture_app, tokens, wait_until,
    },
    receiver::Receiver,
};
use worker::config::Settings;

/// Points the app at every destination, a long probation, sandbox on.
fn sandboxed(world: &Destinations, s: &mut Settings) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = Duration::from_secs(30 * 86_400);
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    world.point_at(s);
    s.sandbox.enabled = true;
}

async fn hire_delivered(db: &DatabaseConnection) -> bool {
    payouts(db)
        .await
        .iter()
        .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
}

async fn messages_settled(db: &DatabaseConnection) -> bool {
    let rows = outbound_message::Entity::find()
        .all(db)
        .await
        .expect("messages");
    !rows.is_empty() && rows.iter().all(|m| m.state == OutboundState::Delivered)
}

#[tokio::test]
async fn sandbox_without_urls_records_every_call_and_sends_nothing() {
    let world = Destinations::start(vec![]).await;
    let app = spawn_capture_app(tests::app::Setup::EMBEDDED_SQLITE, |s| sandboxed(&world, s)).await;
    let db = app.db();
    credited_hire(
        &app.app,
        "E-SANDBOX",
        GreenhouseApplication::new(990_001, 660_001, 4_012_345, "sandbox1@example.org"),
    )
    .await;
    wait_until("the hire tranche delivered", || hire_delivered(db)).await;
    wait_until("every notification delivered", || messages_settled(db)).await;
    wait_until("the write-back recorded", || async {
        audit_with(db, "sandbox.recorded")
            .await
            .iter()
            .any(|e| e.data["destination"] == "greenhouse")
    })
    .await;
    // Give a stray send the time to arrive, then check nothing did.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.requests(), 0, "nothing reached a real receiver");
    let writes: Vec<_> = app
        .harvest
        .seen()
        .into_iter()
        .filter(|s| s.method != "GET" && s.path.starts_with("/v3/"))
        .collect();
    assert!(writes.is_empty(), "no write reached Greenhouse: {writes:?}");

    let recorded = audit_with(db, "sandbox.recorded").await;
    let destinations: Vec<&str> = recorded
        .iter()
        .filter_map(|e| e.data["destination"].as_str())
        .collect();
    for d in ["bonus", "status_sync", "crm", "greenhouse"] {
        assert!(destinations.contains(&d), "{d} recorded: {destinations:?}");
    }
    let hire = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("hire tranche");
    let bonus = recorded
        .iter()
        .find(|e| e.data["destination"] == "bonus")
        .expect("the bonus POST recorded");
    assert_eq!(bonus.data["message_id"], hire.webhook_id.as_str());
    assert_eq!(bonus.data["message_type"], "referral.milestone_reached");
    assert_eq!(bonus.data["method"], "POST");
    assert_eq!(bonus.data["url"], world.bonus.url("/bonus").as_str());
    for e in &recorded {
        let text = e.data.to_string();
        assert!(!text.contains('@'), "no personal data: {text}");
        assert!(
            !text.contains("/services/T0"),
            "no alert credential: {text}"
        );
    }
    assert_eq!(
        audit_with(db, "attribution.write_back_skipped")
            .await
            .iter()
            .filter(|e| e.data["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("sandbox")))
            .count(),
        1
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_sandbox_bonus_url_gets_the_bonus_post_instead_of_the_real_one() {
    let world = Destinations::start(vec![]).await;
    let sandbox = Receiver::builder().secret(BONUS_SECRET).start().await;
    let sandbox_url = sandbox.url("/sandbox-bonus");
    let app = spawn_capture_app(tests::app::Setup::EMBEDDED_SQLITE, |s| {
        sandboxed(&world, s);
        s.sandbox.bonus_url = sandbox_url.clone();
    })
    .await;
    let db = app.db();
    credited_hire(
        &app.app,
        "E-SANDBOX",
        GreenhouseApplication::new(990_002, 660_002, 4_012_345, "sandbox2@example.org"),
    )
    .await;
    wait_until("the hire tranche delivered", || hire_delivered(db)).await;
    let hire = payouts(db)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
        .expect("hire tranche");
    assert_eq!(sandbox.count(), 1, "the sandbox got the bonus POST");
    assert_eq!(
        sandbox.requests()[0].webhook_id(),
        Some(hire.webhook_id.as_str())
    );
    assert_eq!(world.bonus.count(), 0, "the real bonus system got nothing");
    assert!(
        audit_with(db, "sandbox.recorded")
            .await
            .iter()
            .all(|e| e.data["destination"] != "bonus"),
        "a bonus POST sent to the sandbox is not also recorded"
    );
    app.cleanup().await;
}

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("golive.toml");
    let text = format!(
        r#"
[webhooks]
careers_site_secret = "{CAREERS_SITE_SECRET}"

[[api.tokens]]
name = "referral-portal"
token = "{links}"
scopes = ["links"]

[[api.tokens]]
name = "hris-sync"
token = "{employees}"
scopes = ["employees"]

[[api.tokens]]
name = "ops"
token = "{ops}"
scopes = ["ops_read", "ops_admin"]
"#,
        links = tokens::LINKS,
        employees = tokens::EMPLOYEES,
        ops = tokens::OPS,
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

async fn export_payouts(app: &TestApp, include_test: bool) -> Vec<Value> {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut path = format!("/api/exports/payouts?from={today}&to={today}&format=json");
    if include_test {
        path.push_str("&include_test=true");
    }
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("GET export");
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.expect("JSON export");
    body.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn golive_check_walks_every_hop_and_its_records_are_test_data() {
    let world = Destinations::start(vec![]).await;
    let app = spawn_capture_app(tests::app::Setup::EMBEDDED_SQLITE, |s| sandboxed(&world, s)).await;
    let db = app.db().clone();
    let dir = std::env::temp_dir().join(format!("rw-golive-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("config dir");
    let config = config_file(&dir);
    let database_url = app.app.settings.database.url.expose_secret().to_owned();
    let base = format!("http://{}", app.app.address);
    let mut process = spawn_process(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "golive-check",
            "--base-url",
            &base,
            "--timeout",
            "45s",
            // The test application lives in the careers site, which has
            // no ATS to write back to: the write-back is skipped.
            "--allow-missing",
            "written-back",
        ],
        worker_env(&database_url, None),
    );
    let status = process.wait_exit(Duration::from_secs(90)).await;
    let stdout = process.stdout();
    assert!(
        status.success(),
        "golive-check failed ({status}):\n{stdout}\n{}",
        process.stderr()
    );
    for hop in [
        "received",
        "attributed",
        "written back",
        "status synced",
        "milestone",
        "payout sent",
        "audit",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(hop))
            .unwrap_or_else(|| panic!("no {hop} line:\n{stdout}"));
        assert!(line.contains(" ok "), "{hop} passed: {line}");
    }
    assert!(
        stdout.contains("armed"),
        "probation reported armed:\n{stdout}"
    );
    assert!(stdout.contains("recorded in sandbox"), "{stdout}");
    let written_back = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("written back"))
        .unwrap_or_default();
    assert!(
        written_back.contains("no ATS application yet")
            && written_back.contains("missing, allowed by --allow-missing written-back"),
        "a skipped write-back passes only as allowed-missing: {written_back}"
    );
    assert_eq!(world.requests(), 0, "the sandbox sent nothing for real");

    // The test records are marked and left out of the export.
    let test_referrals: Vec<_> = referrals(&db)
        .await
        .into_iter()
        .filter(|r| r.employee_id == "golive-check")
        .collect();
    assert_eq!(test_referrals.len(), 1);
    assert!(test_referrals[0].is_test);
    let candidate = candidates(&db)
        .await
        .into_iter()
        .find(|c| c.id == test_referrals[0].candidate_id)
        .expect("the test candidate");
    assert!(candidate.is_test);
    let test_payouts: Vec<_> = payouts(&db)
        .await
        .into_iter()
        .filter(|p| p.referral_id == test_referrals[0].id)
        .collect();
    assert!(!test_payouts.is_empty());
    assert!(test_payouts.iter().all(|p| p.is_test));
    // Exports name payouts by their public ids.
    let ids: Vec<&str> = test_payouts.iter().map(|p| p.public_id.as_str()).collect();
    let in_export = |rows: &[Value]| {
        rows.iter()
            .any(|r| r["payout_id"].as_str().is_some_and(|id| ids.contains(&id)))
    };
    let default_export = export_payouts(&app.app, false).await;
    assert!(!in_export(&default_export), "{default_export:?}");
    let with_test = export_payouts(&app.app, true).await;
    assert!(in_export(&with_test), "{with_test:?}");

    // Run it again with --json and without --allow-missing: the skipped
    // write-back is not observed, so the check fails there, naming it.
    let mut process = spawn_process(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "golive-check",
            "--base-url",
            &base,
            "--json",
        ],
        worker_env(&database_url, None),
    );
    let status = process.wait_exit(Duration::from_secs(90)).await;
    let report: Value = serde_json::from_str(&process.stdout()).expect("JSON report");
    assert_eq!(status.code(), Some(1), "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["hops"].as_array().map(Vec::len), Some(7), "{report}");
    let failed: Vec<&str> = report["hops"]
        .as_array()
        .expect("hops")
        .iter()
        .filter(|h| h["ok"] == false)
        .filter_map(|h| h["hop"].as_str())
        .collect();
    assert_eq!(failed, vec!["written back"], "{report}");
    assert!(
        report["hops"][2]["result"]
            .as_str()
            .is_some_and(|r| r.contains("no ATS application yet")
                && r.contains("--allow-missing written-back")),
        "{report}"
    );
    assert!(
        process.stderr().contains("failed at hop `written back`"),
        "{}",
        process.stderr()
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.cleanup().await;
}

/// No status-sync or CRM destination configured: the `status synced` hop
/// fails as not configured, unless allowed to be missing.
#[tokio::test]
async fn golive_check_fails_an_unconfigured_status_sync_unless_allowed_missing() {
    let world = Destinations::start(vec![]).await;
    let app = spawn_capture_app(tests::app::Setup::EMBEDDED_SQLITE, |s| {
        sandboxed(&world, s);
        s.notifications.status_sync_url = String::new();
        s.notifications.crm_url = String::new();
    })
    .await;
    let dir = std::env::temp_dir().join(format!("rw-golive-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("config dir");
    let config = config_file(&dir);
    let database_url = app.app.settings.database.url.expose_secret().to_owned();
    let base = format!("http://{}", app.app.address);
    let check = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            config.to_str().expect("utf-8 path"),
            "golive-check",
            "--base-url",
            &base,
            "--json",
            "--allow-missing",
            "written-back",
        ];
        args.extend_from_slice(extra);
        spawn_process(&args, worker_env(&database_url, None))
    };

    let mut process = check(&[]);
    let status = process.wait_exit(Duration::from_secs(90)).await;
    let report: Value = serde_json::from_str(&process.stdout()).expect("JSON report");
    assert_eq!(status.code(), Some(1), "{report}");
    let synced = &report["hops"][3];
    assert_eq!(synced["hop"], "status synced", "{report}");
    assert_eq!(synced["ok"], false, "{report}");
    assert!(
        synced["result"]
            .as_str()
            .is_some_and(|r| r.starts_with("not configured")),
        "{report}"
    );

    let mut process = check(&["--allow-missing", "status-synced"]);
    let status = process.wait_exit(Duration::from_secs(90)).await;
    let report: Value = serde_json::from_str(&process.stdout()).expect("JSON report");
    assert!(status.success(), "{report}");
    assert!(
        report["hops"][3]["result"]
            .as_str()
            .is_some_and(|r| r.contains("missing, allowed by --allow-missing status-synced")),
        "{report}"
    );

    let mut process = check(&["--allow-missing", "payout-sent"]);
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(2), "only skippable hops may be missing");
    assert!(
        process.stderr().contains("payout-sent"),
        "{}",
        process.stderr()
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.cleanup().await;
}

#[tokio::test]
async fn golive_check_without_tokens_says_which_scope_is_missing() {
    let dir = std::env::temp_dir().join(format!("rw-golive-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("config dir");
    let path = dir.join("empty.toml");
    std::fs::write(&path, "").expect("write");
    let mut process = spawn_process(
        &[
            "--config",
            path.to_str().expect("utf-8"),
            "golive-check",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        Vec::<(String, String)>::new(),
    );
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(1));
    let stderr = process.stderr();
    assert!(stderr.contains("links, employees, ops_read"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
