//! `audit_events`: the append-only record of every decision the service makes.
//!
//! Written by `jobs` (and the worker's ops commands) in the same transaction as
//! the change it records; read by ops and finance. Rows are hash-chained
//! (`prev_hash` → `hash`, within each `lane`) so tampering is detectable, and on PostgreSQL a
//! trigger refuses UPDATE, DELETE and TRUNCATE outright. There is therefore no
//! "update" path for this entity: only inserts.
//!
//! `data` must never contain personal data (names, emails, phones): the audit
//! trail outlives anonymisation, so it may hold only ids, amounts and codes.

use sea_orm::entity::prelude::*;

/// One audit event.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Monotonic id; each lane's hash chain follows this order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// When the audited change happened.
    pub occurred_at: DateTimeUtc,
    /// Who made it: `system`, `ops:<name>`, ...
    pub actor: String,
    /// What happened, dotted: e.g. `attribution.credited`, `payout.approved`.
    pub action: String,
    /// Kind of thing it happened to, e.g. `referral`, `payout`.
    #[sea_orm(indexed)]
    pub subject_type: String,
    /// Our id of that thing, as a string.
    pub subject_id: String,
    /// JSON details (ids, amounts, reason codes; never personal data).
    #[sea_orm(column_type = "Text")]
    pub data: String,
    /// `hash` of the previous event (hex SHA-256), or the chain's genesis value.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub prev_hash: String,
    /// Hex SHA-256 over `prev_hash` and this event's content.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub hash: String,
    /// The chain this row belongs to: `prev_hash` is the hash of the
    /// previous row of the same lane. Lanes let transactions on different
    /// lanes commit at the same time (see `jobs::audit`).
    pub lane: i16,
}

impl ActiveModelBehavior for ActiveModel {}
