//! A fake SmartRecruiters: a real local HTTP server that answers like the
//! Customer API in what the service relies on
//! (`docs/workable-smartrecruiters.md` Part B), plus signing and posting
//! SmartRecruiters notifications and the activation handshake.
//!
//! # The fake
//!
//! * Auth: `X-SmartToken` [`SR_TOKEN`]; anything else, or the key once
//!   revoked, is a `401`.
//! * Limits per key, as documented (§B1): [`SR_RATE_LIMIT`] (10 requests
//!   per second) once enforced, and always **8 concurrent requests** and
//!   **1 concurrent `GET /candidates`** (which takes [`SEARCH_LATENCY`] to
//!   answer, so that overlapping searches really overlap): a request over
//!   a limit is answered `429` with `Retry-After` and counted
//!   ([`FakeSmartRecruiters::over_limit`]).
//! * `GET /candidates/{id}` answers the candidate (§B3: `id`, `firstName`,
//!   `lastName`, `email`, `phoneNumber`, `createdOn`, `updatedOn`, `tags`,
//!   `primaryAssignment`, `secondaryAssignments`, each assignment with
//!   `job.id`, `status`, `subStatus`, `startsOn`, `source`); an unknown id is
//!   a `404`.
//! * `GET /candidates` (`q` keyword search over name and email,
//!   `updatedAfter`) and `GET /users` (`q`) page by `limit` (at most 100,
//!   or the page size a test sets) and `offset`, answering `{content,
//!   offset, limit, totalFound}`.
//! * `PUT /candidates/{id}/jobs/{job}/properties/{property}` keeps the
//!   value per (candidate, job, property); `POST /candidates/{id}/tags`
//!   **appends** the tags as sent (duplicates included, so a client that
//!   does not check first shows its tag twice); `PUT
//!   /candidates/{id}/tags` **replaces** them all; `PUT
//!   /candidates/{id}/jobs/{job}/source` sets the assignment's source.
//! * [`Faults`]: forced `429` + `Retry-After` or `5xx`, a revoked key.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{
    app::TestApp,
    fixtures::{Seen, post_raw},
    vendors::faults::{Fault, Faults, RateLimit},
};

/// A key's budget: 10 requests per second (§B1).
pub const SR_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 10,
};

/// Concurrent requests per key (§B1).
pub const SR_CONCURRENT: usize = 8;

/// How long the fake takes to answer `GET /candidates`.
pub const SEARCH_LATENCY: Duration = Duration::from_millis(30);

/// The API key the fake accepts.
pub const SR_TOKEN: &str = "sr-test-smart-token-0123";

/// The key the tests sign notifications with
/// (`ats.smartrecruiters.webhook_secret`).
pub const SR_SECRET: &str = "sr-webhook-signing-key-0123456789";

/// The candidate property the tests configure for our token.
pub const TOKEN_PROPERTY: &str = "c1a2b3-referral-token";

/// The referral source type the tests configure.
pub const REFERRAL_SOURCE_TYPE: &str = "EMPLOYEE_REFERRAL";

/// The tag prefix the tests configure for a token carried in
/// SmartRecruiters.
pub const TOKEN_TAG_PREFIX: &str = "ref-";

/// `smartrecruiters-signature`'s hex for a notification, as §B2 defines
/// it: HMAC-SHA256 of `timestamp.body.event-id.event-name.event-version.link`.
pub fn sr_signature(secret: &str, n: &SrNotification) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    for part in [
        n.timestamp.to_string().as_bytes(),
        b".",
        &n.body,
        b".",
        n.event_id.as_bytes(),
        b".",
        n.event_name.as_bytes(),
        b".",
        n.event_version.as_bytes(),
        b".",
        n.link.as_bytes(),
    ] {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// One SmartRecruiters notification: ids-only body, event headers.
#[derive(Debug, Clone)]
pub struct SrNotification {
    /// `event-id`.
    pub event_id: String,
    /// `event-name`.
    pub event_name: String,
    /// `event-version`.
    pub event_version: String,
    /// `link`.
    pub link: String,
    /// `smartrecruiters-timestamp`.
    pub timestamp: i64,
    /// The body.
    pub body: Vec<u8>,
}

impl SrNotification {
    /// An application event about `candidate`'s assignment to `job`, sent
    /// now, with a fresh event id.
    pub fn application(event: &str, candidate: &str, job: &str) -> Self {
        Self::new(
            event,
            json!({"job_id": job, "candidate_id": candidate}),
            &format!("https://api.smartrecruiters.com/candidates/{candidate}/jobs/{job}"),
        )
    }

    /// A candidate event about `candidate`, sent now.
    pub fn candidate(event: &str, candidate: &str) -> Self {
        Self::new(
            event,
            json!({"candidate_id": candidate}),
            &format!("https://api.smartrecruiters.com/candidates/{candidate}"),
        )
    }

    fn new(event: &str, body: Value, link: &str) -> Self {
        Self {
            event_id: crate::fixtures::unique("sr-evt-"),
            event_name: event.into(),
            event_version: "v201910".into(),
            link: format!("<{link}>; rel=self"),
            timestamp: chrono::Utc::now().timestamp(),
            body: serde_json::to_vec(&body).expect("serialise"),
        }
    }

    /// Its headers, signed with `secret`.
    pub fn headers(&self, secret: &str) -> Vec<(String, String)> {
        [
            ("content-type", "application/json".to_owned()),
            ("event-id", self.event_id.clone()),
            ("event-name", self.event_name.clone()),
            ("event-version", self.event_version.clone()),
            ("link", self.link.clone()),
            ("smartrecruiters-timestamp", self.timestamp.to_string()),
            (
                "smartrecruiters-signature",
                format!("v1={}", sr_signature(secret, self)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Delivers `n` to `/webhooks/smartrecruiters`, signed with [`SR_SECRET`].
pub async fn post_sr(app: &TestApp, n: &SrNotification) -> reqwest::Response {
    post_raw(
        app,
        "/webhooks/smartrecruiters",
        &n.headers(SR_SECRET),
        n.body.clone(),
    )
    .await
}

/// The activation handshake: what SmartRecruiters sends when a
/// subscription is activated (§B2), with `secret` in `X-Hook-Secret`.
pub async fn handshake(app: &TestApp, secret: &str) -> reqwest::Response {
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("x-hook-secret".to_owned(), secret.to_owned()),
    ];
    post_raw(app, "/webhooks/smartrecruiters", &headers, Vec::new()).await
}

/// The inbox row of a notification the endpoint stored: answered 202
/// with `status: accepted`.
///
/// # Panics
/// On any other answer.
pub async fn stored(response: reqwest::Response) -> i64 {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "accepted", "{body}");
    body["inbox_id"].as_i64().expect("inbox_id")
}

/// One job assignment of a candidate.
#[derive(Debug, Clone)]
pub struct SrAssignment {
    /// The job.
    pub job_id: String,
    /// `NEW`, `IN_REVIEW`, `INTERVIEW`, `OFFERED`, `HIRED`, …
    pub status: String,
    /// Sub-status, if any.
    pub sub_status: Option<String>,
    /// The start date, once hired.
    pub starts_on: Option<String>,
}

impl SrAssignment {
    /// A `NEW` assignment to `job`.
    pub fn new(job: &str) -> Self {
        Self {
            job_id: job.into(),
            status: "NEW".into(),
            sub_status: None,
            starts_on: None,
        }
    }

    fn json(&self) -> Value {
        json!({
            "job": {"id": self.job_id}, "status": self.status, "subStatus": self.sub_status,
            "startsOn": self.starts_on, "source": null, "reasonOfRejection": null,
        })
    }
}

/// A candidate in the documented shape (§B3).
#[derive(Debug, Clone)]
pub struct SrCandidate {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Assignments, the primary one first.
    pub assignments: Vec<SrAssignment>,
}

impl SrCandidate {
    /// A candidate with one `NEW` assignment to `job`.
    pub fn new(id: &str, job: &str, email: &str) -> Self {
        Self {
            id: id.into(),
            email: email.into(),
            phone: "+4930123456789".into(),
            tags: Vec::new(),
            assignments: vec![SrAssignment::new(job)],
        }
    }

    /// The candidate object.
    pub fn json(&self) -> Value {
        let now = chrono::Utc::now().to_rfc3339();
        let mut assignments = self.assignments.iter().map(SrAssignment::json);
        json!({
            "id": self.id, "internal": false, "firstName": "Test", "lastName": "Candidate",
            "email": self.email, "phoneNumber": self.phone, "createdOn": now, "updatedOn": now,
            "tags": self.tags, "primaryAssignment": assignments.next(),
            "secondaryAssignments": assignments.collect::<Vec<_>>(),
        })
    }
}

/// What the fake holds.
#[derive(Debug, Default)]
pub struct SrState {
    /// Candidates in the order added (what the listings page through).
    pub candidates: Vec<Value>,
    /// Users (`{id, email, firstName, lastName}`).
    pub users: Vec<Value>,
    /// Property values by (candidate, job, property).
    pub properties: HashMap<(String, String, String), Value>,
    /// Items per listing page (100 unless made smaller).
    pub page_size: Option<usize>,
    /// Forced failures, a revoked key, the rate limit.
    pub faults: Faults,
    in_flight: usize,
    searching: usize,
    over_concurrency: usize,
}

/// A fake SmartRecruiters (module docs).
pub struct FakeSmartRecruiters {
    /// Its API base URL, `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Its state.
    pub state: Arc<Mutex<SrState>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for FakeSmartRecruiters {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<SrState>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeSmartRecruiters {
    /// Starts it with no candidates and no users.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(SrState::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            state: state.clone(),
            seen: seen.clone(),
        };
        let router = axum::Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake SmartRecruiters");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            state,
            seen,
            task,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SrState> {
        self.state.lock().expect("lock")
    }

    /// Adds the candidate, or replaces the one with its id.
    pub fn put_candidate(&self, candidate: &SrCandidate) {
        let json = candidate.json();
        let mut s = self.lock();
        match s.candidates.iter_mut().find(|c| c["id"] == json["id"]) {
            Some(existing) => *existing = json,
            None => s.candidates.push(json),
        }
    }

    /// Adds a user.
    pub fn put_user(&self, id: &str, email: &str) {
        self.lock().users.push(
            json!({"id": id, "email": email, "firstName": "Priya", "lastName": "Raman", "active": true}),
        );
    }

    /// Changes candidate `id` as SmartRecruiters holds it (and its
    /// `updatedOn`).
    ///
    /// # Panics
    /// For a candidate the test did not add.
    pub fn edit_candidate(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut s = self.lock();
        let c = s
            .candidates
            .iter_mut()
            .find(|c| c["id"] == id)
            .expect("a candidate the test added");
        edit(c);
        c["updatedOn"] = chrono::Utc::now().to_rfc3339().into();
    }

    /// Sets candidate `id`'s assignment to `job`: its status, sub-status
    /// and start date.
    pub fn set_status(
        &self,
        id: &str,
        job: &str,
        status: &str,
        sub: Option<&str>,
        starts_on: Option<&str>,
    ) {
        self.edit_candidate(id, |c| {
            let a = assignment_mut(c, job).expect("an assignment the test added");
            a["status"] = status.into();
            a["subStatus"] = sub.into();
            a["startsOn"] = starts_on.into();
        });
    }

    /// Deletes candidate `id`.
    pub fn delete_candidate(&self, id: &str) {
        self.lock().candidates.retain(|c| c["id"] != id);
    }

    /// Candidate `id`'s tags now.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        let s = self.lock();
        s.candidates
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["tags"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }

    /// The value of `property` on candidate `id`'s assignment to `job`.
    pub fn property_of(&self, id: &str, job: &str, property: &str) -> Option<Value> {
        self.lock()
            .properties
            .get(&(id.to_owned(), job.to_owned(), property.to_owned()))
            .cloned()
    }

    /// The source of candidate `id`'s assignment to `job`.
    pub fn source_of(&self, id: &str, job: &str) -> Option<Value> {
        let mut s = self.lock();
        let c = s.candidates.iter_mut().find(|c| c["id"] == id)?;
        assignment_mut(c, job)
            .map(|a| a["source"].clone())
            .filter(|v| !v.is_null())
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

    /// Requests answered 429 for going over the rate or a concurrency
    /// limit.
    pub fn over_limit(&self) -> usize {
        let s = self.lock();
        s.faults.over_limit() + s.over_concurrency
    }

    /// Requests answered 429 for going over a concurrency limit.
    pub fn over_concurrency(&self) -> usize {
        self.lock().over_concurrency
    }
}

/// The assignment to `job` of candidate JSON `c`.
fn assignment_mut<'a>(c: &'a mut Value, job: &str) -> Option<&'a mut Value> {
    if c["primaryAssignment"]["job"]["id"] == job {
        return Some(&mut c["primaryAssignment"]);
    }
    c["secondaryAssignments"]
        .as_array_mut()?
        .iter_mut()
        .find(|a| a["job"]["id"] == job)
}

fn too_many(retry_after: u64, what: &str) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"code": "RATE_LIMIT_EXCEEDED", "message": what})),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        "retry-after",
        retry_after.to_string().parse().expect("a value"),
    );
    h.insert("x-ratelimit-limit", "10".parse().expect("a value"));
    h.insert(
        "x-ratelimit-concurrent-limit",
        "8".parse().expect("a value"),
    );
    r
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    };
    shared.seen.lock().expect("lock").push(seen.clone());
    let search = seen.method == "GET" && seen.path == "/candidates";
    {
        let mut s = shared.state.lock().expect("lock");
        match s.faults.intercept() {
            Some(Fault::Throttled { retry_after }) => {
                return too_many(retry_after, "Too many requests");
            }
            Some(Fault::ServerError(status)) => {
                let status = StatusCode::from_u16(status).expect("a status");
                return (status, axum::Json(json!({"code": "INTERNAL_ERROR"}))).into_response();
            }
            None => {}
        }
        if s.in_flight >= SR_CONCURRENT || (search && s.searching >= 1) {
            s.over_concurrency += 1;
            return too_many(1, "Too many concurrent requests");
        }
        s.in_flight += 1;
        if search {
            s.searching += 1;
        }
    }
    if search {
        tokio::time::sleep(SEARCH_LATENCY).await;
    }
    let (status, reply) = {
        let mut s = shared.state.lock().expect("lock");
        s.in_flight -= 1;
        if search {
            s.searching -= 1;
        }
        answer(&mut s, &seen)
    };
    let status = StatusCode::from_u16(status).expect("a status");
    match reply {
        Some(json) => (status, axum::Json(json)).into_response(),
        None => status.into_response(),
    }
}

fn answer(s: &mut SrState, seen: &Seen) -> (u16, Option<Value>) {
    let not_found = || {
        (
            404,
            Some(json!({"code": "NOT_FOUND", "message": "Not found"})),
        )
    };
    if s.faults.credentials_revoked || seen.header("x-smarttoken") != Some(SR_TOKEN) {
        return (
            401,
            Some(json!({"code": "UNAUTHORIZED", "message": "Invalid token"})),
        );
    }
    let segments: Vec<&str> = seen.path.trim_start_matches('/').split('/').collect();
    let index = |s: &SrState, id: &str| s.candidates.iter().position(|c| c["id"] == id);
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", ["candidates"]) => (200, Some(list(s, &s.candidates, seen, true))),
        ("GET", ["users"]) => (200, Some(list(s, &s.users, seen, false))),
        ("GET", ["candidates", id]) => match index(s, id) {
            Some(i) => (200, Some(s.candidates[i].clone())),
            None => not_found(),
        },
        ("PUT", ["candidates", id, "jobs", job, "properties", property]) => {
            let Some(i) = index(s, id) else {
                return not_found();
            };
            if assignment_mut(&mut s.candidates[i], job).is_none() {
                return not_found();
            }
            let body = seen.json();
            if body.get("value").is_none() {
                return (
                    400,
                    Some(json!({"code": "INVALID_VALUE", "message": "value is required"})),
                );
            }
            s.properties.insert(
                ((*id).to_owned(), (*job).to_owned(), (*property).to_owned()),
                body["value"].clone(),
            );
            (204, None)
        }
        ("POST" | "PUT", ["candidates", id, "tags"]) => {
            let Some(i) = index(s, id) else {
                return not_found();
            };
            let body = seen.json();
            let Some(tags) = body["tags"].as_array() else {
                return (
                    400,
                    Some(json!({"code": "INVALID_VALUE", "message": "tags must be a list"})),
                );
            };
            let c = &mut s.candidates[i];
            if seen.method == "PUT" {
                c["tags"] = Value::Array(tags.clone());
            } else {
                let mut all = c["tags"].as_array().cloned().unwrap_or_default();
                all.extend(tags.iter().cloned());
                c["tags"] = Value::Array(all);
            }
            (200, Some(json!({"tags": c["tags"]})))
        }
        ("PUT", ["candidates", id, "jobs", job, "source"]) => {
            let Some(i) = index(s, id) else {
                return not_found();
            };
            let body = seen.json();
            if body["sourceTypeId"].as_str().is_none() || body["sourceId"].as_str().is_none() {
                return (
                    400,
                    Some(
                        json!({"code": "INVALID_VALUE", "message": "sourceTypeId and sourceId are required"}),
                    ),
                );
            }
            match assignment_mut(&mut s.candidates[i], job) {
                Some(a) => a["source"] = body,
                None => return not_found(),
            }
            (204, None)
        }
        _ => not_found(),
    }
}

/// A `limit`/`offset` page of `items`, filtered by `q` (a keyword search:
/// a substring of the email or a name, case aside) and, for candidates,
/// `updatedAfter`.
fn list(s: &SrState, items: &[Value], seen: &Seen, candidates: bool) -> Value {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(seen.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let q = get("q").map(str::to_lowercase);
    let after = get("updatedAfter").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let matching: Vec<&Value> = items
        .iter()
        .filter(|c| {
            q.as_deref().is_none_or(|q| {
                ["email", "firstName", "lastName"]
                    .iter()
                    .any(|f| c[*f].as_str().is_some_and(|v| v.to_lowercase().contains(q)))
            })
        })
        .filter(|c| {
            !candidates
                || after.is_none_or(|a| {
                    c["updatedOn"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| t >= a)
                })
        })
        .collect();
    let offset = get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100)
        .min(s.page_size.unwrap_or(100));
    let start = offset.min(matching.len());
    let end = (start + limit).min(matching.len());
    json!({
        "content": matching[start..end], "offset": offset, "limit": limit,
        "totalFound": matching.len(),
    })
}
