//! Lever: its webhooks (an HMAC over `token + triggeredAt` only: the body
//! is not signed, so an event only names the opportunity to re-fetch) and
//! the API we re-fetch opportunities from, write referrals back to and
//! reconcile against.
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent::LeverOpportunity`](crate::intake::IntakeEvent::LeverOpportunity);
//! * [`api`]: the Lever client ([`LeverClient`]): write-back, opportunity
//!   look-ups and what decides their meaning (archive reasons, offers,
//!   referral forms, users), the reads reconciliation makes;
//! * [`connector`]: the client behind the seam every ATS implements
//!   ([`crate::connectors::Connector`]): what capture
//!   ([`crate::capture::refetch`]) reads instead of trusting the unsigned
//!   body, and what reconciliation lists;
//! * [`model`]: what the answers are parsed into;
//! * [`token`]: where the customer puts our referral token in Lever
//!   (`ats.lever.token_from`).
//!
//! # What decides
//!
//! The event name is not signed, so it never decides anything: a
//! `candidateHired` is a hint to look. An opportunity is **hired** when
//! Lever archived it for a reason whose `type` is `hired`
//! (`GET /archive_reasons`). Its **start date** is the
//! `anticipated_start_date` of its newest signed offer. Its **referrer** is
//! the Lever user its referral form (`GET /opportunities/:id/referrals`)
//! names, or the user of a `referral` application; capture maps that user
//! to an employee by the email Lever has for them. A **referral token** is read from where
//! `ats.lever.token_from` says, besides the careers-site twin that capture
//! matches on its own.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, capture (`crate::capture::lever`)
//! re-fetches and drops a `candidateHired` the API does not confirm, the
//! write-back job and reconciliation go through the seam.

pub mod api;
pub mod connector;
pub mod model;
pub mod token;
pub mod webhook;

pub use api::{LeverClient, LeverConfig};
pub use model::{LeverOffer, LeverOpportunity, LeverStatus};
pub use token::TokenPlace;
pub use webhook::{LeverDelivery, MAX_FUTURE_SKEW, OPPORTUNITY_EVENTS, decode, verify};

/// The event that claims a hire (and proves none).
pub const HIRED_EVENT: &str = "candidateHired";
