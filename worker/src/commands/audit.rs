//! `audit verify`: walks the hash chain of the audit log and says where it
//! breaks, if it does.

use anyhow::{Context as _, bail};
use jobs::db::audit::{self, Verification};

use crate::{config::Settings, runtime::connect_database};

/// `audit verify`: prints `OK: N events verified`, or the first broken row
/// on stdout and fails (exit 1).
///
/// # Errors
/// A broken chain or a database failure.
pub(super) async fn audit_verify(settings: &Settings) -> anyhow::Result<()> {
    let db = connect_database(settings).await?;
    match audit::verify(&db).await.context("reading the audit log")? {
        Verification::Intact { events } => {
            println!("OK: {events} events verified");
            Ok(())
        }
        Verification::Broken {
            verified,
            event_id,
            problem,
        } => {
            println!("BROKEN: audit event {event_id}: {problem}");
            println!("({verified} events before it verified)");
            bail!("the audit chain is broken at event {event_id}")
        }
    }
}
