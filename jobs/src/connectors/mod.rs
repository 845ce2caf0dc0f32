//! One folder per system that sends us candidates: how to trust its
//! webhooks, what they mean, and how to talk to its API.
//!
//! | connector | webhook: verify + decode to an [`IntakeEvent`](crate::intake::IntakeEvent) | API client |
//! |---|---|---|
//! | [`careers_site`] (our own careers site, and the generic JSON any ATS without a connector can send) | Standard Webhooks | none |
//! | [`greenhouse`] | `Signature: sha256 <hex>` over the body | Harvest: write-back, offers and applications for reconciliation |
//! | [`lever`] | HMAC over `token + triggeredAt` (the body is not signed, so events only name the opportunity to re-fetch) | write-back, opportunity re-fetch, reconciliation reads |
//! | [`ashby`] | `Ashby-Signature: sha256=<hex>` over the body; inbox key (`webhookActionId`, `action`) | write-back (custom field, tag, credited-to user), application and candidate look-ups |
//!
//! Each folder has a `webhook.rs` (verify and decode, pure: no I/O) and,
//! where the vendor has an API we call, an `api.rs`; its `mod.rs` says
//! what the vendor is to us and re-exports what callers use. Adding an ATS
//! means adding a folder like these, its [`crate::intake::Source`] and
//! [`entities::states::Ats`] values, and its arm in
//! [`crate::intake::decode`].
//!
//! Shared by the folders:
//!
//! * [`signature`]: reading headers without an HTTP library, and the
//!   constant-time HMAC checks;
//! * [`json`]: typed access to a decoded body whose errors name the field;
//! * [`api`]: the write-back contract and the API transport (auth, rate
//!   limit, answers as retry decisions), on top of [`crate::outbound`].
//!
//! Callers: the HTTP intake (`worker/src/http/webhooks.rs`) verifies with
//! `verify`; [`crate::intake::decode`] decodes; the write-back job
//! ([`crate::capture::write_back`]), capture's Lever re-fetch and
//! reconciliation use the API clients the worker builds.
//!
//! # Write-back
//!
//! When the service attributes an application to a referrer, a job calls
//! [`AtsClient::write_referral`] with a [`WriteBack`]. What that means per
//! vendor:
//!
//! * **Greenhouse** ([`greenhouse`], Harvest v1): set the referrer and our
//!   referral token (a custom field) on the *application*, then tag the
//!   *candidate*. Greenhouse's own referral credit only works for users who
//!   have signed in, so the custom field is what carries the attribution for
//!   everyone else.
//! * **Lever** ([`lever`]): add a tag and a source to the *opportunity*.
//!   Lever also needs reading back (its webhooks carry only ids), hence
//!   [`LeverClient::get_opportunity`].
//!
//! [`AtsClient`] uses native `async fn` in traits, which cannot be made into
//! a `dyn` object. Callers hold an [`Ats`] instead, an enum over the two
//! clients (the same pattern as [`queue::QueueStore`]): static
//! dispatch, no boxing, and `match` reaches vendor-only methods such as
//! [`LeverClient::get_opportunity`] through [`Ats::as_lever`].

pub mod api;
pub mod ashby;
pub mod careers_site;
pub mod greenhouse;
pub mod json;
pub mod lever;
pub mod signature;

pub use api::{AtsClient, WriteBack};

use crate::error::Result;
use greenhouse::GreenhouseClient;
use lever::LeverClient;

/// The ATS this deployment writes back to.
#[derive(Debug)]
pub enum Ats {
    /// Greenhouse Harvest.
    Greenhouse(GreenhouseClient),
    /// Lever.
    Lever(LeverClient),
}

impl Ats {
    /// `"greenhouse"` or `"lever"`, for logs.
    pub fn vendor(&self) -> &'static str {
        match self {
            Ats::Greenhouse(_) => greenhouse::api::VENDOR,
            Ats::Lever(_) => lever::api::VENDOR,
        }
    }

    /// The Greenhouse client, if this is Greenhouse.
    pub fn as_greenhouse(&self) -> Option<&GreenhouseClient> {
        match self {
            Ats::Greenhouse(c) => Some(c),
            Ats::Lever(_) => None,
        }
    }

    /// The Lever client, if this is Lever (for
    /// [`LeverClient::get_opportunity`]).
    pub fn as_lever(&self) -> Option<&LeverClient> {
        match self {
            Ats::Lever(c) => Some(c),
            Ats::Greenhouse(_) => None,
        }
    }
}

impl From<GreenhouseClient> for Ats {
    fn from(c: GreenhouseClient) -> Self {
        Ats::Greenhouse(c)
    }
}

impl From<LeverClient> for Ats {
    fn from(c: LeverClient) -> Self {
        Ats::Lever(c)
    }
}

impl AtsClient for Ats {
    async fn write_referral(&self, w: &WriteBack) -> Result<()> {
        match self {
            Ats::Greenhouse(c) => c.write_referral(w).await,
            Ats::Lever(c) => c.write_referral(w).await,
        }
    }
}
