//! One-shot CLI commands that act on the data: `employees import`,
//! `links create`, for finance `audit verify`, `export` and `report
//! kpis`, and for ops `ops ...` (the `/api/ops` API on the command line). Each connects, migrates nothing, does its work through the same
//! `jobs` functions the HTTP API uses, and reports. A failure returns an
//! error, which `main` prints and turns into exit status 1.

use std::{
    fs::File,
    io::{BufWriter, IsTerminal, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use jobs::{
    db::audit::{self, Verification},
    finance::{
        Period,
        export::{ExportRequest, Exporter},
        kpis::{self, Kpis},
    },
    referral::{employees, links},
};

use crate::{
    cli::{
        AuditCommand, EmployeesCommand, ExportArgs, LinksCommand, OpsArgs, OpsCommand, PeriodArgs,
        ReportCommand, ResolutionArg, TaskCommand,
    },
    config::Settings,
    runtime::connect_database,
};

/// The actor recorded in audit events for CLI actions.
fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// Runs one of the [`TaskCommand`]s (`runtime::run` hands them all here).
///
/// # Errors
/// What the command returns.
pub async fn task(cmd: TaskCommand, settings: &Settings) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::Employees(cmd) => import_employees(cmd, settings).await,
        TaskCommand::Audit(AuditCommand::Verify) => audit_verify(settings).await,
        TaskCommand::Export(args) => export(args, settings).await,
        TaskCommand::Report(ReportCommand::Kpis { period, json }) => {
            report_kpis(period, json, settings).await
        }
        TaskCommand::Ops(args) => ops(args, settings).await,
        TaskCommand::Reconcile { dry_run, json } => reconcile(dry_run, json, settings).await,
        TaskCommand::Retention(crate::cli::RetentionCommand::Purge { dry_run, json }) => {
            retention_purge(dry_run, json, settings).await
        }
        TaskCommand::GoliveCheck(args) => golive_check(args, settings).await,
    }
}

/// `reconcile [--dry-run] [--json]`: one run now, under a trigger of its
/// own; exits 1 when a variance was found, so a script can alert.
///
/// # Errors
/// A database, queue or ATS failure; any variance.
async fn reconcile(dry_run: bool, json: bool, settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::runtime::connect_job_context(settings).await?;
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
async fn retention_purge(dry_run: bool, json: bool, settings: &Settings) -> anyhow::Result<()> {
    let ctx = crate::runtime::connect_job_context(settings).await?;
    let report = jobs::maintenance::retention::purge(
        &ctx,
        settings.retention.purge_after,
        dry_run,
        &actor(),
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} {} candidate(s) and {} inbox bodies older than {}",
            if dry_run { "would erase" } else { "erased" },
            report.candidates.len(),
            report.inbox_bodies,
            report.cutoff
        );
    }
    Ok(())
}

/// `employees import FILE.csv`.
///
/// # Errors
/// An unreadable file, a header without the required columns, a database
/// failure, or any bad row (after importing the good ones).
async fn import_employees(cmd: EmployeesCommand, settings: &Settings) -> anyhow::Result<()> {
    let EmployeesCommand::Import { file } = cmd;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (good, bad) =
        employees::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    // The job context, because an employee marked inactive may be a
    // referred hire in probation, whose termination cancels what waits.
    let ctx = crate::runtime::connect_job_context(settings).await?;
    let db = ctx.db.clone();
    let total = good.len();
    let progress = std::io::stderr().is_terminal();
    let (mut created, mut updated, mut unchanged, mut terminated) = (0, 0, 0, 0);
    let mut failed = Vec::new();
    for (i, (line, rec)) in good.into_iter().enumerate() {
        match employees::upsert(&db, &actor(), &rec).await {
            Ok(employees::Upserted::Created) => created += 1,
            Ok(employees::Upserted::Updated) => updated += 1,
            Ok(employees::Upserted::Unchanged) => unchanged += 1,
            Err(e @ jobs::Error::Invalid { .. }) => failed.push((line, e.to_string())),
            Err(e) => return Err(e).with_context(|| format!("line {line}: storing employee")),
        }
        if !rec.active
            && let Ok(email) = rec.validate()
        {
            terminated += jobs::milestones::terminate_employee(
                &ctx,
                email.as_str(),
                "the HRIS import reports them inactive",
            )
            .await
            .with_context(|| format!("line {line}: ending a probation"))?
            .len();
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

/// `audit verify`: prints `OK: N events verified`, or the first broken row
/// on stdout and fails (exit 1).
///
/// # Errors
/// A broken chain or a database failure.
async fn audit_verify(settings: &Settings) -> anyhow::Result<()> {
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
async fn export(args: ExportArgs, settings: &Settings) -> anyhow::Result<()> {
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
async fn report_kpis(args: PeriodArgs, json: bool, settings: &Settings) -> anyhow::Result<()> {
    let period = period(args)?;
    let db = connect_database(settings).await?;
    let kpis = kpis::compute(&db, period)
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
    out
}

// ---------------------------------------------------------------------------
// ops
// ---------------------------------------------------------------------------

/// Exit status for a usage error found after parsing (a bad filter value).
const EXIT_USAGE: i32 = 2;

/// A `jobs` error as the CLI reports it: a bad value (which the API
/// answers 4xx) is a usage error, printed and exit 2; anything else is a
/// failure (exit 1, printed by `main`).
fn ops_error(e: jobs::Error) -> anyhow::Error {
    let job = |id: &str| {
        if jobs::queue::JobId::parse(id).is_ok() {
            format!("job {id}")
        } else {
            id.to_string()
        }
    };
    match e {
        jobs::Error::Invalid { field, problem } => {
            eprintln!("error: {field}: {problem}");
            std::process::exit(EXIT_USAGE);
        }
        jobs::Error::NotFound(what) => anyhow::anyhow!("{} not found", job(&what)),
        jobs::Error::InvalidState { id, state, reason } => {
            anyhow::anyhow!("{} is {state}: {reason}", job(&id))
        }
        other => anyhow::Error::new(other),
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A left-aligned text table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use std::fmt::Write as _;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

fn age(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn ms_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn payout_rows(items: &[jobs::ops::PayoutView]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.referral_id.to_string(),
                p.tranche.clone(),
                p.amount_minor.to_string(),
                p.currency.clone(),
                jobs::ops::name_of(&p.state)
                    + if p.awaiting_approval {
                        " (awaiting approval)"
                    } else {
                        ""
                    },
                p.attempts.to_string(),
                or_dash(p.send_job_id.as_deref()),
                cut(p.reason.as_deref().unwrap_or(""), 60),
            ]
        })
        .collect();
    table(
        &[
            "id", "referral", "tranche", "amount", "currency", "state", "attempts", "send job",
            "reason",
        ],
        &rows,
    )
}

fn print_payout(row: &entities::payout::Model, json: bool) -> anyhow::Result<()> {
    let view = jobs::ops::PayoutView::from(row);
    if json {
        print_json(&view)
    } else {
        print!("{}", payout_rows(&[view]));
        Ok(())
    }
}

fn print_action(out: &jobs::ops::JobActionOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(out);
    }
    if out.dry_run {
        println!(
            "dry run: {} job {} ({}) would go {} -> {}; nothing changed",
            out.action, out.job_id, out.kind, out.from, out.to
        );
    } else {
        println!(
            "{}: job {} ({}) {} -> {}",
            out.action, out.job_id, out.kind, out.from, out.to
        );
    }
    Ok(())
}

fn next_line(next: Option<impl std::fmt::Display>) {
    if let Some(n) = next {
        println!("more: --cursor {n}");
    }
}

/// `ops ...`: the same `jobs::ops` and ledger functions the API calls.
///
/// # Errors
/// Not found, not allowed in the current state (both exit 1 with the
/// message), storage failures. A bad value exits 2.
async fn ops(args: OpsArgs, settings: &Settings) -> anyhow::Result<()> {
    use jobs::ops as o;
    let json = args.json;
    let ctx = crate::runtime::connect_job_context(settings).await?;
    let actor = actor();
    match args.command {
        OpsCommand::Queues => {
            let queues = o::queues(&ctx.queue).await.map_err(ops_error)?;
            if json {
                return print_json(&serde_json::json!({ "queues": queues }));
            }
            for q in queues {
                println!("queue {} ({})", q.queue, q.backend);
                let rows: Vec<Vec<String>> = q
                    .states
                    .iter()
                    .map(|s| {
                        let (id, kind, a) = match &s.oldest {
                            Some(j) => (
                                j.job_id.clone(),
                                j.kind.clone(),
                                format!("{} (since {})", age(j.age_ms), j.since),
                            ),
                            None => ("-".into(), "-".into(), "-".into()),
                        };
                        vec![s.state.to_string(), s.count.to_string(), a, kind, id]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["state", "count", "oldest age", "kind", "job"], &rows)
                );
            }
        }
        OpsCommand::Jobs {
            state,
            kind,
            referral_id,
            candidate_ats_id,
            from,
            to,
            cursor,
            limit,
        } => {
            let cursor = cursor
                .as_deref()
                .map(o::JobCursor::parse)
                .transpose()
                .map_err(ops_error)?;
            let q = o::JobQuery {
                queue: None,
                state,
                kind,
                referral_id,
                candidate_ats_id,
                from,
                to,
                cursor,
                limit: o::page_limit(Some(limit)),
            };
            let listing = o::list_jobs(&ctx, &q).await.map_err(ops_error)?;
            if json {
                return print_json(&listing);
            }
            let rows: Vec<Vec<String>> = listing
                .jobs
                .iter()
                .map(|j| {
                    vec![
                        j.id.clone(),
                        j.kind.clone(),
                        j.state.to_string(),
                        format!("{}/{}", j.attempts, j.max_attempts),
                        ms_time(j.created_at),
                        cut(j.last_error.as_deref().unwrap_or(""), 60),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["id", "kind", "state", "attempts", "enqueued", "last error"],
                    &rows
                )
            );
            next_line(listing.next);
        }
        OpsCommand::Job { id } => {
            let id = o::parse_job_id("id", &id).map_err(ops_error)?;
            let detail = o::job(&ctx, &id).await.map_err(ops_error)?;
            if json {
                return print_json(&detail);
            }
            let j = &detail.job;
            println!("job       {}", j.id);
            println!("kind      {}", j.kind);
            println!("state     {}", j.state);
            println!("attempts  {}/{}", j.attempts, j.max_attempts);
            println!(
                "payload   {}{}",
                j.payload,
                if j.payload_masked { " (masked)" } else { "" }
            );
            if let Some(e) = &j.last_error {
                println!("error     {}", cut(e, 200));
            }
            println!("\ntimeline");
            let rows: Vec<Vec<String>> = j
                .timeline
                .iter()
                .map(|e| {
                    vec![
                        time(Some(e.at)),
                        e.event.to_string(),
                        or_dash(e.attempt),
                        or_dash(e.worker.as_deref()),
                        cut(e.detail.as_deref().unwrap_or(""), 100),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["at", "event", "attempt", "worker", "detail"], &rows)
            );
            if !detail.audit.is_empty() {
                println!("\nops actions");
                let rows: Vec<Vec<String>> = detail
                    .audit
                    .iter()
                    .map(|a| {
                        vec![
                            time(Some(a.occurred_at)),
                            a.actor.clone(),
                            a.action.clone(),
                            a.data["reason"].as_str().unwrap_or("").to_string(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["at", "actor", "action", "reason"], &rows));
            }
        }
        OpsCommand::Retry {
            id,
            reason,
            dry_run,
        } => {
            let id = o::parse_job_id("id", &id).map_err(ops_error)?;
            let out = o::retry_job(&ctx, &id, &actor, &reason.reason, dry_run)
                .await
                .map_err(ops_error)?;
            print_action(&out, json)?;
        }
        OpsCommand::Cancel {
            id,
            reason,
            dry_run,
        } => {
            let id = o::parse_job_id("id", &id).map_err(ops_error)?;
            let out = o::cancel_job(&ctx, &id, &actor, &reason.reason, dry_run)
                .await
                .map_err(ops_error)?;
            print_action(&out, json)?;
        }
        OpsCommand::RequeueDead {
            kind,
            reason,
            dry_run,
        } => {
            let out = o::requeue_dead(&ctx, &kind, &actor, &reason.reason, dry_run)
                .await
                .map_err(ops_error)?;
            if json {
                return print_json(&out);
            }
            if out.dry_run {
                println!(
                    "dry run: {} dead {} job(s) would be retried; nothing changed",
                    out.count, out.kind
                );
                let rows: Vec<Vec<String>> = out
                    .jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.clone(),
                            j.attempts.to_string(),
                            time(j.finished_at),
                            cut(j.last_error.as_deref().unwrap_or(""), 80),
                        ]
                    })
                    .collect();
                if !rows.is_empty() {
                    print!(
                        "{}",
                        table(&["id", "attempts", "died", "last error"], &rows)
                    );
                }
            } else {
                println!("requeued {} dead {} job(s)", out.count, out.kind);
            }
        }
        OpsCommand::Stuck => {
            let items = o::stuck(&ctx, settings.payouts.timer_sweep)
                .await
                .map_err(ops_error)?;
            if json {
                return print_json(&serde_json::json!({ "count": items.len(), "items": items }));
            }
            if items.is_empty() {
                println!("nothing is stuck");
            }
            for item in &items {
                let ids: Vec<String> = item
                    .ids
                    .iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                println!("{}  {}", item.kind, ids.join(" "));
                println!("    {}", item.reason);
                println!(
                    "    since {}; next check {}",
                    time(item.since),
                    time(Some(item.next_check))
                );
            }
            if !items.is_empty() {
                println!("{} item(s)", items.len());
            }
        }
        OpsCommand::Inbox {
            source,
            status,
            cursor,
            limit,
        } => {
            let page = o::inbox(&ctx, source, status, cursor, o::page_limit(Some(limit)))
                .await
                .map_err(ops_error)?;
            if json {
                return print_json(&page);
            }
            let rows: Vec<Vec<String>> = page
                .items
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        o::name_of(&r.source),
                        o::name_of(&r.status),
                        or_dash(r.event.as_deref()),
                        time(Some(r.received_at)),
                        r.http_status.to_string(),
                        or_dash(r.job_id.as_deref()),
                        or_dash(r.body_bytes),
                        cut(r.error.as_deref().unwrap_or(""), 60),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "id", "source", "status", "event", "received", "http", "job", "bytes",
                        "error"
                    ],
                    &rows
                )
            );
            next_line(page.next);
        }
        OpsCommand::Replay { id, reason } => {
            match o::replay(&ctx, id, &actor, &reason.reason)
                .await
                .map_err(ops_error)?
            {
                Ok(out) if json => return print_json(&out),
                Ok(out) => println!(
                    "inbox row {} replayed as row {}, job {}",
                    out.inbox_id,
                    out.replay_inbox_id,
                    or_dash(out.job_id.as_deref())
                ),
                Err(refused) => bail!("{refused}"),
            }
        }
        OpsCommand::Payouts {
            state,
            cursor,
            limit,
        } => {
            let page = o::payouts(&ctx, state, cursor, o::page_limit(Some(limit)))
                .await
                .map_err(ops_error)?;
            if json {
                return print_json(&page);
            }
            print!("{}", payout_rows(&page.items));
            next_line(page.next);
        }
        OpsCommand::Approve { id, reason } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let row = jobs::payout::approval::approve(&ctx, id, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)?;
        }
        OpsCommand::Hold { id, reason } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let row = jobs::payout::approval::hold(&ctx, id, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)?;
        }
        OpsCommand::Resolve {
            id,
            resolution,
            reason,
        } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let resolution = match resolution {
                ResolutionArg::Delivered => jobs::payout::approval::Resolution::Delivered,
                ResolutionArg::Resend => jobs::payout::approval::Resolution::Resend,
            };
            let row = jobs::payout::approval::resolve(&ctx, id, resolution, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)?;
        }
        OpsCommand::Workflow { referral_id } => {
            let w = o::workflow(&ctx, referral_id).await.map_err(ops_error)?;
            if json {
                return print_json(&w);
            }
            print!("{}", workflow_text(&w));
        }
    }
    Ok(())
}

/// A referral's workflow as text.
fn workflow_text(w: &jobs::ops::Workflow) -> String {
    use std::fmt::Write as _;

    use jobs::ops::name_of;
    let link = |l: &jobs::ops::JobLink| match (&l.job_id, l.state) {
        (None, _) => "-".to_string(),
        (Some(id), Some(s)) => format!("{id} ({s}{})", if l.live { ", live" } else { "" }),
        (Some(id), None) => format!("{id} (gone)"),
    };
    let r = &w.referral;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "referral {}: {} by employee {} ({}), referred {}",
        r.id,
        name_of(&r.state),
        r.employee_id,
        name_of(&r.source),
        time(Some(r.referred_at))
    );
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "  reason: {reason}");
    }
    match &w.application {
        Some(a) => {
            let _ = writeln!(
                out,
                "application {}: {} {} for job {}, {}{}, hired {}, starts {}",
                a.id,
                name_of(&a.ats),
                a.ats_application_id,
                a.job_id,
                name_of(&a.status),
                a.stage
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
                time(a.hired_at),
                time(a.start_date)
            );
        }
        None => {
            let _ = writeln!(out, "application: none");
        }
    }
    let _ = writeln!(out, "\nmilestones");
    let rows: Vec<Vec<String>> = w
        .milestones
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                name_of(&m.kind),
                name_of(&m.state),
                time(m.occurred_at),
                time(m.due_at),
                link(&m.timer_job),
            ]
        })
        .collect();
    out.push_str(&table(
        &["id", "kind", "state", "reached", "due", "timer job"],
        &rows,
    ));
    let _ = writeln!(out, "\npayouts");
    let rows: Vec<Vec<String>> = w
        .payouts
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.tranche.clone(),
                format!("{} {}", p.amount_minor, p.currency),
                name_of(&p.state),
                p.attempts.to_string(),
                p.send_job.as_ref().map(link).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table(
        &["id", "tranche", "amount", "state", "attempts", "send job"],
        &rows,
    ));
    let _ = writeln!(out, "\noutbox messages");
    let rows: Vec<Vec<String>> = w
        .messages
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                name_of(&m.channel),
                m.event_type.clone(),
                format!(
                    "{} {}",
                    m.subject_type.as_deref().unwrap_or("-"),
                    or_dash(m.subject_id)
                ),
                name_of(&m.state),
                m.attempts.to_string(),
                link(&m.job),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "id", "channel", "type", "subject", "state", "attempts", "job",
        ],
        &rows,
    ));
    out
}

// ---------------------------------------------------------------------------
// golive-check
// ---------------------------------------------------------------------------

/// The employee the go-live check refers from (upserted every run).
const GOLIVE_EMPLOYEE: &str = "golive-check";
/// The job its test application is for.
const GOLIVE_JOB: &str = "golive-check";
/// The hops, in the order they are reported.
const GOLIVE_HOPS: [&str; 7] = [
    "received",
    "attributed",
    "written back",
    "status synced",
    "milestone",
    "payout sent",
    "audit",
];

/// One hop of the go-live check.
#[derive(Debug, Clone, serde::Serialize)]
struct Hop {
    hop: &'static str,
    ok: bool,
    at: Option<String>,
    result: String,
}

/// The go-live run: what the service was sent and what it answered.
struct Golive {
    client: jobs::outbound::service_client::ServiceClient,
    links: String,
    employees: String,
    ops: String,
    secret: String,
    deadline: tokio::time::Instant,
}

fn value_str(v: &serde_json::Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl Golive {
    fn timed_out(&self) -> bool {
        tokio::time::Instant::now() >= self.deadline
    }

    async fn pause(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    /// Delivers a careers-site body, signed; returns the inbox id of a 202.
    async fn deliver(&self, body: &serde_json::Value) -> anyhow::Result<i64> {
        let bytes = serde_json::to_vec(body)?;
        let msg_id = format!(
            "msg_golive{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let headers =
            jobs::outbound::service_client::careers_site_headers(&self.secret, &msg_id, &bytes)?;
        let answer = self
            .client
            .post_raw("/webhooks/applications", &headers, bytes)
            .await?;
        if answer.status != 202 {
            bail!(
                "POST /webhooks/applications answered {}: {}",
                answer.status,
                answer.body
            );
        }
        answer.body["inbox_id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("202 without inbox_id: {}", answer.body))
    }

    /// Polls the inbox until row `id` is processed (or failed, or time is up).
    async fn inbox_row(&self, id: i64) -> anyhow::Result<serde_json::Value> {
        loop {
            let answer = self
                .client
                .get("/api/ops/inbox?source=careers_site&limit=100", &self.ops)
                .await?;
            if !answer.ok() {
                bail!(
                    "GET /api/ops/inbox answered {}: {}",
                    answer.status,
                    answer.body
                );
            }
            let row = answer.body["items"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["id"].as_i64() == Some(id)))
                .cloned();
            if let Some(row) = &row
                && matches!(
                    row["status"].as_str(),
                    Some("processed" | "failed" | "ignored")
                )
            {
                return Ok(row.clone());
            }
            if self.timed_out() {
                return Ok(row.unwrap_or(serde_json::Value::Null));
            }
            self.pause().await;
        }
    }

    async fn workflow(&self, referral_id: i64) -> anyhow::Result<serde_json::Value> {
        let answer = self
            .client
            .get(&format!("/api/ops/workflows/{referral_id}"), &self.ops)
            .await?;
        if !answer.ok() {
            bail!(
                "GET /api/ops/workflows/{referral_id} answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body)
    }

    /// The referral whose application is the submission `submission_id`.
    async fn find_referral(&self, submission_id: &str) -> anyhow::Result<Option<i64>> {
        loop {
            let answer = self
                .client
                .get("/api/ops/workflows?limit=50", &self.ops)
                .await?;
            if !answer.ok() {
                bail!(
                    "GET /api/ops/workflows answered {}: {}",
                    answer.status,
                    answer.body
                );
            }
            let candidates: Vec<i64> = answer.body["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|r| r["employee_id"] == GOLIVE_EMPLOYEE)
                        .filter_map(|r| r["id"].as_i64())
                        .collect()
                })
                .unwrap_or_default();
            for id in candidates {
                let wf = self.workflow(id).await?;
                if wf["application"]["ats_application_id"] == submission_id {
                    return Ok(Some(id));
                }
            }
            if self.timed_out() {
                return Ok(None);
            }
            self.pause().await;
        }
    }

    /// Whether the workflow has settled: the hire reached, the probation
    /// armed (or reached), the hire tranche finished, no message pending.
    fn settled(wf: &serde_json::Value) -> bool {
        let milestones = wf["milestones"].as_array().cloned().unwrap_or_default();
        let hire = milestones
            .iter()
            .any(|m| m["kind"] == "hire" && m["state"] == "reached");
        let probation = milestones.iter().any(|m| {
            m["kind"] != "hire" && matches!(m["state"].as_str(), Some("armed" | "reached"))
        });
        let payouts = wf["payouts"].as_array().cloned().unwrap_or_default();
        let hire_paid = hire_payout(wf).is_some_and(|p| {
            matches!(
                p["state"].as_str(),
                Some("delivered" | "failed" | "dead" | "outcome_unknown" | "ineligible" | "held")
            ) || p["awaiting_approval"] == true
        });
        let messages_done = wf["messages"]
            .as_array()
            .is_none_or(|ms| ms.iter().all(|m| m["state"] != "pending"));
        hire && probation && !payouts.is_empty() && hire_paid && messages_done
    }

    /// The audit events of the run (whole log between `from` and now, as
    /// the finance export serves it).
    async fn audit(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = chrono::Utc::now() + chrono::Duration::minutes(1);
        let path = format!(
            "/api/exports/audit?from={}&to={}&format=json&include_test=true",
            fmt(from - chrono::Duration::minutes(1)),
            fmt(to)
        );
        let answer = self.client.get(&path, &self.ops).await?;
        if !answer.ok() {
            bail!(
                "GET /api/exports/audit answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body.as_array().cloned().unwrap_or_default())
    }

    async fn jobs_of(&self, referral_id: i64) -> anyhow::Result<Vec<serde_json::Value>> {
        let answer = self
            .client
            .get(
                &format!("/api/ops/jobs?referral_id={referral_id}&limit=200"),
                &self.ops,
            )
            .await?;
        if !answer.ok() {
            bail!(
                "GET /api/ops/jobs answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body["jobs"].as_array().cloned().unwrap_or_default())
    }
}

/// The hire tranche of a workflow: the payout for the hire milestone.
fn hire_payout(wf: &serde_json::Value) -> Option<serde_json::Value> {
    let hire_id = wf["milestones"]
        .as_array()?
        .iter()
        .find(|m| m["kind"] == "hire")
        .and_then(|m| m["id"].as_i64())?;
    wf["payouts"]
        .as_array()?
        .iter()
        .find(|p| p["milestone_id"].as_i64() == Some(hire_id))
        .cloned()
}

fn millis_to_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `golive-check [--base-url URL] [--json] [--timeout D]`: drives a test
/// referral through a running service and prints each hop.
///
/// # Errors
/// Missing tokens or secret; the first hop that failed.
async fn golive_check(args: crate::cli::GoliveArgs, settings: &Settings) -> anyhow::Result<()> {
    use crate::config::Scope;
    let token = |scope: Scope| {
        settings
            .api
            .tokens
            .iter()
            .find(|t| t.scopes.contains(&scope))
            .map(|t| t.token.expose().to_owned())
    };
    let (links, employees, ops) = (
        token(Scope::Links),
        token(Scope::Employees),
        token(Scope::OpsRead),
    );
    let missing: Vec<&str> = [
        ("links", &links),
        ("employees", &employees),
        ("ops_read", &ops),
    ]
    .into_iter()
    .filter(|(_, t)| t.is_none())
    .map(|(s, _)| s)
    .collect();
    let (Some(links), Some(employees), Some(ops)) = (links, employees, ops) else {
        bail!(
            "golive-check needs API tokens in [[api.tokens]] with the scopes links, employees and \
             ops_read (one token may hold all three); none has: {}",
            missing.join(", ")
        );
    };
    let secret = settings.webhooks.careers_site_secret.expose().to_owned();
    if secret.is_empty() {
        bail!(
            "golive-check signs its test application with webhooks.careers_site_secret, which is not set"
        );
    }
    let base = args
        .base_url
        .clone()
        .unwrap_or_else(|| settings.http.public_base_url.clone());
    let run = Golive {
        client: jobs::outbound::service_client::ServiceClient::new(
            &base,
            std::time::Duration::from_secs(15),
        )?,
        links,
        employees,
        ops,
        secret,
        deadline: tokio::time::Instant::now() + args.timeout,
    };
    let started = chrono::Utc::now();
    let mut hops: Vec<Hop> = Vec::new();
    let (referral_id, outcome) = match golive_hops(&run, started, &mut hops).await {
        Ok(id) => (id, None),
        Err(e) => (None, Some(e)),
    };
    // A step that could not run fails its hop; the rest were not reached.
    if let Some(e) = &outcome {
        let next = GOLIVE_HOPS[hops.len().min(GOLIVE_HOPS.len() - 1)];
        if hops.len() < GOLIVE_HOPS.len() {
            hops.push(Hop {
                hop: next,
                ok: false,
                at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                result: format!("{e:#}"),
            });
        }
    }
    for name in GOLIVE_HOPS.iter().skip(hops.len()) {
        hops.push(Hop {
            hop: name,
            ok: false,
            at: None,
            result: "not reached".into(),
        });
    }
    let failed = hops.iter().find(|h| !h.ok).cloned();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": failed.is_none(),
                "base_url": base,
                "referral_id": referral_id,
                "hops": hops,
            }))?
        );
    } else {
        println!("go-live check against {base}");
        for h in &hops {
            println!(
                "  {:<14} {:<4} {:<25} {}",
                h.hop,
                if h.ok { "ok" } else { "FAIL" },
                h.at.as_deref().unwrap_or("-"),
                h.result
            );
        }
    }
    match failed {
        None => Ok(()),
        Some(h) => bail!("go-live check failed at hop `{}`: {}", h.hop, h.result),
    }
}

/// Runs the check, pushing each hop as it is judged; returns the test
/// referral's id.
async fn golive_hops(
    run: &Golive,
    started: chrono::DateTime<chrono::Utc>,
    hops: &mut Vec<Hop>,
) -> anyhow::Result<Option<i64>> {
    use serde_json::json;
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let tag = ulid::Ulid::generate().to_string().to_lowercase();

    // Setup: the referrer and its link.
    let answer = run
        .client
        .post_json(
            "/api/employees",
            &run.employees,
            &json!({ "employee_id": GOLIVE_EMPLOYEE, "email": "golive-check@example.com",
                     "name": "Go-live check", "active": true }),
        )
        .await?;
    if !answer.ok() {
        bail!(
            "POST /api/employees answered {}: {}",
            answer.status,
            answer.body
        );
    }
    let answer = run
        .client
        .post_json(
            "/api/referral-links",
            &run.links,
            &json!({ "employee_id": GOLIVE_EMPLOYEE, "job_id": GOLIVE_JOB }),
        )
        .await?;
    let link = match value_str(&answer.body["token"]) {
        Some(t) if answer.status == 201 => t,
        _ => bail!(
            "POST /api/referral-links answered {}: {}",
            answer.status,
            answer.body
        ),
    };

    // received
    let submission = format!("sub_golive{tag}");
    let inbox_id = run
        .deliver(&json!({
            "type": "application.submitted",
            "test": true,
            "submission_id": submission,
            "submitted_at": now(),
            "job": { "ats": "careers_site", "ats_job_id": GOLIVE_JOB, "title": "Go-live check" },
            "tracking": { "ref": link, "ref_source": "golive-check" },
            "applicant": { "first_name": "Go-live", "last_name": "Check",
                           "email": format!("golive+{tag}@example.com") },
            "consent": { "processing": true },
        }))
        .await?;
    let row = run.inbox_row(inbox_id).await?;
    let processed = row["status"] == "processed";
    hops.push(Hop {
        hop: "received",
        ok: processed,
        at: value_str(&row["received_at"]),
        result: if processed {
            format!("inbox {inbox_id} processed (HTTP {})", row["http_status"])
        } else {
            format!(
                "inbox {inbox_id} is {} {}",
                row["status"],
                row["error"].as_str().unwrap_or("")
            )
        },
    });
    if !processed {
        return Ok(None);
    }

    // attributed
    let Some(referral_id) = run.find_referral(&submission).await? else {
        bail!("no referral was recorded for the test submission");
    };
    let wf = run.workflow(referral_id).await?;
    let credited = wf["referral"]["state"] == "credited";
    hops.push(Hop {
        hop: "attributed",
        ok: credited && wf["referral"]["is_test"] == true,
        at: value_str(&wf["referral"]["decided_at"]),
        result: format!(
            "referral {referral_id} {} to {GOLIVE_EMPLOYEE} (is_test: {}){}",
            wf["referral"]["state"].as_str().unwrap_or("?"),
            wf["referral"]["is_test"],
            wf["referral"]["reason"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    });
    if !credited {
        return Ok(Some(referral_id));
    }

    // The hire, starting today: the probation timer is armed for today +
    // the rule's probation (months, for a real rule), so it is reported as
    // armed with its due time and not waited for.
    let hired = run
        .deliver(&json!({
            "type": "application.status_changed",
            "changed_at": now(),
            "application": { "id": submission, "ats": "careers_site", "status": "hired",
                             "stage": "Hired",
                             "start_date": chrono::Utc::now().format("%Y-%m-%d").to_string() },
        }))
        .await?;
    let row = run.inbox_row(hired).await?;
    if row["status"] != "processed" {
        bail!(
            "the hire event (inbox {hired}) is {} {}",
            row["status"],
            row["error"].as_str().unwrap_or("")
        );
    }
    let mut wf = run.workflow(referral_id).await?;
    let mut jobs = run.jobs_of(referral_id).await?;
    loop {
        let write_back_done = jobs
            .iter()
            .filter(|j| j["kind"] == "write_back_referral")
            .all(|j| {
                matches!(
                    j["state"].as_str(),
                    Some("succeeded" | "dead" | "cancelled")
                )
            });
        if (Golive::settled(&wf) && write_back_done) || run.timed_out() {
            break;
        }
        run.pause().await;
        wf = run.workflow(referral_id).await?;
        jobs = run.jobs_of(referral_id).await?;
    }
    let audit = run.audit(started).await?;
    let recorded = |message_id: &str| {
        audit.iter().any(|e| {
            e["action"] == jobs::outbound::sandbox::RECORDED
                && e["data"]["message_id"] == message_id
        })
    };

    // written back
    let wb_jobs: Vec<&serde_json::Value> = jobs
        .iter()
        .filter(|j| j["kind"] == "write_back_referral")
        .collect();
    let rid = referral_id.to_string();
    let wb_events: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| e["subject_type"] == "referral" && e["subject_id"] == rid.as_str())
        .filter(|e| {
            matches!(
                e["action"].as_str(),
                Some("attribution.written_back" | "attribution.write_back_skipped")
            ) || e["action"] == jobs::outbound::sandbox::RECORDED
        })
        .collect();
    let wb_ok = !wb_jobs.is_empty() && wb_jobs.iter().all(|j| j["state"] == "succeeded");
    hops.push(Hop {
        hop: "written back",
        ok: wb_ok,
        at: wb_events
            .last()
            .and_then(|e| value_str(&e["at"]))
            .or_else(|| {
                wb_jobs
                    .last()
                    .and_then(|j| millis_to_rfc3339(j["finished_at"].as_i64()))
            }),
        result: {
            let states: Vec<String> = wb_jobs
                .iter()
                .map(|j| {
                    format!(
                        "{} {}",
                        j["id"].as_str().unwrap_or("?"),
                        j["state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            let what = if wb_events
                .iter()
                .any(|e| e["action"] == jobs::outbound::sandbox::RECORDED)
            {
                "recorded in sandbox".to_string()
            } else if let Some(e) = wb_events
                .iter()
                .rev()
                .find(|e| e["action"] == "attribution.write_back_skipped")
            {
                format!("skipped: {}", e["data"]["reason"].as_str().unwrap_or(""))
            } else if wb_events
                .iter()
                .any(|e| e["action"] == "attribution.written_back")
            {
                "written back".to_string()
            } else {
                "no write-back recorded".to_string()
            };
            format!("write_back_referral job(s) [{}]: {what}", states.join(", "))
        },
    });

    // status synced
    let messages = wf["messages"].as_array().cloned().unwrap_or_default();
    let syncs: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["channel"] != "alert")
        .collect();
    let delivered = syncs.iter().filter(|m| m["state"] == "delivered").count();
    hops.push(Hop {
        hop: "status synced",
        ok: delivered == syncs.len(),
        at: syncs
            .iter()
            .filter_map(|m| value_str(&m["delivered_at"]))
            .max(),
        result: if syncs.is_empty() {
            "no status-sync or CRM message (destinations not configured)".to_string()
        } else {
            let summary: Vec<String> = syncs
                .iter()
                .map(|m| {
                    format!(
                        "{} {} {}",
                        m["channel"].as_str().unwrap_or("?"),
                        m["event_type"].as_str().unwrap_or("?"),
                        m["state"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            format!(
                "{delivered}/{} delivered: {}",
                syncs.len(),
                summary.join("; ")
            )
        },
    });

    // milestone
    let milestones = wf["milestones"].as_array().cloned().unwrap_or_default();
    let hire = milestones.iter().find(|m| m["kind"] == "hire");
    let probation = milestones.iter().find(|m| m["kind"] != "hire");
    let hire_ok = hire.is_some_and(|m| m["state"] == "reached");
    let probation_ok =
        probation.is_some_and(|m| matches!(m["state"].as_str(), Some("armed" | "reached")));
    hops.push(Hop {
        hop: "milestone",
        ok: hire_ok && probation_ok,
        at: hire.and_then(|m| value_str(&m["occurred_at"])),
        result: format!(
            "hire {}; probation {}{}",
            hire.and_then(|m| m["state"].as_str()).unwrap_or("missing"),
            probation
                .and_then(|m| m["state"].as_str())
                .unwrap_or("missing"),
            probation
                .and_then(|m| m["due_at"].as_str())
                .map(|d| format!(", due {d} (not waited for)"))
                .unwrap_or_default()
        ),
    });

    // payout sent
    let payout = hire_payout(&wf);
    let payout_ok = payout.as_ref().is_some_and(|p| p["state"] == "delivered");
    hops.push(Hop {
        hop: "payout sent",
        ok: payout_ok && payout.as_ref().is_some_and(|p| p["is_test"] == true),
        at: payout.as_ref().and_then(|p| value_str(&p["delivered_at"])),
        result: match &payout {
            None => "no hire tranche".to_string(),
            Some(p) => format!(
                "payout {} ({} {} minor units) {}{}{} (is_test: {})",
                p["id"],
                p["currency"].as_str().unwrap_or("?"),
                p["amount_minor"],
                p["state"].as_str().unwrap_or("?"),
                p["last_status_code"]
                    .as_i64()
                    .map(|c| format!(", HTTP {c}"))
                    .unwrap_or_default(),
                if p["webhook_id"].as_str().is_some_and(recorded) {
                    ", recorded in sandbox"
                } else {
                    ""
                },
                p["is_test"],
            ),
        },
    });

    // audit
    let ids = |key: &str| -> Vec<String> {
        wf[key]
            .as_array()
            .map(|xs| xs.iter().map(|x| x["id"].to_string()).collect())
            .unwrap_or_default()
    };
    let (payout_ids, milestone_ids) = (ids("payouts"), ids("milestones"));
    let application_id = wf["application"]["id"].to_string();
    let events: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|e| {
            let id = e["subject_id"].as_str().unwrap_or("");
            match e["subject_type"].as_str() {
                Some("referral") => id == rid,
                Some("payout") => payout_ids.iter().any(|p| p == id),
                Some("milestone") => milestone_ids.iter().any(|m| m == id),
                Some("application") => id == application_id,
                Some("message") => payout
                    .as_ref()
                    .is_some_and(|p| p["webhook_id"].as_str() == Some(id)),
                _ => false,
            }
        })
        .collect();
    let has = |action: &str| events.iter().any(|e| e["action"] == action);
    let mut actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    actions.dedup();
    hops.push(Hop {
        hop: "audit",
        ok: has("attribution.credited") && has("payout.created") && has("payout.attempt"),
        at: events.last().and_then(|e| value_str(&e["at"])),
        result: format!("{} event(s): {}", events.len(), actions.join(", ")),
    });
    Ok(Some(referral_id))
}
