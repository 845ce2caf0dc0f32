//! The hops of the go-live check, in order: a test referral is set up,
//! received, attributed and hired, then the check judges what the service
//! did with it: written back, status synced, milestone, payout sent,
//! audit. Each step pushes its [`Hop`] as it is judged; a step that cannot
//! run returns an error, which `golive` reports as that hop's failure.
//!
//! A hop passes only when what it stands for was observed: a write-back
//! that was skipped, or a status sync with no destination configured, fails
//! its hop, naming why, unless the operator passed `--allow-missing` for it
//! (then it passes, reported as missing).

use anyhow::bail;
use serde_json::{Value, json};

use super::service::Golive;
use crate::cli::MissableHop;

/// The employee the go-live check refers from (upserted every run).
pub(super) const GOLIVE_EMPLOYEE: &str = "golive-check";
/// The job its test application is for.
const GOLIVE_JOB: &str = "golive-check";
/// The hops, in the order they are reported.
pub(super) const GOLIVE_HOPS: [&str; 7] = [
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
pub(super) struct Hop {
    pub(super) hop: &'static str,
    pub(super) ok: bool,
    pub(super) at: Option<String>,
    pub(super) result: String,
}

/// Runs the check, pushing each hop as it is judged; returns the test
/// referral's id.
pub(super) async fn golive_hops(
    run: &Golive,
    started: chrono::DateTime<chrono::Utc>,
    allow_missing: &[MissableHop],
    hops: &mut Vec<Hop>,
) -> anyhow::Result<Option<i64>> {
    let tag = ulid::Ulid::generate().to_string().to_lowercase();
    let link = set_up(run).await?;
    let Some(submission) = received(run, &link, &tag, hops).await? else {
        return Ok(None);
    };
    let (referral_id, credited) = attributed(run, &submission, hops).await?;
    if !credited {
        return Ok(Some(referral_id));
    }
    let (wf, jobs) = hire_and_settle(run, &submission, referral_id).await?;
    let audit = run.audit(started).await?;
    written_back(
        referral_id,
        &jobs,
        &audit,
        allow_missing.contains(&MissableHop::WrittenBack),
        hops,
    );
    status_synced(
        &wf,
        allow_missing.contains(&MissableHop::StatusSynced),
        hops,
    );
    milestone(&wf, hops);
    let payout = payout_sent(&wf, &audit, hops);
    audited(&wf, referral_id, payout.as_ref(), &audit, hops);
    Ok(Some(referral_id))
}

/// Now, as the service writes times (RFC 3339 to the millisecond).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn value_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn millis_to_rfc3339(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Setup: the referrer and its link; returns the link's token.
async fn set_up(run: &Golive) -> anyhow::Result<String> {
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
    match value_str(&answer.body["token"]) {
        Some(t) if answer.status == 201 => Ok(t),
        _ => bail!(
            "POST /api/referral-links answered {}: {}",
            answer.status,
            answer.body
        ),
    }
}

/// Hop `received`: a test application through the link, signed as the
/// careers site signs; returns its submission id when it was processed.
async fn received(
    run: &Golive,
    link: &str,
    tag: &str,
    hops: &mut Vec<Hop>,
) -> anyhow::Result<Option<String>> {
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
    let row = run.inbox_row("careers_site", inbox_id).await?;
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
    Ok(processed.then_some(submission))
}

/// Hop `attributed`: the referral recorded for the submission, credited to
/// the check's employee and marked as a test; returns `(id, credited)`.
async fn attributed(
    run: &Golive,
    submission: &str,
    hops: &mut Vec<Hop>,
) -> anyhow::Result<(i64, bool)> {
    let Some(referral_id) = run.find_referral(GOLIVE_EMPLOYEE, submission).await? else {
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
    Ok((referral_id, credited))
}

/// The hire, starting today, then the wait until the workflow settles (or
/// the deadline passes); returns the workflow and the referral's jobs.
///
/// The probation timer is armed for today + the rule's probation (months,
/// for a real rule), so it is reported as armed with its due time and not
/// waited for.
async fn hire_and_settle(
    run: &Golive,
    submission: &str,
    referral_id: i64,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let hired = run
        .deliver(&json!({
            "type": "application.status_changed",
            "changed_at": now(),
            "application": { "id": submission, "ats": "careers_site", "status": "hired",
                             "stage": "Hired",
                             "start_date": chrono::Utc::now().format("%Y-%m-%d").to_string() },
        }))
        .await?;
    let row = run.inbox_row("careers_site", hired).await?;
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
        if (settled(&wf) && write_back_done) || run.timed_out() {
            return Ok((wf, jobs));
        }
        run.pause().await;
        wf = run.workflow(referral_id).await?;
        jobs = run.jobs_of(referral_id).await?;
    }
}

/// Whether the workflow has settled: the hire reached, the probation
/// armed (or reached), the hire tranche finished, no message pending.
fn settled(wf: &Value) -> bool {
    let milestones = wf["milestones"].as_array().cloned().unwrap_or_default();
    let hire = milestones
        .iter()
        .any(|m| m["kind"] == "hire" && m["state"] == "reached");
    let probation = milestones
        .iter()
        .any(|m| m["kind"] != "hire" && matches!(m["state"].as_str(), Some("armed" | "reached")));
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

/// The hire tranche of a workflow: the payout for the hire milestone.
fn hire_payout(wf: &Value) -> Option<Value> {
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

/// Hop `written back`: every write-back job of the referral succeeded and
/// the write-back was observed, written to the ATS or recorded in sandbox;
/// one skipped (and why) fails unless `allowed` (`--allow-missing
/// written-back`).
fn written_back(
    referral_id: i64,
    jobs: &[Value],
    audit: &[Value],
    allowed: bool,
    hops: &mut Vec<Hop>,
) {
    let wb_jobs: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["kind"] == "write_back_referral")
        .collect();
    let rid = referral_id.to_string();
    let wb_events: Vec<&Value> = audit
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
    let observed = wb_events.iter().any(|e| {
        e["action"] == "attribution.written_back"
            || e["action"] == jobs::outbound::sandbox::RECORDED
    });
    hops.push(Hop {
        hop: "written back",
        ok: wb_ok && (observed || allowed),
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
                format!(
                    "skipped: {}; {}",
                    e["data"]["reason"].as_str().unwrap_or(""),
                    missing("written-back", allowed)
                )
            } else if wb_events
                .iter()
                .any(|e| e["action"] == "attribution.written_back")
            {
                "written back".to_string()
            } else {
                format!(
                    "no write-back recorded; {}",
                    missing("written-back", allowed)
                )
            };
            format!("write_back_referral job(s) [{}]: {what}", states.join(", "))
        },
    });
}

/// What a hop that was not observed says: missing and let pass, or how to
/// let it pass.
fn missing(hop: &str, allowed: bool) -> String {
    if allowed {
        format!("missing, allowed by --allow-missing {hop}")
    } else {
        format!("not observed (pass --allow-missing {hop} to accept)")
    }
}

/// Hop `status synced`: every status-sync and CRM message delivered, and at
/// least one sent; none (no destination configured) fails unless `allowed`
/// (`--allow-missing status-synced`).
fn status_synced(wf: &Value, allowed: bool, hops: &mut Vec<Hop>) {
    let messages = wf["messages"].as_array().cloned().unwrap_or_default();
    let syncs: Vec<&Value> = messages
        .iter()
        .filter(|m| m["channel"] != "alert")
        .collect();
    let delivered = syncs.iter().filter(|m| m["state"] == "delivered").count();
    hops.push(Hop {
        hop: "status synced",
        ok: delivered == syncs.len() && (!syncs.is_empty() || allowed),
        at: syncs
            .iter()
            .filter_map(|m| value_str(&m["delivered_at"]))
            .max(),
        result: if syncs.is_empty() {
            format!(
                "not configured: no status-sync or CRM message (notifications.status_sync_url, \
                 notifications.crm_url); {}",
                missing("status-synced", allowed)
            )
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
}

/// Hop `milestone`: the hire reached and the probation armed (or reached).
fn milestone(wf: &Value, hops: &mut Vec<Hop>) {
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
}

/// Hop `payout sent`: the hire tranche delivered, as a test payout; returns
/// it for the audit hop.
fn payout_sent(wf: &Value, audit: &[Value], hops: &mut Vec<Hop>) -> Option<Value> {
    let recorded = |message_id: &str| {
        audit.iter().any(|e| {
            e["action"] == jobs::outbound::sandbox::RECORDED
                && e["data"]["message_id"] == message_id
        })
    };
    let payout = hire_payout(wf);
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
    payout
}

/// Hop `audit`: the audit log holds the credit, the payout and its attempt
/// for the test referral's subjects.
fn audited(
    wf: &Value,
    referral_id: i64,
    payout: Option<&Value>,
    audit: &[Value],
    hops: &mut Vec<Hop>,
) {
    let rid = referral_id.to_string();
    let ids = |key: &str| -> Vec<String> {
        wf[key]
            .as_array()
            .map(|xs| xs.iter().map(|x| x["id"].to_string()).collect())
            .unwrap_or_default()
    };
    let (payout_ids, milestone_ids) = (ids("payouts"), ids("milestones"));
    let application_id = wf["application"]["id"].to_string();
    let events: Vec<&Value> = audit
        .iter()
        .filter(|e| {
            let id = e["subject_id"].as_str().unwrap_or("");
            match e["subject_type"].as_str() {
                Some("referral") => id == rid,
                Some("payout") => payout_ids.iter().any(|p| p == id),
                Some("milestone") => milestone_ids.iter().any(|m| m == id),
                Some("application") => id == application_id,
                Some("message") => payout.is_some_and(|p| p["webhook_id"].as_str() == Some(id)),
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
}
