//! `consents`: what an applicant agreed to when they applied, as the careers
//! site sends it (`consent` in `application.submitted`).
//!
//! Written by capture (in `jobs`) in the same transaction as the
//! application, once per application and source; read by the data-subject
//! export. Ids, flags and times only: the IP address and user agent the
//! careers site also sends are not kept (not needed to show what was agreed).

use sea_orm::entity::prelude::*;

use crate::inbox::InboxSource;

/// One applicant's consent, as given with one application.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Whose consent.
    pub candidate_id: i64,
    /// The application it came with.
    #[sea_orm(unique_key = "application_source")]
    pub application_id: i64,
    /// Which system sent it.
    #[sea_orm(unique_key = "application_source")]
    pub source: InboxSource,
    /// When it was given (the submission's time).
    pub given_at: DateTimeUtc,
    /// The flags as JSON text: `{"processing": true, "retention": true,
    /// "referral_data_sharing": true, "privacy_notice_version": "2025-06"}`;
    /// a flag the sender left out is absent.
    pub flags: String,
    /// When we recorded it.
    pub recorded_at: DateTimeUtc,
    /// The candidate.
    #[sea_orm(belongs_to, from = "candidate_id", to = "id")]
    pub candidate: BelongsTo<super::candidate::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
