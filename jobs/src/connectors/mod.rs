//! One folder per system that sends us candidates: how to trust its
//! webhooks, what they mean, and how to talk to its API.
//!
//! | connector | webhook: verify + decode to an [`IntakeEvent`](crate::intake::IntakeEvent) | API client |
//! |---|---|---|
//! | [`careers_site`] (our own careers site, and the generic JSON any ATS without a connector can send) | Standard Webhooks | none |
//! | [`greenhouse`] | `Signature: sha256 <hex>` over the body | Harvest v3 (OAuth client credentials): write-back, candidate and job look-ups, applications and offers for reconciliation |
//! | [`lever`] | HMAC over `token + triggeredAt` (the body is not signed, so events only name the opportunity to re-fetch) | write-back, opportunity re-fetch, reconciliation reads |
//! | [`ashby`] | `Ashby-Signature: sha256=<hex>` over the body; inbox key (`webhookActionId`, `action`) | write-back (custom field, tag, credited-to user), application and candidate look-ups |
//! | [`smartrecruiters`] | handshake echoing `X-Hook-Secret`; `smartrecruiters-signature: v1=<hex>` over `timestamp.body.event-id.event-name.event-version.link`, any value under any active key, timestamp tolerance; bodies carry ids only | Customer API (`X-SmartToken`; 10 requests / s, 8 concurrent, 1 concurrent `GET /candidates`): assignment reads, write-back (property per job, tag, source with the referring user), reconciliation by `updatedAfter` |
//! | [`workable`] | `X-Workable-Signature: <hex>` over the body; the body only names the candidate to re-read | API v3 (account token, 10 requests / 10 s): candidate reads, write-back (custom attribute, tag), reconciliation by `updated_after` |
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
//! * [`connector`]: **the seam**, the [`Connector`] trait every ATS
//!   implements (write-back, candidate look-up, application state, job
//!   facts, reconciliation listings) with its typed answers, and the
//!   [`Connectors`] registry callers hold;
//! * [`signature`]: reading headers without an HTTP library, and the
//!   constant-time HMAC checks;
//! * [`json`]: typed access to a decoded body whose errors name the field;
//! * [`api`]: the API transport (auth, rate limit, answers as retry
//!   decisions), on top of [`crate::outbound`];
//! * [`oauth`]: client-credentials tokens shared by the whole process.
//!
//! Callers: the HTTP intake (`worker/src/http/webhooks.rs`) verifies with
//! `verify`; [`crate::intake::decode`] decodes; the write-back job
//! ([`crate::capture::write_back`]), capture's re-fetch of Lever events and
//! reconciliation use the [`Connectors`] the worker builds, through the
//! trait only.
//!
//! # Write-back
//!
//! When the service attributes an application to a referrer, a job calls
//! [`Connector::write_attribution`] with a [`WriteBack`]. What that means
//! per vendor:
//!
//! * **Greenhouse** ([`greenhouse`]): set our referral token (a custom
//!   field), the source and the referrer *record* on the *application*,
//!   then tag the *candidate*. v3 referrer records are read-only (created
//!   in Greenhouse's UI), so the custom field is what carries the
//!   attribution for an employee without one.
//! * **Lever** ([`lever`]): add a tag and a source to the *opportunity*.
//!   Lever also needs reading back (its webhooks carry only ids), hence
//!   [`Connector::application_state`].
//! * **Workable** ([`workable`]): our token into a configured custom
//!   attribute and the tag added to the *candidate*'s list (Workable has no
//!   referrer field). Workable is read back too: its webhook body is the
//!   candidate as it was when sent.
//! * **SmartRecruiters** ([`smartrecruiters`]): our token into a configured
//!   candidate property of the job, the tag appended to the *candidate*'s
//!   (`POST`, never the replacing `PUT`), and the referring user as the
//!   source of the *assignment* (candidate, job) under the configured
//!   referral source type. Its webhooks carry ids only, so everything is
//!   read back.

pub mod api;
pub mod ashby;
pub mod careers_site;
pub mod connector;
pub mod greenhouse;
pub mod json;
pub mod lever;
pub mod oauth;
pub mod signature;
pub mod smartrecruiters;
pub mod workable;

pub use connector::{
    ApplicationState, AtsJob, AtsReferrer, AtsStatus, AttributionPart, CandidateMatch,
    CandidateQuery, Connector, Connectors, Page, PageToken, StartDate, WriteBack, WriteReport,
};
