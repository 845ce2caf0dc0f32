//! `reconciliation_runs`: one row per reconciliation pass.
//!
//! The reconciliation job (in `jobs`, triggered by cron or by ops) compares our
//! state with the ATS and the bonus system and records the differences as
//! [`crate::reconciliation_item`] rows. `trigger` is unique so that a cron tick
//! fired by several replicas produces a single run.

use sea_orm::entity::prelude::*;

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
    /// The variances found by this run.
    #[sea_orm(has_many)]
    pub items: HasMany<super::reconciliation_item::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
