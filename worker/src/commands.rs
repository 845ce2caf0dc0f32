//! One-shot CLI commands that act on the data: `employees import` and
//! `links create`. Each connects, migrates nothing, does its work through the
//! same `jobs` functions the HTTP API uses, and reports.

use std::io::{IsTerminal, Write};

use anyhow::{Context as _, bail};
use jobs::referral::{employees, links};

use crate::{
    cli::{EmployeesCommand, LinksCommand},
    config::Settings,
    runtime::connect_database,
};

/// The actor recorded in audit events for CLI actions.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// `employees import FILE.csv`.
///
/// # Errors
/// An unreadable file, a header without the required columns, a database
/// failure, or any bad row (after importing the good ones).
pub async fn employees(cmd: EmployeesCommand, settings: &Settings) -> anyhow::Result<()> {
    let EmployeesCommand::Import { file } = cmd;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (good, bad) =
        employees::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let db = connect_database(settings).await?;
    let total = good.len();
    let progress = std::io::stderr().is_terminal();
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut failed = Vec::new();
    for (i, (line, rec)) in good.into_iter().enumerate() {
        match employees::upsert(&db, &actor(), &rec).await {
            Ok(employees::Upserted::Created) => created += 1,
            Ok(employees::Upserted::Updated) => updated += 1,
            Ok(employees::Upserted::Unchanged) => unchanged += 1,
            Err(e @ jobs::Error::Invalid { .. }) => failed.push((line, e.to_string())),
            Err(e) => return Err(e).with_context(|| format!("line {line}: storing employee")),
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

/// `links create --employee E --job J`.
///
/// # Errors
/// An unknown or inactive employee (named), or a database failure.
pub async fn links(cmd: LinksCommand, settings: &Settings) -> anyhow::Result<()> {
    let LinksCommand::Create {
        employee,
        job,
        expires_in,
        json,
    } = cmd;
    let db = connect_database(settings).await?;
    let ttl = expires_in.unwrap_or(settings.referrals.link_ttl);
    let minted = links::mint(
        &db,
        &actor(),
        &employee,
        &job,
        ttl,
        &settings.referrals.careers_base_url,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&minted)?);
    } else {
        println!("token:      {}", minted.token);
        println!("url:        {}", minted.url);
        println!("expires_at: {}", minted.expires_at.to_rfc3339());
    }
    Ok(())
}
