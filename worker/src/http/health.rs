//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/healthz` says the process is up and serving (never touches
//! dependencies, so a database outage does not get the process restarted).
//! `/readyz` says it can do its job: the database and the queue both answer,
//! and the process has not been told to stop. From SIGTERM on it answers
//! 503 `draining`, so a load balancer takes the process out of rotation
//! while its requests and jobs drain.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;

use crate::state::AppState;

/// `GET /healthz`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /readyz`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `not_ready` or `draining` (stopping after SIGTERM).
    #[schema(example = "ready")]
    status: &'static str,
    /// `ok` or `error: ...` (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// `ok` or `error: ...` (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    /// `redis` or `sql` (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_backend: Option<&'static str>,
}

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "health",
    summary = "Liveness: answers while the process runs (never touches dependencies)",
    responses((status = 200, description = "up", body = Liveness)))]
pub async fn healthz() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// `GET /readyz`: 200 when the database and the queue answer within 2 s each,
/// 503 naming the failing dependency otherwise, 503 `draining` once the
/// process is stopping.
#[utoipa::path(get, path = "/readyz", tag = "health",
    summary = "Readiness: the database and the queue both respond, and the process is not stopping",
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "names what did not respond, or `draining`", body = Readiness),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    if state.stopping.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "draining",
                database: None,
                queue: None,
                queue_backend: None,
            }),
        );
    }
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
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            database: Some(db),
            queue: Some(queue),
            queue_backend: Some(state.queue.backend_name()),
        }),
    )
}
