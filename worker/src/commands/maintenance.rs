//! The maintenance runs on demand: `reconcile` and `retention purge`, the
//! same runs the schedules enqueue (see `runtime::schedules`), now and
//! under a trigger of their own.

use anyhow::bail;

use super::actor::actor;
use crate::{config::Settings, runtime::connect_job_context};

/// `reconcile [--dry-run] [--json]`: one run now, under a trigger of its
/// own; exits 1 when a variance was found, so a script can alert.
///
/// # Errors
/// A database, queue or ATS failure; any variance.
pub(super) async fn reconcile(
    dry_run: bool,
    json: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let ctx = connect_job_context(settings).await?;
    let trigger = format!("manual:cli:{}", ulid::Ulid::generate());
    let report = jobs::maintenance::reconcile::run(&ctx, &trigger, dry_run, &actor())
        .await?
        .ok_or_else(|| anyhow::anyhow!("{trigger} already ran"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "reconciliation run {} ({}{}): {} variance(s)",
            report.run_id,
            report.trigger,
            if dry_run { ", dry run" } else { "" },
            report.variances.len()
        );
        for v in &report.variances {
            println!(
                "  {:<26} {:<16} {:<12} {}{}",
                serde_json::to_value(v.kind)?.as_str().unwrap_or_default(),
                v.subject_type,
                v.subject_id,
                v.detail,
                if v.fixed { "  (fixed)" } else { "" }
            );
        }
    }
    if !report.variances.is_empty() {
        bail!("{} variance(s) found", report.variances.len());
    }
    Ok(())
}

/// `retention purge [--dry-run] [--json]`.
///
/// # Errors
/// A database failure.
pub(super) async fn retention_purge(
    dry_run: bool,
    json: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let ctx = connect_job_context(settings).await?;
    let report = jobs::maintenance::retention::purge(
        &ctx,
        settings.retention.purge_after,
        dry_run,
        &actor(),
    )
    .await?;
    let rejected = jobs::maintenance::retention::purge_rejected(
        &ctx.db,
        settings.retention.rejected_after,
        dry_run,
    )
    .await?;
    let referrers = jobs::maintenance::retention::purge_referrers(
        &ctx,
        settings.retention.referrer_after,
        dry_run,
        &actor(),
    )
    .await?;
    if json {
        let mut out = serde_json::to_value(&report)?;
        out["rejected_deliveries"] = rejected.into();
        out["referrers"] = serde_json::to_value(&referrers)?;
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} {} candidate(s) and {} inbox bodies older than {}",
            if dry_run { "would erase" } else { "erased" },
            report.candidates.len(),
            report.inbox_bodies,
            report.cutoff
        );
        println!(
            "{} {} refused deliveries older than {}",
            if dry_run { "would delete" } else { "deleted" },
            rejected,
            humantime::format_duration(settings.retention.rejected_after)
        );
        println!(
            "{} {} referrer(s) inactive since before {}",
            if dry_run { "would erase" } else { "erased" },
            referrers.referrers.len(),
            referrers.cutoff
        );
    }
    Ok(())
}
