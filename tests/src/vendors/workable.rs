//! A fake Workable API (v3): a real local HTTP server that answers like
//! Workable in what the service relies on (`docs/workable-smartrecruiters.md`
//! Part A), plus signing and posting Workable deliveries.
//!
//! # The fake
//!
//! * Auth: `Authorization: Bearer` [`WORKABLE_TOKEN`]; anything else, or
//!   the token once revoked, is a `401`.
//! * `GET /candidates/:id` answers `{"candidate": {…}}`, the Candidate
//!   object in the documented shape (`id`, `firstname`, `lastname`,
//!   `email`, `phone`, `job{shortcode,title}`, `stage`, `stage_kind`,
//!   `disqualified`, `withdrew`, `hired_at`, `created_at`, `updated_at`,
//!   `tags`); an unknown id is a `404`.
//! * `GET /candidates` filters by `email` (case aside) and `updated_after`,
//!   pages by `limit` (at most 100, or the page size a test sets) and
//!   `since_id`, and answers `{candidates: […], paging: {next}}` with
//!   `next` a **full URL** on the fake.
//! * `GET /jobs/:shortcode` answers the job object (`shortcode`, `title`,
//!   `department`, `location{city, region, country, …}`) a test added
//!   with [`FakeWorkable::put_job`]; an unknown shortcode is a `404`.
//! * A candidate [`FakeWorkable::remove_candidate`] took away (merged or
//!   deleted: Workable announces neither) is a `404` everywhere.
//! * `PATCH /candidates/:id/update_custom_attribute_value` keeps the value
//!   per (candidate, `custom_attribute_key`); `PUT /candidates/:id/tags`
//!   **replaces** the tag list and answers `202`.
//! * [`Faults`]: forced `429` + `Retry-After` or `5xx`, a revoked token,
//!   and on request the budget [`WORKABLE_RATE_LIMIT`]: an account token's
//!   10 requests per 10 seconds.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};

use crate::{
    app::TestApp,
    fixtures::{FakeAts, Reply, Seen, post_raw},
    vendors::faults::{Fault, Faults, RateLimit, retry_after},
};

/// An account token's budget: 10 requests per 10 seconds (§A1), as a
/// bucket of 10 refilled at one a second.
pub const WORKABLE_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 1.0,
    burst: 10,
};

/// The token the fake accepts.
pub const WORKABLE_TOKEN: &str = "workable-test-account-token";

/// The key the tests sign deliveries with (`ats.workable.webhook_secret`).
pub const WORKABLE_SECRET: &str = "workable-webhook-secret-0123456789";

/// The custom attribute the tests configure for our token.
pub const TOKEN_ATTRIBUTE: &str = "3b1c9e2a";

/// The tag prefix the tests configure for a token carried in Workable.
pub const TOKEN_TAG_PREFIX: &str = "ref-";

/// `X-Workable-Signature` for `body` under `secret`: lowercase hex.
pub fn workable_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Delivers `body` to `/webhooks/workable`, signed with [`WORKABLE_SECRET`].
pub async fn post_workable(app: &TestApp, body: &[u8]) -> reqwest::Response {
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (
            "x-workable-signature".to_owned(),
            workable_signature(WORKABLE_SECRET, body),
        ),
    ];
    post_raw(app, "/webhooks/workable", &headers, body.to_vec()).await
}

/// The inbox row of a delivery Workable's endpoint stored: answered
/// **200** (Workable replays anything else) with `status: accepted`.
///
/// # Panics
/// On any other answer.
pub async fn stored(response: reqwest::Response) -> i64 {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["status"], "accepted", "{body}");
    body["inbox_id"].as_i64().expect("inbox_id")
}

/// A Workable candidate in the documented shape, for deliveries and for
/// [`FakeWorkable`] to answer with.
#[derive(Debug, Clone)]
pub struct WorkableCandidate {
    /// Candidate id.
    pub id: String,
    /// The job's shortcode.
    pub job: String,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Stage slug.
    pub stage: String,
    /// Stage kind (`applied`, `interview`, `offer`, `hired`, …).
    pub stage_kind: String,
    /// When moved to a hired stage, if it was.
    pub hired_at: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

impl WorkableCandidate {
    /// A candidate in the `applied` stage of job `job`.
    pub fn new(id: &str, job: &str, email: &str) -> Self {
        Self {
            id: id.into(),
            job: job.into(),
            email: email.into(),
            phone: "+4930123456789".into(),
            stage: "applied".into(),
            stage_kind: "applied".into(),
            hired_at: None,
            tags: Vec::new(),
        }
    }

    /// The Candidate object.
    pub fn json(&self) -> Value {
        let now = chrono::Utc::now().to_rfc3339();
        json!({
            "id": self.id, "name": "Test Candidate", "firstname": "Test", "lastname": "Candidate",
            "headline": "Engineer", "account": {"subdomain": "acme", "name": "Acme"},
            "job": {"shortcode": self.job, "title": "Engineer"},
            "stage": self.stage, "stage_kind": self.stage_kind,
            "disqualified": false, "disqualification_reason": null, "disqualified_at": null,
            "withdrew": false, "sourced": false,
            "profile_url": format!("https://acme.workable.com/backend/candidates/{}", self.id),
            "email": self.email, "phone": self.phone, "address": null, "domain": "acme-careers.example",
            "created_at": now, "updated_at": now, "hired_at": self.hired_at,
            "tags": self.tags,
        })
    }

    /// A delivery of `event` about this candidate, in the envelope
    /// third-party receivers read.
    pub fn delivery(&self, event: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": format!("evt-{}-{}", self.id, crate::fixtures::unique("")),
            "event_type": event, "fired_at": chrono::Utc::now().to_rfc3339(),
            "resource_type": "candidate", "data": self.json(),
        }))
        .expect("serialise")
    }
}

/// What the fake Workable holds.
#[derive(Debug, Default)]
pub struct WorkableState {
    /// Candidates in the order added (what the listings page through).
    pub candidates: Vec<Value>,
    /// Custom attribute values by (candidate id, key).
    pub attributes: HashMap<(String, String), Value>,
    /// Jobs by shortcode.
    pub jobs: HashMap<String, Value>,
    /// Items per listing page (100 unless made smaller).
    pub page_size: Option<usize>,
    /// The fake's base URL, for `paging.next`.
    pub base_url: String,
    /// Forced failures, a revoked token, the rate limit.
    pub faults: Faults,
}

/// A fake Workable API (module docs).
pub struct FakeWorkable {
    /// The server.
    pub ats: FakeAts,
    /// Its state.
    pub state: Arc<Mutex<WorkableState>>,
}

impl FakeWorkable {
    /// Starts it with no candidates.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(WorkableState::default()));
        let shared = state.clone();
        let ats = FakeAts::start_with_headers(move |seen| answer_with_faults(&shared, seen)).await;
        state.lock().expect("lock").base_url = ats.base_url.clone();
        Self { ats, state }
    }

    /// Adds the candidate, or replaces the one with its id.
    pub fn put_candidate(&self, candidate: &WorkableCandidate) {
        let mut s = self.state.lock().expect("lock");
        let json = candidate.json();
        match s.candidates.iter_mut().find(|c| c["id"] == json["id"]) {
            Some(existing) => *existing = json,
            None => s.candidates.push(json),
        }
    }

    /// Changes candidate `id` as Workable holds it.
    pub fn edit_candidate(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut s = self.state.lock().expect("lock");
        let c = s
            .candidates
            .iter_mut()
            .find(|c| c["id"] == id)
            .expect("a candidate the test added");
        edit(c);
        c["updated_at"] = chrono::Utc::now().to_rfc3339().into();
    }

    /// Takes candidate `id` away, as a merge into another candidate or a
    /// deletion does: Workable sends no event, and answers 404 from now on.
    pub fn remove_candidate(&self, id: &str) {
        self.state
            .lock()
            .expect("lock")
            .candidates
            .retain(|c| c["id"] != id);
    }

    /// Adds job `shortcode` in `department`, located in `city`.
    pub fn put_job(&self, shortcode: &str, department: &str, city: &str) {
        let job = json!({
            "id": format!("j-{shortcode}"), "title": "Engineer",
            "full_title": format!("Engineer - {shortcode}"), "shortcode": shortcode,
            "code": null, "state": "published", "department": department,
            "url": format!("https://acme.workable.com/jobs/{shortcode}"),
            "application_url": format!("https://acme.workable.com/jobs/{shortcode}/candidates/new"),
            "shortlink": format!("https://acme.workable.com/j/{shortcode}"),
            "location": {"location_str": format!("{city}, Germany"), "country": "Germany",
                         "country_code": "DE", "region": city, "region_code": null,
                         "city": city, "zip_code": null, "telecommuting": false,
                         "workplace_type": "on_site"},
            "created_at": "2026-11-02T09:00:00Z",
        });
        self.state
            .lock()
            .expect("lock")
            .jobs
            .insert(shortcode.to_owned(), job);
    }

    /// Candidate `id`'s tags now.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        let s = self.state.lock().expect("lock");
        s.candidates
            .iter()
            .find(|c| c["id"] == id)
            .and_then(|c| c["tags"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect()
    }

    /// The value of custom attribute `key` on candidate `id`.
    pub fn attribute_of(&self, id: &str, key: &str) -> Option<Value> {
        self.state
            .lock()
            .expect("lock")
            .attributes
            .get(&(id.to_owned(), key.to_owned()))
            .cloned()
    }
}

/// [`answer`] behind the fake's [`Faults`].
fn answer_with_faults(state: &Mutex<WorkableState>, seen: &Seen) -> Reply {
    let (fault, revoked) = {
        let mut s = state.lock().expect("lock");
        (s.faults.intercept(), s.faults.credentials_revoked)
    };
    match fault {
        Some(Fault::Throttled { retry_after: secs }) => {
            let mut headers = retry_after(secs);
            headers.push(("x-rate-limit-limit", "10".to_owned()));
            headers.push(("x-rate-limit-remaining", "0".to_owned()));
            (429, headers, json!({"error": "Too many requests"}))
        }
        Some(Fault::ServerError(status)) => (
            status,
            Vec::new(),
            json!({"error": "Internal Server Error"}),
        ),
        None if revoked => (401, Vec::new(), json!({"error": "Not authorized"})),
        None => {
            let (status, body) = answer(state, seen);
            (status, Vec::new(), body)
        }
    }
}

fn answer(state: &Mutex<WorkableState>, seen: &Seen) -> (u16, Value) {
    if seen.header("authorization") != Some(format!("Bearer {WORKABLE_TOKEN}").as_str()) {
        return (401, json!({"error": "Not authorized"}));
    }
    let path = seen.path.trim_start_matches("/v1/");
    let segments: Vec<&str> = path.split('/').collect();
    let mut s = state.lock().expect("lock");
    let index = |s: &WorkableState, id: &str| s.candidates.iter().position(|c| c["id"] == id);
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", ["candidates"]) => list(&s, seen),
        ("GET", ["jobs", code]) => match s.jobs.get(*code) {
            Some(job) => (200, job.clone()),
            None => (404, json!({"error": "Not found"})),
        },
        ("GET", ["candidates", id]) => match index(&s, id) {
            Some(i) => (200, json!({ "candidate": s.candidates[i] })),
            None => (404, json!({"error": "Not found"})),
        },
        ("PATCH", ["candidates", id, "update_custom_attribute_value"]) => {
            if index(&s, id).is_none() {
                return (404, json!({"error": "Not found"}));
            }
            let body = seen.json();
            let Some(key) = body["custom_attribute_key"].as_str() else {
                return (422, json!({"error": "custom_attribute_key is required"}));
            };
            let value = body["value"].clone();
            if value.as_str().is_none_or(|v| v.chars().count() > 128) {
                return (
                    422,
                    json!({"error": "value must be a text of at most 128 characters"}),
                );
            }
            s.attributes
                .insert(((*id).to_owned(), key.to_owned()), value);
            (200, json!({}))
        }
        ("PUT", ["candidates", id, "tags"]) => {
            let Some(i) = index(&s, id) else {
                return (404, json!({"error": "Not found"}));
            };
            let body = seen.json();
            let Some(tags) = body["tags"].as_array() else {
                return (422, json!({"error": "tags must be a list"}));
            };
            s.candidates[i]["tags"] = Value::Array(tags.clone());
            (202, json!({}))
        }
        _ => (404, json!({"error": "Not found"})),
    }
}

/// `GET /candidates`: filtered, paged by `limit` and `since_id`, with a
/// full-URL `paging.next`.
fn list(s: &WorkableState, seen: &Seen) -> (u16, Value) {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(seen.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    let email = get("email").map(str::to_lowercase);
    let after = match get("updated_after").map(chrono::DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => return (422, json!({"error": "updated_after is not a date-time"})),
        None => None,
    };
    let matching: Vec<&Value> = s
        .candidates
        .iter()
        .filter(|c| {
            email
                .as_deref()
                .is_none_or(|e| c["email"].as_str().map(str::to_lowercase).as_deref() == Some(e))
        })
        .filter(|c| {
            after.is_none_or(|a| {
                c["updated_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= a)
            })
        })
        .collect();
    let start = match get("since_id") {
        Some(id) => match matching.iter().position(|c| c["id"] == id) {
            Some(i) => i + 1,
            None => return (422, json!({"error": "since_id names no candidate"})),
        },
        None => 0,
    };
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, 100)
        .min(s.page_size.unwrap_or(100));
    let end = (start + limit).min(matching.len());
    let page: Vec<Value> = matching[start..end].iter().map(|c| (*c).clone()).collect();
    let mut paging = json!({});
    if end < matching.len() {
        let mut next = url::Url::parse(&format!("{}/candidates", s.base_url)).expect("base URL");
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k != "since_id") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair(
                "since_id",
                page.last().and_then(|c| c["id"].as_str()).unwrap_or(""),
            );
        }
        paging["next"] = next.to_string().into();
    }
    (200, json!({ "candidates": page, "paging": paging }))
}
