//! What the capture tests share: the sample payloads and their signatures,
//! signing our own deliveries, fake ATS APIs, API tokens, a running app wired
//! to all of that, and readers for the rows capture writes.
//!
//! # Payloads
//!
//! The files in `/work/shared/payloads` are sent byte for byte
//! ([`payload`]); `signatures.json` ([`signed`]) holds valid signatures over
//! those exact bytes and the secrets behind them. The careers-site sample
//! has no recorded signature, so the tests sign it themselves with
//! [`CAREERS_SITE_SECRET`] (Standard Webhooks, through the
//! `standardwebhooks` crate, i.e. a second implementation).
//!
//! # The ATS
//!
//! [`FakeAts`] is a real axum server on `127.0.0.1:0` that records every
//! request and answers with a test's responder. [`FakeGreenhouse`] plays
//! Harvest v3 (`vendors::greenhouse`), [`FakeLever`] answers `GET
//! /opportunities/:id` from a map the test fills.
//!
//! # The app
//!
//! [`spawn_capture_app`] starts the service (see [`crate::app`]) with every
//! webhook secret, API tokens for each scope, both ATS clients pointed at the
//! fakes and quick retries, so tests wait on rows instead of sleeping.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, Utc};
use entities::{
    application, audit_event, candidate, candidate_ats_id, employee,
    inbox::{self, InboxStatus},
    payout, referral, referral_link,
};
use hmac::{Hmac, KeyInit, Mac};
use queue::{JobId, JobInfo, JobState};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker::config::{ApiToken, RetryOverride, Scope, Secret, Settings};

use crate::{
    app::{Setup, TestApp, spawn_app_with},
    queue::eventually,
};

// ---------------------------------------------------------------------------
// Payloads and signatures
// ---------------------------------------------------------------------------

/// The careers-site sample.
pub const CAREERS_SITE_SAMPLE: &str = "careers_site_application_submitted.json";
/// Greenhouse `new_candidate_application` sample.
pub const GH_NEW_APPLICATION: &str = "greenhouse_new_candidate_application.json";
/// Greenhouse `candidate_stage_change` to "Offer".
pub const GH_STAGE_CHANGE: &str = "greenhouse_candidate_stage_change.json";
/// Greenhouse `candidate_stage_change` to "Hired".
pub const GH_STAGE_CHANGE_HIRED: &str = "greenhouse_candidate_stage_change_hired.json";
/// Greenhouse `hire_candidate`.
pub const GH_HIRE: &str = "greenhouse_hire_candidate.json";
/// Greenhouse `merge_candidate` (90077555 into 90077001).
pub const GH_MERGE: &str = "greenhouse_merge_candidate.json";
/// Lever `candidateStageChange`.
pub const LEVER_STAGE_CHANGE: &str = "lever_candidateStageChange.json";
/// Lever `candidateHired`.
pub const LEVER_HIRED: &str = "lever_candidateHired.json";

/// Facts the samples share (they all describe one candidacy).
pub mod sample {
    /// The referral token the samples carry (`tracking.ref`, custom field).
    pub const TOKEN: &str = "rt_7Q2MZK4P9XW3HD";
    /// The referrer Greenhouse credits (`credited_to.employee_id`).
    pub const REFERRER: &str = "E-10442";
    /// Her work email (`credited_to.email`).
    pub const REFERRER_EMAIL: &str = "priya.raman@acme-example.com";
    /// The Greenhouse job.
    pub const JOB: &str = "4012345";
    /// The Greenhouse application.
    pub const GH_APPLICATION: &str = "120450001";
    /// The Greenhouse candidate.
    pub const GH_CANDIDATE: &str = "90077001";
    /// The candidate merged into [`GH_CANDIDATE`] by the merge sample.
    pub const GH_MERGED_CANDIDATE: &str = "90077555";
    /// The careers-site submission.
    pub const SUBMISSION: &str = "sub_01JB7Y3K9Q2W5E8R1T4Y6U0I3O";
    /// The careers-site email, exactly as sent (untrimmed, mixed case).
    pub const CAREERS_EMAIL_RAW: &str = " Jose.Almeida+jobs@Example.org ";
    /// The canonical email of the candidate.
    pub const EMAIL_CANONICAL: &str = "jose.almeida+jobs@example.org";
    /// The candidate's phone in E.164.
    pub const PHONE_E164: &str = "+493012345678";
    /// The Lever opportunity both Lever samples name.
    pub const LEVER_OPPORTUNITY: &str = "3f1e0c2a-7b6d-4e59-9a8b-1c2d3e4f5a6b";
    /// The Lever contact both Lever samples name.
    pub const LEVER_CONTACT: &str = "b7c6d5e4-f3a2-4b1c-9d8e-7f6a5b4c3d2e";
}

/// `/work/shared/payloads`, relative to this crate: the shared, read-only
/// samples (Greenhouse, Lever, careers site).
pub fn payload_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/payloads")
}

/// `tests/payloads` in this repository: the samples of vendors added since
/// (Ashby), in the same layout, with their own `signatures.json`.
pub fn repo_payload_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("payloads")
}

/// The folder holding payload file `name`: this repository's first.
fn dir_of(name: &str) -> PathBuf {
    let repo = repo_payload_dir();
    if repo.join(name).is_file() {
        repo
    } else {
        payload_dir()
    }
}

/// The exact bytes of payload file `name`.
///
/// # Panics
/// If it cannot be read.
pub fn payload(name: &str) -> Vec<u8> {
    let path = dir_of(name).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Payload `name` as JSON (to build variants of it; send [`payload`] for
/// the sample itself).
pub fn payload_json(name: &str) -> Value {
    serde_json::from_slice(&payload(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What `signatures.json` records for one payload file.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The headers of the recorded delivery, as given.
    pub headers: Vec<(String, String)>,
    /// `secret` (Greenhouse, Standard Webhooks), if any.
    pub secret: Option<String>,
    /// `signature_token` (Lever), if any.
    pub signature_token: Option<String>,
}

impl Signed {
    /// Header `name` (any case), if recorded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `signatures.json` entry for payload file `name`.
///
/// # Panics
/// If there is none.
pub fn signed(name: &str) -> Signed {
    let path = dir_of(name).join("signatures.json");
    let all: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .expect("signatures.json");
    let entry = all
        .get(name)
        .unwrap_or_else(|| panic!("signatures.json has no entry for {name}"));
    let headers = entry["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
    Signed {
        headers,
        secret: text("secret"),
        signature_token: text("signature_token"),
    }
}

/// The Greenhouse secret the samples are signed with.
pub fn greenhouse_secret() -> String {
    signed(GH_NEW_APPLICATION)
        .secret
        .expect("signatures.json gives the Greenhouse secret")
}

/// The Lever signature token the samples are signed with.
pub fn lever_signature_token() -> String {
    signed(LEVER_STAGE_CHANGE)
        .signature_token
        .expect("signatures.json gives the Lever signature token")
}

/// Our careers site's Standard Webhooks secret in these tests (32 bytes).
/// `signatures.json` records no signature for the careers-site sample, so
/// the tests sign it themselves.
pub const CAREERS_SITE_SECRET: &str = "whsec_Y2FyZWVycy1zaXRlLXRlc3Qtb25seS1zZWNyZXQhIQ==";

/// A `whsec_` secret that is not the configured one.
pub const OTHER_CAREERS_SITE_SECRET: &str = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";

/// Standard Webhooks headers for `body` (lower-case names).
///
/// # Panics
/// If the secret is not a `whsec_` secret.
pub fn careers_site_headers(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let signature = standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .sign(msg_id, timestamp, body)
        .expect("sign");
    vec![
        ("webhook-id".into(), msg_id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// `Signature` header value for a Greenhouse delivery of `body`.
pub fn greenhouse_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256 {}", hmac_hex(secret.as_bytes(), &[body]))
}

/// Lever's `signature`: hex HMAC over `token + triggeredAt`.
pub fn lever_signature(signature_token: &str, token: &str, triggered_at_ms: i64) -> String {
    hmac_hex(
        signature_token.as_bytes(),
        &[token.as_bytes(), triggered_at_ms.to_string().as_bytes()],
    )
}

/// A signed Lever delivery of `event` about `opportunity_id`, triggered now,
/// with a fresh random token.
pub fn lever_body(event: &str, opportunity_id: &str) -> Value {
    let token = format!(
        "{}{}",
        ulid::Ulid::generate().to_string().to_lowercase(),
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let now = Utc::now().timestamp_millis();
    json!({
        "id": ulid::Ulid::generate().to_string(),
        "triggeredAt": now,
        "event": event,
        "data": { "opportunityId": opportunity_id, "contactId": "contact-x" },
        "signature": lever_signature(&lever_signature_token(), &token, now),
        "token": token,
    })
}

/// A fresh unique id with a prefix, for delivery and submission ids.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// RFC 3339 with milliseconds, as the careers site writes timestamps.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The instant an RFC 3339 text names, in UTC.
///
/// # Panics
/// If `text` is not RFC 3339 (a typo in the test).
pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

/// A careers-site `application.submitted` body.
#[derive(Debug, Clone)]
pub struct CareersApplication {
    /// `submission_id`.
    pub submission_id: String,
    /// `job.ats_job_id`.
    pub job_id: String,
    /// `applicant.email`, raw.
    pub email: Option<String>,
    /// `applicant.phone`, raw.
    pub phone: Option<String>,
    /// `applicant.phone_country_hint`.
    pub phone_hint: Option<String>,
    /// `tracking.ref`.
    pub referral: Option<String>,
    /// `submitted_at`.
    pub submitted_at: DateTime<Utc>,
}

impl CareersApplication {
    /// An application to `job_id` by `email`, submitted now, no referral.
    pub fn new(job_id: &str, email: &str) -> Self {
        Self {
            submission_id: unique("sub_"),
            job_id: job_id.into(),
            email: Some(email.into()),
            phone: None,
            phone_hint: None,
            referral: None,
            submitted_at: Utc::now(),
        }
    }

    /// Phone only, no email.
    pub fn by_phone(job_id: &str, phone: &str, hint: Option<&str>) -> Self {
        Self {
            email: None,
            phone: Some(phone.into()),
            phone_hint: hint.map(str::to_owned),
            ..Self::new(job_id, "unused@example.org")
        }
    }

    /// With `?ref=token`.
    pub fn referred_by(mut self, token: &str) -> Self {
        self.referral = Some(token.into());
        self
    }

    /// Submitted at `at`.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.submitted_at = at;
        self
    }

    /// With a phone.
    pub fn phone(mut self, phone: &str, hint: Option<&str>) -> Self {
        self.phone = Some(phone.into());
        self.phone_hint = hint.map(str::to_owned);
        self
    }

    /// The JSON body.
    pub fn json(&self) -> Value {
        json!({
            "type": "application.submitted",
            "submission_id": self.submission_id,
            "submitted_at": rfc3339(self.submitted_at),
            "job": { "ats": "greenhouse", "ats_job_id": self.job_id, "title": "Engineer", "location": "Berlin, Germany" },
            "tracking": { "ref": self.referral, "ref_source": "query" },
            "applicant": {
                "first_name": "Test",
                "last_name": "Applicant",
                "email": self.email,
                "phone": self.phone,
                "phone_country_hint": self.phone_hint,
            },
            "consent": { "processing": true },
        })
    }

    /// The body bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json()).expect("serialise")
    }
}

/// A Greenhouse application event body (`new_candidate_application` unless
/// changed), shaped like the samples.
#[derive(Debug, Clone)]
pub struct GreenhouseApplication {
    /// `action`.
    pub action: String,
    /// `application.id`.
    pub application_id: u64,
    /// `application.candidate.id`.
    pub candidate_id: u64,
    /// `application.jobs[0].id`.
    pub job_id: u64,
    /// The personal email.
    pub email: Option<String>,
    /// The mobile phone.
    pub phone: Option<String>,
    /// The `referral_token` custom field.
    pub token: Option<String>,
    /// `credited_to.employee_id`.
    pub credited_to: Option<String>,
    /// `applied_at`.
    pub applied_at: DateTime<Utc>,
    /// `status`.
    pub status: String,
    /// `current_stage.name`.
    pub stage: String,
    /// `last_activity_at`, which orders Greenhouse's events; `None`: the
    /// moment the body is made (as Greenhouse stamps each event when it
    /// happens), from [`event_time`].
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// A time for the next vendor event a test makes: now, to the
/// microsecond, and always later than the one before (two events made in
/// the same microsecond would be equal, and the later one stale).
pub fn event_time() -> DateTime<Utc> {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = Utc::now().timestamp_micros();
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return DateTime::from_timestamp_micros(next).expect("a time"),
            Err(seen) => prev = seen,
        }
    }
}

impl GreenhouseApplication {
    /// A new application, applied now, active, no referral.
    pub fn new(application_id: u64, candidate_id: u64, job_id: u64, email: &str) -> Self {
        Self {
            action: "new_candidate_application".into(),
            application_id,
            candidate_id,
            job_id,
            email: Some(email.into()),
            phone: None,
            token: None,
            credited_to: None,
            applied_at: Utc::now(),
            status: "active".into(),
            stage: "Application Review".into(),
            last_activity_at: None,
        }
    }

    /// Credited in Greenhouse to `employee_id`.
    pub fn credited_to(mut self, employee_id: &str) -> Self {
        self.credited_to = Some(employee_id.into());
        self
    }

    /// Carrying our token in the `referral_token` custom field.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The JSON body.
    pub fn json(&self) -> Value {
        let credited = self.credited_to.as_ref().map(|e| {
            json!({ "id": 4410099, "email": "someone@acme-example.com", "name": "Someone", "employee_id": e })
        });
        let custom = match &self.token {
            Some(t) => {
                json!({ "referral_token": { "name": "Referral Token", "type": "short_text", "value": t } })
            }
            None => json!({}),
        };
        let emails: Vec<Value> = self
            .email
            .iter()
            .map(|e| json!({ "value": e, "type": "personal" }))
            .collect();
        let phones: Vec<Value> = self
            .phone
            .iter()
            .map(|p| json!({ "value": p, "type": "mobile" }))
            .collect();
        json!({
            "action": self.action,
            "payload": { "application": {
                "id": self.application_id,
                "prospect": false,
                "status": self.status,
                "applied_at": self.applied_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "last_activity_at": self
                    .last_activity_at
                    .unwrap_or_else(event_time)
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
                "source": { "id": 77, "name": "Referral" },
                "credited_to": credited,
                "current_stage": { "id": 3300101, "name": self.stage },
                "custom_fields": custom,
                "candidate": {
                    "id": self.candidate_id,
                    "first_name": "Test",
                    "last_name": "Candidate",
                    "email_addresses": emails,
                    "phone_numbers": phones,
                },
                "jobs": [{
                    "id": self.job_id,
                    "name": "Engineer",
                    "requisition_id": "REQ-1",
                    "departments": [{ "id": 1, "name": "Engineering" }],
                    "offices": [{ "id": 2, "name": "Berlin" }],
                }],
            }},
        })
    }

    /// The body bytes.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json()).expect("serialise")
    }
}

// ---------------------------------------------------------------------------
// Fake ATS servers
// ---------------------------------------------------------------------------

/// One request a fake ATS received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, e.g. `/v1/applications/12`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Seen {
    /// Header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`null` when empty).
    ///
    /// # Panics
    /// If it is not JSON.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What a fake ATS answers: status, extra headers, JSON body.
pub type Reply = (u16, Vec<(&'static str, String)>, Value);

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
struct FakeState {
    seen: Arc<Mutex<Vec<Seen>>>,
    responder: Responder,
}

/// A real HTTP server playing an ATS API.
pub struct FakeAts {
    /// Its API base URL, `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl FakeAts {
    /// Starts a server answering every request with `responder`.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start(responder: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static) -> Self {
        Self::start_with_headers(move |seen| {
            let (status, body) = responder(seen);
            (status, Vec::new(), body)
        })
        .await
    }

    /// Starts a server whose responder also chooses response headers
    /// (`Retry-After`, `X-RateLimit-*`).
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start_with_headers(
        responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            seen: seen.clone(),
            responder: Arc::new(responder),
        };
        let router = axum::Router::new().fallback(fake_handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake ATS");
        let addr = listener.local_addr().expect("fake ATS address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            seen,
            task,
        }
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The requests with `method` whose path is `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.path == path)
            .collect()
    }

    /// Compact `METHOD path` lines, for assertion messages.
    pub fn summary(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect()
    }
}

impl Drop for FakeAts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_handle(
    axum::extract::State(state): axum::extract::State<FakeState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
        at: std::time::Instant::now(),
    };
    let (status, headers, reply) = (state.responder)(&seen);
    state.seen.lock().expect("lock").push(seen);
    let mut response = (
        axum::http::StatusCode::from_u16(status).expect("a status code"),
        axum::Json(reply),
    )
        .into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    response
}

pub use crate::vendors::{greenhouse::FakeGreenhouse, lever::FakeLever};

/// `opportunity` archived by Lever as hired (for the fake account's
/// `hired` archive reason): what a hire is in Lever.
pub fn lever_hired(opportunity: Value) -> Value {
    crate::vendors::lever::archived(opportunity, crate::vendors::lever::HIRED_REASON, Utc::now())
}

/// A Lever opportunity as the API returns it (`data` of `GET
/// /opportunities/:id?expand=applications&expand=stage`).
pub fn lever_opportunity(
    id: &str,
    contact: &str,
    email: &str,
    stage: &str,
    posting: &str,
    created_at: DateTime<Utc>,
) -> Value {
    json!({
        "id": id,
        "name": "José Almeida-Test",
        "contact": contact,
        "emails": [email],
        "phones": [{ "type": "mobile", "value": "+49 30 1234 5678" }],
        "stage": { "id": format!("stage-{stage}"), "text": stage },
        "origin": "applied",
        "sources": [],
        "tags": [],
        "applications": [{ "id": "lever-app-1", "type": "posting", "posting": posting, "user": null }],
        "createdAt": created_at.timestamp_millis(),
        "archived": null,
    })
}

// ---------------------------------------------------------------------------
// Configuration and the app
// ---------------------------------------------------------------------------

/// Bearer tokens configured by [`configure_capture`], one per caller.
pub mod tokens {
    /// The referral portal: scope `links`.
    pub const LINKS: &str = "portal-token-0123456789abcdef";
    /// The HRIS sync: scope `employees`.
    pub const EMPLOYEES: &str = "hris-token-0123456789abcdef";
    /// Ops: `ops_read` and `ops_admin`.
    pub const OPS: &str = "ops-token-0123456789abcdef";
    /// The data-protection officer: scope `privacy`.
    pub const PRIVACY: &str = "dpo-token-0123456789abcdef";
}

/// The Lever API key in tests.
pub const LEVER_KEY: &str = "lever-test-key";
/// Where share URLs point.
pub const CAREERS_BASE_URL: &str = "https://careers.acme-example.com";

/// `lever_max_age` in tests: the Lever samples were triggered in October
/// 2025, so the default of one day would refuse them as stale. Ten years
/// accepts them (freshness itself is tested with the default).
pub const LEVER_SAMPLE_MAX_AGE: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Everything capture needs: webhook secrets, API tokens, ATS clients (when
/// given base URLs), quick retries for `process_delivery` and
/// `write_back_referral`.
pub fn configure_capture(s: &mut Settings, harvest: Option<&FakeGreenhouse>, lever: Option<&str>) {
    s.webhooks.careers_site_secret = Secret::new(CAREERS_SITE_SECRET);
    s.webhooks.greenhouse_secret = Secret::new(greenhouse_secret());
    s.webhooks.lever_signature_token = Secret::new(lever_signature_token());
    s.webhooks.lever_max_age = LEVER_SAMPLE_MAX_AGE;
    s.ats.ashby.webhook_secret = Secret::new(crate::ashby::ashby_secret());
    s.ats.workable.webhook_secret = Secret::new(crate::vendors::workable::WORKABLE_SECRET);
    s.ats.smartrecruiters.webhook_secret = Secret::new(crate::vendors::smartrecruiters::SR_SECRET);
    s.api.tokens = vec![
        ApiToken {
            name: "referral-portal".into(),
            token: Secret::new(tokens::LINKS),
            scopes: vec![Scope::Links],
        },
        ApiToken {
            name: "hris-sync".into(),
            token: Secret::new(tokens::EMPLOYEES),
            scopes: vec![Scope::Employees],
        },
        ApiToken {
            name: "ops".into(),
            token: Secret::new(tokens::OPS),
            scopes: vec![Scope::OpsRead, Scope::OpsAdmin],
        },
        ApiToken {
            name: "dpo".into(),
            token: Secret::new(tokens::PRIVACY),
            scopes: vec![Scope::Privacy],
        },
    ];
    s.referrals.careers_base_url = CAREERS_BASE_URL.into();
    if let Some(fake) = harvest {
        crate::vendors::greenhouse::configure(s, &fake.base_url(), &fake.token_url());
    }
    if let Some(url) = lever {
        s.ats.lever.base_url = url.into();
        s.ats.lever.api_key = Secret::new(LEVER_KEY);
        s.ats.lever.requests_per_second = 100;
    }
    let quick = RetryOverride {
        max_attempts: Some(200),
        base_delay: Some(Duration::from_millis(50)),
        max_delay: Some(Duration::from_millis(250)),
    };
    s.queue
        .kinds
        .insert("process_delivery".into(), quick.clone());
    s.queue.kinds.insert("write_back_referral".into(), quick);
    s.queue.poll_interval = Duration::from_millis(50);
}

/// A running app wired to a fake Harvest and a fake Lever.
pub struct CaptureApp {
    /// The app.
    pub app: TestApp,
    /// Fake Greenhouse Harvest v3.
    pub harvest: FakeGreenhouse,
    /// Fake Lever.
    pub lever: FakeLever,
}

impl CaptureApp {
    /// Its database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.app.state.db
    }

    /// Stops the app and deletes its database and keys.
    pub async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

/// Starts the app on `setup` with [`configure_capture`] against fresh fake
/// ATS servers, then `configure`.
pub async fn spawn_capture_app(setup: Setup, configure: impl FnOnce(&mut Settings)) -> CaptureApp {
    spawn_capture_app_with(setup, FakeGreenhouse::start().await, configure).await
}

/// [`spawn_capture_app`] with a Harvest of the test's own.
pub async fn spawn_capture_app_with(
    setup: Setup,
    harvest: FakeGreenhouse,
    configure: impl FnOnce(&mut Settings),
) -> CaptureApp {
    let lever = FakeLever::start().await;
    let l = lever.ats.base_url.clone();
    let app = spawn_app_with(setup, |s| {
        configure_capture(s, Some(&harvest), Some(&l));
        configure(s);
    })
    .await;
    CaptureApp {
        app,
        harvest,
        lever,
    }
}

// ---------------------------------------------------------------------------
// Talking to the app
// ---------------------------------------------------------------------------

/// Sends `POST path` with exactly `body` and `headers`.
///
/// # Panics
/// If no response arrives.
pub async fn post_raw(
    app: &TestApp,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn json_content_type() -> (String, String) {
    ("content-type".into(), "application/json".into())
}

/// Delivers a careers-site body signed now with [`CAREERS_SITE_SECRET`]
/// under webhook-id `msg_id`.
pub async fn post_careers_site(app: &TestApp, msg_id: &str, body: &[u8]) -> reqwest::Response {
    let mut headers =
        careers_site_headers(CAREERS_SITE_SECRET, msg_id, Utc::now().timestamp(), body);
    headers.push(json_content_type());
    post_raw(app, "/webhooks/applications", &headers, body.to_vec()).await
}

/// Delivers a careers-site application under a fresh webhook-id.
pub async fn submit(app: &TestApp, application: &CareersApplication) -> reqwest::Response {
    post_careers_site(app, &unique("msg_"), &application.body()).await
}

/// Delivers a Greenhouse body signed with the samples' secret.
pub async fn post_greenhouse(app: &TestApp, event_id: &str, body: &[u8]) -> reqwest::Response {
    let headers = vec![
        json_content_type(),
        ("greenhouse-event-id".into(), event_id.into()),
        (
            "signature".into(),
            greenhouse_signature(&greenhouse_secret(), body),
        ),
    ];
    post_raw(app, "/webhooks/greenhouse", &headers, body.to_vec()).await
}

/// Delivers a Greenhouse sample exactly as recorded: its bytes and the
/// headers from `signatures.json`.
pub async fn post_greenhouse_sample(app: &TestApp, name: &str) -> reqwest::Response {
    post_raw(
        app,
        "/webhooks/greenhouse",
        &signed(name).headers,
        payload(name),
    )
    .await
}

/// Delivers a Lever body (the signature travels inside it).
pub async fn post_lever(app: &TestApp, body: &[u8]) -> reqwest::Response {
    post_raw(
        app,
        "/webhooks/lever",
        &[json_content_type()],
        body.to_vec(),
    )
    .await
}

/// Delivers a Lever sample's exact bytes with its recorded headers.
pub async fn post_lever_sample(app: &TestApp, name: &str) -> reqwest::Response {
    post_raw(app, "/webhooks/lever", &signed(name).headers, payload(name)).await
}

/// What a `202` from a webhook endpoint said.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The inbox row.
    pub inbox_id: i64,
    /// The processing job.
    pub job_id: String,
}

/// Asserts a `202 {"status":"accepted"}` and returns its ids.
///
/// # Panics
/// On any other answer, with the body.
pub async fn accepted(response: reqwest::Response) -> Accepted {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "accepted", "{body}");
    Accepted {
        inbox_id: body["inbox_id"].as_i64().expect("inbox_id"),
        job_id: body["job_id"].as_str().expect("job_id").to_owned(),
    }
}

/// An authenticated `/api` request.
pub async fn api_post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Creates (or updates) an employee through `POST /api/employees`.
///
/// # Panics
/// Unless the answer is 200 or 201.
pub async fn put_employee(app: &TestApp, employee_id: &str, email: &str, active: bool) {
    let response = api_post(
        app,
        "/api/employees",
        tokens::EMPLOYEES,
        json!({ "employee_id": employee_id, "email": email, "name": format!("Employee {employee_id}"), "active": active }),
    )
    .await;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status == reqwest::StatusCode::CREATED || status == reqwest::StatusCode::OK,
        "POST /api/employees {employee_id}: {status} {body}"
    );
}

/// A Greenhouse application credited to `referrer` (created active), then
/// hired, announced twice as Greenhouse fans a hire out
/// (`candidate_stage_change` to Hired and `hire_candidate`); each delivery
/// is processed before the next. Returns the application's builder, to
/// send later events about it.
pub async fn credited_hire(
    app: &TestApp,
    referrer: &str,
    application: GreenhouseApplication,
) -> GreenhouseApplication {
    put_employee(
        app,
        referrer,
        &format!("{}@acme-example.com", referrer.to_lowercase()),
        true,
    )
    .await;
    let gh = application.credited_to(referrer);
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    announce_hire(app, &gh).await;
    gh
}

/// Greenhouse application `gh` hired, announced twice as Greenhouse fans a
/// hire out (`candidate_stage_change` to Hired and `hire_candidate`); each
/// delivery is processed before the next.
pub async fn announce_hire(app: &TestApp, gh: &GreenhouseApplication) {
    for action in ["candidate_stage_change", "hire_candidate"] {
        let mut e = gh.clone();
        e.action = action.into();
        e.status = "hired".into();
        e.stage = "Hired".into();
        processed(app, post_greenhouse(app, &unique("evt"), &e.body()).await).await;
    }
}

/// The `GET /api/ops/stuck` items of `kind`.
///
/// # Panics
/// Unless the answer is 200 with `items`.
pub async fn stuck_of_kind(app: &TestApp, kind: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/ops/stuck"))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("GET /api/ops/stuck");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == kind)
        .cloned()
        .collect()
}

/// Mints a link through `POST /api/referral-links` and returns its token.
///
/// # Panics
/// Unless the answer is 201.
pub async fn mint_link(app: &TestApp, employee_id: &str, job_id: &str) -> String {
    mint_link_with(app, json!({ "employee_id": employee_id, "job_id": job_id })).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// `POST /api/referral-links` with `body`; returns the 201 body.
///
/// # Panics
/// Unless the answer is 201.
pub async fn mint_link_with(app: &TestApp, body: Value) -> Value {
    let response = api_post(app, "/api/referral-links", tokens::LINKS, body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    body
}

/// Inserts a referral link row directly: for the samples' fixed token,
/// which no API call can mint.
///
/// # Panics
/// If the insert fails.
pub async fn seed_link(
    db: &DatabaseConnection,
    token: &str,
    employee_id: &str,
    job_id: &str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) {
    referral_link::ActiveModel {
        token: Set(token.into()),
        employee_id: Set(employee_id.into()),
        job_id: Set(job_id.into()),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        first_clicked_at: Set(None),
        click_count: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("seed a referral link");
}

// ---------------------------------------------------------------------------
// Reading state
// ---------------------------------------------------------------------------

/// Waiting budget for anything the app's workers do.
pub const WITHIN: Duration = Duration::from_secs(30);

/// Every row of entity `E`, by primary key.
///
/// # Panics
/// On a database error.
pub async fn all<E>(db: &DatabaseConnection) -> Vec<E::Model>
where
    E: EntityTrait,
    E::Column: sea_orm::ColumnTrait,
{
    use sea_orm::{Iterable, PrimaryKeyToColumn};
    let mut q = E::find();
    for pk in E::PrimaryKey::iter() {
        q = q.order_by_asc(pk.into_column());
    }
    q.all(db).await.expect("read rows")
}

/// All candidates.
pub async fn candidates(db: &DatabaseConnection) -> Vec<candidate::Model> {
    all::<candidate::Entity>(db).await
}

/// All applications.
pub async fn applications(db: &DatabaseConnection) -> Vec<application::Model> {
    all::<application::Entity>(db).await
}

/// All referrals.
pub async fn referrals(db: &DatabaseConnection) -> Vec<referral::Model> {
    all::<referral::Entity>(db).await
}

/// All payouts, by id.
pub async fn payouts(db: &DatabaseConnection) -> Vec<payout::Model> {
    all::<payout::Entity>(db).await
}

/// The payout row of `tranche` (`hire` or `probation`), if there is one;
/// for a test with one referral.
pub async fn find_tranche(db: &DatabaseConnection, tranche: &str) -> Option<payout::Model> {
    payouts(db).await.into_iter().find(|p| p.tranche == tranche)
}

/// The payout row of `tranche` (`hire` or `probation`); for a test with
/// one referral.
///
/// # Panics
/// If there is none.
pub async fn tranche(db: &DatabaseConnection, tranche: &str) -> payout::Model {
    find_tranche(db, tranche)
        .await
        .unwrap_or_else(|| panic!("no {tranche} tranche"))
}

/// All employees.
pub async fn employees(db: &DatabaseConnection) -> Vec<employee::Model> {
    all::<employee::Entity>(db).await
}

/// All candidate ATS ids.
pub async fn candidate_ats_ids(db: &DatabaseConnection) -> Vec<candidate_ats_id::Model> {
    all::<candidate_ats_id::Entity>(db).await
}

/// All inbox rows.
pub async fn inbox_rows(db: &DatabaseConnection) -> Vec<inbox::Model> {
    all::<inbox::Entity>(db).await
}

/// The referral link with `token`.
pub async fn link_row(db: &DatabaseConnection, token: &str) -> Option<referral_link::Model> {
    all::<referral_link::Entity>(db)
        .await
        .into_iter()
        .find(|l| l.token == token)
}

/// The application `(ats_application_id)` in any ATS.
pub async fn application_by_ats_id(
    db: &DatabaseConnection,
    ats_application_id: &str,
) -> Option<application::Model> {
    applications(db)
        .await
        .into_iter()
        .find(|a| a.ats_application_id == ats_application_id)
}

/// One audit event, `data` decoded.
#[derive(Debug, Clone)]
pub struct Audit {
    /// `attribution.credited`, ...
    pub action: String,
    /// `referral`, `application`, ...
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// The actor.
    pub actor: String,
    /// The inputs and reasons.
    pub data: Value,
}

/// Every audit event, oldest first.
pub async fn audit(db: &DatabaseConnection) -> Vec<Audit> {
    all::<audit_event::Entity>(db)
        .await
        .into_iter()
        .map(|e| Audit {
            action: e.action,
            subject_type: e.subject_type,
            subject_id: e.subject_id,
            actor: e.actor,
            data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        })
        .collect()
}

/// The audit events with `action`.
pub async fn audit_with(db: &DatabaseConnection, action: &str) -> Vec<Audit> {
    audit(db)
        .await
        .into_iter()
        .filter(|a| a.action == action)
        .collect()
}

/// The job as the queue has it.
pub async fn job(app: &TestApp, job_id: &str) -> Option<JobInfo> {
    let id = JobId::parse(job_id).ok()?;
    app.queue().get(&id).await.ok().flatten()
}

/// Writes outbox message `id`, already delivered (so its
/// `deliver_message` job `job_id` finds its work done and sends nothing):
/// what makes a job that died for want of the row succeed on a retry.
///
/// # Panics
/// If the insert fails.
pub async fn delivered_message(db: &DatabaseConnection, id: i64, job_id: &str) {
    use entities::outbound_message::{self, OutboundChannel, OutboundState};
    outbound_message::ActiveModel {
        id: Set(id),
        channel: Set(OutboundChannel::StatusSync),
        webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
        event_type: Set("referral.status_changed".into()),
        data: Set("{}".into()),
        state: Set(OutboundState::Delivered),
        attempts: Set(1),
        job_id: Set(Some(job_id.to_owned())),
        last_status_code: Set(Some(200)),
        created_at: Set(Utc::now()),
        delivered_at: Set(Some(Utc::now())),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert the outbox row");
}

/// Enqueues `new` on the app's queue; returns the job's id.
///
/// # Panics
/// If it cannot be enqueued.
pub async fn enqueue(app: &TestApp, new: queue::NewJob) -> String {
    app.state
        .queue
        .enqueue(new)
        .await
        .expect("enqueue")
        .id
        .to_string()
}

/// Enqueues `job` with a single attempt (a failure kills it at once);
/// returns its id.
///
/// # Panics
/// If it cannot be enqueued.
pub async fn enqueue_once(app: &TestApp, job: jobs::job::Job) -> String {
    let new = job
        .to_new_job(&app.state.retry)
        .expect("a job")
        .max_attempts(1);
    enqueue(app, new).await
}

/// A probe that succeeds at once, or (`dies`) fails for good at once.
pub fn instant_probe(dies: bool) -> jobs::job::Job {
    jobs::job::Job::Probe(jobs::job::Probe {
        sleep_ms: 0,
        fail_attempts: 0,
        permanent_failure: dies,
    })
}

/// Two dead jobs: a `deliver_message` for outbox message `message_id`,
/// which dies because the row does not exist yet, and a probe that always
/// fails. Then the row is written, already delivered, so a retry of the
/// first succeeds (nothing is sent) while the second would die again.
/// Returns `(fixable, hopeless)`.
///
/// An ops retry resets a job's attempts, so a probe failing its first
/// attempt would fail again: what a retry is for is a cause that has gone
/// away, as the missing row here.
pub async fn dead_jobs_one_fixable(app: &TestApp, message_id: i64) -> (String, String) {
    let fixable = enqueue_once(app, jobs::job::Job::DeliverMessage { message_id }).await;
    let hopeless = enqueue_once(app, instant_probe(true)).await;
    wait_job_state(app, &fixable, JobState::Dead).await;
    wait_job_state(app, &hopeless, JobState::Dead).await;
    delivered_message(&app.state.db, message_id, &fixable).await;
    (fixable, hopeless)
}

/// Waits until job `job_id` is in `state`.
///
/// # Panics
/// If it is not within [`WITHIN`].
pub async fn wait_job_state(app: &TestApp, job_id: &str, state: JobState) {
    wait_until(&format!("job {job_id} {state}"), || async {
        job(app, job_id).await.is_some_and(|j| j.state == state)
    })
    .await;
}

/// Waits until inbox row `inbox_id` has `status`.
///
/// # Panics
/// If it does not within [`WITHIN`], with the row and its job as last seen.
pub async fn wait_inbox(app: &TestApp, inbox_id: i64, status: InboxStatus) -> inbox::Model {
    let db = &app.state.db;
    let found = eventually(WITHIN, || async {
        inbox::Entity::find_by_id(inbox_id)
            .one(db)
            .await
            .ok()
            .flatten()
            .filter(|r| r.status == status)
    })
    .await;
    match found {
        Some(row) => row,
        None => {
            let row = inbox::Entity::find_by_id(inbox_id).one(db).await;
            let job = match row.as_ref().ok().and_then(|r| r.as_ref()?.job_id.clone()) {
                Some(id) => job(app, &id).await,
                None => None,
            };
            panic!(
                "inbox row {inbox_id} did not become {status:?} within {WITHIN:?}.\nrow: {:?}\njob: {job:#?}",
                row.map(|r| r.map(|mut r| {
                    r.raw_body = None;
                    r
                }))
            );
        }
    }
}

/// Delivers, expects 202, waits for `processed`; returns the inbox row id.
pub async fn processed(app: &TestApp, response: reqwest::Response) -> i64 {
    let a = accepted(response).await;
    wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
    a.inbox_id
}

/// Waits until `check` holds, panicking with `what` if it does not.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let ok = eventually(WITHIN, || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await;
    assert!(
        ok.is_some(),
        "timed out after {WITHIN:?} waiting for: {what}"
    );
}

/// Number of jobs the queue holds, in any state.
pub async fn queued_jobs(app: &TestApp) -> u64 {
    let counts = app.queue().counts().await.expect("queue counts");
    JobState::ALL.iter().map(|s| counts.get(*s)).sum()
}

// ---------------------------------------------------------------------------
// A proxy that can go down and come back
// ---------------------------------------------------------------------------

/// A TCP forwarder in front of a real service that a test can take down
/// ([`SwitchProxy::down`]: open connections closed, new ones closed at
/// once) and bring back ([`SwitchProxy::up`]) on the same address, so the
/// code under test sees an outage and a recovery without reconfiguration.
pub struct SwitchProxy {
    /// Where it listens.
    pub address: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<CancellationToken>>,
    task: JoinHandle<()>,
}

impl SwitchProxy {
    /// Starts forwarding `127.0.0.1:<free port>` to `upstream`, up.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let links = Arc::new(Mutex::new(CancellationToken::new()));
        let (up2, links2) = (up.clone(), links.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let token = links2.lock().expect("lock").clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Self {
            address,
            up,
            links,
            task,
        }
    }

    /// Closes every forwarded connection and refuses new ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut links = self.links.lock().expect("lock");
        links.cancel();
        *links = CancellationToken::new();
    }

    /// Forwards again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for SwitchProxy {
    fn drop(&mut self) {
        self.links.lock().expect("lock").cancel();
        self.task.abort();
    }
}

/// The test Redis as a socket address.
///
/// # Panics
/// If its URL is not `redis://host:port`.
pub fn redis_socket_addr() -> SocketAddr {
    let url = crate::queue::redis_url();
    let host_port = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned();
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("the test Redis URL {url} is not redis://host:port"))
}

/// Inbox rows with `status`.
pub async fn inbox_with(db: &DatabaseConnection, status: InboxStatus) -> Vec<inbox::Model> {
    inbox_rows(db)
        .await
        .into_iter()
        .filter(|r| r.status == status)
        .collect()
}
