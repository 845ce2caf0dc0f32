//! What every ops view and action shares: reading what ops send (page
//! sizes, state and source names, job ids, the reason an action needs) with
//! errors that name the field, and recording an action in the audit log.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::Iterable;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{
    context::JobContext,
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
};
use queue::{JobId, JobState, Millis};

/// The most rows any one listing returns.
pub const MAX_LIMIT: u32 = 500;

/// Clamps a requested page size to `1..=MAX_LIMIT` (0 means the default 50).
pub fn page_limit(limit: Option<u32>) -> u32 {
    match limit {
        None | Some(0) => 50,
        Some(n) => n.min(MAX_LIMIT),
    }
}

pub(super) fn at(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The serialised (snake_case) name of a state enum.
pub fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses a user-given state or source name (`dead`, `outcome_unknown`,
/// `greenhouse`), naming the field and the accepted values when it is
/// not one.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn parse_name<T>(field: &str, text: &str) -> Result<T>
where
    T: DeserializeOwned + Serialize + Iterable,
{
    serde_json::from_value(Value::String(text.trim().to_string())).map_err(|_| {
        let names: Vec<String> = T::iter().map(|v| name_of(&v)).collect();
        Error::invalid(
            field,
            format!("unknown value {text:?}; one of {}", names.join(", ")),
        )
    })
}

/// Parses a job state name.
///
/// # Errors
/// [`Error::Invalid`] naming `field` and the states.
pub fn parse_job_state(field: &str, text: &str) -> Result<JobState> {
    JobState::parse(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        Error::invalid(
            field,
            format!("unknown state {text:?}; one of {}", names.join(", ")),
        )
    })
}

/// Parses a job id given by a user.
///
/// # Errors
/// [`Error::Invalid`] when it is not a ULID.
pub fn parse_job_id(field: &str, text: &str) -> Result<JobId> {
    JobId::parse(text.trim()).map_err(|_| {
        Error::invalid(
            field,
            format!("{text:?} is not a job id (a 26-character ULID)"),
        )
    })
}

/// Checks a reason for an ops action: required (the audit log records
/// why), trimmed, at most 500 characters kept.
///
/// # Errors
/// [`Error::Invalid`] naming `reason` when it is empty.
pub fn clean_reason(reason: &str) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(
            "reason",
            "must not be empty: the audit log records why",
        ));
    }
    Ok(reason.chars().take(500).collect())
}

pub(super) async fn record(
    ctx: &JobContext,
    actor: &str,
    action: &str,
    subject_type: &str,
    subject_id: String,
    data: Value,
) -> Result<i64> {
    let tx = begin_locked(&ctx.db, &[format!("ops:{subject_type}:{subject_id}")]).await?;
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        subject_type: subject_type.to_string(),
        subject_id,
        data,
    });
    let id = tx.commit_audited().await?[0];
    Ok(id)
}

/// A page of payouts or referrals, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page (the last id here); `None` at the end.
    pub next: Option<i64>,
}

pub(super) fn page_of<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(&id) } else { None };
    Page { items: rows, next }
}
