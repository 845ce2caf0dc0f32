//! `reconciliation_imports`: one import of an outside system's list for
//! one month, unique per (source, period), and
//! [`crate::reconciliation_import_row`] its rows.
//!
//! Written by `jobs::maintenance::three_way::imports` (an import of a month
//! replaces that month's previous import); read by the three-way comparison.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Whose list an import is.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// The referral platform's list of referrals.
    #[sea_orm(string_value = "platform")]
    Platform,
    /// The CRM's list of hires.
    #[sea_orm(string_value = "crm")]
    Crm,
}

/// One month's import from one source.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reconciliation_imports")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Whose list.
    #[sea_orm(unique_key = "source_period")]
    pub source: ImportSource,
    /// The month it covers, `YYYY-MM`.
    #[sea_orm(unique_key = "source_period")]
    pub period: String,
    /// How many rows it holds.
    pub row_count: i32,
    /// SHA-256 of its rows as stored, to tell a repeated import from a new one.
    pub sha256: String,
    /// Who imported it.
    pub actor: String,
    /// When.
    pub imported_at: DateTimeUtc,
    /// Its rows.
    #[sea_orm(has_many)]
    pub rows: HasMany<super::reconciliation_import_row::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
