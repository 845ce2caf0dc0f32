//! What the ATS API clients share: the transport every call goes through
//! (auth, the account's rate limit, turning answers into retry decisions).
//! The vendor clients are `greenhouse::harvest` and `lever::api` next door; they
//! implement [`super::Connector`], which is what callers use.
//!
//! # Failures are retry decisions
//!
//! Every method returns [`crate::Error`] with the variant already chosen for
//! the job queue:
//!
//! | what happened | error | the queue |
//! |---|---|---|
//! | `429` with `Retry-After` or `X-RateLimit-Reset`, `5xx` with `Retry-After` | [`Error::RetryAfter`] with the server's wait | retries then |
//! | `429` naming no wait, other `5xx`, `408`, timeout, connection refused/reset | [`Error::Retryable`] | backoff schedule |
//! | a redirect (not followed) | [`Error::Permanent`] | dead-letters |
//! | other `4xx` | [`Error::Permanent`] with status and body excerpt | dead-letters |
//! | a local or server rate-limit pause longer than `max_wait` | [`Error::RetryAfter`] | retries then |
//!
//! | `401` with an OAuth token | the token is minted again and the request sent once more | — |
//!
//! Redirects are refused because a Harvest or Lever API never redirects a
//! correct request: a 3xx means a wrong base URL or a login page, and
//! following it would replay the credentials to another location.
//! Error messages name the vendor, method, path and status, never the API
//! key, client secret or token (a body that echoes one has it replaced).
//!
//! Both write-backs are idempotent (PATCH sets the same values, tags and
//! sources are sets), so a job retried after a partial success simply does
//! everything again.
//!
//! Rate limits are shared per account across the process: see
//! [`crate::outbound::limiter`].

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use url::Url;

use super::oauth::TokenSource;
use crate::error::{Error, Result};
use crate::outbound::{
    http::{self, HttpOptions, count_request, read_body},
    limiter::{self, AccountLimiter},
};

/// Most of a success body we accept (an application or opportunity is a few
/// KiB; this only stops a runaway response).
const SUCCESS_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A credential (an API key, a client secret) as the client configs hold
/// it: `Debug` prints `[redacted]`, so a config can derive `Debug` and be
/// logged whole without leaking it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty (not configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Credential {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Credential {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How requests authenticate.
#[derive(Clone)]
pub(crate) enum Auth {
    /// HTTP Basic with the API key as username and an empty password
    /// (Lever).
    ApiKey(String),
    /// `Authorization: Bearer` with a shared OAuth token (Greenhouse
    /// Harvest v3); a 401 refreshes it once.
    Bearer(Arc<TokenSource>),
    /// `Authorization: Bearer` with a long-lived token that nothing can
    /// refresh (a Workable account token): a 401 is final.
    StaticBearer(String),
    /// A long-lived API key in a header of the vendor's own
    /// (SmartRecruiters' `X-SmartToken`): a 401 is final.
    Header(&'static str, String),
}

impl Auth {
    /// What identifies the account for its shared rate limiter.
    fn account(&self) -> String {
        match self {
            Auth::ApiKey(key) | Auth::StaticBearer(key) | Auth::Header(_, key) => key.clone(),
            Auth::Bearer(source) => format!("{source:?}"),
        }
    }
}

/// The HTTP machinery the clients share: auth, rate limiting, and turning
/// responses into retry decisions.
pub(crate) struct Transport {
    vendor: &'static str,
    http: reqwest::Client,
    /// What `http` was built from; with a proxy, its guard checks each
    /// call's target first.
    transport: HttpOptions,
    auth: Auth,
    limiter: Arc<AccountLimiter>,
    /// Longest wait for the limiter before the job is handed back.
    max_wait: Duration,
    /// Pause after a 429 or an empty window that came without a usable
    /// `Retry-After` / `X-RateLimit-Reset`.
    fallback_pause: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("vendor", &self.vendor)
            .field("auth", &"[redacted]")
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// One request to send through [`Transport::send`].
pub(crate) struct Call<'a> {
    pub method: Method,
    pub url: Url,
    /// `(name, value)` headers beyond auth.
    pub headers: &'a [(&'static str, &'a str)],
    /// A JSON body, if any.
    pub json: Option<&'a serde_json::Value>,
}

/// A 2xx answer: its body, and the `Link: <…>; rel="next"` URL when the
/// API paginates with one.
pub(crate) struct Answer {
    pub body: Vec<u8>,
    pub next: Option<String>,
}

impl Transport {
    pub(crate) fn new(
        vendor: &'static str,
        base_url: &Url,
        auth: Auth,
        quota: governor::Quota,
        max_wait: Duration,
        fallback_pause: Duration,
        http: &HttpOptions,
    ) -> Result<Self> {
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::permanent(format!(
                "{vendor} base URL {base_url} is not an http(s) URL"
            )));
        }
        if matches!(&auth, Auth::ApiKey(key) | Auth::StaticBearer(key) | Auth::Header(_, key) if key.is_empty())
        {
            return Err(Error::permanent(format!("{vendor} API key is empty")));
        }
        http.check_url("base_url", base_url)?;
        let limiter =
            AccountLimiter::shared(&limiter::account_key(base_url, &auth.account()), quota);
        Ok(Self {
            vendor,
            http: http.build_client()?,
            transport: http.clone(),
            auth,
            limiter,
            max_wait,
            fallback_pause,
        })
    }

    pub(crate) fn limiter(&self) -> &Arc<AccountLimiter> {
        &self.limiter
    }

    /// Sends one request under the account's rate limit and returns the
    /// body of a 2xx; everything else becomes the matching [`Error`].
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Vec<u8>> {
        Ok(self.send_paged(call).await?.body)
    }

    /// As [`Self::send`], with the next page's URL from the `Link` header.
    /// With bearer auth, a 401 mints a new token and sends once more.
    pub(crate) async fn send_paged(&self, call: Call<'_>) -> Result<Answer> {
        match self.exchange(call, false).await? {
            Some(answer) => Ok(answer),
            // Only `send_unless_missing` asks for a 404 to be `None`.
            None => Err(Error::permanent(format!("{}: 404 Not Found", self.vendor))),
        }
    }

    /// As [`Self::send`], but a `404 Not Found` is `Ok(None)`: for the read
    /// that asks whether the vendor still has something (reconciliation of
    /// a vendor that announces no merges or deletions, see
    /// [`super::Connector::polls_removals`]). Every other status is
    /// [`Self::send`]'s verdict.
    pub(crate) async fn send_unless_missing(&self, call: Call<'_>) -> Result<Option<Vec<u8>>> {
        Ok(self.exchange(call, true).await?.map(|a| a.body))
    }

    /// One call under the account's limit; `None` only for a 404 when
    /// `missing_is_none`.
    async fn exchange(&self, call: Call<'_>, missing_is_none: bool) -> Result<Option<Answer>> {
        let what = format!("{} {} {}", self.vendor, call.method, call.url.path());
        let mut refreshed = false;
        loop {
            self.limiter.acquire(self.max_wait).await?;
            self.transport
                .check_target(&call.url)
                .await
                .map_err(|e| match e {
                    Error::Retryable(m) => Error::Retryable(format!("{what}: {m}")),
                    other => Error::Permanent(format!("{what}: {other}")),
                })?;
            let mut req = self
                .http
                .request(call.method.clone(), call.url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            let used_token = match &self.auth {
                // Basic auth with the key as username and an empty password
                // is what Lever documents; reqwest marks the header sensitive.
                Auth::ApiKey(key) => {
                    req = req.basic_auth(key, Some(""));
                    None
                }
                Auth::Bearer(source) => {
                    let token = source.bearer().await?;
                    req = req.bearer_auth(&token);
                    Some(token)
                }
                Auth::StaticBearer(token) => {
                    req = req.bearer_auth(token);
                    None
                }
                Auth::Header(name, key) => {
                    let mut value = reqwest::header::HeaderValue::from_str(key).map_err(|_| {
                        Error::permanent(format!("{what}: the API key is not a header value"))
                    })?;
                    value.set_sensitive(true);
                    req = req.header(*name, value);
                    None
                }
            };
            for (name, value) in call.headers {
                req = req.header(*name, *value);
            }
            if let Some(body) = call.json {
                req = req.json(body);
            }

            let started = std::time::Instant::now();
            let mut resp = req
                .send()
                .await
                .inspect(|r| count_request(self.vendor, Ok(r.status()), started.elapsed()))
                .inspect_err(|e| count_request(self.vendor, Err(e), started.elapsed()))
                .map_err(|e| self.transport_error(&what, &e))?;
            let status = resp.status();
            let asked = self
                .limiter
                .observe(status, resp.headers(), self.fallback_pause);

            if status.is_success() {
                let next = next_link(resp.headers());
                let body = read_body(&mut resp, SUCCESS_BODY_LIMIT)
                    .await
                    .map_err(|e| self.transport_error(&what, &e))?;
                return Ok(Some(Answer { body, next }));
            }
            if missing_is_none && status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status == StatusCode::UNAUTHORIZED
                && !refreshed
                && let (Auth::Bearer(source), Some(token)) = (&self.auth, &used_token)
            {
                // Expired or revoked early: one new token, one more try.
                source.invalidate(token);
                refreshed = true;
                continue;
            }

            let (location, body) = http::failure_answer(&mut resp).await;
            let excerpt = self.excerpt(&body);
            // The Location is the server's text too: cut, masked, escaped.
            let location = location.map(|l| self.excerpt(l.as_bytes()));
            return Err(classify(
                &what,
                status,
                asked,
                location.as_deref(),
                &excerpt,
            ));
        }
    }

    /// A failure below HTTP (DNS, connect, TLS, timeout, reset mid-body).
    /// All transient, except a request reqwest could not even build.
    fn transport_error(&self, what: &str, e: &reqwest::Error) -> Error {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else if e.is_body() || e.is_decode() {
            "response body failed"
        } else {
            "request failed"
        };
        let detail = http::error_chain(e, false);
        let msg = format!("{what}: {kind}: {}", self.scrub(&detail));
        if e.is_builder() {
            Error::Permanent(msg)
        } else {
            Error::Retryable(msg)
        }
    }

    /// Parses a 2xx body as JSON. A complete body that is not the JSON we
    /// expect will not improve on retry, so that is permanent.
    pub(crate) fn parse_json(&self, what: &str, body: &[u8]) -> Result<serde_json::Value> {
        serde_json::from_slice(body).map_err(|e| {
            Error::Permanent(format!(
                "{} {what}: response is not JSON ({e}): {}",
                self.vendor,
                self.excerpt(body)
            ))
        })
    }

    /// The start of a body, on one line, with the credentials removed
    /// should a server (or a proxy) echo them back.
    fn excerpt(&self, body: &[u8]) -> String {
        let secrets = self.secrets();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        http::excerpt(body, &refs)
    }

    fn scrub(&self, text: &str) -> String {
        let secrets = self.secrets();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        http::scrub(text, &refs)
    }

    /// The credentials as they may be echoed: the key and its Basic form
    /// (base64 of `key:`), or the client secret and current token.
    fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        match &self.auth {
            Auth::ApiKey(key) => vec![
                base64::engine::general_purpose::STANDARD.encode(format!("{key}:")),
                key.clone(),
            ],
            Auth::Bearer(source) => source.secrets(),
            Auth::StaticBearer(token) | Auth::Header(_, token) => vec![token.clone()],
        }
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub(crate) fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            (is_next && !target.is_empty()).then(|| target.to_owned())
        })
}

/// Maps a non-2xx status to the job's verdict. `asked` is the wait the
/// server announced (already applied to the account's limiter).
fn classify(
    what: &str,
    status: StatusCode,
    asked: Option<Duration>,
    location: Option<&str>,
    excerpt: &str,
) -> Error {
    let detail = if excerpt.is_empty() {
        format!("{what}: {status}")
    } else {
        format!("{what}: {status}: {excerpt}")
    };
    if let Some(after) =
        asked.filter(|_| status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
    {
        return Error::RetryAfter {
            after,
            reason: detail,
        };
    }
    if status.is_redirection() {
        let to = location.unwrap_or("no Location");
        return Error::Permanent(format!(
            "{what}: {status} redirect to {to} not followed (wrong base URL?)"
        ));
    }
    match status {
        // 429 without any hint of when: the backoff schedule decides.
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => Error::Retryable(detail),
        s if s.is_server_error() => Error::Retryable(detail),
        s if s.is_client_error() => Error::Permanent(detail),
        // 1xx or a non-standard code: nothing says it will not work next time.
        _ => Error::Retryable(detail),
    }
}

/// `base` with `segments` appended as path segments, percent-encoded, so an
/// id can never add a segment or a query of its own.
///
/// # Errors
/// [`Error::Permanent`] for an empty, `.` or `..` segment (the URL library
/// would drop those silently and we would call another endpoint).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Result<Url> {
    if let Some(bad) = segments
        .iter()
        .find(|s| s.is_empty() || **s == "." || **s == "..")
    {
        return Err(Error::permanent(format!(
            "invalid id {bad:?} in an ATS URL"
        )));
    }
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::permanent(format!("ATS base URL {base} cannot take a path")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// An id as JSON: a number when it is one (Harvest's ids are integers and
/// its examples send them as such), else a string.
pub(crate) fn json_id(id: &str) -> serde_json::Value {
    id.parse::<u64>().map_or_else(|_| id.into(), Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_read_from_a_link_header() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(next_link(&h), None);
        h.insert(
            reqwest::header::LINK,
            "<https://harvest.greenhouse.io/v3/applications?cursor=eyJ>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://harvest.greenhouse.io/v3/applications?cursor=eyJ")
        );
        h.insert(
            reqwest::header::LINK,
            "<https://x/prev>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn endpoint_encodes_ids_and_refuses_dot_segments() {
        let base = Url::parse("https://harvest.greenhouse.io/v3").unwrap();
        assert_eq!(
            endpoint(&base, &["applications", "12"]).unwrap().as_str(),
            "https://harvest.greenhouse.io/v3/applications/12"
        );
        let slash = Url::parse("https://harvest.greenhouse.io/v3/").unwrap();
        assert_eq!(
            endpoint(&slash, &["applications", "a/b?c"])
                .unwrap()
                .as_str(),
            "https://harvest.greenhouse.io/v3/applications/a%2Fb%3Fc"
        );
        assert!(matches!(
            endpoint(&base, &["applications", ".."]),
            Err(Error::Permanent(_))
        ));
        assert!(matches!(
            endpoint(&base, &["applications", ""]),
            Err(Error::Permanent(_))
        ));
    }

    #[test]
    fn json_ids_are_numbers_when_numeric() {
        assert_eq!(json_id("4080"), serde_json::json!(4080));
        assert_eq!(json_id("u-1"), serde_json::json!("u-1"));
    }

    #[test]
    fn classify_maps_statuses_to_retry_decisions() {
        let w = "x GET /p";
        assert!(matches!(
            classify(w, StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(7)), None, ""),
            Error::RetryAfter { after, .. } if after == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(w, StatusCode::TOO_MANY_REQUESTS, None, None, ""),
            Error::Retryable(_)
        ));
        assert!(matches!(
            classify(w, StatusCode::BAD_GATEWAY, None, None, ""),
            Error::Retryable(_)
        ));
        assert!(matches!(
            classify(w, StatusCode::REQUEST_TIMEOUT, None, None, ""),
            Error::Retryable(_)
        ));
        assert!(matches!(
            classify(w, StatusCode::NOT_FOUND, None, None, ""),
            Error::Permanent(_)
        ));
        assert!(matches!(
            classify(w, StatusCode::MOVED_PERMANENTLY, None, Some("https://x/login"), ""),
            Error::Permanent(m) if m.contains("https://x/login")
        ));
        // A wait announced on a 4xx (say, `X-RateLimit-Remaining: 0` on a
        // 422) does not make the 4xx retryable.
        assert!(matches!(
            classify(
                w,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(Duration::from_secs(3)),
                None,
                ""
            ),
            Error::Permanent(_)
        ));
    }

    #[test]
    fn client_configs_print_without_their_credentials() {
        use crate::connectors::{
            ashby::AshbyConfig, greenhouse::GreenhouseConfig, lever::LeverConfig,
        };
        let printed = [
            format!("{:?}", AshbyConfig::new("ashby-key-5ecret")),
            format!("{:?}", LeverConfig::new("lever-key-5ecret")),
            format!(
                "{:?}",
                GreenhouseConfig::new("client-id", "gh-client-5ecret", "4410007")
            ),
        ];
        for text in &printed {
            assert!(!text.contains("5ecret"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
        assert!(printed[2].contains("client-id"), "the id is not a secret");
    }
}
