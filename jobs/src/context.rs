//! What every job attempt can reach: the database, the queue, the capture
//! rules and the ATS clients. Built once per process by the worker runtime
//! (`worker/src/runtime.rs`) and shared by all attempts.

use std::sync::Arc;

use entities::{application, candidate_ats_id, referral, referral::ReferralState, states::Ats};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use crate::{
    connectors::{AtsClient, WriteBack, greenhouse::GreenhouseClient, lever::LeverClient},
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
    queue::{QueueStore, RetryPolicies},
    referral::attribution::Rules,
};

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
#[derive(Debug, Clone, Default)]
pub struct PayoutSettings {
    /// Bonus rules: the tranches and the probation period per job.
    pub rules: crate::payout::rules::BonusRules,
    /// Where bonus events are POSTed; `None` keeps eligible payouts waiting.
    pub destination: Option<Arc<crate::outbound::webhook::OutboundClient>>,
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
    pub notifications: crate::outbox::Notifications,
    /// Reconciliation windows.
    pub reconcile: crate::reconcile::ReconcileSettings,
    /// Greenhouse Harvest, when configured.
    pub greenhouse: Option<Arc<GreenhouseClient>>,
    /// Lever, when configured.
    pub lever: Option<Arc<LeverClient>>,
    /// Sandbox mode: which calls are recorded instead of made.
    pub sandbox: crate::outbound::sandbox::Sandbox,
}

impl JobContext {
    /// A context without ATS clients.
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
            notifications: crate::outbox::Notifications::default(),
            reconcile: crate::reconcile::ReconcileSettings::default(),
            greenhouse: None,
            lever: None,
            sandbox: crate::outbound::sandbox::Sandbox::default(),
        }
    }

    /// Writes a credited referral back to its ATS.
    ///
    /// # Errors
    /// The ATS client's verdict (retry, retry-after, permanent).
    pub async fn write_back(&self, referral_id: i64) -> Result<()> {
        let Some(r) = referral::Entity::find_by_id(referral_id)
            .one(&self.db)
            .await?
        else {
            return Err(Error::permanent(format!(
                "referral {referral_id} does not exist"
            )));
        };
        if r.state != ReferralState::Credited {
            return self
                .note_skip(referral_id, "referral is no longer credited")
                .await;
        }
        let Some(app_id) = r.application_id else {
            return self
                .note_skip(referral_id, "referral has no application")
                .await;
        };
        let Some(app) = application::Entity::find_by_id(app_id)
            .one(&self.db)
            .await?
        else {
            return Err(Error::permanent(format!(
                "application {app_id} does not exist"
            )));
        };
        let ats_candidate_id = candidate_ats_id::Entity::find()
            .filter(candidate_ats_id::Column::CandidateId.eq(r.candidate_id))
            .filter(candidate_ats_id::Column::Ats.eq(app.ats))
            .one(&self.db)
            .await?
            .map(|m| m.ats_candidate_id);
        let wb = WriteBack {
            ats_candidate_id: ats_candidate_id.unwrap_or_default(),
            ats_application_id: app.ats_application_id.clone(),
            referrer_employee_id: r.employee_id.clone(),
            referrer_ats_user_id: None,
            referral_token: r.link_token.clone(),
            tag: self.capture.ats_tag.clone(),
        };
        let configured = match app.ats {
            Ats::Greenhouse => self.greenhouse.is_some(),
            Ats::Lever => self.lever.is_some(),
            Ats::CareersSite | Ats::Generic => false,
        };
        if configured
            && self
                .sandbox
                .record_write_back(app.ats, referral_id, &app.ats_application_id)
                .await?
        {
            return self
                .note_skip(referral_id, "sandbox: write-back recorded, not sent")
                .await;
        }
        match app.ats {
            Ats::Greenhouse => match &self.greenhouse {
                Some(c) => c.write_referral(&wb).await?,
                None => {
                    return self
                        .note_skip(referral_id, "Greenhouse API not configured")
                        .await;
                }
            },
            Ats::Lever => match &self.lever {
                Some(c) => c.write_referral(&wb).await?,
                None => {
                    return self
                        .note_skip(referral_id, "Lever API not configured")
                        .await;
                }
            },
            Ats::CareersSite | Ats::Generic => {
                // Moved to the ATS application when that arrives (capture
                // re-points the referral and enqueues write-back again).
                return self
                    .note_skip(
                        referral_id,
                        "no ATS application yet; written back when it arrives",
                    )
                    .await;
            }
        }
        let tx = begin_locked(&self.db, &[]).await?;
        tx.audit(AuditEntry::system(
            "attribution.written_back",
            "referral",
            referral_id,
            json!({ "application_id": app.id, "ats": app.ats }),
        ));
        tx.commit().await?;
        Ok(())
    }

    async fn note_skip(&self, referral_id: i64, reason: &str) -> Result<()> {
        tracing::info!(referral_id, reason, "write-back skipped");
        let tx = begin_locked(&self.db, &[]).await?;
        tx.audit(AuditEntry::system(
            "attribution.write_back_skipped",
            "referral",
            referral_id,
            json!({ "reason": reason }),
        ));
        tx.commit().await?;
        Ok(())
    }
}
