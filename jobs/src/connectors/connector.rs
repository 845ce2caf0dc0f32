//! The connector seam: the one trait every ATS implements ([`Connector`])
//! and the typed answers it gives. Capture's write-back
//! ([`crate::capture::write_back`]), capture's re-fetch of an unsigned
//! event ([`crate::capture`]) and reconciliation
//! ([`crate::maintenance::reconcile`]) talk to this trait only, through the
//! [`Connectors`] the worker builds once per process
//! (`worker/src/runtime/context.rs`); they never see a vendor's JSON.
//!
//! # Why `async_trait` and `Arc<dyn Connector>`
//!
//! The connectors are chosen at run time from configuration, several ATSs
//! can be configured at once, and new ones are added by dropping a folder
//! next to `greenhouse/` and `lever/` (Ashby is being written that way).
//! With a trait object the registry is a map from [`Ats`] to
//! `Arc<dyn Connector>`: adding a vendor touches its folder and one line
//! of the worker's wiring, not an enum every caller matches on. The cost,
//! one boxed future per call, is nothing next to an HTTP round trip.
//! Native `async fn` in traits cannot be made into objects yet, hence
//! `async_trait` (already a dependency of this crate).
//!
//! # What a connector answers
//!
//! * [`Connector::write_attribution`]: the referral written back (custom
//!   field, tag, source, referrer), with a [`WriteReport`] saying what was
//!   written and what was skipped and why. Idempotent: a retry after a
//!   partial success writes the same values again.
//! * [`Connector::find_candidates`]: candidates by email (and phone where
//!   the vendor can search by it), with their applications.
//! * [`Connector::application_state`]: an application as the ATS states it
//!   now ([`ApplicationState`]: status as [`AtsStatus`], stage, offer start
//!   date, job id, the candidate's contact details).
//! * [`Connector::job_facts`]: the job's level, department and office /
//!   location ([`AtsJob`]).
//! * [`Connector::list_changes`] and [`Connector::list_start_dates`]:
//!   page by page ([`Page`]), what moved since a time, for reconciliation.
//! * [`Connector::polls_removals`] and [`Connector::still_has`]: for a
//!   vendor whose webhooks announce no merges or deletions, whether it
//!   still has an application (reconciliation asks).
//!
//! Every failure is a [`crate::Error`] whose variant is already the retry
//! decision (see [`super::api`]).

use std::{collections::HashMap, fmt, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use entities::states::Ats;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What we write back to the ATS when a referral is attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBack {
    /// The ATS's candidate id (Greenhouse candidate; Lever contact).
    pub ats_candidate_id: String,
    /// The ATS's application id (Greenhouse application; Lever
    /// opportunity, which is where Lever keeps tags and sources).
    pub ats_application_id: String,
    /// Our employee id of the referrer (for logs and messages).
    pub referrer_employee_id: String,
    /// The referrer's work email, which the connector maps to its own user
    /// (and, in Greenhouse, to the referrer record) when it credits one.
    pub referrer_email: Option<String>,
    /// The referrer's user id in the ATS, when already known (a Greenhouse
    /// webhook's `credited_to.id`); saves the look-up by email.
    pub referrer_ats_user_id: Option<String>,
    /// The referral token from the referral link, written to a custom field
    /// where the ATS has one (Greenhouse).
    pub referral_token: Option<String>,
    /// The tag to add, e.g. `"Employee Referral"`.
    pub tag: String,
}

/// One part of an attribution written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionPart {
    /// Our referral token in a custom field.
    CustomField,
    /// A tag on the candidate (Greenhouse) or opportunity (Lever).
    Tag,
    /// The application's source ("Referral").
    Source,
    /// The ATS's own referrer credit.
    Referrer,
}

/// What a write-back did: the parts written, and the parts skipped with
/// the reason (nothing configured, the vendor has no such write, the
/// referrer is not a user of the ATS, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReport {
    /// Parts written (or confirmed already there).
    pub written: Vec<AttributionPart>,
    /// Parts not written, each with why.
    pub skipped: Vec<(AttributionPart, String)>,
}

impl WriteReport {
    /// Records `part` as written.
    pub fn wrote(&mut self, part: AttributionPart) {
        self.written.push(part);
    }

    /// Records `part` as skipped because of `why`.
    pub fn skip(&mut self, part: AttributionPart, why: impl Into<String>) {
        self.skipped.push((part, why.into()));
    }
}

/// How to find a candidate in the ATS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidateQuery {
    /// An email address (vendors match it exactly, case-insensitively).
    pub email: Option<String>,
    /// A phone number in E.164, for vendors that can search by phone.
    pub phone: Option<String>,
}

impl CandidateQuery {
    /// The email to search by, for a vendor that can search by email only:
    /// `Ok(None)` when the query has only a phone (nothing such a vendor
    /// can find), an error when it has neither.
    pub fn email_only(&self, vendor: &str) -> Result<Option<&str>> {
        match self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(email) => Ok(Some(email)),
            None if self.phone.is_some() => Ok(None),
            None => Err(Error::permanent(format!(
                "{vendor} candidate search needs an email address"
            ))),
        }
    }
}

/// A candidate the ATS found, with its applications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateMatch {
    /// The candidate's id (Greenhouse candidate; Lever contact).
    pub candidate_id: String,
    /// Its application ids (Greenhouse applications; Lever opportunities).
    pub application_ids: Vec<String>,
}

/// An application's status as the ATS confirms it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtsStatus {
    /// In the pipeline (Greenhouse `in_process`, Lever not archived).
    Active,
    /// Hired, as the ATS's own state says (Greenhouse `hired`; Lever
    /// archived with a hired reason). Nothing else is a hire.
    Hired,
    /// Rejected (Greenhouse `rejected`).
    Rejected,
    /// Closed for another reason (Lever archived not as hired; Greenhouse
    /// `converted`, a prospect turned into an application elsewhere).
    Closed,
}

impl AtsStatus {
    /// The status word capture stores (`active`, `hired`, `rejected`,
    /// `archived`).
    pub fn as_capture_status(self) -> &'static str {
        match self {
            AtsStatus::Active => "active",
            AtsStatus::Hired => "hired",
            AtsStatus::Rejected => "rejected",
            AtsStatus::Closed => "archived",
        }
    }
}

/// An application as the ATS states it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationState {
    /// Its id (Greenhouse application; Lever opportunity).
    pub application_id: String,
    /// The candidate's id (Greenhouse candidate; Lever contact).
    pub candidate_id: Option<String>,
    /// The job (Greenhouse job; Lever posting).
    pub job_id: Option<String>,
    /// Status.
    pub status: AtsStatus,
    /// Current stage name, when the ATS gives it.
    pub stage: Option<String>,
    /// The start date of the accepted offer, when there is one.
    pub start_date: Option<NaiveDate>,
    /// The ATS user credited with referring, in the ATS's user id space.
    pub referrer_user_id: Option<String>,
    /// Everyone the ATS records as having referred the candidate, first
    /// referral first, with the email capture maps to an employee (Lever:
    /// the users its referral forms name). Empty where the vendor's
    /// webhook carries the credit itself (Greenhouse `credited_to`).
    pub referrers: Vec<AtsReferrer>,
    /// Our referral token, when the customer keeps it in the ATS (Lever:
    /// where `ats.lever.token_from` says).
    pub referral_token: Option<String>,
    /// The candidate's email addresses, when this read gives them.
    pub emails: Vec<String>,
    /// The candidate's phone numbers, as entered.
    pub phones: Vec<String>,
    /// Given name, when known.
    pub first_name: Option<String>,
    /// Family name, when known.
    pub last_name: Option<String>,
    /// When the candidate applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// A user of the ATS who referred the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtsReferrer {
    /// Their user id in the ATS.
    pub user_id: String,
    /// Their email as the ATS has it (`None`: it has none, or the user is
    /// gone), which capture maps to an employee.
    pub email: Option<String>,
}

/// A job's facts bonus rules are decided on; `None` where the ATS does not
/// say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtsJob {
    /// The job id.
    pub job_id: String,
    /// Level (Greenhouse: a job custom field; Lever: the posting's level).
    pub level: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Office or location.
    pub location: Option<String>,
}

/// An accepted offer's start date, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartDate {
    /// The application the offer belongs to.
    pub application_id: String,
    /// The day the candidate starts.
    pub starts_on: NaiveDate,
}

/// Where the next page of a listing starts: opaque to callers (a
/// Greenhouse cursor URL, a Lever `next` token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageToken(pub String);

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// The next page, if there is one.
    pub next: Option<PageToken>,
}

impl<T> Page<T> {
    /// A last page holding nothing.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

/// An ATS we read from and write referrals back to. One implementation per
/// vendor folder; see the module docs.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// Which ATS this is.
    fn ats(&self) -> Ats;

    /// Writes the attribution back. Idempotent: safe to retry after a
    /// partial success.
    ///
    /// # Errors
    /// An [`crate::Error`] whose variant is the retry decision.
    async fn write_attribution(&self, w: &WriteBack) -> Result<WriteReport>;

    /// Candidates matching the query (by email; by phone where the vendor
    /// can), with their applications. Empty when there is none.
    ///
    /// # Errors
    /// The retry decision; a query with neither email nor phone is permanent.
    async fn find_candidates(&self, q: &CandidateQuery) -> Result<Vec<CandidateMatch>>;

    /// The application as the ATS states it now.
    ///
    /// # Errors
    /// The retry decision; [`crate::Error::Permanent`] when the ATS does
    /// not have it.
    async fn application_state(&self, application_id: &str) -> Result<ApplicationState>;

    /// The job's level, department and office / location.
    ///
    /// # Errors
    /// The retry decision.
    async fn job_facts(&self, job_id: &str) -> Result<AtsJob>;

    /// One page of the applications that changed since `since` (the first
    /// page when `page` is `None`).
    ///
    /// # Errors
    /// The retry decision.
    async fn list_changes(
        &self,
        since: DateTime<Utc>,
        page: Option<PageToken>,
    ) -> Result<Page<ApplicationState>>;

    /// Whether reconciliation must ask this ATS, application by application,
    /// whether it still has them ([`Connector::still_has`]): `true` for a
    /// vendor that announces no merges or deletions (Workable, whose
    /// webhooks are only `candidate_created` and `candidate_moved`) and
    /// answers 404 for a candidate merged away or deleted. `false` (the
    /// default): its webhooks announce them.
    fn polls_removals(&self) -> bool {
        false
    }

    /// Whether the ATS still has application `application_id`: `false`
    /// when it answers that it has none (a 404). Asked by reconciliation
    /// only where [`Connector::polls_removals`] is `true`.
    ///
    /// # Errors
    /// The retry decision for any other failure.
    async fn still_has(&self, application_id: &str) -> Result<bool> {
        self.application_state(application_id).await.map(|_| true)
    }

    /// One page of accepted offers starting on or after `since`. Vendors
    /// whose start dates come with the application (in
    /// [`Connector::list_changes`]) have none to list separately.
    ///
    /// # Errors
    /// The retry decision.
    async fn list_start_dates(
        &self,
        since: NaiveDate,
        page: Option<PageToken>,
    ) -> Result<Page<StartDate>> {
        let _ = (since, page);
        Ok(Page::empty())
    }
}

/// The configured connectors, one per ATS, shared by every job of the
/// process (clients, tokens and rate limiters included).
#[derive(Debug, Clone, Default)]
pub struct Connectors {
    by_ats: HashMap<Ats, Arc<dyn Connector>>,
}

impl Connectors {
    /// No connectors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the connector for its ATS.
    pub fn insert(&mut self, connector: Arc<dyn Connector>) {
        self.by_ats.insert(connector.ats(), connector);
    }

    /// The connector of `ats`, when configured.
    pub fn get(&self, ats: Ats) -> Option<&Arc<dyn Connector>> {
        self.by_ats.get(&ats)
    }

    /// Every configured connector, in a stable order (by ATS name).
    pub fn all(&self) -> Vec<&Arc<dyn Connector>> {
        let mut all: Vec<_> = self.by_ats.values().collect();
        all.sort_by_key(|c| format!("{:?}", c.ats()));
        all
    }

    /// Whether `ats` has a connector.
    pub fn has(&self, ats: Ats) -> bool {
        self.by_ats.contains_key(&ats)
    }
}

/// Reads every page of a listing, at most `max_pages`: what reconciliation
/// does with [`Connector::list_changes`] and
/// [`Connector::list_start_dates`].
///
/// # Errors
/// The first page that fails.
pub async fn all_pages<T, F, Fut>(max_pages: u32, mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(Option<PageToken>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>>>,
{
    let mut all = Vec::new();
    let mut next = None;
    for _ in 0..max_pages {
        let page = fetch(next.take()).await?;
        all.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(all)
}
