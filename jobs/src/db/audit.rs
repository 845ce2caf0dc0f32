//! The append-only audit log: every attribution decision and every
//! payout-triggering event, hash-chained so tampering shows.
//!
//! Each row stores the SHA-256 of the previous row (`prev_hash`) and the
//! SHA-256 of its own canonical content including that previous hash
//! (`hash`). Changing, inserting or deleting a row breaks every later link.
//! There is no update or delete path in the code; on PostgreSQL a trigger
//! also refuses them (see the ledger migration).
//!
//! The log is [`LANES`] such chains side by side, told apart by `lane`, so
//! that audited transactions need not commit one at a time. Callers never
//! write here directly: they record entries on their
//! [`crate::db::LockedTx`] with `tx.audit(entry)`, and its commit appends
//! them with `append_all`, the transaction's last statements.
//!
//! Entries carry ids and reasons, never personal data: the log outlives
//! candidates' right to erasure.
//!
//! [`verify`] walks the chain for `referral-worker audit verify` and names
//! the first row that does not fit.

use chrono::{DateTime, SubsecRound, Utc};
use entities::audit_event;
use std::collections::HashMap;

use sea_orm::{
    AccessMode, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    DatabaseConnection, DbBackend, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::lock::lock_key;
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

/// How many chains the log has. A transaction appends to one lane and holds
/// that lane's lock from reading its last hash until it commits (the row it
/// inserts is invisible to others until then). With one lane every audited
/// transaction committed alone, each waiting for its own disk flush (about
/// 3.6 ms on the benchmark machine, so at most about 280 a second); with
/// several, transactions on different lanes commit together and share the
/// flush. Rows before lanes existed are lane 0.
pub const LANES: i16 = 16;

/// Appends `entries` to the chain, in order, on one lane: the last thing a
/// [`crate::db::LockedTx`] does before it commits, so that the entries
/// commit (or not) with the change they describe. Returns their ids.
///
/// On PostgreSQL it takes the first free lane, starting from a random one,
/// and waits for that one only when all are busy. SQLite writes one
/// transaction at a time anyway and always appends to lane 0.
///
/// # Errors
/// Database errors.
pub(crate) async fn append_all(
    conn: &impl ConnectionTrait,
    entries: Vec<AuditEntry>,
) -> Result<Vec<i64>> {
    let mut entries = entries.into_iter();
    let Some(first) = entries.next() else {
        return Ok(Vec::new());
    };
    // Microseconds: what both SQLite and PostgreSQL store exactly, so a
    // verifier recomputes the same text from the stored row.
    let occurred_at = Utc::now().trunc_subsecs(6);
    let (lane, (first_id, mut prev_hash)) = if conn.get_database_backend() == DbBackend::Postgres {
        let lane = take_lane(conn).await?;
        (lane, insert_chained(conn, lane, occurred_at, first).await?)
    } else {
        let prev_hash = last_hash(conn, 0).await?;
        (
            0,
            insert_after(conn, 0, occurred_at, first, prev_hash).await?,
        )
    };
    let mut ids = vec![first_id];
    for entry in entries {
        let (id, hash) = insert_after(conn, lane, occurred_at, entry, prev_hash).await?;
        ids.push(id);
        prev_hash = hash;
    }
    Ok(ids)
}

/// Inserts `entry` as the next row of `lane` after the row hashed
/// `prev_hash`, hashed here. Returns the row's id and hash.
async fn insert_after(
    conn: &impl ConnectionTrait,
    lane: i16,
    occurred_at: DateTime<Utc>,
    entry: AuditEntry,
    prev_hash: String,
) -> Result<(i64, String)> {
    let hash = sha256_hex(&canonical(&prev_hash, occurred_at, &entry));
    let row = audit_event::ActiveModel {
        occurred_at: Set(occurred_at),
        actor: Set(entry.actor),
        action: Set(entry.action),
        subject_type: Set(entry.subject_type),
        subject_id: Set(entry.subject_id),
        data: Set(entry.data.to_string()),
        prev_hash: Set(prev_hash),
        hash: Set(hash.clone()),
        lane: Set(lane),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok((row.id, hash))
}

/// The hash of `lane`'s newest row, or [`GENESIS`] for an empty lane.
async fn last_hash(conn: &impl ConnectionTrait, lane: i16) -> Result<String> {
    let hash: Option<String> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Hash)
        .filter(audit_event::Column::Lane.eq(lane))
        .order_by_desc(audit_event::Column::Id)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(hash.unwrap_or_else(|| GENESIS.to_string()))
}

/// Inserts `entry` as the next row of `lane` (whose lock the transaction
/// holds) in one statement that reads the lane's last hash and hashes the
/// row with it, PostgreSQL's `sha256` over the same canonical text
/// [`canonical`] makes. Returns the row's id and hash.
///
/// The read is inside the `INSERT`, a statement that starts after the lane's
/// lock is held: under READ COMMITTED a statement sees the data as of its
/// start, so a read in the locking statement itself could miss a row
/// committed on the lane between that start and the lock, and fork the chain
/// (seen once in CI as a lane row chained to genesis). One statement rather
/// than a read and an insert spares every audited commit a round trip.
async fn insert_chained(
    conn: &impl ConnectionTrait,
    lane: i16,
    occurred_at: DateTime<Utc>,
    entry: AuditEntry,
) -> Result<(i64, String)> {
    // The canonical text around the previous hash: made with a random
    // stand-in for it, split where the stand-in is. Should the entry itself
    // contain the stand-in (2^-256), the split is ambiguous and the row is
    // chained by a read and an insert instead.
    let stand_in = hex::encode(rand::random::<[u8; 32]>());
    let text = canonical(&stand_in, occurred_at, &entry);
    let mut parts = text.split(stand_in.as_str());
    let (Some(before), Some(after), None) = (parts.next(), parts.next(), parts.next()) else {
        let prev_hash = last_hash(conn, lane).await?;
        return insert_after(conn, lane, occurred_at, entry, prev_hash).await;
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_events \
                   (occurred_at, actor, action, subject_type, subject_id, data, prev_hash, hash, lane) \
                 SELECT $2, $3, $4, $5, $6, $7, p.prev, \
                        encode(sha256($8 || convert_to(p.prev, 'UTF8') || $9), 'hex'), $1 \
                 FROM (SELECT coalesce((SELECT hash FROM audit_events WHERE lane = $1 \
                                        ORDER BY id DESC LIMIT 1), $10) AS prev) AS p \
                 RETURNING id, hash",
            [
                lane.into(),
                occurred_at.into(),
                entry.actor.into(),
                entry.action.into(),
                entry.subject_type.into(),
                entry.subject_id.into(),
                entry.data.to_string().into(),
                before.as_bytes().to_vec().into(),
                after.as_bytes().to_vec().into(),
                GENESIS.into(),
            ],
        ))
        .await?
        .ok_or_else(|| crate::Error::Corrupt("an audit insert returned no row".into()))?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

/// Locks a lane for the rest of the transaction (PostgreSQL only) and
/// returns it.
async fn take_lane(conn: &impl ConnectionTrait) -> Result<i16> {
    let start = rand::random_range(0..LANES);
    // No ORDER BY: the rows come in series order and LIMIT stops the scan at
    // the first lane whose try-lock succeeds, so no other lane is taken.
    let free = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT lane FROM \
               (SELECT ((g + $1) % $2)::int2 AS lane \
                FROM generate_series(0, $2 - 1) AS g) AS lanes \
             WHERE pg_try_advisory_xact_lock(hashtextextended('audit_events:' || lane, 0)) \
             LIMIT 1",
            [i32::from(start).into(), i32::from(LANES).into()],
        ))
        .await?;
    Ok(match free {
        Some(row) => row.try_get_by_index(0)?,
        None => {
            lock_key(conn, &format!("audit_events:{start}")).await?;
            start
        }
    })
}

/// How many rows [`verify`] reads per query: the log only grows, so it is
/// walked in pages rather than loaded whole.
pub const VERIFY_PAGE: u64 = 1000;

/// What is wrong with the first row that does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The row's `prev_hash` is not the `hash` of the previous row of its
    /// lane (or, for a lane's first row, not [`GENESIS`]): a row before it
    /// was deleted, inserted or rewritten together with its hash, or moved
    /// to another lane.
    LinkBroken {
        /// What the row says the previous hash is.
        prev_hash: String,
        /// The previous row's hash in the lane (or [`GENESIS`]).
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

/// Walks the whole log in id order and checks every link (to the previous
/// row of the same lane) and every hash, stopping at the first row that
/// does not fit.
///
/// Gaps in the ids are not breaks (a rolled-back transaction burns a
/// PostgreSQL sequence value); a deleted row shows as the next row's broken
/// link. On PostgreSQL the walk reads one snapshot: lanes commit
/// independently, so a row can commit after a row of another lane with a
/// higher id, and a walk across commits could step past it and then find
/// its successor's link "broken".
///
/// # Errors
/// Database errors.
pub async fn verify(db: &DatabaseConnection) -> Result<Verification> {
    if db.get_database_backend() == DbBackend::Postgres {
        let tx = db
            .begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?;
        let verdict = walk(&tx).await?;
        tx.commit().await?;
        Ok(verdict)
    } else {
        walk(db).await
    }
}

async fn walk(conn: &impl ConnectionTrait) -> Result<Verification> {
    let mut expected: HashMap<i16, String> = HashMap::new();
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
            let prev = expected.get(&row.lane).map_or(GENESIS, String::as_str);
            if let Some(problem) = check_row(&row, prev) {
                return Ok(Verification::Broken {
                    verified,
                    event_id: row.id,
                    problem,
                });
            }
            verified += 1;
            expected.insert(row.lane, row.hash);
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
            lane: 0,
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
