//! The CLI commands: [`run`] decides what each [`Command`] does. `serve`,
//! `work` and `web` go to [`runtime::serve`]; the rest are one-shot
//! commands that act on the data. Each connects, migrates nothing (except
//! `migrate`), does its work through the same `jobs` functions the HTTP
//! API uses, and reports. A failure returns an error, which `main` prints
//! and turns into exit status 1 (`ops` exits 2 itself on a bad value).
//!
//! # Files
//!
//! | file | commands |
//! |---|---|
//! | `migrate.rs` | `migrate`, `migrate status` |
//! | `employees.rs` | `employees import` |
//! | `links.rs` | `links create` |
//! | `maintenance.rs` | `reconcile`, `retention purge` |
//! | `three_way.rs` | `reconcile import-platform`, `reconcile import-crm`, `reconcile three-way` |
//! | `privacy.rs` | `privacy candidate ...`, `privacy referrer ...`: data-subject exports and erasures |
//! | `audit.rs` | `audit verify` |
//! | `finance.rs` | `export`, `report kpis` |
//! | `ops.rs` | `ops ...` (the `/api/ops` API on the command line) |
//! | `golive/` | `golive-check`: the hops of a test referral through a running service |
//! | `demo/` | `demo`: one referral through a throw-away service with a fake Greenhouse and bonus receiver, reusing `golive/`'s client |
//! | `render.rs` | text tables and cells the `ops` commands print |
//! | `actor.rs` | who a CLI action is recorded as |
//!
//! `config check` is answered by `main` itself, before logging is set up.

mod actor;
mod audit;
mod demo;
mod employees;
mod finance;
mod golive;
mod links;
mod maintenance;
mod migrate;
mod ops;
mod privacy;
mod render;
mod three_way;

pub use links::links;

use crate::{
    cli::{AuditCommand, Command, MigrateCommand, ReportCommand, RetentionCommand, TaskCommand},
    config::Settings,
    runtime::{self, Role},
};

/// Runs a CLI command to completion; the binary's only entry into the
/// library (`main` handles `config check` itself, before logging is set up).
///
/// # Errors
/// Start-up failures (unreachable database or Redis, a port in use, a failed
/// migration), each with the step that failed; what a one-shot command
/// returns.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let role = match &command {
        Command::Migrate { action: None } => return migrate::migrate(&settings).await,
        Command::Migrate {
            action: Some(MigrateCommand::Status { json }),
        } => return migrate::status(&settings, *json).await,
        Command::Serve { .. } => Role::All,
        Command::Work { .. } => Role::Workers,
        Command::Web { .. } => Role::Web,
        Command::Config(_) => return Ok(()),
        Command::Task(cmd) => return task(cmd.clone(), &settings).await,
        Command::Links(cmd) => return links(cmd.clone(), &settings).await,
        Command::Demo(args) => return demo::demo(args.clone()).await,
    };
    runtime::serve(settings, role, command.migrate_on_start()).await
}

/// Runs one of the [`TaskCommand`]s ([`run`] hands them all here).
///
/// # Errors
/// What the command returns.
pub async fn task(cmd: TaskCommand, settings: &Settings) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::Employees(cmd) => employees::import_employees(cmd, settings).await,
        TaskCommand::Audit(AuditCommand::Verify) => audit::audit_verify(settings).await,
        TaskCommand::Export(args) => finance::export(args, settings).await,
        TaskCommand::Report(ReportCommand::Kpis { period, json }) => {
            finance::report_kpis(period, json, settings).await
        }
        TaskCommand::Ops(args) => ops::ops(args, settings).await,
        TaskCommand::Reconcile {
            action: None,
            dry_run,
            json,
        } => maintenance::reconcile(dry_run, json, settings).await,
        TaskCommand::Reconcile {
            action: Some(cmd), ..
        } => three_way::three_way(cmd, settings).await,
        TaskCommand::Retention(RetentionCommand::Purge { dry_run, json }) => {
            maintenance::retention_purge(dry_run, json, settings).await
        }
        TaskCommand::Privacy(cmd) => privacy::privacy(cmd, settings).await,
        TaskCommand::GoliveCheck(args) => golive::golive_check(args, settings).await,
    }
}
