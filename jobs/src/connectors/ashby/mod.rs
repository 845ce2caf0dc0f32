//! Ashby: its webhooks (`Ashby-Signature: sha256=<hex>` over the whole
//! body, deduplicated on (`webhookActionId`, `action`)) and the RPC-style
//! API we write attributions back to and look applications up in.
//!
//! * [`webhook`]: verify a delivery, its inbox key, and decode it into an
//!   [`IntakeEvent`](crate::intake::IntakeEvent) (applications, stage
//!   changes and hires with the offer's start date, offers, merges,
//!   deletions);
//! * [`api`]: the Ashby client ([`AshbyClient`]): write-back (custom
//!   field, tag, credited-to user), `application.info`, `candidate.info`,
//!   candidate search by email;
//! * `connector.rs`: [`AshbyClient`] as a
//!   [`Connector`](crate::connectors::Connector), the seam capture and
//!   reconciliation talk to.
//!
//! Callers: the HTTP intake verifies and keys (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, the write-back job
//! ([`crate::capture::write_back`]) and reconciliation call the connector.

pub mod api;
mod connector;
pub mod webhook;

pub use api::{AshbyApplication, AshbyCandidate, AshbyClient, AshbyConfig};
pub use webhook::{SIGNATURE_HEADER, TOKEN_FIELD_TITLE, decode, delivery_key, verify};
