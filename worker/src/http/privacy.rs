//! `/api/privacy/...`: data-subject requests, behind the `privacy` scope.
//! Thin: check the scope, read the id, hand over to `jobs::privacy`, which
//! owns what an export contains and what an erasure keeps.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, header::CACHE_CONTROL},
    response::{IntoResponse, Response},
    routing::post,
};
use jobs::privacy::{candidate, referrer};
use serde_json::Value;

use super::{
    auth::Caller,
    error::{ApiError, ErrorBody, Id},
};
use crate::{config::Scope, state::AppState};

/// The privacy routes, merged into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/privacy/candidates/{id}/export",
            post(export_candidate),
        )
        .route("/api/privacy/candidates/{id}/erase", post(erase_candidate))
        .route(
            "/api/privacy/referrers/{employee_id}/export",
            post(export_referrer),
        )
        .route(
            "/api/privacy/referrers/{employee_id}/erase",
            post(erase_referrer),
        )
}

/// A person's data: never cached on the way.
fn no_store(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HRIS id from the path: what `POST /api/employees` accepts.
fn employee_id(raw: &str) -> Result<&str, ApiError> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::BadRequest(
            "employee_id: must be 1 to 64 characters".into(),
        ));
    }
    Ok(id)
}

/// `POST /api/privacy/candidates/{id}/export`: everything we hold on them.
#[utoipa::path(post, path = "/api/privacy/candidates/{id}/export", tag = "privacy",
    summary = "Data-subject export: everything held on a candidate (and rows merged with it), as JSON",
    security(("bearer" = ["privacy"])),
    params(("id" = i64, Path, description = "the candidate's integer id")),
    responses(
        (status = 200, description = "the export (sent with Cache-Control: no-store)", body = Object),
        (status = 404, description = "no such candidate", body = ErrorBody),
    ))]
pub async fn export_candidate(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    caller.require(Scope::Privacy)?;
    Ok(no_store(candidate::export(&state.jobs, id).await?))
}

/// `POST /api/privacy/candidates/{id}/erase`: erase their personal data.
#[utoipa::path(post, path = "/api/privacy/candidates/{id}/erase", tag = "privacy",
    summary = "Data-subject erasure: a candidate's personal data replaced by an audited tombstone; referrals and payouts kept",
    security(("bearer" = ["privacy"])),
    params(("id" = i64, Path, description = "the candidate's integer id")),
    responses(
        (status = 200, description = "erased (or already erased)", body = candidate::CandidateErasure),
        (status = 404, description = "no such candidate", body = ErrorBody),
    ))]
pub async fn erase_candidate(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<candidate::CandidateErasure>, ApiError> {
    caller.require(Scope::Privacy)?;
    Ok(Json(
        candidate::erase(&state.jobs, id, &caller.actor()).await?,
    ))
}

/// `POST /api/privacy/referrers/{employee_id}/export`.
#[utoipa::path(post, path = "/api/privacy/referrers/{employee_id}/export", tag = "privacy",
    summary = "Data-subject export: everything held on a referrer, as JSON",
    security(("bearer" = ["privacy"])),
    params(("employee_id" = String, Path, description = "the HRIS employee id")),
    responses(
        (status = 200, description = "the export (sent with Cache-Control: no-store)", body = Object),
        (status = 404, description = "no such referrer", body = ErrorBody),
    ))]
pub async fn export_referrer(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Privacy)?;
    let id = employee_id(&raw)?;
    Ok(no_store(referrer::export(&state.db, id).await?))
}

/// `POST /api/privacy/referrers/{employee_id}/erase` (409 while active).
#[utoipa::path(post, path = "/api/privacy/referrers/{employee_id}/erase", tag = "privacy",
    summary = "Data-subject erasure of an inactive referrer's email and name; HRIS id, referrals and payouts kept",
    security(("bearer" = ["privacy"])),
    params(("employee_id" = String, Path, description = "the HRIS employee id")),
    responses(
        (status = 200, description = "erased (or already erased)", body = referrer::ReferrerErasure),
        (status = 404, description = "no such referrer", body = ErrorBody),
        (status = 409, description = "the HRIS still lists them as active", body = ErrorBody),
    ))]
pub async fn erase_referrer(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<referrer::ReferrerErasure>, ApiError> {
    caller.require(Scope::Privacy)?;
    let id = employee_id(&raw)?;
    Ok(Json(referrer::erase(&state.db, id, &caller.actor()).await?))
}
