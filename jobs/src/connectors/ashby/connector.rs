//! Ashby on the connector seam: [`AshbyClient`] as a [`Connector`], each
//! answer read from Ashby's RPC API and stated in the seam's types.
//!
//! | seam | Ashby |
//! |---|---|
//! | `write_attribution` | [`AshbyClient::write_referral_crediting`] (custom field, tag, credited-to user) with its report |
//! | `find_candidates` | `candidate.search {email}` (Ashby cannot search by phone: a phone-only query finds nothing) |
//! | `application_state` | `application.info`, and `offer.list {applicationId}` for the accepted offer's start date |
//! | `job_facts` | `job.info {expand: [location]}` (location name, a job custom field titled "Level"), `department.info` |
//! | `list_changes` | `application.list` paged by `cursor`, kept when `updatedAt` is at or after `since` |
//! | `list_start_dates` | `offer.list {acceptanceStatus: [Accepted]}` paged by `cursor` |
//!
//! Status: `Hired` is [`AtsStatus::Hired`] (only what Ashby states is a
//! hire), `Archived` is [`AtsStatus::Closed`], `Active` and `Lead` are
//! [`AtsStatus::Active`].

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use entities::states::Ats;
use serde_json::{Value, json};

use super::api::AshbyClient;
use crate::connectors::{
    ApplicationState, AtsJob, AtsStatus, CandidateMatch, CandidateQuery, Connector, Page,
    PageToken, StartDate, WriteBack, WriteReport,
};
use crate::error::{Error, Result};

/// Items per listing page (Ashby's documented maximum).
const PAGE_SIZE: u32 = 100;

#[async_trait]
impl Connector for AshbyClient {
    fn ats(&self) -> Ats {
        Ats::Ashby
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        self.write_referral_crediting(w, w.referrer_email.as_deref())
            .await
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email_only("ashby")? else {
            return Ok(Vec::new());
        };
        Ok(self
            .candidates_by_email(email)
            .await?
            .into_iter()
            .map(|c| CandidateMatch {
                candidate_id: c.id,
                application_ids: c.application_ids,
            })
            .collect())
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        let raw = self
            .rpc(
                "application.info",
                &json!({ "applicationId": application_id }),
            )
            .await?;
        let mut state = state_of(&raw).ok_or_else(|| {
            Error::permanent(format!(
                "ashby application.info {application_id}: no application in the answer"
            ))
        })?;
        let offers = self
            .rpc("offer.list", &json!({ "applicationId": application_id }))
            .await?;
        state.start_date = offers
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["acceptanceStatus"].as_str() == Some("Accepted"))
            .find_map(|o| date_of(&o["latestVersion"]["startDate"]));
        Ok(state)
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        let job = self
            .rpc("job.info", &json!({ "id": job_id, "expand": ["location"] }))
            .await?;
        let department = match text(&job["departmentId"]) {
            Some(id) => {
                let d = self
                    .rpc("department.info", &json!({ "departmentId": id }))
                    .await?;
                text(&d["name"])
            }
            None => None,
        };
        let level = job["customFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| text(&f["title"]).is_some_and(|t| t.eq_ignore_ascii_case("level")))
            .and_then(|f| text(&f["valueLabel"]).or_else(|| text(&f["value"])));
        Ok(AtsJob {
            job_id: job_id.to_owned(),
            level,
            department,
            location: text(&job["location"]["name"]),
        })
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let (items, next) = self.list_page("application.list", json!({}), page).await?;
        let items = items
            .iter()
            .filter(|a| {
                a["updatedAt"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_none_or(|t| t.with_timezone(&Utc) >= since)
            })
            .filter_map(state_of)
            .collect();
        Ok(Page { items, next })
    }

    async fn list_start_dates(
        &self,
        since: NaiveDate,
        page: Option<PageToken>,
    ) -> Result<Page<StartDate>> {
        let (items, next) = self
            .list_page(
                "offer.list",
                json!({ "acceptanceStatus": ["Accepted"] }),
                page,
            )
            .await?;
        let items = items
            .iter()
            .filter_map(|o| {
                Some(StartDate {
                    application_id: text(&o["applicationId"])?,
                    starts_on: date_of(&o["latestVersion"]["startDate"])?,
                })
            })
            .filter(|s| s.starts_on >= since)
            .collect();
        Ok(Page { items, next })
    }
}

impl AshbyClient {
    /// One page of listing `method` (`body` plus `limit` and the page's
    /// cursor): its items and the next page's cursor.
    async fn list_page(
        &self,
        method: &str,
        mut body: Value,
        page: Option<PageToken>,
    ) -> Result<(Vec<Value>, Option<PageToken>)> {
        body["limit"] = PAGE_SIZE.into();
        if let Some(PageToken(cursor)) = page {
            body["cursor"] = cursor.into();
        }
        let answer = self.rpc_envelope(method, &body).await?;
        let items = answer["results"].as_array().cloned().unwrap_or_default();
        let next = match (
            answer["moreDataAvailable"].as_bool(),
            text(&answer["nextCursor"]),
        ) {
            (Some(true), Some(cursor)) => Some(PageToken(cursor)),
            _ => None,
        };
        Ok((items, next))
    }
}

/// An Ashby application object as the seam states it; `None` without an id.
fn state_of(a: &Value) -> Option<ApplicationState> {
    let status = match a["status"].as_str() {
        Some("Hired") => AtsStatus::Hired,
        Some("Archived") => AtsStatus::Closed,
        _ => AtsStatus::Active,
    };
    let name = text(&a["candidate"]["name"]);
    let (first_name, last_name) = match name.as_deref().and_then(|n| n.rsplit_once(' ')) {
        Some((f, l)) => (Some(f.to_owned()), Some(l.to_owned())),
        None => (name, None),
    };
    Some(ApplicationState {
        application_id: text(&a["id"])?,
        candidate_id: text(&a["candidate"]["id"]),
        job_id: text(&a["job"]["id"]),
        status,
        stage: text(&a["currentInterviewStage"]["title"]),
        start_date: None,
        referrer_user_id: text(&a["creditedToUser"]["id"]),
        // Ashby credits users, not referrer records (not mapped yet).
        referrers: Vec::new(),
        referral_token: a["customFields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| {
                text(&f["title"]).is_some_and(|t| {
                    super::webhook::title_key(&t)
                        == super::webhook::title_key(super::webhook::TOKEN_FIELD_TITLE)
                })
            })
            .and_then(|f| text(&f["value"])),
        emails: text(&a["candidate"]["primaryEmailAddress"]["value"])
            .into_iter()
            .collect(),
        phones: text(&a["candidate"]["primaryPhoneNumber"]["value"])
            .into_iter()
            .collect(),
        first_name,
        last_name,
        applied_at: a["createdAt"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    })
}

/// The date of an ISO date or date-time.
fn date_of(v: &Value) -> Option<NaiveDate> {
    let raw = v.as_str()?.trim();
    NaiveDate::parse_from_str(raw.get(..10)?, "%Y-%m-%d").ok()
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
