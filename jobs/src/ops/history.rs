//! Throughput over the last hours, for the ops page's chart: per hour, the
//! jobs that succeeded, the attempts that failed and were retried, and the
//! jobs that died.
//!
//! # Where the numbers come from
//!
//! The queue keeps no counters over time; it keeps finished jobs for a
//! while (`queue.retention_succeeded`, 24 h by default, and
//! `queue.retention_dead`, 30 days). So the history is read back from the
//! queue's own listings ([`QueueStore::list`]):
//!
//! * `succeeded` and `dead` jobs are walked newest first by finish time
//!   (both stores order those indexes that way), stopping at the first job
//!   that finished before the window: what happened earlier is not read.
//! * `retrying` jobs are walked whole (their index is ordered by due time),
//!   for the failed attempts of jobs that have not finished yet.
//!
//! Each state is read at most [`SCAN_PER_STATE`] jobs deep, 500 a page;
//! [`Throughput::truncated`] says when a walk stopped there, in which case
//! the oldest hours are undercounted. A succeeded job purged by its
//! retention is gone from the history too: with a retention shorter than
//! the window the older buckets are empty, not quiet. Failed attempts of
//! jobs that are now `ready`, `scheduled` or `running` (a retry that came
//! due) are not counted, nor cancelled jobs.
//!
//! Buckets are whole UTC hours; the last one is the current (partial) hour.

use std::collections::HashSet;

use chrono::{DateTime, DurationRound, TimeDelta, TimeZone, Utc};
use queue::{JobFilter, JobInfo, JobState, Millis, QueueStore};
use serde::Serialize;

use crate::error::Result;

/// The window when none is asked for.
pub const DEFAULT_HOURS: u32 = 24;

/// The longest window one call may ask for (a week).
pub const MAX_HOURS: u32 = 24 * 7;

/// The most jobs read per state in one call.
pub const SCAN_PER_STATE: u64 = 20_000;

/// Jobs per listing page (the stores' cap).
const PAGE: u32 = 500;

/// One hour of the chart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HourBucket {
    /// Start of the hour (UTC).
    pub start: DateTime<Utc>,
    /// Jobs that finished `succeeded` in this hour.
    pub succeeded: u64,
    /// Attempts that failed in this hour and were followed by another
    /// attempt (or are waiting for one).
    pub failed: u64,
    /// Jobs that were dead-lettered in this hour (still `dead` now).
    pub dead: u64,
}

/// The window's sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Jobs that succeeded.
    pub succeeded: u64,
    /// Failed attempts that were retried.
    pub failed: u64,
    /// Jobs that died.
    pub dead: u64,
}

/// Throughput per hour over a window ending now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Throughput {
    /// Hours in the window.
    pub hours: u32,
    /// Start of the first bucket.
    pub from: DateTime<Utc>,
    /// When this was computed (inside the last bucket).
    pub to: DateTime<Utc>,
    /// One bucket per hour, oldest first.
    pub buckets: Vec<HourBucket>,
    /// Sums over the buckets.
    pub totals: Totals,
    /// Jobs read from the queue.
    pub scanned: u64,
    /// Whether a state's walk stopped at [`SCAN_PER_STATE`] before reaching
    /// the start of the window (the oldest hours are then undercounted).
    pub truncated: bool,
}

/// Clamps a requested window to `1..=MAX_HOURS` (`None`: [`DEFAULT_HOURS`]).
pub fn window_hours(hours: Option<u32>) -> u32 {
    hours.unwrap_or(DEFAULT_HOURS).clamp(1, MAX_HOURS)
}

/// Counts jobs into hourly buckets. Pure, so the rules are unit-tested
/// without a queue.
#[derive(Debug, Clone)]
pub struct Tally {
    from_ms: Millis,
    to_ms: Millis,
    buckets: Vec<HourBucket>,
    seen: HashSet<String>,
}

const HOUR_MS: Millis = 3_600_000;

impl Tally {
    /// Empty buckets for the `hours` whole UTC hours ending with the one
    /// `now` is in.
    pub fn new(hours: u32, now: DateTime<Utc>) -> Self {
        let hours = hours.max(1);
        let current = now
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(now)
            .timestamp_millis();
        let from_ms = current - HOUR_MS * Millis::from(hours - 1);
        let buckets = (0..hours)
            .map(|i| HourBucket {
                start: at(from_ms + HOUR_MS * Millis::from(i)),
                ..HourBucket::default()
            })
            .collect();
        Self {
            from_ms,
            to_ms: now.timestamp_millis(),
            buckets,
            seen: HashSet::new(),
        }
    }

    /// Start of the window, in queue time.
    pub fn from_ms(&self) -> Millis {
        self.from_ms
    }

    fn bucket(&mut self, t: Millis) -> Option<&mut HourBucket> {
        if t < self.from_ms {
            return None;
        }
        // A time a little past `now` (clock skew between processes) counts
        // in the current hour.
        let i = usize::try_from((t - self.from_ms) / HOUR_MS).ok()?;
        let last = self.buckets.len() - 1;
        self.buckets.get_mut(i.min(last))
    }

    /// Counts one job, once however many times it is handed in (a listing
    /// page can repeat a job that moved while it was read):
    ///
    /// * `succeeded`: its finish, and every failed attempt before it;
    /// * `dead`: its death, and every failed attempt but the last (the one
    ///   that killed it);
    /// * any other state: every failed attempt.
    ///
    /// Only times inside the window count.
    pub fn add(&mut self, job: &JobInfo) {
        if !self.seen.insert(job.id.as_str().to_string()) {
            return;
        }
        let retried = match job.state {
            JobState::Dead => job.errors.len().saturating_sub(1),
            _ => job.errors.len(),
        };
        for e in &job.errors[..retried] {
            if let Some(b) = self.bucket(e.at) {
                b.failed += 1;
            }
        }
        if let Some(t) = job.finished_at {
            match job.state {
                JobState::Succeeded => {
                    if let Some(b) = self.bucket(t) {
                        b.succeeded += 1;
                    }
                }
                JobState::Dead => {
                    if let Some(b) = self.bucket(t) {
                        b.dead += 1;
                    }
                }
                _ => {}
            }
        }
    }

    /// The result.
    pub fn finish(self, scanned: u64, truncated: bool) -> Throughput {
        let totals = self.buckets.iter().fold(Totals::default(), |t, b| Totals {
            succeeded: t.succeeded + b.succeeded,
            failed: t.failed + b.failed,
            dead: t.dead + b.dead,
        });
        Throughput {
            hours: self.buckets.len() as u32,
            from: at(self.from_ms),
            to: at(self.to_ms),
            buckets: self.buckets,
            totals,
            scanned,
            truncated,
        }
    }
}

fn at(ms: Millis) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Walks one state's listing into `tally`. Returns `(jobs read, whether the
/// walk stopped at the budget)`.
async fn walk(queue: &QueueStore, state: JobState, tally: &mut Tally) -> Result<(u64, bool)> {
    let by_finish = matches!(state, JobState::Succeeded | JobState::Dead);
    let mut filter = JobFilter::state(state);
    filter.limit = PAGE;
    let mut scanned = 0u64;
    loop {
        let page = queue.list(&filter).await?;
        let mut before_window = false;
        for job in &page.jobs {
            scanned += 1;
            if by_finish && job.finished_at.is_some_and(|t| t < tally.from_ms()) {
                // Newest first: everything after this finished earlier.
                before_window = true;
                break;
            }
            tally.add(job);
        }
        let Some(next) = page.next else {
            return Ok((scanned, false));
        };
        if before_window {
            return Ok((scanned, false));
        }
        if scanned >= SCAN_PER_STATE {
            return Ok((scanned, true));
        }
        filter.cursor = next;
    }
}

/// Succeeded, failed and dead per hour over the `hours` (see
/// [`window_hours`]) whole UTC hours ending now, read from the jobs the
/// queue still retains.
///
/// # Errors
/// Queue errors.
pub async fn throughput(queue: &QueueStore, hours: u32, now: DateTime<Utc>) -> Result<Throughput> {
    let mut tally = Tally::new(window_hours(Some(hours)), now);
    let mut scanned = 0;
    let mut truncated = false;
    for state in [JobState::Succeeded, JobState::Dead, JobState::Retrying] {
        let (n, cut) = walk(queue, state, &mut tally).await?;
        scanned += n;
        truncated |= cut;
    }
    Ok(tally.finish(scanned, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{AttemptError, JobId};

    fn job(state: JobState, finished_at: Option<Millis>, errors: &[Millis]) -> JobInfo {
        JobInfo {
            id: JobId::generate(),
            queue: "default".into(),
            kind: "probe".into(),
            state,
            payload: "{}".into(),
            attempts: errors.len() as u32 + 1,
            max_attempts: 5,
            created_at: 0,
            run_at: 0,
            updated_at: 0,
            finished_at,
            lease_owner: None,
            lease_expires_at: None,
            idempotency_key: None,
            redeliveries: 0,
            last_error: None,
            errors: errors
                .iter()
                .enumerate()
                .map(|(i, at)| AttemptError {
                    attempt: i as u32 + 1,
                    at: *at,
                    worker: "w".into(),
                    error: "boom".into(),
                })
                .collect(),
        }
    }

    fn now() -> DateTime<Utc> {
        // 2026-01-10 12:30 UTC
        Utc.with_ymd_and_hms(2026, 1, 10, 12, 30, 0).unwrap()
    }

    fn ms(h: u32, m: u32) -> Millis {
        Utc.with_ymd_and_hms(2026, 1, 10, h, m, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn buckets_are_whole_hours_ending_with_the_current_one() {
        let t = Tally::new(24, now()).finish(0, false);
        assert_eq!(t.buckets.len(), 24);
        assert_eq!(
            t.buckets.last().unwrap().start,
            Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
        );
        assert_eq!(t.from, Utc.with_ymd_and_hms(2026, 1, 9, 13, 0, 0).unwrap());
        assert_eq!(window_hours(None), 24);
        assert_eq!(window_hours(Some(0)), 1);
        assert_eq!(window_hours(Some(10_000)), MAX_HOURS);
    }

    #[test]
    fn successes_deaths_and_retried_failures_land_in_their_hours() {
        let mut tally = Tally::new(3, now());
        // The window is 10:00, 11:00, 12:00. Failed at 10:59 and 11:05,
        // succeeded at 12:10.
        tally.add(&job(
            JobState::Succeeded,
            Some(ms(12, 10)),
            &[ms(10, 59), ms(11, 5)],
        ));
        // Died at 11:30 after two failures: the last one is its death.
        tally.add(&job(
            JobState::Dead,
            Some(ms(11, 30)),
            &[ms(11, 0), ms(11, 30)],
        ));
        // Still retrying: its failure counts.
        tally.add(&job(JobState::Retrying, None, &[ms(12, 20)]));
        // Before the window: nothing.
        tally.add(&job(JobState::Succeeded, Some(ms(9, 59)), &[ms(9, 0)]));
        let t = tally.finish(4, false);
        let rows: Vec<(u64, u64, u64)> = t
            .buckets
            .iter()
            .map(|b| (b.succeeded, b.failed, b.dead))
            .collect();
        assert_eq!(rows, vec![(0, 1, 0), (0, 2, 1), (1, 1, 0)]);
        assert_eq!(
            t.totals,
            Totals {
                succeeded: 1,
                failed: 4,
                dead: 1
            }
        );
    }

    #[test]
    fn a_job_seen_twice_counts_once() {
        let mut tally = Tally::new(2, now());
        let j = job(JobState::Succeeded, Some(ms(12, 1)), &[]);
        tally.add(&j);
        tally.add(&j);
        assert_eq!(tally.finish(2, false).totals.succeeded, 1);
    }
}
