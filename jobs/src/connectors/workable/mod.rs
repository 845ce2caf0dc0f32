//! Workable: its webhooks (`X-Workable-Signature`, hex HMAC-SHA256 of the
//! body; only `candidate_created` and `candidate_moved`, the candidate as
//! it is when sent) and the API (v3) that decisions are read from and the
//! attribution is written back to.
//!
//! * [`webhook`]: verify a delivery, its inbox key, and decode it into an
//!   [`IntakeEvent::WorkableCandidate`](crate::intake::IntakeEvent::WorkableCandidate):
//!   which candidate to re-read, and whether the body claimed a hire;
//! * [`api`]: the Workable client ([`WorkableClient`]): candidate reads
//!   (by id, by email, changed since), write-back (custom attribute, tag),
//!   paced to 10 requests per 10 seconds;
//! * `connector.rs`: [`WorkableClient`] as a
//!   [`Connector`](crate::connectors::Connector).
//!
//! Workable sends no hire, merge or delete event: a hire is a
//! `candidate_moved` into a stage of kind `hired`, confirmed by reading the
//! candidate; merges and deletions are noticed by reconciliation (a 404).
//!
//! Callers: the HTTP intake verifies and keys (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, capture re-reads the candidate
//! (`crate::capture`), the write-back job ([`crate::capture::write_back`])
//! and reconciliation call the connector.

pub mod api;
mod connector;
pub mod webhook;

pub use api::{WorkableClient, WorkableConfig, account_quota, base_url_for};
pub use webhook::{SIGNATURE_HEADER, decode, delivery_key, verify};
