//! The finance commands: `export DATASET` (streamed page by page, to a file
//! that only appears once complete) and `report kpis` (text tables or
//! JSON), over the same `jobs::finance` functions as `/api/exports` and
//! `/api/reports`.

use std::{
    fs::File,
    io::{BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use jobs::finance::{
    Period,
    export::{ExportRequest, Exporter},
    kpis::{self, Kpis},
};

use crate::{
    cli::{ExportArgs, PeriodArgs},
    config::Settings,
    runtime::connect_database,
};

/// The period of `--from`/`--to`, with the flag named when it is wrong.
fn period(args: PeriodArgs) -> anyhow::Result<Period> {
    Period::new(args.from, args.to).map_err(|e| match e {
        jobs::Error::Invalid { field, problem } => anyhow::anyhow!("--{field}: {problem}"),
        other => anyhow::Error::new(other),
    })
}

/// `export DATASET --from --to [--format] [--out FILE] [--include-test]`.
///
/// Writes page by page as the rows are read. With `--out`, the rows go to a
/// temporary file next to FILE that replaces it only once complete, so a
/// failed export never leaves a truncated file that looks finished.
///
/// # Errors
/// A bad period, a database failure, or a write failure.
pub(super) async fn export(args: ExportArgs, settings: &Settings) -> anyhow::Result<()> {
    let request = ExportRequest {
        dataset: args.dataset.into(),
        format: args.format.into(),
        period: period(args.period)?,
        include_test: args.include_test,
    };
    let db = connect_database(settings).await?;
    let partial = args.out.as_deref().map(partial_path);
    let mut sink: Box<dyn Write + Send> = match &partial {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let progress = std::io::stderr().is_terminal();
    let mut exporter = Exporter::new(request);
    let written: anyhow::Result<()> = async {
        while let Some(chunk) = exporter
            .next_chunk(&db)
            .await
            .with_context(|| format!("reading {}", request.dataset))?
        {
            sink.write_all(&chunk.bytes).context("writing the export")?;
            if progress {
                eprint!(
                    "\rexporting {}: {} rows",
                    request.dataset,
                    exporter.rows_written()
                );
                let _ = std::io::stderr().flush();
            }
        }
        sink.flush().context("writing the export")
    }
    .await;
    drop(sink);
    if progress {
        eprintln!();
    }
    if let Err(e) = written {
        if let Some(path) = &partial {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    if let (Some(out), Some(partial)) = (&args.out, &partial) {
        std::fs::rename(partial, out)
            .with_context(|| format!("moving the export to {}", out.display()))?;
        println!(
            "{}: {} rows written to {}",
            request.dataset,
            exporter.rows_written(),
            out.display()
        );
    }
    Ok(())
}

/// `FILE` → `FILE.partial`, in the same directory so the rename is atomic.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// `report kpis --from --to [--json]`.
///
/// # Errors
/// A bad period or a database failure.
pub(super) async fn report_kpis(
    args: PeriodArgs,
    json: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let period = period(args)?;
    let db = connect_database(settings).await?;
    let kpis = kpis::compute(&db, period, &settings.reports.program_costs)
        .await
        .context("computing the KPIs")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&kpis)?);
    } else {
        print!("{}", kpi_table(&kpis));
    }
    Ok(())
}

/// The KPIs as the text tables `report kpis` prints.
fn kpi_table(k: &Kpis) -> String {
    use std::fmt::Write as _;

    use chrono::SecondsFormat;

    fn days(d: Option<f64>) -> String {
        d.map_or_else(|| "-".to_string(), |d| format!("{d:.1}"))
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "KPIs from {} until {} (exclusive), test records excluded",
        k.period.from.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        k.period.until.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    );
    let c = &k.conversion;
    let _ = writeln!(
        out,
        "\nReferral conversion (applications applied in the period)"
    );
    let _ = writeln!(
        out,
        "  referred applications  {:>8}",
        c.referred_applications
    );
    let _ = writeln!(out, "  hired                  {:>8}", c.hires);
    let rate = c
        .rate
        .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0));
    let _ = writeln!(out, "  conversion rate        {rate:>8}");
    let _ = writeln!(out, "\nTime to hire in days (hires in the period)");
    let _ = writeln!(
        out,
        "  {:<10} {:>6} {:>8} {:>8}",
        "", "hires", "median", "mean"
    );
    for (name, t) in [
        ("referred", &k.time_to_hire.referred),
        ("all", &k.time_to_hire.all),
    ] {
        let _ = writeln!(
            out,
            "  {name:<10} {:>6} {:>8} {:>8}",
            t.hires,
            days(t.median_days),
            days(t.mean_days)
        );
    }
    let _ = writeln!(out, "\nPayouts delivered (amounts in minor units)");
    if k.payouts_delivered.is_empty() {
        let _ = writeln!(out, "  none");
    } else {
        let _ = writeln!(
            out,
            "  {:<8} {:<8} {:>6} {:>16}",
            "month", "currency", "count", "amount_minor"
        );
        for m in &k.payouts_delivered {
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {:>6} {:>16}",
                m.month, m.currency, m.count, m.amount_minor
            );
        }
    }
    let _ = writeln!(out, "\nTop referrers (referrals credited in the period)");
    if k.top_referrers.is_empty() {
        let _ = writeln!(out, "  none");
    } else {
        let _ = writeln!(
            out,
            "  {:<16} {:>8} {:>6}  paid (minor units)",
            "employee", "credited", "hires"
        );
        for r in &k.top_referrers {
            let paid = if r.paid.is_empty() {
                "-".to_string()
            } else {
                r.paid
                    .iter()
                    .map(|a| format!("{} {}", a.currency, a.amount_minor))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "  {:<16} {:>8} {:>6}  {paid}",
                r.employee_id, r.credited_referrals, r.hires
            );
        }
    }
    programme_table(&mut out, &k.programme);
    out
}

/// Participation, the funnel and cost per hire, as `report kpis` prints
/// them after the KPIs above.
fn programme_table(out: &mut String, p: &jobs::finance::programme::Programme) {
    use std::fmt::Write as _;

    let part = &p.participation;
    let rate = part
        .rate
        .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0));
    let _ = writeln!(
        out,
        "\nParticipation (employees who minted a link in the period)"
    );
    let _ = writeln!(
        out,
        "  {} of {} active employees  {rate}",
        part.sharing_employees, part.active_employees
    );
    let _ = writeln!(
        out,
        "\nFunnel per referrer (links and referrals of the period)"
    );
    if p.funnel_by_referrer.is_empty() {
        let _ = writeln!(out, "  none");
    } else {
        let _ = writeln!(
            out,
            "  {:<16} {:>6} {:>7} {:>12} {:>6}",
            "employee", "links", "clicks", "applications", "hires"
        );
        for f in &p.funnel_by_referrer {
            let _ = writeln!(
                out,
                "  {:<16} {:>6} {:>7} {:>12} {:>6}",
                f.employee_id, f.links, f.clicks, f.applications, f.hires
            );
        }
    }
    let _ = writeln!(out, "\nCost per referred hire (minor units)");
    if p.cost_per_hire.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for c in &p.cost_per_hire {
        let per = c
            .per_hire_minor
            .map_or_else(|| "-".to_string(), |v| v.to_string());
        let _ = writeln!(
            out,
            "  {} bonuses {} + programme {} over {} hires = {per}",
            c.currency, c.bonuses_minor, c.program_costs_minor, c.hires
        );
    }
    let _ = writeln!(
        out,
        "\nHires by channel: referral {}, other {}",
        p.hires_by_channel.referral, p.hires_by_channel.other
    );
}
