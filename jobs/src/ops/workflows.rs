//! A referral's whole workflow in one view (application, milestones,
//! payouts, messages, and the jobs behind each), and the payout and
//! referral listings.

use chrono::{DateTime, Utc};
use entities::{
    application, candidate_ats_id,
    milestone::{self, MilestoneKind, MilestoneState},
    outbound_message::{self, OutboundChannel, OutboundState},
    payout::{self, PayoutState},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::request::{MAX_LIMIT, Page, page_of};
use crate::{
    context::JobContext,
    error::{Error, Result},
};
use queue::{JobId, JobState, QueueStore};

/// A job's liveness as a row pointing at it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JobLink {
    /// The job id the row records.
    pub job_id: Option<String>,
    /// Its state in the queue; `None` when the queue no longer has it.
    pub state: Option<JobState>,
    /// Whether it is live (scheduled, ready, running or retrying).
    pub live: bool,
}

pub(super) async fn job_link(queue: &QueueStore, id: Option<&str>) -> Result<JobLink> {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
