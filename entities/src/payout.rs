//! `payouts`: the bonus ledger, one row per (referral, tranche).
//!
//! Created by payout creation (in `jobs`) when a milestone is reached; moved
//! through its states by the eligibility checks, ops approval and the delivery
//! job that POSTs to the bonus system. `idempotency_key` (`referral_id:tranche`)
//! and `webhook_id` (the Standard Webhooks message id, identical across retries)
//! are both unique so the receiver and we can each deduplicate.
//! The unique `(referral_id, tranche)` constraint is the last line of defence
//! against paying a tranche twice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a payout stands. Every transition writes an audit event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PayoutState {
    /// Created when its milestone was reached; waiting for its waiting period or
    /// conditions (e.g. referrer still employed). The eligibility job moves it on.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// All conditions hold at `eligible_at`; waiting for approval (by ops, or
    /// automatically when the policy allows it).
    #[sea_orm(string_value = "eligible")]
    Eligible,
    /// Approved for sending; the delivery job picks it up.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// The delivery job is POSTing it (or about to retry). A crash here leaves
    /// the row for reconciliation to resolve.
    #[sea_orm(string_value = "sending")]
    Sending,
    /// The bonus system acknowledged it with a 2xx. Terminal.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// The last attempt failed and another is scheduled; `attempts` and
    /// `last_status_code` say how.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Attempts exhausted or a permanent rejection (4xx); needs ops. Ops can
    /// move it back to `approved` to retry.
    #[sea_orm(string_value = "dead")]
    Dead,
    /// We cannot tell whether the bonus system received it (timeout after the
    /// request was sent). Reconciliation or ops decide; never blindly resent
    /// without the same `webhook_id`.
    #[sea_orm(string_value = "outcome_unknown")]
    OutcomeUnknown,
    /// The rules say no (referrer left, hire left during probation, excluded
    /// referrer); `reason` says which. Set by the eligibility checks or ops. Terminal.
    #[sea_orm(string_value = "ineligible")]
    Ineligible,
    /// Withdrawn before sending because its referral or milestone went away
    /// (void referral, cancelled milestone). Terminal.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Frozen by ops (dispute, investigation); nothing moves it except ops.
    #[sea_orm(string_value = "held")]
    Held,
}

/// One ledger row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payouts")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The credited referral this payout rewards.
    #[sea_orm(unique_key = "referral_tranche")]
    pub referral_id: i64,
    /// The milestone that triggered this tranche.
    pub milestone_id: Option<i64>,
    /// Tranche name from the bonus schedule, e.g. `hire` or `probation`.
    #[sea_orm(unique_key = "referral_tranche")]
    pub tranche: String,
    /// Amount in the currency's minor unit (cents); never a float.
    pub amount_minor: i64,
    /// ISO 4217 currency code.
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    /// Where the payout stands.
    pub state: PayoutState,
    /// Why it is ineligible, cancelled, held or dead.
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    /// Stable key sent to the bonus system (`referral_id:tranche`); unique.
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// Standard Webhooks `webhook-id`, the same across retries; unique.
    #[sea_orm(unique)]
    pub webhook_id: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// HTTP status of the last attempt, if it got a response.
    pub last_status_code: Option<i32>,
    /// When the payout became eligible.
    pub eligible_at: Option<DateTimeUtc>,
    /// When the last attempt was sent.
    pub sent_at: Option<DateTimeUtc>,
    /// When the bonus system acknowledged it.
    pub delivered_at: Option<DateTimeUtc>,
    /// Test data: never sent to the real bonus system.
    pub is_test: bool,
    /// Its rule asks for a human approval before sending: an `eligible`
    /// row waits for `approve` (ops) instead of being sent.
    pub needs_approval: bool,
    /// The queue job currently sending it, if any (see `jobs::payout::ledger`).
    pub send_job_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The referral being rewarded.
    #[sea_orm(belongs_to, from = "referral_id", to = "id")]
    pub referral: BelongsTo<super::referral::Entity>,
    /// The milestone that triggered it.
    #[sea_orm(belongs_to, from = "milestone_id", to = "id")]
    pub milestone: BelongsTo<Option<super::milestone::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
