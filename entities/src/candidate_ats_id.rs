//! `candidate_ats_ids`: which ATS candidate ids map to which [`crate::candidate`].
//!
//! A person can exist in several ATS (or twice in one, before a merge), so the
//! ATS id is not a column of `candidates`. Written by webhook ingestion when it
//! first sees an ATS candidate id, and re-pointed on `merge_candidate`; read to
//! resolve incoming webhooks to our candidate. Unique on `(ats, ats_candidate_id)`.

use sea_orm::entity::prelude::*;

use crate::states::Ats;

/// One (ATS, ATS candidate id) → candidate mapping.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "candidate_ats_ids")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Our candidate.
    pub candidate_id: i64,
    /// Which ATS the id belongs to.
    #[sea_orm(unique_key = "ats_candidate")]
    pub ats: Ats,
    /// The ATS's candidate id (opaque string, numeric in Greenhouse, UUID in Lever).
    #[sea_orm(unique_key = "ats_candidate")]
    pub ats_candidate_id: String,
    /// The candidate this id resolves to.
    #[sea_orm(belongs_to, from = "candidate_id", to = "id")]
    pub candidate: BelongsTo<super::candidate::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
