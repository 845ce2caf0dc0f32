//! The Lever API client: opportunity look-ups and the reads that decide
//! what an opportunity means (archive reasons, offers, referral forms,
//! users), write-back, and the listing reconciliation makes.
//!
//! Lever's model is Contact (the person) → Opportunities (one candidacy
//! each) → at most one Application. Tags and sources live on the
//! opportunity, so [`WriteBack::ats_application_id`] is the **opportunity
//! id** here (and `ats_candidate_id` the contact id, unused for writes).
//!
//! # Reads
//!
//! Lever webhooks sign only `token + triggeredAt`, not the body, and carry
//! only ids: [`LeverClient::get_opportunity`] is how the service learns the
//! truth about an opportunity. What it means is read from further
//! endpoints:
//!
//! * hired or not: an opportunity is archived with a reason *id*; only
//!   `GET /archive_reasons` says whether that reason's `type` is `hired`
//!   ([`LeverClient::status_of`]). The list is cached for the process and
//!   read again when an opportunity names a reason it does not hold (at
//!   most once a minute);
//! * the start date: `GET /opportunities/:id/offers`, the
//!   `anticipated_start_date` field ([`LeverOffer::start_date_of`]);
//! * who referred: `GET /opportunities/:id/referrals` names the referring
//!   *user*, and `GET /users/:id` (cached) gives their email.
//!
//! Lists page with `limit` and the opaque `offset` token Lever returns as
//! `next` while `hasNext` is true.
//!
//! # Writes
//!
//! The write-back (`write_attribution`, in [`super::connector`]) sends
//!
//! 1. `POST /v1/opportunities/{id}/addTags {"tags": ["<tag>"]}`
//! 2. `POST /v1/opportunities/{id}/addSources {"sources": ["Employee Referral"]}`
//!
//! each with `?perform_as=<user id>` when `ats.lever.perform_as` is set, so
//! the change is attributed to that Lever user instead of the key's owner.
//! Lever has no documented write for a referrer or a custom field on an
//! existing opportunity, so the referral token is not written; the tag and
//! source are what recruiters see.
//!
//! # Limits
//!
//! Auth is Basic with the API key as username and an empty password. The
//! rate limit is a token bucket per key, 10 req/s steady with bursts of 20,
//! "not guaranteed", with 429 and 503 to be retried with backoff: the
//! default quota is exactly that, and the shared error mapping does the
//! rest. A read answered 429 with a `Retry-After` within `max_wait` is
//! asked again after that wait (the account's limiter holds every task of
//! the process back meanwhile), so a listing survives a throttled page.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::Quota;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::model::{
    self, ArchiveReason, ArchiveReasonType, LeverOffer, LeverOpportunity, LeverReferral,
    LeverStatus, LeverUser,
};
use super::token::TokenPlace;
use crate::connectors::api::{Auth, Call, Credential, Transport, endpoint};
use crate::connectors::connector::AtsJob;
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

/// How often one read is asked again after a 429 within `max_wait`.
const THROTTLED_RETRIES: u32 = 3;

/// Least time between two reads of the archive reasons for an unknown id.
const REASONS_REFRESH: Duration = Duration::from_secs(60);

/// Most pages of archive reasons, offers or referral forms read (100
/// each): more is not an account, it is a loop.
const MAX_SMALL_PAGES: u32 = 10;

/// Configuration of a [`LeverClient`].
#[derive(Debug, Clone)]
pub struct LeverConfig {
    /// API base URL including the version, e.g. [`DEFAULT_BASE_URL`].
    pub base_url: Url,
    /// The Lever API key (Basic auth username, empty password).
    pub api_key: Credential,
    /// The Lever user id to act as on writes (`perform_as`).
    pub perform_as: Option<String>,
    /// The source added to referred opportunities.
    pub referral_source: String,
    /// Where the customer puts our referral token (`ats.lever.token_from`).
    pub token_from: Vec<TokenPlace>,
    /// Local pacing per account.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back to the queue with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl LeverConfig {
    /// The defaults: the US API, no `perform_as`, source "Employee
    /// Referral", no token place, 10 req/s with bursts of 20, at most 5 s
    /// of waiting.
    pub fn new(api_key: impl Into<String>) -> Self {
        const TEN: NonZeroU32 = NonZeroU32::new(10).unwrap();
        const TWENTY: NonZeroU32 = NonZeroU32::new(20).unwrap();
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses"),
            api_key: Credential::from(api_key.into()),
            perform_as: None,
            referral_source: DEFAULT_REFERRAL_SOURCE.to_owned(),
            token_from: Vec::new(),
            quota: Quota::per_second(TEN).allow_burst(TWENTY),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// The archive reasons as last read, and when.
#[derive(Debug, Default)]
struct ReasonCache {
    by_id: HashMap<String, ArchiveReason>,
    read_at: Option<Instant>,
}

/// A Lever client. One per process (the worker shares it): its caches of
/// archive reasons and users are the process's.
#[derive(Debug)]
pub struct LeverClient {
    base_url: Url,
    perform_as: Option<String>,
    pub(super) referral_source: String,
    token_from: Vec<TokenPlace>,
    max_wait: Duration,
    transport: Transport,
    /// Held across a read so concurrent tasks wait for one read instead of
    /// each making their own.
    reasons: tokio::sync::Mutex<ReasonCache>,
    users: Mutex<HashMap<String, LeverUser>>,
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
            Auth::ApiKey(config.api_key.expose().to_owned()),
            config.quota,
            config.max_wait,
            FALLBACK_PAUSE,
            &config.http,
        )?;
        Ok(Self {
            base_url: config.base_url,
            perform_as: config
                .perform_as
                .map(|u| u.trim().to_owned())
                .filter(|u| !u.is_empty()),
            referral_source: config.referral_source,
            token_from: config.token_from,
            max_wait: config.max_wait,
            transport,
            reasons: tokio::sync::Mutex::default(),
            users: Mutex::default(),
        })
    }

    /// This account's rate limiter (shared with every other client of the
    /// same base URL and key in the process).
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    /// Where the customer puts our referral token, in order.
    pub fn token_places(&self) -> &[TokenPlace] {
        &self.token_from
    }

    /// `GET /v1/opportunities/{id}?expand=applications&expand=stage`, parsed
    /// into the fields the service uses.
    ///
    /// The expansions turn application ids into objects (for the posting,
    /// the referring user and the application questions) and the stage id
    /// into `{id, text}`; the parser accepts both the expanded and the plain
    /// forms.
    ///
    /// # Errors
    /// As for every call (module docs of [`crate::connectors::api`]); a 404
    /// is permanent, and so is a response without `data.id`.
    pub async fn get_opportunity(&self, id: &str) -> Result<LeverOpportunity> {
        let mut url = endpoint(&self.base_url, &["opportunities", id])?;
        url.query_pairs_mut()
            .append_pair("expand", "applications")
            .append_pair("expand", "stage");
        let value = self.get_json("GET opportunity", url).await?;
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
        since: chrono::DateTime<chrono::Utc>,
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
    /// (`GET /v1/opportunities?email=…`, Lever's exact match), every page
    /// up to `max_pages`.
    ///
    /// # Errors
    /// As for every call.
    pub async fn opportunities_by_email(
        &self,
        email: &str,
        max_pages: u32,
    ) -> Result<Vec<LeverOpportunity>> {
        self.list(
            "GET opportunities",
            &["opportunities"],
            &[("email", email)],
            max_pages,
            LeverOpportunity::from_json,
        )
        .await
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
        let category = |name: &str| {
            posting
                .get("categories")
                .and_then(|c| c.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Ok(AtsJob {
            job_id: id.to_owned(),
            level: category("level"),
            department: category("department").or_else(|| category("team")),
            location: category("location"),
        })
    }

    /// Where `opp` stands: active, hired (archived for a reason whose type
    /// is `hired`, as `GET /archive_reasons` states it) or archived.
    ///
    /// An archive reason the cached list does not hold is looked up again
    /// (new reasons are added in Lever's settings); one Lever still does not
    /// list is not a hire.
    ///
    /// # Errors
    /// As for every call.
    pub async fn status_of(&self, opp: &LeverOpportunity) -> Result<LeverStatus> {
        let Some(archived) = &opp.archived else {
            return Ok(LeverStatus::Active);
        };
        let Some(reason) = archived.reason.as_deref() else {
            return Ok(LeverStatus::Archived);
        };
        let kind = self.archive_reason(reason).await?.and_then(|r| r.kind);
        if kind.is_none() {
            tracing::warn!(
                opportunity = %opp.id,
                reason,
                "lever archive reason unknown or untyped: not a hire"
            );
        }
        Ok(match kind {
            Some(ArchiveReasonType::Hired) => LeverStatus::Hired,
            _ => LeverStatus::Archived,
        })
    }

    /// The archive reason `id`, from the process's cache, reading
    /// `GET /archive_reasons` when the cache is empty or lacks it.
    ///
    /// # Errors
    /// As for every call.
    pub async fn archive_reason(&self, id: &str) -> Result<Option<ArchiveReason>> {
        let mut cache = self.reasons.lock().await;
        if let Some(r) = cache.by_id.get(id) {
            return Ok(Some(r.clone()));
        }
        let stale = cache
            .read_at
            .is_none_or(|at| at.elapsed() >= REASONS_REFRESH);
        if stale {
            let all = self
                .list(
                    "GET archive_reasons",
                    &["archive_reasons"],
                    &[],
                    MAX_SMALL_PAGES,
                    model::archive_reason,
                )
                .await?;
            cache.by_id = all.into_iter().map(|r| (r.id.clone(), r)).collect();
            cache.read_at = Some(Instant::now());
        }
        Ok(cache.by_id.get(id).cloned())
    }

    /// `GET /v1/opportunities/{id}/offers`, every page.
    ///
    /// # Errors
    /// As for every call.
    pub async fn offers(&self, opportunity_id: &str) -> Result<Vec<LeverOffer>> {
        self.list(
            "GET offers",
            &["opportunities", opportunity_id, "offers"],
            &[],
            MAX_SMALL_PAGES,
            model::offer,
        )
        .await
    }

    /// `GET /v1/opportunities/{id}/referrals`: the referral forms filled in
    /// for the candidate, every page.
    ///
    /// # Errors
    /// As for every call.
    pub async fn referrals(&self, opportunity_id: &str) -> Result<Vec<LeverReferral>> {
        self.list(
            "GET referrals",
            &["opportunities", opportunity_id, "referrals"],
            &[],
            MAX_SMALL_PAGES,
            model::referral,
        )
        .await
    }

    /// `GET /v1/users/{id}`, cached for the process.
    ///
    /// # Errors
    /// As for every call; a 404 is permanent.
    pub async fn user(&self, id: &str) -> Result<LeverUser> {
        if let Some(u) = self.users.lock().map_err(poisoned)?.get(id) {
            return Ok(u.clone());
        }
        let url = endpoint(&self.base_url, &["users", id])?;
        let value = self.get_json("GET user", url).await?;
        let user = LeverUser::from_json(&value).ok_or_else(|| {
            Error::permanent(format!("lever GET user {id}: response has no data.id"))
        })?;
        self.users
            .lock()
            .map_err(poisoned)?
            .insert(id.to_owned(), user.clone());
        Ok(user)
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

    /// A GET whose answer is JSON. A 429 (or 503) naming a wait within
    /// `max_wait` is asked again after it: reads are safe to repeat.
    async fn get_json(&self, what: &str, url: Url) -> Result<Value> {
        let mut tries = 0;
        loop {
            let sent = self
                .transport
                .send(Call {
                    method: Method::GET,
                    url: url.clone(),
                    headers: &[],
                    json: None,
                })
                .await;
            match sent {
                Ok(body) => return self.transport.parse_json(what, &body),
                Err(Error::RetryAfter { after, .. })
                    if after <= self.max_wait && tries < THROTTLED_RETRIES =>
                {
                    // The account's limiter now holds every request back
                    // until `after`; the next `send` waits for it.
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every item of a paged list, following `next` while `hasNext`, at
    /// most `max_pages` pages of 100.
    async fn list<T>(
        &self,
        what: &str,
        path: &[&str],
        query: &[(&str, &str)],
        max_pages: u32,
        item: impl Fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut offset: Option<String> = None;
        for _ in 0..max_pages {
            let mut url = endpoint(&self.base_url, path)?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("limit", "100");
                for (k, v) in query {
                    q.append_pair(k, v);
                }
                if let Some(o) = &offset {
                    q.append_pair("offset", o);
                }
            }
            let value = self.get_json(what, url).await?;
            let (items, next) = model::page(&value, &item);
            all.extend(items);
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(all)
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::permanent("lever user cache lock poisoned")
}

#[cfg(test)]
mod tests;
