//! `reconcile import-platform|import-crm FILE --period YYYY-MM` and
//! `reconcile three-way --period YYYY-MM`: the three-way reconciliation on
//! the command line, through the same `jobs::maintenance::three_way`
//! functions as `/api/reconciliation/...`.

use std::io::Read;

use anyhow::{Context, bail};
use entities::reconciliation_import::ImportSource;
use jobs::maintenance::three_way::{self, imports};

use super::actor::actor;
use crate::{
    cli::{ImportArgs, ReconcileCommand},
    config::Settings,
    runtime::connect_job_context,
};

/// Runs one `reconcile` subcommand.
///
/// # Errors
/// A bad file, period or row (named; nothing is stored); a database or ATS
/// failure; any variance of a three-way run.
pub(super) async fn three_way(cmd: ReconcileCommand, settings: &Settings) -> anyhow::Result<()> {
    match cmd {
        ReconcileCommand::ImportPlatform(args) => {
            import(ImportSource::Platform, args, settings).await
        }
        ReconcileCommand::ImportCrm(args) => import(ImportSource::Crm, args, settings).await,
        ReconcileCommand::ThreeWay { period, json } => run(&period, json, settings).await,
    }
}

async fn import(source: ImportSource, args: ImportArgs, settings: &Settings) -> anyhow::Result<()> {
    let month = imports::Month::parse(&args.period)?;
    let bytes = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    // Checked before connecting: a bad file changes nothing, even with the
    // database down.
    let rows = imports::parse_csv(source, month, &bytes)
        .with_context(|| format!("{} is refused", args.file.display()))?;
    let ctx = connect_job_context(settings).await?;
    let report = imports::store(&ctx.db, source, month, &rows, &actor()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} import {} for {}: {} row(s){}",
            serde_json::to_value(source)?.as_str().unwrap_or_default(),
            report.import_id,
            report.period,
            report.rows,
            if report.unchanged {
                ", unchanged"
            } else if report.replaced {
                ", replacing the earlier import"
            } else {
                ""
            }
        );
    }
    Ok(())
}

async fn run(period: &str, json: bool, settings: &Settings) -> anyhow::Result<()> {
    let month = imports::Month::parse(period)?;
    let ctx = connect_job_context(settings).await?;
    let trigger = format!("manual:three_way:cli:{}", ulid::Ulid::generate());
    let report = three_way::run(&ctx, &trigger, month.period()?, &actor())
        .await?
        .ok_or_else(|| anyhow::anyhow!("{trigger} already ran"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "three-way reconciliation run {} ({month}): {} variance(s)",
            report.run_id,
            report.variances.len()
        );
        for v in &report.variances {
            println!(
                "  {:<28} {:<18} {}",
                serde_json::to_value(v.kind)?.as_str().unwrap_or_default(),
                v.subject_type,
                v.subject_id,
            );
            if let Some(fix) = &v.suggested_fix {
                println!("      fix: {fix}");
            }
        }
    }
    if !report.variances.is_empty() {
        bail!("{} variance(s) found", report.variances.len());
    }
    Ok(())
}
