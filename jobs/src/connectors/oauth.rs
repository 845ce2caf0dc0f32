//! OAuth 2.0 client-credentials tokens for ATS APIs (Greenhouse Harvest
//! v3): one token per credential and acting user, minted in one place and
//! shared by every task of the process, refreshed before it expires and
//! once more when the API answers 401. Used by the API transport
//! ([`super::api`]) when a client is built with bearer auth.
//!
//! Why one shared token: Greenhouse may keep a single active token per
//! client id (a third-party report, see
//! `docs/greenhouse-harvest-v3.md` §1.1), so a token minted per worker or
//! per job could invalidate the others'. [`TokenSource::shared`] returns
//! the same source for the same token URL, client id and `sub`.
//!
//! The token request is the client-credentials grant as Greenhouse
//! documents it: `POST <token_url>` with HTTP Basic
//! `client_id:client_secret` and the form body
//! `grant_type=client_credentials&sub=<user id>`. The answer carries
//! `access_token` and `expires_at` (an RFC 3339 timestamp, `Z` or
//! `+0000`); `expires_in` seconds is accepted too.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use url::Url;

use super::api::Credential;
use crate::error::{Error, Result};
use crate::outbound::http::{self, HttpOptions, read_body};

/// How long before `expires_at` a token is replaced, so a request never
/// leaves with a token that expires on the way.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Lifetime assumed when the token answer states none (Greenhouse's
/// partner tokens live an hour; a 401 refreshes earlier anyway).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The credentials of a client-credentials grant.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The token endpoint, e.g. `https://auth.greenhouse.io/token`.
    pub token_url: Url,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Credential,
    /// The user the token acts as (`sub`), when the vendor takes one.
    pub sub: Option<String>,
}

#[derive(Clone)]
struct Token {
    access: String,
    expires_at: DateTime<Utc>,
}

/// A cached token and how to mint the next one.
pub struct TokenSource {
    vendor: &'static str,
    credentials: ClientCredentials,
    http: reqwest::Client,
    /// What `http` was built from; with a proxy, its guard checks the
    /// token endpoint before each mint.
    transport: HttpOptions,
    token: Mutex<Option<Token>>,
    /// Held while minting, so concurrent tasks wait for one request
    /// instead of each minting a token.
    minting: tokio::sync::Mutex<()>,
    /// Tokens minted so far (for logs and tests).
    minted: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("vendor", &self.vendor)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

fn registry() -> &'static Mutex<HashMap<String, Weak<TokenSource>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Weak<TokenSource>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

impl TokenSource {
    /// The process's token source for these credentials, created on first
    /// use. Two clients with the same token URL, client id and `sub` share
    /// one token.
    ///
    /// # Errors
    /// [`Error::Permanent`] for an empty client id or secret, a token URL
    /// that is not http(s) or that the SSRF guard refuses, or a TLS
    /// backend that fails to start.
    pub fn shared(
        vendor: &'static str,
        credentials: ClientCredentials,
        options: &HttpOptions,
    ) -> Result<Arc<Self>> {
        if credentials.client_id.trim().is_empty() || credentials.client_secret.is_empty() {
            return Err(Error::permanent(format!(
                "{vendor} OAuth client id or secret is empty"
            )));
        }
        if !matches!(credentials.token_url.scheme(), "http" | "https") {
            return Err(Error::permanent(format!(
                "{vendor} token URL {} is not an http(s) URL",
                credentials.token_url
            )));
        }
        options.check_url("token_url", &credentials.token_url)?;
        let key = format!(
            "{}#{}#{}",
            credentials.token_url,
            credentials.client_id,
            credentials.sub.as_deref().unwrap_or("")
        );
        let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(&key).and_then(Weak::upgrade)
            && existing.credentials.client_secret == credentials.client_secret
        {
            return Ok(existing);
        }
        let source = Arc::new(Self {
            vendor,
            credentials,
            http: options.build_client()?,
            transport: options.clone(),
            token: Mutex::new(None),
            minting: tokio::sync::Mutex::new(()),
            minted: std::sync::atomic::AtomicU64::new(0),
        });
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&source));
        Ok(source)
    }

    /// A token valid for at least [`REFRESH_MARGIN`], minting one when the
    /// cached token is missing or about to expire.
    ///
    /// # Errors
    /// The token endpoint's verdict: a refused credential (400/401/403) is
    /// permanent, a 429 or 5xx is retried.
    pub async fn bearer(&self) -> Result<String> {
        if let Some(access) = self.fresh() {
            return Ok(access);
        }
        let _minting = self.minting.lock().await;
        // Another task may have minted while this one waited.
        if let Some(access) = self.fresh() {
            return Ok(access);
        }
        let token = self.mint().await?;
        let access = token.access.clone();
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        Ok(access)
    }

    /// Forgets `used` after the API refused it (401), so the next
    /// [`Self::bearer`] mints a new one. A token another task has already
    /// replaced is left alone.
    pub fn invalidate(&self, used: &str) {
        let mut token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if token.as_ref().is_some_and(|t| t.access == used) {
            *token = None;
        }
    }

    /// How many tokens this source has minted.
    pub fn minted(&self) -> u64 {
        self.minted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The strings that must never appear in an error message: the client
    /// secret, the current token.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.credentials.client_secret.expose().to_owned()];
        if let Some(t) = self
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            secrets.push(t.access.clone());
        }
        secrets
    }

    fn fresh(&self) -> Option<String> {
        let token = self.token.lock().unwrap_or_else(|p| p.into_inner());
        let margin = chrono::Duration::from_std(REFRESH_MARGIN).unwrap_or_default();
        token
            .as_ref()
            .filter(|t| t.expires_at - margin > Utc::now())
            .map(|t| t.access.clone())
    }

    async fn mint(&self) -> Result<Token> {
        let c = &self.credentials;
        let what = format!("{} POST {}", self.vendor, c.token_url.path());
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(sub) = c.sub.as_deref().filter(|s| !s.is_empty()) {
                form.append_pair("sub", sub);
            }
            form.finish()
        };
        let scrub = |text: &str| http::scrub(text, &[c.client_secret.expose()]);
        // Through a proxy, the guard checks the token endpoint first.
        self.transport
            .check_target(&c.token_url)
            .await
            .map_err(|e| match e {
                Error::Retryable(m) => Error::Retryable(format!("{what}: {m}")),
                other => Error::Permanent(format!("{what}: {other}")),
            })?;
        let mut resp = self
            .http
            .post(c.token_url.clone())
            .basic_auth(&c.client_id, Some(c.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await
            .map_err(|e| {
                Error::Retryable(format!("{what}: {}", scrub(&http::error_chain(&e, false))))
            })?;
        let status = resp.status();
        if !status.is_success() {
            let (_, body) = http::failure_answer(&mut resp).await;
            let detail = format!(
                "{what}: {status}: {}",
                http::excerpt(&body, &[c.client_secret.expose()])
            );
            return Err(match status {
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Error::Permanent(format!(
                        "{detail} (check the OAuth client id, secret and user id)"
                    ))
                }
                s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                    Error::Retryable(detail)
                }
                _ => Error::Permanent(detail),
            });
        }
        let body = read_body(&mut resp, 64 * 1024)
            .await
            .map_err(|e| Error::Retryable(format!("{what}: {}", scrub(&e.to_string()))))?;
        let token = parse_token(&body, Utc::now())
            .ok_or_else(|| Error::permanent(format!("{what}: the answer has no access_token")))?;
        self.minted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(vendor = self.vendor, expires_at = %token.expires_at, "OAuth token minted");
        Ok(token)
    }
}

/// Reads a token answer: `access_token`, and `expires_at` (RFC 3339, or
/// with a `+0000` offset) or `expires_in` seconds.
fn parse_token(body: &[u8], now: DateTime<Utc>) -> Option<Token> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let access = v.get("access_token")?.as_str().filter(|s| !s.is_empty())?;
    let at = v.get("expires_at").and_then(|e| e.as_str()).and_then(|s| {
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .map(|t| t.with_timezone(&Utc))
    });
    let within = v
        .get("expires_in")
        .and_then(serde_json::Value::as_i64)
        .map(|s| now + chrono::Duration::seconds(s));
    let expires_at = at
        .or(within)
        .unwrap_or_else(|| now + chrono::Duration::from_std(DEFAULT_LIFETIME).unwrap_or_default());
    Some(Token {
        access: access.to_owned(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_in_every_documented_shape_parse() {
        let now = Utc::now();
        let z = parse_token(
            br#"{"access_token":"a","token_type":"Bearer","expires_at":"2030-01-02T03:04:05Z"}"#,
            now,
        )
        .unwrap();
        assert_eq!(z.expires_at.to_rfc3339(), "2030-01-02T03:04:05+00:00");
        let offset = parse_token(
            br#"{"access_token":"a","expires_at":"2030-01-02T03:04:05+0000"}"#,
            now,
        )
        .unwrap();
        assert_eq!(offset.expires_at, z.expires_at);
        let within = parse_token(br#"{"access_token":"a","expires_in":120}"#, now).unwrap();
        assert_eq!(within.expires_at, now + chrono::Duration::seconds(120));
        assert!(parse_token(br#"{"expires_in":120}"#, now).is_none());
        assert!(parse_token(b"not json", now).is_none());
    }
}
