//! Our own careers site, and the generic JSON any ATS without a connector
//! of its own can send in the same envelope: Standard Webhooks deliveries,
//! signed with a shared secret. It has no API we call.
//!
//! * [`webhook`]: verify a delivery (and check the secret at start-up),
//!   decode `application.submitted` and `application.status_changed` into
//!   an [`IntakeEvent`](crate::intake::IntakeEvent).
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`), the
//! worker's configuration checks the secret (`worker/src/config/validate.rs`),
//! [`crate::intake::decode`] decodes, capture reads [`is_test`].

pub mod webhook;

pub use webhook::{
    APPLICATION_STATUS_CHANGED, APPLICATION_SUBMITTED, DEFAULT_START_DATE_FIELD, TOLERANCE_SECS,
    decode, decode_with, is_test, validate_secret, verify, verify_at,
};
