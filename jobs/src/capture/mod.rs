//! Capture: turns a verified inbound delivery into candidates, applications
//! and attributions. The `process_delivery` job runs it; the HTTP intake only
//! stored the raw bytes in the inbox and enqueued that job.
//!
//! Everything a delivery changes is written in one transaction from
//! [`crate::db::begin_locked`], keyed by the candidate's canonical email and
//! phone and the application id, so two deliveries about the same person
//! never race into two candidate rows. Every attribution decision writes an
//! audit event in the same transaction.
//!
//! Deliveries are at least once and out of order: each step is idempotent
//! (an application is upserted by its ATS id, a referral by candidate,
//! employee and application), a fact changes only for an event newer than
//! the one that last changed it ([`facts`]), and a stage change for an
//! application not yet seen fails retryably, so the queue keeps it until
//! the application arrives.
//!
//! * this file: the `process_delivery` job, which decodes the stored body
//!   ([`crate::intake::decode_stored`]) and hands the event to its step;
//! * [`application`]: an application arriving (dedup, upsert, claims);
//! * [`attribution`]: deciding and storing referral claims;
//! * [`stage`]: stage and status changes;
//! * [`facts`]: the rule that orders them: a fact changes only for an
//!   event newer than the one that last changed it;
//! * [`erasure`]: merges, deletions, anonymisation;
//! * [`refetch`]: an unsigned event's application read back through its
//!   connector;
//! * `lever`: a Lever delivery: its opportunity re-fetched, a
//!   `candidateHired` the API does not confirm recorded and dropped,
//!   Lever's referrers mapped to employees;
//! * `workable`: a Workable delivery: its candidate re-read, a move into a
//!   hired stage the API does not confirm recorded and dropped;
//! * `smartrecruiters`: a SmartRecruiters delivery (ids only): the
//!   candidate's assignment to the job re-read and captured as stated;
//! * [`write_back`]: the `write_back_referral` job;
//! * [`twin_fallback`]: the `twin_wait_due` job, which writes a careers-site
//!   referral back through a look-up by email when its ATS application
//!   never arrives.
//!
//! Called by [`crate::dispatch`] (the `process_delivery`,
//! `write_back_referral` and `twin_wait_due` jobs).

pub mod application;
pub mod attribution;
pub mod erasure;
pub mod facts;
mod lever;
pub mod refetch;
mod smartrecruiters;
pub mod stage;
pub mod twin_fallback;
mod workable;
pub mod write_back;

use entities::{
    inbox::{self, InboxSource, InboxStatus},
    states::Ats,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

pub use application::{Captured, capture_application, capture_application_marked};
pub use stage::apply_stage_change;

use crate::{
    connectors::careers_site,
    context::JobContext,
    error::{Error, Result},
    intake::{self, IntakeEvent, StoredBodyError},
    job::Job,
};

/// What processing a delivery amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Acted on.
    Applied,
    /// Authentic but nothing to do.
    Ignored,
}

impl Processed {
    /// `Applied` when the step changed something, else `Ignored`.
    fn acted(changed: bool) -> Self {
        if changed {
            Processed::Applied
        } else {
            Processed::Ignored
        }
    }
}

/// The `process_delivery` job: decode the stored body and act on it. A
/// Greenhouse body already applied under another delivery id is a
/// duplicate and changes nothing (recorded `ignored` on its inbox row).
///
/// # Errors
/// Retryable for transient failures and for events that wait on others
/// (a stage change before its application); permanent for a body that no
/// longer decodes or a source that cannot be acted on.
pub async fn process_delivery(ctx: &JobContext, inbox_id: i64, attempt: u32) -> Result<Processed> {
    let Some(row) = inbox::Entity::find_by_id(inbox_id).one(&ctx.db).await? else {
        return Err(Error::permanent(format!(
            "inbox row {inbox_id} does not exist"
        )));
    };
    if matches!(row.status, InboxStatus::Processed | InboxStatus::Ignored) {
        return Ok(if row.status == InboxStatus::Ignored {
            Processed::Ignored
        } else {
            Processed::Applied
        });
    }
    let digest = row.raw_body.as_deref().map(body_sha256);
    if let Some(first) = applied_before(ctx, &row, digest.as_deref()).await? {
        let mut active: inbox::ActiveModel = row.into();
        active.status = Set(InboxStatus::Ignored);
        active.error = Set(Some(format!(
            "duplicate: the same body was applied as inbox row {first}"
        )));
        active.body_sha256 = Set(digest);
        active.update(&ctx.db).await?;
        return Ok(Processed::Ignored);
    }
    let result = act(ctx, &row).await;
    let (status, error) = match &result {
        Ok(Processed::Applied) => (Some(InboxStatus::Processed), None),
        Ok(Processed::Ignored) => (Some(InboxStatus::Ignored), None),
        Err(Error::Permanent(e)) => (Some(InboxStatus::Failed), Some(e.clone())),
        // The last attempt: the job goes dead now, so the row must say so
        // too, or it would look `enqueued` for ever.
        Err(e) if attempt >= ctx.retry.for_kind(Job::PROCESS_DELIVERY).max_attempts => (
            Some(InboxStatus::Failed),
            Some(format!("gave up after {attempt} attempts: {e}")),
        ),
        // Retryable: the row stays `enqueued`; the job's own history has the error.
        Err(_) => (None, None),
    };
    if let Some(status) = status {
        let mut active: inbox::ActiveModel = row.into();
        active.status = Set(status);
        active.error = Set(error);
        active.body_sha256 = Set(digest);
        active.update(&ctx.db).await?;
    }
    result
}

/// SHA-256 (hex) of a raw body, as `inbox.body_sha256` keeps it.
fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The inbox row that already applied the same body as Greenhouse
/// delivery `row`, if one did. Greenhouse signs the body but not its
/// `Greenhouse-Event-ID`, so a captured delivery re-posted under a new id
/// passes the signature and the inbox's id check; its body (action and
/// payload, signed bytes that cannot change) is what gives it away.
/// Other sources sign their delivery id (Ashby's `webhookActionId`, the
/// careers site's `webhook-id`) or are re-fetched (Lever). A replay ops
/// asked for is processed again (its facts are still ordered by time).
async fn applied_before(
    ctx: &JobContext,
    row: &inbox::Model,
    digest: Option<&str>,
) -> Result<Option<i64>> {
    let replayed = row
        .delivery_id
        .starts_with(crate::ops::inbox::REPLAY_PREFIX);
    let Some(digest) = digest.filter(|_| row.source == InboxSource::Greenhouse && !replayed) else {
        return Ok(None);
    };
    Ok(inbox::Entity::find()
        .filter(inbox::Column::Source.eq(InboxSource::Greenhouse))
        .filter(inbox::Column::BodySha256.eq(digest))
        .filter(inbox::Column::Status.eq(InboxStatus::Processed))
        .filter(inbox::Column::Id.ne(row.id))
        .one(&ctx.db)
        .await?
        .map(|first| first.id))
}

/// Whose candidate ids a merge or an erasure names: the ATS that sent it
/// (only Greenhouse, Ashby and SmartRecruiters send those).
fn candidate_ats(source: InboxSource) -> Ats {
    match source {
        InboxSource::Ashby => Ats::Ashby,
        InboxSource::SmartRecruiters => Ats::SmartRecruiters,
        _ => Ats::Greenhouse,
    }
}

async fn act(ctx: &JobContext, row: &inbox::Model) -> Result<Processed> {
    let body = row
        .raw_body
        .as_deref()
        .ok_or_else(|| Error::permanent("inbox row has no stored body"))?;
    let event = intake::decode_stored(row.source, body, &ctx.capture.start_date_field).map_err(
        |e| match e {
            StoredBodyError::NoDecoder => Error::permanent(e.to_string()),
            StoredBodyError::Invalid(e) => {
                Error::permanent(format!("stored body no longer decodes: {e}"))
            }
        },
    )?;
    let is_test = row.source == InboxSource::CareersSite && careers_site::is_test(body);
    match event {
        IntakeEvent::Application(ev) => capture_application_marked(ctx, &ev, is_test)
            .await
            .map(|_| Processed::Applied),
        IntakeEvent::StageChanged(sc) => apply_stage_change(ctx, &sc).await.map(Processed::acted),
        IntakeEvent::CandidateMerged {
            from_candidate_id,
            into_candidate_id,
        } => erasure::merge_candidates(
            ctx,
            candidate_ats(row.source),
            &from_candidate_id,
            &into_candidate_id,
        )
        .await
        .map(Processed::acted),
        IntakeEvent::ApplicationDeleted { application_id, .. } => {
            erasure::delete_application(ctx, &application_id)
                .await
                .map(Processed::acted)
        }
        IntakeEvent::CandidateAnonymized { candidate_id } => {
            erasure::anonymize_candidate(ctx, candidate_ats(row.source), &candidate_id)
                .await
                .map(Processed::acted)
        }
        IntakeEvent::LeverOpportunity {
            event,
            opportunity_id,
        } => lever::capture_opportunity(ctx, &event, &opportunity_id).await,
        IntakeEvent::WorkableCandidate {
            event,
            candidate_id,
            claims_hired,
        } => workable::capture_candidate(ctx, &event, &candidate_id, claims_hired).await,
        IntakeEvent::SmartRecruitersAssignment {
            event,
            candidate_id,
            job_id,
        } => {
            smartrecruiters::capture_assignment(ctx, &event, &candidate_id, job_id.as_deref()).await
        }
        IntakeEvent::Ignored { .. } => Ok(Processed::Ignored),
    }
}
