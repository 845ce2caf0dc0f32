//! `reconciliation_items`: one variance found by a reconciliation run.
//!
//! Written by the reconciliation job; ops mark items `resolved` once handled.

use sea_orm::entity::prelude::*;

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
    /// Kind of variance, e.g. `hire_missing`, `payout_outcome_unknown`.
    pub kind: String,
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
