//! `unmatched_terminations`: an HRIS termination that matched no hire (by
//! employee id, ATS ids or work email) while some hire without a known
//! employee was in probation. Listed by `ops stuck` until resolved, so a
//! probation tranche is not paid for someone who left because their
//! records did not line up.
//!
//! Written and resolved by `jobs::referral::hires`; read by the stuck
//! finder (`jobs::ops::stuck`).

use sea_orm::entity::prelude::*;

/// One termination no hire matched.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "unmatched_terminations")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The HRIS id of the employee reported inactive.
    pub employee_id: String,
    /// The ATS candidate id the HRIS record carried, if any.
    pub ats_candidate_id: Option<String>,
    /// The ATS application id the HRIS record carried, if any.
    pub ats_application_id: Option<String>,
    /// Who reported it (`api:<token>`, `cli:<user>`).
    pub reported_by: String,
    /// When it was reported.
    pub reported_at: DateTimeUtc,
    /// When it was resolved (a later report matched, or ops ended the hire).
    pub resolved_at: Option<DateTimeUtc>,
    /// How it was resolved.
    #[sea_orm(column_type = "Text")]
    pub resolution: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
