//! `referral_links`: the shareable `?ref=<token>` links minted for employees.
//!
//! Greenhouse's own tracking links can only credit employees who have a
//! Greenhouse login, so we mint our own tokens. The worker's HTTP layer creates
//! a row when an employee asks for a link and bumps `click_count` /
//! `first_clicked_at` on each visit; attribution (in `jobs`) looks the token up
//! when an application arrives carrying it.

use sea_orm::entity::prelude::*;

/// One referral link for one employee and one job.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral_links")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Opaque random token carried in the URL; unique. It is a bearer
    /// credential for attribution, so it must be unguessable.
    #[sea_orm(unique)]
    pub token: String,
    /// HRIS id of the referring employee (see [`crate::employee`]).
    pub employee_id: String,
    /// ATS job id the link points at.
    pub job_id: String,
    /// When the link was minted.
    pub created_at: DateTimeUtc,
    /// After this instant, clicks no longer create attributions.
    pub expires_at: DateTimeUtc,
    /// Set when the employee or ops revoke the link; a revoked link attributes nothing.
    pub revoked_at: Option<DateTimeUtc>,
    /// First visit through the link, kept to evaluate ownership windows.
    pub first_clicked_at: Option<DateTimeUtc>,
    /// Number of visits (reporting only; not used for attribution).
    pub click_count: i32,
}

impl ActiveModelBehavior for ActiveModel {}
