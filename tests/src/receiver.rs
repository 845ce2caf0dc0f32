//! A fake receiver: a real local HTTP server standing in for a system we
//! POST to but do not own (the bonus system, a status-sync endpoint, a CRM,
//! a Slack-compatible alert webhook).
//!
//! # Why a real server
//!
//! The code under test talks HTTP through reqwest with real timeouts,
//! real signatures and real `Retry-After` handling. A mock of the client
//! would test none of that. [`Receiver`] is an axum server on
//! `127.0.0.1:0`, so the app under test is configured with its URL
//! ([`Receiver::url`]) exactly as it would be with the real system.
//!
//! # What it does with a request
//!
//! In this order:
//!
//! 1. **Records it** ([`Received`]: arrival [`Instant`], method, path,
//!    headers, raw body and the body as JSON), before anything else, so a
//!    request is on record even when the client gives up waiting for the
//!    answer.
//! 2. **Refuses an unknown path** with 404 when [`ReceiverBuilder::path`]
//!    listed paths (by default every path is accepted).
//! 3. **Verifies the signature** when built with
//!    [`ReceiverBuilder::secret`]: a [Standard Webhooks] signature
//!    (`webhook-id`, `webhook-timestamp`, `webhook-signature`) checked by
//!    the `standardwebhooks` crate, i.e. an implementation independent of
//!    the one that signs. A bad or missing signature is answered **401**.
//!    Systems that do not sign (Slack incoming webhooks) are built without
//!    a secret; then nothing is checked and [`Received::verified`] is
//!    `None`.
//! 4. **Answers with the next [`Reply`] of its script**, consumed in order,
//!    one per accepted request (refused requests, 401 and 404, do not
//!    consume it). A reply can carry a `Retry-After` header value and a
//!    delay before answering: a delay longer than the client's request
//!    timeout provokes a read timeout *after* the request was received,
//!    the "sent, but no answer" case. When the script is empty the answer
//!    is `200` with an empty body.
//!
//! # Reading what happened
//!
//! [`Receiver::requests`] returns every request, oldest first; the helpers
//! ([`Receiver::bodies`], [`Receiver::webhook_ids`],
//! [`Receiver::count_by_idempotency_key`], ...) are views of it. Poll them
//! with [`crate::fixtures::wait_until`]; never sleep a fixed time and hope.
//!
//! ```ignore
//! use tests::receiver::{Receiver, Reply};
//!
//! // A bonus system that asks us to slow down once, then accepts.
//! let bonus = Receiver::builder()
//!     .secret(SECRET)
//!     .path("/bonus")
//!     .reply(Reply::status(429).retry_after("2"))
//!     .reply(Reply::ok())
//!     .start()
//!     .await;
//! settings.payouts.destination_url = bonus.url("/bonus");
//! // ... drive the app ...
//! assert_eq!(bonus.count_by_idempotency_key()["42:hire"], 2);
//!
//! // A Slack-compatible webhook: unsigned, always 200.
//! let slack = Receiver::builder().start().await;
//! ```
//!
//! The server stops when the [`Receiver`] is dropped.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::tls::{ServerCert, TlsListener};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header value, verbatim (`"2"`, or an HTTP date).
    pub retry_after: Option<String>,
    /// How long to wait before answering. The request is recorded on
    /// arrival, before the wait; a client that times out meanwhile closes
    /// the connection and never sees the answer.
    pub delay: Option<Duration>,
    /// The response body (sent as is; empty by default).
    pub body: String,
}

impl Reply {
    /// `status`, at once, no headers, empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: None,
            body: String::new(),
        }
    }

    /// `200`, at once: what an empty script answers too.
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// With `Retry-After: value`.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }

    /// Answering only after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// With `body` (e.g. Slack's `ok`, or an error text the client should
    /// quote in its reason).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

impl From<u16> for Reply {
    fn from(status: u16) -> Self {
        Reply::status(status)
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived (before any scripted delay).
    pub at: Instant,
    /// `POST`, `PUT`, ...
    pub method: Method,
    /// The path, e.g. `/bonus` (no query string).
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Its headers.
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub raw: Bytes,
    /// The body as JSON: `Value::Null` when empty or not JSON.
    pub body: Value,
    /// `Some(true)` when the signature verified, `Some(false)` when it did
    /// not (answered 401), `None` when this receiver checks no signature.
    pub verified: Option<bool>,
    /// The status it was answered with (for a delayed reply: the status it
    /// was going to answer, whether or not the client was still there).
    pub status: u16,
}

impl Received {
    /// Header `name` (any case), if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `webhook-id`, if any.
    pub fn webhook_id(&self) -> Option<&str> {
        self.header("webhook-id")
    }

    /// `Idempotency-Key`, if any.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }

    /// Whether it was accepted: not refused (401/404) by the receiver
    /// itself. Says nothing of the scripted status.
    pub fn accepted(&self) -> bool {
        self.verified != Some(false) && self.status != 404
    }
}

/// Configures a [`Receiver`]; [`Receiver::builder`] makes one.
#[derive(Default)]
pub struct ReceiverBuilder {
    paths: Vec<String>,
    secret: Option<String>,
    script: Vec<Reply>,
    tls: Option<TlsAcceptor>,
}

impl ReceiverBuilder {
    /// Accepts requests at `path` (e.g. `/bonus`). Call once per path. With
    /// no path given, every path is accepted; with some, the others are
    /// answered 404 (and still recorded).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.paths.push(path.into());
        self
    }

    /// Verifies Standard Webhooks signatures with `secret` (`whsec_...`)
    /// and answers 401 to any request that fails. Leave it out for systems
    /// that do not sign (Slack incoming webhooks).
    ///
    /// # Panics
    /// At [`ReceiverBuilder::start`], if the secret is not `whsec_` +
    /// base64.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Serves HTTPS with `cert` (see [`crate::tls`]); the URLs are then
    /// `https://localhost:<port>`, matching the certificate's name.
    pub fn tls(mut self, cert: &ServerCert) -> Self {
        self.tls = Some(cert.acceptor());
        self
    }

    /// Appends one reply to the script.
    pub fn reply(mut self, reply: impl Into<Reply>) -> Self {
        self.script.push(reply.into());
        self
    }

    /// Appends replies to the script, in order: `.script([500, 503])` or
    /// `.script([Reply::status(429).retry_after("2")])`.
    pub fn script<R: Into<Reply>>(mut self, replies: impl IntoIterator<Item = R>) -> Self {
        self.script.extend(replies.into_iter().map(Into::into));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no port can be bound or the secret is unusable.
    pub async fn start(self) -> Receiver {
        let verifier = self.secret.as_deref().map(|s| {
            standardwebhooks::Webhook::new(s)
                .unwrap_or_else(|e| panic!("receiver secret is not a whsec_ secret: {e:?}"))
        });
        let shared = Arc::new(Shared {
            paths: self.paths,
            verifier,
            log: Mutex::new(Log {
                script: self.script.into(),
                received: Vec::new(),
            }),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let address = listener.local_addr().expect("receiver address");
        let base_url = match &self.tls {
            Some(_) => format!("https://localhost:{}", address.port()),
            None => format!("http://{address}"),
        };
        let task = match self.tls {
            Some(acceptor) => tokio::spawn(async move {
                let _ = axum::serve(TlsListener::new(listener, acceptor), router).await;
            }),
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }),
        };
        Receiver {
            address,
            base_url,
            shared,
            task,
        }
    }
}

struct Log {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

struct Shared {
    paths: Vec<String>,
    verifier: Option<standardwebhooks::Webhook>,
    log: Mutex<Log>,
}

/// A running fake receiver. See the module docs.
pub struct Receiver {
    /// Where it listens.
    pub address: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// A builder: no secret (unsigned), every path, empty script.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    /// `http://127.0.0.1:<port>`, or `https://localhost:<port>` when built
    /// with [`ReceiverBuilder::tls`].
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// [`Receiver::base_url`] + `path`: what to configure the app with.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Appends replies to the script while it runs (e.g. to fail the
    /// *next* request of a later step).
    pub fn push<R: Into<Reply>>(&self, replies: impl IntoIterator<Item = R>) {
        let mut log = self.shared.log.lock().expect("lock");
        log.script.extend(replies.into_iter().map(Into::into));
    }

    /// Replies not consumed yet.
    pub fn remaining_script(&self) -> usize {
        self.shared.log.lock().expect("lock").script.len()
    }

    /// Every request so far, refused ones included, oldest first.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.log.lock().expect("lock").received.clone()
    }

    /// The requests it accepted (signature good or not checked, known path).
    pub fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(Received::accepted)
            .collect()
    }

    /// The requests to `path`, oldest first.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// How many requests it got, refused ones included.
    pub fn count(&self) -> usize {
        self.shared.log.lock().expect("lock").received.len()
    }

    /// The JSON bodies of the accepted requests, oldest first.
    pub fn bodies(&self) -> Vec<Value> {
        self.accepted().into_iter().map(|r| r.body).collect()
    }

    /// The `webhook-id` of each accepted request, oldest first (`""` when
    /// missing). A retry of one message repeats its id.
    pub fn webhook_ids(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .map(|r| r.webhook_id().unwrap_or_default().to_owned())
            .collect()
    }

    /// Accepted requests per `Idempotency-Key` (`""` when missing): every
    /// attempt counts, whatever it was answered.
    pub fn count_by_idempotency_key(&self) -> BTreeMap<String, usize> {
        Self::tally(self.accepted().iter())
    }

    /// Accepted requests answered 2xx, per `Idempotency-Key`: what the
    /// receiving system would have acted on (before its own dedup).
    pub fn deliveries_by_idempotency_key(&self) -> BTreeMap<String, usize> {
        Self::tally(
            self.accepted()
                .iter()
                .filter(|r| (200..300).contains(&r.status)),
        )
    }

    fn tally<'a>(requests: impl Iterator<Item = &'a Received>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in requests {
            *counts
                .entry(r.idempotency_key().unwrap_or_default().to_owned())
                .or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let known = shared.paths.is_empty() || shared.paths.contains(&path);
    let verified = shared
        .verifier
        .as_ref()
        .map(|hook| hook.verify(&raw, &headers).is_ok());
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let reply = {
        // The reply is taken and the request recorded under one lock, so
        // the n-th accepted request on record got the n-th reply.
        let mut log = shared.log.lock().expect("lock");
        let reply = if !known {
            Reply::status(404)
        } else if verified == Some(false) {
            Reply::status(401).body("bad signature")
        } else {
            log.script.pop_front().unwrap_or_else(Reply::ok)
        };
        log.received.push(Received {
            at,
            method,
            path,
            query: uri.query().map(str::to_owned),
            headers,
            raw,
            body,
            verified,
            status: reply.status,
        });
        reply
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(reply.status).expect("a valid status code");
    let mut response = (status, reply.body).into_response();
    if let Some(value) = reply.retry_after {
        response.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from_str(&value).expect("a header value"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";

    fn client(timeout: Duration) -> reqwest::Client {
        crate::app::client_builder()
            .timeout(timeout)
            .build()
            .expect("client")
    }

    async fn post_signed(
        url: &str,
        secret: &str,
        id: &str,
        key: &str,
        body: &str,
    ) -> reqwest::Response {
        let ts = chrono::Utc::now().timestamp();
        let sig = standardwebhooks::Webhook::new(secret)
            .expect("secret")
            .sign(id, ts, body.as_bytes())
            .expect("sign");
        client(Duration::from_secs(5))
            .post(url)
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .header("idempotency-key", key)
            .body(body.to_owned())
            .send()
            .await
            .expect("send")
    }

    #[tokio::test]
    async fn a_signed_receiver_answers_its_script_in_order_and_refuses_forgeries() {
        let r = Receiver::builder()
            .secret(SECRET)
            .path("/bonus")
            .reply(Reply::status(429).retry_after("2"))
            .reply(503)
            .start()
            .await;
        let url = r.url("/bonus");
        let other = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";
        let forged = post_signed(&url, other, "msg_1", "k1", "{}").await;
        assert_eq!(
            forged.status(),
            401,
            "a forgery does not consume the script"
        );
        let first = post_signed(&url, SECRET, "msg_1", "k1", r#"{"a":1}"#).await;
        assert_eq!(first.status(), 429);
        assert_eq!(first.headers()["retry-after"], "2");
        assert_eq!(
            post_signed(&url, SECRET, "msg_1", "k1", "{}")
                .await
                .status(),
            503
        );
        assert_eq!(
            post_signed(&url, SECRET, "msg_2", "k2", "{}")
                .await
                .status(),
            200
        );
        let elsewhere = post_signed(&r.url("/other"), SECRET, "msg_3", "k3", "{}").await;
        assert_eq!(elsewhere.status(), 404);

        assert_eq!(r.count(), 5, "everything is recorded");
        assert_eq!(r.webhook_ids(), ["msg_1", "msg_1", "msg_2"]);
        let counts = r.count_by_idempotency_key();
        assert_eq!((counts["k1"], counts["k2"]), (2, 1));
        let delivered = r.deliveries_by_idempotency_key();
        assert_eq!(delivered.get("k1"), None);
        assert_eq!(delivered["k2"], 1);
        assert_eq!(r.bodies()[0], serde_json::json!({ "a": 1 }));
        assert_eq!(r.requests()[0].verified, Some(false));
        assert_eq!(r.remaining_script(), 0);
    }

    #[tokio::test]
    async fn an_unsigned_receiver_accepts_anything_and_a_delay_outlasts_the_client() {
        let r = Receiver::builder()
            .reply(Reply::ok().delay(Duration::from_millis(800)))
            .start()
            .await;
        let gave_up = client(Duration::from_millis(200))
            .post(r.url("/slack"))
            .body(r#"{"text":"hi"}"#)
            .send()
            .await;
        assert!(gave_up.is_err_and(|e| e.is_timeout()));
        let seen = r.requests();
        assert_eq!(seen.len(), 1, "recorded on arrival, before the delay");
        assert_eq!(seen[0].verified, None);
        assert_eq!(seen[0].path, "/slack");
        assert_eq!(seen[0].body["text"], "hi");
    }
}
