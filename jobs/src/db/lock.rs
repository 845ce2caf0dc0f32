//! [`lock_key`]: one more advisory lock inside an open transaction.
//!
//! Kept apart from [`super::LockedTx`] because the audit chain
//! ([`super::audit`]) needs it to lock a lane, while the locked transaction
//! needs the chain to append at commit: with the lock here neither file
//! imports the other back.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::Result;

/// Takes one more key inside a transaction from [`super::begin_locked`], for a
/// decision about a row that the transaction's own keys do not cover (a
/// destination switched off from inside a payout's transaction).
///
/// The key comes after the sorted ones, so it must be a key whose other
/// holders take nothing after it but the audit chain's lock at commit: then
/// no two transactions wait on each other in a circle.
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
