//! `/api/reconciliation/imports/{platform|crm}`, `/api/reconciliation/imports`
//! and `/api/reconciliation/three-way`: the three-way reconciliation's
//! imports and on-demand run (its runs are listed with the others under
//! `/api/reconciliation/runs`, `?scope=three_way`, see `finance.rs`).
//!
//! Thin: check the scope, parse the body (a bad row answers 422 naming
//! its index and field, and nothing is stored), hand over to
//! `jobs::maintenance::three_way`.

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use jobs::maintenance::{
    runs::RunReport,
    three_way::{self, imports},
};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::{ApiError, ErrorBody},
};
use crate::{config::Scope, state::AppState};

/// The three-way routes, merged into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/reconciliation/imports", get(list_imports))
        .route("/api/reconciliation/imports/{source}", post(import))
        .route("/api/reconciliation/three-way", post(run_three_way))
}

/// Body of `POST /api/reconciliation/imports/{source}`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The month the rows cover, `YYYY-MM` (UTC).
    period: String,
    /// The rows: objects of strings (or null), the columns of the source
    /// (platform: `platform_referral_id`, `employee_id`, `referred_on`,
    /// optional `referral_id`, `ats`, `ats_application_id`; crm:
    /// `crm_hire_id`, `ats`, `ats_application_id`, `hired_on`, optional
    /// `employee_id`).
    rows: Vec<serde_json::Value>,
}

/// `POST /api/reconciliation/imports/{source}` (scope `ops_admin`): the
/// platform's referrals or the CRM's hires for a month, replacing that
/// month's earlier import.
#[utoipa::path(post, path = "/api/reconciliation/imports/{source}", tag = "finance",
    summary = "Import the referral platform's referrals or the CRM's hires for a month (replaces that month's import)",
    security(("bearer" = ["ops_admin"])),
    params(("source" = String, Path, description = "platform or crm")),
    request_body = ImportRequest,
    responses(
        (status = 201, description = "the month's first import", body = imports::ImportReport),
        (status = 200, description = "replaced the month's import, or the same rows again (unchanged)", body = imports::ImportReport),
        (status = 404, description = "no such source", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "a bad period or row (its index and field named); nothing stored", body = ErrorBody),
    ))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<imports::ImportReport>), ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let source = imports::parse_source(&source).map_err(|e| ApiError::NotFound(e.to_string()))?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let req: ImportRequest = parse_json(&bytes)?;
    let month = imports::Month::parse(&req.period)?;
    let rows = imports::parse_json_rows(source, month, &req.rows)?;
    let report = imports::store(&state.db, source, month, &rows, &caller.actor()).await?;
    let status = if report.replaced || report.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(report)))
}

/// `GET /api/reconciliation/imports` (scope `ops_read`): every import.
#[utoipa::path(get, path = "/api/reconciliation/imports", tag = "finance",
    summary = "The three-way reconciliation's imports, newest month first",
    security(("bearer" = ["ops_read"])),
    responses((status = 200, description = "the imports", body = Vec<imports::StoredImport>)))]
pub async fn list_imports(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<imports::StoredImport>>, ApiError> {
    caller.require(Scope::OpsRead)?;
    Ok(Json(imports::list(&state.db).await?))
}

/// Body of `POST /api/reconciliation/three-way`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreeWayRequest {
    /// The month to compare, `YYYY-MM` (UTC).
    period: String,
    /// Why (recorded with the run's actor).
    reason: String,
}

/// `POST /api/reconciliation/three-way` (scope `ops_admin`, body `{period,
/// reason}`): compares the month now and answers the run's report (201).
#[utoipa::path(post, path = "/api/reconciliation/three-way", tag = "finance",
    summary = "Compare a month's imports with our attributions and the ATS now",
    security(("bearer" = ["ops_admin"])),
    request_body = ThreeWayRequest,
    responses(
        (status = 201, description = "the run's report, each variance with a suggested fix", body = RunReport),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "a bad period, or the reason missing", body = ErrorBody),
    ))]
pub async fn run_three_way(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RunReport>), ApiError> {
    caller.require(Scope::OpsAdmin)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let req: ThreeWayRequest = parse_json(&bytes)?;
    let month = imports::Month::parse(&req.period)?;
    let reason = jobs::ops::clean_reason(&req.reason)?;
    let trigger = format!("manual:three_way:{}", ulid::Ulid::generate());
    let actor = format!("{} ({reason})", caller.actor());
    let report = three_way::run(&state.jobs, &trigger, month.period()?, &actor)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("{trigger} already ran")))?;
    Ok((StatusCode::CREATED, Json(report)))
}
