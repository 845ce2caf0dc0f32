//! The SmartRecruiters Customer API client: the candidate reads decisions
//! rest on, users by email, and the write-back of an attribution.
//!
//! # The API's shape (`docs/workable-smartrecruiters.md` §B1, §B3, §B4)
//!
//! `https://api.smartrecruiters.com/…` with the API key in `X-SmartToken`
//! (nothing to refresh: a 401 is final). `GET /candidates/{id}` answers the
//! candidate with its `primaryAssignment` and `secondaryAssignments` (one
//! per job: `job.id`, `status`, `subStatus`, `startsOn`, `source`).
//! `GET /candidates` (`q=` keyword search, `updatedAfter=`) and
//! `GET /users` (`q=`) page by `limit` (at most 100) and `offset`, and
//! answer `{content: […], totalFound, offset, limit}`.
//!
//! # Limits, enforced here (§B1)
//!
//! Per credential: **10 requests per second**, **8 concurrent requests**,
//! and **1 concurrent `GET /candidates`**. The rate is paced a little under
//! (a burst of 8, then one every 110 ms, [`credential_quota`]) by the
//! account's process-wide limiter ([`crate::outbound::limiter`]), which a
//! `429` with `Retry-After` pauses as a whole. The concurrency limits are
//! two semaphores per credential, shared by every client of the process
//! for that credential: a search takes the single search slot first, then
//! one of the eight; a call that cannot get its slots within `max_wait`
//! hands the job back with [`Error::RetryAfter`].
//!
//! # Write-back
//!
//! [`SmartRecruitersClient::write_referral`] (the seam's
//! `write_attribution`, in `connector.rs`), for the assignment
//! `<candidate>:<job>`:
//!
//! 1. `GET /candidates/{id}`: the candidate must exist and hold the job;
//!    its tags are read;
//! 2. our token into the configured candidate property **of that job**:
//!    `PUT /candidates/{id}/jobs/{jobId}/properties/{propertyId}` with
//!    `{"value": token}` (a TEXT property);
//! 3. the tag: `POST /candidates/{id}/tags` **appends** (`PUT` would
//!    replace every tag the recruiters set, so it is never used), and only
//!    when the tag is not there yet;
//! 4. source and referrer in one write: the referrer's SmartRecruiters user
//!    (`GET /users?q=<email>`, exact match on our side) as the `sourceId`
//!    of the configured referral source type:
//!    `PUT /candidates/{id}/jobs/{jobId}/source`.
//!
//! Every step sets a value (or appends only what is missing), so a job
//! retried after a partial success does it again safely.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

use governor::Quota;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, SemaphorePermit};
use url::Url;

use crate::connectors::api::{Auth, Call, Credential, Transport, endpoint};
use crate::connectors::{AttributionPart, WriteBack, WriteReport};
use crate::error::{Error, Result};
use crate::outbound::{
    http::HttpOptions,
    limiter::{self, AccountLimiter},
};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "smartrecruiters";

/// The Customer API.
pub const BASE_URL: &str = "https://api.smartrecruiters.com";

/// The header that carries the API key.
pub const TOKEN_HEADER: &str = "X-SmartToken";

/// Items per listing page (the API's maximum).
pub const PAGE_LIMIT: u32 = 100;

/// Concurrent requests per credential.
pub const MAX_CONCURRENT: usize = 8;

/// Concurrent `GET /candidates` per credential.
pub const MAX_CONCURRENT_SEARCHES: usize = 1;

/// Pause after a 429 that names no wait.
const FALLBACK_PAUSE: Duration = Duration::from_secs(1);

/// Most pages a look-up by email follows (a runaway listing must end).
const MAX_PAGES: u32 = 20;

/// Longest id accepted in an application id (SmartRecruiters' are UUIDs).
const MAX_ID_LEN: usize = 64;

/// What [`crate::connectors::Connector::application_state`] answers for a
/// bare candidate id whose candidate holds no job.
pub const NO_ASSIGNMENT: &str = "holds no job assignment";

/// Our application id of candidate `candidate`'s assignment to `job`.
pub fn application_id(candidate: &str, job: &str) -> String {
    format!("{}:{}", candidate.trim(), job.trim())
}

/// `<candidate>:<job>` split; a bare candidate id (no job) means its
/// primary assignment.
///
/// # Errors
/// [`Error::Permanent`] for an id that is not one (empty parts, characters
/// other than letters, digits, `-` and `_`, longer than 64).
pub fn split_application_id(id: &str) -> Result<(String, Option<String>)> {
    let (candidate, job) = match id.trim().split_once(':') {
        Some((c, j)) => (c, Some(j)),
        None => (id.trim(), None),
    };
    let well_formed = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if well_formed(candidate) && job.is_none_or(well_formed) {
        Ok((candidate.to_owned(), job.map(str::to_owned)))
    } else {
        Err(Error::permanent(format!(
            "smartrecruiters: {id:?} is not a `<candidate id>:<job id>` application id"
        )))
    }
}

/// Configuration of a [`SmartRecruitersClient`].
#[derive(Debug, Clone)]
pub struct SmartRecruitersConfig {
    /// API base URL ([`BASE_URL`] unless testing).
    pub base_url: Url,
    /// The API key (`X-SmartToken`).
    pub token: Credential,
    /// Id of the TEXT candidate property our referral token is written to
    /// (per job); empty: not written (reported skipped).
    pub token_property_id: String,
    /// The referral source type id (`GET /configuration/sources`) the
    /// referrer is credited under; empty: no source written.
    pub referral_source_type_id: String,
    /// Its sub-type, when the tenant's source type has them.
    pub referral_source_subtype_id: String,
    /// The tag prefix a customer's referral flow carries our token behind
    /// (`ref-` finds `ABC` in the tag `ref-ABC`); empty: no token is read
    /// from SmartRecruiters.
    pub token_tag_prefix: String,
    /// Local pacing per credential.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter or a concurrency slot
    /// before the job is handed back with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl SmartRecruitersConfig {
    /// The defaults for the API at `base_url` with API key `token`:
    /// [`credential_quota`], at most 5 s of waiting, nothing optional set.
    pub fn new(base_url: Url, token: impl Into<String>) -> Self {
        Self {
            base_url,
            token: Credential::from(token.into()),
            token_property_id: String::new(),
            referral_source_type_id: String::new(),
            referral_source_subtype_id: String::new(),
            token_tag_prefix: String::new(),
            quota: credential_quota(),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// A little under a credential's 10 requests per second: a burst of 8,
/// then one every 110 ms.
pub fn credential_quota() -> Quota {
    const EIGHT: NonZeroU32 = NonZeroU32::new(8).unwrap();
    Quota::with_period(Duration::from_millis(110))
        .expect("a non-zero period")
        .allow_burst(EIGHT)
}

/// A credential's concurrency slots (module docs).
#[derive(Debug)]
struct Slots {
    any: Semaphore,
    search: Semaphore,
}

/// The process-wide slots of the credential keyed `key`.
fn shared_slots(key: &str) -> Arc<Slots> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<Slots>>>> = OnceLock::new();
    let mut map = REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(slots) = map.get(key).and_then(Weak::upgrade) {
        return slots;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let slots = Arc::new(Slots {
        any: Semaphore::new(MAX_CONCURRENT),
        search: Semaphore::new(MAX_CONCURRENT_SEARCHES),
    });
    map.insert(key.to_owned(), Arc::downgrade(&slots));
    slots
}

/// A SmartRecruiters client for the reads and the write-back.
#[derive(Debug)]
pub struct SmartRecruitersClient {
    base_url: Url,
    token_property_id: String,
    referral_source_type_id: String,
    referral_source_subtype_id: String,
    pub(super) token_tag_prefix: String,
    max_wait: Duration,
    slots: Arc<Slots>,
    transport: Transport,
}

impl SmartRecruitersClient {
    /// Builds the client and joins (or creates) the credential's
    /// process-wide rate limiter and concurrency slots.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base URL that is not http(s), an empty
    /// key, or a TLS backend that fails to start.
    pub fn new(config: SmartRecruitersConfig) -> Result<Self> {
        let key = config.token.expose().to_owned();
        let transport = Transport::new(
            VENDOR,
            &config.base_url,
            Auth::Header(TOKEN_HEADER, key.clone()),
            config.quota,
            config.max_wait,
            FALLBACK_PAUSE,
            &config.http,
        )?;
        Ok(Self {
            slots: shared_slots(&limiter::account_key(&config.base_url, &key)),
            base_url: config.base_url,
            token_property_id: config.token_property_id.trim().to_owned(),
            referral_source_type_id: config.referral_source_type_id.trim().to_owned(),
            referral_source_subtype_id: config.referral_source_subtype_id.trim().to_owned(),
            token_tag_prefix: config.token_tag_prefix.trim().to_owned(),
            max_wait: config.max_wait,
            transport,
        })
    }

    /// This credential's rate limiter.
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    async fn slot<'a>(&self, semaphore: &'a Semaphore, what: &str) -> Result<SemaphorePermit<'a>> {
        match tokio::time::timeout(self.max_wait, semaphore.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Error::permanent(
                "smartrecruiters: concurrency slots closed",
            )),
            Err(_) => Err(Error::RetryAfter {
                after: Duration::from_secs(1),
                reason: format!("smartrecruiters {what}: no free concurrent-request slot"),
            }),
        }
    }

    /// One call within the credential's slots; `search` for
    /// `GET /candidates`, which may only run one at a time.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        search: bool,
    ) -> Result<Vec<u8>> {
        let what = format!("{method} {}", url.path());
        // The search slot first: waiting for it must not hold one of the 8.
        let _search = match search {
            true => Some(self.slot(&self.slots.search, &what).await?),
            false => None,
        };
        let _any = self.slot(&self.slots.any, &what).await?;
        self.transport
            .send(Call {
                method,
                url,
                headers: &[],
                json: body,
            })
            .await
    }

    /// `GET /candidates/{id}`: the candidate with its assignments.
    ///
    /// # Errors
    /// The transport's verdict (a 404, a candidate deleted, is permanent);
    /// permanent for an answer without the candidate's id.
    pub async fn candidate(&self, id: &str) -> Result<Value> {
        let url = endpoint(&self.base_url, &["candidates", id])?;
        let raw = self.call(Method::GET, url, None, false).await?;
        let candidate = self.transport.parse_json("GET /candidates/{id}", &raw)?;
        if text(&candidate["id"]).is_none() {
            return Err(Error::permanent(format!(
                "smartrecruiters GET /candidates/{id}: no candidate in the answer"
            )));
        }
        Ok(candidate)
    }

    /// One page of a `limit`/`offset` listing at `path` with `query`: its
    /// items and the next page's offset.
    async fn page(
        &self,
        path: &str,
        query: &[(&str, &str)],
        offset: u32,
    ) -> Result<(Vec<Value>, Option<u32>)> {
        let mut url = endpoint(&self.base_url, &[path])?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("limit", &PAGE_LIMIT.to_string())
            .append_pair("offset", &offset.to_string());
        let raw = self
            .call(Method::GET, url, None, path == "candidates")
            .await?;
        let page = self.transport.parse_json(&format!("GET /{path}"), &raw)?;
        let Some(items) = page["content"].as_array() else {
            return Err(Error::permanent(format!(
                "smartrecruiters GET /{path}: answer has no `content` list"
            )));
        };
        let seen = offset.saturating_add(u32::try_from(items.len()).unwrap_or(u32::MAX));
        let more = match page["totalFound"].as_u64() {
            Some(total) => u64::from(seen) < total,
            // Without a total, a full page may have a successor.
            None => items.len() >= PAGE_LIMIT as usize,
        };
        Ok((items.clone(), (more && !items.is_empty()).then_some(seen)))
    }

    /// One page of `GET /candidates` with `query`, from `offset`.
    ///
    /// # Errors
    /// The transport's verdict; permanent for an answer without `content`.
    pub async fn candidates_page(
        &self,
        query: &[(&str, &str)],
        offset: u32,
    ) -> Result<(Vec<Value>, Option<u32>)> {
        self.page("candidates", query, offset).await
    }

    /// Every item of listing `path` searched with `q = needle` whose
    /// `email` is `needle`, case aside (`q` searches several fields).
    async fn by_email(&self, path: &str, needle: &str) -> Result<Vec<Value>> {
        let needle = needle.trim();
        let mut all = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let (items, next) = self.page(path, &[("q", needle)], offset).await?;
            all.extend(
                items
                    .into_iter()
                    .filter(|c| text(&c["email"]).is_some_and(|e| e.eq_ignore_ascii_case(needle))),
            );
            match next {
                Some(n) => offset = n,
                None => return Ok(all),
            }
        }
        Err(Error::permanent(format!(
            "smartrecruiters GET /{path}?q: more than {MAX_PAGES} pages"
        )))
    }

    /// The candidates whose email is `email` (case aside), every page.
    ///
    /// # Errors
    /// As [`SmartRecruitersClient::candidates_page`].
    pub async fn candidates_by_email(&self, email: &str) -> Result<Vec<Value>> {
        self.by_email("candidates", email).await
    }

    /// The id of the user whose email is `email` (case aside), if any.
    ///
    /// # Errors
    /// The transport's verdict.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<String>> {
        Ok(self
            .by_email("users", email)
            .await?
            .iter()
            .find_map(|u| text(&u["id"])))
    }

    /// `PUT /candidates/{id}/jobs/{job}/properties/{property}` with
    /// `{"value": value}` (a TEXT property).
    ///
    /// # Errors
    /// The transport's verdict.
    pub async fn set_property(
        &self,
        candidate: &str,
        job: &str,
        property: &str,
        value: &str,
    ) -> Result<()> {
        let url = endpoint(
            &self.base_url,
            &["candidates", candidate, "jobs", job, "properties", property],
        )?;
        self.call(Method::PUT, url, Some(&json!({ "value": value })), false)
            .await?;
        Ok(())
    }

    /// `POST /candidates/{id}/tags`: `tags` **added** to the candidate's.
    ///
    /// # Errors
    /// The transport's verdict.
    pub async fn add_tags(&self, candidate: &str, tags: &[&str]) -> Result<()> {
        let url = endpoint(&self.base_url, &["candidates", candidate, "tags"])?;
        self.call(Method::POST, url, Some(&json!({ "tags": tags })), false)
            .await?;
        Ok(())
    }

    /// `PUT /candidates/{id}/jobs/{job}/source`: the configured referral
    /// source type, with `source_id` (the referring user) as its value.
    ///
    /// # Errors
    /// The transport's verdict.
    pub async fn set_source(&self, candidate: &str, job: &str, source_id: &str) -> Result<()> {
        let url = endpoint(
            &self.base_url,
            &["candidates", candidate, "jobs", job, "source"],
        )?;
        let mut body = json!({
            "sourceTypeId": self.referral_source_type_id,
            "sourceId": source_id,
        });
        if !self.referral_source_subtype_id.is_empty() {
            body["sourceSubTypeId"] = self.referral_source_subtype_id.clone().into();
        }
        self.call(Method::PUT, url, Some(&body), false).await?;
        Ok(())
    }

    /// Writes the attribution back (module docs).
    ///
    /// # Errors
    /// As the calls it makes; permanent when the candidate does not hold
    /// the job.
    pub async fn write_referral(&self, w: &WriteBack) -> Result<WriteReport> {
        let mut report = WriteReport::default();
        let (candidate_id, job) = split_application_id(&w.ats_application_id)?;
        let candidate = self.candidate(&candidate_id).await?;
        let assignment = assignment_of(&candidate, job.as_deref()).ok_or_else(|| {
            Error::permanent(format!(
                "smartrecruiters candidate {candidate_id} {NO_ASSIGNMENT} for {}",
                w.ats_application_id
            ))
        })?;
        let job = text(&assignment["job"]["id"])
            .ok_or_else(|| Error::permanent("smartrecruiters: an assignment without a job id"))?;

        let token = w.referral_token.as_deref().map(str::trim);
        match (
            token.filter(|t| !t.is_empty()),
            self.token_property_id.as_str(),
        ) {
            (Some(_), "") => report.skip(
                AttributionPart::CustomField,
                "no candidate property configured (ats.smartrecruiters.token_property_id)",
            ),
            (Some(token), property) => {
                self.set_property(&candidate_id, &job, property, token)
                    .await?;
                report.wrote(AttributionPart::CustomField);
            }
            (None, _) => report.skip(
                AttributionPart::CustomField,
                "no referral token (credited in the ATS)",
            ),
        }

        let tag = w.tag.trim();
        if tag.is_empty() {
            report.skip(AttributionPart::Tag, "no tag configured");
        } else {
            let tagged = tags_of(&candidate)
                .iter()
                .any(|t| t.eq_ignore_ascii_case(tag));
            if !tagged {
                self.add_tags(&candidate_id, &[tag]).await?;
            }
            report.wrote(AttributionPart::Tag);
        }

        if self.referral_source_type_id.is_empty() {
            let why =
                "no referral source type configured (ats.smartrecruiters.referral_source_type_id)";
            report.skip(AttributionPart::Source, why);
            report.skip(AttributionPart::Referrer, why);
            return Ok(report);
        }
        let user = match (&w.referrer_ats_user_id, &w.referrer_email) {
            (Some(id), _) if !id.trim().is_empty() => Some(id.trim().to_owned()),
            (_, Some(email)) if !email.trim().is_empty() => self.user_by_email(email).await?,
            _ => None,
        };
        match user {
            Some(user) => {
                self.set_source(&candidate_id, &job, &user).await?;
                report.wrote(AttributionPart::Source);
                report.wrote(AttributionPart::Referrer);
            }
            None => {
                // A referral source without its user names nobody: neither
                // is written rather than a half-truth.
                let why = "the referrer is not a SmartRecruiters user (no user with their email)";
                report.skip(AttributionPart::Source, why);
                report.skip(AttributionPart::Referrer, why);
            }
        }
        Ok(report)
    }
}

/// The candidate's assignments, primary first.
pub(super) fn assignments(candidate: &Value) -> Vec<&Value> {
    std::iter::once(&candidate["primaryAssignment"])
        .chain(
            candidate["secondaryAssignments"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .filter(|a| text(&a["job"]["id"]).is_some())
        .collect()
}

/// The assignment to `job`, or the primary one when no job is named.
pub(super) fn assignment_of<'a>(candidate: &'a Value, job: Option<&str>) -> Option<&'a Value> {
    let all = assignments(candidate);
    match job {
        Some(job) => all
            .into_iter()
            .find(|a| text(&a["job"]["id"]).as_deref() == Some(job)),
        None => all.into_iter().next(),
    }
}

/// The candidate's tags (strings, or objects with a `name`).
pub(super) fn tags_of(candidate: &Value) -> Vec<String> {
    candidate["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| text(t).or_else(|| text(&t["name"])))
        .collect()
}

/// A non-blank string value.
pub(super) fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_ids_join_and_split_candidate_and_job() {
        assert_eq!(application_id("c-1", "j-2"), "c-1:j-2");
        assert_eq!(
            split_application_id("c-1:j-2").unwrap(),
            ("c-1".into(), Some("j-2".into()))
        );
        assert_eq!(split_application_id("c-1").unwrap(), ("c-1".into(), None));
        for bad in ["", ":j", "c:", "c/../x:j", "c:j:k", "c:j?x"] {
            assert!(split_application_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_assignment_is_found_by_job_or_is_the_primary_one() {
        let c = json!({"id": "c", "primaryAssignment": {"job": {"id": "j1"}, "status": "NEW"},
            "secondaryAssignments": [{"job": {"id": "j2"}, "status": "HIRED"}]});
        assert_eq!(assignment_of(&c, Some("j2")).unwrap()["status"], "HIRED");
        assert_eq!(assignment_of(&c, None).unwrap()["status"], "NEW");
        assert!(assignment_of(&c, Some("j3")).is_none());
        assert!(assignment_of(&json!({"id": "c"}), None).is_none());
    }
}
