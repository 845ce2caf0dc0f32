//! Lever: its webhooks (an HMAC over `token + triggeredAt` only: the body
//! is not signed, so an event only names the opportunity to re-fetch) and
//! the API we re-fetch opportunities from, write referrals back to and
//! reconcile against.
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent::LeverOpportunity`](crate::intake::IntakeEvent::LeverOpportunity);
//! * [`api`]: the Lever client ([`LeverClient`]): write-back, opportunity
//!   look-ups, the reads reconciliation makes;
//! * [`refetch_application`] (here): what the capture job acts on instead
//!   of the unsigned body, the opportunity as the API states it.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, capture ([`crate::capture`]) re-fetches,
//! the write-back job and reconciliation call the API.

pub mod api;
pub mod webhook;

use chrono::Utc;
use entities::states::Ats;

pub use api::{LeverClient, LeverConfig, LeverOpportunity};
pub use webhook::{LeverDelivery, MAX_FUTURE_SKEW, OPPORTUNITY_EVENTS, decode, verify};

use crate::{
    error::{Error, Result},
    intake::event::{ApplicationEvent, Source},
};

/// Re-fetches a Lever opportunity (the webhook body is not signed, so
/// only the API's answer is trusted) and states it as an application.
/// `lever` is the configured client, if any.
///
/// # Errors
/// Permanent when no Lever API key is configured; the client's verdict otherwise.
pub async fn refetch_application(
    lever: Option<&LeverClient>,
    event: &str,
    opportunity_id: &str,
) -> Result<ApplicationEvent> {
    let client = lever.ok_or_else(|| {
        Error::permanent("Lever API key not configured: cannot re-fetch the opportunity")
    })?;
    let opp = client.get_opportunity(opportunity_id).await?;
    let (first_name, last_name) = match opp.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => match name.rsplit_once(' ') {
            Some((f, l)) => (Some(f.to_string()), Some(l.to_string())),
            None => (Some(name.to_string()), None),
        },
        _ => (None, None),
    };
    // A hired candidate is archived as hired: every later event about
    // it re-fetches an archived opportunity that is still a hire.
    let status = if event == "candidateHired" || opp.is_hired() {
        Some("hired".to_string())
    } else if opp.is_archived() {
        Some("archived".to_string())
    } else {
        Some("active".to_string())
    };
    Ok(ApplicationEvent {
        source: Source::Lever,
        event: event.to_string(),
        ats: Ats::Lever,
        ats_candidate_id: opp.contact.clone(),
        ats_application_id: opp.id.clone(),
        job_id: opp.posting_id().unwrap_or_default().to_string(),
        requisition_id: None,
        email: opp.emails.first().cloned(),
        phone: opp.phones.first().map(|p| p.value.clone()),
        phone_region: None,
        first_name,
        last_name,
        referral_token: None,
        credited_employee_id: None,
        prospect: false,
        applied_at: opp.created_at.unwrap_or_else(Utc::now),
        status,
        stage: opp.stage.as_ref().and_then(|s| s.text.clone()),
        department: None,
        location: None,
        consent: None,
    })
}
