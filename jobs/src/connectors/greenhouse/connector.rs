//! Greenhouse behind the connector seam ([`Connector`]), on Harvest v3
//! ([`super::harvest`]).
//!
//! * [`Connector::write_attribution`]: one `PATCH /v3/applications/{id}`
//!   with `custom_fields: [{name_key, value}]` (our token), `source_id`
//!   and `referrer_id`, then the tag on the candidate. The referrer id is a
//!   `/v3/referrers` id, not a user id: the webhook's `credited_to.id` (a
//!   user) goes through `GET /v3/referrers?user_ids=`, an employee email
//!   first through `GET /v3/users?primary_email=`. Referrers are
//!   read-only in v3, so an employee without a referrer row is reported
//!   skipped (Referrer) with the reason while the token and tag are still
//!   written.
//! * [`Connector::find_candidates`]: `GET /v3/candidates?email=` (exact,
//!   case-insensitive) and their `GET /v3/applications?candidate_ids=`.
//! * [`Connector::application_state`]: `GET /v3/applications?ids=`, the
//!   candidate's contact details, the referrer's user, and the current
//!   accepted offer's `starts_on`.
//! * [`Connector::job_facts`]: `GET /v3/jobs?ids=`; department and office
//!   names by id; the level from the configured job custom field.
//! * [`Connector::list_changes`] / [`Connector::list_start_dates`]:
//!   `GET /v3/applications?updated_at=gte|<T>&per_page=500` and
//!   `GET /v3/offers?status=Accepted&current_only=true&starts_on=gte|<day>`,
//!   the page token being the `Link` next URL, followed as given.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use entities::states::Ats;
use reqwest::Method;
use serde_json::{Value, json};

use super::harvest::{GreenhouseClient, PER_PAGE, numeric_id};
use super::model::{Application, Candidate, Job, Offer, OfferStatus};
use crate::connectors::api::json_id;
use crate::connectors::connector::{
    ApplicationState, AtsJob, AttributionPart, CandidateMatch, CandidateQuery, Connector, Page,
    PageToken, StartDate, WriteBack, WriteReport,
};
use crate::error::{Error, Result};

/// Most candidates one email look-up reads applications for.
const MAX_CANDIDATES: usize = 10;

impl GreenhouseClient {
    /// The referrer id to credit for `w`, or why none can be.
    async fn referrer_for(&self, w: &WriteBack) -> Result<std::result::Result<u64, String>> {
        if let Some(user) = w.referrer_ats_user_id.as_deref().filter(|u| !u.is_empty()) {
            // The webhook's `credited_to.id` is a user id already.
            let user = numeric_id("credited user id", user)?;
            return Ok(self.referrer_of_user(user).await?.ok_or_else(|| {
                format!("Greenhouse user {user} has no referrer record (referrers are created in Greenhouse's UI)")
            }));
        }
        let Some(email) = w.referrer_email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Ok(Err("no referrer email or Greenhouse user to credit".into()));
        };
        Ok(self.referrer_for_email(email).await?.ok_or_else(|| {
            format!(
                "no Greenhouse referrer record for {email} (no user with that primary email, or \
                 no referrer created for them in Greenhouse's UI)"
            )
        }))
    }

    /// The applications as the seam states them, with their referrers'
    /// users (one `/v3/referrers?ids=` read for the lot).
    async fn states(&self, apps: Vec<Application>) -> Result<Vec<ApplicationState>> {
        let referrers: Vec<u64> = apps.iter().filter_map(|a| a.referrer_id).collect();
        let users = self.users_of_referrers(&referrers).await?;
        Ok(apps
            .into_iter()
            .map(|a| {
                let user = a.referrer_id.and_then(|r| users.get(&r).copied().flatten());
                state_of(&a, user, self.token_field_key.as_deref())
            })
            .collect())
    }

    /// The current accepted offer's start date for an application.
    async fn start_date_of(&self, application_id: u64) -> Result<Option<NaiveDate>> {
        let id = application_id.to_string();
        let offers: Vec<Offer> = self
            .list_all(
                "offers",
                &[("application_ids", &id), ("current_only", "true")],
                2,
            )
            .await?;
        Ok(offers
            .iter()
            .filter(|o| o.application_id == application_id && o.status == OfferStatus::Accepted)
            .find_map(|o| o.starts_on))
    }
}

/// An application as the seam states it (no contact details, no start
/// date: those take further reads).
fn state_of(
    a: &Application,
    referrer_user: Option<u64>,
    token_field: Option<&str>,
) -> ApplicationState {
    ApplicationState {
        application_id: a.id.to_string(),
        candidate_id: a.candidate_id.map(|c| c.to_string()),
        job_id: a.job_id.map(|j| j.to_string()),
        status: a.status.into(),
        stage: a.stage_name.clone().filter(|s| !s.is_empty()),
        start_date: None,
        referrer_user_id: referrer_user.map(|u| u.to_string()),
        referrers: Vec::new(),
        referral_token: token_field
            .and_then(|k| a.custom_fields.get(k))
            .and_then(super::model::CustomFieldValue::as_text),
        emails: Vec::new(),
        phones: Vec::new(),
        first_name: None,
        last_name: None,
        applied_at: a.created_at,
    }
}

/// A page token is the `Link` next URL; the first page has none.
fn next_page(token: Option<PageToken>) -> Option<String> {
    token.map(|t| t.0).filter(|t| !t.is_empty())
}

#[async_trait]
impl Connector for GreenhouseClient {
    fn ats(&self) -> Ats {
        Ats::Greenhouse
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        let application = numeric_id("application id", &w.ats_application_id)?;
        let candidate = numeric_id("candidate id", &w.ats_candidate_id)?;
        let mut report = WriteReport::default();
        let mut patch = serde_json::Map::new();
        match (
            &self.token_field_key,
            w.referral_token.as_deref().filter(|t| !t.is_empty()),
        ) {
            (Some(key), Some(token)) => {
                patch.insert(
                    "custom_fields".into(),
                    json!([{ "name_key": key, "value": token }]),
                );
            }
            (None, _) => report.skip(AttributionPart::CustomField, "no token field configured"),
            (_, None) => report.skip(AttributionPart::CustomField, "no referral token"),
        }
        match &self.referral_source_id {
            Some(source) => {
                patch.insert("source_id".into(), json_id(source));
            }
            None => report.skip(AttributionPart::Source, "no referral source configured"),
        }
        match self.referrer_for(w).await? {
            Ok(referrer) => {
                patch.insert("referrer_id".into(), json!(referrer));
            }
            Err(why) => report.skip(AttributionPart::Referrer, why),
        }
        // The application first: the token and referrer are the
        // attribution, the tag a convenience for recruiters.
        if !patch.is_empty() {
            let app = application.to_string();
            self.write(
                Method::PATCH,
                &["applications", &app],
                &Value::Object(patch.clone()),
            )
            .await?;
            for (key, part) in [
                ("custom_fields", AttributionPart::CustomField),
                ("source_id", AttributionPart::Source),
                ("referrer_id", AttributionPart::Referrer),
            ] {
                if patch.contains_key(key) {
                    report.wrote(part);
                }
            }
        }
        if w.tag.trim().is_empty() {
            report.skip(AttributionPart::Tag, "no tag configured");
        } else {
            self.tag_candidate(candidate, w.tag.trim()).await?;
            report.wrote(AttributionPart::Tag);
        }
        Ok(report)
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
            return Err(Error::permanent(
                "greenhouse candidate look-up needs an email (v3 cannot search by phone)",
            ));
        };
        let candidates: Vec<Candidate> =
            self.list_all("candidates", &[("email", email)], 1).await?;
        let mut matches = Vec::new();
        for c in candidates.iter().take(MAX_CANDIDATES) {
            let id = c.id.to_string();
            let apps: Vec<Application> = self
                .list_all("applications", &[("candidate_ids", &id)], 2)
                .await?;
            matches.push(CandidateMatch {
                candidate_id: id,
                application_ids: apps.iter().map(|a| a.id.to_string()).collect(),
            });
        }
        Ok(matches)
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        let id = numeric_id("application id", application_id)?;
        let apps: Vec<Application> = self.by_ids("applications", &[id]).await?;
        let Some(app) = apps.into_iter().find(|a| a.id == id) else {
            return Err(Error::permanent(format!(
                "greenhouse GET /v3/applications?ids={id}: no such application"
            )));
        };
        let candidate_id = app.candidate_id;
        let mut state = self
            .states(vec![app])
            .await?
            .pop()
            .ok_or_else(|| Error::permanent("greenhouse: application state lost"))?;
        if let Some(cid) = candidate_id {
            let found: Vec<Candidate> = self.by_ids("candidates", &[cid]).await?;
            if let Some(c) = found.into_iter().find(|c| c.id == cid) {
                state.emails = c.email_addresses.into_iter().map(|e| e.value).collect();
                state.phones = c.phone_numbers.into_iter().map(|p| p.value).collect();
                state.first_name = c.first_name;
                state.last_name = c.last_name;
            }
        }
        state.start_date = self.start_date_of(id).await?;
        Ok(state)
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        let id = numeric_id("job id", job_id)?;
        let jobs: Vec<Job> = self.by_ids("jobs", &[id]).await?;
        let Some(job) = jobs.into_iter().find(|j| j.id == id) else {
            return Err(Error::permanent(format!(
                "greenhouse GET /v3/jobs?ids={id}: no such job"
            )));
        };
        let department = match job.department_id {
            Some(d) => self.name_of("departments", d).await?,
            None => None,
        };
        let location = match job.office_ids.as_deref().and_then(<[u64]>::first) {
            Some(o) => self.name_of("offices", *o).await?,
            None => None,
        };
        let level = self
            .job_level_field
            .as_deref()
            .and_then(|k| job.custom_fields.get(k))
            .and_then(super::model::CustomFieldValue::as_text);
        Ok(AtsJob {
            job_id: id.to_string(),
            level,
            department,
            location,
        })
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let filter = format!("gte|{}", since.to_rfc3339_opts(SecondsFormat::Secs, true));
        let per_page = PER_PAGE.to_string();
        let (apps, next): (Vec<Application>, _) = self
            .list_page(
                "applications",
                &[("updated_at", &filter), ("per_page", &per_page)],
                next_page(page).as_deref(),
            )
            .await?;
        Ok(Page {
            items: self.states(apps).await?,
            next: next.map(PageToken),
        })
    }

    async fn list_start_dates(
        &self,
        since: NaiveDate,
        page: Option<PageToken>,
    ) -> Result<Page<StartDate>> {
        let filter = format!("gte|{}", since.format("%Y-%m-%d"));
        let per_page = PER_PAGE.to_string();
        let (offers, next): (Vec<Offer>, _) = self
            .list_page(
                "offers",
                &[
                    ("status", "Accepted"),
                    ("current_only", "true"),
                    ("starts_on", &filter),
                    ("per_page", &per_page),
                ],
                next_page(page).as_deref(),
            )
            .await?;
        Ok(Page {
            items: offers
                .into_iter()
                .filter(|o| o.status == OfferStatus::Accepted)
                .filter_map(|o| {
                    Some(StartDate {
                        application_id: o.application_id.to_string(),
                        starts_on: o.starts_on?,
                    })
                })
                .collect(),
            next: next.map(PageToken),
        })
    }
}
