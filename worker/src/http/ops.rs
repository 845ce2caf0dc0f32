//! `/api/payouts/...` and `/api/ops/...`: what ops see and do without
//! reading the database or Redis by hand: queues, jobs (with timelines,
//! retry, cancel, requeue-dead), referral workflows, the stuck finder, the
//! inbox with replay, the payout ledger and its actions, destinations.
//!
//! Thin: check the scope (`ops_read` for reads, `ops_admin` for actions),
//! parse, call `jobs::ops`, `jobs::payout::approval` or `jobs::outbox` (the
//! CLI's `referral-worker ops ...` calls the same functions). Every action
//! is audited by those functions with the caller as actor and the reason
//! given. Query strings are strict: an unknown, repeated or malformed
//! parameter answers 400 naming it.

use std::collections::HashMap;

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::HeaderMap,
};
use entities::{
    inbox::{InboxSource, InboxStatus},
    payout::{self, PayoutState},
    referral::ReferralState,
};
use jobs::{
    finance::DateBound,
    ops::{self, JobCursor, JobQuery},
};
use queue::JobId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::{ApiError, Id},
};
use crate::{config::Scope, state::AppState};

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
    Ok(jobs::ops::clean_reason(&r.reason)?)
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
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::approval::approve(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(payout_json(&row)))
}

/// `POST /api/payouts/{id}/hold` (scope `ops_admin`, body `{"reason"}`):
/// freezes a payout that has not been sent.
pub async fn hold_payout(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::approval::hold(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(payout_json(&row)))
}

/// Body of `POST /api/payouts/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    resolution: jobs::payout::approval::Resolution,
    reason: String,
}

/// `POST /api/payouts/{id}/resolve` (scope `ops_admin`, body
/// `{"resolution": "delivered" | "resend", "reason"}`): settles a payout
/// whose outcome is unknown.
pub async fn resolve_payout(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let r: Resolve = parse_json(&bytes)?;
    let reason = jobs::ops::clean_reason(&r.reason)?;
    let row =
        jobs::payout::approval::resolve(&state.jobs, id, r.resolution, &caller.actor(), &reason)
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

/// The query string as pairs, or axum's reason it is not one.
type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query parameters, each at most once and each one of `allowed`.
fn params(raw: RawQuery, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let Query(pairs) =
        raw.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            let expected = if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::BadRequest(format!(
                "{name}: unknown parameter (expected {expected})"
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

/// A bad query value is a 400 naming the parameter (like the finance
/// routes), not a 422.
fn query_error(e: jobs::Error) -> ApiError {
    match e {
        e @ jobs::Error::Invalid { .. } => ApiError::BadRequest(e.to_string()),
        other => other.into(),
    }
}

fn opt_i64(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("{name}: `{v}` is not an integer id")))
        })
        .transpose()
}

fn limit(params: &HashMap<String, String>) -> Result<u32, ApiError> {
    let n = params
        .get("limit")
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "limit: `{v}` is not a number of rows (1..={})",
                    ops::MAX_LIMIT
                ))
            })
        })
        .transpose()?;
    Ok(ops::page_limit(n))
}

fn dry_run(params: &HashMap<String, String>) -> Result<bool, ApiError> {
    match params.get("dry_run").map(|v| v.trim()) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "dry_run: `{other}` is not true or false"
        ))),
    }
}

fn date(params: &HashMap<String, String>, name: &str) -> Result<Option<DateBound>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<DateBound>()
                .map_err(|e| ApiError::BadRequest(format!("{name}: {e}")))
        })
        .transpose()
}

fn to_json<T: Serialize>(value: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.into()))
}

fn job_id(id: &str) -> Result<JobId, ApiError> {
    JobId::parse(id).map_err(|_| ApiError::NotFound(format!("job {id} not found")))
}

fn row_id(what: &str, id: &str) -> Result<i64, ApiError> {
    id.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::NotFound(format!("{what} {id} not found (ids are integers)")))
}

/// `GET /api/ops/queues` (scope `ops_read`): counts per state and the age
/// of the oldest job per state.
pub async fn queues(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    params(query, &[])?;
    let queues = ops::queues(&state.queue).await?;
    Ok(Json(json!({ "queues": queues })))
}

/// `GET /api/ops/jobs?queue&kind&state&referral_id&candidate_ats_id&from&to&cursor&limit`
/// (scope `ops_read`): jobs, filtered and paged.
pub async fn jobs(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(
        query,
        &[
            "queue",
            "kind",
            "state",
            "referral_id",
            "candidate_ats_id",
            "from",
            "to",
            "cursor",
            "limit",
        ],
    )?;
    let q = JobQuery {
        queue: p.get("queue").cloned(),
        state: p
            .get("state")
            .map(|s| ops::parse_job_state("state", s))
            .transpose()
            .map_err(query_error)?,
        kind: p.get("kind").map(|k| k.trim().to_string()),
        referral_id: opt_i64(&p, "referral_id")?,
        candidate_ats_id: p.get("candidate_ats_id").map(|c| c.trim().to_string()),
        from: date(&p, "from")?,
        to: date(&p, "to")?,
        cursor: p
            .get("cursor")
            .map(|c| JobCursor::parse(c))
            .transpose()
            .map_err(query_error)?,
        limit: limit(&p)?,
    };
    let listing = ops::list_jobs(&state.jobs, &q).await.map_err(query_error)?;
    to_json(&listing)
}

/// `GET /api/ops/jobs/{id}` (scope `ops_read`): one job with its attempts,
/// errors, timeline and the ops actions taken on it. Payloads hold ids
/// only; one that is not a known job is shown with its strings masked.
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let detail = ops::job(&state.jobs, &job_id(&id)?).await?;
    to_json(&detail)
}

/// `POST /api/ops/jobs/{id}/retry[?dry_run=true]` (scope `ops_admin`, body
/// `{"reason"}`): runs a dead, retrying or cancelled job again now.
pub async fn retry_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    let reason = reason(&state, &headers, body).await?;
    let id = job_id(&id)?;
    let out = ops::retry_job(&state.jobs, &id, &caller.actor(), &reason, dry).await?;
    to_json(&out)
}

/// `POST /api/ops/jobs/{id}/cancel[?dry_run=true]` (scope `ops_admin`, body
/// `{"reason"}`): cancels a scheduled, ready or retrying job.
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    let reason = reason(&state, &headers, body).await?;
    let id = job_id(&id)?;
    let out = ops::cancel_job(&state.jobs, &id, &caller.actor(), &reason, dry).await?;
    to_json(&out)
}

/// Body of `POST /api/ops/jobs/requeue-dead`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequeueDead {
    kind: String,
    reason: String,
}

/// `POST /api/ops/jobs/requeue-dead[?dry_run=true]` (scope `ops_admin`,
/// body `{"kind", "reason"}`): retries every dead job of a kind; the dry
/// run lists and counts them.
pub async fn requeue_dead(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let r: RequeueDead = parse_json(&bytes)?;
    let out = ops::requeue_dead(&state.jobs, &r.kind, &caller.actor(), &r.reason, dry).await?;
    to_json(&out)
}

/// `GET /api/ops/workflows?state&cursor&limit` (scope `ops_read`):
/// referrals, newest first.
pub async fn workflows(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(query, &["state", "cursor", "limit"])?;
    let st = p
        .get("state")
        .map(|s| ops::parse_name::<ReferralState>("state", s))
        .transpose()
        .map_err(query_error)?;
    let page = ops::referrals(&state.jobs, st, opt_i64(&p, "cursor")?, limit(&p)?).await?;
    to_json(&page)
}

/// `GET /api/ops/workflows/{referral_id}` (scope `ops_read`): a referral
/// with its application, milestones, payouts and outbox messages, and the
/// jobs that move them.
pub async fn workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let id = row_id("referral", &id)?;
    to_json(&ops::workflow(&state.jobs, id).await?)
}

/// `GET /api/ops/stuck` (scope `ops_read`): what is not moving, and why.
pub async fn stuck(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    params(query, &[])?;
    let items = ops::stuck(&state.jobs, state.settings.payouts.timer_sweep).await?;
    Ok(Json(json!({ "count": items.len(), "items": items })))
}

/// `GET /api/ops/inbox?source&status&cursor&limit` (scope `ops_read`):
/// deliveries, newest first, without their bodies.
pub async fn inbox(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(query, &["source", "status", "cursor", "limit"])?;
    let source = p
        .get("source")
        .map(|s| ops::parse_name::<InboxSource>("source", s))
        .transpose()
        .map_err(query_error)?;
    let status = p
        .get("status")
        .map(|s| ops::parse_name::<InboxStatus>("status", s))
        .transpose()
        .map_err(query_error)?;
    let page = ops::inbox(
        &state.jobs,
        source,
        status,
        opt_i64(&p, "cursor")?,
        limit(&p)?,
    )
    .await?;
    to_json(&page)
}

/// `POST /api/ops/inbox/{id}/replay` (scope `ops_admin`, body `{"reason"}`):
/// stores the row's body again as a new delivery and enqueues it, as the
/// webhook does; 409 when the row has no body or it no longer decodes.
pub async fn replay_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let id = row_id("inbox row", &id)?;
    match ops::replay(&state.jobs, id, &caller.actor(), &reason).await? {
        Ok(out) => Ok((axum::http::StatusCode::ACCEPTED, to_json(&out)?)),
        Err(refused) => Err(ApiError::Conflict(refused.0)),
    }
}

/// `GET /api/ops/payouts?state&cursor&limit` (scope `ops_read`): the
/// ledger, newest first.
pub async fn payouts(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(query, &["state", "cursor", "limit"])?;
    let st = p
        .get("state")
        .map(|s| ops::parse_name::<PayoutState>("state", s))
        .transpose()
        .map_err(query_error)?;
    let page = ops::payouts(&state.jobs, st, opt_i64(&p, "cursor")?, limit(&p)?).await?;
    to_json(&page)
}
