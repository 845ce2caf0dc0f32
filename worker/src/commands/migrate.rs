//! `migrate`: applies the pending migrations (`serve`, `work` and `web` do
//! it on start unless told `--no-migrate`; this is the explicit step).
//! `migrate status`: lists what is applied and what is pending, the way
//! sea-orm-cli's `migrate status` does, without changing anything.

use anyhow::Context as _;
use migrations::{MigrationStatus, Migrator, MigratorTrait};
use serde_json::json;

use crate::{config::Settings, runtime::connect_database};

/// `migrate`: applies the pending migrations and says how many.
///
/// # Errors
/// An unreachable database or a failed migration.
pub(super) async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = connect_database(settings).await?;
    let pending = Migrator::get_pending_migrations(&db).await?.len();
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    println!("migrations applied: {pending} new");
    Ok(())
}

/// `migrate status`: one line per migration this binary knows, in the
/// order they apply, `applied` or `pending`, then the totals (or the same
/// as JSON). Read-only: a database never migrated shows every migration
/// pending and is left without even the migrations table.
///
/// # Errors
/// An unreachable database, or one holding a migration this binary does
/// not know (a newer binary migrated it).
pub(super) async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let db = connect_database(settings).await?;
    let migrations = Migrator::get_migration_with_status_read_only(&db)
        .await
        .context("reading the applied migrations")?;
    let rows: Vec<(&str, &str)> = migrations
        .iter()
        .map(|m| {
            let status = match m.status() {
                MigrationStatus::Applied => "applied",
                MigrationStatus::Pending => "pending",
            };
            (m.name(), status)
        })
        .collect();
    let count = |which: &str| rows.iter().filter(|(_, s)| *s == which).count();
    let (applied, pending) = (count("applied"), count("pending"));
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(name, status)| json!({ "name": name, "status": status }))
            .collect();
        let report = json!({ "migrations": list, "applied": applied, "pending": pending });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for (name, status) in &rows {
            println!("{status:<8} {name}");
        }
        println!("{applied} applied, {pending} pending");
    }
    Ok(())
}
