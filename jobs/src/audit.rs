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
//!
//! [`verify`] walks the chain for `referral-worker audit verify` and names
//! the first row that does not fit.

use chrono::{DateTime, SubsecRound, Utc};
use entities::audit_event;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
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

/// How many rows [`verify`] reads per query: the log only grows, so it is
/// walked in pages rather than loaded whole.
pub const VERIFY_PAGE: u64 = 1000;

/// What is wrong with the first row that does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The row's `prev_hash` is not the previous row's `hash` (or, for the
    /// first row, not [`GENESIS`]): a row before it was deleted, inserted or
    /// rewritten together with its hash.
    LinkBroken {
        /// What the row says the previous hash is.
        prev_hash: String,
        /// The previous row's hash (or [`GENESIS`]).
        expected: String,
    },
    /// The row's content does not hash to its stored `hash`: the row itself
    /// was changed.
    ContentChanged {
        /// The stored hash.
        stored: String,
        /// The hash of the content as stored now.
        computed: String,
    },
    /// The row's `data` is not JSON, so it cannot be what `append` wrote.
    DataUnreadable(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::LinkBroken {
                prev_hash,
                expected,
            } => write!(
                f,
                "prev_hash {prev_hash} is not the previous row's hash {expected} \
                 (a row before it was deleted, inserted or rewritten)"
            ),
            Problem::ContentChanged { stored, computed } => write!(
                f,
                "hash mismatch: stored {stored}, content hashes to {computed} \
                 (the row was changed)"
            ),
            Problem::DataUnreadable(e) => write!(f, "data is not JSON ({e}): the row was changed"),
        }
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every row links to its predecessor and hashes to its stored hash.
    Intact {
        /// Rows checked.
        events: u64,
    },
    /// The chain breaks at `event_id`; the `verified` rows before it are fine.
    Broken {
        /// Rows checked and found fine before the break.
        verified: u64,
        /// The id of the first row that does not fit.
        event_id: i64,
        /// What is wrong with it.
        problem: Problem,
    },
}

/// Walks the whole log in id order and checks every link and every hash,
/// stopping at the first row that does not fit.
///
/// Gaps in the ids are not breaks (a rolled-back transaction burns a
/// PostgreSQL sequence value); a deleted row shows as the next row's broken
/// link. Rows appended while this runs are checked if the walk reaches them.
///
/// # Errors
/// Database errors.
pub async fn verify(conn: &impl ConnectionTrait) -> Result<Verification> {
    let mut expected = GENESIS.to_string();
    let mut verified = 0u64;
    let mut after = i64::MIN;
    loop {
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(after))
            .order_by_asc(audit_event::Column::Id)
            .limit(VERIFY_PAGE)
            .all(conn)
            .await?;
        let last_page = (page.len() as u64) < VERIFY_PAGE;
        for row in page {
            after = row.id;
            if let Some(problem) = check_row(&row, &expected) {
                return Ok(Verification::Broken {
                    verified,
                    event_id: row.id,
                    problem,
                });
            }
            verified += 1;
            expected = row.hash;
        }
        if last_page {
            return Ok(Verification::Intact { events: verified });
        }
    }
}

/// What is wrong with `row` given the previous row's hash, if anything. The
/// link is checked first: a row whose `prev_hash` was edited also fails its
/// hash, but the link names the cause.
fn check_row(row: &audit_event::Model, expected_prev: &str) -> Option<Problem> {
    if row.prev_hash != expected_prev {
        return Some(Problem::LinkBroken {
            prev_hash: row.prev_hash.clone(),
            expected: expected_prev.to_string(),
        });
    }
    let data: Value = match serde_json::from_str(&row.data) {
        Ok(data) => data,
        Err(e) => return Some(Problem::DataUnreadable(e.to_string())),
    };
    let entry = AuditEntry {
        actor: row.actor.clone(),
        action: row.action.clone(),
        subject_type: row.subject_type.clone(),
        subject_id: row.subject_id.clone(),
        data,
    };
    let computed = sha256_hex(&canonical(&row.prev_hash, row.occurred_at, &entry));
    (computed != row.hash).then(|| Problem::ContentChanged {
        stored: row.hash.clone(),
        computed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, prev_hash: &str, data: &str) -> audit_event::Model {
        let occurred_at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("a valid timestamp");
        let entry = AuditEntry::system(
            "payout.created",
            "payout",
            id,
            serde_json::from_str(data).expect("json"),
        );
        let hash = sha256_hex(&canonical(prev_hash, occurred_at, &entry));
        audit_event::Model {
            id,
            occurred_at,
            actor: entry.actor,
            action: entry.action,
            subject_type: entry.subject_type,
            subject_id: entry.subject_id,
            data: data.to_string(),
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }

    #[test]
    fn a_row_as_append_wrote_it_checks_out() {
        let r = row(1, GENESIS, r#"{"b":1,"a":[1.5,"x"]}"#);
        assert_eq!(check_row(&r, GENESIS), None);
    }

    #[test]
    fn a_changed_amount_is_a_content_change() {
        let mut r = row(1, GENESIS, r#"{"amount_minor":100000}"#);
        r.data = r#"{"amount_minor":900000}"#.into();
        assert!(matches!(
            check_row(&r, GENESIS),
            Some(Problem::ContentChanged { .. })
        ));
    }

    #[test]
    fn a_wrong_predecessor_is_a_broken_link() {
        let first = row(1, GENESIS, "{}");
        let third = row(3, &"f".repeat(64), "{}");
        assert!(matches!(
            check_row(&third, &first.hash),
            Some(Problem::LinkBroken { .. })
        ));
    }

    #[test]
    fn data_that_is_not_json_is_reported() {
        let mut r = row(1, GENESIS, "{}");
        r.data = "not json".into();
        assert!(matches!(
            check_row(&r, GENESIS),
            Some(Problem::DataUnreadable(_))
        ));
    }
}
