//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/healthz` says the process is up and serving (never touches
//! dependencies, so a database outage does not get the process restarted).
//! `/readyz` says it can do its job: the database and the queue both answer.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database and the queue answer within 2 s each,
/// 503 naming the failing dependency otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let limit = Duration::from_secs(2);
    let db = match tokio::time::timeout(limit, state.db.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2s".to_string(),
    };
    let queue = match tokio::time::timeout(limit, state.queue.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2s".to_string(),
    };
    let ready = db == "ok" && queue == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": db,
            "queue": queue,
            "queue_backend": state.queue.backend_name(),
        })),
    )
}
