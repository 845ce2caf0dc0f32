//! `inbox`: every webhook delivery the service received, kept before any
//! processing.
//!
//! The worker's HTTP layer verifies a delivery, inserts its row (unique on
//! `(source, delivery_id)`, so a redelivery is detected by the insert itself)
//! and enqueues its job; the ingestion job (in `jobs`) marks it processed or
//! ignored. Ops use it to replay or explain deliveries.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Who sent the delivery (which endpoint it arrived on).
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
pub enum InboxSource {
    /// Our careers site (applications through referral links).
    #[sea_orm(string_value = "careers_site")]
    CareersSite,
    /// Greenhouse Recruiting webhooks.
    #[sea_orm(string_value = "greenhouse")]
    Greenhouse,
    /// Lever webhooks.
    #[sea_orm(string_value = "lever")]
    Lever,
    /// Ashby webhooks.
    #[sea_orm(string_value = "ashby")]
    Ashby,
    /// Workable webhooks.
    #[sea_orm(string_value = "workable")]
    Workable,
    /// SmartRecruiters webhooks.
    #[sea_orm(string_value = "smartrecruiters")]
    #[serde(rename = "smartrecruiters")]
    SmartRecruiters,
    /// Our generic webhook format.
    #[sea_orm(string_value = "generic")]
    Generic,
}

/// Outcome of the signature check, decided once by the HTTP layer at receipt.
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
pub enum Verification {
    /// The signature checked out.
    #[sea_orm(string_value = "verified")]
    Verified,
    /// The signature was missing or wrong; the body is not kept and the
    /// delivery is `rejected`.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The source is configured without signatures (e.g. a trusted internal
    /// careers site behind its own auth).
    #[sea_orm(string_value = "not_required")]
    NotRequired,
}

/// Where a delivery stands in intake.
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
pub enum InboxStatus {
    /// Stored by the HTTP layer, not yet enqueued. A row stuck here means the
    /// process died between insert and enqueue; reconciliation re-enqueues it.
    #[sea_orm(string_value = "received")]
    Received,
    /// An ingestion job exists (`job_id`); the job moves it on.
    #[sea_orm(string_value = "enqueued")]
    Enqueued,
    /// The ingestion job applied it. Terminal.
    #[sea_orm(string_value = "processed")]
    Processed,
    /// Authentic but irrelevant (an event type we do not handle, a duplicate
    /// of an already-applied fact). Terminal.
    #[sea_orm(string_value = "ignored")]
    Ignored,
    /// Refused at the door (bad signature, malformed); `http_status` is what we answered. Terminal.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// The ingestion job gave up; `error` says why. Ops can replay it.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// One received delivery.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Which endpoint it arrived on.
    #[sea_orm(unique_key = "source_delivery")]
    pub source: InboxSource,
    /// The sender's delivery id (or a hash of the body when the sender has
    /// none); unique per source, which is how redeliveries are detected.
    #[sea_orm(unique_key = "source_delivery")]
    pub delivery_id: String,
    /// The sender's event name, e.g. Greenhouse `hire_candidate`.
    pub event: Option<String>,
    /// When we received it.
    pub received_at: DateTimeUtc,
    /// The exact bytes received, for replay; `None` for unauthenticated
    /// rejections, which we refuse to store.
    #[sea_orm(column_type = "Blob")]
    pub raw_body: Option<Vec<u8>>,
    /// Signature check outcome.
    pub verification: Verification,
    /// Where the delivery stands.
    pub status: InboxStatus,
    /// The queue job processing it (a `queue_jobs.id`).
    pub job_id: Option<String>,
    /// Why it failed or was rejected.
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
    /// The HTTP status we answered the sender with.
    pub http_status: i32,
    /// SHA-256 (hex) of the raw body, set when the delivery is processed:
    /// a signed body re-posted under another delivery id is known by it.
    pub body_sha256: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
