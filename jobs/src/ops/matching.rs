//! Which jobs and deliveries are about a referral or a candidate: the ids
//! their payloads name, found by reading the referral's rows and decoding
//! the recent inbox bodies ([`crate::intake::decode_stored`]). Used by the
//! job listing's `referral` and `candidate` filters.

use std::collections::BTreeSet;

use entities::{
    application, candidate_ats_id,
    inbox::{self, InboxSource},
    milestone::{self},
    outbound_message::{self},
    payout::{self},
    referral::{self},
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use crate::{
    context::JobContext,
    error::{Error, Result},
    intake::{self, IntakeEvent},
    job::Job,
};

/// The most recent inbox rows scanned when tying deliveries to a referral
/// or candidate (their bodies are decoded to find the ids).
pub const INBOX_SCAN: u64 = 5000;

/// The job payload ids that belong to a referral or a candidate: which
/// jobs [`list_jobs`](super::jobs::list_jobs) keeps when filtering by `referral_id` or
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

pub(super) fn decode(
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
        IntakeEvent::WorkableCandidate { candidate_id, .. } => {
            (vec![candidate_id.clone()], vec![candidate_id.clone()])
        }
        IntakeEvent::SmartRecruitersAssignment {
            candidate_id,
            job_id,
            ..
        } => (
            job_id
                .iter()
                .map(|job| crate::connectors::smartrecruiters::application_id(candidate_id, job))
                .collect(),
            vec![candidate_id.clone()],
        ),
        IntakeEvent::Ignored { .. } => (Vec::new(), Vec::new()),
    }
}
