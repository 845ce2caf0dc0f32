//! `ops ...`: the `/api/ops` API on the command line, over the same
//! `jobs::ops` and payout-ledger functions the API calls. Each subcommand
//! is a read (queues, jobs, a job, stuck work, the inbox, payouts, a
//! referral's workflow) or an action (retry, cancel, requeue, replay,
//! approve, hold, resolve); all print a table or, with `--json`, the API's
//! JSON. A bad value exits 2 (as the API answers 4xx), anything else 1.

use anyhow::bail;
use jobs::{
    context::JobContext,
    ops as o,
    payout::approval::{self, Resolution},
};
use serde_json::Value;

use super::{
    actor::actor,
    render::{age, cut, ms_time, or_dash, print_json, table, time},
};
use crate::{
    cli::{OpsArgs, OpsCommand, ResolutionArg},
    config::Settings,
    runtime::connect_job_context,
};

/// Exit status for a usage error found after parsing (a bad filter value).
const EXIT_USAGE: i32 = 2;

/// A `jobs` error as the CLI reports it: a bad value (which the API
/// answers 4xx) is a usage error, printed and exit 2; anything else is a
/// failure (exit 1, printed by `main`).
fn ops_error(e: jobs::Error) -> anyhow::Error {
    let job = |id: &str| {
        if queue::JobId::parse(id).is_ok() {
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
        jobs::Error::NotFound(what) | jobs::Error::Queue(queue::Error::NotFound(what)) => {
            anyhow::anyhow!("{} not found", job(&what))
        }
        jobs::Error::InvalidState { id, state, reason }
        | jobs::Error::Queue(queue::Error::InvalidState { id, state, reason }) => {
            anyhow::anyhow!("{} is {state}: {reason}", job(&id))
        }
        other => anyhow::Error::new(other),
    }
}

/// `ops ...`: the same `jobs::ops` and ledger functions the API calls.
///
/// # Errors
/// Not found, not allowed in the current state (both exit 1 with the
/// message), storage failures. A bad value exits 2.
pub(super) async fn ops(args: OpsArgs, settings: &Settings) -> anyhow::Result<()> {
    let json = args.json;
    let ctx = connect_job_context(settings).await?;
    let actor = actor();
    match args.command {
        OpsCommand::Queues => queues(&ctx, json).await,
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
            list_jobs(&ctx, &q, json).await
        }
        OpsCommand::Job { id } => job(&ctx, &id, json).await,
        OpsCommand::Retry {
            id,
            reason,
            dry_run,
        } => {
            let id = o::parse_job_id("id", &id).map_err(ops_error)?;
            let out = o::retry_job(&ctx, &id, &actor, &reason.reason, dry_run)
                .await
                .map_err(ops_error)?;
            print_action(&out, json)
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
            print_action(&out, json)
        }
        OpsCommand::RequeueDead {
            kind,
            reason,
            dry_run,
        } => {
            let out = o::requeue_dead(&ctx, &kind, &actor, &reason.reason, dry_run)
                .await
                .map_err(ops_error)?;
            print_requeued(&out, json)
        }
        OpsCommand::Stuck => stuck(&ctx, settings, json).await,
        OpsCommand::Inbox {
            source,
            status,
            cursor,
            limit,
        } => {
            let page = o::inbox(&ctx, source, status, cursor, o::page_limit(Some(limit)))
                .await
                .map_err(ops_error)?;
            print_inbox(&page, json)
        }
        OpsCommand::Replay { id, reason } => replay(&ctx, id, &actor, &reason.reason, json).await,
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
            Ok(())
        }
        OpsCommand::Approve { id, reason } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let row = approval::approve(&ctx, id, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)
        }
        OpsCommand::Hold { id, reason } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let row = approval::hold(&ctx, id, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)
        }
        OpsCommand::Resolve {
            id,
            resolution,
            reason,
        } => {
            let reason = o::clean_reason(&reason.reason).map_err(ops_error)?;
            let resolution = match resolution {
                ResolutionArg::Delivered => Resolution::Delivered,
                ResolutionArg::Resend => Resolution::Resend,
            };
            let row = approval::resolve(&ctx, id, resolution, &actor, &reason)
                .await
                .map_err(ops_error)?;
            print_payout(&row, json)
        }
        OpsCommand::Workflow { referral_id } => {
            let w = o::workflow(&ctx, referral_id).await.map_err(ops_error)?;
            if json {
                return print_json(&w);
            }
            print!("{}", workflow_text(&w));
            Ok(())
        }
    }
}

/// `ops queues`: each queue's states, with the oldest job of each.
async fn queues(ctx: &JobContext, json: bool) -> anyhow::Result<()> {
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
    Ok(())
}

/// `ops jobs`: one page of jobs matching the filters.
async fn list_jobs(ctx: &JobContext, q: &o::JobQuery, json: bool) -> anyhow::Result<()> {
    let listing = o::list_jobs(ctx, q).await.map_err(ops_error)?;
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
    Ok(())
}

/// `ops job ID`: the job, its timeline and the ops actions taken on it.
async fn job(ctx: &JobContext, id: &str, json: bool) -> anyhow::Result<()> {
    let id = o::parse_job_id("id", id).map_err(ops_error)?;
    let detail = o::job(ctx, &id).await.map_err(ops_error)?;
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
    Ok(())
}

/// `ops requeue-dead KIND`: what was (or, dry run, would be) retried.
fn print_requeued(out: &o::RequeueOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(out);
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
    Ok(())
}

/// `ops stuck`: work that should have moved and did not.
async fn stuck(ctx: &JobContext, settings: &Settings, json: bool) -> anyhow::Result<()> {
    let items = o::stuck(ctx, settings.payouts.timer_sweep)
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
                Value::String(s) => format!("{k}={s}"),
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
    Ok(())
}

/// `ops inbox`: one page of stored deliveries.
fn print_inbox(page: &o::Page<o::InboxRow>, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(page);
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
                "id", "source", "status", "event", "received", "http", "job", "bytes", "error"
            ],
            &rows
        )
    );
    next_line(page.next);
    Ok(())
}

/// `ops replay ID`: the stored delivery again, as a new inbox row.
async fn replay(
    ctx: &JobContext,
    id: i64,
    actor: &str,
    reason: &str,
    json: bool,
) -> anyhow::Result<()> {
    match o::replay(ctx, id, actor, reason).await.map_err(ops_error)? {
        Ok(out) if json => print_json(&out),
        Ok(out) => {
            println!(
                "inbox row {} replayed as row {}, job {}",
                out.inbox_id,
                out.replay_inbox_id,
                or_dash(out.job_id.as_deref())
            );
            Ok(())
        }
        Err(refused) => bail!("{refused}"),
    }
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
