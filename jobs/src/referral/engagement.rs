//! What a referrer hears about their referral between the share and the
//! payout: advocates who hear nothing disengage, so every referral
//! decision and every stage change of a credited referral's application is
//! a status-sync message to the referral platform (`referral.credited`,
//! `referral.lost` with the winning referral's date, `referral.ineligible`
//! with the reason, `referral.stage_changed`), staged through
//! [`crate::outbox`] in the transaction that made the change.
//!
//! Which of these go out is configured per type ([`Engagement::events`]);
//! the candidate is named only by the fields the program allows
//! ([`Engagement::candidate_fields`], default none: ids only).
//!
//! Called by capture ([`crate::capture`]): when it decides a referral,
//! when an earlier referral supersedes one, and when an application's
//! stage or status changes. Nothing is read unless the status sync is
//! configured and the message type enabled, so capture pays nothing for
//! a program that does not use them.

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    candidate,
    outbound_message::OutboundChannel,
    referral::{self, ReferralState},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{
    context::JobContext,
    error::Result,
    outbox::{self, Subject},
};

/// A kind of engagement message (`[notifications] engagement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngagementEvent {
    /// The referral earned credit.
    Credited,
    /// Another employee referred the candidate for the job first.
    Lost,
    /// The program's rules exclude it (the reason says which).
    Ineligible,
    /// The credited referral's application moved stage or status.
    StageChanged,
}

impl EngagementEvent {
    /// Every kind: the default.
    pub const ALL: [EngagementEvent; 4] = [
        EngagementEvent::Credited,
        EngagementEvent::Lost,
        EngagementEvent::Ineligible,
        EngagementEvent::StageChanged,
    ];

    /// The message type sent (`type` of the Standard Webhooks body).
    pub fn message_type(self) -> &'static str {
        match self {
            EngagementEvent::Credited => "referral.credited",
            EngagementEvent::Lost => "referral.lost",
            EngagementEvent::Ineligible => "referral.ineligible",
            EngagementEvent::StageChanged => "referral.stage_changed",
        }
    }
}

/// A candidate field the program allows in engagement messages
/// (`[notifications] engagement_candidate_fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateField {
    /// Their first name.
    FirstName,
    /// Their last name.
    LastName,
    /// Their email address as they gave it.
    Email,
}

impl CandidateField {
    fn name(self) -> &'static str {
        match self {
            CandidateField::FirstName => "first_name",
            CandidateField::LastName => "last_name",
            CandidateField::Email => "email",
        }
    }

    fn value(self, c: &candidate::Model) -> Value {
        match self {
            CandidateField::FirstName => json!(c.first_name),
            CandidateField::LastName => json!(c.last_name),
            CandidateField::Email => json!(c.email_raw),
        }
    }
}

/// Which engagement messages go out, and what they may say about the
/// candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The kinds sent (default: all of them).
    pub events: Vec<EngagementEvent>,
    /// Candidate fields included (default: none).
    pub candidate_fields: Vec<CandidateField>,
}

impl Default for Engagement {
    fn default() -> Self {
        Self {
            events: EngagementEvent::ALL.to_vec(),
            candidate_fields: Vec::new(),
        }
    }
}

/// The reason a lost referral's referrer is given.
const LOST_REASON: &str =
    "first referral wins: another employee referred this candidate for this job first";

/// Whether any engagement message can go out: the status sync configured
/// and at least one kind enabled. Capture kicks the outbox after a commit
/// that wrote a referral only then.
pub fn active(ctx: &JobContext) -> bool {
    ctx.notifications
        .client(OutboundChannel::StatusSync)
        .is_some()
        && !ctx.notifications.engagement.events.is_empty()
}

/// Whether `event` goes out at all: the status sync configured and the
/// kind enabled.
fn sends(ctx: &JobContext, event: EngagementEvent) -> bool {
    ctx.notifications
        .client(OutboundChannel::StatusSync)
        .is_some()
        && ctx.notifications.engagement.events.contains(&event)
}

/// The candidate as the program allows it to be named: `null` when no
/// field is allowed.
async fn candidate_block(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    candidate_id: i64,
) -> Result<Value> {
    let fields = &ctx.notifications.engagement.candidate_fields;
    if fields.is_empty() {
        return Ok(Value::Null);
    }
    let Some(c) = candidate::Entity::find_by_id(candidate_id)
        .one(conn)
        .await?
    else {
        return Ok(Value::Null);
    };
    let mut block = Map::new();
    for f in fields {
        block.insert(f.name().into(), f.value(&c));
    }
    Ok(Value::Object(block))
}

/// The parts every engagement message shares.
fn envelope(r: &referral::Model, app: &application::Model, candidate: Value) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("referral_id".into(), json!(r.public_id));
    data.insert("referring_employee_id".into(), json!(r.employee_id));
    data.insert(
        "application".into(),
        json!({ "ats": app.ats, "ats_application_id": app.ats_application_id }),
    );
    data.insert(
        "job".into(),
        json!({ "ats_job_id": app.job_id, "requisition_id": app.requisition_id }),
    );
    data.insert("candidate".into(), candidate);
    data.insert("changed_at".into(), json!(Utc::now()));
    data
}

/// The credited referral for `app`'s candidate and job that beat `lost`,
/// if it is on record: the earliest credited one for the same job.
async fn winner_of(
    conn: &impl ConnectionTrait,
    lost: &referral::Model,
    app: &application::Model,
) -> Result<Option<referral::Model>> {
    let credited = referral::Entity::find()
        .filter(referral::Column::CandidateId.eq(lost.candidate_id))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .filter(referral::Column::Id.ne(lost.id))
        .order_by_asc(referral::Column::ReferredAt)
        .all(conn)
        .await?;
    for r in credited {
        let Some(app_id) = r.application_id else {
            continue;
        };
        let same_job = application::Entity::find_by_id(app_id)
            .one(conn)
            .await?
            .is_some_and(|a| a.job_id == app.job_id);
        if same_job {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Stages the message for referral `r`'s decision on `app`: credited,
/// lost (to `winner` when the caller knows it, else the credited referral
/// on record for the job) or ineligible with its reason. Other states say
/// nothing.
///
/// # Errors
/// Database errors.
pub async fn decided(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    r: &referral::Model,
    app: &application::Model,
    winner: Option<&referral::Model>,
) -> Result<()> {
    let event = match r.state {
        ReferralState::Credited => EngagementEvent::Credited,
        ReferralState::Lost => EngagementEvent::Lost,
        ReferralState::Ineligible => EngagementEvent::Ineligible,
        _ => return Ok(()),
    };
    if !sends(ctx, event) {
        return Ok(());
    }
    let mut data = envelope(r, app, candidate_block(ctx, conn, r.candidate_id).await?);
    data.insert("state".into(), json!(r.state));
    data.insert("source".into(), json!(r.source));
    data.insert("referred_at".into(), json!(r.referred_at));
    data.insert("decided_at".into(), json!(r.decided_at));
    if event == EngagementEvent::Lost {
        // The rules' reason names the winning employee; the loser hears
        // when the winning referral was made, not by whom.
        data.insert("reason".into(), json!(LOST_REASON));
        let found;
        let winner = match winner {
            Some(w) => Some(w),
            None => {
                found = winner_of(conn, r, app).await?;
                found.as_ref()
            }
        };
        data.insert(
            "winning_referral".into(),
            match winner {
                Some(w) => json!({ "referred_at": w.referred_at }),
                None => Value::Null,
            },
        );
    } else {
        data.insert("reason".into(), json!(r.reason));
    }
    outbox::stage(
        ctx,
        conn,
        OutboundChannel::StatusSync,
        event.message_type(),
        Subject {
            kind: "referral",
            id: Some(r.id),
        },
        Value::Object(data),
    )
    .await?;
    Ok(())
}

/// An application's stage and status, before or after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOf {
    /// The ATS's stage name.
    pub stage: Option<String>,
    /// Our status.
    pub status: ApplicationStatus,
}

impl From<&application::Model> for StageOf {
    fn from(a: &application::Model) -> Self {
        Self {
            stage: a.stage.clone(),
            status: a.status,
        }
    }
}

/// Stages `referral.stage_changed` for every credited referral on `app`
/// when its stage or status differs from `before` (a move into
/// `rejected` only with `notify_rejections`).
///
/// Returns whether it staged any, so the caller kicks the outbox after
/// its commit.
///
/// # Errors
/// Database errors.
pub async fn stage_changed(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    before: &StageOf,
    app: &application::Model,
) -> Result<bool> {
    let after = StageOf::from(app);
    if *before == after || !sends(ctx, EngagementEvent::StageChanged) {
        return Ok(false);
    }
    // Referrers are not told of rejections unless the program says so
    // (`notifications.notify_rejections`), here as for milestones.
    if after.status == ApplicationStatus::Rejected && !ctx.notifications.notify_rejections {
        return Ok(false);
    }
    let credited = referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .all(conn)
        .await?;
    if credited.is_empty() {
        return Ok(false);
    }
    // The stage is the application's, so is the candidate every credited
    // referral on it names: read once, whatever the number of referrals.
    let candidate = candidate_block(ctx, conn, app.candidate_id).await?;
    for r in credited {
        let mut data = envelope(&r, app, candidate.clone());
        data.insert(
            "from".into(),
            json!({ "stage": before.stage, "status": before.status }),
        );
        data.insert(
            "to".into(),
            json!({ "stage": after.stage, "status": after.status }),
        );
        outbox::stage(
            ctx,
            conn,
            OutboundChannel::StatusSync,
            EngagementEvent::StageChanged.message_type(),
            Subject {
                kind: "referral",
                id: Some(r.id),
            },
            Value::Object(data),
        )
        .await?;
    }
    Ok(true)
}
