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
    payout::PayoutState,
    referral::ReferralState,
};
use jobs::{
    finance::DateBound,
    ops::{
        self, InboxRow, JobActionOutcome, JobCursor, JobDetail, JobListing, JobQuery, Page,
        PayoutView, QueueSummary, ReferralView, Replayed, RequeueOutcome, StuckItem, Workflow,
    },
};
use queue::{JobId, JobState};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    body::{parse_json, read_limited, require_json},
    error::{ApiError, ErrorBody, Id},
};
use crate::{config::Scope, state::AppState};

/// Body of the ops actions: why. Required, because the audit log must say.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why (recorded in the audit log with the caller).
    #[schema(example = "receiver confirmed the outage is over")]
    reason: String,
}

async fn reason(state: &AppState, headers: &HeaderMap, body: Body) -> Result<String, ApiError> {
    require_json(headers)?;
    let bytes = read_limited(headers, body, state.settings.http.body_limit).await?;
    let r: Reason = parse_json(&bytes)?;
    Ok(jobs::ops::clean_reason(&r.reason)?)
}

/// `POST /api/ops/destinations/{name}/enable`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DestinationEnabled {
    /// The destination.
    destination: String,
    /// Always true: it is enabled now.
    enabled: bool,
    /// Whether it had been disabled (false: nothing changed).
    was_disabled: bool,
}

/// `GET /api/ops/queues`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queues {
    /// One summary per queue (this service has one).
    queues: Vec<QueueSummary>,
}

/// `GET /api/ops/stuck`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stuck {
    /// How many items.
    count: usize,
    /// What is not moving, and why.
    items: Vec<StuckItem>,
}

/// `POST /api/payouts/{id}/approve` (scope `ops_admin`, body `{"reason"}`):
/// approves a payout awaiting approval, or releases a held one; it is sent.
#[utoipa::path(post, path = "/api/payouts/{id}/approve", tag = "payouts",
    summary = "Approve a payout awaiting approval, or release a held one; it is sent",
    security(("bearer" = ["ops_admin"])),
    params(("id" = i64, Path, description = "the payout's id")),
    request_body = Reason,
    responses(
        (status = 200, description = "the payout after the action", body = PayoutView),
        (status = 404, description = "no such payout", body = ErrorBody),
        (status = 409, description = "not allowed in its current state", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing or a field invalid (named)", body = ErrorBody),
    ))]
pub async fn approve_payout(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PayoutView>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::approval::approve(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(PayoutView::from(&row)))
}

/// `POST /api/payouts/{id}/hold` (scope `ops_admin`, body `{"reason"}`):
/// freezes a payout that has not been sent.
#[utoipa::path(post, path = "/api/payouts/{id}/hold", tag = "payouts",
    summary = "Freeze an unsent payout (eligible, approved or failed)",
    security(("bearer" = ["ops_admin"])),
    params(("id" = i64, Path, description = "the payout's id")),
    request_body = Reason,
    responses(
        (status = 200, description = "the payout after the action", body = PayoutView),
        (status = 404, description = "no such payout", body = ErrorBody),
        (status = 409, description = "not allowed in its current state", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing or a field invalid (named)", body = ErrorBody),
    ))]
pub async fn hold_payout(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PayoutView>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let row = jobs::payout::approval::hold(&state.jobs, id, &caller.actor(), &reason).await?;
    Ok(Json(PayoutView::from(&row)))
}

/// Body of `POST /api/payouts/{id}/resolve`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// `delivered`: the receiver has it; `resend`: send it again under the
    /// same webhook-id.
    resolution: jobs::payout::approval::Resolution,
    /// Why (recorded in the audit log).
    reason: String,
}

/// `POST /api/payouts/{id}/resolve` (scope `ops_admin`, body
/// `{"resolution": "delivered" | "resend", "reason"}`): settles a payout
/// whose outcome is unknown.
#[utoipa::path(post, path = "/api/payouts/{id}/resolve", tag = "payouts",
    summary = "Settle an outcome_unknown payout: mark it delivered, or resend it under the same webhook-id",
    security(("bearer" = ["ops_admin"])),
    params(("id" = i64, Path, description = "the payout's id")),
    request_body = Resolve,
    responses(
        (status = 200, description = "the payout after the action", body = PayoutView),
        (status = 404, description = "no such payout", body = ErrorBody),
        (status = 409, description = "its outcome is not unknown", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "a field is missing or invalid (named)", body = ErrorBody),
    ))]
pub async fn resolve_payout(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PayoutView>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let r: Resolve = parse_json(&bytes)?;
    let reason = jobs::ops::clean_reason(&r.reason)?;
    let row =
        jobs::payout::approval::resolve(&state.jobs, id, r.resolution, &caller.actor(), &reason)
            .await?;
    Ok(Json(PayoutView::from(&row)))
}

/// `POST /api/ops/destinations/{name}/enable` (scope `ops_admin`, body
/// `{"reason"}`): switches a destination disabled by a 410 back on; what
/// waited for it is sent by the next sweep.
#[utoipa::path(post, path = "/api/ops/destinations/{name}/enable", tag = "ops",
    summary = "Switch a destination disabled by a 410 back on",
    security(("bearer" = ["ops_admin"])),
    params(("name" = String, Path, description = "the destination: bonus, status_sync, crm or alert")),
    request_body = Reason,
    responses(
        (status = 200, description = "enabled", body = DestinationEnabled),
        (status = 404, description = "no such destination", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing", body = ErrorBody),
    ))]
pub async fn enable_destination(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DestinationEnabled>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let was_disabled = jobs::outbox::enable(&state.jobs, &name, &caller.actor(), &reason).await?;
    Ok(Json(DestinationEnabled {
        destination: name,
        enabled: true,
        was_disabled,
    }))
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
#[utoipa::path(get, path = "/api/ops/queues", tag = "ops",
    summary = "Counts per state and the age of the oldest job per state",
    security(("bearer" = ["ops_read"])),
    responses((status = 200, description = "one summary per queue", body = Queues)))]
pub async fn queues(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Queues>, ApiError> {
    caller.require(Scope::OpsRead)?;
    params(query, &[])?;
    let queues = ops::queues(&state.queue).await?;
    Ok(Json(Queues { queues }))
}

/// `GET /api/ops/jobs?queue&kind&state&referral_id&candidate_ats_id&from&to&cursor&limit`
/// (scope `ops_read`): jobs, filtered and paged.
#[utoipa::path(get, path = "/api/ops/jobs", tag = "ops",
    summary = "Jobs, filtered and paged (`next` is an opaque `state:offset` cursor)",
    security(("bearer" = ["ops_read"])),
    params(
        ("queue" = Option<String>, Query, description = "the queue's name (this service has one)"),
        ("kind" = Option<String>, Query, description = "a job kind, e.g. send_payout"),
        ("state" = Option<JobState>, Query, description = "all states, in lifecycle order, when absent"),
        ("referral_id" = Option<i64>, Query, description = "only jobs of this referral: its payouts' send_payout, its milestones' probation_due, its write_back_referral, deliver_message for messages about those, process_delivery for inbox deliveries naming its application or candidate"),
        ("candidate_ats_id" = Option<String>, Query, description = "only jobs about the candidate with this ATS candidate id (as referral_id, for all its referrals and applications)"),
        ("from" = Option<String>, Query, format = Date, description = "enqueued at or after: YYYY-MM-DD or RFC 3339"),
        ("to" = Option<String>, Query, format = Date, description = "enqueued at or before: YYYY-MM-DD (the whole day) or RFC 3339"),
        ("cursor" = Option<String>, Query, description = "the previous page's `next`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "rows per page (50)"),
    ),
    responses(
        (status = 200, description = "a page of jobs", body = JobListing),
        (status = 404, description = "unknown referral or candidate", body = ErrorBody),
    ))]
pub async fn jobs(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<JobListing>, ApiError> {
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
    Ok(Json(listing))
}

/// `GET /api/ops/jobs/{id}` (scope `ops_read`): one job with its attempts,
/// errors, timeline and the ops actions taken on it. Payloads hold ids
/// only; one that is not a known job is shown with its strings masked.
#[utoipa::path(get, path = "/api/ops/jobs/{id}", tag = "ops",
    summary = "One job: attempts, errors, timeline, ops actions; payloads hold ids only",
    security(("bearer" = ["ops_read"])),
    params(("id" = String, Path, description = "the job's id (a ULID)")),
    responses(
        (status = 200, description = "the job", body = JobDetail),
        (status = 404, description = "no such job", body = ErrorBody),
    ))]
pub async fn job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let detail = ops::job(&state.jobs, &job_id(&id)?).await?;
    Ok(Json(detail))
}

/// `POST /api/ops/jobs/{id}/retry[?dry_run=true]` (scope `ops_admin`, body
/// `{"reason"}`): runs a dead, retrying or cancelled job again now.
#[utoipa::path(post, path = "/api/ops/jobs/{id}/retry", tag = "ops",
    summary = "Run a dead, retrying or cancelled job again now (attempts reset)",
    security(("bearer" = ["ops_admin"])),
    params(("id" = String, Path, description = "the job's id (a ULID)"), ("dry_run" = Option<bool>, Query, description = "true: answer what would happen without doing it")),
    request_body = Reason,
    responses(
        (status = 200, description = "done (or, with dry_run, what would be done)", body = JobActionOutcome),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "not allowed in its current state", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing", body = ErrorBody),
    ))]
pub async fn retry_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<JobActionOutcome>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    let reason = reason(&state, &headers, body).await?;
    let id = job_id(&id)?;
    let out = ops::retry_job(&state.jobs, &id, &caller.actor(), &reason, dry).await?;
    Ok(Json(out))
}

/// `POST /api/ops/jobs/{id}/cancel[?dry_run=true]` (scope `ops_admin`, body
/// `{"reason"}`): cancels a scheduled, ready or retrying job.
#[utoipa::path(post, path = "/api/ops/jobs/{id}/cancel", tag = "ops",
    summary = "Cancel a scheduled, ready or retrying job",
    security(("bearer" = ["ops_admin"])),
    params(("id" = String, Path, description = "the job's id (a ULID)"), ("dry_run" = Option<bool>, Query, description = "true: answer what would happen without doing it")),
    request_body = Reason,
    responses(
        (status = 200, description = "done (or, with dry_run, what would be done)", body = JobActionOutcome),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "not allowed in its current state", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing", body = ErrorBody),
    ))]
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<JobActionOutcome>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    let reason = reason(&state, &headers, body).await?;
    let id = job_id(&id)?;
    let out = ops::cancel_job(&state.jobs, &id, &caller.actor(), &reason, dry).await?;
    Ok(Json(out))
}

/// Body of `POST /api/ops/jobs/requeue-dead`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequeueDead {
    /// The job kind, e.g. `send_payout`.
    kind: String,
    /// Why (recorded in the audit log).
    reason: String,
}

/// `POST /api/ops/jobs/requeue-dead[?dry_run=true]` (scope `ops_admin`,
/// body `{"kind", "reason"}`): retries every dead job of a kind; the dry
/// run lists and counts them.
#[utoipa::path(post, path = "/api/ops/jobs/requeue-dead", tag = "ops",
    summary = "Retry every dead job of a kind (dry run: list and count them)",
    security(("bearer" = ["ops_admin"])),
    params(("dry_run" = Option<bool>, Query, description = "true: answer what would happen without doing it")),
    request_body = RequeueDead,
    responses(
        (status = 200, description = "done (or, with dry_run, what would be done)", body = RequeueOutcome),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "kind or reason missing or invalid", body = ErrorBody),
    ))]
pub async fn requeue_dead(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RequeueOutcome>, ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let dry = dry_run(&params(query, &["dry_run"])?)?;
    require_json(&headers)?;
    let bytes = read_limited(&headers, body, state.settings.http.body_limit).await?;
    let r: RequeueDead = parse_json(&bytes)?;
    let out = ops::requeue_dead(&state.jobs, &r.kind, &caller.actor(), &r.reason, dry).await?;
    Ok(Json(out))
}

/// `GET /api/ops/workflows?state&cursor&limit` (scope `ops_read`):
/// referrals, newest first.
#[utoipa::path(get, path = "/api/ops/workflows", tag = "ops",
    summary = "Referrals, newest first",
    security(("bearer" = ["ops_read"])),
    params(("state" = Option<ReferralState>, Query, description = "only referrals in this state"), ("cursor" = Option<i64>, Query, description = "the previous page's `next` (the last id shown; pages go newest first)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "rows per page (50)")),
    responses((status = 200, description = "a page of referrals", body = Page<ReferralView>)))]
pub async fn workflows(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Page<ReferralView>>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(query, &["state", "cursor", "limit"])?;
    let st = p
        .get("state")
        .map(|s| ops::parse_name::<ReferralState>("state", s))
        .transpose()
        .map_err(query_error)?;
    let page = ops::referrals(&state.jobs, st, opt_i64(&p, "cursor")?, limit(&p)?).await?;
    Ok(Json(page))
}

/// `GET /api/ops/workflows/{referral_id}` (scope `ops_read`): a referral
/// with its application, milestones, payouts and outbox messages, and the
/// jobs that move them.
#[utoipa::path(get, path = "/api/ops/workflows/{referral_id}", tag = "ops",
    summary = "A referral with its application, milestones (timer jobs), payouts (send jobs) and outbox messages",
    security(("bearer" = ["ops_read"])),
    params(("referral_id" = i64, Path, description = "the referral's id")),
    responses(
        (status = 200, description = "the workflow", body = Workflow),
        (status = 404, description = "no such referral", body = ErrorBody),
    ))]
pub async fn workflow(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Workflow>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let id = row_id("referral", &id)?;
    Ok(Json(ops::workflow(&state.jobs, id).await?))
}

/// `GET /api/ops/stuck` (scope `ops_read`): what is not moving, and why.
#[utoipa::path(get, path = "/api/ops/stuck", tag = "ops",
    summary = "What is not moving: each item with its kind, ids, a plain-English reason and next_check",
    security(("bearer" = ["ops_read"])),
    responses((status = 200, description = "the stuck items", body = Stuck)))]
pub async fn stuck(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Stuck>, ApiError> {
    caller.require(Scope::OpsRead)?;
    params(query, &[])?;
    let items = ops::stuck(&state.jobs, state.settings.payouts.timer_sweep).await?;
    Ok(Json(Stuck {
        count: items.len(),
        items,
    }))
}

/// `GET /api/ops/inbox?source&status&cursor&limit` (scope `ops_read`):
/// deliveries, newest first, without their bodies.
#[utoipa::path(get, path = "/api/ops/inbox", tag = "ops",
    summary = "Webhook deliveries, newest first, without their bodies",
    security(("bearer" = ["ops_read"])),
    params(
        ("source" = Option<InboxSource>, Query, description = "only deliveries from this source"),
        ("status" = Option<InboxStatus>, Query, description = "only deliveries in this status"),
        ("cursor" = Option<i64>, Query, description = "the previous page's `next` (the last id shown; pages go newest first)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "rows per page (50)"),
    ),
    responses((status = 200, description = "a page of deliveries", body = Page<InboxRow>)))]
pub async fn inbox(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Page<InboxRow>>, ApiError> {
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
    Ok(Json(page))
}

/// `POST /api/ops/inbox/{id}/replay` (scope `ops_admin`, body `{"reason"}`):
/// stores the row's body again as a new delivery and enqueues it, as the
/// webhook does; 409 when the row has no body or it no longer decodes.
#[utoipa::path(post, path = "/api/ops/inbox/{id}/replay", tag = "ops",
    summary = "Store the row's body again as a new delivery and enqueue it, as the webhook does",
    security(("bearer" = ["ops_admin"])),
    params(("id" = i64, Path, description = "the inbox row's id")),
    request_body = Reason,
    responses(
        (status = 202, description = "stored again and enqueued", body = Replayed),
        (status = 404, description = "no such row", body = ErrorBody),
        (status = 409, description = "no stored body, or it no longer decodes (named)", body = ErrorBody),
        (status = 415, description = "body is not application/json", body = ErrorBody),
        (status = 422, description = "reason missing", body = ErrorBody),
    ))]
pub async fn replay_inbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(axum::http::StatusCode, Json<Replayed>), ApiError> {
    caller.require(Scope::OpsAdmin)?;
    let reason = reason(&state, &headers, body).await?;
    let id = row_id("inbox row", &id)?;
    match ops::replay(&state.jobs, id, &caller.actor(), &reason).await? {
        Ok(out) => Ok((axum::http::StatusCode::ACCEPTED, Json(out))),
        Err(refused) => Err(ApiError::Conflict(refused.0)),
    }
}

/// `GET /api/ops/payouts?state&cursor&limit` (scope `ops_read`): the
/// ledger, newest first.
#[utoipa::path(get, path = "/api/ops/payouts", tag = "payouts",
    summary = "The payout ledger, newest first",
    security(("bearer" = ["ops_read"])),
    params(("state" = Option<PayoutState>, Query, description = "only payouts in this state"), ("cursor" = Option<i64>, Query, description = "the previous page's `next` (the last id shown; pages go newest first)"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "rows per page (50)")),
    responses((status = 200, description = "a page of payouts", body = Page<PayoutView>)))]
pub async fn payouts(
    State(state): State<AppState>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Page<PayoutView>>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let p = params(query, &["state", "cursor", "limit"])?;
    let st = p
        .get("state")
        .map(|s| ops::parse_name::<PayoutState>("state", s))
        .transpose()
        .map_err(query_error)?;
    let page = ops::payouts(&state.jobs, st, opt_i64(&p, "cursor")?, limit(&p)?).await?;
    Ok(Json(page))
}
