//! The small JSON client `referral-worker golive-check`
//! (`worker/src/commands/golive/`) drives a running service with: it talks to
//! the service the way the careers site, the portal and ops do, and signs
//! careers-site deliveries with the webhook sender's signer.
//!
//! It calls our own service, at an address ops type in, so it is not built
//! on the SSRF-guarded client ([`super::http`]); it follows no redirects
//! either.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};

/// A small JSON client for `referral-worker golive-check`: it talks to a
/// running service the way the careers site, the portal and ops do.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    base: Url,
    http: reqwest::Client,
}

/// A response: status and body (JSON when it parses, else the text).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl ServiceClient {
    /// A client for the service at `base` (no redirects followed).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a URL that is not http(s).
    pub fn new(base: &str, timeout: Duration) -> Result<Self> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| Error::invalid("base_url", e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::invalid("base_url", "must be an http(s) URL"));
        }
        super::http::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::permanent(format!("building the HTTP client: {e}")))?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// `GET path` with a bearer token.
    ///
    /// # Errors
    /// [`Error::Retryable`] when no answer came.
    pub async fn get(&self, path: &str, token: &str) -> Result<Answer> {
        let req = self.http.get(self.url(path)).bearer_auth(token);
        Self::answer(path, req).await
    }

    /// `POST path` with a bearer token and a JSON body.
    ///
    /// # Errors
    /// [`Error::Retryable`] when no answer came.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Result<Answer> {
        let req = self.http.post(self.url(path)).bearer_auth(token).json(body);
        Self::answer(path, req).await
    }

    /// `POST path` with exactly `body` and `headers` (a signed webhook).
    ///
    /// # Errors
    /// [`Error::Retryable`] when no answer came.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer> {
        let mut req = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        Self::answer(path, req).await
    }

    async fn answer(path: &str, req: reqwest::RequestBuilder) -> Result<Answer> {
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Retryable(format!("{path}: no answer: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::Retryable(format!("{path}: body: {e}")))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }
}

/// Standard Webhooks headers for a careers-site delivery of `body`, signed
/// now with `secret` under `msg_id`.
///
/// # Errors
/// [`Error::Invalid`] for an unusable secret.
pub fn careers_site_headers(
    secret: &str,
    msg_id: &str,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = super::webhook::sign(secret, msg_id, timestamp, body)?;
    Ok(vec![
        ("webhook-id", msg_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ])
}
