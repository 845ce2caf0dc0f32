//! Lever in the connector conformance suite: [`FakeLever`] driven through
//! [`ConnectorFake`], and [`LeverClient`] built as the worker builds it.
//!
//! What Lever can do, from `docs/ats-and-referrals.md` §1.3 (Lever API):
//! Basic auth with an API key; look-up by email only
//! (`GET /opportunities?email=`, no phone search); tags and sources are
//! the only writes on an existing opportunity (no documented custom-field
//! or referrer write); 10 requests a second with bursts of 20.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use chrono::{NaiveDate, Utc};
use jobs::connectors::{
    AttributionPart, Connector,
    lever::{LeverClient, LeverConfig},
};
use serde_json::{Value, json};

use super::{AuthKind, Capabilities, ConnectorFake, NewCandidate, Referrer, Seeded, Shown, Writes};
use crate::{
    fixtures::{LEVER_KEY, lever_opportunity},
    vendors::lever::{
        FakeLever, HIRED_ELSEWHERE_REASON, HIRED_REASON, LEVER_RATE_LIMIT, archived, offer,
    },
};

/// Distinguishes the opportunities seeded in one process.
static SEEDED: AtomicUsize = AtomicUsize::new(0);

fn text_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

impl ConnectorFake for FakeLever {
    fn capabilities() -> Capabilities {
        Capabilities {
            auth: AuthKind::ApiKey,
            search_by_phone: false,
            writes: vec![AttributionPart::Tag, AttributionPart::Source],
            rate_limit: LEVER_RATE_LIMIT,
            reads_start_dates: true,
        }
    }

    async fn start() -> Self {
        FakeLever::start().await
    }

    fn connector(&self) -> Arc<dyn Connector> {
        let mut config = LeverConfig::new(LEVER_KEY);
        config.base_url = self.ats.base_url.parse().expect("the fake's URL");
        // The fake is on 127.0.0.1, which the SSRF guard refuses by default.
        config.http.allow_private_networks = true;
        Arc::new(LeverClient::new(config).expect("a Lever client"))
    }

    fn page_size(&self, n: usize) {
        FakeLever::page_size(self, n);
    }

    fn seed(&self, c: &NewCandidate) -> Seeded {
        let n = SEEDED.fetch_add(1, Ordering::Relaxed);
        let seeded = Seeded {
            candidate_id: format!("contact-conf-{n:05}"),
            application_id: format!("opp-conf-{n:05}"),
        };
        let mut opp = lever_opportunity(
            &seeded.application_id,
            &seeded.candidate_id,
            &c.email,
            "Applied",
            &c.job_id,
            Utc::now(),
        );
        opp["phones"] = json!([{ "type": "mobile", "value": c.phone }]);
        opp["updatedAt"] = json!(Utc::now().timestamp_millis());
        self.set_opportunity(&seeded.application_id, opp);
        seeded
    }

    fn mark_hired(&self, s: &Seeded, starts_on: NaiveDate) {
        let opp = self.opportunity(&s.application_id).expect("seeded");
        self.set_opportunity(&s.application_id, archived(opp, HIRED_REASON, Utc::now()));
        let starts = starts_on.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        self.set_offers(
            &s.application_id,
            vec![offer("offer-1", "signed", Utc::now(), starts)],
        );
    }

    fn mark_hired_in_name_only(&self, s: &Seeded) {
        // Archived for "Hired elsewhere" (type `non-hired`) in a stage
        // named "Hired", with a signed offer: only the reason's type says
        // it is not a hire.
        let mut opp = self.opportunity(&s.application_id).expect("seeded");
        opp["stage"] = json!({ "id": "stage-hired", "text": "Hired" });
        self.set_opportunity(
            &s.application_id,
            archived(opp, HIRED_ELSEWHERE_REASON, Utc::now()),
        );
        let starts = Utc::now() + chrono::Duration::days(30);
        self.set_offers(
            &s.application_id,
            vec![offer("offer-1", "signed", Utc::now(), starts)],
        );
    }

    fn referrer(&self) -> Referrer {
        self.set_user("user-priya", "Priya Raman", "priya.raman@acme-example.com");
        Referrer {
            email: "priya.raman@acme-example.com".into(),
            user_id: "user-priya".into(),
        }
    }

    fn throttle_next(&self, n: u32, secs: u64) {
        self.throttle(n, secs);
    }

    fn fail_next(&self, n: u32, status: u16) {
        self.faults(|f| f.fail(n, status));
    }

    fn enforce_rate_limit(&self) {
        self.faults(|f| f.enforce(LEVER_RATE_LIMIT));
    }

    fn over_limit(&self) -> usize {
        self.faults(|f| f.over_limit())
    }

    fn expire_credentials(&self) {
        self.faults(|f| f.credentials_revoked = true);
    }

    fn tokens_issued(&self) -> usize {
        0
    }

    fn shown(&self, s: &Seeded) -> Shown {
        let opp = self.opportunity(&s.application_id).unwrap_or_default();
        Shown {
            tags: text_list(&opp["tags"]),
            sources: text_list(&opp["sources"]),
            token: None,
            credited_user: None,
        }
    }

    fn writes(&self) -> Writes {
        let mut writes = Writes::default();
        for seen in self.ats.seen() {
            let part = if seen.method != "POST" {
                continue;
            } else if seen.path.ends_with("/addTags") {
                AttributionPart::Tag
            } else if seen.path.ends_with("/addSources") {
                AttributionPart::Source
            } else {
                continue;
            };
            *writes.by_part.entry(part).or_default() += 1;
        }
        writes
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.ats.seen().iter().map(|s| s.at).collect()
    }
}
