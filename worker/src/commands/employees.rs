//! `employees import FILE.csv`: the HRIS export, row by row through the
//! same `jobs::referral::employees` functions the `/api/employees` endpoint
//! uses; an employee reported inactive ends the probations that wait on
//! them (matched by identity: `jobs::referral::hires`), and one that
//! matches no hire is named for ops.

use std::io::{IsTerminal, Write};

use anyhow::{Context as _, bail};
use jobs::referral::{employees, hires};

use super::actor::actor;
use crate::{cli::EmployeesCommand, config::Settings, runtime::connect_job_context};

/// `employees import FILE.csv`.
///
/// # Errors
/// An unreadable file, a header without the required columns, a database
/// failure, or any bad row (after importing the good ones).
pub(super) async fn import_employees(
    cmd: EmployeesCommand,
    settings: &Settings,
) -> anyhow::Result<()> {
    let EmployeesCommand::Import { file } = cmd;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (good, bad) =
        employees::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // The job context, because an employee marked inactive may be a
    // referred hire in probation, whose termination cancels what waits.
    let ctx = connect_job_context(settings).await?;
    let db = ctx.db.clone();
    let total = good.len();
    let progress = std::io::stderr().is_terminal();
    let (mut created, mut updated, mut unchanged, mut terminated) = (0, 0, 0, 0);
    let mut unmatched = Vec::new();
    let mut failed = Vec::new();
    for (i, (line, rec)) in good.into_iter().enumerate() {
        match employees::upsert(&db, &actor(), &rec).await {
            Ok(employees::Upserted::Created) => created += 1,
            Ok(employees::Upserted::Updated) => updated += 1,
            Ok(employees::Upserted::Unchanged) => unchanged += 1,
            Err(e @ jobs::Error::Invalid { .. }) => failed.push((line, e.to_string())),
            Err(e) => return Err(e).with_context(|| format!("line {line}: storing employee")),
        }
        if rec.validate().is_ok() {
            if rec.active {
                hires::link(&ctx, &actor(), &rec)
                    .await
                    .with_context(|| format!("line {line}: linking a hire"))?;
            } else {
                let outcome = hires::terminated(
                    &ctx,
                    &actor(),
                    &rec,
                    "the HRIS import reports them inactive",
                )
                .await
                .with_context(|| format!("line {line}: ending a probation"))?;
                terminated += outcome.terminated.len();
                if let Some(id) = outcome.unmatched_id {
                    unmatched.push((line, rec.employee_id.trim().to_string(), id));
                }
            }
        }
        if progress && (i % 50 == 0 || i + 1 == total) {
            eprint!("\rimporting employees: {}/{total}", i + 1);
            let _ = std::io::stderr().flush();
        }
    }
    if progress && total > 0 {
        eprintln!();
    }
    println!("employees: {created} created, {updated} updated, {unchanged} unchanged");
    if terminated > 0 {
        println!("probations ended by the import: {terminated}");
    }
    for (line, employee_id, id) in &unmatched {
        println!(
            "line {line}: employee {employee_id} left but matched no hire while an unlinked hire \
             is in probation (unmatched termination {id}; listed by `ops stuck`)"
        );
    }
    let mut problems: Vec<(u64, String)> = bad.into_iter().map(|e| (e.line, e.problem)).collect();
    problems.extend(failed);
    problems.sort();
    for (line, problem) in &problems {
        eprintln!("{}:{line}: {problem}", file.display());
    }
    if !problems.is_empty() {
        bail!("{} row(s) not imported (listed above)", problems.len());
    }
    Ok(())
}
