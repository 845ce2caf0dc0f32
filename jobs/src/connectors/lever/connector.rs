//! Lever behind the connector seam ([`Connector`]): what the service asks
//! any ATS, answered from the Lever API with Lever's rules (see
//! [`super`]'s module docs for what decides).
//!
//! * [`Connector::application_state`]: the opportunity, its status from
//!   the archive reason's `type`, its start date from the newest signed
//!   offer (read only when hired), its referrers from the referral forms
//!   and their users' emails (read only when Lever says it was referred),
//!   and the referral token from `ats.lever.token_from`;
//! * [`Connector::list_changes`]: a page of opportunities updated since T,
//!   each with its confirmed status and, for referred ones, the referring
//!   user (no user look-ups: reconciliation needs only the id);
//! * [`Connector::list_start_dates`]: the same listing's hired
//!   opportunities with their signed offers' start dates;
//! * [`Connector::write_attribution`]: tag and source on the opportunity,
//!   as the `perform_as` user.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use entities::states::Ats;

use super::{
    api::LeverClient,
    model::{LeverOffer, LeverOpportunity, LeverStatus},
    token::TokenPlace,
};
use crate::connectors::connector::{
    ApplicationState, AtsJob, AtsReferrer, AtsStatus, AttributionPart, CandidateMatch,
    CandidateQuery, Connector, Page, PageToken, StartDate, WriteBack, WriteReport,
};
use crate::error::{Error, Result};

/// How much an opportunity's state is read beyond the opportunity itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Everything capture acts on: offers, referral forms, their users.
    Full,
    /// What reconciliation compares: the status and who referred (ids).
    Listing,
}

impl LeverClient {
    /// `opp` as the seam states it, reading what decides its meaning.
    async fn state_of(&self, opp: &LeverOpportunity, depth: Depth) -> Result<ApplicationState> {
        let status = self.status_of(opp).await?;
        let start_date = if status == LeverStatus::Hired && depth == Depth::Full {
            LeverOffer::start_date_of(&self.offers(&opp.id).await?).map(|d| d.date_naive())
        } else {
            None
        };
        let referrers = if opp.is_referred() {
            self.referrers(opp, depth).await?
        } else {
            Vec::new()
        };
        let (first_name, last_name) = match opp.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => match name.rsplit_once(' ') {
                Some((f, l)) => (Some(f.to_string()), Some(l.to_string())),
                None => (Some(name.to_string()), None),
            },
            _ => (None, None),
        };
        Ok(ApplicationState {
            application_id: opp.id.clone(),
            candidate_id: opp.contact.clone(),
            job_id: opp.posting_id().map(str::to_owned),
            status: match status {
                LeverStatus::Active => AtsStatus::Active,
                LeverStatus::Hired => AtsStatus::Hired,
                LeverStatus::Archived => AtsStatus::Closed,
            },
            stage: opp.stage.as_ref().and_then(|s| s.text.clone()),
            start_date,
            referrer_user_id: referrers.first().map(|r| r.user_id.clone()),
            referrers,
            referral_token: TokenPlace::first(self.token_places(), opp),
            emails: opp.emails.clone(),
            phones: opp.phones.iter().map(|p| p.value.clone()).collect(),
            first_name,
            last_name,
            applied_at: opp.created_at,
        })
    }

    /// Who referred the candidate: the referral forms' referrers, oldest
    /// first, then the user of a `referral` application; each once. With
    /// [`Depth::Full`], with the email Lever has for each (users cached).
    async fn referrers(&self, opp: &LeverOpportunity, depth: Depth) -> Result<Vec<AtsReferrer>> {
        let mut forms = self.referrals(&opp.id).await?;
        forms.sort_by_key(|r| r.created_at);
        let named = forms
            .into_iter()
            .filter_map(|r| r.referrer)
            .chain(opp.referring_user().map(str::to_owned));
        let mut out: Vec<AtsReferrer> = Vec::new();
        for user_id in named {
            if out.iter().any(|r| r.user_id == user_id) {
                continue;
            }
            let email = match depth {
                Depth::Listing => None,
                Depth::Full => match self.user(&user_id).await {
                    Ok(u) => u.email,
                    // A user Lever no longer returns cannot be mapped;
                    // capture records that instead of failing the delivery.
                    Err(Error::Permanent(e)) => {
                        tracing::warn!(user = %user_id, error = %e, "lever referrer not readable");
                        None
                    }
                    Err(e) => return Err(e),
                },
            };
            out.push(AtsReferrer { user_id, email });
        }
        Ok(out)
    }
}

#[async_trait]
impl Connector for LeverClient {
    fn ats(&self) -> Ats {
        Ats::Lever
    }

    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport> {
        let opportunity = w.ats_application_id.as_str();
        if opportunity.is_empty() {
            return Err(Error::permanent(format!(
                "lever write-back for referrer {} lacks an opportunity id",
                w.referrer_employee_id
            )));
        }
        let mut report = WriteReport::default();
        let tag = w.tag.trim();
        if tag.is_empty() {
            report.skip(AttributionPart::Tag, "no tag configured");
        } else {
            self.add_tags(opportunity, &[tag]).await?;
            report.wrote(AttributionPart::Tag);
        }
        if self.referral_source.is_empty() {
            report.skip(AttributionPart::Source, "no referral source configured");
        } else {
            self.add_sources(opportunity, &[&self.referral_source])
                .await?;
            report.wrote(AttributionPart::Source);
        }
        report.skip(
            AttributionPart::CustomField,
            "Lever has no verified write for a field on an existing opportunity",
        );
        report.skip(
            AttributionPart::Referrer,
            "Lever records referrals only through its own referral form",
        );
        Ok(report)
    }

    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>> {
        let Some(email) = q.email.as_deref().filter(|e| !e.trim().is_empty()) else {
            return Err(Error::permanent(
                "lever can look candidates up by email only, and none was given",
            ));
        };
        let mut by_contact: Vec<CandidateMatch> = Vec::new();
        for opp in self.opportunities_by_email(email.trim(), 10).await? {
            let contact = opp.contact.clone().unwrap_or_else(|| opp.id.clone());
            match by_contact.iter_mut().find(|m| m.candidate_id == contact) {
                Some(m) => m.application_ids.push(opp.id),
                None => by_contact.push(CandidateMatch {
                    candidate_id: contact,
                    application_ids: vec![opp.id],
                }),
            }
        }
        Ok(by_contact)
    }

    async fn application_state(&self, application_id: &str) -> Result<ApplicationState> {
        let opp = self.get_opportunity(application_id).await?;
        self.state_of(&opp, Depth::Full).await
    }

    async fn job_facts(&self, job_id: &str) -> Result<AtsJob> {
        self.get_posting(job_id).await
    }

    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>> {
        let (items, next) = self
            .list_opportunities_page(since, page.as_ref().map(|p| p.0.as_str()))
            .await?;
        let mut states = Vec::with_capacity(items.len());
        for opp in &items {
            states.push(self.state_of(opp, Depth::Listing).await?);
        }
        Ok(Page {
            items: states,
            next: next.map(PageToken),
        })
    }

    async fn list_start_dates(
        &self,
        since: NaiveDate,
        page: Option<PageToken>,
    ) -> Result<Page<StartDate>> {
        let since = since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let (items, next) = self
            .list_opportunities_page(since, page.as_ref().map(|p| p.0.as_str()))
            .await?;
        let mut starts = Vec::new();
        for opp in &items {
            if self.status_of(opp).await? != LeverStatus::Hired {
                continue;
            }
            if let Some(day) = LeverOffer::start_date_of(&self.offers(&opp.id).await?) {
                starts.push(StartDate {
                    application_id: opp.id.clone(),
                    starts_on: day.date_naive(),
                });
            }
        }
        Ok(Page {
            items: starts,
            next: next.map(PageToken),
        })
    }
}
