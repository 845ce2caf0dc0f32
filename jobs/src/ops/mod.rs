//! What ops need to see and do without reading the database or Redis by
//! hand: the queue's shape, jobs (filtered, paged, tied back to referrals),
//! a job's timeline, retry / cancel / requeue-dead with dry runs, a
//! referral's whole workflow, a finder for things that are not moving, the
//! inbox with replay, and the payout ledger.
//!
//! Plain functions over a [`JobContext`](crate::context::JobContext)
//! (database, queue, clients): the
//! HTTP handlers (`worker/src/http/ops.rs`) and the CLI (`referral-worker
//! ops ...`) both call these, so the two can never disagree.
//!
//! # Personal data
//!
//! Job payloads hold ids only (see [`crate::job::Job`]): no names, emails
//! or phone numbers. A payload that decodes as a known `Job` is shown as
//! is; one that does not (an unknown kind, malformed JSON) is shown with
//! every string value masked, since nothing vouches for what it holds.
//! Inbox listings never include raw bodies. Views of referrals,
//! applications, milestones, payouts and outbox messages carry ids, states,
//! amounts and times, never a candidate's name, email or phone.
//!
//! # Audit
//!
//! Every action (retry, cancel, requeue-dead, replay) is recorded with
//! `LockedTx::audit` inside a [`begin_locked`](crate::db::begin_locked) transaction, with the actor
//! and the reason given. The queue is never touched while that transaction
//! is open: the embedded queue writes to the same SQLite file.
//!
//! # Layout
//!
//! * [`queues`](mod@queues): the queue's shape;
//! * [`jobs`]: a job's record and timeline, job listings;
//! * [`matching`]: which jobs and deliveries are about a referral or candidate;
//! * [`actions`]: retry, cancel, requeue-dead;
//! * [`workflows`]: a referral's workflow, payout and referral listings;
//! * [`stuck`](mod@stuck): the stuck finder;
//! * [`inbox`](mod@inbox): inbox rows and replay;
//! * [`history`]: throughput per hour;
//! * [`request`]: parsing what ops send, auditing what they do.
//!
//! Everything callers use is re-exported here, so the HTTP handlers and the
//! CLI say `jobs::ops::…`.

pub mod actions;
pub mod history;
pub mod inbox;
pub mod jobs;
pub mod matching;
pub mod queues;
pub mod request;
pub mod stuck;
pub mod workflows;

pub use actions::{
    JobActionOutcome, JobBrief, RequeueOutcome, cancel_job, requeue_dead, retry_job,
};
pub use inbox::{InboxRow, ReplayRefused, Replayed, inbox, replay};
pub use jobs::{
    AuditView, JOB_SCAN, JobCursor, JobDetail, JobListing, JobQuery, JobView, TimelineEvent, job,
    list_jobs, masked_payload, timeline,
};
pub use matching::{INBOX_SCAN, PayloadMatch, match_candidate, match_referral};
pub use queues::{OldestJob, QueueSummary, StateSummary, queues};
pub use request::{
    MAX_LIMIT, Page, clean_reason, name_of, page_limit, parse_job_id, parse_job_state, parse_name,
};
pub use stuck::{STUCK_AFTER, STUCK_SCAN, StuckItem, stuck};
pub use workflows::{
    ApplicationView, JobLink, MessageView, MilestoneView, PayoutView, ReferralView, Workflow,
    payouts, referrals, workflow,
};

#[cfg(test)]
mod tests;
