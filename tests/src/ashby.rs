//! Ashby in the tests: its sample deliveries (`tests/payloads/ashby_*`,
//! signed in that folder's `signatures.json`), signing our own, posting
//! them, and [`FakeAshby`], a real local HTTP server that answers like
//! Ashby's RPC API.
//!
//! # The fake
//!
//! Every method is `POST /<noun.verb>` (under the fake's `/v1` base) with
//! Basic auth (the key as username, a blank password; anything else is a
//! 401), and every answer is Ashby's envelope: `{"success": true,
//! "results": …}`, or **HTTP 200** with `{"success": false, "errorInfo":
//! {code, message}}` for an unknown application or method, as Ashby
//! answers. Listings (`customField.list`, `candidateTag.list`) come one
//! item per page with `moreDataAvailable` / `nextCursor`. What the service
//! writes (custom field values, tags, the credited user) is kept per
//! object, so tests assert the state Ashby would show, not the calls.
//!
//! For the connector conformance suite it also answers
//! `candidate.search {email}` (exact but for case), `offer.list` (by
//! application, or the accepted ones, paged) and `application.list` (paged
//! by `limit` and `cursor`), and takes [`Faults`]: forced `429` +
//! `Retry-After` or `5xx`, a revoked key, and on request the budget
//! [`ASHBY_RATE_LIMIT`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};

use crate::{
    app::TestApp,
    fixtures::{FakeAts, Reply, Seen, payload, post_raw, signed},
    vendors::faults::{Fault, Faults, RateLimit, retry_after},
};

/// Ashby's general API budget: 1,000 requests a minute per key (the only
/// figure published, by Airbyte's connector; `docs/ashby.md` §2.4), as a
/// bucket that holds a minute's worth.
pub const ASHBY_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 1000.0 / 60.0,
    burst: 1000,
};

/// `applicationSubmit` sample.
pub const SUBMIT: &str = "ashby_applicationSubmit.json";
/// `candidateHire` sample (start date 2026-01-12).
pub const HIRE: &str = "ashby_candidateHire.json";
/// `candidateStageChange` the hire fans out (same `webhookActionId`).
pub const STAGE_CHANGE: &str = "ashby_candidateStageChange.json";
/// `applicationUpdate` the hire fans out (same `webhookActionId`).
pub const UPDATE: &str = "ashby_applicationUpdate.json";
/// `offerUpdate` moving the start date to 2026-02-02.
pub const OFFER_UPDATE: &str = "ashby_offerUpdate.json";
/// `candidateMerge` of another candidate into the sample's.
pub const MERGE: &str = "ashby_candidateMerge.json";
/// `candidateDelete` of the sample's candidate.
pub const DELETE: &str = "ashby_candidateDelete.json";
/// The `ping` sent when a webhook is saved.
pub const PING: &str = "ashby_ping.json";

/// Facts the Ashby samples share.
pub mod sample {
    /// The application.
    pub const APPLICATION: &str = "1c9a7e52-4b3d-4f8e-9a61-2d5b7c8e9f01";
    /// Its candidate.
    pub const CANDIDATE: &str = "5e0b2d4f-8a1c-4e6b-b3d7-9f2a6c1e8d42";
    /// The candidate merged into [`CANDIDATE`].
    pub const MERGED_CANDIDATE: &str = "8f1b3d5f-7a9c-4e1b-a3d5-0e2a4c6e8a92";
    /// The job.
    pub const JOB: &str = "a3f1c5e7-2b4d-4c6e-8f0a-1b3d5f7a9c2e";
    /// The `webhookActionId` the hire and its fan-out share.
    pub const HIRE_ACTION: &str = "9d2f6b1e-47a8-4c3d-b5e9-0a6c2f8d4b73";
    /// The Ashby user Priya Raman (the referrer).
    pub const PRIYA_USER: &str = "0f4e8b2c-6d1a-4b3e-9c7f-2a5d8e1b4c63";
}

/// The secret the samples are signed with.
///
/// # Panics
/// If `signatures.json` does not give it.
pub fn ashby_secret() -> String {
    signed(SUBMIT)
        .secret
        .expect("tests/payloads/signatures.json gives the Ashby secret")
}

/// `Ashby-Signature` for `body` under `secret`: `sha256=<hex>`.
pub fn ashby_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Headers of an Ashby delivery of `body`, signed with [`ashby_secret`].
pub fn ashby_headers(body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        (
            "ashby-signature".into(),
            ashby_signature(&ashby_secret(), body),
        ),
    ]
}

/// Delivers `body` to `/webhooks/ashby`, signed with [`ashby_secret`].
pub async fn post_ashby(app: &TestApp, body: &[u8]) -> reqwest::Response {
    post_raw(app, "/webhooks/ashby", &ashby_headers(body), body.to_vec()).await
}

/// Delivers an Ashby sample's exact bytes with its recorded headers.
pub async fn post_ashby_sample(app: &TestApp, name: &str) -> reqwest::Response {
    post_raw(app, "/webhooks/ashby", &signed(name).headers, payload(name)).await
}

/// An Ashby application object in the documented shape, for deliveries
/// and for [`FakeAshby`] to answer with.
#[derive(Debug, Clone)]
pub struct AshbyApplication {
    /// Application id (a UUID).
    pub id: String,
    /// Candidate id (a UUID).
    pub candidate_id: String,
    /// Job id (a UUID).
    pub job_id: String,
    /// The candidate's primary email.
    pub email: String,
    /// `Active`, `Hired`, `Archived`, `Lead`.
    pub status: String,
    /// `currentInterviewStage.title`.
    pub stage: String,
    /// Our token in the "Referral token" custom field, if set.
    pub token: Option<String>,
    /// When the candidate applied (RFC 3339).
    pub created_at: String,
}

impl AshbyApplication {
    /// An active application in "Application Review", applied now.
    pub fn new(id: &str, candidate_id: &str, job_id: &str, email: &str) -> Self {
        Self {
            id: id.into(),
            candidate_id: candidate_id.into(),
            job_id: job_id.into(),
            email: email.into(),
            status: "Active".into(),
            stage: "Application Review".into(),
            token: None,
            created_at: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// The application object.
    pub fn json(&self) -> Value {
        let custom_fields: Vec<Value> = self
            .token
            .iter()
            .map(|t| json!({"id": "c7e2a9f4-3d5b-4a1c-8e6f-0b2d4f6a8c13", "title": "Referral token", "value": t, "isPrivate": false}))
            .collect();
        json!({
            "id": self.id, "createdAt": self.created_at, "updatedAt": chrono::Utc::now().to_rfc3339(),
            "status": self.status, "customFields": custom_fields,
            "candidate": {"id": self.candidate_id, "name": "Test Candidate",
                          "primaryEmailAddress": {"value": self.email, "type": "Personal", "isPrimary": true}},
            "currentInterviewStage": {"id": "6f2b8d4a-1c3e-4a5b-9d7f-3e5a7c9b1d35", "title": self.stage, "type": "Active"},
            "job": {"id": self.job_id, "title": "Engineer"},
            "hiringTeam": [],
        })
    }

    /// A delivery of `action` about this application under
    /// `webhook_action_id`; `start_date` adds the accepted offer of a hire.
    pub fn delivery(
        &self,
        webhook_action_id: &str,
        action: &str,
        start_date: Option<&str>,
    ) -> Vec<u8> {
        let mut data = json!({ "application": self.json() });
        if let Some(start) = start_date {
            data["offer"] = json!({
                "id": "4b6d8f0a-2c4e-4a6c-9e8a-1d3f5b7d9f13", "applicationId": self.id,
                "acceptanceStatus": "Accepted", "offerStatus": "CandidateAccepted",
                "decidedAt": chrono::Utc::now().to_rfc3339(),
                "latestVersion": {"id": "5c7e9a1b-3d5f-4b7d-8f9b-2e4a6c8e0a24", "startDate": start},
            });
        }
        serde_json::to_vec(
            &json!({ "webhookActionId": webhook_action_id, "action": action, "data": data }),
        )
        .expect("serialise")
    }
}

/// What the fake Ashby holds and shows.
#[derive(Debug, Default)]
pub struct AshbyState {
    /// Applications by id (what `application.info` answers).
    pub applications: HashMap<String, Value>,
    /// Users (what `user.search` searches).
    pub users: Vec<Value>,
    /// Custom field values by (object id, field id).
    pub field_values: HashMap<(String, String), Value>,
    /// Tags: `(id, title)`.
    pub tags: Vec<(String, String)>,
    /// Tag ids per candidate, in the order added.
    pub candidate_tags: HashMap<String, Vec<String>>,
    /// Credited user per application, as `application.update` set it.
    pub credited: HashMap<String, String>,
    /// Candidates (what `candidate.search` searches), in the order added.
    pub candidates: Vec<Value>,
    /// Offers (what `offer.list` lists), in the order added.
    pub offers: Vec<Value>,
    /// Items per page of `application.list` and `offer.list` (100 unless
    /// made smaller).
    pub page_size: Option<usize>,
    /// Forced failures, a revoked key, the rate limit.
    pub faults: Faults,
}

/// The API key [`FakeAshby`] accepts.
pub const ASHBY_KEY: &str = "ashby-test-key";

/// The "Referral token" Application field the fake's `customField.list`
/// offers (after a Candidate field of the same title, on another page).
pub const TOKEN_FIELD_ID: &str = "c7e2a9f4-3d5b-4a1c-8e6f-0b2d4f6a8c13";

/// A fake Ashby API (module docs).
pub struct FakeAshby {
    /// The server.
    pub ats: FakeAts,
    /// Its state.
    pub state: Arc<Mutex<AshbyState>>,
}

impl FakeAshby {
    /// Starts it with the user Priya Raman and no applications or tags.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(AshbyState::default()));
        state.lock().expect("lock").users.push(json!({
            "id": sample::PRIYA_USER, "firstName": "Priya", "lastName": "Raman",
            "email": "priya.raman@acme-example.com", "globalRole": "Elevated Access", "isEnabled": true
        }));
        let shared = state.clone();
        let ats = FakeAts::start_with_headers(move |seen| answer_with_faults(&shared, seen)).await;
        Self { ats, state }
    }

    /// Adds a candidate object as `candidate.search` answers it.
    pub fn add_candidate(&self, candidate: Value) {
        self.state.lock().expect("lock").candidates.push(candidate);
    }

    /// Adds an offer object as `offer.list` answers it.
    pub fn add_offer(&self, offer: Value) {
        self.state.lock().expect("lock").offers.push(offer);
    }

    /// What `application.info` answers for `application.id` from now on.
    pub fn set_application(&self, application: &AshbyApplication) {
        self.state
            .lock()
            .expect("lock")
            .applications
            .insert(application.id.clone(), application.json());
    }

    /// The token written to application `id`, if any.
    pub fn token_of(&self, id: &str) -> Option<Value> {
        self.state
            .lock()
            .expect("lock")
            .field_values
            .get(&(id.to_owned(), TOKEN_FIELD_ID.to_owned()))
            .cloned()
    }

    /// The titles of candidate `id`'s tags.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        let state = self.state.lock().expect("lock");
        state
            .candidate_tags
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|t| state.tags.iter().find(|(tid, _)| tid == t))
            .map(|(_, title)| title.clone())
            .collect()
    }

    /// The user application `id` is credited to, if set through the API.
    pub fn credited(&self, id: &str) -> Option<String> {
        self.state.lock().expect("lock").credited.get(id).cloned()
    }
}

fn ok(results: Value) -> (u16, Value) {
    (200, json!({ "success": true, "results": results }))
}

/// Ashby's error envelope, on HTTP 200 as Ashby sends it.
fn failure(code: &str, message: &str) -> (u16, Value) {
    (
        200,
        json!({ "success": false, "errors": [code],
                "errorInfo": { "code": code, "message": message, "requestId": "req-test" } }),
    )
}

/// One page of `items` from `cursor` (one item a page, so that every
/// listing crosses pages).
fn page(items: &[Value], cursor: Option<&str>) -> (u16, Value) {
    let at: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    let more = at + 1 < items.len();
    let mut body = json!({
        "success": true,
        "results": items.get(at).cloned().into_iter().collect::<Vec<_>>(),
        "moreDataAvailable": more,
    });
    if more {
        body["nextCursor"] = (at + 1).to_string().into();
    } else {
        body["syncToken"] = "sync-token".into();
    }
    (200, body)
}

/// One page of a listing that takes `limit` and `cursor`.
fn limited_page(items: &[Value], body: &Value, page_size: Option<usize>) -> (u16, Value) {
    let limit = body["limit"]
        .as_u64()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(100)
        .clamp(1, 100)
        .min(page_size.unwrap_or(100));
    let at: usize = body["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("ashby-cursor-"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let end = (at + limit).min(items.len());
    let more = end < items.len();
    let mut page = json!({
        "success": true,
        "results": items.get(at..end).unwrap_or_default(),
        "moreDataAvailable": more,
    });
    if more {
        page["nextCursor"] = format!("ashby-cursor-{end}").into();
    } else {
        page["syncToken"] = "sync-token".into();
    }
    (200, page)
}

/// [`answer`] behind the fake's [`Faults`]: a 429 with `Retry-After` or a
/// 5xx in place of the answer when one is due, a 401 once the key is
/// revoked.
fn answer_with_faults(state: &Mutex<AshbyState>, seen: &Seen) -> Reply {
    let (fault, revoked) = {
        let mut s = state.lock().expect("lock");
        (s.faults.intercept(), s.faults.credentials_revoked)
    };
    match fault {
        Some(Fault::Throttled { retry_after: secs }) => (
            429,
            retry_after(secs),
            json!({"success": false, "errorInfo": {"code": "rate_limit_exceeded"}}),
        ),
        Some(Fault::ServerError(status)) => (
            status,
            Vec::new(),
            json!({"message": "Internal Server Error"}),
        ),
        None if revoked => (
            401,
            Vec::new(),
            json!({ "success": false, "errorInfo": { "code": "unauthenticated" } }),
        ),
        None => {
            let (status, body) = answer(state, seen);
            (status, Vec::new(), body)
        }
    }
}

fn answer(state: &Mutex<AshbyState>, seen: &Seen) -> (u16, Value) {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ASHBY_KEY}:"))
    );
    if seen.method != "POST" || seen.header("authorization") != Some(expected.as_str()) {
        return (
            401,
            json!({ "success": false, "errorInfo": { "code": "unauthenticated" } }),
        );
    }
    let body = seen.json();
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    let cursor = body["cursor"].as_str();
    let mut s = state.lock().expect("lock");
    match seen.path.trim_start_matches("/v1/") {
        "application.info" => match s.applications.get(&text("applicationId")) {
            Some(app) => {
                let mut app = app.clone();
                if let Some(user) = s.credited.get(&text("applicationId")) {
                    app["creditedToUser"] = json!({ "id": user });
                }
                ok(app)
            }
            None => failure("application_not_found", "Application not found"),
        },
        "customField.list" => page(
            &[
                json!({"id": "f-candidate", "title": "Referral token", "objectType": "Candidate", "isArchived": false, "fieldType": "String"}),
                json!({"id": TOKEN_FIELD_ID, "title": "Referral token", "objectType": "Application", "isArchived": false, "fieldType": "String"}),
            ],
            cursor,
        ),
        "customField.setValues" => {
            let object = text("objectId");
            for v in body["values"].as_array().into_iter().flatten() {
                let field = v["fieldId"].as_str().unwrap_or_default().to_owned();
                s.field_values
                    .insert((object.clone(), field), v["fieldValue"].clone());
            }
            ok(json!({}))
        }
        "candidateTag.list" => {
            let tags: Vec<Value> = s
                .tags
                .iter()
                .map(|(id, title)| json!({"id": id, "title": title, "isArchived": false}))
                .collect();
            page(&tags, cursor)
        }
        "candidateTag.create" => {
            let id = format!("00000000-0000-4000-8000-{:012}", s.tags.len() + 1);
            s.tags.push((id.clone(), text("title")));
            ok(json!({"id": id, "title": text("title"), "isArchived": false}))
        }
        "candidate.addTag" => {
            let tags = s.candidate_tags.entry(text("candidateId")).or_default();
            let tag = text("tagId");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
            ok(json!({"id": text("candidateId")}))
        }
        "candidate.search" => {
            let email = text("email").to_lowercase();
            let found: Vec<Value> = s
                .candidates
                .iter()
                .filter(|c| {
                    c["emailAddresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["value"].as_str().map(str::to_lowercase) == Some(email.clone()))
                })
                .cloned()
                .collect();
            ok(Value::Array(found))
        }
        "offer.list" => {
            let application = body["applicationId"].as_str();
            let accepted_only = body["acceptanceStatus"].is_array();
            let offers: Vec<Value> = s
                .offers
                .iter()
                .filter(|o| application.is_none_or(|a| o["applicationId"] == a))
                .filter(|o| !accepted_only || o["acceptanceStatus"] == "Accepted")
                .cloned()
                .collect();
            limited_page(&offers, &body, s.page_size)
        }
        "application.list" => {
            let mut apps: Vec<(&String, &Value)> = s.applications.iter().collect();
            apps.sort_by_key(|(id, _)| id.as_str());
            let apps: Vec<Value> = apps.into_iter().map(|(_, a)| a.clone()).collect();
            limited_page(&apps, &body, s.page_size)
        }
        "user.search" => {
            let email = text("email").to_lowercase();
            let found: Vec<Value> = s
                .users
                .iter()
                .filter(|u| u["email"].as_str().map(str::to_lowercase) == Some(email.clone()))
                .cloned()
                .collect();
            ok(Value::Array(found))
        }
        "application.update" => {
            let app = text("applicationId");
            if !s.applications.contains_key(&app) {
                return failure("application_not_found", "Application not found");
            }
            if let Some(user) = body["creditedToUserId"].as_str() {
                s.credited.insert(app.clone(), user.to_owned());
            }
            ok(s.applications[&app].clone())
        }
        other => failure("invalid_method", &format!("no such method {other}")),
    }
}
