//! The job kinds this service runs, and the one handler that dispatches them.
//!
//! A job is stored as its kind plus a JSON payload of this enum (adjacently
//! tagged: `{"kind": "...", "args": {...}}`), so a payload names its own kind
//! and one worker can serve every kind. A stored kind this build does not know
//! fails to decode and goes to the dead set with the reason (see
//! [`queue::QueueBackend`]), instead of taking the worker down.
//!
//! The referral workflow's kinds (capture, milestones, payouts) join this
//! enum as they are built; each gets its own module.

use std::time::Duration;

use queue::{NewJob, RetryPolicies};
use serde::{Deserialize, Serialize};

use crate::{
    context::JobContext,
    error::{Error, Result},
};

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
    /// POST one payout's bonus event (see [`crate::payout::ledger`]).
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
    /// The scheduled purge of personal data (see [`crate::retention`]).
    PurgePersonalData {
        /// The schedule's tick (`cron:retention:<tick>`), for the logs.
        trigger: String,
        /// Erase what is older than this many seconds.
        after_secs: u64,
    },
    /// One reconciliation run (see [`crate::reconcile`]), once per trigger.
    Reconcile {
        /// `cron:<schedule>:<tick>` or `manual:<id>`.
        trigger: String,
        /// Look only; fix nothing.
        #[serde(default)]
        dry_run: bool,
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

impl Job {
    /// The kind name of [`Job::ProcessDelivery`].
    pub const PROCESS_DELIVERY: &'static str = "process_delivery";

    /// The kind's name, as stored and as used in config (`[queue.kinds.<kind>]`).
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Noop => "noop",
            Job::Probe(_) => "probe",
            Job::ProcessDelivery { .. } => Self::PROCESS_DELIVERY,
            Job::WriteBackReferral { .. } => "write_back_referral",
            Job::ProbationDue { .. } => "probation_due",
            Job::SendPayout { .. } => crate::payout::ledger::SEND_PAYOUT,
            Job::DeliverMessage { .. } => crate::outbox::DELIVER_MESSAGE,
            Job::Reconcile { .. } => crate::reconcile::RECONCILE,
            Job::PurgePersonalData { .. } => "purge_personal_data",
        }
    }

    /// What the job is about, as a log field and an id (`("payout_id", 7)`),
    /// for the span every job runs in.
    pub fn subject(&self) -> Option<(&'static str, i64)> {
        match self {
            Job::ProcessDelivery { inbox_id } => Some(("inbox_id", *inbox_id)),
            Job::WriteBackReferral { referral_id } => Some(("referral_id", *referral_id)),
            Job::ProbationDue { milestone_id, .. } => Some(("milestone_id", *milestone_id)),
            Job::SendPayout { payout_id } => Some(("payout_id", *payout_id)),
            Job::DeliverMessage { message_id } => Some(("message_id", *message_id)),
            Job::Noop | Job::Probe(_) | Job::PurgePersonalData { .. } | Job::Reconcile { .. } => {
                None
            }
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

    /// Runs one attempt. `attempt` is 1-based.
    ///
    /// # Errors
    /// The job's verdict: [`Error::Permanent`] dead-letters, anything else
    /// retries on the kind's schedule.
    pub async fn run(self, ctx: &JobContext, attempt: u32) -> Result<()> {
        match self {
            Job::ProcessDelivery { inbox_id } => {
                crate::capture::process_delivery(ctx, inbox_id, attempt)
                    .await
                    .map(|_| ())
            }
            Job::WriteBackReferral { referral_id } => ctx.write_back(referral_id).await,
            Job::ProbationDue {
                milestone_id,
                due_at_ms,
            } => crate::milestones::probation_due(ctx, milestone_id, due_at_ms).await,
            Job::SendPayout { payout_id } => {
                crate::payout::ledger::send(ctx, payout_id, attempt).await
            }
            Job::DeliverMessage { message_id } => {
                crate::outbox::deliver(ctx, message_id, attempt).await
            }
            Job::PurgePersonalData {
                trigger,
                after_secs,
            } => {
                let report = crate::retention::purge(
                    ctx,
                    Duration::from_secs(after_secs),
                    false,
                    "system:retention",
                )
                .await?;
                tracing::info!(
                    %trigger,
                    candidates = report.candidates.len(),
                    inbox_bodies = report.inbox_bodies,
                    "retention purge done"
                );
                Ok(())
            }
            Job::Reconcile { trigger, dry_run } => {
                crate::reconcile::run(ctx, &trigger, dry_run, "system:reconciliation")
                    .await
                    .map(|_| ())
            }
            diagnostic => diagnostic.run_diagnostic(attempt).await,
        }
    }

    /// Runs the kinds that need no context ([`Job::Noop`], [`Job::Probe`]):
    /// what the queue's own tests and benchmarks drive.
    ///
    /// # Errors
    /// As [`Job::run`]; [`Error::Permanent`] for a kind that needs a context.
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
    fn unknown_kinds_do_not_decode() {
        let err = serde_json::from_str::<Job>(r#"{"kind":"launch_rockets","args":{}}"#)
            .expect_err("unknown kind");
        assert!(err.to_string().contains("launch_rockets"), "{err}");
    }
}
