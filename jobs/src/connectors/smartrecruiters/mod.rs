//! SmartRecruiters: its webhooks (a subscription handshake echoing
//! `X-Hook-Secret`, then notifications signed
//! `smartrecruiters-signature: v1=<hex>` over the timestamp, body and
//! event headers, with bodies that carry ids only) and the Customer API the
//! decisions are read from and the attribution is written back to.
//!
//! * [`webhook`]: verify a notification (any `v1=` value under any active
//!   key, within the timestamp tolerance), the envelope the inbox stores
//!   (the verified event headers with the body), and decode it into an
//!   [`IntakeEvent`](crate::intake::IntakeEvent): which (candidate, job)
//!   assignment to re-read, or the candidate to erase;
//! * [`api`]: the SmartRecruiters client ([`SmartRecruitersClient`]):
//!   candidate reads (by id, by email, changed since), users by email,
//!   write-back (candidate property per job, tag, source per job), within
//!   10 requests per second, 8 concurrent requests and 1 concurrent
//!   `GET /candidates` per credential;
//! * `connector.rs`: [`SmartRecruitersClient`] as a
//!   [`Connector`](crate::connectors::Connector).
//!
//! One SmartRecruiters candidate holds one *assignment* per job it
//! applied to (a primary one and secondaries); each assignment is one of
//! our applications, with the id `<candidate id>:<job id>`
//! ([`application_id`]). A hire is the assignment's status `HIRED` (or
//! `HIRE`, the Application API's spelling), its start date the
//! assignment's `startsOn`. `candidate.deleted` is the only delete
//! signal; no merge event exists (reconciliation notices a 404).
//!
//! Callers: the HTTP intake answers the handshake, verifies and keys
//! (`worker/src/http/webhooks.rs`), [`crate::intake::decode`] decodes,
//! capture re-reads the assignment (`crate::capture`), the write-back job
//! ([`crate::capture::write_back`]) and reconciliation call the connector.

pub mod api;
mod connector;
pub mod webhook;

pub use api::{
    BASE_URL, SmartRecruitersClient, SmartRecruitersConfig, application_id, credential_quota,
    split_application_id,
};
pub use webhook::{
    HOOK_SECRET_HEADER, Notification, decode, handshake_secret, stored_envelope, verify_at,
};
