//! `application_facts`: per application and fact, the vendor's time of the
//! event that last changed it (issue 23.1).
//!
//! Vendors retry and reorder deliveries, so the order events arrive in
//! says nothing about the order things happened in. Capture (in `jobs`,
//! `capture::facts`) reads this row before it changes a fact and writes it
//! in the same transaction: an event no newer than the one on record is
//! recorded as stale and changes nothing.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A fact about an application that moves money or a timer, each ordered
/// on its own: a stale stage change must not hold back a newer start date.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ApplicationFact {
    /// Hired / unhired / rejected / withdrawn (`applications.status`).
    #[sea_orm(string_value = "status")]
    Status,
    /// The start date probation counts from (`applications.start_date`).
    #[sea_orm(string_value = "start_date")]
    StartDate,
    /// The pipeline stage (`applications.stage`).
    #[sea_orm(string_value = "stage")]
    Stage,
}

/// What is known of the events that changed one fact of one application.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "application_facts")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The application.
    #[sea_orm(unique_key = "application_fact")]
    pub application_id: i64,
    /// Which fact.
    #[sea_orm(unique_key = "application_fact")]
    pub fact: ApplicationFact,
    /// The latest vendor time of the events that changed it (`None`: none
    /// of them gave a time).
    pub changed_at: Option<DateTimeUtc>,
    /// The highest version of the changed object they gave, where the
    /// vendor numbers versions (Greenhouse offers); compared first.
    pub version: Option<i64>,
    /// The vendor's event name.
    pub event: String,
    /// When we recorded it.
    pub recorded_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
