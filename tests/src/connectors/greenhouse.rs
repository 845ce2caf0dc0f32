//! Greenhouse in the connector conformance suite: [`FakeGreenhouse`]
//! (Harvest v3) driven through [`ConnectorFake`], and [`GreenhouseClient`]
//! built as the worker builds it.
//!
//! What Greenhouse can do, from `docs/greenhouse-harvest-v3.md`: OAuth
//! client credentials whose access tokens expire (§1); `GET
//! /v3/candidates?email=` and no phone filter (§3); a write-back sets the
//! token custom field, `source_id` and `referrer_id` on the application and
//! applies a candidate tag (§4); a fixed 30-second window of 75 requests
//! announced in `X-RateLimit-*` (§5). The suite's rate-limit scenario runs
//! that window scaled down to [`SCALED_WINDOW`] so it crosses several
//! windows in seconds; the client must pause on `X-RateLimit-Remaining: 0`
//! until `X-RateLimit-Reset` either way.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{NaiveDate, Utc};
use jobs::connectors::{
    AttributionPart, Connector,
    greenhouse::{GreenhouseClient, GreenhouseConfig},
};
use serde_json::json;

use super::{AuthKind, Capabilities, ConnectorFake, NewCandidate, Referrer, Seeded, Shown, Writes};
use crate::vendors::{
    faults::RateLimit,
    greenhouse::{CLIENT_ID, CLIENT_SECRET, FakeGreenhouse, RATE_LIMIT, USER_ID},
};

/// Distinguishes the records seeded in one process (Greenhouse ids are
/// integers).
static SEEDED: AtomicU64 = AtomicU64::new(7_100_000);

/// The job every conformance candidate applies to (the suite's job ids are
/// not Greenhouse's integers).
const JOB: u64 = 4_100_001;

/// The "Referral" source the worker is configured to set.
const REFERRAL_SOURCE: u64 = 3_300_007;

/// The referrer's Greenhouse user and referrer row.
const PRIYA_USER: u64 = 4_410_123;
const PRIYA_REFERRER: u64 = 5_510_123;

/// The scaled-down window of the rate-limit scenario: the documented
/// 75 per 30 s shape, at 8 per 3 s.
const SCALED_WINDOW: (u32, Duration) = (8, Duration::from_secs(3));

/// The custom field our token goes to.
const TOKEN_FIELD: &str = "referral_token";

fn next_id() -> u64 {
    SEEDED.fetch_add(1, Ordering::Relaxed)
}

fn id(s: &str) -> u64 {
    s.parse().expect("a Greenhouse id the fake seeded")
}

impl ConnectorFake for FakeGreenhouse {
    fn capabilities() -> Capabilities {
        Capabilities {
            auth: AuthKind::OAuthClientCredentials,
            search_by_phone: false,
            writes: vec![
                AttributionPart::CustomField,
                AttributionPart::Source,
                AttributionPart::Referrer,
                AttributionPart::Tag,
            ],
            rate_limit: RateLimit {
                per_second: f64::from(RATE_LIMIT) / 30.0,
                burst: RATE_LIMIT,
            },
            reads_start_dates: true,
        }
    }

    async fn start() -> Self {
        FakeGreenhouse::start().await
    }

    fn connector(&self) -> Arc<dyn Connector> {
        let mut config = GreenhouseConfig::new(CLIENT_ID, CLIENT_SECRET, USER_ID);
        config.base_url = self.base_url().parse().expect("the fake's URL");
        config.token_url = self.token_url().parse().expect("the fake's token URL");
        config.token_field_key = Some(TOKEN_FIELD.into());
        config.referral_source_id = Some(REFERRAL_SOURCE.to_string());
        // The fake is on 127.0.0.1, which the SSRF guard refuses by default.
        config.http.allow_private_networks = true;
        Arc::new(GreenhouseClient::new(config).expect("a Greenhouse client"))
    }

    fn page_size(&self, n: usize) {
        self.harvest.page_size(n);
    }

    fn seed(&self, c: &NewCandidate) -> Seeded {
        let (candidate, application) = (next_id(), next_id());
        self.harvest
            .candidate(candidate, "Test", "Candidate", &c.email);
        let mut record = self
            .harvest
            .record("candidates", candidate)
            .expect("seeded");
        record["phone_numbers"] = json!([{ "value": c.phone, "type": "mobile" }]);
        self.harvest.put("candidates", record);
        self.harvest
            .application(application, candidate, JOB, "in_process", Utc::now());
        Seeded {
            candidate_id: candidate.to_string(),
            application_id: application.to_string(),
        }
    }

    fn mark_hired(&self, s: &Seeded, starts_on: NaiveDate) {
        let app = id(&s.application_id);
        let mut record = self.harvest.record("applications", app).expect("seeded");
        record["status"] = json!("hired");
        record["stage_name"] = json!("Offer");
        self.harvest.put("applications", record);
        self.harvest.offer(next_id(), app, "Accepted", starts_on);
    }

    fn mark_hired_in_name_only(&self, s: &Seeded) {
        // In a stage named "Hired" with an accepted offer, but v3's
        // `status` (what decides) is still `in_process`.
        let app = id(&s.application_id);
        let mut record = self.harvest.record("applications", app).expect("seeded");
        record["stage_name"] = json!("Hired");
        self.harvest.put("applications", record);
        let starts = Utc::now().date_naive() + chrono::Duration::days(30);
        self.harvest.offer(next_id(), app, "Accepted", starts);
    }

    fn referrer(&self) -> Referrer {
        let email = "priya.raman@acme-example.com";
        self.harvest.user(PRIYA_USER, email);
        self.harvest.referrer(PRIYA_REFERRER, Some(PRIYA_USER));
        Referrer {
            email: email.into(),
            user_id: PRIYA_USER.to_string(),
        }
    }

    fn throttle_next(&self, n: u32, secs: u64) {
        self.harvest.throttle(n, secs);
    }

    fn fail_next(&self, n: u32, status: u16) {
        self.harvest.fail_next(n, status);
    }

    fn enforce_rate_limit(&self) {
        let (n, window) = SCALED_WINDOW;
        self.harvest.rate_limit(n);
        self.harvest.window_length(window);
    }

    fn over_limit(&self) -> usize {
        self.harvest.over_limit()
    }

    fn expire_credentials(&self) {
        self.harvest.expire_tokens();
    }

    fn tokens_issued(&self) -> usize {
        self.harvest.tokens_issued()
    }

    fn shown(&self, s: &Seeded) -> Shown {
        let app = self
            .harvest
            .record("applications", id(&s.application_id))
            .unwrap_or_default();
        let credited_user = app["referrer_id"]
            .as_u64()
            .and_then(|r| self.harvest.record("referrers", r))
            .and_then(|r| r["user_id"].as_u64())
            .map(|u| u.to_string());
        Shown {
            tags: self.harvest.tags_of(id(&s.candidate_id)),
            sources: app["source_id"]
                .as_u64()
                .map(|s| s.to_string())
                .into_iter()
                .collect(),
            token: app["custom_fields"][TOKEN_FIELD]["value"]
                .as_str()
                .map(str::to_owned),
            credited_user,
        }
    }

    fn writes(&self) -> Writes {
        let mut writes = Writes::default();
        for seen in self.seen() {
            match (seen.method.as_str(), seen.path.as_str()) {
                ("PATCH", p) if p.starts_with("/v3/applications/") => {
                    let body = seen.json();
                    for (key, part) in [
                        ("custom_fields", AttributionPart::CustomField),
                        ("source_id", AttributionPart::Source),
                        ("referrer_id", AttributionPart::Referrer),
                    ] {
                        if body.get(key).is_some() {
                            *writes.by_part.entry(part).or_default() += 1;
                        }
                    }
                }
                ("POST", "/v3/applied_candidate_tags") => {
                    *writes.by_part.entry(AttributionPart::Tag).or_default() += 1;
                }
                ("POST", "/v3/candidate_tags") => writes.tags_created += 1,
                _ => {}
            }
        }
        writes
    }

    fn arrivals(&self) -> Vec<Instant> {
        // API requests only: minting a token is not a call the rate limit
        // or a `Retry-After` governs.
        self.seen()
            .iter()
            .filter(|s| s.path.starts_with("/v3/"))
            .map(|s| s.at)
            .collect()
    }
}
