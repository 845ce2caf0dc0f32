//! Workable in the connector conformance suite: [`FakeWorkable`] driven
//! through [`ConnectorFake`], and [`WorkableClient`] built as the worker
//! builds it.
//!
//! What Workable can do, from `docs/workable-smartrecruiters.md` Part A:
//! a Bearer account token (§A1: nothing to refresh); `GET /candidates`
//! filters by email, not phone (§A4); a write-back sets the custom
//! attribute and the tag, while there is no structured referrer field and
//! no source write (§A3); no read endpoint gives the requisition's start
//! date (§A5); 10 requests per 10 seconds per account token (§A1).

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
    workable::{WorkableClient, WorkableConfig},
};

use super::{AuthKind, Capabilities, ConnectorFake, NewCandidate, Referrer, Seeded, Shown, Writes};
use crate::vendors::workable::{
    FakeWorkable, TOKEN_ATTRIBUTE, TOKEN_TAG_PREFIX, WORKABLE_RATE_LIMIT, WORKABLE_TOKEN,
    WorkableCandidate,
};

/// Distinguishes the candidates seeded in one process.
static SEEDED: AtomicUsize = AtomicUsize::new(0);

impl FakeWorkable {
    /// The Workable client as the worker builds it, pointed at this fake.
    pub fn client(&self) -> WorkableClient {
        let mut config = WorkableConfig::new(
            self.ats.base_url.parse().expect("the fake's URL"),
            WORKABLE_TOKEN,
        );
        config.custom_attribute_key = TOKEN_ATTRIBUTE.into();
        config.token_tag_prefix = TOKEN_TAG_PREFIX.into();
        // The fake is on 127.0.0.1, which the SSRF guard refuses by default.
        config.http.allow_private_networks = true;
        WorkableClient::new(config).expect("a Workable client")
    }
}

impl ConnectorFake for FakeWorkable {
    fn capabilities() -> Capabilities {
        Capabilities {
            auth: AuthKind::ApiKey,
            search_by_phone: false,
            writes: vec![AttributionPart::CustomField, AttributionPart::Tag],
            rate_limit: WORKABLE_RATE_LIMIT,
            reads_start_dates: false,
        }
    }

    async fn start() -> Self {
        FakeWorkable::start().await
    }

    fn connector(&self) -> Arc<dyn Connector> {
        Arc::new(self.client())
    }

    fn page_size(&self, n: usize) {
        self.state.lock().expect("lock").page_size = Some(n.max(1));
    }

    fn seed(&self, c: &NewCandidate) -> Seeded {
        let n = SEEDED.fetch_add(1, Ordering::Relaxed);
        let id = format!("c{n:07x}");
        self.put_candidate(&WorkableCandidate {
            phone: c.phone.clone(),
            ..WorkableCandidate::new(&id, &c.job_id, &c.email)
        });
        Seeded {
            candidate_id: id.clone(),
            application_id: id,
        }
    }

    fn mark_hired(&self, s: &Seeded, _starts_on: NaiveDate) {
        // The start date goes on the requisition the move fills, which no
        // read endpoint shows (see the module docs).
        self.edit_candidate(&s.application_id, |c| {
            c["stage"] = "hired".into();
            c["stage_kind"] = "hired".into();
            c["hired_at"] = chrono::Utc::now().to_rfc3339().into();
        });
    }

    fn mark_hired_in_name_only(&self, s: &Seeded) {
        // A stage whose slug is "hired", but of kind `offer`: Workable's
        // `stage_kind` (what decides) says it is no hire.
        self.edit_candidate(&s.application_id, |c| {
            c["stage"] = "hired".into();
            c["stage_kind"] = "offer".into();
        });
    }

    fn referrer(&self) -> Referrer {
        // Workable has no referrer field to credit a member in; the
        // suite never expects one written.
        Referrer {
            email: "priya.raman@acme-example.com".into(),
            user_id: "member-priya".into(),
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
            .enforce(WORKABLE_RATE_LIMIT);
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
                .attribute_of(&s.candidate_id, TOKEN_ATTRIBUTE)
                .and_then(|t| t.as_str().map(str::to_owned)),
            credited_user: None,
        }
    }

    fn writes(&self) -> Writes {
        let mut writes = Writes::default();
        for seen in self.ats.seen() {
            let part = match seen.method.as_str() {
                "PATCH" if seen.path.ends_with("/update_custom_attribute_value") => {
                    AttributionPart::CustomField
                }
                "PUT" if seen.path.ends_with("/tags") => AttributionPart::Tag,
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
