//! Harvest v3's record shapes, parsed at the edge: the fields the service
//! reads from `/v3/applications`, `/v3/candidates`, `/v3/jobs`,
//! `/v3/offers`, `/v3/users`, `/v3/referrers` and the tag endpoints, with
//! the enums (application status, offer status) parsed into types. Field
//! names follow `docs/greenhouse-harvest-v3.md` §6 (Airbyte's v3 schemas
//! and the v3 endpoint specs as third parties read them).
//!
//! Ids are integers in v3; a record whose id is not is refused whole
//! (serde), which the client reports as a permanent error naming the
//! endpoint. Used by the client ([`super::harvest`]) and its connector
//! ([`super::connector`]).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::connector::AtsStatus;

/// An application's `status` as v3 answers it. Queries still say
/// `active`; responses say `in_process` (doc §0 fact 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// In the pipeline.
    InProcess,
    /// Rejected.
    Rejected,
    /// Hired: the offer closed and the hire recorded.
    Hired,
    /// A prospect converted into an application elsewhere.
    Converted,
}

impl From<ApplicationStatus> for AtsStatus {
    fn from(s: ApplicationStatus) -> Self {
        match s {
            ApplicationStatus::InProcess => AtsStatus::Active,
            ApplicationStatus::Rejected => AtsStatus::Rejected,
            ApplicationStatus::Hired => AtsStatus::Hired,
            ApplicationStatus::Converted => AtsStatus::Closed,
        }
    }
}

/// One custom field value as v3 returns it, keyed by `name_key`:
/// `{name, type, value}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CustomFieldValue {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Value type (`short_text`, `single_select`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The value; its JSON type depends on `type`.
    #[serde(default)]
    pub value: Value,
}

impl CustomFieldValue {
    /// The value as text: a string as is, a number or bool printed, a
    /// select option by its `name` (or `value`); `None` when empty.
    pub fn as_text(&self) -> Option<String> {
        let text = match &self.value {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Object(o) => o
                .get("name")
                .or_else(|| o.get("value"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned(),
            _ => String::new(),
        };
        (!text.is_empty()).then_some(text)
    }
}

/// `custom_fields` of a v3 record: `{name_key: {name, type, value}}`.
pub type CustomFields = BTreeMap<String, CustomFieldValue>;

/// `GET /v3/applications` item.
#[derive(Debug, Clone, Deserialize)]
pub struct Application {
    /// Application id.
    pub id: u64,
    /// Candidate id.
    pub candidate_id: Option<u64>,
    /// The job (null for jobless prospects).
    #[serde(default)]
    pub job_id: Option<u64>,
    /// Status.
    pub status: ApplicationStatus,
    /// Current stage's display name.
    #[serde(default)]
    pub stage_name: Option<String>,
    /// A `/v3/referrers` id (not a user id).
    #[serde(default)]
    pub referrer_id: Option<u64>,
    /// A `/v3/sources` id.
    #[serde(default)]
    pub source_id: Option<u64>,
    /// When the candidate applied (v1's `applied_at`).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change of the row.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Application custom fields.
    #[serde(default)]
    pub custom_fields: CustomFields,
}

/// `{value, type}` of a candidate's contact arrays.
#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    /// The address or number as entered.
    pub value: String,
}

/// `GET /v3/candidates` item.
#[derive(Debug, Clone, Deserialize)]
pub struct Candidate {
    /// Candidate id.
    pub id: u64,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Email addresses.
    #[serde(default)]
    pub email_addresses: Vec<Contact>,
    /// Phone numbers.
    #[serde(default)]
    pub phone_numbers: Vec<Contact>,
}

/// `GET /v3/jobs` item: department and offices are ids (flat, v3), the
/// level only a custom field.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: u64,
    /// One department id.
    #[serde(default)]
    pub department_id: Option<u64>,
    /// Office ids.
    #[serde(default)]
    pub office_ids: Option<Vec<u64>>,
    /// Job custom fields.
    #[serde(default)]
    pub custom_fields: CustomFields,
}

/// `GET /v3/departments` or `/v3/offices` item: what a job's ids name.
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    /// Id.
    pub id: u64,
    /// Display name.
    pub name: String,
}

/// An offer's `status` (capitalised in v3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OfferStatus {
    /// Drafted or sent.
    Created,
    /// Accepted by the candidate.
    Accepted,
    /// Rejected.
    Rejected,
    /// Replaced by a newer version.
    Deprecated,
}

/// `GET /v3/offers` item.
#[derive(Debug, Clone, Deserialize)]
pub struct Offer {
    /// Offer id.
    pub id: u64,
    /// The application.
    pub application_id: u64,
    /// Status.
    pub status: OfferStatus,
    /// Start day (date only).
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
}

/// `GET /v3/users` item.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// User id.
    pub id: u64,
}

/// `GET /v3/referrers` item: read-only, created in Greenhouse's UI.
#[derive(Debug, Clone, Deserialize)]
pub struct Referrer {
    /// Referrer id (what `applications.referrer_id` holds).
    pub id: u64,
    /// The user it stands for, when it is one.
    #[serde(default)]
    pub user_id: Option<u64>,
}

/// `GET /v3/candidate_tags` item.
#[derive(Debug, Clone, Deserialize)]
pub struct CandidateTag {
    /// Tag id.
    pub id: u64,
    /// Label.
    pub name: String,
}

/// `GET /v3/applied_candidate_tags` item.
#[derive(Debug, Clone, Deserialize)]
pub struct AppliedTag {
    /// Row id.
    pub id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_parses_with_keyed_custom_fields_and_in_process() {
        let app: Application = serde_json::from_value(serde_json::json!({
            "id": 1, "candidate_id": 2, "job_id": 3, "status": "in_process",
            "stage_name": "Phone Screen", "referrer_id": null, "source_id": 7,
            "created_at": "2026-09-01T10:00:00.000Z",
            "custom_fields": {"referral_token": {"name": "Referral token", "type": "short_text", "value": "R-1"}}
        }))
        .unwrap();
        assert_eq!(AtsStatus::from(app.status), AtsStatus::Active);
        assert_eq!(
            app.custom_fields["referral_token"].as_text().as_deref(),
            Some("R-1")
        );
    }

    #[test]
    fn a_v1_status_or_a_string_id_is_refused() {
        let v1 = serde_json::json!({"id": 1, "status": "active"});
        assert!(serde_json::from_value::<Application>(v1).is_err());
        let text_id = serde_json::json!({"id": "abc", "status": "hired"});
        assert!(serde_json::from_value::<Application>(text_id).is_err());
    }
}
