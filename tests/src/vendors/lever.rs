//! A fake Lever API (`/v1`) for end-to-end tests: a real HTTP server
//! ([`FakeAts`]) that answers like Lever in what the service relies on.
//!
//! * Basic auth with [`LEVER_KEY`] and an empty password, else `401`;
//! * `GET /opportunities/:id` (`{"data": …}`, 404 for others),
//!   `/opportunities` (filtered by `updated_at_start` against
//!   `updatedAt`), `/opportunities/:id/offers`,
//!   `/opportunities/:id/referrals`, `/archive_reasons`, `/users/:id`,
//!   `/postings/:id` (`{"data": posting}` with Lever's `categories`:
//!   `team`, `department`, `location`, `commitment`, `level`; 404 for
//!   others);
//!   `GET /opportunities?email=` matches a contact's address exactly but
//!   for case, as Lever's look-up does;
//!   lists page with `limit` and an opaque `offset` token returned as
//!   `next` while `hasNext` is true (the page size can be made small);
//! * `POST /opportunities/:id/addTags|addSources`: sets, applied to the
//!   opportunity, `{"data": opportunity}` back;
//! * archive reasons: [`HIRED_REASON`] (type `hired`) and
//!   [`HIRED_ELSEWHERE_REASON`] (type `non-hired`, though its label says
//!   "Hired"), as every Lever account has a hired reason and others;
//! * faults ([`Faults`]): the next N requests answered `429` with
//!   `Retry-After` or a `5xx`, the key revoked, and on request Lever's
//!   documented budget enforced ([`LEVER_RATE_LIMIT`]).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::faults::{Fault, Faults, RateLimit, retry_after};
use crate::fixtures::{FakeAts, LEVER_KEY, Reply, Seen};

/// Lever's documented budget: a token bucket per key, 10 requests a
/// second with bursts of 20.
pub const LEVER_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 20,
};

/// The id of the fake account's `hired` archive reason.
pub const HIRED_REASON: &str = "8b4d4a25-hired-reason-0001";
/// A `non-hired` reason whose label still says "Hired".
pub const HIRED_ELSEWHERE_REASON: &str = "8b4d4a25-hired-elsewhere-0002";

#[derive(Default)]
struct State {
    page_size: usize,
    opportunities: Vec<Value>,
    archive_reasons: Vec<Value>,
    offers: HashMap<String, Vec<Value>>,
    referrals: HashMap<String, Vec<Value>>,
    users: HashMap<String, Value>,
    postings: HashMap<String, Value>,
    faults: Faults,
}

/// The fake Lever.
pub struct FakeLever {
    /// The server (its requests, its base URL).
    pub ats: FakeAts,
    state: Arc<Mutex<State>>,
}

impl FakeLever {
    /// Starts it with no opportunities, the two archive reasons, pages of 100.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            page_size: 100,
            archive_reasons: vec![
                json!({"id": HIRED_REASON, "text": "Hired", "status": "active", "type": "hired"}),
                json!({"id": HIRED_ELSEWHERE_REASON, "text": "Hired elsewhere",
                       "status": "active", "type": "non-hired"}),
            ],
            ..State::default()
        }));
        let shared = state.clone();
        let ats = FakeAts::start_with_headers(move |seen| {
            answer(&mut shared.lock().expect("lock"), seen)
        })
        .await;
        Self { ats, state }
    }

    /// What `GET /opportunities/{id}` answers from now on (the `data`
    /// object; its `id` is set to `id`).
    pub fn set_opportunity(&self, id: &str, mut data: Value) {
        data["id"] = json!(id);
        let mut s = self.state.lock().expect("lock");
        s.opportunities.retain(|o| o["id"] != id);
        s.opportunities.push(data);
    }

    /// The opportunity as the fake holds it now (after tag/source writes).
    pub fn opportunity(&self, id: &str) -> Option<Value> {
        let s = self.state.lock().expect("lock");
        s.opportunities.iter().find(|o| o["id"] == id).cloned()
    }

    /// The offers of opportunity `id`.
    pub fn set_offers(&self, id: &str, offers: Vec<Value>) {
        self.state
            .lock()
            .expect("lock")
            .offers
            .insert(id.into(), offers);
    }

    /// The referral forms of opportunity `id`.
    pub fn set_referrals(&self, id: &str, referrals: Vec<Value>) {
        self.state
            .lock()
            .expect("lock")
            .referrals
            .insert(id.into(), referrals);
    }

    /// Adds a Lever user.
    pub fn set_user(&self, id: &str, name: &str, email: &str) {
        self.state.lock().expect("lock").users.insert(
            id.into(),
            json!({"id": id, "name": name, "email": email, "accessRole": "interviewer"}),
        );
    }

    /// Adds a posting whose `categories` say `level`, `department` and
    /// `location` (each left out when `None`, as Lever leaves an unset
    /// category out).
    pub fn set_posting(
        &self,
        id: &str,
        level: Option<&str>,
        department: Option<&str>,
        location: Option<&str>,
    ) {
        let mut categories = json!({ "team": "Platform", "commitment": "Full-time" });
        for (name, value) in [
            ("level", level),
            ("department", department),
            ("location", location),
        ] {
            if let Some(value) = value {
                categories[name] = json!(value);
            }
        }
        self.state.lock().expect("lock").postings.insert(
            id.into(),
            json!({
                "id": id, "text": "Software Engineer", "state": "published",
                "categories": categories, "tags": [], "createdAt": 1_700_000_000_000i64,
            }),
        );
    }

    /// At most `n` items per page.
    pub fn page_size(&self, n: usize) {
        self.state.lock().expect("lock").page_size = n.max(1);
    }

    /// The next `n` requests are answered 429 with `Retry-After: secs`.
    pub fn throttle(&self, n: u32, secs: u64) {
        self.state.lock().expect("lock").faults.throttle(n, secs);
    }

    /// The fake's faults, to force failures or enforce the rate limit.
    pub fn faults<T>(&self, f: impl FnOnce(&mut Faults) -> T) -> T {
        f(&mut self.state.lock().expect("lock").faults)
    }
}

/// `opportunity` archived for `reason` at `at` (Lever archives a hire too).
pub fn archived(mut opportunity: Value, reason: &str, at: DateTime<Utc>) -> Value {
    opportunity["archived"] = json!({"archivedAt": at.timestamp_millis(), "reason": reason});
    opportunity
}

/// An offer as `GET /opportunities/:id/offers` lists it, with its
/// `anticipated_start_date` (epoch milliseconds, as Lever sends dates).
pub fn offer(id: &str, status: &str, created_at: DateTime<Utc>, starts: DateTime<Utc>) -> Value {
    json!({
        "id": id,
        "posting": "posting",
        "createdAt": created_at.timestamp_millis(),
        "status": status,
        "creator": "user-recruiter",
        "fields": [
            {"text": "Salary", "identifier": "salary_amount", "value": 90000},
            {"text": "Anticipated start date", "identifier": "anticipated_start_date",
             "value": starts.timestamp_millis()},
        ],
        "sentDocument": null,
        "signedDocument": null,
    })
}

/// A referral form as `GET /opportunities/:id/referrals` lists it:
/// submitted by `referrer` for the candidate.
pub fn referral_form(id: &str, referrer: &str, created_at: DateTime<Utc>) -> Value {
    json!({
        "id": id,
        "type": "referral",
        "text": "Referral",
        "instructions": "Ask about: relationship",
        "fields": [
            {"type": "text", "text": "Name of referrer", "required": true, "value": "Referrer"},
            {"type": "textarea", "text": "Relationship", "required": false, "value": "Worked together"},
        ],
        "baseTemplateId": "template-1",
        "user": referrer,
        "referrer": referrer,
        "stage": null,
        "createdAt": created_at.timestamp_millis(),
        "completedAt": created_at.timestamp_millis(),
    })
}

fn answer(s: &mut State, seen: &Seen) -> Reply {
    match s.faults.intercept() {
        Some(Fault::Throttled { retry_after: secs }) => {
            return (429, retry_after(secs), json!({"code": "TooManyRequests"}));
        }
        Some(Fault::ServerError(status)) => {
            return (status, Vec::new(), json!({"code": "ServiceUnavailable"}));
        }
        None => {}
    }
    if s.faults.credentials_revoked
        || seen.header("authorization") != Some(basic(LEVER_KEY).as_str())
    {
        return (401, Vec::new(), json!({"code": "UnauthorizedError"}));
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(seen.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let parts: Vec<&str> = seen.path.trim_start_matches("/v1/").split('/').collect();
    let not_found = (404, Vec::new(), json!({"code": "ResourceNotFound"}));
    let ok = |body: Value| (200, Vec::new(), body);
    match (seen.method.as_str(), parts.as_slice()) {
        ("GET", ["archive_reasons"]) => ok(paged(&s.archive_reasons, s.page_size, &param)),
        ("GET", ["opportunities"]) => {
            let since = param("updated_at_start").and_then(|v| v.parse::<i64>().ok());
            let email = param("email").map(|e| e.to_lowercase());
            let items: Vec<Value> = s
                .opportunities
                .iter()
                .filter(|o| since.is_none_or(|t| o["updatedAt"].as_i64().unwrap_or(t) >= t))
                .filter(|o| {
                    email.as_ref().is_none_or(|e| {
                        o["emails"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|a| a.as_str().is_some_and(|a| a.to_lowercase() == *e))
                    })
                })
                .cloned()
                .collect();
            ok(paged(&items, s.page_size, &param))
        }
        ("GET", ["opportunities", id]) => match s.opportunities.iter().find(|o| o["id"] == *id) {
            Some(o) => ok(json!({ "data": o })),
            None => not_found,
        },
        ("GET", ["opportunities", id, "offers"]) => ok(paged(
            s.offers.get(*id).map_or(&[][..], Vec::as_slice),
            s.page_size,
            &param,
        )),
        ("GET", ["opportunities", id, "referrals"]) => ok(paged(
            s.referrals.get(*id).map_or(&[][..], Vec::as_slice),
            s.page_size,
            &param,
        )),
        ("GET", ["postings", id]) => match s.postings.get(*id) {
            Some(p) => ok(json!({ "data": p })),
            None => not_found,
        },
        ("GET", ["users", id]) => match s.users.get(*id) {
            Some(u) => ok(json!({ "data": u })),
            None => not_found,
        },
        ("POST", ["opportunities", id, action @ ("addTags" | "addSources")]) => {
            let field = if *action == "addTags" {
                "tags"
            } else {
                "sources"
            };
            let body = seen.json();
            let Some(opp) = s.opportunities.iter_mut().find(|o| o["id"] == *id) else {
                return not_found;
            };
            let mut values = opp[field].as_array().cloned().unwrap_or_default();
            for v in body[field].as_array().cloned().unwrap_or_default() {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            opp[field] = Value::Array(values);
            ok(json!({ "data": opp }))
        }
        _ => not_found,
    }
}

/// One page: `limit` items (at most the page size) from the offset the
/// opaque token names.
fn paged(items: &[Value], page_size: usize, param: &dyn Fn(&str) -> Option<String>) -> Value {
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100)
        .min(page_size);
    let start = param("offset")
        .and_then(|t| t.strip_prefix("lever-offset-").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let end = (start + limit).min(items.len());
    let page = items.get(start..end).unwrap_or_default().to_vec();
    let has_next = end < items.len();
    let mut body = json!({ "data": page, "hasNext": has_next });
    if has_next {
        body["next"] = json!(format!("lever-offset-{end}"));
    }
    body
}

/// `Basic base64(key:)`, computed here rather than by the client under test.
pub fn basic(key: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{key}:").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
