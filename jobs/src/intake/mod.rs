//! Inbound webhooks, from raw bytes to one [`IntakeEvent`]: the inbox that
//! keeps every delivery, and the one place that knows which connector
//! decodes which source.
//!
//! A delivery is decoded twice: by the HTTP intake (`worker/src/http/`),
//! which verifies it with its connector's `verify` and decodes it to answer
//! 401/400/422 at once and store the raw body in the inbox; and by the
//! processing job ([`crate::capture`]), which decodes the stored bytes
//! again and acts. Ops decode stored bodies too, to find the deliveries
//! about a referral and to replay one. All of them call [`decode`] (or
//! [`decode_stored`]); decoding is pure (no I/O), so all see the same
//! event.
//!
//! * [`event`]: the typed events, with the ATS and source as enums;
//! * [`inbox`]: the `inbox` table: every delivery and refusal, written
//!   before anything else (the batching writer), and the `process_delivery`
//!   job it enqueues;
//! * the decoders themselves are the connectors'
//!   ([`crate::connectors`]).

pub mod event;
pub mod inbox;

use entities::inbox::InboxSource;

pub use event::{ApplicationEvent, IntakeError, IntakeEvent, Source, StageChange};

use crate::connectors::{ashby, careers_site, greenhouse, lever, smartrecruiters, workable};

/// Decodes a verified body from `source` with that source's connector.
/// `start_date_field` is where a careers-site `application.status_changed`
/// keeps its start date (`[milestones] start_date_field`).
///
/// # Errors
/// As the connector's `decode`: malformed JSON, or a field that is missing
/// or has the wrong type.
pub fn decode(
    source: Source,
    body: &[u8],
    start_date_field: &str,
) -> Result<IntakeEvent, IntakeError> {
    match source {
        Source::CareersSite => careers_site::decode_with(body, start_date_field),
        Source::Greenhouse => greenhouse::decode(body),
        Source::Lever => lever::decode(body),
        Source::Ashby => ashby::decode(body),
        Source::Workable => workable::decode(body),
        Source::SmartRecruiters => smartrecruiters::decode(body),
    }
}

/// Why a stored inbox body does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredBodyError {
    /// A `generic` row: no connector decodes those.
    #[error("no decoder for generic deliveries")]
    NoDecoder,
    /// The connector refuses the body (it changed since it was stored, or
    /// the decoder did).
    #[error(transparent)]
    Invalid(#[from] IntakeError),
}

/// [`decode`] for a body as the inbox stores it, by its `source` column.
///
/// # Errors
/// [`StoredBodyError`].
pub fn decode_stored(
    source: InboxSource,
    body: &[u8],
    start_date_field: &str,
) -> Result<IntakeEvent, StoredBodyError> {
    let source = inbox::stored_source(source).ok_or(StoredBodyError::NoDecoder)?;
    Ok(decode(source, body, start_date_field)?)
}
