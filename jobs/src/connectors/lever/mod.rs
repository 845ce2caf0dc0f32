//! Lever: its webhooks (an HMAC over `token + triggeredAt` only: the body
//! is not signed, so an event only names the opportunity to re-fetch) and
//! the API we re-fetch opportunities from, write referrals back to and
//! reconcile against.
//!
//! * [`webhook`]: verify a delivery and decode it into an
//!   [`IntakeEvent::LeverOpportunity`](crate::intake::IntakeEvent::LeverOpportunity);
//! * [`api`]: the Lever client ([`LeverClient`]): write-back, opportunity
//!   look-ups and what decides their meaning (archive reasons, offers,
//!   referral forms, users), the reads reconciliation makes;
//! * [`model`]: what those answers are parsed into;
//! * [`token`]: where the customer puts our referral token in Lever
//!   (`ats.lever.token_from`);
//! * [`refetch`] (here): what the capture job acts on instead of the
//!   unsigned body, the opportunity as the API states it.
//!
//! # What decides
//!
//! The event name is not signed, so it never decides anything: a
//! `candidateHired` is a hint to look. An opportunity is **hired** when
//! Lever archived it for a reason whose `type` is `hired`
//! (`GET /archive_reasons`). Its **start date** is the
//! `anticipated_start_date` of its newest signed offer. Its **referrer** is
//! the Lever user its referral form (`GET /opportunities/:id/referrals`)
//! names, or the user of a `referral` application; capture maps that user
//! to an employee by email. A **referral token** is read from where
//! `ats.lever.token_from` says, besides the careers-site twin that capture
//! matches on its own.
//!
//! Callers: the HTTP intake verifies (`worker/src/http/webhooks.rs`),
//! [`crate::intake::decode`] decodes, capture (`crate::capture::lever`)
//! re-fetches, the write-back job and reconciliation call the API.

pub mod api;
pub mod model;
pub mod token;
pub mod webhook;

use chrono::{DateTime, Utc};
use entities::states::Ats;
use serde::Serialize;

pub use api::{LeverClient, LeverConfig};
pub use model::{LeverOffer, LeverOpportunity, LeverStatus};
pub use token::TokenPlace;
pub use webhook::{LeverDelivery, MAX_FUTURE_SKEW, OPPORTUNITY_EVENTS, decode, verify};

use crate::{
    error::{Error, Result},
    intake::event::{ApplicationEvent, Source},
};

/// The event that claims a hire (and proves none).
pub const HIRED_EVENT: &str = "candidateHired";

/// An opportunity as the Lever API states it, ready for capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refetched {
    /// The opportunity as an application: its status is the API's
    /// ([`Refetched::status`]), its start date the signed offer's, its
    /// referral token from `ats.lever.token_from`.
    pub application: ApplicationEvent,
    /// Where it stands.
    pub status: LeverStatus,
    /// The archive reason id, when archived with one.
    pub archive_reason: Option<String>,
    /// The Lever users who referred the candidate, first referral first.
    pub referrers: Vec<Referrer>,
}

/// A Lever user who referred the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referrer {
    /// Their Lever user id.
    pub user_id: String,
    /// Their email as Lever has it (`None`: the user has none, or is gone).
    pub email: Option<String>,
    /// When the referral was made, when Lever says.
    pub referred_at: Option<DateTime<Utc>>,
}

/// Re-fetches a Lever opportunity (the webhook body is not signed, so
/// only the API's answer is trusted) and states it as an application,
/// with what decides its meaning read from the API too (see the module
/// docs). `lever` is the configured client, if any; `event` the (unsigned)
/// event name, kept for the record.
///
/// Reads: the opportunity; the archive reasons when it is archived (cached
/// per process); its offers when it is hired; its referral forms and their
/// users (cached) when Lever says it was referred.
///
/// # Errors
/// Permanent when no Lever API key is configured; the client's verdict otherwise.
pub async fn refetch(
    lever: Option<&LeverClient>,
    event: &str,
    opportunity_id: &str,
) -> Result<Refetched> {
    let client = lever.ok_or_else(|| {
        Error::permanent("Lever API key not configured: cannot re-fetch the opportunity")
    })?;
    let opp = client.get_opportunity(opportunity_id).await?;
    let status = client.status_of(&opp).await?;
    let start_date = if status == LeverStatus::Hired {
        LeverOffer::start_date_of(&client.offers(&opp.id).await?)
    } else {
        None
    };
    let referrers = if opp.is_referred() {
        referrers(client, &opp).await?
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
    let status_text = match status {
        LeverStatus::Hired => "hired",
        LeverStatus::Archived => "archived",
        LeverStatus::Active => "active",
    };
    let application = ApplicationEvent {
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
        referral_token: TokenPlace::first(client.token_places(), &opp),
        credited_employee_id: None,
        prospect: false,
        applied_at: opp.created_at.unwrap_or_else(Utc::now),
        status: Some(status_text.to_string()),
        stage: opp.stage.as_ref().and_then(|s| s.text.clone()),
        department: None,
        location: None,
        start_date,
    };
    Ok(Refetched {
        application,
        status,
        archive_reason: opp.archive_reason().map(str::to_owned),
        referrers,
    })
}

/// Who referred the candidate: the referral forms' referrers, oldest
/// first, then the user of a `referral` application; each once, with the
/// email Lever has for them.
async fn referrers(client: &LeverClient, opp: &LeverOpportunity) -> Result<Vec<Referrer>> {
    let mut forms = client.referrals(&opp.id).await?;
    forms.sort_by_key(|r| r.created_at);
    let mut named: Vec<(String, Option<DateTime<Utc>>)> = forms
        .into_iter()
        .filter_map(|r| Some((r.referrer?, r.created_at)))
        .collect();
    if let Some(user) = opp.referring_user() {
        named.push((user.to_owned(), None));
    }
    let mut out: Vec<Referrer> = Vec::new();
    for (user_id, referred_at) in named {
        if out.iter().any(|r| r.user_id == user_id) {
            continue;
        }
        let email = match client.user(&user_id).await {
            Ok(u) => u.email,
            // A user Lever no longer returns cannot be mapped; the
            // capture records that instead of failing the delivery.
            Err(Error::Permanent(e)) => {
                tracing::warn!(user = %user_id, error = %e, "lever referrer not readable");
                None
            }
            Err(e) => return Err(e),
        };
        out.push(Referrer {
            user_id,
            email,
            referred_at,
        });
    }
    Ok(out)
}
