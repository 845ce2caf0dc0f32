//! `candidates`: one row per *person* we have seen applying, across ATS.
//!
//! Created by webhook ingestion (in `jobs`) after our own deduplication on the
//! canonical email and E.164 phone, because the ATS only deduplicates exact
//! emails. An ATS `merge_candidate` event sets `merged_into_id` on the loser and
//! re-points its attributions; a `candidate_anonymized` or deletion event clears
//! the personal columns and sets `anonymized_at` (the row itself stays, because
//! payouts must remain traceable for finance).
//!
//! Everything here except ids and timestamps is personal data: never log it.

use sea_orm::entity::prelude::*;

/// One deduplicated candidate.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "candidates")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Email exactly as received; `None` once anonymised or if never given.
    pub email_raw: Option<String>,
    /// Normalised email used for deduplication.
    #[sea_orm(indexed)]
    pub email_canonical: Option<String>,
    /// Phone exactly as received.
    pub phone_raw: Option<String>,
    /// Phone normalised to E.164, used for deduplication.
    #[sea_orm(indexed)]
    pub phone_e164: Option<String>,
    /// Given name (or a placeholder once anonymised).
    pub first_name: String,
    /// Family name.
    pub last_name: Option<String>,
    /// When this row lost a merge: the surviving candidate's id.
    pub merged_into_id: Option<i64>,
    /// When the personal columns were erased.
    pub anonymized_at: Option<DateTimeUtc>,
    /// What replaced the erased columns (JSON: which fields, when, why);
    /// the erasure's audit event records its SHA-256.
    pub erasure_tombstone: Option<String>,
    /// Test data (e.g. ATS sandbox candidates): never paid, excluded from reports.
    pub is_test: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// This candidate's ids in each ATS.
    #[sea_orm(has_many)]
    pub ats_ids: HasMany<super::candidate_ats_id::Entity>,
    /// This candidate's applications.
    #[sea_orm(has_many)]
    pub applications: HasMany<super::application::Entity>,
    /// Every referral (attribution) of this candidate, won or lost.
    #[sea_orm(has_many)]
    pub referrals: HasMany<super::referral::Entity>,
    /// The consents given with this candidate's applications.
    #[sea_orm(has_many)]
    pub consents: HasMany<super::consent::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
