//! What ops need to see and do without reading the database or Redis by
//! hand: the queue's shape, jobs (filtered, paged, tied back to referrals),
//! a job's timeline, retry / cancel / requeue-dead with dry runs, a
//! referral's whole workflow, a finder for things that are not moving, the
//! inbox with replay, and the payout ledger.
//!
//! Plain functions over a [`JobContext`] (database, queue, clients): the
//! HTTP handlers (`worker/src/http/ops.rs`) and the CLI (`referral-worker
//! ops ...`) both call these, so the two can never disagree.
//!
//! # Personal data
//!
//! Job payloads hold ids only (see [`crate::job::Job`]): no names, emails
//! or phone numbers. A payload that decodes as a known [`Job`] is shown as
//! is; one that does not (an unknown kind, malformed JSON) is shown with
//! every string value masked, since nothing vouches for what it holds.
//! Inbox listings never include raw bodies. Views of referrals,
//! applications, milestones, payouts and outbox messages carry ids, states,
//! amounts and times, never a candidate's name, email or phone.
//!
//! # Audit
//!
//! Every action (retry, cancel, requeue-dead, replay) is recorded with
//! `LockedTx::audit` inside a [`begin_locked`] transaction, with the actor
//! and the reason given. The queue is never touched while that transaction
//! is open: the embedded queue writes to the same SQLite file.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entities::{
    application, audit_event, candidate_ats_id,
    inbox::{self, InboxSource, InboxStatus, Verification},
    milestone::{self, MilestoneKind, MilestoneState},
    outbound_destination,
    outbound_message::{self, OutboundChannel, OutboundState},
    payout::{self, PayoutState},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, FromQueryResult, Iterable, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    context::JobContext,
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
    finance::DateBound,
    intake::inbox::Delivery,
    intake::{self, IntakeEvent},
    job::Job,
    outbox::{self, BONUS_DESTINATION},
    queue::{AttemptError, JobFilter, JobId, JobInfo, JobState, Millis, QueueStore, now_millis},
};

/// How long an inbox row or a due timer may sit before the stuck finder
/// names it.
pub const STUCK_AFTER: Duration = Duration::minutes(1);

/// The most rows any one listing returns.
pub const MAX_LIMIT: u32 = 500;

/// The most rows the stuck finder reads per category (each category is
/// ordered oldest first, so what it names is what waited longest).
pub const STUCK_SCAN: u64 = 1000;

/// The most recent inbox rows scanned when tying deliveries to a referral
/// or candidate (their bodies are decoded to find the ids).
pub const INBOX_SCAN: u64 = 5000;

/// The most jobs one [`list_jobs`] call examines when it filters by
/// referral, candidate or time; the `next` cursor resumes where it stopped.
pub const JOB_SCAN: u64 = 5000;

/// Clamps a requested page size to `1..=MAX_LIMIT` (0 means the default 50).
pub fn page_limit(limit: Option<u32>) -> u32 {
    match limit {
        None | Some(0) => 50,
        Some(n) => n.min(MAX_LIMIT),
    }
}

fn at(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The serialised (snake_case) name of a state enum.
pub fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses a user-given state or source name (`dead`, `outcome_unknown`,
/// `greenhouse`), naming the field and the accepted values when it is
/// not one.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn parse_name<T>(field: &str, text: &str) -> Result<T>
where
    T: DeserializeOwned + Serialize + Iterable,
{
    serde_json::from_value(Value::String(text.trim().to_string())).map_err(|_| {
        let names: Vec<String> = T::iter().map(|v| name_of(&v)).collect();
        Error::invalid(
            field,
            format!("unknown value {text:?}; one of {}", names.join(", ")),
        )
    })
}

/// Parses a job state name.
///
/// # Errors
/// [`Error::Invalid`] naming `field` and the states.
pub fn parse_job_state(field: &str, text: &str) -> Result<JobState> {
    JobState::parse(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        Error::invalid(
            field,
            format!("unknown state {text:?}; one of {}", names.join(", ")),
        )
    })
}

/// Parses a job id given by a user.
///
/// # Errors
/// [`Error::Invalid`] when it is not a ULID.
pub fn parse_job_id(field: &str, text: &str) -> Result<JobId> {
    JobId::parse(text.trim()).map_err(|_| {
        Error::invalid(
            field,
            format!("{text:?} is not a job id (a 26-character ULID)"),
        )
    })
}

/// Checks a reason for an ops action: required (the audit log records
/// why), trimmed, at most 500 characters kept.
///
/// # Errors
/// [`Error::Invalid`] naming `reason` when it is empty.
pub fn clean_reason(reason: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "must not be empty: the audit log records why",
        ));
    }
    Ok(reason.chars().take(500).collect())
}

async fn record(
    ctx: &JobContext,
    actor: &str,
    action: &str,
    subject_type: &str,
    subject_id: String,
    data: Value,
) -> Result<i64> {
    let tx = begin_locked(&ctx.db, &[format!("ops:{subject_type}:{subject_id}")]).await?;
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        subject_type: subject_type.to_string(),
        subject_id,
        data,
    });
    let id = tx.commit_audited().await?[0];
    Ok(id)
}

// ---------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------

/// The job standing for a state's age in [`QueueSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OldestJob {
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: String,
    /// Milliseconds since `since` (never negative).
    pub age_ms: i64,
    /// Which of the job's times the age counts from: `run_at` (ready: due
    /// since), `finished_at` (succeeded, dead, cancelled) or `updated_at`
    /// (scheduled, retrying, running: since it entered the state).
    pub since: &'static str,
    /// That time.
    pub at: DateTime<Utc>,
}

/// One state of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateSummary {
    /// The state.
    pub state: JobState,
    /// Jobs in it (finished states: what is still retained).
    pub count: u64,
    /// Its oldest job, when it has any; see [`queues`] for what "oldest" is
    /// per state.
    pub oldest: Option<OldestJob>,
}

/// One queue's counts and ages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueSummary {
    /// The queue's name.
    pub queue: String,
    /// `redis` or `sql`.
    pub backend: &'static str,
    /// Every state, in lifecycle order.
    pub states: Vec<StateSummary>,
}

/// Counts per state and the age of the oldest job per state.
///
/// Computed from the queue's own listings, without scanning: each state's
/// index is ordered, so its first or last entry is one read.
///
/// * `ready`: the job due longest ago (age since `run_at`);
/// * `succeeded`, `dead`, `cancelled`: the job that finished longest ago
///   (the last entry of the newest-first listing; age since `finished_at`);
/// * `scheduled`, `retrying`: the job due next; `running`: the lease that
///   runs out first (age since `updated_at`, when it entered the state).
///   These indexes are ordered by due time or lease, not by age, and no
///   store keeps an age index, so this is the head of the index, not
///   necessarily the job that has been there longest.
///
/// # Errors
/// Queue errors.
pub async fn queues(queue: &QueueStore) -> Result<Vec<QueueSummary>> {
    let counts = queue.counts().await?;
    let now = now_millis();
    let mut states = Vec::new();
    for state in JobState::ALL {
        let count = counts.get(state);
        let mut oldest = None;
        if count > 0 {
            let finished = matches!(
                state,
                JobState::Succeeded | JobState::Dead | JobState::Cancelled
            );
            let mut filter = JobFilter::state(state);
            filter.limit = 1;
            filter.cursor = if finished { count - 1 } else { 0 };
            let mut page = queue.list(&filter).await?;
            if page.jobs.is_empty() && filter.cursor > 0 {
                // Jobs left the state since the count: take the head.
                filter.cursor = 0;
                page = queue.list(&filter).await?;
            }
            if let Some(job) = page.jobs.into_iter().next() {
                let (since, t) = match state {
                    JobState::Ready => ("run_at", job.run_at),
                    _ if finished => ("finished_at", job.finished_at.unwrap_or(job.updated_at)),
                    _ => ("updated_at", job.updated_at),
                };
                oldest = Some(OldestJob {
                    job_id: job.id.to_string(),
                    kind: job.kind,
                    age_ms: (now - t).max(0),
                    since,
                    at: at(t),
                });
            }
        }
        states.push(StateSummary {
            state,
            count,
            oldest,
        });
    }
    Ok(vec![QueueSummary {
        queue: counts.queue,
        backend: queue.backend_name(),
        states,
    }])
}

// ---------------------------------------------------------------------------
// One job
// ---------------------------------------------------------------------------

/// One entry of a job's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// An ops action recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

// ---------------------------------------------------------------------------
// Jobs of a referral or candidate
// ---------------------------------------------------------------------------

/// The job payload ids that belong to a referral or a candidate: which
/// jobs [`list_jobs`] keeps when filtering by `referral_id` or
/// `candidate_ats_id`.
///
/// * `send_payout`: the referral's payouts;
/// * `probation_due`: the milestones of the referral or of its application;
/// * `write_back_referral`: the referral;
/// * `deliver_message`: outbox messages whose subject is one of those
///   payouts or milestones;
/// * `process_delivery`: inbox deliveries (among the [`INBOX_SCAN`] most
///   recent with a body) whose decoded event names the application's ATS
///   application id or one of the candidate's ATS candidate ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PayloadMatch {
    /// Referrals (`write_back_referral`).
    pub referral_ids: BTreeSet<i64>,
    /// Payouts (`send_payout`).
    pub payout_ids: BTreeSet<i64>,
    /// Milestones (`probation_due`).
    pub milestone_ids: BTreeSet<i64>,
    /// Outbox messages (`deliver_message`).
    pub message_ids: BTreeSet<i64>,
    /// Inbox rows (`process_delivery`).
    pub inbox_ids: BTreeSet<i64>,
}

impl PayloadMatch {
    /// Whether a job's payload names one of these ids.
    pub fn matches(&self, payload: &str) -> bool {
        match serde_json::from_str::<Job>(payload) {
            Ok(Job::SendPayout { payout_id }) => self.payout_ids.contains(&payout_id),
            Ok(Job::ProbationDue { milestone_id, .. }) => {
                self.milestone_ids.contains(&milestone_id)
            }
            Ok(Job::WriteBackReferral { referral_id }) => self.referral_ids.contains(&referral_id),
            Ok(Job::DeliverMessage { message_id }) => self.message_ids.contains(&message_id),
            Ok(Job::ProcessDelivery { inbox_id }) => self.inbox_ids.contains(&inbox_id),
            _ => false,
        }
    }

    async fn build(
        ctx: &JobContext,
        referrals: &[referral::Model],
        applications: &[application::Model],
        candidate_ids: &[i64],
    ) -> Result<Self> {
        let mut m = PayloadMatch {
            referral_ids: referrals.iter().map(|r| r.id).collect(),
            ..Default::default()
        };
        let rids: Vec<i64> = m.referral_ids.iter().copied().collect();
        let aids: Vec<i64> = applications.iter().map(|a| a.id).collect();
        if !rids.is_empty() {
            m.payout_ids = payout::Entity::find()
                .filter(payout::Column::ReferralId.is_in(rids.clone()))
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
        }
        if !rids.is_empty() || !aids.is_empty() {
            m.milestone_ids = milestone::Entity::find()
                .filter(
                    Condition::any()
                        .add(milestone::Column::ReferralId.is_in(rids))
                        .add(milestone::Column::ApplicationId.is_in(aids)),
                )
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|x| x.id)
                .collect();
        }
        if !m.payout_ids.is_empty() || !m.milestone_ids.is_empty() {
            let pids: Vec<i64> = m.payout_ids.iter().copied().collect();
            let mids: Vec<i64> = m.milestone_ids.iter().copied().collect();
            m.message_ids = outbound_message::Entity::find()
                .filter(
                    Condition::any()
                        .add(
                            Condition::all()
                                .add(outbound_message::Column::SubjectType.eq("payout"))
                                .add(outbound_message::Column::SubjectId.is_in(pids)),
                        )
                        .add(
                            Condition::all()
                                .add(outbound_message::Column::SubjectType.eq("milestone"))
                                .add(outbound_message::Column::SubjectId.is_in(mids)),
                        ),
                )
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|x| x.id)
                .collect();
        }
        let app_ids: BTreeSet<String> = applications
            .iter()
            .map(|a| a.ats_application_id.clone())
            .collect();
        let cand_ids: BTreeSet<String> = if candidate_ids.is_empty() {
            BTreeSet::new()
        } else {
            candidate_ats_id::Entity::find()
                .filter(candidate_ats_id::Column::CandidateId.is_in(candidate_ids.to_vec()))
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|c| c.ats_candidate_id)
                .collect()
        };
        if !app_ids.is_empty() || !cand_ids.is_empty() {
            let rows = inbox::Entity::find()
                .filter(inbox::Column::RawBody.is_not_null())
                .order_by_desc(inbox::Column::Id)
                .limit(INBOX_SCAN)
                .all(&ctx.db)
                .await?;
            for row in rows {
                let Some(body) = row.raw_body.as_deref() else {
                    continue;
                };
                let Ok(event) = decode(ctx, row.source, body) else {
                    continue;
                };
                let (apps, cands) = event_ids(&event);
                if apps.iter().any(|a| app_ids.contains(a))
                    || cands.iter().any(|c| cand_ids.contains(c))
                {
                    m.inbox_ids.insert(row.id);
                }
            }
        }
        Ok(m)
    }
}

/// The payload ids of a referral's jobs.
///
/// # Errors
/// [`Error::NotFound`] for an unknown referral; database errors.
pub async fn match_referral(ctx: &JobContext, referral_id: i64) -> Result<PayloadMatch> {
    let r = referral::Entity::find_by_id(referral_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("referral {referral_id}")))?;
    let apps = match r.application_id {
        Some(id) => application::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let candidate = r.candidate_id;
    PayloadMatch::build(ctx, &[r], &apps, &[candidate]).await
}

/// The payload ids of the jobs about a candidate known by an ATS candidate
/// id (in any ATS): its referrals and applications.
///
/// # Errors
/// [`Error::NotFound`] when no candidate has that ATS id; database errors.
pub async fn match_candidate(ctx: &JobContext, ats_candidate_id: &str) -> Result<PayloadMatch> {
    let candidates: Vec<i64> = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::AtsCandidateId.eq(ats_candidate_id))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|c| c.candidate_id)
        .collect();
    if candidates.is_empty() {
        return Err(Error::NotFound(format!(
            "candidate with ATS id {ats_candidate_id:?}"
        )));
    }
    let referrals = referral::Entity::find()
        .filter(referral::Column::CandidateId.is_in(candidates.clone()))
        .all(&ctx.db)
        .await?;
    let apps = application::Entity::find()
        .filter(application::Column::CandidateId.is_in(candidates.clone()))
        .all(&ctx.db)
        .await?;
    PayloadMatch::build(ctx, &referrals, &apps, &candidates).await
}

fn decode(
    ctx: &JobContext,
    source: InboxSource,
    body: &[u8],
) -> std::result::Result<IntakeEvent, String> {
    intake::decode_stored(source, body, &ctx.capture.start_date_field).map_err(|e| e.to_string())
}

/// The ATS application ids and ATS candidate ids an event names.
fn event_ids(event: &IntakeEvent) -> (Vec<String>, Vec<String>) {
    match event {
        IntakeEvent::Application(a) => (
            vec![a.ats_application_id.clone()],
            a.ats_candidate_id.iter().cloned().collect(),
        ),
        IntakeEvent::StageChanged(s) => (
            vec![s.ats_application_id.clone()],
            s.ats_candidate_id.iter().cloned().collect(),
        ),
        IntakeEvent::CandidateMerged {
            from_candidate_id,
            into_candidate_id,
        } => (
            Vec::new(),
            vec![from_candidate_id.clone(), into_candidate_id.clone()],
        ),
        IntakeEvent::ApplicationDeleted {
            application_id,
            candidate_id,
            ..
        } => (
            vec![application_id.clone()],
            candidate_id.iter().cloned().collect(),
        ),
        IntakeEvent::CandidateAnonymized { candidate_id } => {
            (Vec::new(), vec![candidate_id.clone()])
        }
        IntakeEvent::LeverOpportunity { opportunity_id, .. } => {
            (vec![opportunity_id.clone()], Vec::new())
        }
        IntakeEvent::Ignored { .. } => (Vec::new(), Vec::new()),
    }
}

fn event_name(ev: &IntakeEvent) -> String {
    match ev {
        IntakeEvent::Application(a) => a.event.clone(),
        IntakeEvent::StageChanged(s) => s.event.clone(),
        IntakeEvent::CandidateMerged { .. } => "merge_candidate".into(),
        IntakeEvent::ApplicationDeleted { .. } => "delete_application".into(),
        IntakeEvent::CandidateAnonymized { .. } => "candidate_anonymized".into(),
        IntakeEvent::LeverOpportunity { event, .. } => event.clone(),
        IntakeEvent::Ignored { event } => event.clone(),
    }
}

// ---------------------------------------------------------------------------
// Job listings
// ---------------------------------------------------------------------------

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
#[derive(Debug, Clone, PartialEq, Serialize)]
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

// ---------------------------------------------------------------------------
// Job actions
// ---------------------------------------------------------------------------

/// What a retry or cancel did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobActionOutcome {
    /// `retry` or `cancel`.
    pub action: &'static str,
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The state it was (is) in.
    pub from: JobState,
    /// The state it is (would be) in.
    pub to: JobState,
    /// The audit event written (not on a dry run).
    pub audit_event_id: Option<i64>,
}

async fn current(ctx: &JobContext, id: &JobId) -> Result<JobInfo> {
    ctx.queue
        .get(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("job {id}")))
}

/// Retries a dead, retrying or cancelled job now, attempts reset (its
/// error history is kept). With `dry_run`, says so without doing it.
/// Audited as `job.retried`.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] for scheduled, ready,
/// running or succeeded jobs (re-running a succeeded payout job could pay
/// twice), on a dry run too; [`Error::Invalid`] for an empty reason.
pub async fn retry_job(
    ctx: &JobContext,
    id: &JobId,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<JobActionOutcome> {
    let reason = clean_reason(reason)?;
    let info = current(ctx, id).await?;
    if !matches!(
        info.state,
        JobState::Dead | JobState::Retrying | JobState::Cancelled
    ) {
        return Err(Error::InvalidState {
            id: id.to_string(),
            state: info.state.to_string(),
            reason: "only a dead, retrying or cancelled job can be retried",
        });
    }
    let mut out = JobActionOutcome {
        action: "retry",
        job_id: id.to_string(),
        kind: info.kind.clone(),
        dry_run,
        from: info.state,
        to: JobState::Ready,
        audit_event_id: None,
    };
    if dry_run {
        return Ok(out);
    }
    out.from = ctx.queue.retry(id).await?;
    out.audit_event_id = Some(
        record(
            ctx,
            actor,
            "job.retried",
            "job",
            id.to_string(),
            json!({ "kind": info.kind, "from": out.from, "attempts": info.attempts, "reason": reason }),
        )
        .await?,
    );
    Ok(out)
}

/// Cancels a scheduled, ready or retrying job. With `dry_run`, says so
/// without doing it. Audited as `job.cancelled`.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] for a running job (it may
/// already have had its effect) or a finished one; [`Error::Invalid`] for
/// an empty reason.
pub async fn cancel_job(
    ctx: &JobContext,
    id: &JobId,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<JobActionOutcome> {
    let reason = clean_reason(reason)?;
    let info = current(ctx, id).await?;
    if !matches!(
        info.state,
        JobState::Scheduled | JobState::Ready | JobState::Retrying
    ) {
        return Err(Error::InvalidState {
            id: id.to_string(),
            state: info.state.to_string(),
            reason: "only a scheduled, ready or retrying job can be cancelled",
        });
    }
    let mut out = JobActionOutcome {
        action: "cancel",
        job_id: id.to_string(),
        kind: info.kind.clone(),
        dry_run,
        from: info.state,
        to: JobState::Cancelled,
        audit_event_id: None,
    };
    if dry_run {
        return Ok(out);
    }
    out.from = ctx.queue.cancel(id).await?;
    out.audit_event_id = Some(
        record(
            ctx,
            actor,
            "job.cancelled",
            "job",
            id.to_string(),
            json!({ "kind": info.kind, "from": out.from, "reason": reason }),
        )
        .await?,
    );
    Ok(out)
}

/// A job in a short listing (requeue-dead's dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobBrief {
    /// The job.
    pub id: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its last error.
    pub last_error: Option<String>,
}

/// What requeue-dead did (or would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequeueOutcome {
    /// The kind.
    pub kind: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Dead jobs of that kind (dry run), or how many were requeued.
    pub count: u64,
    /// On a dry run, the dead jobs (newest first, at most 500).
    pub jobs: Vec<JobBrief>,
    /// The audit event written (not on a dry run).
    pub audit_event_id: Option<i64>,
}

/// Retries every dead job of `kind`. With `dry_run`, lists and counts them
/// instead. Audited as `jobs.requeued_dead`.
///
/// # Errors
/// [`Error::Invalid`] for an empty kind or reason; queue errors.
pub async fn requeue_dead(
    ctx: &JobContext,
    kind: &str,
    actor: &str,
    reason: &str,
    dry_run: bool,
) -> Result<RequeueOutcome> {
    let kind = kind.trim();
    if kind.is_empty() || kind.len() > 100 {
        return Err(Error::invalid(
            "kind",
            "must name a job kind, e.g. send_payout",
        ));
    }
    let reason = clean_reason(reason)?;
    if dry_run {
        let mut jobs = Vec::new();
        let mut count = 0u64;
        let mut filter = JobFilter::state(JobState::Dead).kind(kind);
        filter.limit = MAX_LIMIT;
        loop {
            let page = ctx.queue.list(&filter).await?;
            count += page.jobs.len() as u64;
            for j in page.jobs {
                if jobs.len() < MAX_LIMIT as usize {
                    jobs.push(JobBrief {
                        id: j.id.to_string(),
                        attempts: j.attempts,
                        finished_at: j.finished_at.map(at),
                        last_error: j.last_error,
                    });
                }
            }
            match page.next {
                Some(n) => filter.cursor = n,
                None => break,
            }
        }
        return Ok(RequeueOutcome {
            kind: kind.to_string(),
            dry_run,
            count,
            jobs,
            audit_event_id: None,
        });
    }
    let count = ctx.queue.requeue_dead(kind).await?;
    let audit_event_id = record(
        ctx,
        actor,
        "jobs.requeued_dead",
        "job_kind",
        kind.to_string(),
        json!({ "kind": kind, "count": count, "reason": reason }),
    )
    .await?;
    Ok(RequeueOutcome {
        kind: kind.to_string(),
        dry_run,
        count,
        jobs: Vec::new(),
        audit_event_id: Some(audit_event_id),
    })
}

// ---------------------------------------------------------------------------
// Payouts, referrals, workflows
// ---------------------------------------------------------------------------

/// A job's liveness as a row pointing at it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobLink {
    /// The job id the row records.
    pub job_id: Option<String>,
    /// Its state in the queue; `None` when the queue no longer has it.
    pub state: Option<JobState>,
    /// Whether it is live (scheduled, ready, running or retrying).
    pub live: bool,
}

async fn job_link(queue: &QueueStore, id: Option<&str>) -> Result<JobLink> {
    let parsed = id.and_then(|i| JobId::parse(i).ok());
    let state = match &parsed {
        Some(id) => queue.get(id).await?.map(|j| j.state),
        None => None,
    };
    Ok(JobLink {
        job_id: id.map(str::to_owned),
        state,
        live: matches!(
            state,
            Some(JobState::Scheduled | JobState::Ready | JobState::Running | JobState::Retrying)
        ),
    })
}

/// A payout as ops see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutView {
    /// The payout.
    pub id: i64,
    /// Its referral.
    pub referral_id: i64,
    /// The milestone it pays for.
    pub milestone_id: Option<i64>,
    /// The tranche.
    pub tranche: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO currency.
    pub currency: String,
    /// Its state.
    pub state: PayoutState,
    /// Whether the rule requires approval.
    pub needs_approval: bool,
    /// Eligible and waiting for ops to approve.
    pub awaiting_approval: bool,
    /// Why it is where it is.
    pub reason: Option<String>,
    /// Send attempts.
    pub attempts: i32,
    /// HTTP status of the last attempt.
    pub last_status_code: Option<i32>,
    /// The bonus message's `webhook-id`.
    pub webhook_id: String,
    /// Its `Idempotency-Key`.
    pub idempotency_key: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Became eligible.
    pub eligible_at: Option<DateTime<Utc>>,
    /// Last sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Test data.
    pub is_test: bool,
    /// The send job recorded on the row.
    pub send_job_id: Option<String>,
    /// That job's state and liveness (workflow view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_job: Option<JobLink>,
}

impl From<&payout::Model> for PayoutView {
    fn from(p: &payout::Model) -> Self {
        Self {
            id: p.id,
            referral_id: p.referral_id,
            milestone_id: p.milestone_id,
            tranche: p.tranche.clone(),
            amount_minor: p.amount_minor,
            currency: p.currency.clone(),
            state: p.state,
            needs_approval: p.needs_approval,
            awaiting_approval: p.state == PayoutState::Eligible && p.needs_approval,
            reason: p.reason.clone(),
            attempts: p.attempts,
            last_status_code: p.last_status_code,
            webhook_id: p.webhook_id.clone(),
            idempotency_key: p.idempotency_key.clone(),
            created_at: p.created_at,
            eligible_at: p.eligible_at,
            sent_at: p.sent_at,
            delivered_at: p.delivered_at,
            is_test: p.is_test,
            send_job_id: p.send_job_id.clone(),
            send_job: None,
        }
    }
}

/// A page of payouts or referrals, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page (the last id here); `None` at the end.
    pub next: Option<i64>,
}

fn page_of<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(&id) } else { None };
    Page { items: rows, next }
}

/// Payouts, newest first, optionally in one state; `cursor` is the previous
/// page's `next`.
///
/// # Errors
/// Database errors.
pub async fn payouts(
    ctx: &JobContext,
    state: Option<PayoutState>,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Page<PayoutView>> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = payout::Entity::find();
    if let Some(s) = state {
        q = q.filter(payout::Column::State.eq(s));
    }
    if let Some(c) = cursor {
        q = q.filter(payout::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(payout::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(&ctx.db)
        .await?;
    let views = rows.iter().map(PayoutView::from).collect();
    Ok(page_of(views, limit, |p: &PayoutView| p.id))
}

/// A referral as ops see it (ids and states; no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferralView {
    /// The referral.
    pub id: i64,
    /// The candidate (our id).
    pub candidate_id: i64,
    /// The application it is attached to.
    pub application_id: Option<i64>,
    /// The referrer's HRIS id.
    pub employee_id: String,
    /// How it was made.
    pub source: ReferralSource,
    /// Its state.
    pub state: ReferralState,
    /// Why.
    pub reason: Option<String>,
    /// When the referral was made.
    pub referred_at: DateTime<Utc>,
    /// When it was credited or lost.
    pub decided_at: Option<DateTime<Utc>>,
    /// Test data.
    pub is_test: bool,
}

impl From<&referral::Model> for ReferralView {
    fn from(r: &referral::Model) -> Self {
        Self {
            id: r.id,
            candidate_id: r.candidate_id,
            application_id: r.application_id,
            employee_id: r.employee_id.clone(),
            source: r.source,
            state: r.state,
            reason: r.reason.clone(),
            referred_at: r.referred_at,
            decided_at: r.decided_at,
            is_test: r.is_test,
        }
    }
}

/// Referrals, newest first, optionally in one state.
///
/// # Errors
/// Database errors.
pub async fn referrals(
    ctx: &JobContext,
    state: Option<ReferralState>,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Page<ReferralView>> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = referral::Entity::find();
    if let Some(s) = state {
        q = q.filter(referral::Column::State.eq(s));
    }
    if let Some(c) = cursor {
        q = q.filter(referral::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(referral::Column::Id)
        .limit(u64::from(limit) + 1)
        .all(&ctx.db)
        .await?;
    let views = rows.iter().map(ReferralView::from).collect();
    Ok(page_of(views, limit, |r: &ReferralView| r.id))
}

/// An application as ops see it (ids, status and dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationView {
    /// The application.
    pub id: i64,
    /// The candidate (our id).
    pub candidate_id: i64,
    /// Its ATS.
    pub ats: Ats,
    /// Its id there.
    pub ats_application_id: String,
    /// The candidate's ids in the ATSs.
    pub ats_candidate_ids: Vec<String>,
    /// The ATS job.
    pub job_id: String,
    /// The requisition.
    pub requisition_id: Option<String>,
    /// Its status.
    pub status: application::ApplicationStatus,
    /// Its stage.
    pub stage: Option<String>,
    /// Applied.
    pub applied_at: DateTime<Utc>,
    /// Hired.
    pub hired_at: Option<DateTime<Utc>>,
    /// Starts.
    pub start_date: Option<DateTime<Utc>>,
    /// Rejected.
    pub rejected_at: Option<DateTime<Utc>>,
}

/// A milestone with its timer job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MilestoneView {
    /// The milestone.
    pub id: i64,
    /// `hire` or `probation_complete`.
    pub kind: MilestoneKind,
    /// Its state.
    pub state: MilestoneState,
    /// When it was reached.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When its timer is due.
    pub due_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// The timer job and whether it is live.
    pub timer_job: JobLink,
}

/// An outbox message (without its body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    /// The message.
    pub id: i64,
    /// Where it goes.
    pub channel: OutboundChannel,
    /// Its type.
    pub event_type: String,
    /// Its state.
    pub state: OutboundState,
    /// `payout` or `milestone`.
    pub subject_type: Option<String>,
    /// Its id.
    pub subject_id: Option<i64>,
    /// Attempts.
    pub attempts: i32,
    /// Status of the last attempt.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Staged.
    pub created_at: DateTime<Utc>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The delivery job and whether it is live.
    pub job: JobLink,
}

/// A referral's whole workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workflow {
    /// The referral.
    pub referral: ReferralView,
    /// Its application.
    pub application: Option<ApplicationView>,
    /// The milestones of the referral or its application.
    pub milestones: Vec<MilestoneView>,
    /// Its payouts, with their send jobs.
    pub payouts: Vec<PayoutView>,
    /// Outbox messages about those milestones and payouts.
    pub messages: Vec<MessageView>,
}

/// A referral with its application, milestones (and timer jobs), payouts
/// (and send jobs) and outbox messages.
///
/// # Errors
/// [`Error::NotFound`]; storage errors.
pub async fn workflow(ctx: &JobContext, referral_id: i64) -> Result<Workflow> {
    let r = referral::Entity::find_by_id(referral_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("referral {referral_id}")))?;
    let app = match r.application_id {
        Some(id) => application::Entity::find_by_id(id).one(&ctx.db).await?,
        None => None,
    };
    let application = match &app {
        Some(a) => {
            let ats_candidate_ids = candidate_ats_id::Entity::find()
                .filter(candidate_ats_id::Column::CandidateId.eq(a.candidate_id))
                .all(&ctx.db)
                .await?
                .into_iter()
                .map(|c| c.ats_candidate_id)
                .collect();
            Some(ApplicationView {
                id: a.id,
                candidate_id: a.candidate_id,
                ats: a.ats,
                ats_application_id: a.ats_application_id.clone(),
                ats_candidate_ids,
                job_id: a.job_id.clone(),
                requisition_id: a.requisition_id.clone(),
                status: a.status,
                stage: a.stage.clone(),
                applied_at: a.applied_at,
                hired_at: a.hired_at,
                start_date: a.start_date,
                rejected_at: a.rejected_at,
            })
        }
        None => None,
    };
    let mut cond = Condition::any().add(milestone::Column::ReferralId.eq(r.id));
    if let Some(a) = &app {
        cond = cond.add(milestone::Column::ApplicationId.eq(a.id));
    }
    let ms = milestone::Entity::find()
        .filter(cond)
        .order_by_asc(milestone::Column::Id)
        .all(&ctx.db)
        .await?;
    let mut milestones = Vec::new();
    for m in &ms {
        milestones.push(MilestoneView {
            id: m.id,
            kind: m.kind,
            state: m.state,
            occurred_at: m.occurred_at,
            due_at: m.due_at,
            cancel_reason: m.cancel_reason.clone(),
            timer_job: job_link(&ctx.queue, m.timer_job_id.as_deref()).await?,
        });
    }
    let ps = payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(r.id))
        .order_by_asc(payout::Column::Id)
        .all(&ctx.db)
        .await?;
    let mut payouts = Vec::new();
    for p in &ps {
        let mut v = PayoutView::from(p);
        v.send_job = Some(job_link(&ctx.queue, p.send_job_id.as_deref()).await?);
        payouts.push(v);
    }
    let pids: Vec<i64> = ps.iter().map(|p| p.id).collect();
    let mids: Vec<i64> = ms.iter().map(|m| m.id).collect();
    let rows = outbound_message::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(outbound_message::Column::SubjectType.eq("payout"))
                        .add(outbound_message::Column::SubjectId.is_in(pids)),
                )
                .add(
                    Condition::all()
                        .add(outbound_message::Column::SubjectType.eq("milestone"))
                        .add(outbound_message::Column::SubjectId.is_in(mids)),
                ),
        )
        .order_by_asc(outbound_message::Column::Id)
        .all(&ctx.db)
        .await?;
    let mut messages = Vec::new();
    for m in rows {
        let job = job_link(&ctx.queue, m.job_id.as_deref()).await?;
        messages.push(MessageView {
            id: m.id,
            channel: m.channel,
            event_type: m.event_type,
            state: m.state,
            subject_type: m.subject_type,
            subject_id: m.subject_id,
            attempts: m.attempts,
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
            job,
        });
    }
    Ok(Workflow {
        referral: ReferralView::from(&r),
        application,
        milestones,
        payouts,
        messages,
    })
}

// ---------------------------------------------------------------------------
// The stuck finder
// ---------------------------------------------------------------------------

/// Something that is not moving, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StuckItem {
    /// What kind of thing: `milestone_overdue`, `milestone_timer_missing`,
    /// `payout_send_missing`, `payout_awaiting_approval`,
    /// `payout_outcome_unknown`, `payout_failed`, `payout_dead`,
    /// `job_lease_expired`, `inbox_stuck`, `message_unsent`,
    /// `destination_disabled`.
    pub kind: &'static str,
    /// The ids that name it (`milestone_id`, `payout_id`, `referral_id`,
    /// `job_id`, `inbox_id`, `message_id`, `destination`).
    pub ids: serde_json::Map<String, Value>,
    /// Why it is not moving, and what moves it, in plain English.
    pub reason: String,
    /// Since when it has been like this, when known.
    pub since: Option<DateTime<Utc>>,
    /// When the sweeper next looks (now + `payouts.timer_sweep`).
    pub next_check: DateTime<Utc>,
}

fn ids(pairs: &[(&str, Value)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn describe(link: &JobLink) -> String {
    match (&link.job_id, link.state) {
        (None, _) => "it has no job".to_string(),
        (Some(id), None) => format!("its job {id} is no longer in the queue"),
        (Some(id), Some(s)) => format!("its job {id} is {s}"),
    }
}

/// Everything that is not moving: see [`StuckItem::kind`] for the list.
/// Each category reads at most [`STUCK_SCAN`] rows, oldest first.
/// `sweep_every` is `payouts.timer_sweep`, for `next_check`.
///
/// # Errors
/// Storage errors.
pub async fn stuck(ctx: &JobContext, sweep_every: std::time::Duration) -> Result<Vec<StuckItem>> {
    let now = Utc::now();
    let next_check = now + Duration::from_std(sweep_every).unwrap_or_else(|_| Duration::minutes(1));
    let mut items = Vec::new();
    let mut push = |kind, ids, reason, since| {
        items.push(StuckItem {
            kind,
            ids,
            reason,
            since,
            next_check,
        })
    };

    // Armed probation timers: overdue, or without a live job.
    let armed = milestone::Entity::find()
        .filter(milestone::Column::State.eq(MilestoneState::Armed))
        .order_by_asc(milestone::Column::DueAt)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for m in &armed {
        let link = job_link(&ctx.queue, m.timer_job_id.as_deref()).await?;
        let the_ids = ids(&[
            ("milestone_id", json!(m.id)),
            ("application_id", json!(m.application_id)),
            ("referral_id", json!(m.referral_id)),
            ("job_id", json!(m.timer_job_id)),
        ]);
        if let Some(due) = m.due_at
            && due < now - STUCK_AFTER
        {
            push(
                "milestone_overdue",
                the_ids.clone(),
                format!(
                    "the probation timer was due at {} ({} min ago) but has not fired; {}. \
                     The timer sweeper re-arms a timer whose job is missing; a live job \
                     runs when a worker takes it",
                    due.to_rfc3339(),
                    (now - due).num_minutes(),
                    describe(&link)
                ),
                Some(due),
            );
        }
        if !link.live {
            push(
                "milestone_timer_missing",
                the_ids,
                format!(
                    "the probation timer is armed, but {} (the queue lost it, e.g. Redis was \
                     wiped); the timer sweeper re-arms it",
                    describe(&link)
                ),
                Some(m.updated_at),
            );
        }
    }

    // Payouts.
    let bonus_disabled = outbox::is_disabled(&ctx.db, BONUS_DESTINATION).await?;
    let rows = payout::Entity::find()
        .filter(payout::Column::State.is_in([
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Sending,
            PayoutState::OutcomeUnknown,
            PayoutState::Failed,
            PayoutState::Dead,
        ]))
        .order_by_asc(payout::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for p in &rows {
        let the_ids = ids(&[
            ("payout_id", json!(p.id)),
            ("referral_id", json!(p.referral_id)),
            ("job_id", json!(p.send_job_id)),
        ]);
        let why = p.reason.as_deref().unwrap_or("no reason recorded");
        match p.state {
            PayoutState::Eligible if p.needs_approval => push(
                "payout_awaiting_approval",
                the_ids,
                format!(
                    "payout {} ({} {} minor units, tranche {}) waits for ops to approve it: \
                     POST /api/payouts/{}/approve or `referral-worker ops approve {}`",
                    p.id, p.currency, p.amount_minor, p.tranche, p.id, p.id
                ),
                p.eligible_at.or(Some(p.updated_at)),
            ),
            PayoutState::Eligible | PayoutState::Approved | PayoutState::Sending => {
                let link = job_link(&ctx.queue, p.send_job_id.as_deref()).await?;
                if link.live {
                    continue;
                }
                let cause = if ctx.payouts.destination.is_none() {
                    "no bonus destination is configured (payouts.destination_url), so nothing \
                     is sent until one is"
                        .to_string()
                } else if bonus_disabled {
                    "the bonus destination is disabled after a 410 Gone; re-enable it with \
                     POST /api/ops/destinations/bonus/enable and the sweeper sends it"
                        .to_string()
                } else {
                    format!(
                        "{}; the payout sweeper gives it a new send job",
                        describe(&link)
                    )
                };
                push(
                    "payout_send_missing",
                    the_ids,
                    format!(
                        "payout {} is {} and should be sent, but has no live send job: {cause}",
                        p.id,
                        name_of(&p.state)
                    ),
                    Some(p.updated_at),
                );
            }
            PayoutState::OutcomeUnknown => push(
                "payout_outcome_unknown",
                the_ids,
                format!(
                    "payout {} was sent but the outcome is unknown ({why}); it is never resent \
                     automatically: check with the bonus system, then POST \
                     /api/payouts/{}/resolve with delivered or resend",
                    p.id, p.id
                ),
                p.sent_at.or(Some(p.updated_at)),
            ),
            PayoutState::Failed => push(
                "payout_failed",
                the_ids,
                format!(
                    "payout {} was refused by the bonus system ({why}); fix the cause, then \
                     retry its job or hold the payout",
                    p.id
                ),
                Some(p.updated_at),
            ),
            PayoutState::Dead => push(
                "payout_dead",
                the_ids,
                format!(
                    "payout {} gave up after its retries ({why}); retry its job once the \
                     bonus system answers",
                    p.id
                ),
                Some(p.updated_at),
            ),
            _ => {}
        }
    }

    // Running jobs whose lease ran out: their worker died or stalled.
    let now_ms = now.timestamp_millis();
    let mut filter = JobFilter::state(JobState::Running);
    filter.limit = 200;
    let mut seen = 0u64;
    'running: loop {
        let page = ctx.queue.list(&filter).await?;
        for j in page.jobs {
            seen += 1;
            let Some(expired) = j.lease_expires_at.filter(|t| *t < now_ms) else {
                // Ordered by lease deadline: the rest are live.
                break 'running;
            };
            push(
                "job_lease_expired",
                ids(&[("job_id", json!(j.id.to_string())), ("kind", json!(j.kind))]),
                format!(
                    "{} job {} is running on worker {}, whose lease ran out at {} (the worker \
                     died or stalled); the next fetch by any worker re-delivers it",
                    j.kind,
                    j.id,
                    j.lease_owner.as_deref().unwrap_or("?"),
                    at(expired).to_rfc3339()
                ),
                Some(at(expired)),
            );
        }
        match page.next {
            Some(n) if seen < STUCK_SCAN => filter.cursor = n,
            _ => break,
        }
    }

    // Inbox rows that were never processed.
    let rows: Vec<InboxRow> = inbox_rows_query()
        .filter(inbox::Column::Status.is_in([InboxStatus::Received, InboxStatus::Enqueued]))
        .filter(inbox::Column::ReceivedAt.lt(now - STUCK_AFTER))
        .order_by_asc(inbox::Column::Id)
        .limit(STUCK_SCAN)
        .into_model::<InboxRow>()
        .all(&ctx.db)
        .await?;
    // A row ops already replayed is handled: its replay is a row of its own.
    let replayed: BTreeSet<String> = if rows.is_empty() {
        BTreeSet::new()
    } else {
        audit_event::Entity::find()
            .filter(audit_event::Column::SubjectType.eq("inbox"))
            .filter(audit_event::Column::Action.eq("inbox.replayed"))
            .filter(audit_event::Column::SubjectId.is_in(rows.iter().map(|r| r.id.to_string())))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|a| a.subject_id)
            .collect()
    };
    for row in rows {
        if replayed.contains(&row.id.to_string()) {
            continue;
        }
        let the_ids = ids(&[("inbox_id", json!(row.id)), ("job_id", json!(row.job_id))]);
        let reason = if row.status == InboxStatus::Received || row.job_id.is_none() {
            format!(
                "{} delivery {} was stored but never enqueued (the process stopped between \
                 storing and enqueueing); replay it",
                name_of(&row.source),
                row.id
            )
        } else {
            let id = row.job_id.as_deref();
            let job = match id.and_then(|i| JobId::parse(i).ok()) {
                Some(jid) => ctx.queue.get(&jid).await?,
                None => None,
            };
            match job {
                Some(j) if matches!(j.state, JobState::Succeeded) => format!(
                    "its job {} succeeded but the row is still enqueued; replay it",
                    j.id
                ),
                Some(j) => format!(
                    "its job {} is {} after {} of {} attempts{}",
                    j.id,
                    j.state,
                    j.attempts,
                    j.max_attempts,
                    j.last_error
                        .as_deref()
                        .map(|e| format!("; last error: {e}"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "its job {} is no longer in the queue; replay it",
                    id.unwrap_or("?")
                ),
            }
        };
        push(
            "inbox_stuck",
            the_ids,
            format!(
                "inbox row {} ({}) has been {} since {}: {reason}",
                row.id,
                row.event.as_deref().unwrap_or("unknown event"),
                name_of(&row.status),
                row.received_at.to_rfc3339()
            ),
            Some(row.received_at),
        );
    }

    // Pending outbox messages without a live job.
    let pending = outbound_message::Entity::find()
        .filter(outbound_message::Column::State.eq(OutboundState::Pending))
        .order_by_asc(outbound_message::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for m in pending {
        let link = job_link(&ctx.queue, m.job_id.as_deref()).await?;
        if link.live {
            continue;
        }
        let name = outbox::destination_name(m.channel);
        let cause = if outbox::is_disabled(&ctx.db, name).await? {
            format!(
                "the {name} destination is disabled after a 410 Gone; re-enable it with POST \
                 /api/ops/destinations/{name}/enable"
            )
        } else {
            format!("{}; the sweeper gives it a delivery job", describe(&link))
        };
        push(
            "message_unsent",
            ids(&[
                ("message_id", json!(m.id)),
                ("job_id", json!(m.job_id)),
                ("subject_type", json!(m.subject_type)),
                ("subject_id", json!(m.subject_id)),
            ]),
            format!(
                "{name} message {} ({}) is pending without a live job: {cause}",
                m.id, m.event_type
            ),
            Some(m.created_at),
        );
    }

    // Destinations switched off by a 410.
    let disabled = outbound_destination::Entity::find()
        .filter(outbound_destination::Column::Disabled.eq(true))
        .all(&ctx.db)
        .await?;
    for d in disabled {
        push(
            "destination_disabled",
            ids(&[("destination", json!(d.name))]),
            format!(
                "destination {} is disabled ({}); nothing is sent to it until ops re-enable it: \
                 POST /api/ops/destinations/{}/enable",
                d.name,
                d.reason.as_deref().unwrap_or("no reason recorded"),
                d.name
            ),
            Some(d.updated_at),
        );
    }
    Ok(items)
}

// ---------------------------------------------------------------------------
// The inbox
// ---------------------------------------------------------------------------

/// An inbox row without its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromQueryResult)]
pub struct InboxRow {
    /// The row.
    pub id: i64,
    /// Where it came from.
    pub source: InboxSource,
    /// The sender's delivery id.
    pub delivery_id: String,
    /// The sender's event name.
    pub event: Option<String>,
    /// Received.
    pub received_at: DateTime<Utc>,
    /// Signature check.
    pub verification: Verification,
    /// Where it stands.
    pub status: InboxStatus,
    /// Its processing job.
    pub job_id: Option<String>,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// What we answered.
    pub http_status: i32,
    /// Size of the stored body; `None` when no body is stored.
    pub body_bytes: Option<i64>,
}

fn inbox_rows_query() -> sea_orm::Select<inbox::Entity> {
    inbox::Entity::find()
        .select_only()
        .columns([
            inbox::Column::Id,
            inbox::Column::Source,
            inbox::Column::DeliveryId,
            inbox::Column::Event,
            inbox::Column::ReceivedAt,
            inbox::Column::Verification,
            inbox::Column::Status,
            inbox::Column::JobId,
            inbox::Column::Error,
            inbox::Column::HttpStatus,
        ])
        .column_as(Expr::cust("CAST(LENGTH(raw_body) AS BIGINT)"), "body_bytes")
}

/// Inbox rows, newest first, without bodies.
///
/// # Errors
/// Database errors.
pub async fn inbox(
    ctx: &JobContext,
    source: Option<InboxSource>,
    status: Option<InboxStatus>,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Page<InboxRow>> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = inbox_rows_query();
    if let Some(s) = source {
        q = q.filter(inbox::Column::Source.eq(s));
    }
    if let Some(s) = status {
        q = q.filter(inbox::Column::Status.eq(s));
    }
    if let Some(c) = cursor {
        q = q.filter(inbox::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(inbox::Column::Id)
        .limit(u64::from(limit) + 1)
        .into_model::<InboxRow>()
        .all(&ctx.db)
        .await?;
    Ok(page_of(rows, limit, |r: &InboxRow| r.id))
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replayed {
    /// The row replayed (left as it was).
    pub inbox_id: i64,
    /// The new inbox row holding the replayed delivery.
    pub replay_inbox_id: i64,
    /// Its processing job.
    pub job_id: Option<String>,
    /// The audit event.
    pub audit_event_id: i64,
}

/// Why a replay was refused (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplayRefused(pub String);

/// Replays an inbox row: its stored body is decoded with the source's
/// decoder and stored as a new delivery (`replay:<id>:<ulid>`) through
/// [`crate::intake::inbox::receive`], the path the webhooks use, which enqueues its
/// `process_delivery` job. The original row is left as it was. Audited as
/// `inbox.replayed`.
///
/// Returns `Ok(Err(..))` when the row cannot be replayed: no stored body
/// (refused before its sender was authenticated), a source without a
/// decoder, or a body that no longer decodes.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] for an empty reason; storage
/// errors.
pub async fn replay(
    ctx: &JobContext,
    inbox_id: i64,
    actor: &str,
    reason: &str,
) -> Result<std::result::Result<Replayed, ReplayRefused>> {
    let reason = clean_reason(reason)?;
    let row = inbox::Entity::find_by_id(inbox_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("inbox row {inbox_id}")))?;
    let Some(body) = row.raw_body.clone() else {
        let why = if row.verification == Verification::Failed {
            "it was refused before its sender was authenticated, so its body was not kept"
        } else {
            "its body was not kept"
        };
        return Ok(Err(ReplayRefused(format!(
            "inbox row {inbox_id} has no stored body to replay: {why}"
        ))));
    };
    let Some(source) = crate::intake::inbox::stored_source(row.source) else {
        return Ok(Err(ReplayRefused(format!(
            "inbox row {inbox_id} is a generic delivery, which has no decoder"
        ))));
    };
    let event = match decode(ctx, row.source, &body) {
        Ok(ev) => ev,
        Err(e) => {
            return Ok(Err(ReplayRefused(format!(
                "inbox row {inbox_id}'s stored body does not decode: {e}"
            ))));
        }
    };
    let receipt = crate::intake::inbox::receive(
        &crate::intake::inbox::InboxWriter::direct(ctx.db.clone()),
        &ctx.queue,
        &ctx.retry,
        Delivery {
            source,
            delivery_id: format!("replay:{inbox_id}:{}", ulid::Ulid::generate()),
            event: Some(event_name(&event)),
            body,
        },
    )
    .await?;
    let audit_event_id = record(
        ctx,
        actor,
        "inbox.replayed",
        "inbox",
        inbox_id.to_string(),
        json!({
            "reason": reason,
            "replay_inbox_id": receipt.inbox_id,
            "job_id": receipt.job_id,
        }),
    )
    .await?;
    Ok(Ok(Replayed {
        inbox_id,
        replay_inbox_id: receipt.inbox_id,
        job_id: receipt.job_id,
        audit_event_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_payloads_are_shown_unknown_ones_masked() {
        let (v, masked) = masked_payload(r#"{"kind":"send_payout","args":{"payout_id":7}}"#);
        assert!(!masked);
        assert_eq!(v["args"]["payout_id"], 7);
        let (v, masked) =
            masked_payload(r#"{"kind":"mystery","args":{"email":"a@b.c","n":3,"l":["x"]}}"#);
        assert!(masked);
        assert_eq!(v["kind"], "mystery");
        assert_eq!(v["args"]["email"], "***");
        assert_eq!(v["args"]["n"], 3);
        assert_eq!(v["args"]["l"][0], "***");
        assert_eq!(masked_payload("not json").0, "*** (not JSON)");
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_name_the_field() {
        let c = JobCursor::parse("dead:50").expect("parses");
        assert_eq!(c.state, JobState::Dead);
        assert_eq!(c.offset, 50);
        assert_eq!(c.to_string(), "dead:50");
        for bad in ["", "dead", "dead:x", "zombie:1"] {
            let e = JobCursor::parse(bad).expect_err(bad);
            assert!(e.to_string().starts_with("cursor:"), "{e}");
        }
    }

    #[test]
    fn names_parse_and_list_the_choices() {
        let s: PayoutState = parse_name("state", "outcome_unknown").expect("parses");
        assert_eq!(s, PayoutState::OutcomeUnknown);
        let e = parse_name::<PayoutState>("state", "paid").expect_err("unknown");
        assert!(e.to_string().contains("delivered"), "{e}");
        assert!(parse_job_state("state", "dead").is_ok());
        assert!(parse_job_id("id", "nope").is_err());
    }

    #[test]
    fn timelines_put_attempts_between_enqueue_and_end() {
        let info = JobInfo {
            id: JobId::generate(),
            queue: "q".into(),
            kind: "probe".into(),
            state: JobState::Dead,
            payload: "{}".into(),
            attempts: 2,
            max_attempts: 2,
            created_at: 1_000,
            run_at: 1_000,
            updated_at: 5_000,
            finished_at: Some(5_000),
            lease_owner: None,
            lease_expires_at: None,
            idempotency_key: None,
            redeliveries: 1,
            last_error: Some("boom".into()),
            errors: vec![
                AttemptError {
                    attempt: 1,
                    at: 2_000,
                    worker: "w1".into(),
                    error: "lease expired: worker w1".into(),
                },
                AttemptError {
                    attempt: 2,
                    at: 4_000,
                    worker: "w2".into(),
                    error: "boom".into(),
                },
            ],
        };
        let events: Vec<&str> = timeline(&info).iter().map(|e| e.event).collect();
        assert_eq!(
            events,
            ["enqueued", "redelivered", "attempt_failed", "dead"]
        );
    }
}
