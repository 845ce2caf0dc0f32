//! Re-fetching an application whose webhook cannot be trusted for its
//! contents (Lever signs only `token + triggeredAt`, not the body, so its
//! events only name the opportunity): the application is read from the
//! ATS through the connector seam ([`crate::connectors::Connector`]) and
//! stated as the [`ApplicationEvent`] capture acts on. Only the ATS's
//! confirmed state decides: the status, the start date and the token are
//! the connector's, never the event's. Called by the `process_delivery`
//! job ([`crate::capture`], through its Lever step).

use chrono::{DateTime, Utc};
use entities::states::Ats;

use crate::{
    connectors::{ApplicationState, Connectors},
    error::{Error, Result},
    intake::event::{ApplicationEvent, Source},
};

/// Reads application `application_id` from `ats`'s connector.
///
/// # Errors
/// Permanent when `ats` has no connector configured; the connector's
/// verdict otherwise.
pub async fn refetch_state(
    connectors: &Connectors,
    ats: Ats,
    application_id: &str,
) -> Result<ApplicationState> {
    let connector = connectors.get(ats).ok_or_else(|| {
        Error::permanent(format!(
            "{ats:?} API not configured: cannot re-fetch application {application_id}"
        ))
    })?;
    connector.application_state(application_id).await
}

/// Reads application `application_id` from `ats`'s connector and states it
/// as an application event named `event` ([`state_as_event`]).
///
/// # Errors
/// As [`refetch_state`].
pub async fn refetch_application(
    connectors: &Connectors,
    ats: Ats,
    event: &str,
    application_id: &str,
) -> Result<ApplicationEvent> {
    let read_at = Utc::now();
    let state = refetch_state(connectors, ats, application_id).await?;
    Ok(state_as_event(ats, event, state, read_at))
}

/// `state`, read from `ats` at `read_at` (when the read began), as the
/// application event capture acts on. The state is the vendor's as of the
/// read, so the read's time orders it against other events
/// ([`super::facts`]).
/// Referrers are not credited here: mapping them to employees is the
/// caller's (it needs the database).
pub fn state_as_event(
    ats: Ats,
    event: &str,
    state: ApplicationState,
    read_at: DateTime<Utc>,
) -> ApplicationEvent {
    let source = match ats {
        Ats::Greenhouse => Source::Greenhouse,
        Ats::Lever => Source::Lever,
        Ats::Ashby => Source::Ashby,
        Ats::Workable => Source::Workable,
        Ats::SmartRecruiters => Source::SmartRecruiters,
        Ats::CareersSite | Ats::Generic => Source::CareersSite,
    };
    ApplicationEvent {
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
        referral_token: state.referral_token,
        credited_employee_id: None,
        prospect: false,
        applied_at: state.applied_at.unwrap_or_else(Utc::now),
        status: Some(state.status.as_capture_status().to_string()),
        stage: state.stage,
        department: None,
        location: None,
        // The probation clock starts at the beginning of the day, in UTC,
        // as for Greenhouse's offer dates.
        start_date: state
            .start_date
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc()),
        consent: None,
        changed_at: Some(read_at),
    }
}
