//! The connector conformance harness: what a fake of an ATS's API lets the
//! conformance suite (`tests/tests/api/connector_conformance.rs`) do, so
//! that one set of behaviours, written once against
//! [`jobs::connectors::Connector`], runs against every vendor.
//!
//! A vendor joins the suite by implementing [`ConnectorFake`] for its fake
//! (a real local HTTP server that behaves like the vendor's API: see
//! [`crate::vendors`]) and adding one line to the suite's `conformance!`
//! list. The fake seeds candidates and applications, marks hires, forces
//! throttles, server errors and credential expiry, and reports what was
//! written to it both as the vendor would show it ([`Shown`]) and as the
//! writes it received ([`Writes`]).
//!
//! What a vendor cannot do is declared, not skipped: [`Capabilities`] says
//! how it authenticates, whether it can search by phone, which attribution
//! parts it lets us write, and its documented rate limit, and the suite
//! asserts the declared behaviour either way (a vendor without phone search
//! must not claim a phone match; a vendor without a field write must report
//! the part skipped, with a reason; a vendor whose API gives no start date
//! must report none, not one made up from the hire).
//!
//! One implementation per vendor, next to this file.

pub mod ashby;
pub mod greenhouse;
pub mod lever;
pub mod smartrecruiters;
pub mod workable;

use std::{collections::HashMap, future::Future, sync::Arc, time::Instant};

use chrono::NaiveDate;
use jobs::connectors::{AttributionPart, Connector};

pub use crate::vendors::faults::RateLimit;

/// How a vendor's API authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// A long-lived API key (Lever, Ashby): nothing expires mid-run; a key
    /// the vendor stops accepting is a permanent failure.
    ApiKey,
    /// OAuth client credentials (Greenhouse Harvest v3): access tokens
    /// expire, and a 401 mints a new one once.
    OAuthClientCredentials,
}

/// What a vendor can do, as its documentation says (each implementation
/// cites where).
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// How requests authenticate.
    pub auth: AuthKind,
    /// Whether candidates can be looked up by phone number.
    pub search_by_phone: bool,
    /// The attribution parts a write-back writes; the others are reported
    /// skipped, each with a reason.
    pub writes: Vec<AttributionPart>,
    /// The documented request budget the fake enforces.
    pub rate_limit: RateLimit,
    /// Whether the API gives a hire's start date (an accepted offer's);
    /// a vendor without must report none rather than guess one.
    pub reads_start_dates: bool,
}

/// A candidate to seed: their email (as they typed it), phone and job.
#[derive(Debug, Clone)]
pub struct NewCandidate {
    /// Email address.
    pub email: String,
    /// Phone number, E.164.
    pub phone: String,
    /// The job they applied to, in the vendor's id space.
    pub job_id: String,
}

/// What seeding created, in the vendor's id space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    /// The candidate (Lever: contact).
    pub candidate_id: String,
    /// Their application (Lever: opportunity).
    pub application_id: String,
}

/// An ATS user who can be credited with a referral.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// Their work email, as our employee directory has it.
    pub email: String,
    /// Their user id in the ATS.
    pub user_id: String,
}

/// The attribution as the vendor shows it on an application (and its
/// candidate), after what was written to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    /// Tags (Lever: the opportunity's; Ashby: the candidate's).
    pub tags: Vec<String>,
    /// Sources.
    pub sources: Vec<String>,
    /// Our referral token in the vendor's custom field.
    pub token: Option<String>,
    /// The user credited with the referral.
    pub credited_user: Option<String>,
}

/// Write requests the fake received, per attribution part, plus the tag
/// definitions created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    /// Writes per part.
    pub by_part: HashMap<AttributionPart, usize>,
    /// Tag definitions created (a vendor whose tags must exist first).
    pub tags_created: usize,
}

impl Writes {
    /// Writes of `part`.
    pub fn of(&self, part: AttributionPart) -> usize {
        self.by_part.get(&part).copied().unwrap_or(0)
    }
}

/// A vendor's fake, as the conformance suite drives it (module docs).
pub trait ConnectorFake: Sized + Send + Sync + 'static {
    /// The vendor's capabilities.
    fn capabilities() -> Capabilities;

    /// Starts the fake with no candidates.
    fn start() -> impl Future<Output = Self> + Send;

    /// The vendor's connector as the worker builds it (the production
    /// defaults: rate limit, waits), pointed at this fake (with private
    /// networks allowed, as it listens on 127.0.0.1).
    fn connector(&self) -> Arc<dyn Connector>;

    /// At most `n` items per page of every listing.
    fn page_size(&self, n: usize);

    /// Seeds a candidate with an application on their job, applied and
    /// updated now.
    fn seed(&self, candidate: &NewCandidate) -> Seeded;

    /// Marks the application hired as the vendor states a hire, with an
    /// accepted offer starting on `starts_on`.
    fn mark_hired(&self, seeded: &Seeded, starts_on: NaiveDate);

    /// Makes the application look hired to a careless reader (a stage or
    /// reason labelled "Hired", an offer) while the vendor's own state
    /// says it is not.
    fn mark_hired_in_name_only(&self, seeded: &Seeded);

    /// A user of the ATS our referrer maps to.
    fn referrer(&self) -> Referrer;

    /// The next `n` requests are answered `429` with `Retry-After: secs`.
    fn throttle_next(&self, n: u32, secs: u64);

    /// The next `n` requests are answered with server error `status`.
    fn fail_next(&self, n: u32, status: u16);

    /// Holds callers to [`Capabilities::rate_limit`] from now on.
    fn enforce_rate_limit(&self);

    /// Requests answered 429 because the caller went over the limit.
    fn over_limit(&self) -> usize;

    /// OAuth: the current access token expires now (a new one can be
    /// minted). API key: the key is revoked.
    fn expire_credentials(&self);

    /// Access tokens minted so far (0 for API-key vendors).
    fn tokens_issued(&self) -> usize;

    /// What the vendor shows on the seeded application now.
    fn shown(&self, seeded: &Seeded) -> Shown;

    /// The writes received so far.
    fn writes(&self) -> Writes;

    /// When each request arrived, oldest first.
    fn arrivals(&self) -> Vec<Instant>;
}
