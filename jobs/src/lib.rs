//! The referral workflow of referral-worker, as jobs: from a webhook's raw
//! bytes to a bonus paid, with the durable queue that carries the work.
//!
//! The `worker` crate owns process wiring (HTTP, CLI, signals, config) and
//! calls in here; this crate knows nothing about HTTP. The database is the
//! source of truth for workflow state; the queue carries the work.
//!
//! # The workflow, step by step
//!
//! | step | module |
//! |---|---|
//! | a vendor's webhook: verify its signature, decode it (one folder per ATS) | [`connectors`] |
//! | the inbox every delivery lands in; the one decode-by-source entry point; the typed events | [`intake`] |
//! | capture: candidate dedup, application upsert, attribution, stage changes, merges and erasure, ATS write-back | [`capture`] |
//! | who a candidate is: canonical email and E.164 phone keys | [`identity`] |
//! | referrers, referral links, the attribution rules | [`referral`] |
//! | milestones: the hire and the durable probation timer | [`milestones`] |
//! | bonus rules, the payout ledger, the send job, ops approvals | [`payout`] |
//! | the outbox: status sync, CRM hand-off, alerts | [`outbox`] |
//! | the sweeper, reconciliation, the retention purge, cron schedules | [`maintenance`] |
//! | exports and KPIs for HR and finance | [`finance`] |
//! | data-subject requests: a person's export and erasure, consent | [`privacy`] |
//! | what ops see and do: queues, jobs, workflows, the stuck finder, the inbox | [`ops`] |
//!
//! # What the steps stand on
//!
//! * [`job`]: the job kinds as plain data (what is enqueued, under which
//!   kind name); [`dispatch`]: `Job::run`, the one place that maps a kind to
//!   its handler, on top of everything and imported by nothing here.
//! * [`context`]: the [`context::JobContext`] every handler takes: the
//!   database, the queue, the clients and each stage's settings.
//! * [`db`]: locked transactions and the hash-chained audit log they append
//!   to at commit.
//! * [`outbound`]: every call to a system we do not own: the guarded HTTP
//!   client, the SSRF guard, rate limits, the signed webhook sender, sandbox
//!   recording.
//! * the queue is its own crate, [`queue`]: [`queue::QueueStore`] is Redis
//!   or a SQL table; [`queue::QueueBackend`] plugs it into the apalis 1.0
//!   worker runtime. Everything that needs to run later or elsewhere goes
//!   through it.
//! * [`error`]: the crate's one error type, which doubles as a job's verdict
//!   on whether to retry.
//!
//! A step enqueues follow-up work as a [`job::Job`] value; nothing imports
//! [`dispatch`], and no two files import each other, directly or in a
//! circle.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod connectors;
pub mod context;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod finance;
pub mod identity;
pub mod intake;
pub mod job;
pub mod maintenance;
pub mod milestones;
pub mod ops;
pub mod outbound;
pub mod outbox;
pub mod payout;
pub mod privacy;
pub mod referral;

pub use error::{Error, Result};

#[cfg(any(test, feature = "fakes"))]
pub mod test_support;
