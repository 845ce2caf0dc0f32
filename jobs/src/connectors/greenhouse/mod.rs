//! Greenhouse Recruiting: its webhooks (signed over the body with
//! `Signature: sha256 <hex>`) and the Harvest API we write referrals back
//! to and reconcile against.
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent`](crate::intake::IntakeEvent) (applications, stage
//!   changes, offers, merges, deletions, anonymisation);
//! * [`api`]: the Harvest client ([`GreenhouseClient`]): write-back, and the
//!   application and offer reads reconciliation makes.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, the write-back job
//! ([`crate::capture::write_back`]) and reconciliation
//! ([`crate::maintenance::reconcile`]) call the API.

pub mod api;
pub mod webhook;

pub use api::{GreenhouseClient, GreenhouseConfig};
pub use webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, decode, verify};
