//! The Workable API (v3) client: the candidate reads decisions rest on,
//! and the write-back of an attribution.
//!
//! # The API's shape (`docs/workable-smartrecruiters.md` §A1, §A4)
//!
//! `https://<subdomain>.workable.com/spi/v3/…` with `Authorization: Bearer
//! <token>` (an account token: nothing to refresh, so a 401 is final).
//! `GET /candidates/:id` answers the full candidate (a 404 once it was
//! deleted or merged away, [`WorkableClient::candidate_exists`]);
//! `GET /jobs/:shortcode` the job (department, location);
//! `GET /candidates`
//! (`email=`, `updated_after=`, `limit=` up to 100) answers `{candidates:
//! […], paging: {next}}`, `next` being the **full URL** of the next page.
//! A `next` that leaves the configured base URL is refused: following it
//! would hand the token to another host.
//!
//! # Rate limit
//!
//! An account token may make **10 requests per 10 seconds** (OAuth and
//! partner tokens 50). The default quota paces a little under that (a
//! burst of 9, then one every 1.1 s), shared by every job of the process
//! for the account; a `429` with `Retry-After` (or `X-Rate-Limit-Reset`)
//! pauses the whole account ([`crate::outbound::limiter`]).
//!
//! # Write-back
//!
//! [`WorkableClient::write_referral`] (the seam's `write_attribution`, in
//! `connector.rs`):
//!
//! 1. `GET /candidates/:id` (the candidate must exist; its tags are read);
//! 2. the referral token into the configured custom attribute with
//!    `PATCH /candidates/:id/update_custom_attribute_value
//!    {custom_attribute_key, value}` (a short-text attribute: at most 128
//!    characters);
//! 3. the tag: `PUT /candidates/:id/tags` **replaces** the whole list, so
//!    the list read in step 1 plus our tag is written, and nothing at all
//!    when the tag is already there.
//!
//! Workable has no structured referrer field and no source write in the
//! API we use: the attribute and the tag carry the attribution. Every step
//! sets a value, so a job retried after a partial success does it again
//! safely.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::Quota;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::connectors::api::{Auth, Call, Credential, Transport, endpoint};
use crate::connectors::{AttributionPart, WriteBack, WriteReport};
use crate::error::{Error, Result};
use crate::outbound::{http::HttpOptions, limiter::AccountLimiter};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "workable";

/// Longest value of a short-text custom attribute.
pub const MAX_ATTRIBUTE_LEN: usize = 128;

/// Items per listing page (Workable's maximum).
pub const PAGE_LIMIT: u32 = 100;

/// Pause after a 429 that names no wait: the whole 10-second window.
const FALLBACK_PAUSE: Duration = Duration::from_secs(10);

/// Most pages a look-up by email follows (a runaway `next` must end).
const MAX_PAGES: usize = 20;

/// Workable's API base URL for an account.
pub fn base_url_for(subdomain: &str) -> String {
    format!("https://{}.workable.com/spi/v3", subdomain.trim())
}

/// Configuration of a [`WorkableClient`].
#[derive(Debug, Clone)]
pub struct WorkableConfig {
    /// API base URL ([`base_url_for`] the subdomain unless testing).
    pub base_url: Url,
    /// The account token (`Authorization: Bearer`).
    pub token: Credential,
    /// Key of the short-text custom attribute our referral token is
    /// written to; empty: not written (reported skipped).
    pub custom_attribute_key: String,
    /// The tag prefix a customer's referral flow puts our token behind
    /// (`ref-` finds `ABC` in the tag `ref-ABC`); empty: no token is read
    /// from Workable.
    pub token_tag_prefix: String,
    /// Local pacing per account.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl WorkableConfig {
    /// The defaults for the API at `base_url` ([`base_url_for`] the
    /// account's subdomain): [`account_quota`], at most 5 s of waiting, no
    /// attribute, no token prefix.
    pub fn new(base_url: Url, token: impl Into<String>) -> Self {
        Self {
            base_url,
            token: Credential::from(token.into()),
            custom_attribute_key: String::new(),
            token_tag_prefix: String::new(),
            quota: account_quota(),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// A little under an account token's 10 requests per 10 seconds: a burst
/// of 9, then one every 1.1 s.
pub fn account_quota() -> Quota {
    const NINE: NonZeroU32 = NonZeroU32::new(9).unwrap();
    Quota::with_period(Duration::from_millis(1100))
        .expect("a non-zero period")
        .allow_burst(NINE)
}

/// A Workable client for the reads and the write-back.
#[derive(Debug)]
pub struct WorkableClient {
    base_url: Url,
    pub(super) custom_attribute_key: String,
    pub(super) token_tag_prefix: String,
    transport: Transport,
}

impl WorkableClient {
    /// Builds the client and joins (or creates) the account's process-wide
    /// rate limiter.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base URL that is not http(s), an empty
    /// token, or a TLS backend that fails to start.
    pub fn new(config: WorkableConfig) -> Result<Self> {
        let transport = Transport::new(
            VENDOR,
            &config.base_url,
            Auth::StaticBearer(config.token.expose().to_owned()),
            config.quota,
            config.max_wait,
            FALLBACK_PAUSE,
            &config.http,
        )?;
        Ok(Self {
            base_url: config.base_url,
            custom_attribute_key: config.custom_attribute_key.trim().to_owned(),
            token_tag_prefix: config.token_tag_prefix.trim().to_owned(),
            transport,
        })
    }

    /// This account's rate limiter.
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    async fn call(&self, method: Method, url: Url, body: Option<&Value>) -> Result<Vec<u8>> {
        self.transport
            .send(Call {
                method,
                url,
                headers: &[],
                json: body,
            })
            .await
    }

    /// `GET /candidates/:id`: the full candidate (`{"candidate": {…}}`, or
    /// the bare object).
    ///
    /// # Errors
    /// The transport's verdict (a 404, a candidate deleted or merged away,
    /// is permanent); permanent for an answer without a candidate id.
    pub async fn candidate(&self, id: &str) -> Result<Value> {
        let url = endpoint(&self.base_url, &["candidates", id])?;
        let raw = self.call(Method::GET, url, None).await?;
        let value = self.transport.parse_json("GET /candidates/:id", &raw)?;
        let candidate = match value.get("candidate") {
            Some(c) if c.is_object() => c.clone(),
            _ => value,
        };
        if text(&candidate["id"]).is_none() {
            return Err(Error::permanent(format!(
                "workable GET /candidates/{id}: no candidate in the answer"
            )));
        }
        Ok(candidate)
    }

    /// Whether Workable still has candidate `id`: `GET /candidates/:id`,
    /// `false` on a 404 (the candidate was deleted, or merged into another
    /// and its id retired: Workable announces neither).
    ///
    /// # Errors
    /// The transport's verdict for any other failure.
    pub async fn candidate_exists(&self, id: &str) -> Result<bool> {
        let url = endpoint(&self.base_url, &["candidates", id])?;
        let found = self
            .transport
            .send_unless_missing(Call {
                method: Method::GET,
                url,
                headers: &[],
                json: None,
            })
            .await?;
        Ok(found.is_some())
    }

    /// `GET /jobs/:shortcode`: the job object (`{"job": {…}}`, or the bare
    /// object, as for a candidate).
    ///
    /// # Errors
    /// The transport's verdict (a 404, a job Workable does not have, is
    /// permanent); permanent for an answer that is not an object.
    pub async fn job(&self, shortcode: &str) -> Result<Value> {
        let url = endpoint(&self.base_url, &["jobs", shortcode])?;
        let raw = self.call(Method::GET, url, None).await?;
        let value = self.transport.parse_json("GET /jobs/:shortcode", &raw)?;
        let job = match value.get("job") {
            Some(j) if j.is_object() => j.clone(),
            _ => value,
        };
        if !job.is_object() {
            return Err(Error::permanent(format!(
                "workable GET /jobs/{shortcode}: the answer is not a job"
            )));
        }
        Ok(job)
    }

    /// One page of `GET /candidates` with `query` (the first page), or
    /// the page at `next` (a `paging.next` URL): its candidates and the
    /// next page's URL.
    ///
    /// # Errors
    /// The transport's verdict; permanent for a `next` outside the base
    /// URL or an answer without `candidates`.
    pub async fn candidates_page(
        &self,
        query: &[(&str, &str)],
        next: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let url = match next {
            Some(next) => self.same_api(next)?,
            None => {
                let mut url = endpoint(&self.base_url, &["candidates"])?;
                url.query_pairs_mut()
                    .extend_pairs(query)
                    .append_pair("limit", &PAGE_LIMIT.to_string());
                url
            }
        };
        let raw = self.call(Method::GET, url, None).await?;
        let page = self.transport.parse_json("GET /candidates", &raw)?;
        let Some(items) = page["candidates"].as_array() else {
            return Err(Error::permanent(
                "workable GET /candidates: answer has no `candidates` list",
            ));
        };
        Ok((items.clone(), text(&page["paging"]["next"])))
    }

    /// The candidates whose `email` is `email` (case aside), every page.
    ///
    /// # Errors
    /// As [`WorkableClient::candidates_page`].
    pub async fn candidates_by_email(&self, email: &str) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (items, more) = self
                .candidates_page(&[("email", email)], next.as_deref())
                .await?;
            all.extend(items.into_iter().filter(|c| {
                text(&c["email"]).is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
            }));
            match more {
                Some(url) => next = Some(url),
                None => return Ok(all),
            }
        }
        Err(Error::permanent(format!(
            "workable GET /candidates?email: more than {MAX_PAGES} pages"
        )))
    }

    /// A `paging.next` URL, accepted only on the configured API (same
    /// scheme, host, port, under the base path).
    fn same_api(&self, next: &str) -> Result<Url> {
        let url = Url::parse(next)
            .map_err(|e| Error::permanent(format!("workable paging.next is not a URL ({e})")))?;
        let base_path = self.base_url.path().trim_end_matches('/');
        let same = url.scheme() == self.base_url.scheme()
            && url.host_str() == self.base_url.host_str()
            && url.port_or_known_default() == self.base_url.port_or_known_default()
            && url.path().starts_with(base_path);
        if same {
            Ok(url)
        } else {
            Err(Error::permanent(format!(
                "workable paging.next leaves the API ({}): not followed",
                url.origin().ascii_serialization()
            )))
        }
    }

    /// `PATCH /candidates/:id/update_custom_attribute_value` with a
    /// short-text value.
    ///
    /// # Errors
    /// The transport's verdict; permanent for a value over 128 characters.
    pub async fn set_custom_attribute(&self, id: &str, key: &str, value: &str) -> Result<()> {
        if value.chars().count() > MAX_ATTRIBUTE_LEN {
            return Err(Error::permanent(format!(
                "workable custom attribute {key}: the value is longer than {MAX_ATTRIBUTE_LEN} characters"
            )));
        }
        let url = endpoint(
            &self.base_url,
            &["candidates", id, "update_custom_attribute_value"],
        )?;
        let body = json!({ "custom_attribute_key": key, "value": value });
        self.call(Method::PATCH, url, Some(&body)).await?;
        Ok(())
    }

    /// `PUT /candidates/:id/tags`: the candidate's tags become `tags`.
    ///
    /// # Errors
    /// The transport's verdict.
    pub async fn replace_tags(&self, id: &str, tags: &[String]) -> Result<()> {
        let url = endpoint(&self.base_url, &["candidates", id, "tags"])?;
        self.call(Method::PUT, url, Some(&json!({ "tags": tags })))
            .await?;
        Ok(())
    }

    /// Writes the attribution back (module docs).
    ///
    /// # Errors
    /// As the calls it makes.
    pub async fn write_referral(&self, w: &WriteBack) -> Result<WriteReport> {
        let mut report = WriteReport::default();
        // One Workable candidate is one application: both ids are its id.
        let id = if w.ats_application_id.trim().is_empty() {
            w.ats_candidate_id.trim()
        } else {
            w.ats_application_id.trim()
        };
        let candidate = self.candidate(id).await?;
        let token = w.referral_token.as_deref().map(str::trim);
        match (
            token.filter(|t| !t.is_empty()),
            self.custom_attribute_key.as_str(),
        ) {
            (Some(_), "") => report.skip(
                AttributionPart::CustomField,
                "no custom attribute configured (ats.workable.custom_attribute_key)",
            ),
            (Some(token), key) => {
                self.set_custom_attribute(id, key, token).await?;
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
            let mut tags: Vec<String> = candidate["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| text(t).or_else(|| text(&t["name"])))
                .collect();
            if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                // PUT replaces the list: the tags read above go back too.
                tags.push(tag.to_owned());
                self.replace_tags(id, &tags).await?;
            }
            report.wrote(AttributionPart::Tag);
        }
        report.skip(
            AttributionPart::Source,
            "not written: Workable's API has no source write for a candidate",
        );
        report.skip(
            AttributionPart::Referrer,
            "not written: Workable's API has no structured referrer field; the custom attribute carries the token",
        );
        Ok(report)
    }
}

/// A non-blank string value.
pub(super) fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
