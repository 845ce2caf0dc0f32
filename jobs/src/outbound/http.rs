//! The guarded HTTP client every outbound call is built on: the ATS API
//! clients ([`crate::connectors`]) and the webhook sender
//! ([`super::webhook`]) both start from [`HttpOptions::build_client`] and
//! read answers with the helpers here.
//!
//! What "guarded" means, for every client:
//!
//! * redirects are never followed (a 3xx comes back as is and the caller
//!   makes it a permanent failure);
//! * unless `allow_private_networks`, URLs and resolved addresses must be
//!   public ([`super::net_guard`]);
//! * bodies are read up to a cap (`read_body`), so a runaway response
//!   cannot fill memory;
//! * what reaches an error message or a log is one line, cut short, with
//!   the caller's secrets removed, personal data masked and markup escaped
//!   (`excerpt`, `scrub`, `error_chain`; [`super::redact`]);
//! * every request is counted in the outbound metrics (`count_request`).

use std::time::Duration;

use reqwest::{StatusCode, redirect};
use url::Url;

use super::net_guard;
use crate::error::{Error, Result};

/// Most of an error body read at all: enough for a JSON error, not a whole
/// HTML page.
const ERROR_BODY_LIMIT: usize = 8 * 1024;

/// Makes ring the process's rustls crypto provider, unless one is
/// installed already. reqwest is built without a provider of its own (its
/// default would compile aws-lc-rs beside the ring that sqlx and redis use)
/// and takes the process's when it builds a client, so every client builder
/// calls this first.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // An error means another thread installed one meanwhile: as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Transport settings of an outbound HTTP client (ATS APIs and webhook
/// destinations alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Time allowed to open the TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included. A timeout is
    /// retryable, so this only bounds how long one attempt holds a worker.
    pub timeout: Duration,
    /// The `User-Agent` header; vendors ask integrations to identify
    /// themselves, and it makes our traffic findable in their logs.
    pub user_agent: String,
    /// Whether calls may go to private, loopback, link-local or reserved
    /// addresses (an on-premise receiver, local development, tests). Off by
    /// default: see [`super::net_guard`] for what is refused and why.
    pub allow_private_networks: bool,
    /// Extra trust anchors, a PEM bundle (`outbound.ca_file`), trusted
    /// besides the platform's store: a receiver behind a private CA
    /// (on-premise payroll). `None`: the platform's store alone.
    pub ca_pem: Option<String>,
    /// The forward proxy every call goes through (`outbound.proxy`).
    /// `None`: calls go directly, whatever `HTTP_PROXY`, `HTTPS_PROXY` or
    /// `ALL_PROXY` say: a proxy picked up from the environment would see the
    /// target's name instead of the guard, and the guard only the proxy's
    /// address. With a proxy, the guard checks the target before each call
    /// ([`HttpOptions::check_target`]).
    pub proxy: Option<ProxyUrl>,
}

/// A forward proxy's URL; its password never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(pub Url);

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = &self.0;
        write!(
            f,
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(0)
        )
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            user_agent: concat!("referral-worker/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_private_networks: false,
            ca_pem: None,
            proxy: None,
        }
    }
}

impl HttpOptions {
    /// A `reqwest` client with these timeouts, our User-Agent and redirects
    /// turned off (a 3xx is returned as is and becomes a permanent failure).
    /// Unless `allow_private_networks`, host names are resolved through
    /// [`net_guard::GuardedResolver`], so a name that resolves only to
    /// private addresses fails to connect.
    ///
    /// Servers are verified against the platform's trust store
    /// (rustls-platform-verifier) plus [`HttpOptions::ca_pem`].
    ///
    /// # Errors
    /// [`Error::Permanent`] if the TLS backend cannot be initialised or
    /// `ca_pem` holds no certificate.
    pub fn build_client(&self) -> Result<reqwest::Client> {
        install_tls_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(redirect::Policy::none())
            .user_agent(self.user_agent.clone());
        match &self.proxy {
            // No proxy from the environment either (see `proxy`).
            None => {
                builder = builder.no_proxy();
                if let Some(resolver) = net_guard::resolver(self.allow_private_networks) {
                    builder = builder.dns_resolver(resolver);
                }
            }
            // Through the proxy, the resolver only ever sees the proxy's
            // own name, which ops configured (often a private address): the
            // target is checked by `check_target` instead.
            Some(proxy) => {
                let proxy = reqwest::Proxy::all(proxy.0.clone())
                    .map_err(|e| Error::invalid("proxy", format!("not a proxy URL: {e}")))?;
                builder = builder.proxy(proxy);
            }
        }
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| Error::permanent(format!("reading the extra CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(Error::permanent(
                    "the extra CA bundle holds no PEM certificate",
                ));
            }
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .build()
            .map_err(|e| Error::permanent(format!("building the outbound HTTP client: {e}")))
    }

    /// Refuses `url` (named `field` in the error) when it is not http(s) or
    /// is an IP literal in a non-public range, unless
    /// `allow_private_networks`. The resolver covers host names; this
    /// covers addresses, which are never resolved.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `field`.
    pub fn check_url(&self, field: &str, url: &Url) -> Result<()> {
        net_guard::check_url(field, url, self.allow_private_networks)
    }

    /// Whether calls go through a proxy while the guard is on: then each
    /// call's target is checked by [`HttpOptions::check_target`] first.
    pub fn guards_targets(&self) -> bool {
        self.proxy.is_some() && !self.allow_private_networks
    }

    /// Before a call through a proxy with the guard on: refuses a target
    /// whose host is, or resolves here to, a non-public address
    /// ([`net_guard::check_proxied_target`]). Without a proxy the resolver
    /// guards every connection and this does nothing.
    ///
    /// # Errors
    /// [`Error::Permanent`] for an inward target, [`Error::Retryable`] for a
    /// name that does not resolve here (nothing was sent either way).
    pub async fn check_target(&self, url: &Url) -> Result<()> {
        if !self.guards_targets() {
            return Ok(());
        }
        net_guard::check_proxied_target(url).await
    }
}

/// Counts one outbound request in `referral_worker_outbound_requests_total`
/// and its duration. `status` is the HTTP code (`none` when no response
/// came), `error` the transport failure's class (`timeout`, `connect`,
/// `transport`; `none` when a response came). Shared by the ATS clients and
/// the webhook sender; `destination` is a configured name (`bonus`,
/// `status_sync`, `crm`, `alert`, `greenhouse`, `lever`), never a URL.
pub(crate) fn count_request(
    destination: &str,
    result: std::result::Result<StatusCode, &reqwest::Error>,
    duration: Duration,
) {
    let (status, error) = match result {
        Ok(s) => (s.as_u16().to_string(), "none"),
        Err(e) if e.is_timeout() => ("none".to_string(), "timeout"),
        Err(e) if e.is_connect() => ("none".to_string(), "connect"),
        Err(_) => ("none".to_string(), "transport"),
    };
    metrics::counter!(
        "referral_worker_outbound_requests_total",
        "destination" => destination.to_string(),
        "status" => status,
        "error" => error
    )
    .increment(1);
    metrics::histogram!(
        "referral_worker_outbound_request_duration_seconds",
        "destination" => destination.to_string()
    )
    .record(duration.as_secs_f64());
}

/// Reads at most `limit` bytes of a body; the rest is left unread.
pub(crate) async fn read_body(
    resp: &mut reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(body)
}

/// What a non-2xx answer says beyond its status: its `Location` (where a
/// redirect, never followed, pointed) and up to [`ERROR_BODY_LIMIT`] bytes
/// of its body. A failed body read is no reason to lose the status: what
/// arrived is kept.
pub(crate) async fn failure_answer(resp: &mut reqwest::Response) -> (Option<String>, Vec<u8>) {
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(resp, ERROR_BODY_LIMIT).await.unwrap_or_default();
    (location, body)
}

/// `text` with every non-empty entry of `secrets` replaced by
/// `[redacted]`, in the order given (put an encoding of a secret before the
/// secret itself).
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

/// The start of a body as errors, logs and alerts may show it: `secrets`
/// removed should a server (or a proxy) echo one back, then one short line
/// with personal data and tokens masked and markup escaped
/// ([`super::redact::excerpt`]).
pub(crate) fn excerpt(body: &[u8], secrets: &[&str]) -> String {
    let head = &body[..body.len().min(ERROR_BODY_LIMIT)];
    super::redact::excerpt(&scrub(&String::from_utf8_lossy(head), secrets))
}

/// reqwest's error and its causes: its `Display` omits the cause
/// ("connection refused" lives in `source()`). With `hide_url`, the URL is
/// replaced by `[url]` (a webhook URL may carry a token in its query).
pub(crate) fn error_chain(e: &reqwest::Error, hide_url: bool) -> String {
    let mut detail = match e.url() {
        Some(url) if hide_url => e.to_string().replace(url.as_str(), "[url]"),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    detail
}
