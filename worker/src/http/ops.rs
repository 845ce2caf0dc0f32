//! `/api/payouts/...` and `/api/ops/...`: the actions ops take on payouts
//! and destinations, and a job's record (the link alerts carry).
//!
//! Thin: check the scope, parse, call `jobs::payout::ledger` or
//! `jobs::outbox`. Every action is audited by those functions with the
//! caller as actor and the reason given.

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
};
use entities::payout;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::ApiError,
};
use crate::{config::Scope, runtime::AppState};

/// Body of the ops actions: why. Required, because the audit log must say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

async fn reason(state: &AppState, headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    require_json(headers)?;
    let bytes = read_limited(headers, body, state.settings.http.body_limit).await?;
    let r: Reason = parse_json(&bytes)?;
    let reason = r.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::Unprocessable {
            field: "reason".into(),
            problem: "must not be empty: the audit log records why".into(),
        });
    }
    Ok(reason.chars().take(500).collect())
}

/// What ops see of a payout.
fn payout_json(p: &payout::Model) -> Value {
    json!({
        "id": p.id,
        "referral_id": p.referral_id,
        "tranche": p.tranche,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "state": p.state,
        "needs_approval": p.needs_approval,
        "reason": p.reason,
        "attempts": p.attempts,
        "webhook_id": p.webhook_id,
        "idempotency_key": p.idempotency_key,
        "send_job_id": p.send_job_id,
    })
}

/// `POST /api/payouts/{id}/approve` (scope `ops_admin`, body `{"reason"}`):
/// approves a payout awaiting approval, or releases a held one; it is sent.
pub async fn approve_payout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::ledger::approve(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(payout_json(&row)))
}

/// `POST /api/payouts/{id}/hold` (scope `ops_admin`, body `{"reason"}`):
/// freezes a payout that has not been sent.
pub async fn hold_payout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::ledger::hold(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(payout_json(&row)))
}

/// Body of `POST /api/payouts/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    resolution: jobs::payout::ledger::Resolution,
    reason: String,
}

/// `POST /api/payouts/{id}/resolve` (scope `ops_admin`, body
/// `{"resolution": "delivered" | "resend", "reason"}`): settles a payout
/// whose outcome is unknown.
pub async fn resolve_payout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let r: Resolve = parse_json(&bytes)?;
    let reason = r.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::Unprocessable {
            field: "reason".into(),
            problem: "must not be empty: the audit log records why".into(),
        });
    }
    let row = jobs::payout::ledger::resolve(&state.jobs, id, r.resolution, &caller.actor(), reason)
        .await?;
    Ok(Json(payout_json(&row)))
}

/// `POST /api/ops/destinations/{name}/enable` (scope `ops_admin`, body
/// `{"reason"}`): switches a destination disabled by a 410 back on; what
/// waited for it is sent by the next sweep.
pub async fn enable_destination(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let was_disabled = jobs::outbox::enable(&state.jobs, &name, &caller.actor(), &reason).await?;
    Ok(Json(
        json!({ "destination": name, "enabled": true, "was_disabled": was_disabled }),
    ))
}

/// `GET /api/ops/jobs/{id}` (scope `ops_read`): one job with its attempts,
/// errors and timeline. Payloads hold ids only, never personal data.
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let job_id = jobs::queue::JobId::parse(&id)
        .map_err(|_| ApiError::NotFound(format!("job {id} not found")))?;
    let info = state
        .queue
        .get(&job_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    Ok(Json(
        serde_json::to_value(info).map_err(|e| ApiError::Internal(e.into()))?,
    ))
}
