//! `milestones`: the events a bonus tranche waits for, one per (application, kind).
//!
//! Vendors fan out (one real hire arrives as a stage change *and* a hire
//! event), so milestone detection must be idempotent per application and kind:
//! the unique constraint on `(application_id, kind)` is what makes a duplicate
//! event a no-op rather than a second bonus. Written by milestone detection and
//! the probation timer job (both in `jobs`); read by payout creation.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which milestone.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    /// The ATS reported the hire.
    #[sea_orm(string_value = "hire")]
    Hire,
    /// The hire is still employed at the end of the probation period.
    #[sea_orm(string_value = "probation_complete")]
    ProbationComplete,
}

/// Where a milestone stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum MilestoneState {
    /// Known but not actionable yet: waiting for its timer to be scheduled
    /// (no start date yet) or for its referral to be decided. Milestone
    /// detection creates rows here and moves them on when the missing fact arrives.
    #[sea_orm(string_value = "waiting")]
    Waiting,
    /// A timer job is scheduled (`timer_job_id`, `due_at`), e.g. the
    /// probation-complete check. The timer job moves it to `reached` or `cancelled`.
    #[sea_orm(string_value = "armed")]
    Armed,
    /// The milestone happened at `occurred_at`; payout creation may now create
    /// the tranche. Terminal.
    #[sea_orm(string_value = "reached")]
    Reached,
    /// It will not happen (unhire, left during probation, application deleted);
    /// `cancel_reason` says why. Set by ingestion, the timer job or ops. Terminal.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

/// One milestone of one application.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "milestones")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The credited referral, once known: a hire can arrive before attribution
    /// is decided, and the milestone still has to be recorded.
    pub referral_id: Option<i64>,
    /// The application the milestone belongs to.
    #[sea_orm(unique_key = "application_kind")]
    pub application_id: i64,
    /// Which milestone; unique per application.
    #[sea_orm(unique_key = "application_kind")]
    pub kind: MilestoneKind,
    /// Where the milestone stands.
    pub state: MilestoneState,
    /// When the milestone happened (hire time, probation end).
    pub occurred_at: Option<DateTimeUtc>,
    /// When the timer should fire (probation end), for `armed` milestones.
    pub due_at: Option<DateTimeUtc>,
    /// Why the milestone was cancelled.
    pub cancel_reason: Option<String>,
    /// Id of the scheduled queue job, so it can be cancelled or inspected.
    pub timer_job_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The credited referral.
    #[sea_orm(belongs_to, from = "referral_id", to = "id")]
    pub referral: BelongsTo<Option<super::referral::Entity>>,
    /// The application.
    #[sea_orm(belongs_to, from = "application_id", to = "id")]
    pub application: BelongsTo<super::application::Entity>,
    /// Payouts created because this milestone was reached.
    #[sea_orm(has_many)]
    pub payouts: HasMany<super::payout::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
