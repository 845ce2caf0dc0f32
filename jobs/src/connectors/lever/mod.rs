//! Lever: its webhooks (an HMAC over `token + triggeredAt` only: the body
//! is not signed, so an event only names the opportunity to re-fetch) and
//! the API we re-fetch opportunities from, write referrals back to and
//! reconcile against.
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent::LeverOpportunity`](crate::intake::IntakeEvent::LeverOpportunity);
//! * [`api`]: the Lever client ([`LeverClient`]): write-back, opportunity
//!   look-ups, the reads reconciliation makes;
//!   it implements [`crate::connectors::Connector`], through which capture
//!   ([`crate::capture::refetch`]) reads the opportunity instead of trusting
//!   the unsigned body.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, capture ([`crate::capture`]) re-fetches,
//! the write-back job and reconciliation call the API.

pub mod api;
pub mod webhook;

pub use api::{LeverClient, LeverConfig, LeverOpportunity};
pub use webhook::{LeverDelivery, MAX_FUTURE_SKEW, OPPORTUNITY_EVENTS, decode, verify};
