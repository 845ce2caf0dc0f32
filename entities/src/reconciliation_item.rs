//! `reconciliation_items`: one variance found by a reconciliation run.
//!
//! Written by the reconciliation job; ops mark items `resolved` once handled.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What kind of difference a reconciliation run found.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum VarianceKind {
    /// A hired application with a credited referral has no hire milestone.
    #[sea_orm(string_value = "hire_without_milestone")]
    HireWithoutMilestone,
    /// A credited hire whose bonus rule applies has no payout rows.
    #[sea_orm(string_value = "hire_without_payout")]
    HireWithoutPayout,
    /// A payout has been sendable for longer than the delivery window.
    #[sea_orm(string_value = "payout_not_delivered")]
    PayoutNotDelivered,
    /// A payout has waited for approval longer than the delivery window.
    #[sea_orm(string_value = "payout_awaiting_approval")]
    PayoutAwaitingApproval,
    /// A payout was refused (4xx) and needs ops.
    #[sea_orm(string_value = "payout_failed")]
    PayoutFailed,
    /// A payout's retries are exhausted.
    #[sea_orm(string_value = "payout_dead")]
    PayoutDead,
    /// A payout may or may not have reached the bonus system.
    #[sea_orm(string_value = "payout_outcome_unknown")]
    PayoutOutcomeUnknown,
    /// The same payout was acknowledged more than once.
    #[sea_orm(string_value = "duplicate_delivery")]
    DuplicateDelivery,
    /// An armed probation timer had no live job in the queue (re-armed).
    #[sea_orm(string_value = "timer_not_armed")]
    TimerNotArmed,
    /// The ATS has a referred application we never saw.
    #[sea_orm(string_value = "ats_referral_unseen")]
    AtsReferralUnseen,
    /// The ATS says hired; we do not.
    #[sea_orm(string_value = "ats_hire_unseen")]
    AtsHireUnseen,
    /// The ATS's accepted offer starts on another day than we count
    /// probation from (re-armed from the ATS's date).
    #[sea_orm(string_value = "start_date_mismatch")]
    StartDateMismatch,
    /// A tranche is still pending although the probation it waits for was
    /// reached (fixed by the milestone sync, which releases it).
    #[sea_orm(string_value = "tranche_not_released")]
    TrancheNotReleased,
    /// An ATS listing had more pages than one run reads
    /// (`MAX_ATS_PAGES`): what lies beyond was not compared this run.
    #[sea_orm(string_value = "ats_listing_truncated")]
    AtsListingTruncated,
    /// Three-way: a referral we credit whose ATS application names no
    /// referrer (or that the ATS does not have).
    #[sea_orm(string_value = "referral_missing_in_ats")]
    ReferralMissingInAts,
    /// Three-way: the platform, the CRM or the ATS names another referrer
    /// than the one we credit.
    #[sea_orm(string_value = "referrer_mismatch")]
    ReferrerMismatch,
    /// Three-way: a referred hire of ours the CRM's hires do not list.
    #[sea_orm(string_value = "hire_not_in_crm")]
    HireNotInCrm,
    /// Three-way: a CRM hire with no referral we credit.
    #[sea_orm(string_value = "crm_hire_without_referral")]
    CrmHireWithoutReferral,
    /// Three-way: a referral the platform lists that we have no record of.
    #[sea_orm(string_value = "platform_referral_unknown")]
    PlatformReferralUnknown,
    /// Three-way: a referral we credit that the platform does not list.
    #[sea_orm(string_value = "referral_missing_on_platform")]
    ReferralMissingOnPlatform,
    /// Three-way: a month of the period has no import from the platform or
    /// the CRM, so that side was not compared.
    #[sea_orm(string_value = "import_missing")]
    ImportMissing,
    /// An ATS that announces no merges or deletions (Workable) answered
    /// 404 for an application of ours with a referral whose money is not
    /// settled: its candidate was merged away or deleted. Paid tranches
    /// are never undone; a hire's unpaid ones are left for ops to decide.
    #[sea_orm(string_value = "ats_application_gone")]
    AtsApplicationGone,
}

/// One variance.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_items")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The run that found it.
    #[sea_orm(indexed)]
    pub run_id: i64,
    /// Kind of variance.
    pub kind: VarianceKind,
    /// Kind of thing affected, e.g. `application`, `payout`.
    pub subject_type: String,
    /// Our id (or the ATS id) of that thing.
    pub subject_id: String,
    /// JSON details (ids and values on each side; no personal data).
    #[sea_orm(column_type = "Text")]
    pub detail: String,
    /// Set by ops (or a later run) once the variance is handled.
    pub resolved: bool,
    /// The run that found it.
    #[sea_orm(belongs_to, from = "run_id", to = "id")]
    pub run: BelongsTo<super::reconciliation_run::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
