//! The one error type of the HTTP layer and how it becomes a response.
//!
//! Every failure a client can see is a variant here, and every response body
//! is `{"error": <short code>, "detail": <human sentence>}`. Internal errors
//! are logged with their cause and answered with a generic body: a caller
//! never sees a database message.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

/// What went wrong, from the client's point of view.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such route or resource.
    #[error("not found: {0}")]
    NotFound(String),
    /// A dependency (database, queue) is down; the caller should retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let detail = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = %e, cause = ?e, "request failed");
                "an internal error occurred; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(json!({ "error": code, "detail": detail }))).into_response()
    }
}

/// The fallback for unknown routes.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
