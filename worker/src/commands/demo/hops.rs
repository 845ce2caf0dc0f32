//! The demo's hops, in order, each judged from what the service shows over
//! its API (the ops workflow view, the inbox), what the bonus receiver
//! got, and the audit chain: `link`, `application`, `attribution`, `hire`,
//! `probation`, `bonus`, `audit`. Each is printed as soon as it passes;
//! the first that fails is printed `FAIL` with why, and ends the walk.

use std::time::Duration;

use anyhow::bail;
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use super::{
    greenhouse::{FakeGreenhouse, JOB_ID},
    receiver::BonusReceiver,
};
use crate::commands::golive::service::Golive;

/// The referrer the demo's link is minted for.
const EMPLOYEE: &str = "demo-referrer";

/// The hops, in the order they are walked.
pub(super) const HOPS: [&str; 7] = [
    "link",
    "application",
    "attribution",
    "hire",
    "probation",
    "bonus",
    "audit",
];

/// Prints hop lines with their time since the walk started.
struct Report {
    started: tokio::time::Instant,
    last: tokio::time::Instant,
}

impl Report {
    fn line(&mut self, hop: &str, ok: bool, what: &str) {
        let now = tokio::time::Instant::now();
        println!(
            "  {hop:<12} {:<4} {:>7} {:>9}  {what}",
            if ok { "ok" } else { "FAIL" },
            secs(now - self.started),
            format!("(+{})", secs(now - self.last)),
        );
        self.last = now;
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// Walks the referral through every hop.
///
/// # Errors
/// The first hop that failed, named, with why (a timeout included).
pub(super) async fn walk(
    run: &Golive,
    greenhouse_secret: &str,
    receiver: &BonusReceiver,
    db: &DatabaseConnection,
    timeout: Duration,
) -> anyhow::Result<()> {
    let now = tokio::time::Instant::now();
    let mut report = Report {
        started: now,
        last: now,
    };
    println!(
        "  {:<12} {:<4} {:>7} {:>9}  what was seen",
        "hop", "", "at", "took"
    );
    let tag = ulid::Ulid::generate().to_string().to_lowercase();
    let mut walk = Walk {
        run,
        receiver,
        db,
        timeout,
        token: String::new(),
        submission: format!("sub_demo{tag}"),
        referral_id: 0,
        ats: FakeGreenhouse {
            secret: greenhouse_secret.to_owned(),
            // Greenhouse ids are numbers; the run's own keep a kept
            // database's earlier runs apart.
            application_id: unique_number(),
            candidate_id: unique_number(),
            email: format!("dana.demo+{tag}@example.org"),
            applied_at: chrono::Utc::now(),
        },
    };
    for hop in HOPS {
        match walk.hop(hop).await {
            Ok(what) => report.line(hop, true, &what),
            Err(e) => {
                report.line(hop, false, &format!("{e:#}"));
                bail!("demo failed at hop `{hop}`: {e:#}");
            }
        }
    }
    Ok(())
}

/// A number unique enough for one machine's runs: milliseconds since 2020.
fn unique_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = u64::try_from(chrono::Utc::now().timestamp_millis() - 1_577_836_800_000)
        .unwrap_or_default();
    let before = NEXT.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
    if before >= now {
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    } else {
        now
    }
}

/// What the walk has learnt so far.
struct Walk<'a> {
    run: &'a Golive,
    receiver: &'a BonusReceiver,
    db: &'a DatabaseConnection,
    timeout: Duration,
    token: String,
    submission: String,
    referral_id: i64,
    ats: FakeGreenhouse,
}

impl Walk<'_> {
    async fn hop(&mut self, hop: &str) -> anyhow::Result<String> {
        match hop {
            "link" => self.link().await,
            "application" => self.application().await,
            "attribution" => self.attribution().await,
            "hire" => self.hire().await,
            "probation" => self.probation().await,
            "bonus" => self.bonus().await,
            "audit" => self.audit().await,
            other => bail!("no such hop: {other}"),
        }
    }

    /// Polls `check` until it answers `Some`, or fails once `--timeout`
    /// has passed, saying what it waited for.
    async fn until<T, F, Fut>(&self, waiting_for: &str, mut check: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
    {
        loop {
            if let Some(v) = check().await? {
                return Ok(v);
            }
            if self.run.timed_out() {
                bail!(
                    "timed out after {} waiting for {waiting_for}",
                    humantime::format_duration(self.timeout)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Hop `link`: the referrer (`POST /api/employees`) and their link
    /// (`POST /api/referral-links`), as the referral portal makes them.
    async fn link(&mut self) -> anyhow::Result<String> {
        let employee = json!({ "employee_id": EMPLOYEE, "email": "referrer@example.com",
                               "name": "Demo Referrer", "active": true });
        let answer = self
            .run
            .client
            .post_json("/api/employees", &self.run.employees, &employee)
            .await?;
        if !answer.ok() {
            bail!(
                "POST /api/employees answered {}: {}",
                answer.status,
                answer.body
            );
        }
        let link = json!({ "employee_id": EMPLOYEE, "job_id": JOB_ID.to_string() });
        let answer = self
            .run
            .client
            .post_json("/api/referral-links", &self.run.links, &link)
            .await?;
        let (Some(token), 201) = (answer.body["token"].as_str(), answer.status) else {
            bail!(
                "POST /api/referral-links answered {}: {}",
                answer.status,
                answer.body
            );
        };
        self.token = token.to_owned();
        Ok(format!(
            "{EMPLOYEE} shares job {JOB_ID}: {}",
            answer.body["url"].as_str().unwrap_or(token)
        ))
    }

    /// Hop `application`: the candidate applies on the careers site through
    /// the link (a signed `application.submitted` carrying the token), and
    /// the service processes the delivery.
    async fn application(&mut self) -> anyhow::Result<String> {
        let inbox_id = self
            .run
            .deliver(&json!({
                "type": "application.submitted",
                "submission_id": self.submission,
                "submitted_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "job": { "ats": "greenhouse", "ats_job_id": JOB_ID.to_string(), "title": "Demo engineer" },
                "tracking": { "ref": self.token, "ref_source": "demo" },
                "applicant": { "first_name": "Dana", "last_name": "Demo", "email": self.ats.email },
                "consent": { "processing": true },
            }))
            .await?;
        self.processed("careers_site", inbox_id).await?;
        Ok(format!(
            "careers-site submission {} with ?ref= the token: inbox {inbox_id} processed",
            self.submission
        ))
    }

    /// Waits for inbox row `id` of `source` to be processed.
    async fn processed(&self, source: &str, id: i64) -> anyhow::Result<()> {
        let row = self.run.inbox_row(source, id).await?;
        match row["status"].as_str() {
            Some("processed") => Ok(()),
            Some(status @ ("failed" | "ignored")) => bail!(
                "inbox {id} is {status}: {}",
                row["error"].as_str().unwrap_or("no error recorded")
            ),
            status => bail!(
                "timed out after {} waiting for inbox {id} to be processed (it is {})",
                humantime::format_duration(self.timeout),
                status.unwrap_or("not listed")
            ),
        }
    }

    /// Hop `attribution`: the referral recorded for the submission and
    /// credited to the referrer.
    async fn attribution(&mut self) -> anyhow::Result<String> {
        let Some(id) = self.run.find_referral(EMPLOYEE, &self.submission).await? else {
            bail!(
                "no referral was recorded for {} within {}",
                self.submission,
                humantime::format_duration(self.timeout)
            );
        };
        self.referral_id = id;
        let wf = self.run.workflow(id).await?;
        let r = &wf["referral"];
        if r["state"] != "credited" {
            bail!(
                "referral {id} is {} ({})",
                r["state"],
                r["reason"].as_str().unwrap_or("no reason given")
            );
        }
        Ok(format!(
            "referral {id} credited to {EMPLOYEE} ({}, candidate {})",
            r["source"].as_str().unwrap_or("?"),
            r["candidate_id"]
        ))
    }

    /// Hop `hire`: Greenhouse's own application (which takes the referral
    /// over from the careers-site submission), then its `hire_candidate`;
    /// the hire milestone reached and the probation timer armed.
    async fn hire(&mut self) -> anyhow::Result<String> {
        let inbox = self.ats.application(self.run).await?;
        self.processed("greenhouse", inbox).await?;
        let inbox = self.ats.hire(self.run).await?;
        self.processed("greenhouse", inbox).await?;
        let gh_id = self.ats.application_id.to_string();
        let wf = self
            .until("the hire milestone", || async {
                let wf = self.run.workflow(self.referral_id).await?;
                let adopted = wf["application"]["ats"] == "greenhouse"
                    && wf["application"]["ats_application_id"] == gh_id.as_str();
                Ok((adopted
                    && milestone(&wf, "hire")["state"] == "reached"
                    && milestone(&wf, "probation_complete")["state"] != Value::Null)
                    .then_some(wf))
            })
            .await?;
        let probation = milestone(&wf, "probation_complete");
        if probation["state"] != "armed" && probation["state"] != "reached" {
            bail!("the probation milestone is {}", probation["state"]);
        }
        Ok(format!(
            "Greenhouse application {gh_id} took the referral over; hire_candidate: hire milestone reached at {}, probation armed, due {}",
            milestone(&wf, "hire")["occurred_at"]
                .as_str()
                .unwrap_or("?"),
            probation["due_at"].as_str().unwrap_or("?"),
        ))
    }

    /// Hop `probation`: the probation timer fires (a scheduled job) and the
    /// milestone is reached.
    async fn probation(&mut self) -> anyhow::Result<String> {
        let m = self
            .until("the probation milestone", || async {
                let wf = self.run.workflow(self.referral_id).await?;
                let m = milestone(&wf, "probation_complete").clone();
                match m["state"].as_str() {
                    Some("reached") => Ok(Some(m)),
                    Some("armed") => Ok(None),
                    other => bail!(
                        "the probation milestone is {} ({})",
                        other.unwrap_or("missing"),
                        m["cancel_reason"].as_str().unwrap_or("no reason given")
                    ),
                }
            })
            .await?;
        Ok(format!(
            "probation_complete reached at {} (due {}) by timer job {}",
            m["occurred_at"].as_str().unwrap_or("?"),
            m["due_at"].as_str().unwrap_or("?"),
            m["timer_job"]["job_id"].as_str().unwrap_or("?"),
        ))
    }

    /// Hop `bonus`: every tranche's signed POST received by the bonus
    /// system with a signature it verified, and the payout delivered. A
    /// POST the receiver refused fails the hop at once.
    async fn bonus(&mut self) -> anyhow::Result<String> {
        let (payouts, deliveries) = self
            .until("every tranche delivered to the bonus receiver", || async {
                let deliveries = self.receiver.deliveries();
                if let Some(refused) = deliveries.iter().find(|d| d.verified.is_err()) {
                    let why = refused.verified.clone().err().unwrap_or_default();
                    bail!(
                        "the bonus receiver refused POST {} (answered 401): {why}",
                        refused
                            .webhook_id
                            .as_deref()
                            .unwrap_or("without a webhook-id")
                    );
                }
                let wf = self.run.workflow(self.referral_id).await?;
                let payouts = wf["payouts"].as_array().cloned().unwrap_or_default();
                let received = |p: &Value| {
                    deliveries
                        .iter()
                        .any(|d| d.webhook_id.as_deref() == p["webhook_id"].as_str())
                };
                let done = !payouts.is_empty()
                    && payouts
                        .iter()
                        .all(|p| p["state"] == "delivered" && received(p));
                Ok(done.then_some((payouts, deliveries)))
            })
            .await?;
        let tranches: Vec<String> = payouts
            .iter()
            .map(|p| {
                let d = deliveries
                    .iter()
                    .find(|d| d.webhook_id.as_deref() == p["webhook_id"].as_str());
                format!(
                    "{} {} {} minor units, `{}` ({}, {})",
                    p["tranche"].as_str().unwrap_or("?"),
                    p["currency"].as_str().unwrap_or("?"),
                    p["amount_minor"],
                    d.and_then(|d| d.body["data"]["milestone"].as_str())
                        .unwrap_or("?"),
                    p["webhook_id"].as_str().unwrap_or("?"),
                    d.map(|d| d.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                        .unwrap_or_default(),
                )
            })
            .collect();
        Ok(format!(
            "{} signed POST(s) received, signature verified, payouts delivered: {}",
            payouts.len(),
            tranches.join("; ")
        ))
    }

    /// Hop `audit`: the audit log's hash chain verifies, as `audit verify`
    /// checks it.
    async fn audit(&mut self) -> anyhow::Result<String> {
        match jobs::db::audit::verify(self.db).await? {
            jobs::db::audit::Verification::Intact { events } => {
                Ok(format!("audit verify: OK, {events} events verified"))
            }
            jobs::db::audit::Verification::Broken {
                event_id, problem, ..
            } => bail!("audit verify: the chain breaks at event {event_id}: {problem}"),
        }
    }
}

/// The workflow's milestone of `kind` (`null` when there is none).
fn milestone<'a>(wf: &'a Value, kind: &str) -> &'a Value {
    wf["milestones"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["kind"] == kind))
        .unwrap_or(&Value::Null)
}
