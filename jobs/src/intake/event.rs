//! What a verified delivery means, vendor shapes normalised away: the
//! vocabulary every connector's decoder produces ([`crate::connectors`])
//! and capture consumes ([`crate::capture`]).
//!
//! Names that decide something are typed here, at the edge: the ATS an
//! application lives in is an [`Ats`], parsed once by the decoder and
//! never again later.

use chrono::{DateTime, Utc};
use entities::states::Ats;
use serde::{Deserialize, Serialize};

/// Which system sent a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Our own careers site.
    CareersSite,
    /// Greenhouse Recruiting webhooks.
    Greenhouse,
    /// Lever webhooks.
    Lever,
    /// Ashby webhooks.
    Ashby,
    /// Workable webhooks.
    Workable,
    /// SmartRecruiters webhooks.
    SmartRecruiters,
}

/// Why a delivery is refused. The HTTP layer maps each variant to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// Missing or wrong signature (401).
    #[error("signature: {0}")]
    BadSignature(String),
    /// A Lever delivery whose `triggeredAt` is too old or too far in the future (401).
    #[error("stale delivery: {0}")]
    Stale(String),
    /// The body is not JSON at all (400).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A required field is missing or has the wrong type (422). `field` is a
    /// dotted path such as `application.candidate.id`.
    #[error("{field}: {problem}")]
    InvalidField {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// What a verified delivery means, vendor shapes normalised away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One value per delivery, decoded and dropped: boxing the big variant would
// cost an allocation and buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum IntakeEvent {
    /// A candidate applied (or a Greenhouse prospect was created, or an
    /// application was updated: the same facts, re-stated).
    Application(ApplicationEvent),
    /// An application moved to another stage or status.
    StageChanged(StageChange),
    /// Greenhouse merged candidate `from` into `into`.
    CandidateMerged {
        /// The candidate that no longer exists.
        from_candidate_id: String,
        /// The surviving candidate.
        into_candidate_id: String,
    },
    /// Greenhouse deleted an application (or merged a duplicate on the same job).
    ApplicationDeleted {
        /// The deleted application.
        application_id: String,
        /// Its candidate.
        candidate_id: Option<String>,
        /// Its job.
        job_id: Option<String>,
    },
    /// Greenhouse anonymised a candidate (GDPR).
    CandidateAnonymized {
        /// The candidate.
        candidate_id: String,
    },
    /// A Lever event: only the opportunity id is trustworthy, the job must
    /// re-fetch it from the Lever API before acting.
    LeverOpportunity {
        /// The Lever event name (`applicationCreated`, `candidateStageChange`, ...).
        event: String,
        /// The opportunity to re-fetch.
        opportunity_id: String,
    },
    /// A Workable event: the body states the candidate as it was when
    /// Workable sent it, so the job re-reads the candidate from the
    /// Workable API and acts on what the API states.
    WorkableCandidate {
        /// `candidate_created` or `candidate_moved`.
        event: String,
        /// The candidate to re-read (one Workable candidate is one
        /// application: it carries a single job).
        candidate_id: String,
        /// Whether the body claimed a hire (`stage_kind: hired` or
        /// `hired_at` set): only recorded when the API disagrees.
        claims_hired: bool,
    },
    /// A SmartRecruiters event: its body carries ids only, so the job
    /// re-reads the candidate's assignment from the Customer API and acts
    /// on what the API states.
    SmartRecruitersAssignment {
        /// `application.created`, `application.status.updated`, …
        event: String,
        /// The candidate to re-read.
        candidate_id: String,
        /// The job of the assignment; `None` (candidate events): the
        /// candidate's primary assignment.
        job_id: Option<String>,
    },
    /// A well-formed, authentic event this service does not act on; recorded
    /// as ignored.
    Ignored {
        /// The vendor's event name.
        event: String,
    },
}

impl IntakeEvent {
    /// The event's name as the inbox records it: the vendor's event name,
    /// or ours for the Greenhouse actions decoded to a variant of their own.
    pub fn event_name(&self) -> String {
        match self {
            IntakeEvent::Application(a) => a.event.clone(),
            IntakeEvent::StageChanged(s) => s.event.clone(),
            IntakeEvent::CandidateMerged { .. } => "merge_candidate".into(),
            IntakeEvent::ApplicationDeleted { .. } => "delete_application".into(),
            IntakeEvent::CandidateAnonymized { .. } => "candidate_anonymized".into(),
            IntakeEvent::LeverOpportunity { event, .. } => event.clone(),
            IntakeEvent::WorkableCandidate { event, .. } => event.clone(),
            IntakeEvent::SmartRecruitersAssignment { event, .. } => event.clone(),
            IntakeEvent::Ignored { event } => event.clone(),
        }
    }
}

/// An application with everything attribution needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationEvent {
    /// Where it came from.
    pub source: Source,
    /// The vendor event name (`application.submitted`, `new_candidate_application`, ...).
    pub event: String,
    /// The ATS the application lives in (Greenhouse, Lever, or the careers
    /// site when it is the system of record; `generic` for an ATS without
    /// a connector of its own).
    pub ats: Ats,
    /// The candidate's id in that ATS, when known (the careers site may not know it).
    pub ats_candidate_id: Option<String>,
    /// The application's id in that ATS (for the careers site: its submission id).
    pub ats_application_id: String,
    /// The ATS job id.
    pub job_id: String,
    /// The requisition id, when given.
    pub requisition_id: Option<String>,
    /// Raw email as sent (canonicalised later, raw kept beside it).
    pub email: Option<String>,
    /// Raw phone as sent.
    pub phone: Option<String>,
    /// ISO 3166 region hint for parsing a national-format phone (`DE`).
    pub phone_region: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Our referral token (`?ref=` on the careers site, the `referral_token`
    /// custom field on Greenhouse).
    pub referral_token: Option<String>,
    /// Greenhouse `credited_to.employee_id`: a referral recorded in the ATS.
    pub credited_employee_id: Option<String>,
    /// Whether Greenhouse calls this a prospect.
    pub prospect: bool,
    /// When the candidate applied.
    pub applied_at: DateTime<Utc>,
    /// Application status in the ATS (`active`, `rejected`, `hired`), when given.
    pub status: Option<String>,
    /// Current stage name, when given.
    pub stage: Option<String>,
    /// Job department, when given.
    pub department: Option<String>,
    /// Job location / office, when given.
    pub location: Option<String>,
    /// The day the hire starts (probation counts from it), when the ATS
    /// confirmed one (Lever: the signed offer's).
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    /// The consent the applicant gave with it (the careers site's
    /// `consent`), when the source sends one.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// The vendor's time of the state this event states (Greenhouse
    /// `last_activity_at`, Ashby `updatedAt`, the careers site's
    /// `submitted_at`, a re-fetch's read time), which orders its status,
    /// stage and start date against other events
    /// ([`crate::capture::facts`]); `None` when the vendor gives none.
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
}

/// What an applicant agreed to, as the careers site sends it. A flag the
/// sender left out is `None` (not given, not refused). Stored by capture
/// with its time and source ([`crate::privacy::consent`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// `consent.privacy_notice_version`: the notice the applicant saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_notice_version: Option<String>,
    /// `consent.processing`: processing of the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<bool>,
    /// `consent.retention`: keeping the data after the process ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<bool>,
    /// `consent.referral_data_sharing`: sharing with the referral program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_data_sharing: Option<bool>,
}

/// A stage or status change of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageChange {
    /// Where it came from.
    pub source: Source,
    /// The vendor event name.
    pub event: String,
    /// The ATS the application lives in.
    pub ats: Ats,
    /// The application.
    pub ats_application_id: String,
    /// Its candidate, when given.
    pub ats_candidate_id: Option<String>,
    /// Its job, when given.
    pub job_id: Option<String>,
    /// The new stage name, when given.
    pub stage: Option<String>,
    /// The new status (`active`, `rejected`, `hired`), when given.
    pub status: Option<String>,
    /// When it happened, as the vendor says; orders the change against
    /// others ([`crate::capture::facts`]). `None` when the vendor gives no
    /// readable time (the hire or rejection is then dated when processed).
    pub changed_at: Option<DateTime<Utc>>,
    /// Greenhouse `offer.starts_at`, when present.
    pub starts_at: Option<String>,
    /// The vendor's version of the changed object, where it numbers them
    /// (Greenhouse's offer `version`): on equal times, the higher is newer.
    #[serde(default)]
    pub version: Option<i64>,
}
