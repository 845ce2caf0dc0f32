//! Transactions that read, decide and write without racing other processes.
//!
//! Capture (is this person already a candidate? was he already referred?)
//! and the audit hash chain (what is the last hash?) both read before they
//! write. Two processes doing that at once could each see "nothing yet" and
//! create two candidates, or fork the chain. [`begin_locked`] prevents it:
//!
//! * on SQLite it starts `BEGIN IMMEDIATE`, taking the database's single write
//!   lock up front (a deferred transaction that reads first can deadlock on
//!   the upgrade with `SQLITE_BUSY`);
//! * on PostgreSQL it takes transaction-scoped advisory locks on the given
//!   keys, in sorted order so two callers cannot deadlock, plus the audit
//!   chain's lock, which every caller needs because every decision is audited.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

use crate::error::Result;

/// The advisory-lock key of the audit hash chain.
pub const AUDIT_LOCK: &str = "audit_events";

/// Begins a transaction holding `keys` (and the audit lock) until it ends.
///
/// # Errors
/// The database refusing to start the transaction or take a lock.
pub async fn begin_locked(db: &DatabaseConnection, keys: &[String]) -> Result<DatabaseTransaction> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let tx = db.begin().await?;
            let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            keys.push(AUDIT_LOCK);
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                lock_key(&tx, key).await?;
            }
            Ok(tx)
        }
        _ => Ok(db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?),
    }
}

/// Takes one more key inside a transaction from [`begin_locked`], for a
/// decision about a row that the transaction's own keys do not cover (a
/// destination switched off from inside a payout's transaction).
///
/// The key comes after the sorted ones, so it must be a key whose other
/// holders take nothing after it but the audit lock, which every holder
/// already has: then no two transactions wait on each other in a circle.
/// On SQLite the transaction already holds the only write lock.
///
/// # Errors
/// The database refusing the lock.
pub async fn lock_key(conn: &impl ConnectionTrait, key: &str) -> Result<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}
