//! Greenhouse Harvest write-back.
//!
//! # Which API version
//!
//! Harvest v1/v2 is removed on 31 Aug 2026 and v3 (OAuth2 client
//! credentials, `PATCH /v3/applications/{id}`) replaces it. This client
//! nevertheless speaks **v1**: v3's request bodies for `referrer`,
//! `source_id` and custom fields were only partly retrieved when it was
//! written (see `docs/ats-and-referrals.md` §1.2 and §8), while v1's are
//! fully documented. Moving to v3 means a new base URL, a bearer token
//! instead of Basic auth, and re-checking the bodies below; the request
//! sequence and error handling stay.
//!
//! # What `write_referral` sends
//!
//! 1. `PATCH /v1/applications/{application_id}` with
//!    ```json
//!    {"custom_fields": [{"name_key": "referral_token", "value": "<token>"}],
//!     "referrer": {"type": "id", "value": 4080},
//!     "source_id": 16}
//!    ```
//!    `custom_fields` only when there is a token and a field key is
//!    configured (application custom fields need an Enterprise Greenhouse
//!    account: set [`GreenhouseConfig::token_field_key`] to `None`
//!    elsewhere); `referrer` only when the referrer is a Greenhouse user
//!    (Greenhouse credits only its users); `source_id` only when configured.
//!    `name_key` is the field's immutable key, so renaming the field in
//!    Greenhouse does not break us. Skipped if there is nothing to set.
//! 2. `POST /v1/tags/candidate {"name": "<tag>"}`, which creates the tag or,
//!    case-insensitively, returns the existing one (200 vs 201, same body),
//!    giving us its id; then `PUT /v1/candidates/{candidate_id}/tags/{tag_id}`.
//!    Tag ids are deliberately not cached: write-backs are rare, and a
//!    cached id would go stale when someone deletes the tag in Greenhouse.
//!
//! Every write carries `On-Behalf-Of: <user id>`, which Harvest requires
//! "for auditing purposes"; use a dedicated integration user.
//!
//! # Rate limits
//!
//! Harvest allows `X-RateLimit-Limit` requests per 10 s per key (50 in the
//! docs' example). The default local quota, 4/s with a burst of 10, stays
//! within 50 in any 10-second window (10 + 10 × 4). The server's
//! `X-RateLimit-Remaining` / `X-RateLimit-Reset` and a 429's `Retry-After`
//! pause the account beyond that; see [`crate::outbound::limiter`].

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::Quota;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use async_trait::async_trait;
use entities::states::Ats;

use crate::connectors::api::{Auth, Call, Transport, endpoint, json_id};
use crate::connectors::connector::{
    ApplicationState, AtsJob, AtsStatus, AttributionPart, CandidateMatch, CandidateQuery,
    Connector, Page, PageToken, StartDate, WriteBack, WriteReport,
};
use crate::error::{Error, Result};
use crate::outbound::{http::HttpOptions, limiter::AccountLimiter};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "greenhouse";

/// Harvest v1's base URL.
pub const DEFAULT_BASE_URL: &str = "https://harvest.greenhouse.io/v1";

/// The default immutable key of the application custom field that holds our
/// referral token.
pub const DEFAULT_TOKEN_FIELD_KEY: &str = "referral_token";

/// How long a 429 or a spent window pauses the account when Greenhouse gives
/// no `Retry-After` or `X-RateLimit-Reset`: its rate-limit window.
const WINDOW: Duration = Duration::from_secs(10);

/// Configuration of a [`GreenhouseClient`].
#[derive(Clone)]
pub struct GreenhouseConfig {
    /// Harvest base URL including the version, e.g. [`DEFAULT_BASE_URL`].
    pub base_url: Url,
    /// The Harvest API key (Basic auth username, empty password). Needs the
    /// endpoints used here: applications (GET, PATCH), candidate tags
    /// (POST), candidates' tags (PUT).
    pub api_key: String,
    /// The Greenhouse user id sent as `On-Behalf-Of` on writes.
    pub on_behalf_of: String,
    /// The immutable key (`name_key`) of the application custom field for
    /// the referral token; `None` writes no token.
    pub token_field_key: Option<String>,
    /// A Greenhouse source id (e.g. of a "Referral" source, `GET
    /// /v1/sources`) to set on the application; `None` leaves the source.
    pub referral_source_id: Option<String>,
    /// Local pacing per account.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back to the queue with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl std::fmt::Debug for GreenhouseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GreenhouseConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"[redacted]")
            .field("on_behalf_of", &self.on_behalf_of)
            .field("token_field_key", &self.token_field_key)
            .field("referral_source_id", &self.referral_source_id)
            .field("quota", &self.quota)
            .field("max_wait", &self.max_wait)
            .field("http", &self.http)
            .finish()
    }
}

impl GreenhouseConfig {
    /// The defaults: Harvest v1, token field `referral_token`, no source,
    /// 4 req/s with bursts of 10, at most 5 s of waiting per request.
    pub fn new(api_key: impl Into<String>, on_behalf_of: impl Into<String>) -> Self {
        const FOUR: NonZeroU32 = NonZeroU32::new(4).unwrap();
        const TEN: NonZeroU32 = NonZeroU32::new(10).unwrap();
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses"),
            api_key: api_key.into(),
            on_behalf_of: on_behalf_of.into(),
            token_field_key: Some(DEFAULT_TOKEN_FIELD_KEY.to_owned()),
            referral_source_id: None,
            quota: Quota::per_second(FOUR).allow_burst(TEN),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// A Greenhouse Harvest client for referral write-back.
#[derive(Debug)]
pub struct GreenhouseClient {
    base_url: Url,
    on_behalf_of: String,
    token_field_key: Option<String>,
    referral_source_id: Option<String>,
    transport: Transport,
}

impl GreenhouseClient {
    /// Builds the client and joins (or creates) the account's process-wide
    /// rate limiter.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base URL that is not http(s), an empty API
    /// key or `On-Behalf-Of` user, or a TLS backend that fails to start.
    pub fn new(config: GreenhouseConfig) -> Result<Self> {
        if config.on_behalf_of.trim().is_empty() {
            return Err(Error::permanent(
                "greenhouse On-Behalf-Of user id is empty; Harvest refuses writes without it",
            ));
        }
        let transport = Transport::new(
            VENDOR,
            &config.base_url,
            Auth::ApiKey(config.api_key),
            config.quota,
            config.max_wait,
            WINDOW,
            &config.http,
        )?;
        Ok(Self {
            base_url: config.base_url,
            on_behalf_of: config.on_behalf_of,
            token_field_key: config.token_field_key.filter(|k| !k.is_empty()),
            referral_source_id: config.referral_source_id.filter(|s| !s.is_empty()),
            transport,
        })
    }

    /// This account's rate limiter (shared with every other client of the
    /// same base URL and key in the process).
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    /// `GET /v1/applications/{id}`: the application as Greenhouse has it
    /// (`status`, `credited_to`, `source`, `keyed_custom_fields`, …), for
    /// reconciliation.
    ///
    /// # Errors
    /// As for every call (module docs of [`super`]); a 404 is permanent.
    pub async fn get_application(&self, id: &str) -> Result<Value> {
        let url = endpoint(&self.base_url, &["applications", id])?;
        let body = self
            .transport
            .send(Call {
                method: Method::GET,
                url,
                headers: &[],
                json: None,
            })
            .await?;
        self.transport.parse_json("GET application", &body)
    }

    /// One page (500) of `GET /v1/applications?last_activity_after=…`:
    /// the applications that moved since `since`, for reconciliation. The
    /// page token is the next page number (v1 pages until a short page).
    ///
    /// # Errors
    /// As for every call; a body that is not a JSON array is permanent.
    pub async fn list_applications_page(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        page: u32,
    ) -> Result<(Vec<Value>, Option<u32>)> {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.list_page("applications", ("last_activity_after", &since), page)
            .await
    }

    /// One page of `GET /v1/offers?starts_after=…`: offers whose start date
    /// is on or after `since`, for reconciliation (`application_id`,
    /// `status`, `starts_at`).
    ///
    /// # Errors
    /// As for every call; a body that is not a JSON array is permanent.
    pub async fn list_offers_page(
        &self,
        since: chrono::NaiveDate,
        page: u32,
    ) -> Result<(Vec<Value>, Option<u32>)> {
        let since = since.format("%Y-%m-%d").to_string();
        self.list_page("offers", ("starts_after", &since), page)
            .await
    }

    /// Page `page` of `GET /v1/{resource}?{filter}`, 500 per page; the
    /// next page number unless this page was short.
    async fn list_page(
        &self,
        resource: &str,
        filter: (&str, &str),
        page: u32,
    ) -> Result<(Vec<Value>, Option<u32>)> {
        const PER_PAGE: usize = 500;
        let what = format!("GET {resource}");
        let mut url = endpoint(&self.base_url, &[resource])?;
        url.query_pairs_mut()
            .append_pair("per_page", &PER_PAGE.to_string())
            .append_pair("page", &page.to_string())
            .append_pair(filter.0, filter.1);
        let body = self
            .transport
            .send(Call {
                method: Method::GET,
                url,
                headers: &[],
                json: None,
            })
            .await?;
        let Value::Array(items) = self.transport.parse_json(&what, &body)? else {
            return Err(Error::permanent(format!("{what} did not return a list")));
        };
        let next = (items.len() >= PER_PAGE).then_some(page + 1);
        Ok((items, next))
    }

    /// The `PATCH /v1/applications/{id}` body for a write-back, or `None`
    /// when there is nothing to set.
    fn application_patch(&self, w: &WriteBack) -> Option<Value> {
        let mut body = serde_json::Map::new();
        if let (Some(key), Some(token)) = (
            &self.token_field_key,
            w.referral_token.as_deref().filter(|t| !t.is_empty()),
        ) {
            body.insert(
                "custom_fields".into(),
                json!([{ "name_key": key, "value": token }]),
            );
        }
        if let Some(user) = w.referrer_ats_user_id.as_deref().filter(|u| !u.is_empty()) {
            // `type: "id"` takes the Greenhouse *user* id of the referrer
            // (the docs warn: "not the referrer id").
            body.insert(
                "referrer".into(),
                json!({ "type": "id", "value": json_id(user) }),
            );
        }
        if let Some(source) = &self.referral_source_id {
            body.insert("source_id".into(), json_id(source));
        }
        (!body.is_empty()).then_some(Value::Object(body))
    }

    async fn write(&self, method: Method, url: Url, json: Option<&Value>) -> Result<Vec<u8>> {
        self.transport
            .send(Call {
                method,
                url,
                headers: &[("On-Behalf-Of", &self.on_behalf_of)],
                json,
            })
            .await
    }

    /// Adds `tag` to the candidate, creating the tag if Greenhouse has none
    /// of that name (any casing).
    ///
    /// # Errors
    /// As for every call; a 404 on the `PUT` (candidate merged or deleted)
    /// is permanent.
    pub async fn tag_candidate(&self, candidate_id: &str, tag: &str) -> Result<()> {
        let create = endpoint(&self.base_url, &["tags", "candidate"])?;
        let body = self
            .write(Method::POST, create, Some(&json!({ "name": tag })))
            .await?;
        let created = self.transport.parse_json("POST tags/candidate", &body)?;
        let tag_id = match created.get("id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(Error::permanent(format!(
                    "greenhouse POST tags/candidate: no tag id in the response for {tag:?}"
                )));
            }
        };
        let apply = endpoint(
            &self.base_url,
            &["candidates", candidate_id, "tags", &tag_id],
        )?;
        self.write(Method::PUT, apply, None).await?;
        Ok(())
    }
}

/// The page number a v1 page token names (the first page without one).
fn page_number(page: Option<PageToken>) -> Result<u32> {
    page.map_or(Ok(1), |p| {
        p.0.parse()
            .map_err(|_| Error::permanent(format!("greenhouse page token {:?} is not a page", p.0)))
    })
}

/// A v1 application (`GET /v1/applications`) as the seam states it.
fn application_state(v: &Value) -> Option<ApplicationState> {
    let id = |v: Option<&Value>| match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let status = match v.get("status").and_then(Value::as_str) {
        Some("hired") => AtsStatus::Hired,
        Some("rejected") => AtsStatus::Rejected,
        Some("converted") => AtsStatus::Closed,
        _ => AtsStatus::Active,
    };
    let credited = v.get("credited_to").filter(|c| c.is_object());
    Some(ApplicationState {
        application_id: id(v.get("id"))?,
        candidate_id: id(v.get("candidate_id")),
        job_id: id(v.pointer("/jobs/0/id")),
        status,
        stage: v
            .pointer("/current_stage/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        start_date: None,
        referrer_user_id: credited
            .and_then(|c| id(c.get("id")).or_else(|| id(c.get("employee_id")))),
        referrers: Vec::new(),
        referral_token: None,
        emails: Vec::new(),
        phones: Vec::new(),
        first_name: None,
        last_name: None,
        applied_at: v
            .get("applied_at")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
    })
}

/// Harvest v1 has no candidate search or job read wired into this client;
/// the Harvest v3 client replaces it (issue 17).
fn not_in_v1(what: &str) -> Error {
    Error::permanent(format!(
        "greenhouse: {what} is not available with the Harvest v1 client"
    ))
}

#[async_trait]
impl Connector for GreenhouseClient {
    fn ats(&self) -> Ats {
        Ats::Greenhouse
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        if w.ats_application_id.is_empty() || w.ats_candidate_id.is_empty() {
            return Err(Error::permanent(format!(
                "greenhouse write-back for referrer {} lacks a candidate or application id",
                w.referrer_employee_id
            )));
        }
        let mut report = WriteReport::default();
        // The application first: the referrer and token are the attribution
        // itself, the tag only a convenience for recruiters.
        if let Some(patch) = self.application_patch(w) {
            let url = endpoint(&self.base_url, &["applications", &w.ats_application_id])?;
            self.write(Method::PATCH, url, Some(&patch)).await?;
            for (key, part) in [
                ("custom_fields", AttributionPart::CustomField),
                ("referrer", AttributionPart::Referrer),
                ("source_id", AttributionPart::Source),
            ] {
                if patch.get(key).is_some() {
                    report.wrote(part);
                } else {
                    report.skip(part, "nothing to set");
                }
            }
        }
        if w.tag.trim().is_empty() {
            report.skip(AttributionPart::Tag, "no tag configured");
        } else {
            self.tag_candidate(&w.ats_candidate_id, w.tag.trim())
                .await?;
            report.wrote(AttributionPart::Tag);
        }
        Ok(report)
    }

    async fn find_candidates(&self, _q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        Err(not_in_v1("candidate look-up"))
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        let v = self.get_application(application_id).await?;
        application_state(&v).ok_or_else(|| {
            Error::permanent(format!(
                "greenhouse GET application {application_id}: response has no id"
            ))
        })
    }

    async fn job_facts(&self, _job_id: &str) -> Result<AtsJob> {
        Err(not_in_v1("the job read"))
    }

    async fn list_changes(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let (items, next) = self
            .list_applications_page(since, page_number(page)?)
            .await?;
        Ok(Page {
            items: items.iter().filter_map(application_state).collect(),
            next: next.map(|n| PageToken(n.to_string())),
        })
    }

    async fn list_start_dates(
        &self,
        since: chrono::NaiveDate,
        page: Option<PageToken>,
    ) -> Result<Page<StartDate>> {
        let (items, next) = self.list_offers_page(since, page_number(page)?).await?;
        let items = items
            .iter()
            .filter(|o| o.get("status").and_then(Value::as_str) == Some("accepted"))
            .filter_map(|o| {
                let application_id = match o.get("application_id")? {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) if !s.is_empty() => s.clone(),
                    _ => return None,
                };
                let day = o.get("starts_at")?.as_str()?;
                let starts_on =
                    chrono::NaiveDate::parse_from_str(day.get(..10)?, "%Y-%m-%d").ok()?;
                Some(StartDate {
                    application_id,
                    starts_on,
                })
            })
            .collect();
        Ok(Page {
            items,
            next: next.map(|n| PageToken(n.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use super::*;
    use crate::test_support::server::{Seen, TestServer, basic, json as reply_json};

    const KEY: &str = "gh-secret-key-123";

    fn client(server: &TestServer) -> GreenhouseClient {
        client_with(server, |_| {})
    }

    fn client_with(
        server: &TestServer,
        tweak: impl FnOnce(&mut GreenhouseConfig),
    ) -> GreenhouseClient {
        let mut config = GreenhouseConfig::new(KEY, "9001");
        config.base_url = Url::parse(&format!("{}/v1", server.base)).unwrap();
        config.http.allow_private_networks = true;
        tweak(&mut config);
        GreenhouseClient::new(config).unwrap()
    }

    fn write_back() -> WriteBack {
        WriteBack {
            ats_candidate_id: "57683957".into(),
            ats_application_id: "69306314".into(),
            referrer_employee_id: "E-42".into(),
            referrer_email: None,
            referrer_ats_user_id: Some("4080".into()),
            referral_token: Some("tok_abc".into()),
            tag: "Employee Referral".into(),
        }
    }

    /// Greenhouse as documented: PATCH answers the application, the tag
    /// POST answers the tag, the tag PUT a message.
    fn greenhouse(seen: &Seen) -> crate::test_support::server::Reply {
        match (seen.method.as_str(), seen.uri.as_str()) {
            ("PATCH", "/v1/applications/69306314") => reply_json(
                StatusCode::OK,
                serde_json::json!({"id": 69306314, "credited_to": {"id": 4080}}),
            ),
            ("POST", "/v1/tags/candidate") => reply_json(
                StatusCode::CREATED,
                serde_json::json!({"id": 365, "name": "Employee Referral"}),
            ),
            ("PUT", "/v1/candidates/57683957/tags/365") => reply_json(
                StatusCode::OK,
                serde_json::json!({"message": "Tag 365 has been applied to candidate 57683957"}),
            ),
            ("GET", "/v1/applications/69306314") => reply_json(
                StatusCode::OK,
                serde_json::json!({"id": 69306314, "status": "hired", "keyed_custom_fields": {}}),
            ),
            _ => reply_json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"message": "no route"}),
            ),
        }
    }

    fn assert_write_headers(seen: &Seen) {
        assert_eq!(
            seen.header("authorization"),
            Some(basic(KEY).as_str()),
            "{seen:?}"
        );
        assert_eq!(seen.header("on-behalf-of"), Some("9001"), "{seen:?}");
        assert!(
            seen.header("user-agent")
                .unwrap()
                .starts_with("referral-worker/")
        );
    }

    #[tokio::test]
    async fn write_referral_patches_the_application_then_tags_the_candidate() {
        let server = TestServer::start(greenhouse).await;
        client(&server)
            .write_attribution(&write_back())
            .await
            .unwrap();

        let seen = server.seen();
        let calls: Vec<_> = seen
            .iter()
            .map(|s| (s.method.clone(), s.uri.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                (Method::PATCH, "/v1/applications/69306314"),
                (Method::POST, "/v1/tags/candidate"),
                (Method::PUT, "/v1/candidates/57683957/tags/365"),
            ]
        );
        for s in &seen {
            assert_write_headers(s);
        }
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert_eq!(
            seen[0].json(),
            serde_json::json!({
                "custom_fields": [{"name_key": "referral_token", "value": "tok_abc"}],
                "referrer": {"type": "id", "value": 4080},
            })
        );
        assert_eq!(
            seen[1].json(),
            serde_json::json!({"name": "Employee Referral"})
        );
        assert!(seen[2].body.is_empty());
    }

    #[tokio::test]
    async fn without_a_greenhouse_referrer_only_the_token_and_source_are_set() {
        let server = TestServer::start(greenhouse).await;
        let client = client_with(&server, |c| {
            c.token_field_key = Some("ref_tok".into());
            c.referral_source_id = Some("16".into());
        });
        let w = WriteBack {
            referrer_ats_user_id: None,
            ..write_back()
        };
        client.write_attribution(&w).await.unwrap();
        assert_eq!(
            server.seen()[0].json(),
            serde_json::json!({
                "custom_fields": [{"name_key": "ref_tok", "value": "tok_abc"}],
                "source_id": 16,
            })
        );
    }

    #[tokio::test]
    async fn with_nothing_to_set_on_the_application_only_the_tag_is_written() {
        let server = TestServer::start(greenhouse).await;
        let client = client_with(&server, |c| c.token_field_key = None);
        let w = WriteBack {
            referrer_ats_user_id: None,
            ..write_back()
        };
        client.write_attribution(&w).await.unwrap();
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].uri, "/v1/tags/candidate");
    }

    #[tokio::test]
    async fn get_application_returns_the_json_without_on_behalf_of() {
        let server = TestServer::start(greenhouse).await;
        let app = client(&server).get_application("69306314").await.unwrap();
        assert_eq!(app["status"], "hired");
        let seen = server.seen();
        assert_eq!(seen[0].method, Method::GET);
        assert_eq!(seen[0].header("authorization"), Some(basic(KEY).as_str()));
        assert_eq!(seen[0].header("on-behalf-of"), None);
    }

    #[tokio::test]
    async fn a_429_with_retry_after_asks_the_queue_to_wait_and_pauses_the_account() {
        let server = TestServer::start(|_| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                vec![("retry-after", "7".into())],
                String::new(),
            )
        })
        .await;
        let client = client(&server);
        match client.write_attribution(&write_back()).await {
            Err(Error::RetryAfter { after, reason }) => {
                assert_eq!(after, Duration::from_secs(7));
                assert!(reason.contains("429"), "{reason}");
            }
            other => panic!("expected RetryAfter, got {other:?}"),
        }
        // The whole account is paused, longer than max_wait (5 s): the next
        // call is handed back without reaching the server.
        assert!(client.limiter().paused_for().is_some());
        assert!(matches!(
            client.get_application("1").await,
            Err(Error::RetryAfter { .. })
        ));
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn a_429_without_retry_after_uses_x_ratelimit_reset() {
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let server = TestServer::start(move |_| {
            (
                StatusCode::TOO_MANY_REQUESTS,
                vec![("x-ratelimit-reset", reset.to_string())],
                String::new(),
            )
        })
        .await;
        match client(&server).get_application("1").await {
            Err(Error::RetryAfter { after, .. }) => {
                assert!(
                    after > Duration::from_secs(20) && after <= Duration::from_secs(30),
                    "{after:?}"
                );
            }
            other => panic!("expected RetryAfter, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bare_429_is_retryable_on_backoff_but_still_pauses_the_account() {
        let server =
            TestServer::start(|_| (StatusCode::TOO_MANY_REQUESTS, vec![], String::new())).await;
        let client = client(&server);
        let err = client.get_application("1").await.unwrap_err();
        assert!(
            matches!(&err, Error::Retryable(m) if m.contains("429")),
            "{err:?}"
        );
        assert!(client.limiter().paused_for().is_some());
    }

    #[tokio::test]
    async fn a_spent_window_pauses_the_account_after_a_success() {
        let server = TestServer::start(|s| {
            let (status, mut headers, body) = greenhouse(s);
            headers.push(("x-ratelimit-limit", "50".into()));
            headers.push(("x-ratelimit-remaining", "0".into()));
            (status, headers, body)
        })
        .await;
        let client = client(&server);
        client.get_application("69306314").await.unwrap();
        assert!(client.limiter().paused_for().is_some());
    }

    #[tokio::test]
    async fn a_503_is_retryable() {
        let server =
            TestServer::start(|_| (StatusCode::SERVICE_UNAVAILABLE, vec![], "down".into())).await;
        let err = client(&server)
            .write_attribution(&write_back())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Retryable(m) if m.contains("503")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_400_is_permanent_with_status_and_body_but_never_the_key() {
        // A hostile or buggy server echoing our credentials back.
        let server = TestServer::start(|s| {
            let echo = format!(
                "{{\"message\":\"Validation error\",\"auth\":\"{}\",\"key\":\"{KEY}\"}}",
                s.header("authorization").unwrap_or_default()
            );
            (StatusCode::BAD_REQUEST, vec![], echo)
        })
        .await;
        let err = client(&server)
            .write_attribution(&write_back())
            .await
            .unwrap_err();
        let Error::Permanent(msg) = &err else {
            panic!("expected Permanent, got {err:?}");
        };
        assert!(msg.contains("400"), "{msg}");
        assert!(msg.contains("PATCH /v1/applications/69306314"), "{msg}");
        assert!(msg.contains("Validation error"), "{msg}");
        assert!(!msg.contains(KEY), "{msg}");
        assert!(
            !msg.contains(basic(KEY).trim_start_matches("Basic ")),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_is_permanent() {
        let server = TestServer::start(|s| {
            if s.uri.starts_with("/login") {
                (StatusCode::OK, vec![], "{}".into())
            } else {
                (
                    StatusCode::FOUND,
                    vec![("location", "/login".into())],
                    String::new(),
                )
            }
        })
        .await;
        let err = client(&server)
            .write_attribution(&write_back())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Permanent(m) if m.contains("302") && m.contains("/login")),
            "{err:?}"
        );
        assert_eq!(server.seen().len(), 1, "the redirect must not be followed");
    }

    #[tokio::test]
    async fn a_timeout_is_retryable() {
        let server = TestServer::start_with_delay(Some(Duration::from_secs(5)), greenhouse).await;
        let client = client_with(&server, |c| c.http.timeout = Duration::from_millis(200));
        let err = client.get_application("69306314").await.unwrap_err();
        assert!(
            matches!(&err, Error::Retryable(m) if m.contains("timed out")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut config = GreenhouseConfig::new(KEY, "9001");
        config.base_url = Url::parse(&format!("http://{addr}/v1")).unwrap();
        config.http.allow_private_networks = true;
        let err = GreenhouseClient::new(config)
            .unwrap()
            .get_application("1")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Retryable(m) if !m.contains(KEY)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_account_limiter_paces_requests() {
        // 5/s with a burst of 1: after one real request the limiter has no
        // cell left, so an immediate extra request would have to wait.
        let server = TestServer::start(greenhouse).await;
        let client = client_with(&server, |c| {
            c.quota = Quota::per_second(NonZeroU32::new(5).unwrap()).allow_burst(NonZeroU32::MIN);
        });
        client.get_application("69306314").await.unwrap();
        assert!(client.limiter().governor().check().is_err());

        // A second client of the same account shares the budget.
        let twin = client_with(&server, |_| {});
        assert!(Arc::ptr_eq(client.limiter(), twin.limiter()));
    }

    #[test]
    fn config_rejects_an_empty_on_behalf_of_and_redacts_the_key() {
        let config = GreenhouseConfig::new(KEY, " ");
        assert!(!format!("{config:?}").contains(KEY));
        assert!(matches!(
            GreenhouseClient::new(config),
            Err(Error::Permanent(_))
        ));
    }
}
