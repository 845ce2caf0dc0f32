//! `employees`: the people who can refer candidates, mirrored from the HRIS.
//!
//! Written only by the HRIS sync (in `jobs`); read by attribution (is the
//! referrer a current employee? is this a self-referral?) and by the payout
//! rules, which re-check `active` at each tranche date because ex-employees'
//! bonuses are forfeited by policy.
//!
//! Other tables refer to employees by the HRIS id (`employee_id`), not by our
//! surrogate `id`: a referral can be credited by the ATS to an employee the
//! HRIS feed has not delivered yet, and the HRIS id is what payroll understands.

use sea_orm::entity::prelude::*;

/// One employee as last seen in the HRIS feed.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "employees")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The HRIS employee id; unique, and the key every other table uses.
    #[sea_orm(unique)]
    pub employee_id: String,
    /// Work email as the HRIS spells it.
    pub email: String,
    /// `email` normalised (see the dedup rules), for self-referral checks.
    #[sea_orm(indexed)]
    pub email_canonical: String,
    /// Display name (personal data: never log it).
    pub name: String,
    /// False once the employee has left; they then stop earning new tranches.
    pub active: bool,
    /// Since when `active` is false (`None` while active):
    /// `retention.referrer_after` counts from here.
    pub deactivated_at: Option<DateTimeUtc>,
    /// When their personal data (email, name) was erased.
    pub erased_at: Option<DateTimeUtc>,
    /// What replaced the erased columns (JSON); the erasure's audit event
    /// records its SHA-256.
    pub erasure_tombstone: Option<String>,
    /// When the row was first synced.
    pub created_at: DateTimeUtc,
    /// When the row was last changed by a sync.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
