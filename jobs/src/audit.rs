//! The append-only audit log: every attribution decision and every
//! payout-triggering event, hash-chained so tampering shows.
//!
//! Each row stores the SHA-256 of the previous row (`prev_hash`) and the
//! SHA-256 of its own canonical content including that previous hash
//! (`hash`). Changing, inserting or deleting a row breaks every later link.
//! There is no update or delete path in the code; on PostgreSQL a trigger
//! also refuses them (see the ledger migration).
//!
//! Entries carry ids and reasons, never personal data: the log outlives
//! candidates' right to erasure.

use chrono::{DateTime, SubsecRound, Utc};
use entities::audit_event;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One thing that happened, as the log records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Who did it: `system`, `api:<token name>`, `ops:<name>`.
    pub actor: String,
    /// What happened, dotted: `attribution.credited`, `referral_link.revoked`.
    pub action: String,
    /// What it happened to: `referral`, `application`, `referral_link`.
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// Inputs and reasons, by id. No names, emails or phone numbers.
    pub data: Value,
}

impl AuditEntry {
    /// An entry by the system itself.
    pub fn system(
        action: &str,
        subject_type: &str,
        subject_id: impl ToString,
        data: Value,
    ) -> Self {
        Self {
            actor: "system".into(),
            action: action.into(),
            subject_type: subject_type.into(),
            subject_id: subject_id.to_string(),
            data,
        }
    }
}

/// The canonical text a row's hash covers. `serde_json` maps sort their
/// keys, so the same row always serialises to the same bytes.
pub fn canonical(prev_hash: &str, occurred_at: DateTime<Utc>, e: &AuditEntry) -> String {
    json!({
        "prev_hash": prev_hash,
        "occurred_at": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor": e.actor,
        "action": e.action,
        "subject_type": e.subject_type,
        "subject_id": e.subject_id,
        "data": e.data,
    })
    .to_string()
}

/// Hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends `entry` to the chain. Call it inside a transaction from
/// [`crate::db::begin_locked`], which holds the chain's lock, so that the
/// entry commits (or not) with the change it describes.
///
/// # Errors
/// Database errors.
pub async fn append(conn: &impl ConnectionTrait, entry: AuditEntry) -> Result<i64> {
    let last = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(1)
        .one(conn)
        .await?;
    let prev_hash = last.map_or_else(|| GENESIS.to_string(), |row| row.hash);
    // Microseconds: what both SQLite and PostgreSQL store exactly, so a
    // verifier recomputes the same text from the stored row.
    let occurred_at = Utc::now().trunc_subsecs(6);
    let hash = sha256_hex(&canonical(&prev_hash, occurred_at, &entry));
    let row = audit_event::ActiveModel {
        occurred_at: Set(occurred_at),
        actor: Set(entry.actor),
        action: Set(entry.action),
        subject_type: Set(entry.subject_type),
        subject_id: Set(entry.subject_id),
        data: Set(entry.data.to_string()),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(row.id)
}
