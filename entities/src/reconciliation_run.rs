//! `reconciliation_runs`: one row per reconciliation pass.
//!
//! The reconciliation job (in `jobs`, triggered by cron or by ops) compares our
//! state with the ATS and the bonus system and records the differences as
//! [`crate::reconciliation_item`] rows. `trigger` is unique so that a cron tick
//! fired by several replicas produces a single run.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a run compared.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum RunScope {
    /// Our attributions, milestones and payouts against the queue and the
    /// ATS (the nightly run).
    #[default]
    #[sea_orm(string_value = "ledger")]
    Ledger,
    /// The referral platform's and the CRM's imports against our
    /// attributions and the ATS, over a period.
    #[sea_orm(string_value = "three_way")]
    ThreeWay,
}

/// One reconciliation pass.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_runs")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the run started.
    pub started_at: DateTimeUtc,
    /// When it finished; `None` while running (or if it crashed).
    pub finished_at: Option<DateTimeUtc>,
    /// `cron:<tick>` or `manual...`; unique, which deduplicates cron ticks.
    #[sea_orm(unique)]
    pub trigger: String,
    /// A dry run reports variances without fixing anything.
    pub dry_run: bool,
    /// Number of variances found.
    pub variance_count: i32,
    /// JSON summary (counts per kind; no personal data).
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    /// What the run compared.
    pub scope: RunScope,
    /// First instant a three-way run compared.
    pub period_from: Option<DateTimeUtc>,
    /// First instant after it.
    pub period_until: Option<DateTimeUtc>,
    /// The variances found by this run.
    #[sea_orm(has_many)]
    pub items: HasMany<super::reconciliation_item::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
