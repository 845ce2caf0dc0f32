//! Referral capture end to end over HTTP (issue 3): links, employees, the
//! sample payloads, candidate dedup, every attribution rule, ATS write-back
//! against fake Harvest and Lever servers, out-of-order deliveries, merges,
//! deletions and anonymisation, and storage outages.
//!
//! Every test drives the running app through its HTTP surface (or the real
//! binary for the CLI) and reads the rows it wrote; nothing is mocked but
//! the ATS APIs, which are real local HTTP servers.

use std::time::Duration;

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    inbox::{InboxStatus, Verification},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use queue::{JobFilter, JobState};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{
    app::{self, Setup, TestApp},
    fixtures::{
        self, CAREERS_BASE_URL, CAREERS_SITE_SECRET, CareersApplication, FakeGreenhouse,
        GreenhouseApplication, LEVER_KEY, OTHER_CAREERS_SITE_SECRET, SwitchProxy, accepted,
        application_by_ats_id, applications, audit, audit_with, candidate_ats_ids, candidates,
        careers_site_headers, employees, inbox_rows, job, lever_body, link_row, mint_link,
        mint_link_with, payload, post_careers_site, post_greenhouse, post_greenhouse_sample,
        post_lever, post_lever_sample, processed, put_employee, redis_socket_addr, referrals,
        sample, seed_link, spawn_capture_app, spawn_capture_app_with, submit, time, tokens, unique,
        wait_inbox, wait_until,
    },
};
use worker::config::{RetryOverride, SecretUrl};

mod dedup;
mod links;
mod order;
mod outages;
mod rules;
mod samples;
mod vendors;

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// The samples' Greenhouse application and candidate, as v3's integer ids.
const GH_APPLICATION_ID: u64 = 120_450_001;
const GH_CANDIDATE_ID: u64 = 90_077_001;

/// Every Harvest call went out as v3 does it: a bearer token minted at the
/// token endpoint with the test credential (the fake refuses any other
/// with 401, and refused none), never v1's Basic key or `On-Behalf-Of`.
fn assert_v3_auth(fake: &FakeGreenhouse) {
    let seen = fake.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "POST" && s.path == "/token"),
        "{:?}",
        fake.summary()
    );
    for s in &seen {
        assert_eq!(s.header("on-behalf-of"), None, "{s:?}");
        if s.path.starts_with("/v3/") {
            let auth = s.header("authorization").unwrap_or_default();
            assert!(auth.starts_with("Bearer "), "{s:?}");
        }
    }
    assert_eq!(fake.harvest.unauthorized(), 0, "{:?}", fake.summary());
}

/// `Authorization: Basic base64(key:)`, as the ATS clients send it.
fn basic(key: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{key}:").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// An `/api` call with any method, token and body; the status and JSON body.
async fn api_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.expect("an answer");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an error answer: status, `error` code and a `detail` naming `detail`.
fn assert_error(got: &(StatusCode, Value), status: StatusCode, error: &str, detail: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let d = body["detail"].as_str().unwrap_or_default();
    assert!(d.contains(detail), "detail {d:?} does not name {detail:?}");
}

/// The referrals of the application with ATS id `ats_application_id`.
async fn referrals_of(db: &DatabaseConnection, ats_application_id: &str) -> Vec<referral::Model> {
    let app = application_by_ats_id(db, ats_application_id)
        .await
        .unwrap_or_else(|| panic!("no application {ats_application_id}"));
    referrals(db)
        .await
        .into_iter()
        .filter(|r| r.application_id == Some(app.id))
        .collect()
}

/// The single referral of an application.
async fn only_referral(db: &DatabaseConnection, ats_application_id: &str) -> referral::Model {
    let mut refs = referrals_of(db, ats_application_id).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    refs.remove(0)
}

/// Submits a careers-site application and waits until it is processed.
async fn apply(app: &TestApp, a: &CareersApplication) -> application::Model {
    processed(app, submit(app, a).await).await;
    application_by_ats_id(&app.state.db, &a.submission_id)
        .await
        .expect("the application is recorded")
}

fn no_redirects() -> reqwest::Client {
    tests::app::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// A client that outlives the app's database acquire timeout (10 s).
fn patient_client() -> reqwest::Client {
    tests::app::client_builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("a client")
}

async fn send_careers(
    client: &reqwest::Client,
    app: &TestApp,
    secret: &str,
    msg_id: &str,
    body: &[u8],
) -> reqwest::Response {
    let mut req = client
        .post(app.url("/webhooks/applications"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in careers_site_headers(secret, msg_id, Utc::now().timestamp(), body) {
        req = req.header(k, v);
    }
    req.send().await.expect("an answer")
}

/// A Greenhouse event body built from an application's JSON with `action`.
fn greenhouse_event(a: &GreenhouseApplication, action: &str) -> Vec<u8> {
    let mut v = a.json();
    v["action"] = json!(action);
    serde_json::to_vec(&v).expect("serialise")
}
