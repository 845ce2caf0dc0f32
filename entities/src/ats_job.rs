//! `ats_jobs`: what an ATS says about a job that bonus rules decide on
//! (level, department, office or location), cached per `(ats, job_id)`.
//!
//! Written by `jobs::payout::job_facts` when a hire is priced and a bonus
//! rule depends on one of these facts: read through the ATS's connector
//! (`Connector::job_facts`), kept with `fetched_at`, and read again once
//! `payouts.job_facts_ttl` has passed. A read that failed for good (or an
//! ATS without a connector) is cached too, with `unknown_reason`, so the
//! payouts it leaves undecided say why. Unique on `(ats, job_id)`.

use sea_orm::entity::prelude::*;

use crate::states::Ats;

/// One job as its ATS last described it.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ats_jobs")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The ATS the job lives in.
    #[sea_orm(unique_key = "ats_job")]
    pub ats: Ats,
    /// The ATS's job id (Greenhouse job, Lever posting, Ashby job).
    #[sea_orm(unique_key = "ats_job")]
    pub job_id: String,
    /// Level, when the ATS says.
    pub level: Option<String>,
    /// Department, when the ATS says.
    pub department: Option<String>,
    /// Office or location, when the ATS says.
    pub location: Option<String>,
    /// Why the ATS said nothing (no connector for it, the job read failed
    /// for good); `None` when the read succeeded.
    #[sea_orm(column_type = "Text")]
    pub unknown_reason: Option<String>,
    /// When the ATS was asked.
    pub fetched_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
