//! Re-fetching an application whose webhook cannot be trusted for its
//! contents (Lever signs only `token + triggeredAt`, not the body, so its
//! events only name the opportunity): the application is read from the
//! ATS through the connector seam ([`crate::connectors::Connector`]) and
//! stated as the [`ApplicationEvent`] capture acts on. Called by the
//! `process_delivery` job ([`crate::capture`]).

use chrono::Utc;
use entities::states::Ats;

use crate::{
    connectors::{AtsStatus, Connectors},
    error::{Error, Result},
    intake::event::{ApplicationEvent, Source},
};

/// Reads application `application_id` from `ats`'s connector and states it
/// as an application event named `event`.
///
/// # Errors
/// Permanent when `ats` has no connector configured; the connector's
/// verdict otherwise.
pub async fn refetch_application(
    connectors: &Connectors,
    ats: Ats,
    event: &str,
    application_id: &str,
) -> Result<ApplicationEvent> {
    let connector = connectors.get(ats).ok_or_else(|| {
        Error::permanent(format!(
            "{ats:?} API not configured: cannot re-fetch application {application_id}"
        ))
    })?;
    let state = connector.application_state(application_id).await?;
    // Lever: the event name still counts as a hire here; issue 17 item 3
    // makes only the opportunity's confirmed state decide.
    let status = if ats == Ats::Lever && event == "candidateHired" {
        AtsStatus::Hired
    } else {
        state.status
    };
    let source = match ats {
        Ats::Greenhouse => Source::Greenhouse,
        Ats::Lever => Source::Lever,
        Ats::Ashby => Source::Ashby,
        Ats::CareersSite | Ats::Generic => Source::CareersSite,
    };
    Ok(ApplicationEvent {
        source,
        event: event.to_string(),
        ats,
        ats_candidate_id: state.candidate_id,
        ats_application_id: state.application_id,
        job_id: state.job_id.unwrap_or_default(),
        requisition_id: None,
        email: state.emails.into_iter().next(),
        phone: state.phones.into_iter().next(),
        phone_region: None,
        first_name: state.first_name,
        last_name: state.last_name,
        referral_token: None,
        credited_employee_id: None,
        prospect: false,
        applied_at: state.applied_at.unwrap_or_else(Utc::now),
        status: Some(status.as_capture_status().to_string()),
        stage: state.stage,
        department: None,
        location: None,
        consent: None,
    })
}
