//! The work nobody asks for: what keeps the database and the queue in step
//! and the data tidy, run on timers by every worker process
//! (`worker/src/runtime/schedules.rs`).
//!
//! * [`sweeper`]: every `payouts.timer_sweep`, gives each row that waits
//!   for work a job again when the queue no longer holds one (armed
//!   probation timers, waiting fallback write-backs, stored deliveries,
//!   sendable payouts, pending notifications);
//! * [`reconcile`]: the reconciliation run (`reconcile` job): our records
//!   against the ATS and the ledger, variances recorded and fixed;
//! * [`three_way`]: the monthly three-way reconciliation (the referral
//!   platform's and the CRM's imports against our attributions and the
//!   ATS) and the day-7 audit after go-live;
//! * [`runs`]: a reconciliation run's row and items, shared by both;
//! * `removals`: reconciliation's check for applications an ATS that
//!   announces no merges or deletions (Workable) no longer has;
//! * [`retention`]: the purge of personal data (`purge_personal_data` job);
//! * [`schedule`]: the cron schedules those two jobs fire on, once per tick
//!   across processes.

pub mod reconcile;
mod removals;
pub mod retention;
pub mod runs;
pub mod schedule;
pub mod sweeper;
pub mod three_way;
