//! `/api/exports/{payouts|referrals|audit|reports|reconciliation}`,
//! `/api/reports/kpis`, `/api/reports/scheduled` and the reconciliation
//! runs: what HR and finance download, behind the `ops_read` scope.
//!
//! Thin, like the rest of the API: check the scope, parse the query string
//! (every problem answers 400 naming the parameter), and hand over to
//! `jobs::finance`. Exports stream: the body is produced a page at a time
//! while the client reads it, so a year of ledger never sits in memory.

use std::collections::HashMap;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE},
    response::Response,
    routing::get,
};
use futures::{StreamExt, TryStreamExt};
use jobs::finance::{
    Period,
    export::{self, Dataset, ExportRequest, Format},
    kpis::{self, Kpis},
};

use super::{
    auth::Caller,
    error::{ApiError, ErrorBody, Id},
};
use crate::{config::Scope, state::AppState};

/// The finance routes, merged into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/exports/{dataset}", get(export))
        .route("/api/reports/kpis", get(kpis))
        .route("/api/reports/scheduled", get(scheduled_reports))
        .route(
            "/api/reconciliation/runs",
            get(reconciliation_runs).post(reconcile_now),
        )
        .route("/api/reconciliation/runs/{id}", get(reconciliation_run))
}

/// `GET /api/reconciliation/runs[?scope=ledger|three_way]` (scope
/// `ops_read`): the 50 latest runs, of one scope when asked.
#[utoipa::path(get, path = "/api/reconciliation/runs", tag = "finance",
    summary = "The 50 latest reconciliation runs (without their items)",
    security(("bearer" = ["ops_read"])),
    params(("scope" = Option<String>, Query, description = "ledger (the nightly run) or three_way")),
    responses(
        (status = 200, description = "newest first", body = Vec<jobs::maintenance::reconcile::RecordedRun>),
        (status = 400, description = "an unknown scope", body = ErrorBody),
    ))]
pub async fn reconciliation_runs(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Vec<jobs::maintenance::reconcile::RecordedRun>>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let params = params(query, &["scope"])?;
    let scope = match params.get("scope") {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<entities::reconciliation_run::RunScope>(
                serde_json::Value::String(s.clone()),
            )
            .map_err(|_| {
                ApiError::BadRequest(format!("scope: {s:?} is not ledger or three_way"))
            })?,
        ),
    };
    Ok(Json(
        jobs::maintenance::runs::recent_runs(&state.db, scope, 50).await?,
    ))
}

/// `GET /api/reports/scheduled` (scope `ops_read`): the 50 latest
/// scheduled KPI reports, as sent to the CRM.
#[utoipa::path(get, path = "/api/reports/scheduled", tag = "finance",
    summary = "The 50 latest scheduled KPI reports",
    security(("bearer" = ["ops_read"])),
    responses((status = 200, description = "newest first", body = Vec<jobs::finance::report::StoredReport>)))]
pub async fn scheduled_reports(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<jobs::finance::report::StoredReport>>, ApiError> {
    caller.require(Scope::OpsRead)?;
    Ok(Json(jobs::finance::report::recent(&state.db, 50).await?))
}

/// `GET /api/reconciliation/runs/{id}[?format=csv]` (scope `ops_read`): a
/// run with its variances, as JSON or as a CSV download.
#[utoipa::path(get, path = "/api/reconciliation/runs/{id}", tag = "finance",
    summary = "A reconciliation run with its variances (JSON, or CSV with format=csv)",
    security(("bearer" = ["ops_read"])),
    params(
        ("id" = i64, Path, description = "the run's id"),
        ("format" = Option<String>, Query, description = "json (default) or csv"),
    ),
    responses(
        (status = 200, description = "the run", content(
            (jobs::maintenance::reconcile::RecordedRun = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "no such run", body = ErrorBody),
    ))]
pub async fn reconciliation_run(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    query: RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::OpsRead)?;
    let params = params(query, &["format"])?;
    let run = jobs::maintenance::reconcile::recorded_run(&state.db, id).await?;
    match params.get("format").map(String::as_str) {
        None | Some("json") => Ok(axum::response::IntoResponse::into_response(Json(run))),
        Some("csv") => Response::builder()
            .header(CONTENT_TYPE, "text/csv; charset=utf-8")
            .header(
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"reconciliation_{id}.csv\""),
            )
            .header(CACHE_CONTROL, "no-store")
            .body(Body::from(jobs::maintenance::reconcile::items_csv(&run)?))
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e))),
        Some(other) => Err(ApiError::BadRequest(format!(
            "format: {other:?} is not csv or json"
        ))),
    }
}

/// Body of `POST /api/reconciliation/runs`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconcileRequest {
    /// Only look: find variances, fix nothing.
    #[serde(default)]
    dry_run: bool,
    /// Why (recorded with the run's actor).
    reason: String,
}

/// `POST /api/reconciliation/runs` (scope `ops_admin`, body `{dry_run?,
/// reason}`): reconciles now and answers the run's report (201).
#[utoipa::path(post, path = "/api/reconciliation/runs", tag = "finance",
    summary = "Reconcile now and answer the run's report",
    security(("bearer" = ["ops_admin"])),
    request_body = ReconcileRequest,
    responses(
        (status = 201, description = "the run's report", body = jobs::maintenance::reconcile::RunReport),
        (status = 409, description = "that run already ran", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing", body = ErrorBody),
    ))]
pub async fn reconcile_now(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<
    (
        axum::http::StatusCode,
        Json<jobs::maintenance::reconcile::RunReport>,
    ),
    ApiError,
> {
    caller.require(Scope::OpsAdmin)?;
    super::body::require_json(&headers)?;
    let bytes = super::body::read_limited(&headers, body, state.settings.http.body_limit).await?;
    let req: ReconcileRequest = super::body::parse_json(&bytes)?;
    let reason = jobs::ops::clean_reason(&req.reason)?;
    let trigger = format!("manual:{}", ulid::Ulid::generate());
    let actor = format!("{} ({reason})", caller.actor());
    let report = jobs::maintenance::reconcile::run(&state.jobs, &trigger, req.dry_run, &actor)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("{trigger} already ran")))?;
    Ok((axum::http::StatusCode::CREATED, Json(report)))
}

/// The query string as pairs, or axum's reason it is not one.
type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query parameters, each at most once and each one of `allowed`.
fn params(raw: RawQuery, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        raw.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "{name}: unknown parameter (expected {})",
                allowed.join(", ")
            )));
        }
        if params.contains_key(&name) {
            return Err(ApiError::BadRequest(format!(
                "{name}: given more than once"
            )));
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// `from` and `to`, both required.
fn period(params: &HashMap<String, String>) -> Result<Period, ApiError> {
    let required = |name: &str| {
        params.get(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}: required (a date YYYY-MM-DD or an RFC 3339 timestamp)"
            ))
        })
    };
    let (from, to) = (required("from")?, required("to")?);
    Period::parse(from, to).map_err(|e| match e {
        e @ jobs::Error::Invalid { .. } => ApiError::BadRequest(e.to_string()),
        other => other.into(),
    })
}

/// `GET /api/exports/{dataset}?from=&to=[&format=csv|json][&include_test=true]`
/// (scope `ops_read`): the export as a streamed CSV or JSON download.
#[utoipa::path(get, path = "/api/exports/{dataset}", tag = "finance",
    summary = "Export payouts, referrals, the audit log, the KPI reports or the reconciliation variances (CSV or JSON, streamed)",
    security(("bearer" = ["ops_read"])),
    params(
        ("dataset" = String, Path, description = "payouts, referrals, audit, reports or reconciliation"),
        ("from" = String, Query, format = Date, description = "first day included: YYYY-MM-DD or RFC 3339"),
        ("to" = String, Query, format = Date, description = "last day included: YYYY-MM-DD (the whole day) or RFC 3339"),
        ("format" = Option<String>, Query, description = "csv (default) or json"),
        ("include_test" = Option<bool>, Query, description = "true to include test records"),
    ),
    responses(
        (status = 200, description = "the rows, as an attachment", content(
            (String = "text/csv"),
            (Vec<serde_json::Value> = "application/json"),
        )),
        (status = 404, description = "no such dataset", body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(dataset): Path<String>,
    query: RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Scope::OpsRead)?;
    let dataset: Dataset = dataset.parse().map_err(ApiError::NotFound)?;
    let params = params(query, &["from", "to", "format", "include_test"])?;
    let period = period(&params)?;
    let format = match params.get("format") {
        None => Format::Csv,
        Some(f) => f
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("format: {e}")))?,
    };
    let include_test = match params.get("include_test").map(String::as_str) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "include_test: `{other}` is not true or false"
            )));
        }
    };
    let request = ExportRequest {
        dataset,
        format,
        period,
        include_test,
    };

    let mut chunks = Box::pin(export::stream(state.db.clone(), request));
    // The header and the first page are read before answering, so a database
    // that is down answers 503 instead of a 200 cut short. Later failures can
    // only cut the body: they are logged, and the client sees a truncated
    // transfer (no final chunk), never a complete-looking file.
    let first = chunks.next().await.transpose()?;
    let body = futures::stream::iter(first.map(Ok))
        .chain(chunks)
        .map_ok(|chunk| Bytes::from(chunk.bytes))
        .inspect_err(move |e| {
            tracing::error!(error = %e, dataset = %dataset, "export failed mid-stream");
        });
    Response::builder()
        .header(CONTENT_TYPE, format.content_type())
        .header(
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", request.file_name()),
        )
        // Ledger data: no proxy or browser cache keeps a copy.
        .header(CACHE_CONTROL, "no-store")
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))
}

/// `GET /api/reports/kpis?from=&to=` (scope `ops_read`): the KPIs as JSON.
#[utoipa::path(get, path = "/api/reports/kpis", tag = "finance",
    summary = "Conversion, time to hire, payouts by month, top referrers",
    security(("bearer" = ["ops_read"])),
    params(("from" = String, Query, format = Date, description = "first day included: YYYY-MM-DD or RFC 3339"),
        ("to" = String, Query, format = Date, description = "last day included: YYYY-MM-DD (the whole day) or RFC 3339")),
    responses((status = 200, description = "the KPIs", body = Kpis)))]
pub async fn kpis(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Kpis>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let params = params(query, &["from", "to"])?;
    let period = period(&params)?;
    let costs = &state.settings.reports.program_costs;
    Ok(Json(kpis::compute(&state.db, period, costs).await?))
}
