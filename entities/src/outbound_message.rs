//! `outbound_messages`: the outbox of signed notifications other than the
//! bonus POST (status sync, CRM hand-off, alerts).
//!
//! Written by `jobs::outbox::stage` inside the transaction of the state
//! change a message reports, so the change and its notification commit
//! together; the `deliver_message` job sends it and records the outcome.
//! `webhook_id` is the Standard Webhooks message id, the same on every
//! retry, so receivers can dedupe.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Which configured destination a message goes to.
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
pub enum OutboundChannel {
    /// Milestone and payout progress, to the referral platform.
    #[sea_orm(string_value = "status_sync")]
    StatusSync,
    /// A confirmed hire with its attribution, to the CRM.
    #[sea_orm(string_value = "crm")]
    Crm,
    /// A Slack-compatible alert for ops.
    #[sea_orm(string_value = "alert")]
    Alert,
}

/// Where a message stands.
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
pub enum OutboundState {
    /// Not delivered yet (first attempt waiting, or retries under way, or
    /// its destination disabled).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The destination answered 2xx. Terminal.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// Refused for good (a 4xx) or retries exhausted; `last_error` says why.
    /// Ops can requeue it.
    #[sea_orm(string_value = "dead")]
    Dead,
}

/// One outbound message.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbound_messages")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The destination.
    pub channel: OutboundChannel,
    /// Standard Webhooks `webhook-id`, the same across retries; unique.
    #[sea_orm(unique)]
    pub webhook_id: String,
    /// The message `type`, e.g. `referral.status_changed`.
    pub event_type: String,
    /// The message `data`, as JSON text. Identifiers and states only: no
    /// names, emails or phone numbers.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    /// What the message is about (`payout`, `milestone`, `job`), if anything.
    pub subject_type: Option<String>,
    /// Its id.
    pub subject_id: Option<i64>,
    /// Where it stands.
    pub state: OutboundState,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// The queue job currently delivering it, if any.
    pub job_id: Option<String>,
    /// HTTP status of the last attempt, if it got a response.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    /// When it was staged.
    pub created_at: DateTimeUtc,
    /// When the destination acknowledged it.
    pub delivered_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
