//! Workable on the connector seam: [`WorkableClient`] as a [`Connector`],
//! each answer read from the API (v3) and stated in the seam's types.
//!
//! | seam | Workable |
//! |---|---|
//! | `write_attribution` | [`WorkableClient::write_referral`] (custom attribute, tag) with its report |
//! | `find_candidates` | `GET /candidates?email=` (no phone search: a phone-only query finds nothing) |
//! | `application_state` | `GET /candidates/:id` |
//! | `job_facts` | `GET /jobs/:shortcode`: `department`; the location's `city`, else its `location_str`, else its `country`; no level (the documented job object has none) |
//! | `list_changes` | `GET /candidates?updated_after=`, paged by `paging.next` |
//! | `list_start_dates` | none: the start date lives on the requisition filled by the move to hired, which no read endpoint is recorded for (`docs/workable-smartrecruiters.md` §A5) |
//! | `polls_removals`, `still_has` | yes: `GET /candidates/:id`, a 404 meaning the candidate was merged away or deleted (Workable sends no event for either) |
//!
//! One Workable candidate is one of our applications (it carries a single
//! `job`): the application id and the candidate id are both its `id`.
//!
//! Status: hired when `stage_kind` is `hired` or `hired_at` is set (only
//! what Workable states is a hire; a stage merely *named* "Hired" is not),
//! [`AtsStatus::Rejected`] when `disqualified`, [`AtsStatus::Closed`] when
//! `withdrew`, [`AtsStatus::Active`] otherwise.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use entities::states::Ats;
use serde_json::Value;

use super::api::{WorkableClient, text};
use super::webhook::HIRED_STAGE_KIND;
use crate::connectors::{
    ApplicationState, AtsJob, AtsStatus, CandidateMatch, CandidateQuery, Connector, Page,
    PageToken, WriteBack, WriteReport,
};
use crate::error::{Error, Result};

#[async_trait]
impl Connector for WorkableClient {
    fn ats(&self) -> Ats {
        Ats::Workable
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        self.write_referral(w).await
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email_only("workable")? else {
            return Ok(Vec::new());
        };
        Ok(self
            .candidates_by_email(email)
            .await?
            .iter()
            .filter_map(|c| text(&c["id"]))
            .map(|id| CandidateMatch {
                candidate_id: id.clone(),
                application_ids: vec![id],
            })
            .collect())
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        let candidate = self.candidate(application_id).await?;
        self.state_of(&candidate).ok_or_else(|| {
            Error::permanent(format!(
                "workable GET /candidates/{application_id}: no candidate id in the answer"
            ))
        })
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        let job = self.job(job_id).await?;
        let location = &job["location"];
        Ok(AtsJob {
            job_id: job_id.to_owned(),
            // The job object has no level (see the module docs).
            level: None,
            department: text(&job["department"]),
            location: text(&location["city"])
                .or_else(|| text(&location["location_str"]))
                .or_else(|| text(&location["country"])),
        })
    }

    fn polls_removals(&self) -> bool {
        // Workable announces no merge or delete (§A5): a 404 is the sign.
        true
    }

    async fn still_has(&self, application_id: &str) -> Result<bool> {
        self.candidate_exists(application_id).await
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let after = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let (items, next) = self
            .candidates_page(
                &[("updated_after", after.as_str())],
                page.as_ref().map(|p| p.0.as_str()),
            )
            .await?;
        let items = items
            .iter()
            .filter(|c| time(&c["updated_at"]).is_none_or(|t| t >= since))
            .filter_map(|c| self.state_of(c))
            .collect();
        Ok(Page {
            items,
            next: next.map(PageToken),
        })
    }
}

impl WorkableClient {
    /// A Workable candidate object as the seam states it; `None` without
    /// an id.
    fn state_of(&self, c: &Value) -> Option<ApplicationState> {
        let id = text(&c["id"])?;
        let hired = c["stage_kind"].as_str().map(str::trim) == Some(HIRED_STAGE_KIND)
            || text(&c["hired_at"]).is_some();
        let status = if hired {
            AtsStatus::Hired
        } else if c["disqualified"].as_bool() == Some(true) {
            AtsStatus::Rejected
        } else if c["withdrew"].as_bool() == Some(true) {
            AtsStatus::Closed
        } else {
            AtsStatus::Active
        };
        Some(ApplicationState {
            application_id: id.clone(),
            candidate_id: Some(id),
            job_id: text(&c["job"]["shortcode"]),
            status,
            stage: text(&c["stage"]),
            // See the module docs: no read endpoint gives it.
            start_date: None,
            referrer_user_id: None,
            referrers: Vec::new(),
            referral_token: self.token_in_tags(c),
            emails: text(&c["email"]).into_iter().collect(),
            phones: text(&c["phone"]).into_iter().collect(),
            first_name: text(&c["firstname"]),
            last_name: text(&c["lastname"]),
            applied_at: time(&c["created_at"]),
        })
    }

    /// Our token behind the configured tag prefix (`ref-ABC` → `ABC`).
    fn token_in_tags(&self, c: &Value) -> Option<String> {
        let prefix = self.token_tag_prefix.as_str();
        if prefix.is_empty() {
            return None;
        }
        c["tags"].as_array()?.iter().find_map(|t| {
            let tag = text(t).or_else(|| text(&t["name"]))?;
            let head = tag.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| tag[prefix.len()..].trim().to_owned())
                .filter(|t| !t.is_empty())
        })
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
