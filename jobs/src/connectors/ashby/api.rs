//! The Ashby API client: write-back of an attribution, and the reads that
//! look an application or a candidate up.
//!
//! # The API's shape
//!
//! Every method is `POST https://api.ashbyhq.com/<noun.verb>` with a JSON
//! body, Basic auth with the API key as username and a blank password. The
//! answer is an envelope: `{"success": true, "results": …}`, or **HTTP 200**
//! with `{"success": false, "errorInfo": {"code", "message"}}` (older
//! answers: `errors: [codes]`). [`AshbyClient::rpc`] turns the envelope into
//! the same retry decisions as the HTTP status ([`super::super::api`]):
//! `success: false` is a failure, permanent unless its code says the
//! limit was hit (`rate_limit_exceeded`, `concurrent_limit_exceeded`:
//! retryable). An answer without `success` is not Ashby's: permanent.
//!
//! # Write-back
//!
//! [`AshbyClient::write_referral_crediting`] (the seam's
//! `write_attribution`, in `connector.rs`):
//!
//! 1. `application.info` for the candidate id and the current credit;
//! 2. the referral token into the Application custom field titled
//!    [`AshbyConfig::token_field`] with `customField.setValues` (the field
//!    id is found once with `customField.list` and cached; a missing field
//!    is a permanent error saying what to create);
//! 3. the tag on the candidate: `candidateTag.list` (cached; created with
//!    `candidateTag.create` when missing), then `candidate.addTag`;
//! 4. the credit: when the application is credited to nobody yet and the
//!    referrer's email names an Ashby user (`user.search`),
//!    `application.update {creditedToUserId, sendNotifications: false}`.
//!    A credit a recruiter already set is left alone.
//!
//! Every step sets a value or adds to a set, so a job retried after a
//! partial success does it all again safely.
//!
//! # Rate limit
//!
//! Ashby's general limit is reported as 1,000 requests a minute per key
//! (Airbyte's connector; no Ashby page states it). The default quota
//! paces at 15 a second with bursts of 15, under that; 429 and 5xx go
//! through the shared mapping.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc, time::Duration};

use governor::Quota;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::webhook::title_key;
use crate::connectors::api::{Auth, Call, Credential, Transport, endpoint};
use crate::connectors::{AttributionPart, WriteBack, WriteReport};
use crate::error::{Error, Result};
use crate::outbound::{http::HttpOptions, limiter::AccountLimiter};

/// The vendor's name in logs and error messages.
pub const VENDOR: &str = "ashby";

/// Ashby's API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.ashbyhq.com";

/// Pause after a 429 that names no wait.
const FALLBACK_PAUSE: Duration = Duration::from_secs(2);

/// Most pages a listing follows (a runaway cursor must end).
const MAX_PAGES: usize = 50;

/// Configuration of an [`AshbyClient`].
#[derive(Debug, Clone)]
pub struct AshbyConfig {
    /// API base URL, [`DEFAULT_BASE_URL`] unless testing.
    pub base_url: Url,
    /// The API key (Basic auth username, blank password).
    pub api_key: Credential,
    /// Title of the Application custom field our token is written to:
    /// [`super::webhook::TOKEN_FIELD_TITLE`], the one webhooks are read
    /// from (a different title here would write where nothing reads).
    pub token_field: String,
    /// Local pacing per account.
    pub quota: Quota,
    /// Longest a request waits for the rate limiter before the job is
    /// handed back with [`Error::RetryAfter`].
    pub max_wait: Duration,
    /// Timeouts and User-Agent.
    pub http: HttpOptions,
}

impl AshbyConfig {
    /// The defaults: Ashby's API, the field "Referral token", 15 req/s,
    /// at most 5 s of waiting.
    pub fn new(api_key: impl Into<String>) -> Self {
        const FIFTEEN: NonZeroU32 = NonZeroU32::new(15).unwrap();
        Self {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("the default base URL parses"),
            api_key: Credential::from(api_key.into()),
            token_field: super::webhook::TOKEN_FIELD_TITLE.to_owned(),
            quota: Quota::per_second(FIFTEEN),
            max_wait: Duration::from_secs(5),
            http: HttpOptions::default(),
        }
    }
}

/// An Ashby application as the API states it, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AshbyApplication {
    /// Application id.
    pub id: String,
    /// `Hired`, `Archived`, `Active` or `Lead`.
    pub status: String,
    /// The candidate's id.
    pub candidate_id: Option<String>,
    /// The job's id.
    pub job_id: Option<String>,
    /// `currentInterviewStage.title`.
    pub stage: Option<String>,
    /// `creditedToUser.id`: who Ashby credits for the application.
    pub credited_to_user_id: Option<String>,
}

impl AshbyApplication {
    /// Reads an application object; `None` without an `id`.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: text(&v["id"])?,
            status: text(&v["status"]).unwrap_or_default(),
            candidate_id: text(&v["candidate"]["id"]),
            job_id: text(&v["job"]["id"]),
            stage: text(&v["currentInterviewStage"]["title"]),
            credited_to_user_id: text(&v["creditedToUser"]["id"]),
        })
    }

    /// Whether Ashby calls it hired.
    pub fn is_hired(&self) -> bool {
        self.status == "Hired"
    }
}

/// An Ashby candidate, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AshbyCandidate {
    /// Candidate id.
    pub id: String,
    /// Every email address (primary first).
    pub emails: Vec<String>,
    /// The candidate's applications.
    pub application_ids: Vec<String>,
}

impl AshbyCandidate {
    /// Reads a candidate object; `None` without an `id`.
    pub fn from_json(v: &Value) -> Option<Self> {
        let mut emails: Vec<String> = text(&v["primaryEmailAddress"]["value"])
            .into_iter()
            .collect();
        for e in v["emailAddresses"].as_array().into_iter().flatten() {
            if let Some(e) = text(&e["value"])
                && !emails.contains(&e)
            {
                emails.push(e);
            }
        }
        Some(Self {
            id: text(&v["id"])?,
            emails,
            application_ids: v["applicationIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(text)
                .collect(),
        })
    }
}

/// An Ashby client for write-back and look-ups.
#[derive(Debug)]
pub struct AshbyClient {
    base_url: Url,
    token_field: String,
    transport: Transport,
    /// Title → id, found once per process (ids never change; titles may,
    /// and a renamed field is then not found until a restart).
    field_ids: Mutex<HashMap<String, String>>,
    tag_ids: Mutex<HashMap<String, String>>,
}

impl AshbyClient {
    /// Builds the client and joins (or creates) the account's process-wide
    /// rate limiter.
    ///
    /// # Errors
    /// [`Error::Permanent`] for a base URL that is not http(s), an empty
    /// API key, or a TLS backend that fails to start.
    pub fn new(config: AshbyConfig) -> Result<Self> {
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
            token_field: config.token_field,
            transport,
            field_ids: Mutex::new(HashMap::new()),
            tag_ids: Mutex::new(HashMap::new()),
        })
    }

    /// This account's rate limiter.
    pub fn limiter(&self) -> &Arc<AccountLimiter> {
        self.transport.limiter()
    }

    /// Calls RPC `method` with `body` and returns its `results`.
    ///
    /// # Errors
    /// The transport's verdict for a non-2xx answer; for a 200 with
    /// `success: false`, retryable when its code is a rate or concurrency
    /// limit, permanent otherwise (naming the code and message); permanent
    /// for an answer that is not an Ashby envelope.
    pub async fn rpc(&self, method: &str, body: &Value) -> Result<Value> {
        let full = self.rpc_envelope(method, body).await?;
        Ok(full.get("results").cloned().unwrap_or(Value::Null))
    }

    /// [`AshbyClient::rpc`], returning the whole envelope (listings need
    /// `moreDataAvailable` and `nextCursor` beside `results`).
    pub(crate) async fn rpc_envelope(&self, method: &str, body: &Value) -> Result<Value> {
        let url = endpoint(&self.base_url, &[method])?;
        let raw = self
            .transport
            .send(Call {
                method: Method::POST,
                url,
                headers: &[],
                json: Some(body),
            })
            .await?;
        let value = self.transport.parse_json(method, &raw)?;
        envelope(method, value)
    }

    /// Every `results` item of listing `method`, following `nextCursor`
    /// while `moreDataAvailable` (at most 50 pages).
    async fn list_all(&self, method: &str, body: Value) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut request = body;
        for _ in 0..MAX_PAGES {
            let page = self.rpc_envelope(method, &request).await?;
            all.extend(page["results"].as_array().into_iter().flatten().cloned());
            let next = text(&page["nextCursor"]);
            match (page["moreDataAvailable"].as_bool(), next) {
                (Some(true), Some(cursor)) => request["cursor"] = cursor.into(),
                _ => return Ok(all),
            }
        }
        Err(Error::permanent(format!(
            "ashby {method}: more than {MAX_PAGES} pages"
        )))
    }

    /// `application.info` with its referrals expanded.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`]; permanent for a result without an id.
    pub async fn application_info(&self, application_id: &str) -> Result<AshbyApplication> {
        let results = self
            .rpc(
                "application.info",
                &json!({ "applicationId": application_id, "expand": ["referrals"] }),
            )
            .await?;
        AshbyApplication::from_json(&results).ok_or_else(|| {
            Error::permanent(format!(
                "ashby application.info {application_id}: no application in the answer"
            ))
        })
    }

    /// `candidate.info`.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`]; permanent for a result without an id.
    pub async fn candidate_info(&self, candidate_id: &str) -> Result<AshbyCandidate> {
        let results = self
            .rpc("candidate.info", &json!({ "candidateId": candidate_id }))
            .await?;
        AshbyCandidate::from_json(&results).ok_or_else(|| {
            Error::permanent(format!(
                "ashby candidate.info {candidate_id}: no candidate in the answer"
            ))
        })
    }

    /// `candidate.search {email}`: the candidates with that address (Ashby
    /// answers at most 100).
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn candidates_by_email(&self, email: &str) -> Result<Vec<AshbyCandidate>> {
        let results = self
            .rpc("candidate.search", &json!({ "email": email }))
            .await?;
        Ok(results
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(AshbyCandidate::from_json)
            .collect())
    }

    /// `user.search {email}`: the Ashby user with that email, if any.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>> {
        let results = self.rpc("user.search", &json!({ "email": email })).await?;
        Ok(results
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| {
                text(&u["email"]).is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
                    && u["isEnabled"].as_bool() != Some(false)
            })
            .and_then(|u| text(&u["id"])))
    }

    /// `customField.setValues` on one object: all values in one call, which
    /// Ashby recommends over concurrent `setValue` calls.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn set_custom_fields(
        &self,
        object_type: &str,
        object_id: &str,
        values: &[(String, Value)],
    ) -> Result<()> {
        let values: Vec<Value> = values
            .iter()
            .map(|(field_id, value)| json!({ "fieldId": field_id, "fieldValue": value }))
            .collect();
        self.rpc(
            "customField.setValues",
            &json!({ "objectType": object_type, "objectId": object_id, "values": values }),
        )
        .await?;
        Ok(())
    }

    /// The id of the unarchived custom field titled `title` on
    /// `object_type` objects (`customField.list`, cached), titles compared
    /// as the webhook decoder compares them.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn custom_field_id(&self, object_type: &str, title: &str) -> Result<Option<String>> {
        let key = format!("{object_type}/{title}");
        if let Some(id) = self.field_ids.lock().await.get(&key) {
            return Ok(Some(id.clone()));
        }
        let fields = self.list_all("customField.list", json!({})).await?;
        let found = fields
            .iter()
            .find(|f| {
                f["objectType"].as_str() == Some(object_type)
                    && f["isArchived"].as_bool() != Some(true)
                    && text(&f["title"]).is_some_and(|t| title_key(&t) == title_key(title))
            })
            .and_then(|f| text(&f["id"]));
        if let Some(id) = &found {
            self.field_ids.lock().await.insert(key, id.clone());
        }
        Ok(found)
    }

    /// The id of the candidate tag titled `title`, created when Ashby has
    /// none (`candidateTag.list`, `candidateTag.create`; cached).
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn tag_id(&self, title: &str) -> Result<String> {
        let mut cache = self.tag_ids.lock().await;
        if let Some(id) = cache.get(title) {
            return Ok(id.clone());
        }
        let tags = self
            .list_all("candidateTag.list", json!({ "includeArchived": false }))
            .await?;
        let existing = tags
            .iter()
            .find(|t| {
                t["isArchived"].as_bool() != Some(true)
                    && text(&t["title"]).is_some_and(|t| t.eq_ignore_ascii_case(title.trim()))
            })
            .and_then(|t| text(&t["id"]));
        let id = match existing {
            Some(id) => id,
            None => {
                let created = self
                    .rpc("candidateTag.create", &json!({ "title": title }))
                    .await?;
                text(&created["id"]).ok_or_else(|| {
                    Error::permanent("ashby candidateTag.create: no id in the answer")
                })?
            }
        };
        cache.insert(title.to_owned(), id.clone());
        Ok(id)
    }

    /// `candidate.addTag`.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn add_tag(&self, candidate_id: &str, tag_id: &str) -> Result<()> {
        self.rpc(
            "candidate.addTag",
            &json!({ "candidateId": candidate_id, "tagId": tag_id }),
        )
        .await?;
        Ok(())
    }

    /// `application.update {creditedToUserId}`, without notifying anyone.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`].
    pub async fn set_credited_to(&self, application_id: &str, user_id: &str) -> Result<()> {
        self.rpc(
            "application.update",
            &json!({
                "applicationId": application_id,
                "creditedToUserId": user_id,
                "sendNotifications": false,
            }),
        )
        .await?;
        Ok(())
    }

    /// Writes the attribution back (module docs), crediting the Ashby user
    /// whose email is `referrer_email` when the application has no credit.
    ///
    /// # Errors
    /// As [`AshbyClient::rpc`]; permanent when a token is to be written and
    /// no Application custom field has the configured title.
    pub async fn write_referral_crediting(
        &self,
        w: &WriteBack,
        referrer_email: Option<&str>,
    ) -> Result<WriteReport> {
        let mut report = WriteReport::default();
        let app = self.application_info(&w.ats_application_id).await?;
        match w.referral_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => {
                let field = self
                    .custom_field_id("Application", &self.token_field)
                    .await?
                    .ok_or_else(|| {
                        Error::permanent(format!(
                            "ashby: no Application custom field titled {:?}; create one (type String) \
                             in Ashby's admin",
                            self.token_field
                        ))
                    })?;
                self.set_custom_fields("Application", &app.id, &[(field, token.into())])
                    .await?;
                report.wrote(AttributionPart::CustomField);
            }
            None => report.skip(
                AttributionPart::CustomField,
                "no referral token (credited in the ATS)",
            ),
        }
        let candidate = app
            .candidate_id
            .clone()
            .or_else(|| Some(w.ats_candidate_id.clone()).filter(|c| !c.is_empty()));
        match candidate {
            Some(candidate) if !w.tag.trim().is_empty() => {
                let tag = self.tag_id(w.tag.trim()).await?;
                self.add_tag(&candidate, &tag).await?;
                report.wrote(AttributionPart::Tag);
            }
            Some(_) => report.skip(AttributionPart::Tag, "no tag configured"),
            None => report.skip(AttributionPart::Tag, "the application names no candidate"),
        }
        report.skip(
            AttributionPart::Source,
            "not written: Ashby's sources are the customer's own list",
        );
        if app.credited_to_user_id.is_some() {
            report.skip(
                AttributionPart::Referrer,
                "already credited in Ashby; left as it is",
            );
            return Ok(report);
        }
        let user = match (&w.referrer_ats_user_id, referrer_email) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(email)) => self.user_id_by_email(email).await?,
            (None, None) => None,
        };
        match user {
            Some(user) => {
                self.set_credited_to(&app.id, &user).await?;
                report.wrote(AttributionPart::Referrer);
            }
            None => report.skip(
                AttributionPart::Referrer,
                "the referrer is not an Ashby user (no user with their email)",
            ),
        }
        Ok(report)
    }
}

/// Checks an Ashby envelope: `success: true` passes it on.
fn envelope(method: &str, value: Value) -> Result<Value> {
    match value.get("success").and_then(Value::as_bool) {
        Some(true) => Ok(value),
        Some(false) => {
            let info = &value["errorInfo"];
            let code = text(&info["code"])
                .or_else(|| value["errors"].as_array()?.first().and_then(text))
                .unwrap_or_else(|| "unknown".to_owned());
            let message = text(&info["message"]).unwrap_or_default();
            let detail = format!("ashby {method}: success false: {code}: {message}");
            let detail: String = detail.chars().take(500).collect();
            if matches!(
                code.as_str(),
                "rate_limit_exceeded" | "concurrent_limit_exceeded"
            ) {
                Err(Error::Retryable(detail))
            } else {
                Err(Error::Permanent(detail))
            }
        }
        None => Err(Error::permanent(format!(
            "ashby {method}: answer has no `success` field: not an Ashby API answer"
        ))),
    }
}

/// A non-blank string value.
fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
