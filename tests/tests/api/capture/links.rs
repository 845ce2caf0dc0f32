//! Links and the API: minted links attribute, bad tokens do not, link and
//! employee requests are validated, scopes, the HRIS CSV import.

use super::*;

tests::both_setups!(a_minted_link_attributes_a_careers_site_application,);

/// A link minted through the API: token and share URL, click counting and
/// redirect, and an application carrying the token credited to its employee.
async fn a_minted_link_attributes_a_careers_site_application(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-10", "ivy@acme-example.com", true).await;
    let before = Utc::now();
    let minted = mint_link_with(app, json!({ "employee_id": "E-10", "job_id": "J-10" })).await;
    let token = minted["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("rt_") && token.len() >= 3 + 20, "{token}");
    assert_eq!(
        minted["url"],
        format!("{CAREERS_BASE_URL}/jobs/J-10?ref={token}")
    );
    assert_eq!(minted["employee_id"], "E-10");
    assert_eq!(minted["job_id"], "J-10");
    let expires_at = time(minted["expires_at"].as_str().expect("expires_at"));
    assert!(expires_at >= before + days(90) && expires_at <= Utc::now() + days(90));
    let row = link_row(db, &token).await.expect("stored");
    assert_eq!(row.employee_id, "E-10");
    assert_eq!(row.job_id, "J-10");
    assert_eq!(row.click_count, 0);
    assert_eq!(row.first_clicked_at, None);

    // Clicks: redirected to the share URL, counted, the first one timed.
    let client = no_redirects();
    for _ in 0..2 {
        let r = client
            .get(app.url(&format!("/r/{token}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some(format!("{CAREERS_BASE_URL}/jobs/J-10?ref={token}").as_str())
        );
    }
    let row = link_row(db, &token).await.unwrap();
    assert_eq!(row.click_count, 2);
    let first = row.first_clicked_at.expect("first click recorded");
    assert!(first >= before - chrono::Duration::seconds(1) && first <= Utc::now());
    // Clicks at the same moment are each counted; the first stays first.
    let url = app.url(&format!("/r/{token}"));
    let at_once: Vec<_> = (0..30)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for click in at_once {
        let status = click.await.expect("join").expect("click");
        assert!(status.is_redirection(), "{status}");
    }
    let row = link_row(db, &token).await.unwrap();
    assert_eq!(row.click_count, 32, "no click lost");
    assert_eq!(row.first_clicked_at, Some(first));
    let unknown = client
        .get(app.url("/r/rt_00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["detail"].is_string());

    // The application.
    let a = apply(
        app,
        &CareersApplication::new("J-10", "linked@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.employee_id, "E-10");
    assert_eq!(r.source, ReferralSource::ReferralLink);
    assert_eq!(r.link_token.as_deref(), Some(token.as_str()));
    assert_eq!(r.reason, None);
    let credited = audit_with(db, "attribution.credited").await;
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0].subject_id, r.id.to_string());
    world.cleanup().await;
}

/// Expired, revoked and forged tokens attribute nothing; the application is
/// still recorded and the reason is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_revoked_and_forged_tokens_do_not_attribute() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-11", "jack@acme-example.com", true).await;
    let expiring = mint_link_with(
        app,
        json!({ "employee_id": "E-11", "job_id": "J-11", "expires_in": 1 }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = mint_link(app, "E-11", "J-11").await;
    let (status, _) = api_call(
        app,
        Method::DELETE,
        &format!("/api/referral-links/{revoked}"),
        Some(tokens::LINKS),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(link_row(db, &revoked).await.unwrap().revoked_at.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let forged = "rt_0123456789abcdef0123456789abcdef";

    let cases = [
        (expiring.as_str(), "expired@example.org", "expired"),
        (revoked.as_str(), "revoked@example.org", "revoked"),
        (forged, "forged@example.org", "unknown"),
    ];
    for (token, email, reason) in cases {
        let a = apply(
            app,
            &CareersApplication::new("J-11", email).referred_by(token),
        )
        .await;
        assert!(referrals_of(db, &a.ats_application_id).await.is_empty());
        let rejected: Vec<_> = audit_with(db, "attribution.token_rejected")
            .await
            .into_iter()
            .filter(|e| e.subject_id == a.id.to_string())
            .collect();
        assert_eq!(rejected.len(), 1, "{reason}");
        let why = rejected[0].data["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{why:?} for a {reason} token");
        assert_eq!(rejected[0].data["application_id"], a.id);
        let text = rejected[0].data.to_string();
        assert!(!text.contains(email), "{text}");
    }
    assert_eq!(applications(db).await.len(), 3);
    assert_eq!(candidates(db).await.len(), 3);
    assert!(referrals(db).await.is_empty());
    world.cleanup().await;
}

/// Link requests are checked: the employee (known, active), the job, the
/// expiry, the JSON and the media type.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_requests_are_validated() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-12", "kim@acme-example.com", true).await;
    put_employee(app, "E-13", "lou@acme-example.com", false).await;
    let post = |body: Value| {
        api_call(
            app,
            Method::POST,
            "/api/referral-links",
            Some(tokens::LINKS),
            Some(body),
        )
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        (
            json!({ "employee_id": "E-404", "job_id": "J-1" }),
            "employee_id",
        ),
        (
            json!({ "employee_id": "E-13", "job_id": "J-1" }),
            "employee_id",
        ),
        (json!({ "employee_id": "E-12", "job_id": "  " }), "job_id"),
        (json!({ "employee_id": "E-12" }), "job_id"),
        (json!({ "job_id": "J-1" }), "employee_id"),
        (json!({ "employee_id": "E-12", "job_id": 7 }), "job_id"),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "forever" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": 0 }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": -5 }),
            "expires_in",
        ),
        // Durations under the documented minimum of 1s (issue 18).
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "1ns" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "999ms" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "10years" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": [1] }),
            "expires_in",
        ),
    ];
    for (body, field) in cases {
        let got = post(body.clone()).await;
        assert_error(&got, unprocessable, "invalid_field", field);
        assert!(
            !got.1["detail"].to_string().contains("internal"),
            "{body}: {}",
            got.1
        );
    }
    let inactive = post(json!({ "employee_id": "E-13", "job_id": "J-1" })).await;
    assert!(inactive.1["detail"].as_str().unwrap().contains("active"));

    let bad_json = app
        .client
        .post(app.url("/api/referral-links"))
        .bearer_auth(tokens::LINKS)
        .header("content-type", "application/json")
        .body("{\"employee_id\": ")
        .send()
        .await
        .unwrap();
    let status = bad_json.status();
    let body: Value = bad_json.json().await.unwrap();
    assert_error(
        &(status, body),
        StatusCode::BAD_REQUEST,
        "bad_request",
        "JSON",
    );

    let plain = app
        .client
        .post(app.url("/api/referral-links"))
        .bearer_auth(tokens::LINKS)
        .header("content-type", "text/plain")
        .body(r#"{"employee_id": "E-12", "job_id": "J-1"}"#)
        .send()
        .await
        .unwrap();
    let status = plain.status();
    let body: Value = plain.json().await.unwrap();
    assert_error(
        &(status, body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "application/json",
    );

    assert!(
        fixtures::all::<entities::referral_link::Entity>(db)
            .await
            .is_empty(),
        "no refused request minted a link"
    );
    let ok = mint_link_with(
        app,
        json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "30days" }),
    )
    .await;
    let expires_at = time(ok["expires_at"].as_str().unwrap());
    let expected = Utc::now() + days(30);
    assert!((expires_at - expected).num_seconds().abs() < 60, "{ok}");
    world.cleanup().await;
}

/// Method, path, bearer token, body, expected status, text the detail names.
type AuthCase<'a> = (
    Method,
    &'a str,
    Option<&'a str>,
    Option<Value>,
    StatusCode,
    &'a str,
);

/// `/api` wants a bearer token with the route's scope: none is 401, an
/// unknown or out-of-scope one 403, always as `{error, detail}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_calls_need_a_bearer_token_with_the_right_scope() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let employee = json!({ "employee_id": "E-20", "email": "max@acme-example.com", "name": "Max", "active": true });
    let link = json!({ "employee_id": "E-20", "job_id": "J-20" });
    let cases: Vec<AuthCase> = vec![
        (
            Method::POST,
            "/api/employees",
            None,
            Some(employee.clone()),
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::POST,
            "/api/referral-links",
            None,
            Some(link.clone()),
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::DELETE,
            "/api/referral-links/rt_x",
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::POST,
            "/api/employees",
            Some("not-a-configured-token"),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "unknown token",
        ),
        (
            Method::POST,
            "/api/referral-links",
            Some(&tokens::LINKS[1..]),
            Some(link.clone()),
            StatusCode::FORBIDDEN,
            "unknown token",
        ),
        (
            Method::POST,
            "/api/employees",
            Some(tokens::LINKS),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "employees",
        ),
        (
            Method::POST,
            "/api/employees",
            Some(tokens::OPS),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "employees",
        ),
        (
            Method::POST,
            "/api/referral-links",
            Some(tokens::EMPLOYEES),
            Some(link.clone()),
            StatusCode::FORBIDDEN,
            "links",
        ),
        (
            Method::DELETE,
            "/api/referral-links/rt_x",
            Some(tokens::EMPLOYEES),
            None,
            StatusCode::FORBIDDEN,
            "links",
        ),
    ];
    for (method, path, token, body, status, detail) in cases {
        let what = format!("{method} {path} with {token:?}");
        let got = api_call(app, method, path, token, body).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        let error = if status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "forbidden"
        };
        assert_eq!(got.1["error"], error, "{what}: {}", got.1);
        let d = got.1["detail"].as_str().unwrap_or_default().to_lowercase();
        assert!(d.contains(detail), "{what}: {d:?}");
    }
    // Not a bearer token at all.
    let basic_auth = app
        .client
        .post(app.url("/api/employees"))
        .header("authorization", basic(tokens::EMPLOYEES))
        .json(&employee)
        .send()
        .await
        .unwrap();
    assert_eq!(basic_auth.status(), StatusCode::UNAUTHORIZED);
    assert!(
        employees(db).await.is_empty(),
        "no refused call changed anything"
    );

    // The right scope works.
    let (status, _) = api_call(
        app,
        Method::POST,
        "/api/employees",
        Some(tokens::EMPLOYEES),
        Some(employee),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = api_call(
        app,
        Method::POST,
        "/api/referral-links",
        Some(tokens::LINKS),
        Some(link),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    world.cleanup().await;
}

/// `POST /api/employees` creates (201), then answers 200 `unchanged` or
/// `updated`; deactivation is audited; a bad field is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_employees_creates_then_updates_or_leaves_unchanged() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let post = |body: Value| {
        api_call(
            app,
            Method::POST,
            "/api/employees",
            Some(tokens::EMPLOYEES),
            Some(body),
        )
    };
    let grace = json!({ "employee_id": " E-100 ", "email": " Grace.Hopper@Acme-Example.com ", "name": "Grace Hopper", "active": true });
    let (status, body) = post(grace.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({ "employee_id": "E-100", "result": "created" }));
    let rows = employees(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].employee_id, "E-100");
    assert_eq!(rows[0].email, "Grace.Hopper@Acme-Example.com");
    assert_eq!(rows[0].email_canonical, "grace.hopper@acme-example.com");
    assert_eq!(rows[0].name, "Grace Hopper");
    assert!(rows[0].active);

    let (status, body) = post(grace.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "unchanged");

    let mut renamed = grace.clone();
    renamed["name"] = json!("Grace B. Hopper");
    let (status, body) = post(renamed.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "updated");
    assert_eq!(employees(db).await[0].name, "Grace B. Hopper");
    assert!(audit_with(db, "employee.deactivated").await.is_empty());

    let mut gone = renamed.clone();
    gone["active"] = json!(false);
    let (status, body) = post(gone).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "updated");
    assert!(!employees(db).await[0].active);
    let deactivated = audit_with(db, "employee.deactivated").await;
    assert_eq!(deactivated.len(), 1);
    assert_eq!(deactivated[0].subject_id, "E-100");
    assert_eq!(deactivated[0].actor, "api:hris-sync");

    let got = post(json!({ "employee_id": "E-101", "email": "not-an-email", "name": "X" })).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "email",
    );
    let got = post(json!({ "employee_id": "E-101", "email": "x@acme-example.com" })).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "name",
    );
    assert_eq!(employees(db).await.len(), 1);
    world.cleanup().await;
}

/// `referral-worker employees import FILE.csv` (the real binary): good rows
/// imported, bad ones reported by line number, exit status non-zero; then
/// `links create` prints a token and its share URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn employees_import_reports_bad_rows_by_line_and_imports_the_good_ones() {
    let db = app::fresh_db(app::DbDriver::Postgres).await;
    db.migrate().await.expect("migrate");
    let dir = std::env::temp_dir().join(unique("rw-import-"));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("hris.csv");
    std::fs::write(
        &csv,
        "employee_id,email,name,active\n\
         E-1,ada@acme-example.com,Ada,true\n\
         E-2,not-an-email,Bob,true\n\
         E-3,cy@acme-example.com,Cy,maybe\n\
         E-4,di@acme-example.com,Di,no\n\
         ,eve@acme-example.com,Eve,yes\n",
    )
    .unwrap();
    let path = csv.display().to_string();
    let mut env = app::worker_env(&db.url, None);
    env.push((
        app::setting_var("referrals.careers_base_url"),
        CAREERS_BASE_URL.to_owned(),
    ));

    let mut import = app::spawn_process(&["employees", "import", &path], env.clone());
    let status = import.wait_exit(Duration::from_secs(60)).await;
    let (stdout, stderr) = (import.stdout(), import.stderr());
    assert!(!status.success(), "bad rows must fail the import: {stderr}");
    for line in [3, 4, 6] {
        assert!(
            stderr.contains(&format!("{path}:{line}:")),
            "line {line} not reported:\n{stderr}"
        );
    }
    for line in [2, 5] {
        assert!(!stderr.contains(&format!("{path}:{line}:")), "{stderr}");
    }
    assert!(stdout.contains("2 created"), "{stdout}");
    let mut imported: Vec<(String, String, bool)> = employees(&db.conn)
        .await
        .into_iter()
        .map(|e| (e.employee_id, e.email, e.active))
        .collect();
    imported.sort();
    assert_eq!(
        imported,
        vec![
            ("E-1".to_owned(), "ada@acme-example.com".to_owned(), true),
            ("E-4".to_owned(), "di@acme-example.com".to_owned(), false),
        ]
    );

    let mut create = app::spawn_process(
        &["links", "create", "--employee", "E-1", "--job", "J-42"],
        env.clone(),
    );
    let status = create.wait_exit(Duration::from_secs(60)).await;
    let stdout = create.stdout();
    assert!(status.success(), "{}\n{}", stdout, create.stderr());
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    let token = field("token:");
    assert!(token.starts_with("rt_"), "{token}");
    assert_eq!(
        field("url:"),
        format!("{CAREERS_BASE_URL}/jobs/J-42?ref={token}")
    );
    let row = link_row(&db.conn, &token)
        .await
        .expect("the link is stored");
    assert_eq!(row.employee_id, "E-1");
    assert_eq!(row.job_id, "J-42");

    // An inactive employee cannot mint.
    let mut refused = app::spawn_process(
        &["links", "create", "--employee", "E-4", "--job", "J-42"],
        env,
    );
    let status = refused.wait_exit(Duration::from_secs(60)).await;
    assert!(!status.success());
    assert!(refused.stderr().contains("active"), "{}", refused.stderr());

    drop((import, create, refused));
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_database().await;
}
