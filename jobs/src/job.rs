//! The job kinds this service runs, as plain data: what a job is, its kind
//! name, and how it is enqueued. What a job *does* is in
//! [`crate::dispatch`], which sits on top of every handler; this file
//! imports none, so a handler can enqueue a follow-up (a `Job` value) without
//! an import circle.
//!
//! A job is stored as its kind plus a JSON payload of this enum (adjacently
//! tagged: `{"kind": "...", "args": {...}}`), so a payload names its own kind
//! and one worker can serve every kind. A stored kind this build does not know
//! fails to decode and goes to the dead set with the reason (see
//! [`queue::QueueBackend`]), instead of taking the worker down.
//!
//! The diagnostic kinds ([`Job::Noop`], [`Job::Probe`]) need no context and
//! run here ([`Job::run_diagnostic`]): the queue's own tests and benchmarks
//! drive them without the rest of the service.

use std::time::Duration;

use queue::{NewJob, RetryPolicies};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every job kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args", rename_all = "snake_case")]
pub enum Job {
    /// Does nothing. Measures the queue's own cost (the `bench` binary).
    Noop,
    /// A diagnostic ops can enqueue to see the pipeline work end to end: it
    /// waits, then ends as asked. Also what the crash tests kill workers under.
    Probe(Probe),
    /// Act on a stored inbox delivery (capture, stage change, merge, ...).
    ProcessDelivery {
        /// The `inbox` row.
        inbox_id: i64,
    },
    /// Write a credited referral back to its ATS (custom field, tag, source).
    WriteBackReferral {
        /// The `referrals` row.
        referral_id: i64,
    },
    /// A probation timer firing (scheduled months ahead; the milestone row
    /// is the truth, see [`crate::milestones`]).
    ProbationDue {
        /// The probation milestone.
        milestone_id: i64,
        /// The due time it was armed for, Unix ms; a re-armed timer makes
        /// this firing stale.
        due_at_ms: i64,
    },
    /// A careers-site referral's wait for its ATS twin running out: the
    /// fallback write-back looks the candidate up in the ATS (see
    /// [`crate::capture::twin_fallback`]; the `twin_waits` row is the truth).
    TwinWaitDue {
        /// The `twin_waits` row.
        wait_id: i64,
        /// The due time it was armed for, Unix ms; a wait re-armed for a
        /// later look-up makes this firing stale.
        due_at_ms: i64,
    },
    /// POST one payout's bonus event (see [`crate::payout::send`]).
    SendPayout {
        /// The `payouts` row.
        payout_id: i64,
    },
    /// POST one outbox message: a status sync, CRM hand-off or alert (see
    /// [`crate::outbox`]).
    DeliverMessage {
        /// The `outbound_messages` row.
        message_id: i64,
    },
    /// The scheduled purge of personal data (see [`crate::maintenance::retention`]).
    PurgePersonalData {
        /// The schedule's tick (`cron:retention:<tick>`), for the logs.
        trigger: String,
        /// Erase what is older than this many seconds.
        after_secs: u64,
        /// Erase referrers inactive for longer than this many seconds
        /// (`retention.referrer_after`); absent in jobs enqueued before
        /// referrers were purged.
        #[serde(default)]
        referrer_after_secs: Option<u64>,
        /// Delete refused deliveries older than this many seconds
        /// (`retention.rejected_after`; jobs queued before it existed
        /// carry none and use its default, 7 days).
        #[serde(default = "default_rejected_after_secs")]
        rejected_after_secs: u64,
    },
    /// One reconciliation run (see [`crate::maintenance::reconcile`]), once per trigger.
    Reconcile {
        /// `cron:<schedule>:<tick>` or `manual:<id>`.
        trigger: String,
        /// Look only; fix nothing.
        #[serde(default)]
        dry_run: bool,
    },
    /// One scheduled KPI report (see [`crate::finance::report`]), once per
    /// trigger.
    KpiReport {
        /// `cron:reports:<tick>`: the period is the one before the tick,
        /// however late the job runs.
        trigger: String,
        /// Day, week or month.
        period: crate::finance::report::ReportPeriod,
        /// The IANA zone the period's days are read in.
        time_zone: String,
    },
    /// One monthly three-way reconciliation (see
    /// [`crate::maintenance::three_way`]), once per trigger.
    ThreeWayReconcile {
        /// `cron:three_way:<tick>`: the month before the tick.
        trigger: String,
    },
    /// The day-7 audit after go-live, once per go-live date (the run row,
    /// `day7:<date>`, decides).
    Day7Audit {
        /// The go-live day, `YYYY-MM-DD`.
        go_live: chrono::NaiveDate,
    },
}

/// Arguments of [`Job::Probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// How long the attempt takes, in milliseconds.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Fail this many attempts (retryably) before succeeding.
    #[serde(default)]
    pub fail_attempts: u32,
    /// Fail permanently instead.
    #[serde(default)]
    pub permanent_failure: bool,
}

/// `retention.rejected_after`'s default: 7 days.
fn default_rejected_after_secs() -> u64 {
    7 * 24 * 3600
}

impl Job {
    /// The kind name of [`Job::Noop`].
    pub const NOOP: &'static str = "noop";
    /// The kind name of [`Job::Probe`].
    pub const PROBE: &'static str = "probe";
    /// The kind name of [`Job::ProcessDelivery`].
    pub const PROCESS_DELIVERY: &'static str = "process_delivery";
    /// The kind name of [`Job::WriteBackReferral`].
    pub const WRITE_BACK_REFERRAL: &'static str = "write_back_referral";
    /// The kind name of [`Job::ProbationDue`].
    pub const PROBATION_DUE: &'static str = "probation_due";
    /// The kind name of [`Job::TwinWaitDue`].
    pub const TWIN_WAIT_DUE: &'static str = "twin_wait_due";
    /// The kind name of [`Job::SendPayout`].
    pub const SEND_PAYOUT: &'static str = "send_payout";
    /// The kind name of [`Job::DeliverMessage`].
    pub const DELIVER_MESSAGE: &'static str = "deliver_message";
    /// The kind name of [`Job::Reconcile`].
    pub const RECONCILE: &'static str = "reconcile";
    /// The kind name of [`Job::PurgePersonalData`].
    pub const PURGE_PERSONAL_DATA: &'static str = "purge_personal_data";
    /// The kind name of [`Job::KpiReport`].
    pub const KPI_REPORT: &'static str = "kpi_report";
    /// The kind name of [`Job::ThreeWayReconcile`].
    pub const THREE_WAY_RECONCILE: &'static str = "three_way_reconcile";
    /// The kind name of [`Job::Day7Audit`].
    pub const DAY7_AUDIT: &'static str = "day7_audit";

    /// The kind's name, as stored and as used in config (`[queue.kinds.<kind>]`).
    /// The same as the `kind` tag of the payload (a test holds them together).
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Noop => Self::NOOP,
            Job::Probe(_) => Self::PROBE,
            Job::ProcessDelivery { .. } => Self::PROCESS_DELIVERY,
            Job::WriteBackReferral { .. } => Self::WRITE_BACK_REFERRAL,
            Job::ProbationDue { .. } => Self::PROBATION_DUE,
            Job::TwinWaitDue { .. } => Self::TWIN_WAIT_DUE,
            Job::SendPayout { .. } => Self::SEND_PAYOUT,
            Job::DeliverMessage { .. } => Self::DELIVER_MESSAGE,
            Job::Reconcile { .. } => Self::RECONCILE,
            Job::PurgePersonalData { .. } => Self::PURGE_PERSONAL_DATA,
            Job::KpiReport { .. } => Self::KPI_REPORT,
            Job::ThreeWayReconcile { .. } => Self::THREE_WAY_RECONCILE,
            Job::Day7Audit { .. } => Self::DAY7_AUDIT,
        }
    }

    /// What the job is about, as a log field and an id (`("payout_id", 7)`),
    /// for the span every job runs in.
    pub fn subject(&self) -> Option<(&'static str, i64)> {
        match self {
            Job::ProcessDelivery { inbox_id } => Some(("inbox_id", *inbox_id)),
            Job::WriteBackReferral { referral_id } => Some(("referral_id", *referral_id)),
            Job::ProbationDue { milestone_id, .. } => Some(("milestone_id", *milestone_id)),
            Job::TwinWaitDue { wait_id, .. } => Some(("twin_wait_id", *wait_id)),
            Job::SendPayout { payout_id } => Some(("payout_id", *payout_id)),
            Job::DeliverMessage { message_id } => Some(("message_id", *message_id)),
            Job::Noop
            | Job::Probe(_)
            | Job::PurgePersonalData { .. }
            | Job::Reconcile { .. }
            | Job::KpiReport { .. }
            | Job::ThreeWayReconcile { .. }
            | Job::Day7Audit { .. } => None,
        }
    }

    /// The job ready to enqueue, with the kind's attempt budget.
    ///
    /// # Errors
    /// Only if serialising fails, which these plain types cannot do.
    pub fn to_new_job(&self, policies: &RetryPolicies) -> Result<NewJob> {
        let payload = serde_json::to_string(self)?;
        Ok(NewJob::new(self.kind(), payload)
            .max_attempts(policies.for_kind(self.kind()).max_attempts))
    }

    /// Runs the kinds that need no context ([`Job::Noop`], [`Job::Probe`]):
    /// what the queue's own tests and benchmarks drive.
    /// [`Job::run`](crate::dispatch) runs every kind, these included.
    ///
    /// # Errors
    /// The job's verdict ([`Error::Permanent`] dead-letters, anything else
    /// retries); [`Error::Permanent`] for a kind that needs a context.
    pub async fn run_diagnostic(self, attempt: u32) -> Result<()> {
        match self {
            Job::Noop => Ok(()),
            Job::Probe(p) => {
                if p.sleep_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(p.sleep_ms)).await;
                }
                if p.permanent_failure {
                    return Err(Error::permanent("probe asked to fail permanently"));
                }
                if attempt <= p.fail_attempts {
                    return Err(Error::retryable(format!(
                        "probe asked to fail {} attempt(s); this was attempt {attempt}",
                        p.fail_attempts
                    )));
                }
                Ok(())
            }
            other => Err(Error::permanent(format!(
                "job kind {} needs the service context",
                other.kind()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_kind() {
        let job = Job::Probe(Probe {
            sleep_ms: 5,
            fail_attempts: 1,
            permanent_failure: false,
        });
        let text = serde_json::to_string(&job).expect("serialises");
        assert_eq!(
            text,
            r#"{"kind":"probe","args":{"sleep_ms":5,"fail_attempts":1,"permanent_failure":false}}"#
        );
        assert_eq!(serde_json::from_str::<Job>(&text).expect("decodes"), job);
        assert_eq!(
            serde_json::to_string(&Job::Noop).expect("serialises"),
            r#"{"kind":"noop"}"#
        );
    }

    #[test]
    fn kind_names_are_the_stored_tags() {
        let every = [
            Job::Noop,
            Job::Probe(Probe {
                sleep_ms: 0,
                fail_attempts: 0,
                permanent_failure: false,
            }),
            Job::ProcessDelivery { inbox_id: 1 },
            Job::WriteBackReferral { referral_id: 1 },
            Job::ProbationDue {
                milestone_id: 1,
                due_at_ms: 0,
            },
            Job::TwinWaitDue {
                wait_id: 1,
                due_at_ms: 0,
            },
            Job::SendPayout { payout_id: 1 },
            Job::DeliverMessage { message_id: 1 },
            Job::PurgePersonalData {
                trigger: "t".into(),
                after_secs: 1,
                referrer_after_secs: Some(1),
                rejected_after_secs: 1,
            },
            Job::Reconcile {
                trigger: "t".into(),
                dry_run: false,
            },
            Job::KpiReport {
                trigger: "cron:reports:1796626800".into(),
                period: crate::finance::report::ReportPeriod::Week,
                time_zone: "UTC".into(),
            },
            Job::ThreeWayReconcile {
                trigger: "cron:three_way:1796626800".into(),
            },
            Job::Day7Audit {
                go_live: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("a day"),
            },
        ];
        for job in every {
            let payload = serde_json::to_value(&job).expect("serialises");
            assert_eq!(payload["kind"], job.kind(), "{job:?}");
        }
    }

    #[test]
    fn unknown_kinds_do_not_decode() {
        let err = serde_json::from_str::<Job>(r#"{"kind":"launch_rockets","args":{}}"#)
            .expect_err("unknown kind");
        assert!(err.to_string().contains("launch_rockets"), "{err}");
    }
}
