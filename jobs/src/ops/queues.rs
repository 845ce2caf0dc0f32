//! The queue's shape: per queue and state, how many jobs and the oldest
//! (`GET /api/ops/queues`, `referral-worker ops queues`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::request::at;
use crate::error::Result;
use queue::{JobFilter, JobState, QueueStore, now_millis};

/// The job standing for a state's age in [`QueueSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OldestJob {
    /// The job.
    pub job_id: String,
    /// Its kind.
    pub kind: String,
    /// Milliseconds since `since` (never negative).
    pub age_ms: i64,
    /// Which of the job's times the age counts from: `run_at` (ready: due
    /// since), `finished_at` (succeeded, dead, cancelled) or `updated_at`
    /// (scheduled, retrying, running: since it entered the state).
    pub since: &'static str,
    /// That time.
    pub at: DateTime<Utc>,
}

/// One state of a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StateSummary {
    /// The state.
    pub state: JobState,
    /// Jobs in it (finished states: what is still retained).
    pub count: u64,
    /// Its oldest job, when it has any; see [`queues`] for what "oldest" is
    /// per state.
    pub oldest: Option<OldestJob>,
}

/// One queue's counts and ages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueSummary {
    /// The queue's name.
    pub queue: String,
    /// `redis` or `sql`.
    pub backend: &'static str,
    /// Every state, in lifecycle order.
    pub states: Vec<StateSummary>,
}

/// Counts per state and the age of the oldest job per state.
///
/// Computed from the queue's own listings, without scanning: each state's
/// index is ordered, so its first or last entry is one read.
///
/// * `ready`: the job due longest ago (age since `run_at`);
/// * `succeeded`, `dead`, `cancelled`: the job that finished longest ago
///   (the last entry of the newest-first listing; age since `finished_at`);
/// * `scheduled`, `retrying`: the job due next; `running`: the lease that
///   runs out first (age since `updated_at`, when it entered the state).
///   These indexes are ordered by due time or lease, not by age, and no
///   store keeps an age index, so this is the head of the index, not
///   necessarily the job that has been there longest.
///
/// # Errors
/// Queue errors.
pub async fn queues(queue: &QueueStore) -> Result<Vec<QueueSummary>> {
    let counts = queue.counts().await?;
    let now = now_millis();
    let mut states = Vec::new();
    for state in JobState::ALL {
        let count = counts.get(state);
        let mut oldest = None;
        if count > 0 {
            let finished = matches!(
                state,
                JobState::Succeeded | JobState::Dead | JobState::Cancelled
            );
            let mut filter = JobFilter::state(state);
            filter.limit = 1;
            filter.cursor = if finished { count - 1 } else { 0 };
            let mut page = queue.list(&filter).await?;
            if page.jobs.is_empty() && filter.cursor > 0 {
                // Jobs left the state since the count: take the head.
                filter.cursor = 0;
                page = queue.list(&filter).await?;
            }
            if let Some(job) = page.jobs.into_iter().next() {
                let (since, t) = match state {
                    JobState::Ready => ("run_at", job.run_at),
                    _ if finished => ("finished_at", job.finished_at.unwrap_or(job.updated_at)),
                    _ => ("updated_at", job.updated_at),
                };
                oldest = Some(OldestJob {
                    job_id: job.id.to_string(),
                    kind: job.kind,
                    age_ms: (now - t).max(0),
                    since,
                    at: at(t),
                });
            }
        }
        states.push(StateSummary {
            state,
            count,
            oldest,
        });
    }
    Ok(vec![QueueSummary {
        queue: counts.queue,
        backend: queue.backend_name(),
        states,
    }])
}
