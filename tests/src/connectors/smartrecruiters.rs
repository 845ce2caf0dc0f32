//! SmartRecruiters in the connector conformance suite:
//! [`FakeSmartRecruiters`] driven through [`ConnectorFake`], and
//! [`SmartRecruitersClient`] built as the worker builds it.
//!
//! What SmartRecruiters can do, from `docs/workable-smartrecruiters.md`
//! Part B: an API key in `X-SmartToken` (§B1: nothing to refresh);
//! `GET /candidates?q=` is a keyword search, used for email only (§B4);
//! a write-back sets a candidate property per job, appends the tag, and
//! sets the assignment's source to the referring user under the referral
//! source type, which is the referrer credit (§B4, "Source catalogue");
//! `startsOn` on the assignment is the start date, carried in the listing
//! of changes (§B3); 10 requests per second per key (§B1), with the
//! concurrency limits enforced by the fake throughout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use chrono::NaiveDate;
use jobs::connectors::{
    AttributionPart, Connector,
    smartrecruiters::{SmartRecruitersClient, SmartRecruitersConfig, application_id},
};

use super::{AuthKind, Capabilities, ConnectorFake, NewCandidate, Referrer, Seeded, Shown, Writes};
use crate::vendors::smartrecruiters::{
    FakeSmartRecruiters, REFERRAL_SOURCE_TYPE, SR_RATE_LIMIT, SR_TOKEN, SrCandidate,
    TOKEN_PROPERTY, TOKEN_TAG_PREFIX,
};

/// Distinguishes the candidates seeded in one process.
static SEEDED: AtomicUsize = AtomicUsize::new(0);

/// The referrer every fake knows as a user.
const REFERRER_EMAIL: &str = "priya.raman@acme-example.com";
const REFERRER_USER: &str = "5f1a0c2e9b7d4e00a1b2c3d4";

impl FakeSmartRecruiters {
    /// The SmartRecruiters client as the worker builds it, pointed at this
    /// fake.
    pub fn client(&self) -> SmartRecruitersClient {
        let mut config =
            SmartRecruitersConfig::new(self.base_url.parse().expect("the fake's URL"), SR_TOKEN);
        config.token_property_id = TOKEN_PROPERTY.into();
        config.referral_source_type_id = REFERRAL_SOURCE_TYPE.into();
        config.token_tag_prefix = TOKEN_TAG_PREFIX.into();
        // The fake is on 127.0.0.1, which the SSRF guard refuses by default.
        config.http.allow_private_networks = true;
        SmartRecruitersClient::new(config).expect("a SmartRecruiters client")
    }
}

fn split(s: &Seeded) -> (&str, &str) {
    s.application_id
        .split_once(':')
        .expect("a <candidate>:<job> application id")
}

impl ConnectorFake for FakeSmartRecruiters {
    fn capabilities() -> Capabilities {
        Capabilities {
            auth: AuthKind::ApiKey,
            search_by_phone: false,
            writes: vec![
                AttributionPart::CustomField,
                AttributionPart::Tag,
                AttributionPart::Source,
                AttributionPart::Referrer,
            ],
            rate_limit: SR_RATE_LIMIT,
            reads_start_dates: true,
        }
    }

    async fn start() -> Self {
        let fake = FakeSmartRecruiters::start().await;
        fake.put_user(REFERRER_USER, REFERRER_EMAIL);
        fake
    }

    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.client())
    }

    fn page_size(&self, n: usize) {
        self.state.lock().expect("lock").page_size = Some(n.max(1));
    }

    fn seed(&self, c: &NewCandidate) -> Seeded {
        let n = SEEDED.fetch_add(1, Ordering::Relaxed);
        let id = format!("5e7c{n:020x}");
        self.put_candidate(&SrCandidate {
            phone: c.phone.clone(),
            ..SrCandidate::new(&id, &c.job_id, &c.email)
        });
        Seeded {
            application_id: application_id(&id, &c.job_id),
            candidate_id: id,
        }
    }

    fn mark_hired(&self, s: &Seeded, starts_on: NaiveDate) {
        let (candidate, job) = split(s);
        let date = starts_on.format("%Y-%m-%d").to_string();
        self.set_status(candidate, job, "HIRED", None, Some(&date));
    }

    fn mark_hired_in_name_only(&self, s: &Seeded) {
        // A sub-status labelled "Hired" under the status OFFERED: the
        // status (what decides) says it is no hire.
        let (candidate, job) = split(s);
        self.set_status(candidate, job, "OFFERED", Some("Hired"), None);
    }

    fn referrer(&self) -> Referrer {
        Referrer {
            email: REFERRER_EMAIL.into(),
            user_id: REFERRER_USER.into(),
        }
    }

    fn throttle_next(&self, n: u32, secs: u64) {
        self.state.lock().expect("lock").faults.throttle(n, secs);
    }

    fn fail_next(&self, n: u32, status: u16) {
        self.state.lock().expect("lock").faults.fail(n, status);
    }

    fn enforce_rate_limit(&self) {
        self.state
            .lock()
            .expect("lock")
            .faults
            .enforce(SR_RATE_LIMIT);
    }

    fn over_limit(&self) -> usize {
        FakeSmartRecruiters::over_limit(self)
    }

    fn expire_credentials(&self) {
        self.state.lock().expect("lock").faults.credentials_revoked = true;
    }

    fn tokens_issued(&self) -> usize {
        0
    }

    fn shown(&self, s: &Seeded) -> Shown {
        let (candidate, job) = split(s);
        let source = self.source_of(candidate, job);
        Shown {
            tags: self.tags_of(candidate),
            sources: source
                .as_ref()
                .and_then(|v| v["sourceTypeId"].as_str().map(str::to_owned))
                .into_iter()
                .collect(),
            token: self
                .property_of(candidate, job, TOKEN_PROPERTY)
                .and_then(|t| t.as_str().map(str::to_owned)),
            credited_user: source.and_then(|v| v["sourceId"].as_str().map(str::to_owned)),
        }
    }

    fn writes(&self) -> Writes {
        let mut writes = Writes::default();
        for seen in self.seen() {
            let parts: &[AttributionPart] = match seen.method.as_str() {
                "PUT" if seen.path.contains("/properties/") => &[AttributionPart::CustomField],
                "POST" | "PUT" if seen.path.ends_with("/tags") => &[AttributionPart::Tag],
                // One write is both: the referring user as the source.
                "PUT" if seen.path.ends_with("/source") => {
                    &[AttributionPart::Source, AttributionPart::Referrer]
                }
                _ => continue,
            };
            for part in parts {
                *writes.by_part.entry(*part).or_default() += 1;
            }
        }
        writes
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.seen().iter().map(|s| s.at).collect()
    }
}
