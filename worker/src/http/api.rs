//! `/api/...`: employees and referral links, for the HRIS sync and the
//! referral portal. Thin: parse, check scope, call `jobs::referral`.

use std::time::Duration;

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use jobs::referral::{employees, links};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::{ApiError, Id},
};
use crate::{config::Scope, state::AppState};

/// `POST /api/employees` (scope `employees`): create or update a referrer.
pub async fn upsert_employee(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::Employees)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let rec: employees::EmployeeRecord = parse_json(&bytes)?;
    let outcome = employees::upsert(&state.db, &caller.actor(), &rec).await?;
    if !rec.active {
        // An inactive employee may be a referred hire still in probation.
        let email = rec.validate()?;
        jobs::milestones::terminate_employee(
            &state.jobs,
            email.as_str(),
            &format!("the HRIS reports them inactive ({})", caller.actor()),
        )
        .await?;
    }
    let status = if outcome == employees::Upserted::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "employee_id": rec.employee_id.trim(), "result": outcome })),
    ))
}

/// Body of `POST /api/referral-links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLink {
    employee_id: String,
    job_id: String,
    /// A humantime duration (`"30days"`) or seconds.
    #[serde(default)]
    expires_in: Option<Value>,
}

fn parse_expires_in(v: &Value) -> Result<Duration, ApiError> {
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
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Termination {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/hires/{application}/terminated` (scope `hires`): the hired
/// person left; pending milestones are cancelled with the reason.
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
    Ok(StatusCode::NO_CONTENT)
}
