//! sea-orm entities for referral-worker: the *present* shape of every table.
//!
//! # Layout
//!
//! Referral domain (an employee refers a candidate, the candidate applies, gets
//! hired, passes probation):
//!
//! - [`employee`]: referrers, synced from the HRIS.
//! - [`referral_link`]: the `?ref=<token>` links employees share.
//! - [`candidate`] and [`candidate_ats_id`]: one person, possibly known to several ATS.
//! - [`application`]: a candidate's application to one job in one ATS.
//! - [`ats_job`]: a job's level, department and location as its ATS says,
//!   cached for the bonus rules.
//! - [`referral`]: the attribution decision (who gets credit, or why nobody does).
//! - [`milestone`]: hire / probation-complete events per application.
//! - [`application_fact`]: the vendor's time of the event that last changed
//!   each fact of an application (events applied by their own time).
//!
//! Money and accountability:
//!
//! - [`payout`]: the bonus ledger, one row per (referral, tranche).
//! - [`audit_event`]: append-only, hash-chained record of every decision.
//! - [`reconciliation_run`] and [`reconciliation_item`]: periodic checks of our
//!   state against the ATS and the payout provider, and the three-way
//!   comparison with the referral platform and the CRM;
//!   [`reconciliation_import`] and [`reconciliation_import_row`]: those two
//!   systems' monthly lists, as imported.
//!
//! Plumbing:
//!
//! - [`inbox`]: every webhook delivery received, authenticated or not.
//! - [`kpi_report`]: the scheduled KPI reports, for finance's export.
//! - [`unmatched_termination`]: HRIS terminations no hire matched, for ops.
//! - [`outbound_message`]: the outbox of status syncs, CRM hand-offs and
//!   alerts; [`outbound_destination`]: destinations stopped by a `410`.
//! - [`queue_job`]: the embedded SQL job queue's table.
//! - [`states`]: enums shared by several tables (e.g. [`states::Ats`]).
//! - [`prelude`]: every `Entity`, renamed after its table.
//!
//! # Conventions
//!
//! - The schema itself is owned by the `migrations` crate. These modules must
//!   describe the result of running every migration; the `tests` crate checks that
//!   by migrating a real database and round-tripping rows through these entities.
//! - Every state column is a Rust enum (`DeriveActiveEnum`) stored as a short
//!   string, not a database enum type, so the same schema runs on SQLite and
//!   PostgreSQL. The strings are the `snake_case` variant names, and the serde
//!   representation is the same string.
//! - Models deliberately do not derive `Serialize`: several tables hold personal
//!   data, and API or webhook payloads should be their own DTOs rather than a
//!   row dumped as JSON.
//! - Used by the `jobs` crate (handlers and queries), the `worker` crate (HTTP
//!   intake, ops commands) and the `tests` crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod application;
pub mod application_fact;
pub mod ats_job;
pub mod audit_event;
pub mod candidate;
pub mod candidate_ats_id;
pub mod consent;
pub mod employee;
pub mod inbox;
pub mod kpi_report;
pub mod milestone;
pub mod outbound_destination;
pub mod outbound_message;
pub mod payout;
pub mod prelude;
pub mod queue_job;
pub mod reconciliation_import;
pub mod reconciliation_import_row;
pub mod reconciliation_item;
pub mod reconciliation_run;
pub mod referral;
pub mod referral_link;
pub mod states;
pub mod twin_wait;
pub mod unmatched_termination;
