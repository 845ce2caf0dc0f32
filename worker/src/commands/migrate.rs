//! `migrate`: applies the pending migrations (`serve`, `work` and `web` do
//! it on start unless told `--no-migrate`; this is the explicit step).

use anyhow::Context as _;
use migrations::{Migrator, MigratorTrait};

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
