//! Cron schedules that fire once per tick across every worker process.
//!
//! apalis-cron fires a schedule in *every* process that runs it (measured:
//! `../shared/docs/apalis-1.0-notes.md` §4), so N workers would reconcile N
//! times a night. Here every worker computes the same ticks from the same
//! [`CronSchedule`] and, at each tick, enqueues the tick's job under an
//! idempotency key naming the tick ([`CronSchedule::tick_key`]): the queue
//! keeps one job per key, so one process's enqueue wins and the others are
//! duplicates. The job itself records its run under a unique trigger (see
//! [`crate::maintenance::reconcile`]), which stays exactly-once even after the queue has
//! forgotten the key (a Redis wipe, a retention purge).
//!
//! Called by the worker runtime (one loop per schedule per process).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// A cron expression (with seconds: `sec min hour day month weekday`) read
/// in an IANA time zone, so "03:00" means 03:00 where finance works,
/// daylight saving included.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    name: String,
    expression: String,
    cron: cron::Schedule,
    zone: Tz,
}

impl CronSchedule {
    /// Parses `expression` in time zone `zone` (`"Europe/Berlin"`, `"UTC"`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `expression` or `zone`.
    pub fn new(name: &str, expression: &str, zone: &str) -> Result<Self> {
        let cron = cron::Schedule::from_str(expression).map_err(|e| {
            Error::invalid(
                "schedule",
                format!(
                    "{expression:?} is not a cron expression (sec min hour day month weekday): {e}"
                ),
            )
        })?;
        let zone = Tz::from_str(zone).map_err(|_| {
            Error::invalid("time_zone", format!("{zone:?} is not an IANA time zone"))
        })?;
        Ok(Self {
            name: name.to_string(),
            expression: expression.to_string(),
            cron,
            zone,
        })
    }

    /// The schedule's name (`reconciliation`), part of every tick's key.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first tick strictly after `now`, in UTC.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&now.with_timezone(&self.zone))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The key every process uses for `tick`: the same tick, the same key.
    pub fn tick_key(&self, tick: DateTime<Utc>) -> String {
        format!("cron:{}:{}", self.name, tick.timestamp())
    }
}

impl std::fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} in {})", self.name, self.expression, self.zone)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn three_in_the_morning_follows_the_zone_and_daylight_saving() {
        let s = CronSchedule::new("reconciliation", "0 0 3 * * *", "Europe/Berlin").unwrap();
        // Winter: 03:00 CET is 02:00 UTC.
        let next = s
            .next_after(Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap())
            .unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 11, 2, 0, 0).unwrap());
        // Summer: 03:00 CEST is 01:00 UTC.
        let next = s
            .next_after(Utc.with_ymd_and_hms(2026, 7, 10, 12, 0, 0).unwrap())
            .unwrap();
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 7, 11, 1, 0, 0).unwrap());
    }

    #[test]
    fn the_same_tick_has_the_same_key_everywhere() {
        let a = CronSchedule::new("reconciliation", "*/2 * * * * *", "UTC").unwrap();
        let b = CronSchedule::new("reconciliation", "*/2 * * * * *", "UTC").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap();
        let (ta, tb) = (a.next_after(now).unwrap(), b.next_after(now).unwrap());
        assert_eq!(a.tick_key(ta), b.tick_key(tb));
        assert_eq!(a.tick_key(ta), "cron:reconciliation:1767225602");
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        assert!(matches!(
            CronSchedule::new("r", "every day", "UTC"),
            Err(Error::Invalid { field, .. }) if field == "schedule"
        ));
        assert!(matches!(
            CronSchedule::new("r", "0 0 3 * * *", "Mars/Olympus"),
            Err(Error::Invalid { field, .. }) if field == "time_zone"
        ));
    }
}
