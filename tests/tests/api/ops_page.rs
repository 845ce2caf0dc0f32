//! The `/ops` page end to end, in headless Chromium driven through
//! chromedriver (WebDriver, `fantoccini`): sign in with a token (a wrong
//! one is refused with a clear message), see the queue counts, the chart
//! and the dead jobs, retry one, and watch it succeed. Plus the page's
//! headers and the throughput endpoint over plain HTTP.
//!
//! The browser harness is `tests::browser` (Debian's `chromium` and
//! `chromium-driver`; without them the test fails saying so, never skips).
//!
//! # The dead job that a retry fixes
//!
//! A `probe` that fails its first attempt does not do: an ops retry resets
//! the job's attempts (`QueueStore::retry`), so the retried probe is on its
//! "first" attempt again and fails the same way. What a retry is for is a
//! job that died of a cause that has since gone away. Here: a
//! `deliver_message` job whose outbox row did not exist when it ran dies at
//! once (a permanent error); the row is then written (already delivered,
//! so nothing is sent), and the retry succeeds.

use fantoccini::{Client, Locator};
use queue::JobState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{
    app::{Setup, TestApp},
    browser::{in_browser, text_of, wait_for, wait_text},
    fixtures::{
        audit_with, dead_jobs_one_fixable, enqueue_once, instant_probe, job, spawn_capture_app,
        tokens, wait_job_state,
    },
};

/// The message id the dying `deliver_message` job names (no row has it:
/// the app has no notification channels, so it never stages one).
const MESSAGE_ID: i64 = 9_001;

/// What the operator does, in the browser.
async fn drive(app: &TestApp, c: &Client, fixable: &str, hopeless: &str) {
    c.goto(&app.url("/ops")).await.expect("open /ops");
    assert_eq!(
        c.title().await.expect("title"),
        "referral-worker · ops",
        "the page loaded"
    );

    // A wrong token is refused with a clear message, and nothing is shown.
    let field = wait_for(c, "#token").await;
    field.send_keys("not-a-real-token").await.expect("type");
    c.find(Locator::Css("#signin-button"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("click");
    let refused = wait_text(c, "#signin-error", "the refusal", |t| !t.is_empty()).await;
    assert!(
        refused.contains("403") && refused.contains("unknown token"),
        "{refused}"
    );
    let hidden: Value = c
        .execute(
            "return document.getElementById('dashboard').hidden;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(hidden, json!(true), "nothing is shown to a refused token");
    let stored: Value = c
        .execute(
            "return sessionStorage.getItem('referral-worker.ops.token');",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(stored, Value::Null, "a refused token is not kept");

    // The right one signs in; it is kept in this tab's sessionStorage only.
    field.clear().await.expect("clear");
    field.send_keys(tokens::OPS).await.expect("type");
    c.find(Locator::Css("#signin-button"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("click");
    let stored: Value = c
        .execute(
            "return [sessionStorage.getItem('referral-worker.ops.token'), \
             localStorage.length, document.cookie];",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(stored, json!([tokens::OPS, 0, ""]));

    // Queue counts: two dead jobs.
    wait_text(
        c,
        "#queue-table tr[data-state=\"dead\"] td.count",
        "two dead jobs in the counts",
        |t| t == "2",
    )
    .await;
    for state in JobState::ALL {
        wait_for(c, &format!("#queue-table tr[data-state=\"{state}\"]")).await;
    }

    // The chart, with this hour's deaths, and the retention it is read from.
    wait_for(c, "#chart svg#throughput-chart").await;
    let bars = c
        .find_all(Locator::Css("#throughput-chart g.hour"))
        .await
        .expect("bars");
    assert_eq!(bars.len(), 24, "one group per hour");
    wait_text(c, "#throughput-totals", "the deaths in the totals", |t| {
        t.contains("2 dead")
    })
    .await;
    let retention = text_of(c, "#retention").await;
    assert!(
        retention.contains("retained for 1day (succeeded) and 30days (dead)"),
        "{retention}"
    );

    // Both dead jobs are listed, with kind, error and attempts.
    let row = format!("#dead-table tr[data-job-id=\"{fixable}\"]");
    wait_for(c, &row).await;
    wait_for(c, &format!("#dead-table tr[data-job-id=\"{hopeless}\"]")).await;
    let cells = text_of(c, &row).await;
    assert!(cells.contains("deliver_message"), "{cells}");
    assert!(
        cells.contains(&format!("outbound message {MESSAGE_ID} does not exist")),
        "{cells}"
    );
    assert!(cells.contains("1 / 1"), "{cells}");

    // Retry it, with the prefilled reason.
    let reason = c
        .find(Locator::Css(&format!("{row} input.reason")))
        .await
        .expect("reason field")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(reason.as_deref(), Some("retried from /ops"));
    c.find(Locator::Css(&format!("{row} button.retry")))
        .await
        .expect("retry button")
        .click()
        .await
        .expect("click retry");

    // The page follows the job until it succeeds.
    let status = wait_text(c, "#status", "the retry's confirmation", |t| {
        t.contains("retried")
    })
    .await;
    assert!(
        status.contains(fixable) && status.contains("dead → ready"),
        "{status}"
    );
    let followed = format!("#retried-list li[data-job-id=\"{fixable}\"] .state");
    wait_text(c, &followed, "the retried job to succeed", |t| {
        t == "succeeded"
    })
    .await;
    // It left the dead list; the other one is still there; the counts and
    // the chart caught up.
    wait_text(c, "#dead-count", "one dead job left", |t| t == "1").await;
    assert!(
        c.find(Locator::Css(&row)).await.is_err(),
        "the retried job is no longer listed as dead"
    );
    wait_for(c, &format!("#dead-table tr[data-job-id=\"{hopeless}\"]")).await;
    wait_text(
        c,
        "#queue-table tr[data-state=\"succeeded\"] td.count",
        "one succeeded job in the counts",
        |t| t == "1",
    )
    .await;
    wait_text(c, "#throughput-totals", "the success in the chart", |t| {
        t.contains("1 succeeded") && t.contains("1 dead")
    })
    .await;

    // Stuck and payouts render (empty here).
    wait_text(c, "#stuck-count", "the stuck count", |t| !t.is_empty()).await;
    wait_text(c, "#payouts-empty", "no payouts", |t| {
        t.contains("No payout")
    })
    .await;

    // Signing out forgets the token.
    c.find(Locator::Css("#signout"))
        .await
        .expect("sign out")
        .click()
        .await
        .expect("click");
    let stored: Value = c
        .execute(
            "return sessionStorage.getItem('referral-worker.ops.token');",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(stored, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_signs_in_retries_a_dead_job_and_sees_it_succeed() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;

    // Two dead jobs: one whose cause goes away (its outbox row is written
    // after it died), one that always fails.
    let (fixable, hopeless) = dead_jobs_one_fixable(app, MESSAGE_ID).await;

    let (f, h) = (fixable.clone(), hopeless.clone());
    in_browser(|browser| async move { drive(app, &browser, &f, &h).await }).await;

    // The queue agrees, and the audit log has the retry with its reason.
    let retried = job(app, &fixable).await.expect("the job");
    assert_eq!(retried.state, JobState::Succeeded);
    assert_eq!(
        retried.errors.len(),
        1,
        "the first death stays in its history"
    );
    assert_eq!(
        job(app, &hopeless).await.expect("the other job").state,
        JobState::Dead
    );
    let audit = audit_with(&app.state.db, "job.retried").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].subject_id, fixable);
    assert_eq!(audit[0].actor, "api:ops");
    assert_eq!(
        audit[0].data["reason"], "retried from /ops",
        "{:?}",
        audit[0]
    );
    capture.cleanup().await;
}

#[tokio::test]
async fn the_page_is_served_locked_down_and_the_throughput_endpoint_checks_its_input() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;

    for (path, kind) in [
        ("/ops", "text/html"),
        ("/ops/app.js", "text/javascript"),
        ("/ops/app.css", "text/css"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        let header = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    }

    // The data needs a token with ops_read.
    let r = app.get("/api/ops/throughput").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(app.url("/api/ops/throughput"))
        .bearer_auth(tokens::LINKS)
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let get = |path: &'static str| async move {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(tokens::OPS)
            .send()
            .await
            .expect("answer");
        let status = r.status();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    for bad in [
        "/api/ops/throughput?hours=0",
        "/api/ops/throughput?hours=169",
        "/api/ops/throughput?hours=x",
        "/api/ops/throughput?hours=2&hours=3",
        "/api/ops/throughput?days=1",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains("hours")
                || body["detail"].as_str().unwrap_or("").contains("days"),
            "{bad}: {body}"
        );
    }

    // A success and a death this hour.
    let ok = enqueue_once(app, instant_probe(false)).await;
    let dead = enqueue_once(app, instant_probe(true)).await;
    wait_job_state(app, &ok, JobState::Succeeded).await;
    wait_job_state(app, &dead, JobState::Dead).await;

    let (status, body) = get("/api/ops/throughput").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hours"], 24);
    let buckets = body["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 24);
    // Both finished just now: in the current hour, or the one before when
    // the hour turned meanwhile.
    let recent: Vec<(u64, u64)> = buckets[22..]
        .iter()
        .map(|b| {
            (
                b["succeeded"].as_u64().unwrap_or(0),
                b["dead"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        recent.iter().fold((0, 0), |(s, d), (a, b)| (s + a, d + b)),
        (1, 1),
        "{body}"
    );
    assert_eq!(
        body["totals"],
        json!({"succeeded": 1, "failed": 0, "dead": 1})
    );
    assert_eq!(body["truncated"], false);
    assert_eq!(body["retention"]["succeeded"], "1day");
    assert_eq!(body["retention"]["dead_secs"], 30 * 24 * 3600);

    let (status, body) = get("/api/ops/throughput?hours=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["buckets"].as_array().map(Vec::len), Some(3));

    // It is in the OpenAPI document.
    let (_, spec) = get("/api/openapi.json").await;
    assert_eq!(
        spec["paths"]["/api/ops/throughput"]["get"]["x-scope"],
        "ops_read"
    );
    capture.cleanup().await;
}

/// `/api/docs`: Swagger UI over `/api/openapi.json`, rendered by Chromium
/// from files the binary serves itself (the browser here has no network,
/// and the test checks that every resource it loaded came from the app).
#[tokio::test]
async fn the_api_docs_render_the_document_from_the_binarys_own_files() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;

    // Over plain HTTP: the page names its assets relatively, and the
    // initializer points at our document.
    let r = app.get("/api/docs").await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let html = app.get("/api/docs/").await.text().await.expect("html");
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("://"),
        "the page names an absolute URL: {html}"
    );
    let init = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(init.status(), StatusCode::OK);
    let init = init.text().await.expect("initializer");
    assert!(init.contains("/api/openapi.json"), "{init}");
    let bundle = app.get("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);

    in_browser(|browser| async move {
        browser
            .goto(&app.url("/api/docs/"))
            .await
            .expect("open /api/docs/");
        wait_text(
            &browser,
            ".swagger-ui .info .title",
            "the document's title",
            |t| t.contains("referral-worker"),
        )
        .await;
        // An operation from each group is listed, with its summary.
        for (css, summary) in [
            (
                "#operations-ops-retry_job",
                "Run a dead, retrying or cancelled job",
            ),
            ("#operations-payouts-approve_payout", "Approve a payout"),
            ("#operations-webhooks-greenhouse", "Greenhouse webhooks"),
        ] {
            wait_text(&browser, css, summary, |t| t.contains(summary)).await;
        }
        let loaded = browser
            .execute(
                "return performance.getEntriesByType('resource').map(e => e.name);",
                vec![],
            )
            .await
            .expect("resource timings");
        let loaded: Vec<String> = serde_json::from_value(loaded).expect("names");
        assert!(
            loaded.iter().any(|u| u.ends_with("/api/openapi.json")),
            "{loaded:?}"
        );
        let origin = app.url("");
        let foreign: Vec<_> = loaded.iter().filter(|u| !u.starts_with(&origin)).collect();
        assert!(foreign.is_empty(), "loaded from elsewhere: {foreign:?}");
    })
    .await;
    capture.cleanup().await;
}
