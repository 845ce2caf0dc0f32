//! `kpi_reports`: one scheduled KPI report per schedule tick (`trigger`,
//! unique: a tick reports once however many processes saw it), with the
//! period it covers, the KPIs as sent (JSON text) and the CRM message that
//! carried them.
//!
//! Written by `jobs::finance::report`; read by the `reports` export.

use sea_orm::entity::prelude::*;

/// One report.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_reports")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `cron:reports:<tick>` or `manual:<id>`.
    #[sea_orm(unique)]
    pub trigger: String,
    /// First instant covered.
    pub period_from: DateTimeUtc,
    /// First instant after the period.
    pub period_until: DateTimeUtc,
    /// `jobs::finance::kpis::Kpis` as JSON.
    #[sea_orm(column_type = "Text")]
    pub kpis: String,
    /// The `outbound_messages` row that carried it to the CRM, if one is
    /// configured.
    pub message_id: Option<i64>,
    /// When it was made.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
