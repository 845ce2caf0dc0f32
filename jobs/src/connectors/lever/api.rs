//! Lever write-back and opportunity look-up.
//!
//! Lever's model is Contact (the person) → Opportunities (one candidacy
//! each) → at most one Application. Tags and sources live on the
//! opportunity, so [`WriteBack::ats_application_id`] is the **opportunity
//! id** here (and `ats_candidate_id` the contact id, unused for writes).
//!
//! `write_referral` sends:
//!
//! 1. `POST /v1/opportunities/{id}/addTags {"tags": ["<tag>"]}`
//! 2. `POST /v1/opportunities/{id}/addSources {"sources": ["Employee Referral"]}`
//!
//! each with `?perform_as=<user id>` when configured, so the change is
//! attributed to that Lever user instead of the key's owner. Lever has no
//! documented write for a referrer or a custom field on an existing
//! opportunity that we could verify, so the referral token is not written
//! here; the tag and source are what recruiters see.
//!
//! Lever webhooks sign only `token + triggeredAt`, not the body, and carry
//! only ids: [`LeverClient::get_opportunity`] is how the service learns the
//! truth about an opportunity.
//!
//! Auth is Basic with the API key as username and an empty password. The
//! rate limit is a token bucket per key, 10 req/s steady with bursts of 20,
//! "not guaranteed", with 429 and 503 to be retried with backoff: the
//! default quota is exactly that, and the shared error mapping does the rest.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use governor::Quota;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use async_trait::async_trait;
use entities::states::Ats;

use crate::connectors::api::{Auth, Call, Transport, endpoint};
use crate::connectors::connector::{
    ApplicationState, AtsJob, AtsStatus, AttributionPart, CandidateMatch, CandidateQuery,
    Connector, Page, PageToken, WriteBack, WriteReport,
};
use crate::error::{Error, Result};
use crate::outbound::{http::HttpOptions, limiter::AccountLimiter};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "lever";

/// Lever's API base URL (the EU instance is `https://api.eu.lever.co/v1`).
pub const DEFAULT_BASE_URL: &str = "https://api.lever.co/v1";

/// The default source added to a referred opportunity.
pub const DEFAULT_REFERRAL_SOURCE: &str = "Employee Referral";

/// Pause after a 429 that names no wait: one bucket refill.
const FALLBACK_PAUSE: Duration = Duration::from_secs(1);

/// Configuration of a [`LeverClient`].
#[derive(Clone)]
pub struct LeverConfig {
    /// API base URL including the version, e.g. [`DEFAULT_BASE_URL`].
    pub base_url: Url,
    /// The Lever API key (Basic auth username, empty password).
    pub api_key: String,
    /// The Lever user id to act as on writes (`perform_as`).
    pub perform_as: Option<String>,
    /// The source added to referred opportunities.
    pub referral_source: String,
    /// Local pacing per account.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back to the queue with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl std::fmt::Debug for LeverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeverConfig")
            .field("base_url", &self.base_url.as_str())
            .field("api_key", &"[redacted]")
            .field("perform_as", &self.perform_as)
            .field("referral_source", &self.referral_source)
            .field("quota", &self.quota)
            .field("max_wait", &self.max_wait)
            .field("http", &self.http)
            .finish()
    }
}

impl LeverConfig {
    /// The defaults: the US API, no `perform_as`, source "Employee
    /// Referral", 10 req/s with bursts of 20, at most 5 s of waiting.
    pub fn new(api_key: impl Into<String>) -> Self {
        const TEN: NonZeroU32 = NonZeroU32::new(10).unwrap();
        const TWENTY: NonZeroU32 = NonZeroU32::new(20).unwrap();
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses"),
            api_key: api_key.into(),
            perform_as: None,
            referral_source: DEFAULT_REFERRAL_SOURCE.to_owned(),
            quota: Quota::per_second(TEN).allow_burst(TWENTY),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// A Lever client for referral write-back and opportunity look-ups.
#[derive(Debug)]
pub struct LeverClient {
    base_url: Url,
    perform_as: Option<String>,
    referral_source: String,
    transport: Transport,
}

impl LeverClient {
    /// Builds the client and joins (or creates) the account's process-wide
    /// rate limiter.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base URL that is not http(s), an empty API
    /// key, or a TLS backend that fails to start.
    pub fn new(config: LeverConfig) -> Result<Self> {
        let transport = Transport::new(
            VENDOR,
            &config.base_url,
            Auth::ApiKey(config.api_key),
            config.quota,
            config.max_wait,
            FALLBACK_PAUSE,
            &config.http,
        )?;
        Ok(Self {
            base_url: config.base_url,
            perform_as: config.perform_as.filter(|u| !u.is_empty()),
            referral_source: config.referral_source,
            transport,
        })
    }

    /// This account's rate limiter (shared with every other client of the
    /// same base URL and key in the process).
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    /// `GET /v1/opportunities/{id}?expand=applications&expand=stage`, parsed
    /// into the fields the service uses.
    ///
    /// The expansions turn application ids into objects (for the posting and
    /// the referring user) and the stage id into `{id, text}`; the parser
    /// accepts both the expanded and the plain forms.
    ///
    /// # Errors
    /// As for every call (module docs of [`super`]); a 404 is permanent, and
    /// so is a response without `data.id`.
    pub async fn get_opportunity(&self, id: &str) -> Result<LeverOpportunity> {
        let mut url = endpoint(&self.base_url, &["opportunities", id])?;
        url.query_pairs_mut()
            .append_pair("expand", "applications")
            .append_pair("expand", "stage");
        let body = self
            .transport
            .send(Call {
                method: Method::GET,
                url,
                headers: &[],
                json: None,
            })
            .await?;
        let value = self.transport.parse_json("GET opportunity", &body)?;
        LeverOpportunity::from_json(&value).ok_or_else(|| {
            Error::permanent(format!(
                "lever GET opportunity {id}: response has no data.id"
            ))
        })
    }

    /// One page (100) of the opportunities updated since `since`
    /// (`GET /v1/opportunities?updated_at_start=…`), from `offset` (Lever's
    /// `next` token of the previous page), for reconciliation.
    ///
    /// # Errors
    /// As for every call.
    pub async fn list_opportunities_page(
        &self,
        since: DateTime<Utc>,
        offset: Option<&str>,
    ) -> Result<(Vec<LeverOpportunity>, Option<String>)> {
        let mut url = endpoint(&self.base_url, &["opportunities"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", "100")
                .append_pair("updated_at_start", &since.timestamp_millis().to_string())
                .append_pair("expand", "applications");
            if let Some(o) = offset {
                q.append_pair("offset", o);
            }
        }
        let value = self.get_json("GET opportunities", url).await?;
        Ok(LeverOpportunity::page_from_json(&value))
    }

    /// The opportunities of the contact with this email
    /// (`GET /v1/opportunities?email=…`), every page up to `max_pages`.
    ///
    /// # Errors
    /// As for every call.
    pub async fn opportunities_by_email(
        &self,
        email: &str,
        max_pages: u32,
    ) -> Result<Vec<LeverOpportunity>> {
        let mut all = Vec::new();
        let mut offset: Option<String> = None;
        for _ in 0..max_pages {
            let mut url = endpoint(&self.base_url, &["opportunities"])?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("email", email).append_pair("limit", "100");
                if let Some(o) = &offset {
                    q.append_pair("offset", o);
                }
            }
            let value = self.get_json("GET opportunities", url).await?;
            let (items, next) = LeverOpportunity::page_from_json(&value);
            all.extend(items);
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(all)
    }

    /// `GET /v1/postings/{id}`: the posting's categories (team, department,
    /// location, level) as [`AtsJob`].
    ///
    /// # Errors
    /// As for every call; a 404 is permanent.
    pub async fn get_posting(&self, id: &str) -> Result<AtsJob> {
        let url = endpoint(&self.base_url, &["postings", id])?;
        let value = self.get_json("GET posting", url).await?;
        let posting = value
            .get("data")
            .filter(|d| d.is_object())
            .unwrap_or(&value);
        let categories = posting.get("categories");
        let category = |name: &str| text(categories.and_then(|c| c.get(name)));
        Ok(AtsJob {
            job_id: id.to_owned(),
            level: category("level"),
            department: category("department").or_else(|| category("team")),
            location: category("location"),
        })
    }

    async fn get_json(&self, what: &str, url: Url) -> Result<Value> {
        let body = self
            .transport
            .send(Call {
                method: Method::GET,
                url,
                headers: &[],
                json: None,
            })
            .await?;
        self.transport.parse_json(what, &body)
    }

    /// `POST /v1/opportunities/{id}/addTags`.
    ///
    /// # Errors
    /// As for every call.
    pub async fn add_tags(&self, opportunity_id: &str, tags: &[&str]) -> Result<()> {
        self.post_action(opportunity_id, "addTags", json!({ "tags": tags }))
            .await
    }

    /// `POST /v1/opportunities/{id}/addSources`.
    ///
    /// # Errors
    /// As for every call.
    pub async fn add_sources(&self, opportunity_id: &str, sources: &[&str]) -> Result<()> {
        self.post_action(opportunity_id, "addSources", json!({ "sources": sources }))
            .await
    }

    async fn post_action(&self, opportunity_id: &str, action: &str, body: Value) -> Result<()> {
        let mut url = endpoint(&self.base_url, &["opportunities", opportunity_id, action])?;
        if let Some(user) = &self.perform_as {
            url.query_pairs_mut().append_pair("perform_as", user);
        }
        self.transport
            .send(Call {
                method: Method::POST,
                url,
                headers: &[],
                json: Some(&body),
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for LeverClient {
    fn ats(&self) -> Ats {
        Ats::Lever
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        let opportunity = w.ats_application_id.as_str();
        if opportunity.is_empty() {
            return Err(Error::permanent(format!(
                "lever write-back for referrer {} lacks an opportunity id",
                w.referrer_employee_id
            )));
        }
        let mut report = WriteReport::default();
        let tag = w.tag.trim();
        if tag.is_empty() {
            report.skip(AttributionPart::Tag, "no tag configured");
        } else {
            self.add_tags(opportunity, &[tag]).await?;
            report.wrote(AttributionPart::Tag);
        }
        if self.referral_source.is_empty() {
            report.skip(AttributionPart::Source, "no referral source configured");
        } else {
            self.add_sources(opportunity, &[&self.referral_source])
                .await?;
            report.wrote(AttributionPart::Source);
        }
        report.skip(
            AttributionPart::CustomField,
            "Lever has no verified write for a field on an existing opportunity",
        );
        report.skip(
            AttributionPart::Referrer,
            "Lever records referrals only through its own referral form",
        );
        Ok(report)
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Err(Error::permanent(
                "lever can look candidates up by email only, and none was given",
            ));
        };
        let mut by_contact: Vec<CandidateMatch> = Vec::new();
        for opp in self.opportunities_by_email(email.trim(), 10).await? {
            let contact = opp.contact.clone().unwrap_or_else(|| opp.id.clone());
            match by_contact.iter_mut().find(|m| m.candidate_id == contact) {
                Some(m) => m.application_ids.push(opp.id),
                None => by_contact.push(CandidateMatch {
                    candidate_id: contact,
                    application_ids: vec![opp.id],
                }),
            }
        }
        Ok(by_contact)
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        Ok(self.get_opportunity(application_id).await?.state())
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        self.get_posting(job_id).await
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let (items, next) = self
            .list_opportunities_page(since, page.as_ref().map(|p| p.0.as_str()))
            .await?;
        Ok(Page {
            items: items.iter().map(LeverOpportunity::state).collect(),
            next: next.map(PageToken),
        })
    }
}

/// The fields of a Lever opportunity the service uses.
///
/// Parsed leniently by [`LeverOpportunity::from_json`]: only `id` is
/// required, `null`s and missing fields become `None` or empty, unknown
/// fields are ignored, and fields Lever returns either as an id or as an
/// expanded object (`stage`, `applications[]`, `posting`, `user`) are
/// accepted in both forms. A webhook arriving for an opportunity whose
/// shape drifted should still be processable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverOpportunity {
    /// The opportunity id.
    pub id: String,
    /// The candidate's name.
    pub name: Option<String>,
    /// The contact (person) id.
    pub contact: Option<String>,
    /// Email addresses, as entered.
    pub emails: Vec<String>,
    /// Phone numbers, as entered.
    pub phones: Vec<LeverPhone>,
    /// The current pipeline stage.
    pub stage: Option<LeverStage>,
    /// How the candidate entered: `applied`, `sourced`, `referred`, …
    pub origin: Option<String>,
    /// Source tags, e.g. "Referred", "Social referral".
    pub sources: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Applications (at most one in practice).
    pub applications: Vec<LeverApplication>,
    /// When the opportunity was created.
    pub created_at: Option<DateTime<Utc>>,
    /// Set when the opportunity is archived (rejected or hired elsewhere).
    pub archived: Option<LeverArchived>,
}

/// A phone number on an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverPhone {
    /// `mobile`, `home`, `work`, … when given.
    pub kind: Option<String>,
    /// The number as entered.
    pub value: String,
}

/// A pipeline stage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverStage {
    /// The stage id.
    pub id: String,
    /// Its name, when the stage was expanded.
    pub text: Option<String>,
}

/// An application on an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverApplication {
    /// The application id.
    pub id: String,
    /// `referral`, `user` or `posting`, when expanded.
    pub kind: Option<String>,
    /// The posting (job) id, when expanded.
    pub posting: Option<String>,
    /// For a `referral` application, the referring Lever user.
    pub user: Option<String>,
}

/// Archive details.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverArchived {
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// The archive reason id.
    pub reason: Option<String>,
}

impl LeverOpportunity {
    /// Parses Lever's `{"data": {...}}` envelope (or a bare opportunity
    /// object). `None` only when there is no usable `id`.
    pub fn from_json(value: &Value) -> Option<Self> {
        let o = value.get("data").filter(|d| d.is_object()).unwrap_or(value);
        Some(Self {
            id: id_of(o.get("id")?)?,
            name: text(o.get("name")),
            contact: o.get("contact").and_then(id_of),
            emails: strings(o.get("emails")),
            phones: array(o.get("phones"))
                .filter_map(|p| match p {
                    Value::String(s) if !s.is_empty() => Some(LeverPhone {
                        kind: None,
                        value: s.clone(),
                    }),
                    Value::Object(_) => Some(LeverPhone {
                        kind: text(p.get("type")),
                        value: text(p.get("value"))?,
                    }),
                    _ => None,
                })
                .collect(),
            stage: o.get("stage").and_then(|s| {
                Some(LeverStage {
                    id: id_of(s)?,
                    text: text(s.get("text")),
                })
            }),
            origin: text(o.get("origin")),
            sources: strings(o.get("sources")),
            tags: strings(o.get("tags")),
            applications: array(o.get("applications"))
                .filter_map(|a| {
                    Some(LeverApplication {
                        id: id_of(a)?,
                        kind: text(a.get("type")),
                        posting: a.get("posting").and_then(id_of),
                        user: a.get("user").and_then(id_of),
                    })
                })
                .collect(),
            created_at: o.get("createdAt").and_then(timestamp),
            archived: o
                .get("archived")
                .filter(|a| a.is_object())
                .map(|a| LeverArchived {
                    archived_at: a.get("archivedAt").and_then(timestamp),
                    reason: a.get("reason").and_then(id_of),
                }),
        })
    }

    /// The posting of the first application (the job applied to).
    pub fn posting_id(&self) -> Option<&str> {
        self.applications.first()?.posting.as_deref()
    }

    /// The referring Lever user, when Lever itself recorded a referral.
    pub fn referring_user(&self) -> Option<&str> {
        self.applications
            .iter()
            .find(|a| a.kind.as_deref() == Some("referral"))?
            .user
            .as_deref()
    }

    /// Whether the opportunity is archived.
    pub fn is_archived(&self) -> bool {
        self.archived.is_some()
    }

    /// Whether it was archived as hired: Lever archives a hired candidate,
    /// with an archive reason named like "Hired" (its id, or the expanded
    /// reason's text).
    pub fn is_hired(&self) -> bool {
        self.archived
            .as_ref()
            .and_then(|a| a.reason.as_deref())
            .is_some_and(|r| r.to_ascii_lowercase().contains("hire"))
    }

    /// The opportunity as the connector seam states it. Hired only when
    /// archived as hired ([`Self::is_hired`]).
    pub fn state(&self) -> ApplicationState {
        let (first_name, last_name) = match self.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => match name.rsplit_once(' ') {
                Some((f, l)) => (Some(f.to_string()), Some(l.to_string())),
                None => (Some(name.to_string()), None),
            },
            _ => (None, None),
        };
        let status = if self.is_hired() {
            AtsStatus::Hired
        } else if self.is_archived() {
            AtsStatus::Closed
        } else {
            AtsStatus::Active
        };
        ApplicationState {
            application_id: self.id.clone(),
            candidate_id: self.contact.clone(),
            job_id: self.posting_id().map(str::to_owned),
            status,
            stage: self.stage.as_ref().and_then(|s| s.text.clone()),
            start_date: None,
            referrer_user_id: self.referring_user().map(str::to_owned),
            emails: self.emails.clone(),
            phones: self.phones.iter().map(|p| p.value.clone()).collect(),
            first_name,
            last_name,
            applied_at: self.created_at,
        }
    }

    /// `GET /v1/opportunities?updated_at_start=…` pages: the opportunities
    /// that moved since `since_ms`, parsed; used by reconciliation.
    pub fn page_from_json(value: &Value) -> (Vec<Self>, Option<String>) {
        let items = array(value.get("data"))
            .filter_map(Self::from_json)
            .collect();
        let next = value
            .get("hasNext")
            .and_then(Value::as_bool)
            .filter(|more| *more)
            .and_then(|_| text(value.get("next")));
        (items, next)
    }
}

/// An id given as a string, a number, or an expanded object with `id`.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("id").and_then(id_of),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    array(v).filter_map(|s| text(Some(s))).collect()
}

/// Lever timestamps are epoch milliseconds; an RFC 3339 string is accepted too.
fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listing_page_parses_with_its_next_token_and_hires_by_archive_reason() {
        let page = serde_json::json!({
            "data": [
                { "id": "opp-1", "archived": { "archivedAt": 1761298200123_i64, "reason": "Hired" } },
                { "id": "opp-2", "archived": { "archivedAt": 1761298200123_i64, "reason": "Withdrew" } },
                { "id": "opp-3" },
                { "no_id": true },
            ],
            "hasNext": true,
            "next": "token-2",
        });
        let (items, next) = super::LeverOpportunity::page_from_json(&page);
        assert_eq!(items.len(), 3, "an entry without an id is skipped");
        assert_eq!(next.as_deref(), Some("token-2"));
        assert!(items[0].is_hired());
        assert!(!items[1].is_hired() && items[1].is_archived());
        assert!(!items[2].is_hired() && !items[2].is_archived());
        let last = serde_json::json!({ "data": [], "hasNext": false, "next": "ignored" });
        assert_eq!(super::LeverOpportunity::page_from_json(&last).1, None);
    }

    use axum::http::{Method, StatusCode};

    use super::*;
    use crate::test_support::server::{Reply, Seen, TestServer, basic, json as reply_json};

    const KEY: &str = "lever-secret-key-xyz";

    fn client_with(server: &TestServer, tweak: impl FnOnce(&mut LeverConfig)) -> LeverClient {
        let mut config = LeverConfig::new(KEY);
        config.base_url = Url::parse(&format!("{}/v1", server.base)).unwrap();
        config.http.allow_private_networks = true;
        tweak(&mut config);
        LeverClient::new(config).unwrap()
    }

    fn write_back() -> WriteBack {
        WriteBack {
            ats_candidate_id: "contact-1".into(),
            ats_application_id: "250d8f03-738a-4bba-a671-8a3d73477145".into(),
            referrer_employee_id: "E-42".into(),
            referrer_email: None,
            referrer_ats_user_id: None,
            referral_token: Some("tok_abc".into()),
            tag: "Employee Referral".into(),
        }
    }

    fn opportunity_json() -> Value {
        json!({"data": {
            "id": "250d8f03-738a-4bba-a671-8a3d73477145",
            "name": "Shane Smith",
            "contact": "7f23e772-d2a9-4a1b-a6b8-6e2b2c9d0f0f",
            "headline": "Brickly LLC",
            "stage": {"id": "00922a60-7c15-422b-b086-f62000824fd7", "text": "Phone screen"},
            "emails": ["shane@exampleq3.com"],
            "phones": [{"type": "mobile", "value": "(123) 456-7891"}, {"value": null}],
            "origin": "referred",
            "sources": ["Employee Referral"],
            "tags": ["San Francisco", "Full-time"],
            "applications": [{
                "id": "cdb63c9c-ac2d-4bbc-8c15-ddc5d2ab7c0e",
                "type": "referral",
                "posting": "f2f01e16-27f8-4711-a728-7d49499795a0",
                "user": {"id": "c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1", "name": "Rachel Referrer"}
            }],
            "createdAt": 1407460071043_i64,
            "archived": {"archivedAt": 1417588008997_i64, "reason": "63dd55b2-a99f-4e7b-985f-22c7bf80ab42"},
            "someNewField": {"whatever": true}
        }})
    }

    fn lever(seen: &Seen) -> Reply {
        let path = seen.uri.split('?').next().unwrap_or_default();
        match (seen.method.as_str(), path) {
            ("POST", p) if p.ends_with("/addTags") || p.ends_with("/addSources") => reply_json(
                StatusCode::OK,
                json!({"data": {"id": "250d8f03-738a-4bba-a671-8a3d73477145"}}),
            ),
            ("GET", "/v1/opportunities/250d8f03-738a-4bba-a671-8a3d73477145") => {
                reply_json(StatusCode::OK, opportunity_json())
            }
            _ => reply_json(StatusCode::NOT_FOUND, json!({"code": "ResourceNotFound"})),
        }
    }

    #[tokio::test]
    async fn write_referral_adds_the_tag_and_the_source_as_the_configured_user() {
        let server = TestServer::start(lever).await;
        let client = client_with(&server, |c| c.perform_as = Some("user-7".into()));
        client.write_attribution(&write_back()).await.unwrap();

        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        let opp = "/v1/opportunities/250d8f03-738a-4bba-a671-8a3d73477145";
        assert_eq!(seen[0].method, Method::POST);
        assert_eq!(seen[0].uri, format!("{opp}/addTags?perform_as=user-7"));
        assert_eq!(seen[0].json(), json!({"tags": ["Employee Referral"]}));
        assert_eq!(seen[1].method, Method::POST);
        assert_eq!(seen[1].uri, format!("{opp}/addSources?perform_as=user-7"));
        assert_eq!(seen[1].json(), json!({"sources": ["Employee Referral"]}));
        for s in &seen {
            assert_eq!(s.header("authorization"), Some(basic(KEY).as_str()));
            assert_eq!(s.header("content-type"), Some("application/json"));
            assert_eq!(s.header("on-behalf-of"), None);
        }
    }

    #[tokio::test]
    async fn write_referral_without_perform_as_sends_no_query() {
        let server = TestServer::start(lever).await;
        client_with(&server, |_| {})
            .write_attribution(&write_back())
            .await
            .unwrap();
        assert!(server.seen().iter().all(|s| !s.uri.contains('?')));
    }

    #[tokio::test]
    async fn get_opportunity_parses_the_fields_we_need() {
        let server = TestServer::start(lever).await;
        let opp = client_with(&server, |_| {})
            .get_opportunity("250d8f03-738a-4bba-a671-8a3d73477145")
            .await
            .unwrap();
        let seen = server.seen();
        assert_eq!(seen[0].method, Method::GET);
        assert_eq!(
            seen[0].uri,
            "/v1/opportunities/250d8f03-738a-4bba-a671-8a3d73477145?expand=applications&expand=stage"
        );
        assert_eq!(seen[0].header("authorization"), Some(basic(KEY).as_str()));

        assert_eq!(opp.id, "250d8f03-738a-4bba-a671-8a3d73477145");
        assert_eq!(opp.name.as_deref(), Some("Shane Smith"));
        assert_eq!(
            opp.contact.as_deref(),
            Some("7f23e772-d2a9-4a1b-a6b8-6e2b2c9d0f0f")
        );
        assert_eq!(opp.emails, ["shane@exampleq3.com"]);
        assert_eq!(
            opp.phones,
            [LeverPhone {
                kind: Some("mobile".into()),
                value: "(123) 456-7891".into()
            }]
        );
        assert_eq!(
            opp.stage.as_ref().unwrap().text.as_deref(),
            Some("Phone screen")
        );
        assert_eq!(opp.origin.as_deref(), Some("referred"));
        assert_eq!(opp.sources, ["Employee Referral"]);
        assert_eq!(opp.tags, ["San Francisco", "Full-time"]);
        assert_eq!(
            opp.posting_id(),
            Some("f2f01e16-27f8-4711-a728-7d49499795a0")
        );
        assert_eq!(
            opp.referring_user(),
            Some("c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1")
        );
        assert_eq!(
            opp.created_at.unwrap().timestamp_millis(),
            1_407_460_071_043
        );
        assert!(opp.is_archived());
        assert_eq!(
            opp.archived
                .unwrap()
                .archived_at
                .unwrap()
                .timestamp_millis(),
            1_417_588_008_997
        );
    }

    #[test]
    fn parsing_is_lenient_about_plain_ids_nulls_and_missing_fields() {
        let opp = LeverOpportunity::from_json(&json!({"data": {
            "id": "opp-2",
            "name": null,
            "stage": "stage-9",
            "applications": ["app-1"],
            "emails": ["a@b.c", null, 5],
            "tags": null,
            "archived": null,
            "createdAt": "2024-01-02T03:04:05Z"
        }}))
        .unwrap();
        assert_eq!(opp.name, None);
        assert_eq!(
            opp.stage,
            Some(LeverStage {
                id: "stage-9".into(),
                text: None
            })
        );
        assert_eq!(opp.applications[0].id, "app-1");
        assert_eq!(opp.posting_id(), None);
        assert_eq!(opp.emails, ["a@b.c"]);
        assert!(opp.tags.is_empty() && opp.phones.is_empty() && !opp.is_archived());
        assert!(opp.created_at.is_some());

        assert_eq!(
            LeverOpportunity::from_json(&json!({"data": {"name": "no id"}})),
            None
        );
        assert_eq!(
            LeverOpportunity::from_json(&json!({"id": "bare"}))
                .unwrap()
                .id,
            "bare"
        );
    }

    #[tokio::test]
    async fn a_missing_opportunity_is_permanent() {
        let server = TestServer::start(lever).await;
        let err = client_with(&server, |_| {})
            .get_opportunity("nope")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Permanent(m) if m.contains("404")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn errors_map_to_retry_decisions() {
        let server = TestServer::start(|s| match s.uri.split('/').nth(3).unwrap_or_default() {
            "throttled" => (
                StatusCode::TOO_MANY_REQUESTS,
                vec![("retry-after", "7".into())],
                String::new(),
            ),
            "down" => (StatusCode::SERVICE_UNAVAILABLE, vec![], String::new()),
            "bad" => (
                StatusCode::BAD_REQUEST,
                vec![],
                "{\"code\":\"BadRequestError\"}".into(),
            ),
            _ => (
                StatusCode::MOVED_PERMANENTLY,
                vec![("location", "https://hire.lever.co/".into())],
                String::new(),
            ),
        })
        .await;
        // One client per case: the 429 pauses its account for 7 s, which
        // would otherwise turn the following cases into RetryAfter too.
        let w = |id: &str| WriteBack {
            ats_application_id: id.into(),
            ..write_back()
        };

        let err = client_with(&server, |c| c.api_key = "k1".into())
            .write_attribution(&w("throttled"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::RetryAfter { after, .. } if after == Duration::from_secs(7)),
            "{err:?}"
        );

        let err = client_with(&server, |c| c.api_key = "k2".into())
            .write_attribution(&w("down"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Retryable(_)), "{err:?}");

        let err = client_with(&server, |c| c.api_key = "k3".into())
            .write_attribution(&w("bad"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Permanent(m) if m.contains("400") && m.contains("BadRequestError")),
            "{err:?}"
        );

        let err = client_with(&server, |c| c.api_key = "k4".into())
            .write_attribution(&w("moved"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Permanent(m) if m.contains("301")),
            "{err:?}"
        );
        assert_eq!(
            server.seen().len(),
            4,
            "one request per case, no redirect followed"
        );
    }

    #[test]
    fn the_default_quota_is_lever_s_bucket_of_twenty() {
        let limiter =
            AccountLimiter::new("test://lever-default-quota", LeverConfig::new(KEY).quota);
        for _ in 0..20 {
            assert!(limiter.governor().check().is_ok());
        }
        assert!(limiter.governor().check().is_err());
    }
}
