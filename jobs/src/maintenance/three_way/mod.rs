//! The three-way reconciliation: what the referral platform says was
//! referred and what the CRM says was hired, against what we credit and
//! what the ATS records (issue 21).
//!
//! * [`imports`]: the platform's and the CRM's monthly lists, imported
//!   (CSV on the command line, JSON through the API), one per source and
//!   month, a new import of a month replacing the old;
//! * [`compare`]: the comparison over a period, one typed variance
//!   ([`VarianceKind`](entities::reconciliation_item::VarianceKind)) with a
//!   suggested fix per difference; nothing is fixed automatically.
//!
//! A comparison is a reconciliation run of scope `three_way` (see
//! [`crate::maintenance::runs`]): a unique trigger, items, an audit event
//! and an alert to ops when anything differs. It runs
//!
//! * monthly, at each tick of `reconciliation.three_way_schedule` (the
//!   `three_way_reconcile` job, once per tick across processes), over the
//!   calendar month (UTC) before the tick: [`run_tick`];
//! * on demand (`referral-worker reconcile three-way --period YYYY-MM`,
//!   `POST /api/reconciliation/three-way`): [`run`];
//! * once, seven days after go-live (`reconciliation.go_live`), over those
//!   seven days: the day-7 audit ([`day7_audit`]), whose trigger names the
//!   go-live date, so the run row decides it ran, whatever the queue
//!   remembers (a restart, a Redis wipe).

pub mod compare;
pub mod imports;

use chrono::{Days, NaiveDate};
use entities::reconciliation_run::{self, RunScope};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::runs::{self, RunReport};
use crate::{
    context::JobContext,
    error::{Error, Result},
    finance::{Period, report::ReportPeriod},
};

/// Compares `period` under `trigger`; `None` when that trigger already ran.
///
/// # Errors
/// Database errors before the run row exists; after it, a failure closes
/// the row with the error, alerts ops and is permanent (as the nightly run).
pub async fn run(
    ctx: &JobContext,
    trigger: &str,
    period: Period,
    actor: &str,
) -> Result<Option<RunReport>> {
    let Some(row) = runs::open(ctx, trigger, RunScope::ThreeWay, Some(period), false).await? else {
        return Ok(None);
    };
    let label = match trigger.strip_prefix(DAY7_PREFIX) {
        Some(go_live) => format!(
            "day-7 attribution audit after go-live on {go_live} (three-way run {})",
            row.id
        ),
        None => format!("three-way reconciliation run {}", row.id),
    };
    match compare::compare(ctx, period).await {
        Ok(variances) => Ok(Some(
            runs::record(ctx, &row, variances, actor, &label).await?,
        )),
        Err(e) => Err(runs::failed(ctx, &row, e).await?),
    }
}

/// The monthly run of schedule tick `trigger` (`cron:three_way:<tick>`):
/// the calendar month (UTC) before the tick, however late the job runs.
///
/// # Errors
/// [`Error::Permanent`] for a trigger without a tick; as [`run`].
pub async fn run_tick(ctx: &JobContext, trigger: &str) -> Result<Option<RunReport>> {
    let tick = crate::finance::report::tick_of(trigger)
        .ok_or_else(|| Error::permanent(format!("three-way trigger {trigger:?} names no tick")))?;
    let period = ReportPeriod::Month.before(tick, chrono_tz::UTC)?;
    run(ctx, trigger, period, "system:reconciliation").await
}

/// The day-7 audit's trigger prefix; the trigger is `day7:<go-live date>`.
pub const DAY7_PREFIX: &str = "day7:";

/// The day-7 audit of go-live on `go_live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day7 {
    /// The go-live day.
    pub go_live: NaiveDate,
}

impl Day7 {
    /// Its trigger: one run per go-live date, ever.
    pub fn trigger(self) -> String {
        format!("{DAY7_PREFIX}{}", self.go_live)
    }

    /// The first seven days from go-live, midnight UTC.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a date at the calendar's end.
    pub fn period(self) -> Result<Period> {
        let end = self
            .go_live
            .checked_add_days(Days::new(7))
            .ok_or_else(|| Error::invalid("reconciliation.go_live", "is too far ahead"))?;
        Ok(Period {
            from: self.go_live.and_time(chrono::NaiveTime::MIN).and_utc(),
            until: end.and_time(chrono::NaiveTime::MIN).and_utc(),
        })
    }

    /// Whether its run exists (ran, or is running): the database decides,
    /// not the queue.
    ///
    /// # Errors
    /// Database errors.
    pub async fn done(self, db: &impl sea_orm::ConnectionTrait) -> Result<bool> {
        Ok(reconciliation_run::Entity::find()
            .filter(reconciliation_run::Column::Trigger.eq(self.trigger()))
            .one(db)
            .await?
            .is_some())
    }
}

/// Runs the day-7 audit of `go_live` unless it ran: the three-way
/// comparison of its first seven days, ops alerted on any variance.
///
/// # Errors
/// As [`run`].
pub async fn day7_audit(ctx: &JobContext, go_live: NaiveDate) -> Result<Option<RunReport>> {
    let day7 = Day7 { go_live };
    run(ctx, &day7.trigger(), day7.period()?, "system:day7-audit").await
}
