//! SmartRecruiters on the connector seam: [`SmartRecruitersClient`] as a
//! [`Connector`], each answer read from the Customer API and stated in the
//! seam's types.
//!
//! | seam | SmartRecruiters |
//! |---|---|
//! | `write_attribution` | [`SmartRecruitersClient::write_referral`] (property, tag, source with the referring user) |
//! | `find_candidates` | `GET /candidates?q=<email>`, exact email match on our side (no phone search: a phone-only query finds nothing) |
//! | `application_state` | `GET /candidates/{id}`, the assignment to the job |
//! | `job_facts` | nothing read: no job endpoint is in the reference notes |
//! | `list_changes` | `GET /candidates?updatedAfter=`, paged by `offset`; each assignment with its `startsOn` |
//! | `list_start_dates` | none separately: the start date comes with the assignment in `list_changes` |
//!
//! Status (`docs/workable-smartrecruiters.md` §B3: the two SmartRecruiters
//! APIs spell the statuses differently, so both are matched): `HIRED` or
//! `HIRE` is [`AtsStatus::Hired`], and nothing else is (a sub-status
//! *named* "Hired" under another status is not a hire); `REJECTED`, or
//! `ARCHIVED` with sub-status `REJECTED`, is [`AtsStatus::Rejected`];
//! `WITHDRAWN`, `TRANSFERRED` and `ARCHIVED` are [`AtsStatus::Closed`];
//! `NEW`, `IN_REVIEW`/`IN-REVIEW`, `INTERVIEW`, `OFFER`/`OFFERED`, `LEAD`
//! are [`AtsStatus::Active`], and so is an unknown value, which is logged.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use entities::states::Ats;
use serde_json::Value;

use super::api::{
    NO_ASSIGNMENT, SmartRecruitersClient, application_id, assignment_of, assignments,
    split_application_id, tags_of, text,
};
use crate::connectors::{
    ApplicationState, AtsJob, AtsStatus, CandidateMatch, CandidateQuery, Connector, Page,
    PageToken, WriteBack, WriteReport,
};
use crate::error::{Error, Result};

#[async_trait]
impl Connector for SmartRecruitersClient {
    fn ats(&self) -> Ats {
        Ats::SmartRecruiters
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        self.write_referral(w).await
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email_only("smartrecruiters")? else {
            return Ok(Vec::new());
        };
        Ok(self
            .candidates_by_email(email)
            .await?
            .iter()
            .filter_map(|c| {
                let id = text(&c["id"])?;
                let application_ids = assignments(c)
                    .iter()
                    .filter_map(|a| text(&a["job"]["id"]))
                    .map(|job| application_id(&id, &job))
                    .collect();
                Some(CandidateMatch {
                    candidate_id: id,
                    application_ids,
                })
            })
            .collect())
    }

    async fn application_state(&self, id: &str) -> Result<ApplicationState> {
        let (candidate_id, job) = split_application_id(id)?;
        let candidate = self.candidate(&candidate_id).await?;
        let assignment = assignment_of(&candidate, job.as_deref()).ok_or_else(|| {
            Error::permanent(format!(
                "smartrecruiters candidate {candidate_id} {NO_ASSIGNMENT} for {id}"
            ))
        })?;
        self.state_of(&candidate, assignment).ok_or_else(|| {
            Error::permanent(format!(
                "smartrecruiters GET /candidates/{candidate_id}: no candidate id in the answer"
            ))
        })
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        // No job endpoint is recorded in the reference notes: level,
        // department and location stay unknown rather than guessed.
        Ok(AtsJob {
            job_id: job_id.to_owned(),
            ..AtsJob::default()
        })
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let offset = match &page {
            Some(PageToken(p)) => p.parse::<u32>().map_err(|_| {
                Error::permanent(format!("smartrecruiters: page token {p:?} is no offset"))
            })?,
            None => 0,
        };
        let after = since.to_rfc3339_opts(SecondsFormat::Millis, true);
        let (items, next) = self
            .candidates_page(&[("updatedAfter", after.as_str())], offset)
            .await?;
        let items = items
            .iter()
            .filter(|c| time(&c["updatedOn"]).is_none_or(|t| t >= since))
            .flat_map(|c| {
                assignments(c)
                    .into_iter()
                    .filter_map(|a| self.state_of(c, a))
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(Page {
            items,
            next: next.map(|n| PageToken(n.to_string())),
        })
    }
}

/// An assignment's status and sub-status as the seam's status (module
/// docs).
pub(super) fn status_of(status: Option<&str>, sub_status: Option<&str>) -> AtsStatus {
    let norm = |s: Option<&str>| {
        s.map(|s| s.trim().to_ascii_uppercase().replace('-', "_"))
            .unwrap_or_default()
    };
    let (status, sub) = (norm(status), norm(sub_status));
    match status.as_str() {
        "HIRED" | "HIRE" => AtsStatus::Hired,
        "REJECTED" => AtsStatus::Rejected,
        "ARCHIVED" if sub == "REJECTED" => AtsStatus::Rejected,
        "WITHDRAWN" | "TRANSFERRED" | "ARCHIVED" => AtsStatus::Closed,
        "NEW" | "IN_REVIEW" | "INTERVIEW" | "OFFER" | "OFFERED" | "LEAD" => AtsStatus::Active,
        other => {
            tracing::warn!(
                status = other,
                "unknown SmartRecruiters status; read as active"
            );
            AtsStatus::Active
        }
    }
}

impl SmartRecruitersClient {
    /// Candidate `c`'s assignment `a` as the seam states it; `None`
    /// without a candidate or job id.
    fn state_of(&self, c: &Value, a: &Value) -> Option<ApplicationState> {
        let id = text(&c["id"])?;
        let job = text(&a["job"]["id"])?;
        let status = status_of(a["status"].as_str(), a["subStatus"].as_str());
        Some(ApplicationState {
            application_id: application_id(&id, &job),
            candidate_id: Some(id),
            job_id: Some(job),
            status,
            stage: text(&a["subStatus"]).or_else(|| text(&a["status"])),
            start_date: a["startsOn"].as_str().and_then(date),
            referrer_user_id: None,
            referrers: Vec::new(),
            referral_token: self.token_in_tags(c),
            emails: text(&c["email"]).into_iter().collect(),
            phones: text(&c["phoneNumber"]).into_iter().collect(),
            first_name: text(&c["firstName"]),
            last_name: text(&c["lastName"]),
            applied_at: time(&c["createdOn"]),
        })
    }

    /// Our token behind the configured tag prefix (`ref-ABC` → `ABC`).
    fn token_in_tags(&self, c: &Value) -> Option<String> {
        let prefix = self.token_tag_prefix.as_str();
        if prefix.is_empty() {
            return None;
        }
        tags_of(c).into_iter().find_map(|tag| {
            let head = tag.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix)
                .then(|| tag[prefix.len()..].trim().to_owned())
                .filter(|t| !t.is_empty())
        })
    }
}

/// `startsOn`: a date, or a date-time whose date is taken.
fn date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.trim().get(..10)?, "%Y-%m-%d").ok()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_hire_are_a_hire_and_nothing_else_is() {
        assert_eq!(status_of(Some("HIRED"), None), AtsStatus::Hired);
        assert_eq!(status_of(Some("hire"), None), AtsStatus::Hired);
        assert_eq!(status_of(Some("OFFERED"), Some("Hired")), AtsStatus::Active);
        assert_eq!(status_of(Some("IN-REVIEW"), None), AtsStatus::Active);
        assert_eq!(
            status_of(Some("ARCHIVED"), Some("REJECTED")),
            AtsStatus::Rejected
        );
        assert_eq!(
            status_of(Some("ARCHIVED"), Some("WITHDRAWN_BY_APPLICANT")),
            AtsStatus::Closed
        );
        assert_eq!(status_of(Some("IN_PROGRESS"), None), AtsStatus::Active);
    }

    #[test]
    fn starts_on_is_read_as_a_date_or_a_date_time() {
        assert_eq!(date("2027-02-01"), NaiveDate::from_ymd_opt(2027, 2, 1));
        assert_eq!(
            date("2027-02-01T00:00:00.000Z"),
            NaiveDate::from_ymd_opt(2027, 2, 1)
        );
        assert_eq!(date("soon"), None);
    }
}
