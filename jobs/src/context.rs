//! What every job attempt can reach: the database, the queue, the
//! configured clients (ATS APIs, webhook destinations, the sandbox) and the
//! settings of each workflow stage, as one plain struct ([`JobContext`]).
//! Built once per process by the worker runtime
//! (`worker/src/runtime/context.rs`)
//! from its configuration and shared by all attempts; every handler takes
//! it.
//!
//! It holds data only: the settings types are defined here (or, for the
//! clients, in [`crate::outbound`] and [`crate::connectors`]), so no
//! workflow module that reads its settings is imported back by this file.

use std::sync::Arc;

use entities::outbound_message::OutboundChannel;
use sea_orm::DatabaseConnection;

use crate::{
    connectors::Connectors,
    outbound::{sandbox::Sandbox, webhook::OutboundClient},
    payout::rules::BonusRules,
    referral::attribution::Rules,
};
use queue::{QueueStore, RetryPolicies};

/// Settings for capture and write-back (from `[referrals]`).
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    /// Attribution windows.
    pub rules: Rules,
    /// Region for national phone numbers when the payload gives none.
    pub default_phone_region: Option<String>,
    /// Region per ATS job id, tried after the payload's and before the default.
    pub job_phone_regions: std::collections::HashMap<String, String>,
    /// Tag written to the ATS candidate.
    pub ats_tag: String,
    /// Stage names meaning "hired", per ATS name, lowercased
    /// (`[milestones] hire_stages`).
    pub hire_stages: std::collections::HashMap<String, Vec<String>>,
    /// The start date's field in `application.status_changed` events.
    pub start_date_field: String,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            default_phone_region: None,
            job_phone_regions: std::collections::HashMap::new(),
            ats_tag: "Employee Referral".into(),
            hire_stages: std::collections::HashMap::new(),
            start_date_field: crate::connectors::careers_site::DEFAULT_START_DATE_FIELD.into(),
        }
    }
}

/// Settings for milestones and payouts (from `[payouts]`).
#[derive(Debug, Clone)]
pub struct PayoutSettings {
    /// Bonus rules: the tranches and the probation period per job.
    pub rules: BonusRules,
    /// Where bonus events are POSTed; `None` keeps eligible payouts waiting.
    pub destination: Option<Arc<OutboundClient>>,
    /// How long a job's facts read from its ATS are trusted
    /// (`payouts.job_facts_ttl`).
    pub job_facts_ttl: std::time::Duration,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        Self {
            rules: BonusRules::default(),
            destination: None,
            job_facts_ttl: std::time::Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Where notifications go: one client per configured channel.
#[derive(Debug, Clone, Default)]
pub struct Notifications {
    /// The referral platform (status sync), when configured.
    pub status_sync: Option<Arc<OutboundClient>>,
    /// The CRM, when configured.
    pub crm: Option<Arc<OutboundClient>>,
    /// The Slack-compatible alert webhook, when configured.
    pub alert: Option<Arc<OutboundClient>>,
    /// Whether a hire undone by a rejection is reported to the referral
    /// platform (off by default).
    pub notify_rejections: bool,
    /// Which referral decisions and stage changes the referral platform
    /// hears of, and what they may say about the candidate.
    pub engagement: crate::referral::engagement::Engagement,
    /// This service's public base URL, for links in alerts and messages.
    pub public_base_url: String,
}

impl Notifications {
    /// The client of `channel`, when it is configured.
    pub fn client(&self, channel: OutboundChannel) -> Option<&Arc<OutboundClient>> {
        match channel {
            OutboundChannel::StatusSync => self.status_sync.as_ref(),
            OutboundChannel::Crm => self.crm.as_ref(),
            OutboundChannel::Alert => self.alert.as_ref(),
        }
    }

    /// The ops API's address of a job.
    pub fn job_link(&self, job_id: &str) -> String {
        format!(
            "{}/api/ops/jobs/{job_id}",
            self.public_base_url.trim_end_matches('/')
        )
    }
}

/// Windows of a run (from `[reconciliation]`).
#[derive(Debug, Clone, Copy)]
pub struct ReconcileSettings {
    /// How long a payout may stay sendable before it is a variance.
    pub delivery_window: chrono::Duration,
    /// How far back the ATS is asked for applications that moved.
    pub ats_lookback: chrono::Duration,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            delivery_window: chrono::Duration::days(1),
            ats_lookback: chrono::Duration::days(30),
        }
    }
}

/// Everything a job attempt may use. Cheap to share (`Arc` it).
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The database.
    pub db: DatabaseConnection,
    /// The queue (jobs enqueue follow-up jobs).
    pub queue: QueueStore,
    /// Attempt budgets per kind.
    pub retry: RetryPolicies,
    /// Capture rules.
    pub capture: CaptureSettings,
    /// Milestone and payout settings.
    pub payouts: PayoutSettings,
    /// Status sync, CRM and alert destinations.
    pub notifications: Notifications,
    /// Reconciliation windows.
    pub reconcile: ReconcileSettings,
    /// The scheduled KPI report's settings.
    pub reports: crate::finance::report::ReportSettings,
    /// The ATS connectors that have API credentials, one per ATS.
    pub connectors: Connectors,
    /// Sandbox mode: which calls are recorded instead of made.
    pub sandbox: Sandbox,
}

impl JobContext {
    /// A context without ATS connectors.
    pub fn new(
        db: DatabaseConnection,
        queue: QueueStore,
        retry: RetryPolicies,
        capture: CaptureSettings,
    ) -> Self {
        Self {
            db,
            queue,
            retry,
            capture,
            payouts: PayoutSettings::default(),
            notifications: Notifications::default(),
            reconcile: ReconcileSettings::default(),
            reports: crate::finance::report::ReportSettings::default(),
            connectors: Connectors::new(),
            sandbox: Sandbox::default(),
        }
    }
}
