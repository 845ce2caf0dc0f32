//! Job types, the durable queue, and (in later modules) the referral workflow.
//!
//! # Layout
//!
//! * [`queue`]: the queue itself. [`queue::QueueStore`] is Redis or a SQL
//!   table; [`queue::QueueBackend`] plugs it into the apalis 1.0 worker
//!   runtime. Everything that needs to run later or elsewhere goes through it.
//! * [`job`]: the job kinds this service runs ([`job::Job`]) and the handler
//!   that dispatches them.
//! * [`error`]: the crate's one error type, which doubles as a job's verdict
//!   on whether to retry.
//!
//! The `worker` crate owns process wiring (HTTP, CLI, signals) and calls in
//! here; this crate knows nothing about HTTP.
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
pub mod queue;
pub mod referral;

pub use error::{Error, Result};

#[cfg(test)]
mod test_support;
