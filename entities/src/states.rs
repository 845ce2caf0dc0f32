//! Enums shared by more than one table.
//!
//! Enums that belong to a single table live in that table's module (for example
//! [`crate::payout::PayoutState`]); this module holds only the ones several tables
//! need, so no table module has to reach into another for its column types.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which applicant-tracking system (or intake channel) an identifier belongs to.
///
/// Used by [`crate::candidate_ats_id`] and [`crate::application`]. ATS ids are only
/// unique *within* one ATS, so every ATS id we store is paired with this value and
/// the unique constraints are on `(ats, <id>)`. Rows never change their `ats`: it
/// is set when the row is created from a webhook or an API fetch.
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
pub enum Ats {
    /// Greenhouse Recruiting: ids come from Greenhouse webhooks and the Harvest API.
    #[sea_orm(string_value = "greenhouse")]
    Greenhouse,
    /// Lever: ids come from Lever webhooks (which carry only ids) and the Lever API.
    #[sea_orm(string_value = "lever")]
    Lever,
    /// Ashby: ids (UUIDs) come from Ashby webhooks, signed over the whole
    /// body, and the Ashby API.
    #[sea_orm(string_value = "ashby")]
    Ashby,
    /// Workable: candidate ids (short alphanumeric strings) come from
    /// Workable webhooks, signed over the whole body but stating the
    /// candidate as it was when sent, and the Workable API (v3), which is
    /// re-read before anything is decided.
    #[sea_orm(string_value = "workable")]
    Workable,
    /// SmartRecruiters: candidate ids (UUIDs) come from SmartRecruiters
    /// webhooks, which carry ids only, and the Customer API, which states
    /// each (candidate, job) assignment; an application id is
    /// `<candidate id>:<job id>`.
    #[sea_orm(string_value = "smartrecruiters")]
    #[serde(rename = "smartrecruiters")]
    SmartRecruiters,
    /// Our own careers site: ids we mint when a candidate applies through a
    /// referral link before any ATS knows about them.
    #[sea_orm(string_value = "careers_site")]
    CareersSite,
    /// Any other ATS speaking our generic webhook format; its ids are opaque strings.
    #[sea_orm(string_value = "generic")]
    Generic,
}
