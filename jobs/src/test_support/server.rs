//! A real HTTP server on 127.0.0.1 that plays an ATS or a webhook receiver
//! in tests. It records every request and answers with whatever the test's
//! responder returns.

use std::sync::{Arc, Mutex};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the responder returns: status, headers, body.
pub type Reply = (StatusCode, Vec<(&'static str, String)>, String);

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

#[derive(Clone)]
struct ServerState {
    seen: Arc<Mutex<Vec<Seen>>>,
    responder: Responder,
    delay: Option<std::time::Duration>,
}

pub struct TestServer {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    pub async fn start(responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with_delay(None, responder).await
    }

    /// A server that waits `delay` before answering (for timeouts).
    pub async fn start_with_delay(
        delay: Option<std::time::Duration>,
        responder: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = ServerState {
            seen: seen.clone(),
            responder: Arc::new(responder),
            delay,
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            seen,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(state): State<ServerState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        uri: uri
            .path_and_query()
            .map(ToString::to_string)
            .unwrap_or_default(),
        headers,
        body,
    };
    state.seen.lock().unwrap().push(seen.clone());
    if let Some(d) = state.delay {
        tokio::time::sleep(d).await;
    }
    let (status, headers, body) = (state.responder)(&seen);
    let mut resp = (status, body).into_response();
    for (name, value) in headers {
        resp.headers_mut().insert(name, value.parse().unwrap());
    }
    resp
}

/// A JSON reply.
pub fn json(status: StatusCode, body: serde_json::Value) -> Reply {
    (
        status,
        vec![("content-type", "application/json".into())],
        body.to_string(),
    )
}

/// The `Authorization` value for Basic auth with `key` as username and an
/// empty password, computed independently of reqwest.
pub fn basic(key: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}
