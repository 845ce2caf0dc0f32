//! `applications`: one candidate's application to one job, as the ATS reports it.
//!
//! Upserted by webhook ingestion (in `jobs`) on every application event, keyed
//! by `(ats, ats_application_id)`. Milestone detection reads `status`,
//! `hired_at` and `start_date`; the bonus rules read `job_level`, `department`
//! and `location` to pick an amount.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::states::Ats;

/// Where an application stands, normalised across ATS vendors.
///
/// Only webhook ingestion (and reconciliation, when it finds the ATS disagrees)
/// moves an application between these states; the vendor's own stage name is
/// kept verbatim in `stage`.
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
pub enum ApplicationStatus {
    /// In the pipeline. Every new application starts here; `unhire` and
    /// `unreject` events bring an application back here.
    #[sea_orm(string_value = "active")]
    Active,
    /// The ATS reported a hire. Ingestion sets this and `hired_at`, and creates
    /// the `hire` milestone.
    #[sea_orm(string_value = "hired")]
    Hired,
    /// The company rejected the candidate. Set by ingestion from a reject event.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// The candidate withdrew (Lever archives with a withdrawal reason, etc.).
    #[sea_orm(string_value = "withdrawn")]
    Withdrawn,
    /// The ATS deleted the application. We keep the row so attributions and
    /// payouts that reference it stay explainable.
    #[sea_orm(string_value = "deleted")]
    Deleted,
}

/// One application.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "applications")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The applicant.
    pub candidate_id: i64,
    /// Which ATS the application lives in.
    #[sea_orm(unique_key = "ats_application")]
    pub ats: Ats,
    /// The ATS's application id; unique together with `ats`.
    #[sea_orm(unique_key = "ats_application")]
    pub ats_application_id: String,
    /// ATS job id.
    pub job_id: String,
    /// Requisition id, when the ATS has one (used in payout payloads).
    pub requisition_id: Option<String>,
    /// Normalised status.
    pub status: ApplicationStatus,
    /// The vendor's stage name, free text, for humans only: never branch on it.
    pub stage: Option<String>,
    /// When the candidate applied, per the ATS.
    pub applied_at: DateTimeUtc,
    /// When the ATS recorded the hire.
    pub hired_at: Option<DateTimeUtc>,
    /// First working day (midnight UTC of that date); the probation clock starts here.
    pub start_date: Option<DateTimeUtc>,
    /// When the application was rejected.
    pub rejected_at: Option<DateTimeUtc>,
    /// Job level, for bonus amount rules.
    pub job_level: Option<String>,
    /// Department, for bonus amount rules and exclusions.
    pub department: Option<String>,
    /// Location, for bonus amount and currency rules.
    pub location: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The HRIS id of the employee this hire became, once the HRIS named
    /// it (by the ATS candidate or application id); terminations of that
    /// employee end this hire's probation.
    pub hire_employee_id: Option<String>,
    /// The applicant.
    #[sea_orm(belongs_to, from = "candidate_id", to = "id")]
    pub candidate: BelongsTo<super::candidate::Entity>,
    /// Referrals attributed to this application.
    #[sea_orm(has_many)]
    pub referrals: HasMany<super::referral::Entity>,
    /// Milestones (hire, probation) reached or pending for this application.
    #[sea_orm(has_many)]
    pub milestones: HasMany<super::milestone::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
