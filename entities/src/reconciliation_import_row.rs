//! `reconciliation_import_rows`: one row of a
//! [`crate::reconciliation_import`]: ids and a date, never names or
//! contact details.
//!
//! A platform row is a referral (`external_id` the platform's id, our
//! `referral_id` when the platform has it, the referrer's `employee_id`,
//! the ATS application when known, `occurred_on` the day referred); a CRM
//! row is a hire (`external_id` the CRM's id, the ATS application, the
//! referrer when the CRM names one, `occurred_on` the day hired).

use sea_orm::entity::prelude::*;

use crate::states::Ats;

/// One imported row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_import_rows")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The import it belongs to.
    #[sea_orm(indexed)]
    pub import_id: i64,
    /// Its line in the file (the header is line 1), or its position in a
    /// JSON list plus one.
    pub line: i32,
    /// The source's own id for the row.
    pub external_id: String,
    /// Our `ref_…` id, when the platform has it.
    pub referral_id: Option<String>,
    /// The referrer's HRIS id.
    pub employee_id: Option<String>,
    /// The ATS of the application.
    pub ats: Option<Ats>,
    /// The application's id in that ATS.
    pub ats_application_id: Option<String>,
    /// The day referred (platform) or hired (CRM), at midnight UTC.
    pub occurred_on: DateTimeUtc,
    /// The import.
    #[sea_orm(belongs_to, from = "import_id", to = "id")]
    pub import: BelongsTo<super::reconciliation_import::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
