//! A fake Greenhouse Harvest v3 that behaves like the vendor in what the
//! service relies on (`docs/greenhouse-harvest-v3.md`). It is a plain
//! request → answer type ([`FakeHarvest::answer`]) so that any local HTTP
//! server can host it: the client's unit tests host it on
//! [`super::server::TestServer`], the end-to-end tests and the connector
//! conformance suite on `tests::fixtures::FakeAts` (the crate is built
//! with feature `fakes` for them).
//!
//! What it does:
//!
//! * `POST /token`: checks Basic `client_id:client_secret` and the form
//!   `grant_type=client_credentials&sub=<user id>`, issues a new token
//!   with a short `expires_at` (RFC 3339, alternately `Z` and `+0000`);
//! * every `/v3/...` request needs `Authorization: Bearer` with an issued,
//!   unexpired token, else 401;
//! * `GET /v3/applications|candidates|jobs|departments|offices|offers|
//!   users|referrers|candidate_tags|applied_candidate_tags` with `ids=`,
//!   the parent-id filters, pipe-syntax date filters (`updated_at=gte|T`,
//!   `starts_on=gte|D`), `status`, `current_only`, `email`,
//!   `primary_email`; ordered by id descending; paged by `per_page`
//!   (1–500, default 100, 422 outside) and an opaque cursor given only in
//!   `Link: <…>; rel="next"`. A cursor with any other parameter is 422;
//! * `PATCH /v3/applications/{id}` with `custom_fields: [{name_key,
//!   value}]`, `source_id`, `referrer_id` (422 for a referrer id that is
//!   no `/v3/referrers` row); `POST /v3/candidate_tags`, `POST
//!   /v3/applied_candidate_tags` (422 when already applied);
//! * `custom_fields` answered keyed, `{name_key: {name, type, value}}`;
//! * a fixed 30-second window of [`RATE_LIMIT`] requests (both settable),
//!   `X-RateLimit-Limit/Remaining/Reset` on every answer, 429 with
//!   `Retry-After` past the limit; on demand the
//!   next requests are 429 with `Retry-After`, or a 5xx.
//!
//! # Builder API
//!
//! [`FakeHarvest::new`] (credentials), then seed with
//! [`FakeHarvest::application`], [`FakeHarvest::candidate`],
//! [`FakeHarvest::job`], [`FakeHarvest::department`],
//! [`FakeHarvest::office`], [`FakeHarvest::offer`],
//! [`FakeHarvest::user`], [`FakeHarvest::referrer`],
//! [`FakeHarvest::candidate_tag`] (or [`FakeHarvest::put`] for any
//! record); shape with [`FakeHarvest::page_size`],
//! [`FakeHarvest::token_lifetime`], [`FakeHarvest::rate_limit`],
//! [`FakeHarvest::window_length`]; force failures with
//! [`FakeHarvest::throttle`], [`FakeHarvest::throttle_writes`],
//! [`FakeHarvest::fail_next`],
//! [`FakeHarvest::expire_tokens`]; read back with
//! [`FakeHarvest::record`], [`FakeHarvest::tags_of`],
//! [`FakeHarvest::tokens_issued`], [`FakeHarvest::unauthorized`],
//! [`FakeHarvest::over_limit`],
//! [`FakeHarvest::requests`].

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};
use serde_json::{Value, json};

/// A request as the fake needs it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `PATCH`, …
    pub method: &'a str,
    /// The path, e.g. `/v3/applications`.
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// The fake's answer: status, headers, JSON body.
pub type Answer = (u16, Vec<(&'static str, String)>, Value);

/// The default `X-RateLimit-Limit` per 30-second window (the docs'
/// example).
pub const RATE_LIMIT: u32 = 75;

/// Harvest v3's fixed rate-limit window.
const WINDOW: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    client_id: String,
    client_secret: String,
    /// Every resource's records by id.
    records: BTreeMap<&'static str, BTreeMap<u64, Value>>,
    /// Issued tokens and when each expires.
    tokens: Vec<(String, DateTime<Utc>)>,
    token_lifetime: Duration,
    page_size_cap: usize,
    /// Requests still to be answered 429, their `Retry-After` seconds,
    /// and whether only writes (`PATCH`, `POST`) count.
    throttle: Option<(u32, u64, bool)>,
    failures: Option<(u32, u16)>,
    next_id: u64,
    /// Requests allowed per window.
    rate_limit: u32,
    /// The window's length: Harvest's 30 s unless a test shortens it.
    window_length: Duration,
    /// Requests refused 429 because the window's budget was spent.
    over_limit: usize,
    /// When the current window started, and the requests used in it.
    window: Option<(DateTime<Utc>, u32)>,
    requests: Vec<String>,
    /// API requests refused 401 (no, unknown or expired token).
    unauthorized: usize,
    /// Root URL as seen by clients (`http://127.0.0.1:port`), for `Link`.
    root: String,
}

/// The fake. Clones share one state.
#[derive(Clone)]
pub struct FakeHarvest {
    state: Arc<Mutex<State>>,
}

const RESOURCES: [&str; 10] = [
    "applications",
    "candidates",
    "jobs",
    "departments",
    "offices",
    "offers",
    "users",
    "referrers",
    "candidate_tags",
    "applied_candidate_tags",
];

fn resource(name: &str) -> Option<&'static str> {
    RESOURCES.iter().copied().find(|r| *r == name)
}

impl FakeHarvest {
    /// A fake for this credential, tokens living 10 minutes, pages capped
    /// only by `per_page`.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                token_lifetime: Duration::from_secs(600),
                page_size_cap: 500,
                rate_limit: RATE_LIMIT,
                window_length: WINDOW,
                next_id: 900_000,
                ..State::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the root URL clients reach the fake at (`http://host:port`),
    /// which `Link` headers are built from. Hosts call it once.
    pub fn set_root(&self, root: &str) {
        self.lock().root = root.trim_end_matches('/').to_owned();
    }

    /// Adds or replaces a record of `resource` (its `id` decides).
    ///
    /// # Panics
    /// On an unknown resource or a record without a numeric id.
    pub fn put(&self, resource_name: &str, record: Value) {
        let r = resource(resource_name).expect("a v3 resource the fake knows");
        let id = record["id"].as_u64().expect("a numeric id");
        self.lock().records.entry(r).or_default().insert(id, record);
    }

    /// A record as the fake holds it now.
    pub fn record(&self, resource_name: &str, id: u64) -> Option<Value> {
        let r = resource(resource_name)?;
        self.lock().records.get(r)?.get(&id).cloned()
    }

    /// Seeds an application: `status` as v3 answers it (`in_process`,
    /// `hired`, …), updated at `updated_at`.
    pub fn application(
        &self,
        id: u64,
        candidate_id: u64,
        job_id: u64,
        status: &str,
        updated_at: DateTime<Utc>,
    ) {
        let at = updated_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.put(
            "applications",
            json!({
                "id": id, "candidate_id": candidate_id, "job_id": job_id, "status": status,
                "prospect": false, "stage_id": 1, "stage_name": "Application Review",
                "source_id": null, "referrer_id": null, "recruiter_id": null,
                "created_at": at, "updated_at": at, "last_activity_at": at,
                "rejected_at": null, "custom_fields": {},
            }),
        );
    }

    /// Seeds a candidate with one work email.
    pub fn candidate(&self, id: u64, first_name: &str, last_name: &str, email: &str) {
        self.put(
            "candidates",
            json!({
                "id": id, "first_name": first_name, "last_name": last_name,
                "email_addresses": [{"value": email, "type": "personal"}],
                "phone_numbers": [], "tags": [], "custom_fields": {},
            }),
        );
    }

    /// Seeds a job in department `department_id` and office `office_id`,
    /// with a level in the job custom field `level_key` when given.
    pub fn job(&self, id: u64, department_id: u64, office_id: u64, level: Option<(&str, &str)>) {
        let mut fields = serde_json::Map::new();
        if let Some((key, value)) = level {
            fields.insert(
                key.into(),
                json!({"name": "Level", "type": "short_text", "value": value}),
            );
        }
        self.put(
            "jobs",
            json!({
                "id": id, "name": "Engineer", "status": "open", "department_id": department_id,
                "office_ids": [office_id], "custom_fields": fields,
            }),
        );
    }

    /// Seeds a department.
    pub fn department(&self, id: u64, name: &str) {
        self.put("departments", json!({"id": id, "name": name}));
    }

    /// Seeds an office.
    pub fn office(&self, id: u64, name: &str) {
        self.put("offices", json!({"id": id, "name": name}));
    }

    /// Seeds an offer (`status` capitalised as v3 answers it).
    pub fn offer(&self, id: u64, application_id: u64, status: &str, starts_on: NaiveDate) {
        self.put(
            "offers",
            json!({
                "id": id, "application_id": application_id, "candidate_id": null, "job_id": null,
                "version": 1, "status": status, "starts_on": starts_on.to_string(),
                "sent_on": null, "resolved_at": null, "custom_fields": {},
            }),
        );
    }

    /// Seeds a user.
    pub fn user(&self, id: u64, primary_email: &str) {
        self.put(
            "users",
            json!({"id": id, "primary_email": primary_email, "emails": [primary_email],
                   "deactivated": false, "site_admin": false}),
        );
    }

    /// Seeds a referrer row for `user_id` (created in the UI in real life).
    pub fn referrer(&self, id: u64, user_id: Option<u64>) {
        self.put(
            "referrers",
            json!({"id": id, "name": "Referrer", "user_id": user_id}),
        );
    }

    /// Seeds a candidate tag.
    pub fn candidate_tag(&self, id: u64, name: &str) {
        self.put("candidate_tags", json!({"id": id, "name": name}));
    }

    /// The names of the tags applied to candidate `candidate_id`.
    pub fn tags_of(&self, candidate_id: u64) -> Vec<String> {
        let s = self.lock();
        let tags = s.records.get("candidate_tags");
        s.records
            .get("applied_candidate_tags")
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|row| row["candidate_id"].as_u64() == Some(candidate_id))
            .filter_map(|row| {
                let tag = tags?.get(&row["candidate_tag_id"].as_u64()?)?;
                tag["name"].as_str().map(str::to_owned)
            })
            .collect()
    }

    /// At most `n` records per page, whatever `per_page` asks.
    pub fn page_size(&self, n: usize) {
        self.lock().page_size_cap = n.max(1);
    }

    /// Requests allowed per window (default [`RATE_LIMIT`]).
    pub fn rate_limit(&self, n: u32) {
        self.lock().rate_limit = n.max(1);
    }

    /// The rate-limit window's length (default Harvest's 30 s; whole
    /// seconds, as `X-RateLimit-Reset` counts them): a test that must
    /// cross windows shortens it rather than wait for real ones.
    pub fn window_length(&self, d: Duration) {
        self.lock().window_length = d.max(Duration::from_secs(1));
    }

    /// How many API requests were refused 429 because the caller spent the
    /// window's budget (forced throttles not counted).
    pub fn over_limit(&self) -> usize {
        self.lock().over_limit
    }

    /// How long new tokens live.
    pub fn token_lifetime(&self, d: Duration) {
        self.lock().token_lifetime = d;
    }

    /// Expires every token issued so far (the next API call gets 401).
    pub fn expire_tokens(&self) {
        let past = Utc::now() - chrono::Duration::seconds(1);
        for t in &mut self.lock().tokens {
            t.1 = past;
        }
    }

    /// The next `n` API requests are answered 429 with `Retry-After:
    /// retry_after` seconds.
    pub fn throttle(&self, n: u32, retry_after: u64) {
        self.lock().throttle = Some((n, retry_after, false));
    }

    /// As [`Self::throttle`], counting only writes (`PATCH`, `POST`).
    pub fn throttle_writes(&self, n: u32, retry_after: u64) {
        self.lock().throttle = Some((n, retry_after, true));
    }

    /// The next `n` API requests are answered `status` (a 5xx).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.lock().failures = Some((n, status));
    }

    /// How many tokens `POST /token` has issued.
    pub fn tokens_issued(&self) -> usize {
        self.lock().tokens.len()
    }

    /// How many API requests were refused 401 for their token.
    pub fn unauthorized(&self) -> usize {
        self.lock().unauthorized
    }

    /// Every request so far as `METHOD path?query`, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// Answers one request as Harvest v3 would.
    pub fn answer(&self, req: &Request<'_>) -> Answer {
        let mut s = self.lock();
        let line = match req.query {
            Some(q) => format!("{} {}?{q}", req.method, req.path),
            None => format!("{} {}", req.method, req.path),
        };
        s.requests.push(line);
        if req.path == "/token" {
            return token(&mut s, req);
        }
        let Some(rest) = req.path.strip_prefix("/v3/") else {
            return error(404, "no such route");
        };
        if let Some(refused) = authorize(&s, req.authorization) {
            s.unauthorized += 1;
            return refused;
        }
        let write = req.method != "GET";
        if let Some((n, wait, writes)) = s.throttle.filter(|(n, _, w)| *n > 0 && (write || !*w)) {
            s.throttle = Some((n - 1, wait, writes));
            let mut answer = error(429, "Too Many Requests");
            answer.1.push(("retry-after", wait.to_string()));
            return answer;
        }
        if let Some((n, status)) = s.failures.filter(|(n, _)| *n > 0) {
            s.failures = Some((n - 1, status));
            return error(status, "Internal Server Error");
        }
        // The fixed window: over the limit is 429 until it ends.
        let now = Utc::now();
        let length = i64::try_from(s.window_length.as_secs()).unwrap_or(30);
        let (start, used) = match s.window {
            Some((start, used)) if (now - start).num_seconds() < length => (start, used),
            // Windows start on a whole second, so that `X-RateLimit-Reset`
            // (epoch seconds) is exactly when the next one begins.
            _ => (now.trunc_subsecs(0), 0),
        };
        let reset = start.timestamp() + length;
        let limit = s.rate_limit;
        let rate_headers = |used: u32| {
            vec![
                ("x-ratelimit-limit", limit.to_string()),
                (
                    "x-ratelimit-remaining",
                    limit.saturating_sub(used).to_string(),
                ),
                ("x-ratelimit-reset", reset.to_string()),
            ]
        };
        if used >= limit {
            s.over_limit += 1;
            let mut answer = error(429, "Too Many Requests");
            answer.1 = rate_headers(used);
            answer
                .1
                .push(("retry-after", (reset - now.timestamp()).max(1).to_string()));
            return answer;
        }
        s.window = Some((start, used + 1));
        let mut answer = route(&mut s, req, rest);
        answer.1.extend(rate_headers(used + 1));
        answer
    }
}

fn error(status: u16, message: &str) -> Answer {
    (
        status,
        Vec::new(),
        json!({ "message": message, "errors": [] }),
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn token(s: &mut State, req: &Request<'_>) -> Answer {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", s.client_id, s.client_secret))
    );
    if req.method != "POST" || req.authorization != Some(expected.as_str()) {
        return (401, Vec::new(), json!({"error": "invalid_client"}));
    }
    let f = form(req.body);
    let sub_ok = f
        .get("sub")
        .is_some_and(|sub| !sub.is_empty() && sub.chars().all(|c| c.is_ascii_digit()));
    if f.get("grant_type").map(String::as_str) != Some("client_credentials") || !sub_ok {
        return (400, Vec::new(), json!({"error": "invalid_request"}));
    }
    let n = s.tokens.len() + 1;
    let access = format!("gh-v3-token-{n}-{}", Utc::now().timestamp_micros());
    let expires = Utc::now() + chrono::Duration::from_std(s.token_lifetime).unwrap_or_default();
    s.tokens.push((access.clone(), expires));
    // Both offsets third-party clients have seen.
    let expires_at = if n % 2 == 1 {
        expires.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        expires.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
    };
    (
        200,
        Vec::new(),
        json!({"access_token": access, "token_type": "Bearer", "expires_at": expires_at}),
    )
}

fn authorize(s: &State, header: Option<&str>) -> Option<Answer> {
    let token = header.and_then(|h| h.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| {
        s.tokens
            .iter()
            .any(|(issued, expires)| issued == t && *expires > Utc::now())
    });
    (!valid).then(|| error(401, "Unauthorized: invalid or expired token"))
}

fn route(s: &mut State, req: &Request<'_>, rest: &str) -> Answer {
    let mut parts = rest.split('/');
    let (name, id) = (parts.next().unwrap_or_default(), parts.next());
    let Some(r) = resource(name) else {
        return error(404, "no such resource");
    };
    match (req.method, id) {
        ("GET", None) => list(s, r, req.query.unwrap_or_default()),
        ("PATCH", Some(id)) if r == "applications" => patch_application(s, id, req.body),
        ("POST", None) if r == "candidate_tags" => create_tag(s, req.body),
        ("POST", None) if r == "applied_candidate_tags" => apply_tag(s, req.body),
        _ => error(404, "no such route"),
    }
}

type Query = Vec<(String, String)>;

/// The cursor: the first request's query and the offset, base64url JSON.
fn encode_cursor(query: &Query, offset: usize) -> String {
    let v = json!({ "q": query, "o": offset });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_cursor(cursor: &str) -> Option<(Query, usize)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let q = serde_json::from_value(v["q"].clone()).ok()?;
    Some((q, usize::try_from(v["o"].as_u64()?).ok()?))
}

fn list(s: &State, r: &'static str, raw: &str) -> Answer {
    let given: Query = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let (query, offset) = match given.iter().find(|(k, _)| k == "cursor") {
        Some((_, c)) if given.len() == 1 => match decode_cursor(c) {
            Some(decoded) => decoded,
            None => return error(422, "invalid or expired cursor"),
        },
        Some(_) => return error(422, "cursor must be the only query parameter"),
        None => (given, 0),
    };
    let per_page = match query.iter().find(|(k, _)| k == "per_page") {
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => return error(422, "per_page must be between 1 and 500"),
        },
        None => 100,
    }
    .min(s.page_size_cap);
    let mut matched: Vec<&Value> = Vec::new();
    for record in s.records.get(r).into_iter().flat_map(|m| m.values().rev()) {
        match matches(r, record, &query) {
            Ok(true) => matched.push(record),
            Ok(false) => {}
            Err(message) => return error(422, &message),
        }
    }
    let page: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(per_page)
        .map(|v| (*v).clone())
        .collect();
    let mut headers = Vec::new();
    if offset + per_page < matched.len() {
        let next = format!(
            "{}/v3/{r}?cursor={}",
            s.root,
            encode_cursor(&query, offset + per_page)
        );
        headers.push(("link", format!("<{next}>; rel=\"next\"")));
    }
    (200, headers, Value::Array(page))
}

/// Whether `record` passes every filter of `query`.
fn matches(r: &str, record: &Value, query: &Query) -> Result<bool, String> {
    for (key, value) in query {
        let ok = match key.as_str() {
            "per_page" => true,
            "ids" => in_list(&record["id"], value),
            "candidate_ids" => in_list(&record["candidate_id"], value),
            "application_ids" => in_list(&record["application_id"], value),
            "user_ids" => in_list(&record["user_id"], value),
            "candidate_tag_ids" => in_list(&record["candidate_tag_id"], value),
            "updated_at" | "created_at" | "starts_on" => pipe_filter(&record[key.as_str()], value)?,
            "status" if r == "applications" => {
                let want = if value == "active" {
                    "in_process"
                } else {
                    value.as_str()
                };
                if value == "in_process" {
                    return Err("status must be one of active, rejected, hired, converted".into());
                }
                record["status"] == want
            }
            "status" => record["status"] == value.as_str(),
            "current_only" => value != "true" || record["status"] != "Deprecated",
            "email" => record["email_addresses"].as_array().is_some_and(|a| {
                a.iter().any(|e| {
                    e["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(value))
                })
            }),
            "primary_email" => record["primary_email"].as_str() == Some(value.as_str()),
            other => return Err(format!("unknown parameter {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn in_list(field: &Value, list: &str) -> bool {
    field
        .as_u64()
        .is_some_and(|id| list.split(',').any(|x| x.trim() == id.to_string()))
}

/// `op|value[|op|value…]` against a datetime or date field.
fn pipe_filter(field: &Value, filter: &str) -> Result<bool, String> {
    let parts: Vec<&str> = filter.split('|').collect();
    if !parts.len().is_multiple_of(2) || parts.is_empty() {
        return Err(format!("filter {filter:?} is not op|value"));
    }
    let Some(have) = field.as_str() else {
        return Ok(false);
    };
    for pair in parts.chunks(2) {
        let (op, want) = (pair[0], pair[1]);
        let ord = compare(have, want).ok_or_else(|| format!("{want:?} is not a date or time"))?;
        let ok = match op {
            "gte" => ord.is_ge(),
            "gt" => ord.is_gt(),
            "lte" => ord.is_le(),
            "lt" => ord.is_lt(),
            _ => return Err(format!("unknown operator {op}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn compare(have: &str, want: &str) -> Option<std::cmp::Ordering> {
    if let (Ok(a), Ok(b)) = (
        DateTime::parse_from_rfc3339(have),
        DateTime::parse_from_rfc3339(want),
    ) {
        return Some(a.cmp(&b));
    }
    let day = |s: &str| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok();
    Some(day(have)?.cmp(&day(want)?))
}

fn body_json(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .as_object()
        .cloned()
}

fn patch_application(s: &mut State, id: &str, body: &[u8]) -> Answer {
    let Some(body) = body_json(body) else {
        return error(400, "body is not a JSON object");
    };
    let Ok(id) = id.parse::<u64>() else {
        return error(404, "no such application");
    };
    if let Some(r) = body.get("referrer_id").filter(|r| !r.is_null()) {
        let known = r.as_u64().is_some_and(|r| {
            s.records
                .get("referrers")
                .is_some_and(|m| m.contains_key(&r))
        });
        if !known {
            return error(422, "referrer_id is not a referrer");
        }
    }
    let Some(app) = s
        .records
        .get_mut("applications")
        .and_then(|m| m.get_mut(&id))
    else {
        return error(404, "no such application");
    };
    for key in ["source_id", "referrer_id"] {
        if let Some(v) = body.get(key) {
            app[key] = v.clone();
        }
    }
    if let Some(fields) = body.get("custom_fields") {
        let Some(fields) = fields.as_array() else {
            return error(422, "custom_fields must be an array of {name_key, value}");
        };
        for f in fields {
            let Some(key) = f["name_key"].as_str() else {
                return error(422, "custom_fields[].name_key is required");
            };
            app["custom_fields"][key] =
                json!({"name": key, "type": "short_text", "value": f["value"]});
        }
    }
    app["updated_at"] = json!(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
    (200, Vec::new(), app.clone())
}

fn create_tag(s: &mut State, body: &[u8]) -> Answer {
    let Some(name) = body_json(body).and_then(|b| b.get("name")?.as_str().map(str::to_owned))
    else {
        return error(422, "name is required");
    };
    s.next_id += 1;
    let id = s.next_id;
    let tag = json!({"id": id, "name": name});
    s.records
        .entry("candidate_tags")
        .or_default()
        .insert(id, tag.clone());
    (201, Vec::new(), tag)
}

fn apply_tag(s: &mut State, body: &[u8]) -> Answer {
    let b = body_json(body).unwrap_or_default();
    let (Some(candidate), Some(tag)) = (
        b.get("candidate_id").and_then(Value::as_u64),
        b.get("candidate_tag_id").and_then(Value::as_u64),
    ) else {
        return error(
            422,
            "candidate_id and candidate_tag_id are required integers",
        );
    };
    let applied = s.records.get("applied_candidate_tags").is_some_and(|rows| {
        rows.values()
            .any(|r| r["candidate_id"] == candidate && r["candidate_tag_id"] == tag)
    });
    if applied {
        return error(422, "tag already applied to candidate");
    }
    s.next_id += 1;
    let id = s.next_id;
    let at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let row = json!({"id": id, "candidate_id": candidate, "candidate_tag_id": tag,
                     "created_at": at, "updated_at": at});
    s.records
        .entry("applied_candidate_tags")
        .or_default()
        .insert(id, row.clone());
    (201, Vec::new(), row)
}
