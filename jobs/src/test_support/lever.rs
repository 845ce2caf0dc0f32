//! A fake Lever API for the Lever client's tests: a real HTTP server
//! (see [`super::server`]) that behaves like `api.lever.co/v1` in what the
//! client relies on.
//!
//! * Basic auth with the API key and an empty password, else `401`;
//! * `GET /opportunities/:id`, `/opportunities/:id/offers`,
//!   `/opportunities/:id/referrals`, `/users/:id`, `/archive_reasons` and
//!   `/opportunities` (filtered by `updated_at_start`), lists paged with
//!   `limit` and an opaque `offset` token returned as `next` while
//!   `hasNext` is true (the page size can be made small to force paging);
//! * `POST /opportunities/:id/addTags|addSources`: sets, applied to the
//!   opportunity;
//! * a throttle: the next N requests are answered `429` with
//!   `Retry-After`, as Lever's token bucket does.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::server::{Reply, Seen, TestServer, basic, json as reply};

/// What the fake holds.
#[derive(Default)]
struct State {
    key: String,
    page_size: usize,
    opportunities: Vec<Value>,
    archive_reasons: Vec<Value>,
    offers: HashMap<String, Vec<Value>>,
    referrals: HashMap<String, Vec<Value>>,
    users: HashMap<String, Value>,
    /// Requests still to be answered 429, and the `Retry-After` seconds.
    throttle: Option<(u32, u64)>,
}

/// The fake. Clone the handle freely; all clones share one server state.
pub(crate) struct FakeLever {
    pub(crate) server: TestServer,
    state: Arc<Mutex<State>>,
}

/// The id of the fake's `hired` archive reason.
pub(crate) const HIRED: &str = "reason-hired-0001";
/// The id of a `non-hired` reason whose label still says "Hired".
pub(crate) const HIRED_ELSEWHERE: &str = "reason-hired-elsewhere-0002";

impl FakeLever {
    /// Starts it for API key `key`, with two archive reasons ([`HIRED`],
    /// [`HIRED_ELSEWHERE`]) and pages of 100.
    pub(crate) async fn start(key: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            key: key.to_owned(),
            page_size: 100,
            archive_reasons: vec![
                json!({"id": HIRED, "text": "Hired", "status": "active", "type": "hired"}),
                json!({"id": HIRED_ELSEWHERE, "text": "Hired elsewhere", "status": "active", "type": "non-hired"}),
            ],
            ..State::default()
        }));
        let shared = state.clone();
        let server = TestServer::start(move |seen| answer(&mut shared.lock().unwrap(), seen)).await;
        Self { server, state }
    }

    /// The base URL to configure (`…/v1`).
    pub(crate) fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("{}/v1", self.server.base)).unwrap()
    }

    /// At most `n` items per page, whatever `limit` asks.
    pub(crate) fn page_size(&self, n: usize) {
        self.state.lock().unwrap().page_size = n.max(1);
    }

    /// Adds or replaces an opportunity (its `id` decides).
    pub(crate) fn put_opportunity(&self, opp: Value) {
        let mut s = self.state.lock().unwrap();
        s.opportunities.retain(|o| o["id"] != opp["id"]);
        s.opportunities.push(opp);
    }

    /// The opportunity as the fake now holds it.
    pub(crate) fn opportunity(&self, id: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.opportunities.iter().find(|o| o["id"] == id).cloned()
    }

    /// Adds an archive reason.
    pub(crate) fn put_archive_reason(&self, reason: Value) {
        self.state.lock().unwrap().archive_reasons.push(reason);
    }

    /// The offers of opportunity `id`.
    pub(crate) fn put_offers(&self, id: &str, offers: Vec<Value>) {
        self.state.lock().unwrap().offers.insert(id.into(), offers);
    }

    /// The referral forms of opportunity `id`.
    pub(crate) fn put_referrals(&self, id: &str, referrals: Vec<Value>) {
        self.state
            .lock()
            .unwrap()
            .referrals
            .insert(id.into(), referrals);
    }

    /// Adds a user (its `id` decides).
    pub(crate) fn put_user(&self, user: Value) {
        let id = user["id"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().users.insert(id, user);
    }

    /// The next `n` requests are answered 429 with `Retry-After: secs`.
    pub(crate) fn throttle(&self, n: u32, secs: u64) {
        self.state.lock().unwrap().throttle = Some((n, secs));
    }

    /// The requests so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.server.seen()
    }

    /// The paths (without query) of the requests so far.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| s.uri.split('?').next().unwrap_or_default().to_owned())
            .collect()
    }
}

fn answer(s: &mut State, seen: &Seen) -> Reply {
    if let Some((n, secs)) = s.throttle.take() {
        if n > 1 {
            s.throttle = Some((n - 1, secs));
        }
        return (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", secs.to_string())],
            json!({"code": "TooManyRequests", "message": "Rate limit exceeded"}).to_string(),
        );
    }
    if seen.header("authorization") != Some(basic(&s.key).as_str()) {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"code": "UnauthorizedError", "message": "Invalid API key"}),
        );
    }
    let (path, query) = seen.uri.split_once('?').unwrap_or((&seen.uri, ""));
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let parts: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let not_found = || {
        reply(
            StatusCode::NOT_FOUND,
            json!({"code": "ResourceNotFound", "message": "Not found"}),
        )
    };
    match (seen.method.as_str(), parts.as_slice()) {
        ("GET", ["archive_reasons"]) => paged(s.archive_reasons.clone(), s.page_size, &param),
        ("GET", ["opportunities"]) => {
            let since = param("updated_at_start").and_then(|v| v.parse::<i64>().ok());
            let items = s
                .opportunities
                .iter()
                .filter(|o| since.is_none_or(|t| o["updatedAt"].as_i64().unwrap_or(0) >= t))
                .cloned()
                .collect();
            paged(items, s.page_size, &param)
        }
        ("GET", ["opportunities", id]) => match s.opportunities.iter().find(|o| o["id"] == *id) {
            Some(o) => reply(StatusCode::OK, json!({ "data": o })),
            None => not_found(),
        },
        ("GET", ["opportunities", id, "offers"]) => paged(
            s.offers.get(*id).cloned().unwrap_or_default(),
            s.page_size,
            &param,
        ),
        ("GET", ["opportunities", id, "referrals"]) => paged(
            s.referrals.get(*id).cloned().unwrap_or_default(),
            s.page_size,
            &param,
        ),
        ("GET", ["users", id]) => match s.users.get(*id) {
            Some(u) => reply(StatusCode::OK, json!({ "data": u })),
            None => not_found(),
        },
        ("POST", ["opportunities", id, action @ ("addTags" | "addSources")]) => {
            let field = if *action == "addTags" {
                "tags"
            } else {
                "sources"
            };
            let Ok(body) = serde_json::from_slice::<Value>(&seen.body) else {
                return reply(StatusCode::BAD_REQUEST, json!({"code": "BadRequestError"}));
            };
            let Some(opp) = s.opportunities.iter_mut().find(|o| o["id"] == *id) else {
                return not_found();
            };
            let mut values: Vec<Value> = opp[field].as_array().cloned().unwrap_or_default();
            for v in body[field].as_array().cloned().unwrap_or_default() {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            opp[field] = Value::Array(values);
            reply(StatusCode::OK, json!({ "data": opp }))
        }
        _ => not_found(),
    }
}

/// One page of `items`: `limit` (at most the page size) from the offset
/// the opaque `offset` token names.
fn paged<'a>(
    items: Vec<Value>,
    page_size: usize,
    param: &dyn Fn(&str) -> Option<&'a str>,
) -> Reply {
    let limit = param("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100)
        .min(page_size);
    let start = match param("offset") {
        None => 0,
        Some(token) => match token
            .strip_prefix("fake-offset-")
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            None => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({"code": "BadRequestError", "message": "Invalid offset token"}),
                );
            }
        },
    };
    let end = (start + limit).min(items.len());
    let page = items.get(start..end).unwrap_or_default().to_vec();
    let has_next = end < items.len();
    let mut body = json!({ "data": page, "hasNext": has_next });
    if has_next {
        body["next"] = json!(format!("fake-offset-{end}"));
    }
    reply(StatusCode::OK, body)
}
