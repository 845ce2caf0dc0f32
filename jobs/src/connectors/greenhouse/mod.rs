//! Greenhouse Recruiting: its webhooks (signed over the body with
//! `Signature: sha256 <hex>`, still v1-shaped) and the Harvest **v3** API
//! we write referrals back to, look candidates and jobs up in, and
//! reconcile against (OAuth client credentials; Harvest v1/v2 was removed
//! on 31 Aug 2026).
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent`](crate::intake::IntakeEvent) (applications, stage
//!   changes, offers, merges, deletions, anonymisation);
//! * [`harvest`]: the Harvest v3 client ([`GreenhouseClient`]): token,
//!   cursor pages, rate-limit window, referrer and tag look-ups;
//! * `connector`: the [`crate::connectors::Connector`] it implements
//!   (write-back, look-ups, application state, job facts, reconciliation
//!   listings);
//! * [`model`]: v3's record shapes, enums parsed at the edge.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, the write-back job
//! ([`crate::capture::write_back`]) and reconciliation
//! ([`crate::maintenance::reconcile`]) call the connector.

mod connector;
pub mod harvest;
pub mod model;
pub mod webhook;

pub use harvest::{GreenhouseClient, GreenhouseConfig};
pub use webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, decode, sign, verify};
