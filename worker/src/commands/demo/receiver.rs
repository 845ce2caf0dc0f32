//! The demo's bonus system: a real HTTP server on 127.0.0.1 that takes the
//! service's bonus POSTs, checks their Standard Webhooks signature with
//! its own copy of the secret (the check the careers-site intake runs,
//! `jobs::connectors::careers_site::verify`), answers 204 to a verified
//! delivery and 401 to any other, and records each for the `bonus` hop.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde_json::Value;

/// The path the receiver takes bonus POSTs on.
const PATH: &str = "/bonus";

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub(super) struct Delivery {
    /// Its `webhook-id`, when it had one.
    pub(super) webhook_id: Option<String>,
    /// `Ok` when the signature verified, else why not.
    pub(super) verified: Result<(), String>,
    /// The body, as JSON (`null` when it was not JSON).
    pub(super) body: Value,
    /// When it arrived.
    pub(super) at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
struct Shared {
    secret: Arc<str>,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

/// The running receiver; it stops with the demo's runtime.
pub(super) struct BonusReceiver {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl BonusReceiver {
    /// Starts a receiver that verifies with `secret` on a free port.
    ///
    /// # Errors
    /// No port to bind.
    pub(super) async fn start(secret: &str) -> anyhow::Result<Self> {
        let shared = Shared {
            secret: Arc::from(secret),
            seen: Arc::default(),
        };
        let seen = shared.seen.clone();
        let app = axum::Router::new()
            .route(PATH, axum::routing::post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the demo's bonus receiver stopped");
            }
        });
        Ok(Self { address, seen })
    }

    /// The URL the service is to POST to.
    pub(super) fn url(&self) -> String {
        format!("http://{}{PATH}", self.address)
    }

    /// Every POST so far, in arrival order.
    pub(super) fn deliveries(&self) -> Vec<Delivery> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let lookup = |name: &str| headers.get(name)?.to_str().ok().map(str::to_owned);
    let verified = jobs::connectors::careers_site::verify(&shared.secret, &lookup, &body)
        .map(|_| ())
        .map_err(|e| e.to_string());
    let status = match verified {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::UNAUTHORIZED,
    };
    let delivery = Delivery {
        webhook_id: lookup("webhook-id"),
        verified,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: chrono::Utc::now(),
    };
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push(delivery);
    }
    status
}
