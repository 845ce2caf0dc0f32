//! The demo's ATS: a Greenhouse-like webhook source. It sends the two
//! deliveries a real Greenhouse sends for a hire (the application, then
//! `hire_candidate`), shaped as Greenhouse's webhooks are and signed as
//! Greenhouse signs them (`Signature: sha256 <hex>`, with the secret the
//! demo configured as `webhooks.greenhouse_secret`), to the service's real
//! `/webhooks/greenhouse`. It has no Harvest API: the service's write-back
//! to Greenhouse is skipped for want of credentials, as it is in any
//! deployment without them.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::super::golive::service::Golive;

/// The numeric Greenhouse job the demo's referral is for.
pub(super) const JOB_ID: u64 = 4_012_345;

/// One application in the fake Greenhouse.
pub(super) struct FakeGreenhouse {
    /// `webhooks.greenhouse_secret`.
    pub(super) secret: String,
    /// Its application id.
    pub(super) application_id: u64,
    /// Its candidate's id.
    pub(super) candidate_id: u64,
    /// The candidate's email (the careers site's applicant's).
    pub(super) email: String,
    /// When the candidate applied.
    pub(super) applied_at: chrono::DateTime<Utc>,
}

impl FakeGreenhouse {
    /// The application as Greenhouse describes it in `action`'s delivery,
    /// with `status` and the stage `stage`, stamped now.
    fn body(&self, action: &str, status: &str, stage: &str) -> Value {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        json!({
            "action": action,
            "payload": { "application": {
                "id": self.application_id,
                "prospect": false,
                "status": status,
                "applied_at": self.applied_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "last_activity_at": now,
                "source": { "id": 77, "name": "Careers site" },
                "credited_to": null,
                "current_stage": { "id": 3_300_101, "name": stage },
                "custom_fields": {},
                "candidate": {
                    "id": self.candidate_id,
                    "first_name": "Dana",
                    "last_name": "Demo",
                    "email_addresses": [{ "value": self.email, "type": "personal" }],
                    "phone_numbers": [],
                },
                "jobs": [{
                    "id": JOB_ID,
                    "name": "Demo engineer",
                    "requisition_id": "REQ-DEMO",
                    "departments": [{ "id": 1, "name": "Engineering" }],
                    "offices": [{ "id": 2, "name": "Berlin" }],
                }],
            }},
        })
    }

    /// Greenhouse's `new_candidate_application`: the candidate's
    /// application as the ATS records it.
    pub(super) async fn application(&self, run: &Golive) -> anyhow::Result<i64> {
        let body = self.body("new_candidate_application", "active", "Application Review");
        self.deliver(run, &body).await
    }

    /// Greenhouse's `hire_candidate`.
    pub(super) async fn hire(&self, run: &Golive) -> anyhow::Result<i64> {
        let body = self.body("hire_candidate", "hired", "Hired");
        self.deliver(run, &body).await
    }

    /// POSTs `body` signed to `/webhooks/greenhouse` under a fresh
    /// `Greenhouse-Event-ID`; returns the inbox id of the 202.
    async fn deliver(&self, run: &Golive, body: &Value) -> anyhow::Result<i64> {
        let bytes = serde_json::to_vec(body)?;
        let headers = [
            (
                jobs::connectors::greenhouse::SIGNATURE_HEADER,
                jobs::connectors::greenhouse::sign(self.secret.as_bytes(), &bytes),
            ),
            (
                jobs::connectors::greenhouse::EVENT_ID_HEADER,
                ulid::Ulid::generate().to_string(),
            ),
        ];
        run.post_delivery("/webhooks/greenhouse", &headers, bytes)
            .await
    }
}
