//! The Greenhouse Harvest **v3** client: OAuth client credentials, the
//! reads and writes the service makes, cursor pagination, the 30-second
//! rate-limit window. Harvest v1/v2 (Basic-auth keys, `On-Behalf-Of`) was
//! removed on 31 Aug 2026; everything here follows
//! `docs/greenhouse-harvest-v3.md` (section numbers below are its).
//!
//! # Auth (§1)
//!
//! `POST https://auth.greenhouse.io/token` with Basic
//! `client_id:client_secret` and `grant_type=client_credentials&sub=<user
//! id>`; the `sub` is the acting user and must be a Site Admin (v3 list
//! endpoints need one). The token is cached once per (credential, `sub`)
//! for the whole process by [`crate::connectors::oauth::TokenSource`],
//! refreshed a minute before `expires_at` and once more on a 401 (by the
//! transport, [`crate::connectors::api`]).
//!
//! # Reads (§3, §4, §6)
//!
//! v3 has no GET-by-id: one record is `GET /v3/<resource>?ids=<id>`.
//! Lists are cursor-paged: the first request carries the filters (pipe
//! syntax, `updated_at=gte|<T>`) and `per_page=500`; each next page is the
//! `Link: <…>; rel="next"` URL **exactly as given** (a cursor must be the
//! only query parameter, so nothing is added to it). A 429 on a read whose
//! `Retry-After` fits within `max_wait` is asked again after the wait.
//!
//! # Rate limit (§5)
//!
//! A fixed 30-second window per credential, announced in
//! `X-RateLimit-Limit/Remaining/Reset`; 429 with `Retry-After`. The local
//! quota (default 50 per 30 s, Airbyte's undershoot of the only published
//! figure, 75) keeps the process under it; the server's headers pause the
//! account beyond that ([`crate::outbound::limiter`]), and a 429 naming no
//! wait pauses it for one window.
//!
//! The connector built on this client is in [`super::connector`].

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use governor::Quota;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::model::{AppliedTag, CandidateTag, Named, Referrer, User};
use crate::connectors::api::{Auth, Call, Credential, Transport, endpoint};
use crate::connectors::oauth::{ClientCredentials, TokenSource};
use crate::error::{Error, Result};
use crate::outbound::{http::HttpOptions, limiter::AccountLimiter};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "greenhouse";

/// Harvest v3's base URL.
pub const DEFAULT_BASE_URL: &str = "https://harvest.greenhouse.io/v3";

/// Greenhouse's OAuth token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://auth.greenhouse.io/token";

/// The default `name_key` of the application custom field that holds our
/// referral token.
pub const DEFAULT_TOKEN_FIELD_KEY: &str = "referral_token";

/// Harvest v3's rate-limit window: the pause after a 429 or a spent window
/// that names no `Retry-After` / `X-RateLimit-Reset`.
pub const WINDOW: Duration = Duration::from_secs(30);

/// The largest page v3 serves.
pub const PER_PAGE: u32 = 500;

/// Most ids one `ids=` filter takes.
const MAX_IDS: usize = 50;

/// How often one read is asked again after a 429 within `max_wait`.
const THROTTLED_RETRIES: u32 = 3;

/// Most pages of a small listing (tags, users) read: more is a loop.
const MAX_SMALL_PAGES: u32 = 20;

/// Configuration of a [`GreenhouseClient`].
#[derive(Debug, Clone)]
pub struct GreenhouseConfig {
    /// Harvest base URL including the version, e.g. [`DEFAULT_BASE_URL`].
    pub base_url: Url,
    /// The OAuth token endpoint, e.g. [`DEFAULT_TOKEN_URL`].
    pub token_url: Url,
    /// The Harvest V3 (OAuth) credential's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: Credential,
    /// The acting user (the token's `sub`): a Site Admin's numeric id.
    pub user_id: String,
    /// The `name_key` of the application custom field for the referral
    /// token; `None` writes no token.
    pub token_field_key: Option<String>,
    /// The `name_key` of the job custom field holding the job's level
    /// (v3 jobs have no level of their own); `None`: level unknown.
    pub job_level_field: Option<String>,
    /// A `/v3/sources` id (a "Referral" source) to set on the application;
    /// `None` leaves the source.
    pub referral_source_id: Option<String>,
    /// Local pacing per credential.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back to the queue with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

/// The local quota for `n` requests per 30-second window: evenly spaced,
/// with a burst of a tenth of the window's budget (so the busiest
/// 30 seconds stay within 1.1 × `n`, under Greenhouse's published 75 for
/// the default 50).
pub fn window_quota(n: NonZeroU32) -> Quota {
    let period = WINDOW / n.get();
    let burst = NonZeroU32::new(n.get().div_ceil(10)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl GreenhouseConfig {
    /// The defaults: Harvest v3 and Greenhouse's token endpoint, token
    /// field `referral_token`, no level field, no source, 50 requests per
    /// 30 s, at most 5 s of waiting per request.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Self {
        const FIFTY: NonZeroU32 = NonZeroU32::new(50).unwrap();
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses"),
            token_url: Url::parse(DEFAULT_TOKEN_URL).expect("the default token URL parses"),
            client_id: client_id.into(),
            client_secret: Credential::from(client_secret.into()),
            user_id: user_id.into(),
            token_field_key: Some(DEFAULT_TOKEN_FIELD_KEY.to_owned()),
            job_level_field: None,
            referral_source_id: None,
            quota: window_quota(FIFTY),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// A Greenhouse Harvest v3 client; [`crate::connectors::Connector`] is
/// implemented on it in [`super::connector`].
#[derive(Debug)]
pub struct GreenhouseClient {
    pub(super) base_url: Url,
    pub(super) token_field_key: Option<String>,
    pub(super) job_level_field: Option<String>,
    pub(super) referral_source_id: Option<String>,
    max_wait: Duration,
    transport: Transport,
    tokens: Arc<TokenSource>,
    /// Employee email (lower-cased) → referrer id, or `None` when the
    /// user or their referrer row does not exist (both change rarely;
    /// the cache lives as long as the process).
    pub(super) referrer_by_email: Mutex<HashMap<String, Option<u64>>>,
    /// User id → referrer id (or `None`: no referrer row).
    pub(super) referrer_by_user: Mutex<HashMap<u64, Option<u64>>>,
    /// Referrer id → the user it stands for (or `None`).
    pub(super) user_by_referrer: Mutex<HashMap<u64, Option<u64>>>,
    /// Department and office names by id.
    pub(super) names: Mutex<HashMap<(&'static str, u64), String>>,
}

impl GreenhouseClient {
    /// Builds the client, joining the process's token source and rate
    /// limiter for this credential and user.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base or token URL that is not http(s) (or
    /// that the SSRF guard refuses), an empty client id or secret, a user
    /// id that is not a number, or a TLS backend that fails to start.
    pub fn new(config: GreenhouseConfig) -> Result<Self> {
        let user_id = config.user_id.trim().to_owned();
        if user_id.is_empty() || !user_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::permanent(format!(
                "greenhouse user_id {user_id:?} must be the numeric id of a Site Admin (the token's sub)"
            )));
        }
        let tokens = TokenSource::shared(
            VENDOR,
            ClientCredentials {
                token_url: config.token_url,
                client_id: config.client_id,
                client_secret: config.client_secret,
                sub: Some(user_id),
            },
            &config.http,
        )?;
        let transport = Transport::new(
            VENDOR,
            &config.base_url,
            Auth::Bearer(tokens.clone()),
            config.quota,
            config.max_wait,
            WINDOW,
            &config.http,
        )?;
        Ok(Self {
            base_url: config.base_url,
            token_field_key: config.token_field_key.filter(|k| !k.trim().is_empty()),
            job_level_field: config.job_level_field.filter(|k| !k.trim().is_empty()),
            referral_source_id: config.referral_source_id.filter(|s| !s.trim().is_empty()),
            max_wait: config.max_wait,
            transport,
            tokens,
            referrer_by_email: Mutex::default(),
            referrer_by_user: Mutex::default(),
            user_by_referrer: Mutex::default(),
            names: Mutex::default(),
        })
    }

    /// This credential's rate limiter (shared with every other client of
    /// the same base URL and credential in the process).
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    /// This credential's token source (shared likewise).
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// `GET /v3/{resource}?{query}`: one page of records and the next
    /// page's URL. `page` is a `Link` next URL to follow instead, exactly
    /// as given.
    ///
    /// # Errors
    /// As for every call ([`crate::connectors::api`]); a body that is not a
    /// list of `T` is permanent.
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        resource: &str,
        query: &[(&str, &str)],
        page: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let what = format!("GET /v3/{resource}");
        let url = match page {
            Some(next) => self.cursor_url(resource, next)?,
            None => {
                let mut url = endpoint(&self.base_url, &[resource])?;
                if !query.is_empty() {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in query {
                        q.append_pair(k, v);
                    }
                }
                url
            }
        };
        let mut tries = 0;
        let answer = loop {
            let sent = self
                .transport
                .send_paged(Call {
                    method: Method::GET,
                    url: url.clone(),
                    headers: &[],
                    json: None,
                })
                .await;
            match sent {
                Ok(answer) => break answer,
                Err(Error::RetryAfter { after, .. })
                    if after <= self.max_wait && tries < THROTTLED_RETRIES =>
                {
                    // The account's limiter holds every request back until
                    // `after`; the next send waits for it.
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let items = self.parse(&what, &answer.body)?;
        Ok((items, answer.next))
    }

    /// Every record of `GET /v3/{resource}?{query}` over at most
    /// `max_pages` pages.
    ///
    /// # Errors
    /// As [`Self::list_page`].
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        resource: &str,
        query: &[(&str, &str)],
        max_pages: u32,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..max_pages {
            let (items, after) = self.list_page(resource, query, next.as_deref()).await?;
            all.extend(items);
            match after {
                Some(url) => next = Some(url),
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    /// The records with these ids (`GET /v3/{resource}?ids=…`, 50 ids a
    /// request): v3's only way to read one record.
    ///
    /// # Errors
    /// As [`Self::list_page`].
    pub async fn by_ids<T: DeserializeOwned>(&self, resource: &str, ids: &[u64]) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for chunk in ids.chunks(MAX_IDS) {
            let ids: Vec<String> = chunk.iter().map(u64::to_string).collect();
            let ids = ids.join(",");
            all.extend(self.list_all(resource, &[("ids", &ids)], 2).await?);
        }
        Ok(all)
    }

    /// A next-page URL, checked to point at the same API and resource: the
    /// `Link` header is the server's text, and following it anywhere else
    /// would send our token there.
    fn cursor_url(&self, resource: &str, next: &str) -> Result<Url> {
        let url = Url::parse(next).map_err(|e| {
            Error::permanent(format!(
                "greenhouse GET /v3/{resource}: next page {next:?}: {e}"
            ))
        })?;
        let expected = endpoint(&self.base_url, &[resource])?;
        if url.origin() != expected.origin() || url.path() != expected.path() {
            return Err(Error::permanent(format!(
                "greenhouse GET /v3/{resource}: next page {} is not {}",
                url.as_str(),
                expected.as_str()
            )));
        }
        Ok(url)
    }

    /// Sends a write (`PATCH`, `POST`) and parses the answer.
    ///
    /// # Errors
    /// As for every call.
    pub async fn write(&self, method: Method, path: &[&str], body: &Value) -> Result<Value> {
        let url = endpoint(&self.base_url, path)?;
        let what = format!("{method} {}", url.path());
        let answer = self
            .transport
            .send(Call {
                method,
                url,
                headers: &[],
                json: Some(body),
            })
            .await?;
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        self.transport.parse_json(&what, &answer)
    }

    fn parse<T: DeserializeOwned>(&self, what: &str, body: &[u8]) -> Result<Vec<T>> {
        let value = self.transport.parse_json(what, body)?;
        serde_json::from_value(value)
            .map_err(|e| Error::permanent(format!("greenhouse {what}: not the v3 list shape: {e}")))
    }

    /// The referrer id of the Greenhouse user with primary email `email`
    /// (`GET /v3/users?primary_email=` then [`Self::referrer_of_user`]),
    /// cached per process; `None` when there is no such user or it has no
    /// referrer row.
    ///
    /// # Errors
    /// As for every call.
    pub async fn referrer_for_email(&self, email: &str) -> Result<Option<u64>> {
        let key = email.trim().to_lowercase();
        if let Some(hit) = lock(&self.referrer_by_email).get(&key) {
            return Ok(*hit);
        }
        let users: Vec<User> = self
            .list_all("users", &[("primary_email", &key)], 1)
            .await?;
        let referrer = match users.first() {
            Some(user) => self.referrer_of_user(user.id).await?,
            None => None,
        };
        lock(&self.referrer_by_email).insert(key, referrer);
        Ok(referrer)
    }

    /// The referrer id standing for user `user_id` (`GET
    /// /v3/referrers?user_ids=`), cached per process. Referrers are
    /// read-only in v3 (created in Greenhouse's UI), so `None` is an answer
    /// the write-back reports, not an error.
    ///
    /// # Errors
    /// As for every call.
    pub async fn referrer_of_user(&self, user_id: u64) -> Result<Option<u64>> {
        if let Some(hit) = lock(&self.referrer_by_user).get(&user_id) {
            return Ok(*hit);
        }
        let user = user_id.to_string();
        let rows: Vec<Referrer> = self
            .list_all("referrers", &[("user_ids", &user)], 1)
            .await?;
        let referrer = rows.first().map(|r| r.id);
        lock(&self.referrer_by_user).insert(user_id, referrer);
        if let Some(r) = referrer {
            lock(&self.user_by_referrer).insert(r, Some(user_id));
        }
        Ok(referrer)
    }

    /// The users the referrer ids stand for (`GET /v3/referrers?ids=`,
    /// cached), for stating an application's referrer in the user id space
    /// webhooks use.
    ///
    /// # Errors
    /// As for every call.
    pub async fn users_of_referrers(&self, ids: &[u64]) -> Result<HashMap<u64, Option<u64>>> {
        let missing: Vec<u64> = {
            let cache = lock(&self.user_by_referrer);
            let mut m: Vec<u64> = ids
                .iter()
                .copied()
                .filter(|id| !cache.contains_key(id))
                .collect();
            m.sort_unstable();
            m.dedup();
            m
        };
        if !missing.is_empty() {
            let rows: Vec<Referrer> = self.by_ids("referrers", &missing).await?;
            let mut cache = lock(&self.user_by_referrer);
            for id in &missing {
                let user = rows.iter().find(|r| r.id == *id).and_then(|r| r.user_id);
                cache.insert(*id, user);
            }
        }
        let cache = lock(&self.user_by_referrer);
        Ok(ids
            .iter()
            .map(|id| (*id, cache.get(id).copied().flatten()))
            .collect())
    }

    /// The name of department or office `id` (`resource` is `departments`
    /// or `offices`), cached per process.
    ///
    /// # Errors
    /// As for every call.
    pub async fn name_of(&self, resource: &'static str, id: u64) -> Result<Option<String>> {
        if let Some(hit) = lock(&self.names).get(&(resource, id)) {
            return Ok(Some(hit.clone()));
        }
        let rows: Vec<Named> = self.by_ids(resource, &[id]).await?;
        let name = rows.into_iter().find(|r| r.id == id).map(|r| r.name);
        if let Some(n) = &name {
            lock(&self.names).insert((resource, id), n.clone());
        }
        Ok(name)
    }

    /// Adds tag `name` to candidate `candidate_id`: the tag found by name
    /// (any casing) in `GET /v3/candidate_tags` or created with `POST`,
    /// then applied with `POST /v3/applied_candidate_tags` unless `GET
    /// /v3/applied_candidate_tags` shows it applied already. Tag ids are
    /// not cached: a tag deleted in Greenhouse would leave a stale id.
    ///
    /// # Errors
    /// As for every call.
    pub async fn tag_candidate(&self, candidate_id: u64, name: &str) -> Result<()> {
        let tags: Vec<CandidateTag> = self
            .list_all("candidate_tags", &[("per_page", "500")], MAX_SMALL_PAGES)
            .await?;
        let tag_id = match tags.iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
            Some(tag) => tag.id,
            None => {
                let created = self
                    .write(
                        Method::POST,
                        &["candidate_tags"],
                        &serde_json::json!({ "name": name }),
                    )
                    .await?;
                created.get("id").and_then(Value::as_u64).ok_or_else(|| {
                    Error::permanent(format!(
                        "greenhouse POST /v3/candidate_tags: no tag id in the answer for {name:?}"
                    ))
                })?
            }
        };
        let (candidate, tag) = (candidate_id.to_string(), tag_id.to_string());
        let applied: Vec<AppliedTag> = self
            .list_all(
                "applied_candidate_tags",
                &[("candidate_ids", &candidate), ("candidate_tag_ids", &tag)],
                1,
            )
            .await?;
        if applied.is_empty() {
            self.write(
                Method::POST,
                &["applied_candidate_tags"],
                &serde_json::json!({ "candidate_id": candidate_id, "candidate_tag_id": tag_id }),
            )
            .await?;
        }
        Ok(())
    }
}

/// A poisoned cache is still a cache: its maps hold no invariant a panic
/// could break.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Greenhouse id from our side (a webhook's or a stored one), which v3
/// wants as an integer.
///
/// # Errors
/// [`Error::Permanent`] naming `what` when `id` is not a number.
pub fn numeric_id(what: &str, id: &str) -> Result<u64> {
    id.trim().parse().map_err(|_| {
        Error::permanent(format!(
            "greenhouse {what} {id:?} is not a Greenhouse id (v3 ids are integers)"
        ))
    })
}

#[cfg(test)]
#[path = "harvest/tests.rs"]
mod tests;
