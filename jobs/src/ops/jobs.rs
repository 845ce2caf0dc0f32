//! Jobs, one by one and listed: a job's payload (masked when nothing vouches
//! for it), its timeline and the audit events about it; listings filtered
//! by state, kind, time, referral or candidate, paged with a cursor.

use chrono::{DateTime, Utc};
use entities::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;

use super::{
    matching::{PayloadMatch, match_candidate, match_referral},
    request::{MAX_LIMIT, at},
};
use crate::{
    context::JobContext,
    error::{Error, Result},
    finance::DateBound,
    job::Job,
};
use queue::{AttemptError, JobFilter, JobId, JobInfo, JobState, Millis};

/// The most jobs one [`list_jobs`] call examines when it filters by
/// referral, candidate or time; the `next` cursor resumes where it stopped.
pub const JOB_SCAN: u64 = 5000;

/// One entry of a job's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What: `enqueued`, `attempt_failed`, `redelivered` (a lease ran out),
    /// `due`, `ready`, `running`, `succeeded`, `dead`, `cancelled`.
    pub event: &'static str,
    /// The attempt it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The worker involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The error, or other detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A job as ops see it: the queue's record, the payload with personal
/// data masked, and a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// The job.
    pub id: String,
    /// Its queue.
    pub queue: String,
    /// Its kind.
    pub kind: String,
    /// Its state.
    pub state: JobState,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Enqueued (Unix ms, as the queue keeps it).
    pub created_at: Millis,
    /// Due (Unix ms).
    pub run_at: Millis,
    /// Last changed (Unix ms).
    pub updated_at: Millis,
    /// Finished (Unix ms).
    pub finished_at: Option<Millis>,
    /// The worker holding the lease, while running.
    pub lease_owner: Option<String>,
    /// When that lease runs out (Unix ms).
    pub lease_expires_at: Option<Millis>,
    /// Its idempotency key.
    pub idempotency_key: Option<String>,
    /// Times it was handed to another worker after a lease ran out.
    pub redeliveries: u32,
    /// The latest error.
    pub last_error: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// The payload as JSON. Ids only for known kinds; otherwise every
    /// string value is replaced by `"***"`.
    pub payload: Value,
    /// Whether [`JobView::payload`] was masked.
    pub payload_masked: bool,
    /// What happened to it, oldest first.
    pub timeline: Vec<TimelineEvent>,
}

impl JobView {
    /// The view of a queue record.
    pub fn of(info: JobInfo) -> Self {
        let (payload, payload_masked) = masked_payload(&info.payload);
        let timeline = timeline(&info);
        Self {
            id: info.id.to_string(),
            queue: info.queue,
            kind: info.kind,
            state: info.state,
            attempts: info.attempts,
            max_attempts: info.max_attempts,
            created_at: info.created_at,
            run_at: info.run_at,
            updated_at: info.updated_at,
            finished_at: info.finished_at,
            lease_owner: info.lease_owner,
            lease_expires_at: info.lease_expires_at,
            idempotency_key: info.idempotency_key,
            redeliveries: info.redeliveries,
            last_error: info.last_error,
            errors: info.errors,
            payload,
            payload_masked,
            timeline,
        }
    }
}

/// A payload fit for ops: a known job's ids as they are, anything else
/// with its strings masked (see the module docs).
pub fn masked_payload(payload: &str) -> (Value, bool) {
    fn mask(v: Value, key: Option<&str>) -> Value {
        match v {
            Value::String(s) if key == Some("kind") => Value::String(s),
            Value::String(_) => Value::String("***".into()),
            Value::Array(items) => Value::Array(items.into_iter().map(|i| mask(i, key)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = mask(v, Some(&k));
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
    if let Ok(job) = serde_json::from_str::<Job>(payload)
        && let Ok(v) = serde_json::to_value(&job)
    {
        return (v, false);
    }
    match serde_json::from_str::<Value>(payload) {
        Ok(v) => (mask(v, None), true),
        Err(_) => (Value::String("*** (not JSON)".into()), true),
    }
}

/// The timeline of a job from the queue's record.
pub fn timeline(info: &JobInfo) -> Vec<TimelineEvent> {
    let mut events = vec![TimelineEvent {
        at: at(info.created_at),
        event: "enqueued",
        attempt: None,
        worker: None,
        detail: (info.run_at > info.created_at + 1000)
            .then(|| format!("due at {}", at(info.run_at).to_rfc3339())),
    }];
    for e in &info.errors {
        let redelivery = e.error.starts_with("lease expired");
        events.push(TimelineEvent {
            at: at(e.at),
            event: if redelivery {
                "redelivered"
            } else {
                "attempt_failed"
            },
            attempt: Some(e.attempt),
            worker: Some(e.worker.clone()),
            detail: Some(e.error.clone()),
        });
    }
    match info.state {
        JobState::Scheduled | JobState::Retrying => events.push(TimelineEvent {
            at: at(info.run_at),
            event: "due",
            attempt: Some(info.attempts + 1),
            worker: None,
            detail: Some(format!("{} until then", info.state)),
        }),
        JobState::Ready => events.push(TimelineEvent {
            at: at(info.run_at),
            event: "ready",
            attempt: Some(info.attempts + 1),
            worker: None,
            detail: Some("waiting for a worker".into()),
        }),
        JobState::Running => events.push(TimelineEvent {
            at: at(info.updated_at),
            event: "running",
            attempt: Some(info.attempts),
            worker: info.lease_owner.clone(),
            detail: info
                .lease_expires_at
                .map(|t| format!("lease runs out at {}", at(t).to_rfc3339())),
        }),
        JobState::Succeeded | JobState::Dead | JobState::Cancelled => {
            events.push(TimelineEvent {
                at: at(info.finished_at.unwrap_or(info.updated_at)),
                event: match info.state {
                    JobState::Succeeded => "succeeded",
                    JobState::Dead => "dead",
                    _ => "cancelled",
                },
                attempt: (info.attempts > 0).then_some(info.attempts),
                worker: None,
                detail: (info.state == JobState::Dead)
                    .then(|| info.last_error.clone())
                    .flatten(),
            });
        }
    }
    events.sort_by_key(|e| e.at);
    events
}

/// An ops action recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// The audit event.
    pub id: i64,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Its data (reason, states).
    pub data: Value,
}

/// A job with its ops history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobDetail {
    /// The job.
    #[serde(flatten)]
    pub job: JobView,
    /// Ops actions taken on it, oldest first.
    pub audit: Vec<AuditView>,
}

/// One job with its timeline and the ops actions taken on it.
///
/// # Errors
/// [`Error::NotFound`] when the queue does not have it (never enqueued, or
/// past its retention); storage errors.
pub async fn job(ctx: &JobContext, id: &JobId) -> Result<JobDetail> {
    let info = ctx
        .queue
        .get(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {id}")))?;
    let audit = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("job"))
        .filter(audit_event::Column::SubjectId.eq(id.as_str()))
        .order_by_asc(audit_event::Column::Id)
        .limit(100)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|a| AuditView {
            id: a.id,
            occurred_at: a.occurred_at,
            actor: a.actor,
            action: a.action,
            data: serde_json::from_str(&a.data).unwrap_or(Value::Null),
        })
        .collect();
    Ok(JobDetail {
        job: JobView::of(info),
        audit,
    })
}

/// Where a job listing resumes: a state and the queue's own cursor in it.
/// Written `state:offset` (e.g. `dead:50`); opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    /// The state being walked.
    pub state: JobState,
    /// The queue's cursor within it.
    pub offset: u64,
}

impl JobCursor {
    /// Parses a cursor from a previous page's `next`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `cursor`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "cursor",
                format!("{text:?} is not a cursor from a previous page (state:offset)"),
            )
        };
        let (state, offset) = text.trim().split_once(':').ok_or_else(bad)?;
        Ok(Self {
            state: JobState::parse(state).ok_or_else(bad)?,
            offset: offset.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for JobCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.state, self.offset)
    }
}

/// The filters of [`list_jobs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// The queue's name; only this service's queue exists.
    pub queue: Option<String>,
    /// One state; without it every state is walked, in lifecycle order.
    pub state: Option<JobState>,
    /// One kind.
    pub kind: Option<String>,
    /// Only jobs of this referral (see [`PayloadMatch`]).
    pub referral_id: Option<i64>,
    /// Only jobs about the candidate with this ATS candidate id.
    pub candidate_ats_id: Option<String>,
    /// Enqueued at or after this.
    pub from: Option<DateBound>,
    /// Enqueued at or before this (a day includes all of it).
    pub to: Option<DateBound>,
    /// Where to resume.
    pub cursor: Option<JobCursor>,
    /// Page size (1..=500).
    pub limit: u32,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobListing {
    /// The jobs, in each state's listing order.
    pub jobs: Vec<JobView>,
    /// The cursor of the next page; `None` when there is no more.
    pub next: Option<String>,
    /// The payload ids matched when filtering by referral or candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<PayloadMatch>,
}

fn bound_start(b: DateBound) -> Millis {
    match b {
        DateBound::Day(d) => d
            .and_hms_opt(0, 0, 0)
            .map_or(i64::MIN, |t| t.and_utc().timestamp_millis()),
        DateBound::Instant(t) => t.timestamp_millis(),
    }
}

fn bound_end(b: DateBound) -> Millis {
    match b {
        DateBound::Day(d) => d
            .succ_opt()
            .and_then(|n| n.and_hms_opt(0, 0, 0))
            .map_or(i64::MAX, |t| t.and_utc().timestamp_millis() - 1),
        DateBound::Instant(t) => t.timestamp_millis(),
    }
}

/// Jobs by state, kind, referral, candidate and enqueue time, a page at a
/// time, using the queue's own listings ([`JobFilter`]).
///
/// Filtering by referral, candidate or time happens on the listed jobs, so
/// a page may hold fewer than `limit` jobs while `next` is set: at most
/// [`JOB_SCAN`] jobs are examined per call.
///
/// # Errors
/// [`Error::Invalid`] for an unknown queue, `from` after `to` or a cursor
/// of another state; [`Error::NotFound`] for an unknown referral or
/// candidate; storage errors.
pub async fn list_jobs(ctx: &JobContext, q: &JobQuery) -> Result<JobListing> {
    if let Some(name) = &q.queue
        && name != ctx.queue.name()
    {
        return Err(Error::invalid(
            "queue",
            format!(
                "unknown queue {name:?}; this service has {:?}",
                ctx.queue.name()
            ),
        ));
    }
    let from = q.from.map(bound_start);
    let to = q.to.map(bound_end);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Error::invalid("from", "is after `to`"));
    }
    let states: Vec<JobState> = match q.state {
        Some(s) => vec![s],
        None => JobState::ALL.to_vec(),
    };
    let (mut si, mut offset) = match q.cursor {
        Some(c) => match states.iter().position(|s| *s == c.state) {
            Some(i) => (i, c.offset),
            None => {
                return Err(Error::invalid(
                    "cursor",
                    format!(
                        "walks {} jobs, but the state filter says otherwise",
                        c.state
                    ),
                ));
            }
        },
        None => (0, 0),
    };
    let mut matchers = Vec::new();
    if let Some(r) = q.referral_id {
        matchers.push(match_referral(ctx, r).await?);
    }
    if let Some(c) = &q.candidate_ats_id {
        matchers.push(match_candidate(ctx, c).await?);
    }
    let post_filter = !matchers.is_empty() || from.is_some() || to.is_some();
    let limit = q.limit.clamp(1, MAX_LIMIT);
    let mut jobs = Vec::new();
    let mut scanned = 0u64;
    let next = loop {
        let Some(&state) = states.get(si) else {
            break None;
        };
        let remaining = limit as usize - jobs.len();
        if remaining == 0 || scanned >= JOB_SCAN {
            break Some(JobCursor { state, offset });
        }
        let filter = JobFilter {
            state,
            kind: q.kind.clone(),
            cursor: offset,
            limit: remaining as u32,
        };
        let page = ctx.queue.list(&filter).await?;
        scanned += page.jobs.len() as u64;
        for info in page.jobs {
            let keep = !post_filter
                || (from.is_none_or(|f| info.created_at >= f)
                    && to.is_none_or(|t| info.created_at <= t)
                    && matchers.iter().all(|m| m.matches(&info.payload)));
            if keep {
                jobs.push(JobView::of(info));
            }
        }
        match page.next {
            Some(n) => offset = n,
            None => {
                si += 1;
                offset = 0;
            }
        }
    };
    let matched = match matchers.len() {
        0 => None,
        _ => matchers.into_iter().next(),
    };
    Ok(JobListing {
        jobs,
        next: next.map(|c| c.to_string()),
        matched,
    })
}
