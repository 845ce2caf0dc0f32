//! Ashby in the connector conformance suite: [`FakeAshby`] driven through
//! [`ConnectorFake`], and [`AshbyClient`] built as the worker builds it.
//!
//! What Ashby can do, from `docs/ashby.md`: Basic auth with an API key
//! (§2.1); `candidate.search` takes an email or a name, not a phone
//! (§2.3); a write-back sets the token custom field, a candidate tag and
//! the credited-to user, while sources are the customer's own list and are
//! left alone; 1,000 requests a minute per key (§2.4).

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
    ashby::{AshbyClient, AshbyConfig},
};
use serde_json::{Value, json};

use super::{AuthKind, Capabilities, ConnectorFake, NewCandidate, Referrer, Seeded, Shown, Writes};
use crate::ashby::{ASHBY_KEY, ASHBY_RATE_LIMIT, AshbyApplication, FakeAshby, sample};

/// Distinguishes the applications seeded in one process.
static SEEDED: AtomicUsize = AtomicUsize::new(0);

impl FakeAshby {
    /// Changes application `id` as Ashby holds it.
    fn edit_application(&self, id: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().expect("lock");
        edit(state.applications.get_mut(id).expect("seeded"));
    }

    /// An offer on application `id`, accepted or not, starting `starts_on`.
    fn offer_on(&self, id: &str, accepted: bool, starts_on: NaiveDate) {
        let n = SEEDED.fetch_add(1, Ordering::Relaxed);
        self.add_offer(json!({
            "id": format!("4b6d8f0a-2c4e-4a6c-9e8a-{n:012}"),
            "applicationId": id,
            "acceptanceStatus": if accepted { "Accepted" } else { "Pending" },
            "offerStatus": if accepted { "CandidateAccepted" } else { "WaitingOnCandidateResponse" },
            "decidedAt": chrono::Utc::now().to_rfc3339(),
            "latestVersion": { "id": format!("5c7e9a1b-3d5f-4b7d-8f9b-{n:012}"),
                               "startDate": starts_on.format("%Y-%m-%d").to_string() },
        }));
    }
}

impl ConnectorFake for FakeAshby {
    fn capabilities() -> Capabilities {
        Capabilities {
            auth: AuthKind::ApiKey,
            search_by_phone: false,
            writes: vec![
                AttributionPart::CustomField,
                AttributionPart::Tag,
                AttributionPart::Referrer,
            ],
            rate_limit: ASHBY_RATE_LIMIT,
            reads_start_dates: true,
        }
    }

    async fn start() -> Self {
        FakeAshby::start().await
    }

    fn connector(&self) -> Arc<dyn Connector> {
        let mut config = AshbyConfig::new(ASHBY_KEY);
        config.base_url = self.ats.base_url.parse().expect("the fake's URL");
        // The fake is on 127.0.0.1, which the SSRF guard refuses by default.
        config.http.allow_private_networks = true;
        Arc::new(AshbyClient::new(config).expect("an Ashby client"))
    }

    fn page_size(&self, n: usize) {
        self.state.lock().expect("lock").page_size = Some(n.max(1));
    }

    fn seed(&self, c: &NewCandidate) -> Seeded {
        let n = SEEDED.fetch_add(1, Ordering::Relaxed);
        let seeded = Seeded {
            candidate_id: format!("5e0b2d4f-8a1c-4e6b-b3d7-{n:012}"),
            application_id: format!("1c9a7e52-4b3d-4f8e-9a61-{n:012}"),
        };
        let app = AshbyApplication::new(
            &seeded.application_id,
            &seeded.candidate_id,
            &c.job_id,
            &c.email,
        );
        self.set_application(&app);
        self.add_candidate(json!({
            "id": seeded.candidate_id, "name": "Test Candidate",
            "primaryEmailAddress": {"value": c.email, "type": "Personal", "isPrimary": true},
            "emailAddresses": [{"value": c.email, "type": "Personal", "isPrimary": true}],
            "primaryPhoneNumber": {"value": c.phone, "type": "Mobile", "isPrimary": true},
            "phoneNumbers": [{"value": c.phone, "type": "Mobile", "isPrimary": true}],
            "applicationIds": [seeded.application_id],
            "tags": [], "socialLinks": [], "fileHandles": [], "profileUrl": "https://app.ashbyhq.com/x",
        }));
        seeded
    }

    fn mark_hired(&self, s: &Seeded, starts_on: NaiveDate) {
        self.edit_application(&s.application_id, |a| {
            a["status"] = "Hired".into();
            a["currentInterviewStage"]["title"] = "Hired".into();
            a["currentInterviewStage"]["type"] = "Hired".into();
        });
        self.offer_on(&s.application_id, true, starts_on);
    }

    fn mark_hired_in_name_only(&self, s: &Seeded) {
        // In a stage titled "Hired" with an accepted offer, but Ashby's
        // `status` (what decides) is still `Active`.
        self.edit_application(&s.application_id, |a| {
            a["currentInterviewStage"]["title"] = "Hired".into();
        });
        let starts = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
        self.offer_on(&s.application_id, true, starts);
    }

    fn referrer(&self) -> Referrer {
        Referrer {
            email: "priya.raman@acme-example.com".into(),
            user_id: sample::PRIYA_USER.into(),
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
            .enforce(ASHBY_RATE_LIMIT);
    }

    fn over_limit(&self) -> usize {
        self.state.lock().expect("lock").faults.over_limit()
    }

    fn expire_credentials(&self) {
        self.state.lock().expect("lock").faults.credentials_revoked = true;
    }

    fn tokens_issued(&self) -> usize {
        0
    }

    fn shown(&self, s: &Seeded) -> Shown {
        Shown {
            tags: self.tags_of(&s.candidate_id),
            sources: Vec::new(),
            token: self
                .token_of(&s.application_id)
                .and_then(|t| t.as_str().map(str::to_owned)),
            credited_user: self.credited(&s.application_id),
        }
    }

    fn writes(&self) -> Writes {
        let mut writes = Writes::default();
        for seen in self.ats.seen() {
            let part = match seen.path.trim_start_matches("/v1/") {
                "customField.setValues" => AttributionPart::CustomField,
                "candidate.addTag" => AttributionPart::Tag,
                "application.update" if seen.json()["creditedToUserId"].is_string() => {
                    AttributionPart::Referrer
                }
                "candidateTag.create" => {
                    writes.tags_created += 1;
                    continue;
                }
                _ => continue,
            };
            *writes.by_part.entry(part).or_default() += 1;
        }
        writes
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.ats.seen().iter().map(|s| s.at).collect()
    }
}
