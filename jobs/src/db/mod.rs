//! Transactions that read, decide and write without racing other processes.
//!
//! Capture (is this person already a candidate? was he already referred?)
//! reads before it writes. Two processes doing that at once could each see
//! "nothing yet" and create two candidates. [`begin_locked`] prevents it:
//!
//! * on SQLite it starts `BEGIN IMMEDIATE`, taking the database's single write
//!   lock up front (a deferred transaction that reads first can deadlock on
//!   the upgrade with `SQLITE_BUSY`);
//! * on PostgreSQL it takes transaction-scoped advisory locks on the given
//!   keys, in sorted order so two callers cannot deadlock. Decisions about
//!   the same rows take the same key (or lock the rows themselves with
//!   `FOR UPDATE`); decisions about different rows run side by side.
//!
//! Every decision is audited, and the audit log is a hash chain whose next
//! row depends on the last committed one. A [`LockedTx`] therefore holds its
//! audit entries back and chains them at [`LockedTx::commit`], as the last
//! thing the transaction does (see [`crate::db::audit`]). The chain's lock is
//! then the last lock any transaction takes, so it cannot be part of a
//! deadlock, and it is held only for the append and the commit rather than
//! for the whole decision. It used to be taken here, up front, by every
//! caller: that ran every audited transaction in the system one after
//! another (docs/AUDIT-LOCK.md).
//!
//! # Layout
//!
//! * this file: [`LockedTx`] and [`begin_locked`], used by every module
//!   that decides something (capture, milestones, payouts, the outbox, ops);
//! * [`audit`]: the hash-chained audit log the commit appends to, and its
//!   verifier (`referral-worker audit verify`);
//! * `lock`: [`lock_key`], the one extra advisory lock a transaction may
//!   take late (the audit chain's lanes and switched-off destinations use it).

use std::sync::Mutex;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

pub mod audit;
mod lock;

pub use lock::lock_key;

use crate::error::Result;
use audit::AuditEntry;

/// A transaction from [`begin_locked`], with the audit entries it will
/// append when it commits.
///
/// It is a [`ConnectionTrait`], so queries take `&tx` as they would a
/// connection. Dropping it without [`commit`](Self::commit) rolls back the
/// change and drops its entries with it: the log records only what happened.
pub struct LockedTx {
    tx: DatabaseTransaction,
    audit: Mutex<Vec<AuditEntry>>,
}

impl LockedTx {
    /// Records `entry`, to be appended to the audit chain at commit.
    pub fn audit(&self, entry: AuditEntry) {
        self.audit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(entry);
    }

    /// Appends the recorded entries to the audit chain and commits.
    ///
    /// # Errors
    /// The database refusing the append or the commit; nothing is then
    /// committed.
    pub async fn commit(self) -> Result<()> {
        self.commit_audited().await.map(|_| ())
    }

    /// [`commit`](Self::commit), returning the ids the entries got, in the
    /// order they were recorded (ops actions name their audit row).
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub async fn commit_audited(self) -> Result<Vec<i64>> {
        let entries = self
            .audit
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = audit::append_all(&self.tx, entries).await?;
        self.tx.commit().await?;
        Ok(ids)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for LockedTx {
    fn get_database_backend(&self) -> DbBackend {
        self.tx.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> std::result::Result<ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> std::result::Result<ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }

    async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> std::result::Result<Option<QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> std::result::Result<Vec<QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }
}

/// Begins a transaction holding `keys` until it ends.
///
/// # Errors
/// The database refusing to start the transaction or take a lock.
pub async fn begin_locked(db: &DatabaseConnection, keys: &[String]) -> Result<LockedTx> {
    let tx = match db.get_database_backend() {
        DbBackend::Postgres => {
            let tx = db.begin().await?;
            let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            keys.sort_unstable();
            keys.dedup();
            // One round trip for all of them, taken in the order given.
            if !keys.is_empty() {
                tx.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT count(pg_advisory_xact_lock(hashtextextended(key, 0))) \
                     FROM (SELECT key FROM unnest(string_to_array($1, E'\\x1f')) \
                           WITH ORDINALITY AS keys(key, n) ORDER BY n) AS ordered",
                    [keys.join("\x1f").into()],
                ))
                .await?;
            }
            tx
        }
        _ => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?
        }
    };
    Ok(LockedTx {
        tx,
        audit: Mutex::new(Vec::new()),
    })
}
