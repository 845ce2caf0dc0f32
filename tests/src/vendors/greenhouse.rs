//! The fake Greenhouse Harvest v3 for end-to-end tests (and the connector
//! conformance suite): the one fake of `jobs::test_support::greenhouse`
//! ([`FakeHarvest`]: token endpoint, `/v3/...` with cursor pages, 429 with
//! `Retry-After`, keyed custom fields) hosted on a real local HTTP server
//! ([`FakeAts`]), which also records every request for assertions.
//!
//! The token endpoint is `<root>/token`, the API `<root>/v3`;
//! [`configure`] points a service's settings at both with the test
//! credential ([`CLIENT_ID`], [`CLIENT_SECRET`], [`USER_ID`]).

pub use jobs::test_support::greenhouse::{FakeHarvest, RATE_LIMIT};
use worker::config::{Secret, Settings};

use crate::fixtures::{FakeAts, Seen, sample};

/// The Harvest V3 (OAuth) client id in tests.
pub const CLIENT_ID: &str = "gh-test-client";
/// Its client secret.
pub const CLIENT_SECRET: &str = "gh-test-client-secret-0123456789";
/// The Site Admin the tokens act as (`sub`).
pub const USER_ID: &str = "4410007";

/// The fake Harvest v3 on a local server.
pub struct FakeGreenhouse {
    /// The server (the requests it saw).
    pub ats: FakeAts,
    /// The vendor's state: seed records, force failures, read writes back.
    pub harvest: FakeHarvest,
}

impl FakeGreenhouse {
    /// Starts an empty fake for the test credential.
    pub async fn start() -> Self {
        let harvest = FakeHarvest::new(CLIENT_ID, CLIENT_SECRET);
        let host = harvest.clone();
        let ats = FakeAts::start_with_headers(move |seen: &Seen| {
            host.answer(&jobs::test_support::greenhouse::Request {
                method: &seen.method,
                path: &seen.path,
                query: seen.query.as_deref(),
                authorization: seen.header("authorization"),
                body: &seen.body,
            })
        })
        .await;
        harvest.set_root(&Self::root_of(&ats));
        Self { ats, harvest }
    }

    fn root_of(ats: &FakeAts) -> String {
        ats.base_url.trim_end_matches("/v1").to_owned()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn root(&self) -> String {
        Self::root_of(&self.ats)
    }

    /// The API base URL, `<root>/v3`.
    pub fn base_url(&self) -> String {
        format!("{}/v3", self.root())
    }

    /// The token endpoint, `<root>/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.root())
    }

    /// Seeds what Greenhouse holds for the recorded samples: their
    /// application ([`sample::GH_APPLICATION`] of candidate
    /// [`sample::GH_CANDIDATE`], job [`sample::JOB`]), in process.
    pub fn seed_samples(&self) {
        let id = |s: &str| s.parse::<u64>().expect("a numeric sample id");
        self.harvest.application(
            id(sample::GH_APPLICATION),
            id(sample::GH_CANDIDATE),
            id(sample::JOB),
            "in_process",
            chrono::Utc::now(),
        );
        self.harvest.candidate(
            id(sample::GH_CANDIDATE),
            "José",
            "Almeida",
            sample::EMAIL_CANONICAL,
        );
    }

    /// The requests with `method` whose path is `path`.
    pub fn requests(&self, method: &str, path: &str) -> Vec<Seen> {
        self.ats.requests(method, path)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.ats.seen()
    }

    /// Compact `METHOD path` lines, for assertion messages.
    pub fn summary(&self) -> Vec<String> {
        self.ats.summary()
    }
}

/// Points `s` at the fake with the test credential.
pub fn configure(s: &mut Settings, base_url: &str, token_url: &str) {
    let gh = &mut s.ats.greenhouse;
    gh.base_url = base_url.into();
    gh.token_url = token_url.into();
    gh.client_id = CLIENT_ID.into();
    gh.client_secret = Secret::new(CLIENT_SECRET);
    gh.user_id = USER_ID.into();
    gh.requests_per_window = 3000;
}
