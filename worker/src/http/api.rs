//! `/api/...`: employees and referral links, for the HRIS sync and the
//! referral portal. Thin: parse, check scope, call `jobs::referral`.

use std::time::Duration;

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use jobs::referral::{employees, hires, links};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::{ApiError, ErrorBody, Id},
};
use crate::{config::Scope, state::AppState};

/// `POST /api/employees`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmployeeUpserted {
    /// The HRIS id, trimmed.
    employee_id: String,
    /// What the upsert did.
    result: employees::Upserted,
    /// For an inactive employee: the hires their termination matched (and
    /// how), or the unmatched termination listed for ops.
    #[serde(skip_serializing_if = "Option::is_none")]
    termination: Option<hires::TerminationOutcome>,
}

/// `POST /api/employees` (scope `employees`): create or update a referrer.
#[utoipa::path(post, path = "/api/employees", tag = "referrals",
    summary = "Create or update a referrer (an inactive one ends their referred hires' pending milestones)",
    security(("bearer" = ["employees"])),
    request_body = employees::EmployeeRecord,
    responses(
        (status = 200, description = "updated or unchanged", body = EmployeeUpserted),
        (status = 201, description = "created", body = EmployeeUpserted),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "a field is invalid (named)", body = ErrorBody),
    ))]
pub async fn upsert_employee(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<EmployeeUpserted>), ApiError> {
    caller.require(Scope::Employees)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let rec: employees::EmployeeRecord = parse_json(&bytes)?;
    let outcome = employees::upsert(&state.db, &caller.actor(), &rec).await?;
    // An inactive employee may be a referred hire still in probation,
    // found by identity (`jobs::referral::hires`); an active new hire's
    // ATS ids link their hire to them for a later termination.
    let termination = if rec.active {
        hires::link(&state.jobs, &caller.actor(), &rec).await?;
        None
    } else {
        Some(
            hires::terminated(
                &state.jobs,
                &caller.actor(),
                &rec,
                &format!("the HRIS reports them inactive ({})", caller.actor()),
            )
            .await?,
        )
    };
    let status = if outcome == employees::Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(EmployeeUpserted {
            employee_id: rec.employee_id.trim().to_string(),
            result: outcome,
            termination,
        }),
    ))
}

/// Body of `POST /api/referral-links`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// The referrer's HRIS id (an active employee).
    employee_id: String,
    /// The ATS job the link points to.
    job_id: String,
    /// How long the link attributes: a humantime duration (`"30days"`) or
    /// seconds, 1s to 5 years; `referrals.link_ttl` when absent.
    #[serde(default)]
    #[schema(value_type = Option<ExpiresIn>)]
    expires_in: Option<serde_json::Value>,
}

/// A link's lifetime as the API takes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only describes `NewLink::expires_in` in the OpenAPI document.
pub enum ExpiresIn {
    /// Seconds.
    Seconds(u64),
    /// A humantime duration, e.g. `"30days"`.
    Duration(String),
}

fn parse_expires_in(v: &serde_json::Value) -> Result<Duration, ApiError> {
    use serde_json::Value;
    let invalid = |problem: &str| ApiError::Unprocessable {
        field: "expires_in".into(),
        problem: problem.into(),
    };
    let d = match v {
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| invalid("must be a positive number of seconds"))?,
        Value::String(s) => {
            humantime::parse_duration(s).map_err(|e| invalid(&format!("not a duration: {e}")))?
        }
        _ => return Err(invalid("must be seconds or a duration such as \"30days\"")),
    };
    // Sub-second strings ("1ns", "500ms") parse as durations too.
    if d < Duration::from_secs(1) || d > Duration::from_secs(5 * 365 * 86_400) {
        return Err(invalid("must be between 1s and 5 years"));
    }
    Ok(d)
}

/// `POST /api/referral-links` (scope `links`): mint a token and share URL.
#[utoipa::path(post, path = "/api/referral-links", tag = "referrals",
    summary = "Mint a referral link",
    security(("bearer" = ["links"])),
    request_body = NewLink,
    responses(
        (status = 201, description = "minted", body = links::MintedLink),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "unknown or inactive employee, or a bad field (named)", body = ErrorBody),
    ))]
pub async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<links::MintedLink>), ApiError> {
    caller.require(Scope::Links)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let req: NewLink = parse_json(&bytes)?;
    let ttl = match &req.expires_in {
        Some(v) => parse_expires_in(v)?,
        None => state.settings.referrals.link_ttl,
    };
    let minted = links::mint(
        &state.db,
        &caller.actor(),
        &req.employee_id,
        &req.job_id,
        ttl,
        &state.settings.referrals.careers_base_url,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(minted)))
}

/// `DELETE /api/referral-links/{token}` (scope `links`): revoke.
#[utoipa::path(delete, path = "/api/referral-links/{token}", tag = "referrals",
    summary = "Revoke a referral link",
    security(("bearer" = ["links"])),
    params(("token" = String, Path, description = "the link's token")),
    responses(
        (status = 204, description = "revoked"),
        (status = 404, description = "no such link", body = ErrorBody),
    ))]
pub async fn revoke_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Links)?;
    links::revoke(&state.db, &caller.actor(), &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /r/{token}`: count the click and send the visitor to the job.
#[utoipa::path(get, path = "/r/{token}", tag = "referrals",
    summary = "Follow a referral link: counts the click, redirects to the share URL",
    params(("token" = String, Path, description = "the link's token")),
    responses(
        (status = 303, description = "to the job's page on the careers site",
            headers(("location" = String, description = "the job's URL with the ref parameter"))),
        (status = 404, description = "unknown, expired or revoked link", body = ErrorBody),
    ))]
pub async fn follow_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<axum::response::Redirect, ApiError> {
    match links::click(
        &state.db,
        &token,
        &state.settings.referrals.careers_base_url,
    )
    .await?
    {
        Some(url) => Ok(axum::response::Redirect::to(&url)),
        None => Err(ApiError::NotFound("no such referral link".into())),
    }
}

/// Body of `POST /api/hires/{application}/terminated` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// Why; `reported by <caller>` when absent.
    #[serde(default)]
    reason: Option<String>,
    /// The HRIS id of the employee the hire became: links the hire to them
    /// and resolves their unmatched terminations (`ops stuck`).
    #[serde(default)]
    employee_id: Option<String>,
}

/// `POST /api/hires/{application}/terminated` (scope `hires`): the hired
/// person left; pending milestones are cancelled with the reason.
#[utoipa::path(post, path = "/api/hires/{application}/terminated", tag = "referrals",
    summary = "The hired person left: pending milestones are cancelled with the reason",
    security(("bearer" = ["hires"])),
    params(("application" = i64, Path, description = "the application's id")),
    request_body(content = Option<Termination>, description = "optional"),
    responses(
        (status = 204, description = "done"),
        (status = 404, description = "no such application", body = ErrorBody),
        (status = 415, description = "a body that is not application/json", body = ErrorBody),
    ))]
pub async fn hire_terminated(
    State(state): State<AppState>,
    caller: Caller,
    Id(application_id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Hires)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let req: Termination = if bytes.is_empty() {
        Termination::default()
    } else {
        require_json(&headers)?;
        parse_json(&bytes)?
    };
    let reason = req
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| format!("reported by {}", caller.actor()));
    jobs::milestones::terminate(&state.jobs, application_id, &reason).await?;
    if let Some(employee_id) = req
        .employee_id
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        hires::resolved_by_ops(&state.jobs, &caller.actor(), employee_id, application_id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
