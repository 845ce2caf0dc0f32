//! The one error type of the HTTP layer and how it becomes a response.
//!
//! Every failure a client can see is a variant here, and every response body
//! is `{"error": <short code>, "detail": <human sentence>}`. Internal errors
//! are logged with their cause and answered with a generic body: a caller
//! never sees a database message. Storage outages answer 503, so webhook
//! senders retry instead of dropping the event.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// The body of every error response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A short code: `unauthorized`, `forbidden`, `not_found`,
    /// `bad_request`, `invalid_field`, `payload_too_large`,
    /// `unsupported_media_type`, `method_not_allowed`, `conflict`,
    /// `unavailable` or `internal`.
    #[schema(example = "invalid_field")]
    pub error: &'static str,
    /// A sentence naming the problem (the field, the parameter, the state).
    #[schema(example = "expires_in: must be between 1s and 5 years")]
    pub detail: String,
}

/// What went wrong, from the client's point of view.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or a webhook signature that does not verify (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials that are wrong or lack the scope (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route or resource (404).
    #[error("{0}")]
    NotFound(String),
    /// The body is not JSON, or a required header is missing (400).
    #[error("{0}")]
    BadRequest(String),
    /// A field is missing, mistyped or unacceptable (422).
    #[error("{field}: {problem}")]
    Unprocessable {
        /// The field, as a dotted path.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The body is larger than `http.body_limit` (413).
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is not `application/json` (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request did not arrive in time (408): its body stalled.
    #[error("{0}")]
    RequestTimeout(String),
    /// The action does not apply to the resource's current state (409),
    /// e.g. approving a payout that was already delivered.
    #[error("{0}")]
    Conflict(String),
    /// The route exists, but not for this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A dependency (database, queue) is down; the caller should retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; details are logged, not returned (500).
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The status code and the short error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unprocessable { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<jobs::Error> for ApiError {
    fn from(e: jobs::Error) -> Self {
        match e {
            jobs::Error::Invalid { field, problem } => ApiError::Unprocessable { field, problem },
            jobs::Error::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            e @ jobs::Error::InvalidState { .. } => ApiError::Conflict(e.to_string()),
            jobs::Error::Db(e) => database_unavailable(e),
            jobs::Error::Queue(e) => e.into(),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<queue::Error> for ApiError {
    fn from(e: queue::Error) -> Self {
        use queue::Error as Q;
        match e {
            Q::NotFound(id) => ApiError::NotFound(format!("{id} not found")),
            e @ Q::InvalidState { .. } => ApiError::Conflict(e.to_string()),
            Q::Db(e) => database_unavailable(e),
            Q::Redis(e) => {
                tracing::warn!(error = %e, "queue unavailable");
                ApiError::Unavailable("queue unavailable; retry later".into())
            }
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

fn database_unavailable(e: sea_orm::DbErr) -> ApiError {
    tracing::warn!(error = %e, "database unavailable");
    ApiError::Unavailable("database unavailable; retry later".into())
}

impl From<jobs::intake::IntakeError> for ApiError {
    fn from(e: jobs::intake::IntakeError) -> Self {
        use jobs::intake::IntakeError as E;
        match e {
            E::BadSignature(_) | E::Stale(_) => ApiError::Unauthorized(e.to_string()),
            E::MalformedJson(_) => ApiError::BadRequest(e.to_string()),
            E::InvalidField { field, problem } => ApiError::Unprocessable { field, problem },
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
        (
            status,
            Json(ErrorBody {
                error: code,
                detail,
            }),
        )
            .into_response()
    }
}

/// The fallback for unknown routes.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// The fallback for a known route called with another method (axum still
/// adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

/// A numeric id from the route's single path parameter (`/api/payouts/{id}`).
///
/// axum's own `Path<i64>` answers a non-number with a plain-text 400; this
/// extractor answers it like every other error here, as JSON naming the
/// parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(format!("path: {}", e.body_text())))?;
        raw.parse::<i64>().map(Id).map_err(|_| {
            ApiError::BadRequest(format!(
                "id: {:?} is not a number",
                raw.chars().take(40).collect::<String>()
            ))
        })
    }
}
