//! `payouts`: the bonus ledger, one row per (referral, tranche).
//!
//! Created by the ledger (`jobs::payout::ledger`) when a credited
//! referral's hire milestone is reached, one row per tranche of the job's
//! bonus rule; moved through its states by the milestones (probation
//! completion, an undone hire, a termination), by the send job that POSTs
//! it to the bonus system (`jobs::payout::send`) and by ops
//! (`jobs::payout::approval`). The states below say what the code does;
//! `jobs/src/payout/ledger.rs` draws the whole machine.
//! `idempotency_key` (`{referral public id}:{milestone}`, e.g.
//! `ref_01JB…:hired`) and
//! `webhook_id` (the Standard Webhooks message id, identical across retries)
//! are both unique so the receiver and we can each deduplicate.
//! The unique `(referral_id, tranche)` constraint is the last line of defence
//! against paying a tranche twice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a payout stands. Every transition but the in-flight `sending`
/// marker writes an audit event (the attempt that ends it writes
/// `payout.attempt`).
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
pub enum PayoutState {
    /// A tranche paid at probation completion, created at hire: waits for
    /// the probation timer. When it fires the row becomes `eligible`, or
    /// `ineligible` when the rule requires an active referrer and the
    /// referrer has left; an undone hire or a termination during probation
    /// cancels it.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Earned (at hire, or when probation completed): sent at once, unless
    /// `needs_approval`, when it waits for ops to approve it. A row also
    /// returns here between attempts while a retry waits.
    #[sea_orm(string_value = "eligible")]
    Eligible,
    /// Approved by ops (or released from `held`, or resolved as "resend"
    /// after an unknown outcome): the send job sends it. An approved row
    /// returns here between attempts.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// An attempt is in flight: set, and committed, before the POST. A row
    /// left here by a crash is picked up by the next send job (the sweeper
    /// or reconciliation gives it one): after the request timeout has
    /// passed it is sent again to an idempotent destination, and becomes
    /// `outcome_unknown` for one that is not.
    #[sea_orm(string_value = "sending")]
    Sending,
    /// The bonus system acknowledged it with a 2xx, or ops confirmed it got
    /// it after an unknown outcome. Terminal.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    /// The bonus system refused it for good: a 4xx other than 410 and 429
    /// (or another status that is neither success nor worth a retry), a
    /// redirect (never followed), or a message that could not be sent.
    /// No attempt follows; ops are alerted and reconciliation reports it.
    /// Ops can hold it, and an approval then sends it again.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Its attempts ran out on retryable failures (429, 5xx, no connection):
    /// the send job gave up after `max_attempts` for `send_payout`. Ops are
    /// alerted and reconciliation reports it; nothing moves it
    /// automatically.
    #[sea_orm(string_value = "dead")]
    Dead,
    /// We cannot tell whether the bonus system received it: a request that
    /// may have reached a destination that is not idempotent went
    /// unanswered, or an attempt to one was interrupted mid-POST. Never
    /// resent automatically: ops resolve it as `delivered`, or `resend` it
    /// (→ `approved`, under the same `webhook_id` and `idempotency_key`).
    #[sea_orm(string_value = "outcome_unknown")]
    OutcomeUnknown,
    /// Not owed: the rule requires an active referrer and the referrer had
    /// left when the tranche came due; `reason` says so. Terminal.
    #[sea_orm(string_value = "ineligible")]
    Ineligible,
    /// Withdrawn before sending because the hire was undone (unhired,
    /// rejected, withdrawn, deleted: pending, eligible, approved and held
    /// rows), or, for the probation tranche only, the hire was terminated
    /// during probation. Terminal.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// Frozen by ops (a dispute, an investigation) while eligible, approved
    /// or failed; only an ops approval moves it on (→ `approved`).
    #[sea_orm(string_value = "held")]
    Held,
}

/// One ledger row.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payouts")]
pub struct Model {
    /// Surrogate key: local to this database, never shown outside.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The id every message and export shows (`pay_<ULID>`), globally
    /// unique. Given on insert (see [`ActiveModelBehavior`] below); unique.
    #[sea_orm(unique)]
    pub public_id: String,
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
    /// Why it is where it is: why it is ineligible or cancelled, the last
    /// failure (also kept on a row waiting to retry), or the ops action
    /// that moved it (`payout.held by ops:ana: …`).
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    /// Stable key sent to the bonus system as `Idempotency-Key` and as the
    /// body's `idempotency_key`: `{referral public id}:{milestone}`
    /// (`ref_01J…:probation_completed`). Rows made before public ids keep
    /// the key they were made with (`12:hire`); unique.
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
    /// Test data (a `golive-check` submission's payout): sent like any
    /// other, so run the check against a sandboxed deployment, but left out
    /// of exports unless asked for and out of the KPIs.
    pub is_test: bool,
    /// Its rule asks for a human approval before sending: an `eligible`
    /// row waits for `approve` (ops) instead of being sent.
    pub needs_approval: bool,
    /// The queue job that sends it, if any (see `jobs::payout::ledger`:
    /// a row whose job is no longer live gets a new one).
    pub send_job_id: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
    /// The bonus rule that made the row (`payouts.rules[].id`); `None` on
    /// rows made before it was recorded.
    pub rule_id: Option<String>,
    /// The referral being rewarded.
    #[sea_orm(belongs_to, from = "referral_id", to = "id")]
    pub referral: BelongsTo<super::referral::Entity>,
    /// The milestone that triggered it.
    #[sea_orm(belongs_to, from = "milestone_id", to = "id")]
    pub milestone: BelongsTo<Option<super::milestone::Entity>>,
}

/// The prefix of a payout's [`Model::public_id`].
pub const PUBLIC_ID_PREFIX: &str = "pay_";

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Every new row gets its public id in the insert itself, so no send
    /// job can read the row without it.
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
