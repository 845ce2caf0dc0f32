//! `referrals`: attribution decisions, one row per (employee, candidate,
//! application) claim.
//!
//! Written by attribution (in `jobs`) when a referral link is used or the ATS
//! credits an employee. Every competing claim gets a row, winners and losers
//! alike, so HR can see why someone did *not* get credit. Payouts hang off the
//! credited row. The same employee referring the same candidate for another
//! job makes another row, on that job's application, decided on its own and
//! paid when *that* application is hired; unique on `(employee_id,
//! candidate_id, application_id)`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// How we learned about the referral.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ReferralSource {
    /// The candidate arrived through one of our `?ref=` links; `link_token` is set.
    #[sea_orm(string_value = "referral_link")]
    ReferralLink,
    /// The ATS credited an employee (e.g. Greenhouse `credited_to`).
    #[sea_orm(string_value = "ats_credited")]
    AtsCredited,
}

/// The attribution decision for one referral.
///
/// Attribution in `jobs` decides the state when the referral is recorded and
/// re-decides it when new facts arrive (a merge, an unhire, a revocation);
/// ops can override through the ops commands. Every change writes an audit event.
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
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// This employee gets credit for the candidate; milestones on the
    /// application create payouts for this referral.
    #[sea_orm(string_value = "credited")]
    Credited,
    /// Another referral for the same candidate won (first referrer within the
    /// ownership window); `reason` names the rule.
    #[sea_orm(string_value = "lost")]
    Lost,
    /// Nobody gets credit through this claim: self-referral, excluded referrer,
    /// candidate already in the pipeline, etc.; `reason` says which.
    #[sea_orm(string_value = "ineligible")]
    Ineligible,
    /// Withdrawn after the fact (link revoked, ATS credit removed, ops decision).
    /// Pending payouts of a voided referral are cancelled.
    #[sea_orm(string_value = "void")]
    Void,
}

/// One attribution claim.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referrals")]
pub struct Model {
    /// Surrogate key: local to this database, never shown outside.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The id every message and export shows (`ref_<ULID>`): globally
    /// unique, so no two deployments or environments ever share one, and
    /// the stem of the bonus `Idempotency-Key`. Given on insert (see
    /// [`ActiveModelBehavior`] below); unique.
    #[sea_orm(unique)]
    pub public_id: String,
    /// The referred candidate.
    #[sea_orm(indexed, unique_key = "employee_candidate_application")]
    pub candidate_id: i64,
    /// The application the referral applies to; `None` while the referral is
    /// known (a link click plus a careers-site form) but the ATS application is not.
    #[sea_orm(indexed, unique_key = "employee_candidate_application")]
    pub application_id: Option<i64>,
    /// HRIS id of the referring employee.
    #[sea_orm(indexed, unique_key = "employee_candidate_application")]
    pub employee_id: String,
    /// How the referral reached us.
    pub source: ReferralSource,
    /// The referral link token, when `source` is `referral_link`.
    pub link_token: Option<String>,
    /// The attribution decision.
    pub state: ReferralState,
    /// Why the referral lost, is ineligible or was voided (a reason code plus detail).
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    /// When the referral happened (link click or ATS credit time), which is
    /// what ownership windows are measured from.
    pub referred_at: DateTimeUtc,
    /// When `state` was last decided.
    pub decided_at: Option<DateTimeUtc>,
    /// Test data: never paid.
    pub is_test: bool,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The referred candidate.
    #[sea_orm(belongs_to, from = "candidate_id", to = "id")]
    pub candidate: BelongsTo<super::candidate::Entity>,
    /// The application, once known.
    #[sea_orm(belongs_to, from = "application_id", to = "id")]
    pub application: BelongsTo<Option<super::application::Entity>>,
    /// Milestones that belong to this referral.
    #[sea_orm(has_many)]
    pub milestones: HasMany<super::milestone::Entity>,
    /// Payouts (ledger rows) owed for this referral.
    #[sea_orm(has_many)]
    pub payouts: HasMany<super::payout::Entity>,
}

/// The prefix of a referral's [`Model::public_id`].
pub const PUBLIC_ID_PREFIX: &str = "ref_";

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Every new row gets its public id in the insert itself, so nothing
    /// (a message, a job) can see the row without it.
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if insert && self.public_id.is_not_set() {
            self.public_id =
                sea_orm::ActiveValue::Set(format!("{PUBLIC_ID_PREFIX}{}", ulid::Ulid::generate()));
        }
        Ok(self)
    }
}
