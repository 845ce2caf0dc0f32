//! The exports and the KPIs over HTTP.

use super::{audit_chain::append_events, *};

async fn finance_app(setup: Setup) -> TestApp {
    spawn_app_with(setup, |s| configure_capture(s, None, None)).await
}

pub(super) async fn get_as(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub(super) async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = get_as(app, path, Some(tokens::OPS)).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
}

/// Our row ids of the payouts an export names by public id (`pay_…`).
pub(super) async fn payout_ids(db: &DatabaseConnection, rows: &Value) -> Vec<i64> {
    let mut ids = Vec::new();
    for row in rows.as_array().expect("an array") {
        let public = row["payout_id"].as_str().expect("a public payout id");
        assert!(public.starts_with("pay_"), "{row}");
        ids.push(
            payout::Entity::find()
                .filter(payout::Column::PublicId.eq(public))
                .one(db)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("no payout {public}"))
                .id,
        );
    }
    ids
}

/// The public id (`ref_…`) of referral `id`, as exports name it.
pub(super) async fn referral_public_id(db: &DatabaseConnection, id: i64) -> String {
    referral::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the referral")
        .public_id
}

/// The public id (`pay_…`) and idempotency key of payout `id`.
pub(super) async fn payout_public(db: &DatabaseConnection, id: i64) -> (String, String) {
    let p = payout::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the payout");
    (p.public_id, p.idempotency_key)
}

async fn payouts_export_carries_each_ledger_row_with_its_referral_facts(setup: Setup) {
    let app = finance_app(setup).await;
    let world = seed(&app.state.db).await;

    let rows = get_json(
        &app,
        "/api/exports/payouts?from=2026-01-01&to=2026-01-31&format=json",
    )
    .await;
    let db = &app.state.db;
    assert_eq!(
        payout_ids(db, &rows).await,
        vec![world.ana_hire, world.ana_probation],
        "January's real payouts, in id order; test data and February left out"
    );
    let hire = &rows[0];
    assert_eq!(
        hire["referral_id"],
        json!(referral_public_id(db, world.ana_referral).await)
    );
    let (_, key) = payout_public(db, world.ana_hire).await;
    assert_eq!(hire["idempotency_key"], json!(key));
    assert_eq!(hire["candidate_id"], json!(world.ana));
    assert_eq!(hire["employee_id"], "E-1");
    assert_eq!(hire["ats"], "greenhouse");
    assert_eq!(hire["candidate_ats_ids"], json!(["9001"]));
    assert_eq!(hire["application"], "1201");
    assert_eq!(hire["job_id"], "40");
    assert_eq!(hire["milestone"], "hire");
    assert_eq!(hire["tranche"], "hire");
    assert_eq!(hire["amount_minor"], 100_000);
    assert_eq!(hire["currency"], "EUR");
    assert_eq!(hire["state"], "delivered");
    assert_eq!(hire["is_test"], false);
    for key in [
        "hired_at",
        "start_date",
        "eligible_at",
        "sent_at",
        "delivered_at",
    ] {
        assert!(hire[key].is_string(), "{key} is set: {hire}");
    }
    assert_eq!(
        hire["delivered_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc)),
        Some(day(2026, 1, 26))
    );
    let probation = &rows[1];
    assert_eq!(probation["milestone"], "probation_complete");
    assert_eq!(probation["state"], "pending");
    assert_eq!(probation["delivered_at"], Value::Null);

    let with_test = get_json(
        &app,
        "/api/exports/payouts?from=2026-01-01&to=2026-01-31&format=json&include_test=true",
    )
    .await;
    assert_eq!(
        payout_ids(db, &with_test).await,
        vec![
            world.ana_hire,
            world.ana_probation,
            world.ana_test_payout,
            world.sandbox_payout
        ]
    );
    assert!(
        with_test.as_array().expect("array")[2..]
            .iter()
            .all(|r| r["is_test"] == true),
        "a test payout and a test candidate's payout are flagged: {with_test}"
    );

    let february = get_json(
        &app,
        "/api/exports/payouts?from=2026-02-01T00:00:00Z&to=2026-02-28&format=json",
    )
    .await;
    assert_eq!(payout_ids(db, &february).await, vec![world.carl_february]);
    assert_eq!(
        february[0]["candidate_ats_ids"],
        json!(["9003"]),
        "only the application's ATS"
    );

    app.cleanup().await;
}

#[tokio::test]
pub(super) async fn payouts_export_carries_each_ledger_row_with_its_referral_facts_on_sqlite() {
    payouts_export_carries_each_ledger_row_with_its_referral_facts(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test]
pub(super) async fn payouts_export_carries_each_ledger_row_with_its_referral_facts_on_postgres() {
    payouts_export_carries_each_ledger_row_with_its_referral_facts(Setup::EMBEDDED_POSTGRES).await;
}

#[tokio::test]
pub(super) async fn the_csv_export_is_a_download_with_a_header_row() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    let world = seed(&app.state.db).await;

    let response = get_as(
        &app,
        "/api/exports/referrals?from=2026-01-01&to=2026-01-31",
        Some(tokens::OPS),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"referrals_2026-01-01_2026-01-31.csv\""
    );
    assert_eq!(header("cache-control"), "no-store");
    let text = response.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "referral_id,employee_id,candidate_id,candidate_ats_ids,ats,application,job_id,source,state,reason,referred_at,created_at,is_test"
    );
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    let db = &app.state.db;
    let mut expected = Vec::new();
    for id in [
        world.ana_referral,
        world.carl_referral,
        world.carl_lost_referral,
    ] {
        expected.push(referral_public_id(db, id).await);
    }
    assert_eq!(
        ids, expected,
        "the sandbox candidate's referral is test data:\n{text}"
    );
    assert!(
        rows[1][2].parse::<i64>().is_ok(),
        "our candidate id: {text}"
    );
    assert_eq!(
        rows[1][2], rows[2][2],
        "Carl's two referrals are one person"
    );
    assert_eq!(
        &rows[1][1..10],
        [
            "E-2",
            rows[1][2],
            "9003;lev-3",
            "greenhouse",
            "1203",
            "41",
            "ats_credited",
            "credited",
            ""
        ]
    );
    assert_eq!(rows[2][8..10], ["lost", "first_referrer_wins"]);
    app.cleanup().await;
}

#[tokio::test]
pub(super) async fn an_export_larger_than_a_page_streams_every_row_in_id_order() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    append_events(&app.state.db, 2_345).await;

    let response = get_as(
        &app,
        "/api/exports/audit?from=2000-01-01&to=2100-12-31&format=json",
        Some(tokens::OPS),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.content_length(),
        None,
        "streamed, not buffered to learn its length"
    );
    let rows: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2_345);
    let mut prev = GENESIS.to_string();
    for pair in rows.windows(2) {
        assert!(pair[0]["id"].as_i64() < pair[1]["id"].as_i64(), "id order");
    }
    for row in rows {
        assert_eq!(row["lane"], 0, "SQLite writes one lane");
        assert_eq!(row["prev_hash"], json!(prev), "the chain runs across pages");
        assert!(row["data"].is_object(), "data is JSON, not a string: {row}");
        prev = row["hash"].as_str().expect("hash").to_string();
    }
    assert_eq!(rows[2_344]["data"]["amount_minor"], 100_000 + 2_344);
    app.cleanup().await;
}

#[tokio::test]
pub(super) async fn an_empty_period_exports_a_header_or_an_empty_array() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    seed(&app.state.db).await;
    let csv = get_as(
        &app,
        "/api/exports/payouts?from=2025-01-01&to=2025-12-31",
        Some(tokens::OPS),
    )
    .await
    .text()
    .await
    .expect("body");
    assert_eq!(csv.lines().count(), 1, "{csv}");
    assert!(
        csv.starts_with("payout_id,referral_id,employee_id,"),
        "{csv}"
    );
    let json = get_json(
        &app,
        "/api/exports/audit?from=2025-01-01&to=2025-12-31&format=json",
    )
    .await;
    assert_eq!(json, json!([]));
    app.cleanup().await;
}

#[tokio::test]
pub(super) async fn bad_export_and_report_requests_are_refused_naming_the_problem() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    let period = "from=2026-01-01&to=2026-01-31";

    let no_token = get_as(&app, &format!("/api/exports/payouts?{period}"), None).await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let wrong_scope = get_as(
        &app,
        &format!("/api/exports/payouts?{period}"),
        Some(tokens::LINKS),
    )
    .await;
    assert_eq!(wrong_scope.status(), StatusCode::FORBIDDEN);
    let kpis_wrong_scope = get_as(
        &app,
        &format!("/api/reports/kpis?{period}"),
        Some(tokens::LINKS),
    )
    .await;
    assert_eq!(kpis_wrong_scope.status(), StatusCode::FORBIDDEN);

    let cases = [
        (
            format!("/api/exports/salaries?{period}"),
            StatusCode::NOT_FOUND,
            "salaries",
        ),
        (
            "/api/exports/payouts?from=2026-01-01".to_string(),
            StatusCode::BAD_REQUEST,
            "to:",
        ),
        (
            "/api/exports/payouts?from=01/01/2026&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/exports/payouts?from=2026-02-01&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            format!("/api/exports/payouts?{period}&format=xml"),
            StatusCode::BAD_REQUEST,
            "format:",
        ),
        (
            format!("/api/exports/payouts?{period}&include_test=maybe"),
            StatusCode::BAD_REQUEST,
            "include_test:",
        ),
        (
            format!("/api/exports/payouts?{period}&limit=5"),
            StatusCode::BAD_REQUEST,
            "limit:",
        ),
        (
            format!("/api/exports/payouts?{period}&from=2026-01-02"),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/reports/kpis?from=2026-02-01&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/reports/kpis?to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            format!("/api/reports/kpis?{period}&format=csv"),
            StatusCode::BAD_REQUEST,
            "format:",
        ),
    ];
    for (path, status, named) in cases {
        let response = get_as(&app, &path, Some(tokens::OPS)).await;
        assert_eq!(response.status(), status, "GET {path}");
        let body: Value = response.json().await.expect("a JSON error body");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(named), "GET {path}: {body}");
        assert!(body["error"].is_string(), "GET {path}: {body}");
    }
    app.cleanup().await;
}

#[tokio::test]
pub(super) async fn kpis_count_conversion_time_to_hire_payouts_and_top_referrers() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    seed(&app.state.db).await;

    let k = get_json(&app, "/api/reports/kpis?from=2026-01-01&to=2026-01-31").await;
    // Ana (hired) and Carl (not) applied in January with a credited
    // referral; the sandbox hire is test data, Dora was not referred.
    assert_eq!(
        k["conversion"],
        json!({ "referred_applications": 2, "hires": 1, "rate": 0.5 })
    );
    // Hired in January: Ana after 20 days (referred), Dora after 10.
    assert_eq!(
        k["time_to_hire"]["referred"],
        json!({ "hires": 1, "median_days": 20.0, "mean_days": 20.0 })
    );
    assert_eq!(
        k["time_to_hire"]["all"],
        json!({ "hires": 2, "median_days": 15.0, "mean_days": 15.0 })
    );
    assert_eq!(
        k["payouts_delivered"],
        json!([{ "month": "2026-01", "currency": "EUR", "amount_minor": 100_000, "count": 1 }])
    );
    assert_eq!(
        k["top_referrers"],
        json!([
            { "employee_id": "E-1", "credited_referrals": 1, "hires": 1,
              "paid": [{ "currency": "EUR", "amount_minor": 100_000 }] },
            { "employee_id": "E-2", "credited_referrals": 1, "hires": 0, "paid": [] },
        ])
    );

    let two_months = get_json(&app, "/api/reports/kpis?from=2026-01-01&to=2026-02-28").await;
    assert_eq!(
        two_months["payouts_delivered"],
        json!([
            { "month": "2026-01", "currency": "EUR", "amount_minor": 100_000, "count": 1 },
            { "month": "2026-02", "currency": "USD", "amount_minor": 20_000, "count": 1 },
        ]),
        "one line per month and currency, never summed across currencies"
    );
    assert_eq!(
        two_months["top_referrers"][1]["paid"],
        json!([{ "currency": "USD", "amount_minor": 20_000 }])
    );
    app.cleanup().await;
}
