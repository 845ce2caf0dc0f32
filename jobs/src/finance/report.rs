//! The scheduled KPI report for leadership (`[reports]`): at each tick of
//! its cron schedule, the KPIs ([`super::kpis`]) of the previous full day,
//! week or month are kept as a `kpi_reports` row (for finance's export) and
//! POSTed to the CRM as `report.kpis`, signed like every outbound message,
//! with ids and counts only (employee ids, no names or emails).
//!
//! Once per tick across processes: every worker enqueues the tick's job
//! under the tick's key (see [`crate::maintenance::schedule`]), and the row
//! is unique per trigger, so even a job the queue forgot and re-ran reports
//! once. The row and the CRM message are written in one transaction.
//!
//! Called by the `kpi_report` job ([`crate::dispatch`]), enqueued by the
//! worker's schedule loop.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entities::{kpi_report, outbound_message::OutboundChannel};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Period, kpis, programme::ProgramCost};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
    outbox::{self, Subject},
};

/// The message type the CRM receives.
pub const MESSAGE_TYPE: &str = "report.kpis";

/// What one report covers: the full period before the tick
/// (`[reports] period`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportPeriod {
    /// Yesterday.
    Day,
    /// Last week, Monday to Sunday.
    #[default]
    Week,
    /// Last calendar month.
    Month,
}

impl ReportPeriod {
    /// The full period of this kind before `tick`, with its days in `zone`
    /// (a week starts on Monday).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a date the calendar cannot represent.
    pub fn before(self, tick: DateTime<Utc>, zone: Tz) -> Result<Period> {
        let today = tick.with_timezone(&zone).date_naive();
        let start_of = |d: NaiveDate| -> Result<DateTime<Utc>> {
            let midnight = d
                .and_hms_opt(0, 0, 0)
                .ok_or_else(|| Error::invalid("period", "no midnight"))?;
            zone.from_local_datetime(&midnight)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| Error::invalid("period", format!("{d} has no midnight in {zone}")))
        };
        let (from, until) = match self {
            ReportPeriod::Day => (today - Days::new(1), today),
            ReportPeriod::Week => {
                let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
                (monday - Days::new(7), monday)
            }
            ReportPeriod::Month => {
                let first = today.with_day(1).unwrap_or(today);
                (first - Months::new(1), first)
            }
        };
        Ok(Period {
            from: start_of(from)?,
            until: start_of(until)?,
        })
    }
}

/// What the report job needs from `[reports]`.
#[derive(Debug, Clone, Default)]
pub struct ReportSettings {
    /// The programme's own costs, for cost per hire.
    pub program_costs: Vec<ProgramCost>,
}

/// The report of schedule tick `trigger` (`cron:reports:<tick>`): the
/// `period` before the tick, its days in `time_zone`.
///
/// # Errors
/// [`Error::Permanent`] for a trigger without a tick or an unknown zone;
/// as [`run`].
pub async fn run_tick(
    ctx: &JobContext,
    trigger: &str,
    period: ReportPeriod,
    time_zone: &str,
) -> Result<Option<i64>> {
    let tick = tick_of(trigger)
        .ok_or_else(|| Error::permanent(format!("report trigger {trigger:?} names no tick")))?;
    let zone: Tz = time_zone
        .parse()
        .map_err(|_| Error::permanent(format!("{time_zone:?} is not an IANA time zone")))?;
    run(ctx, trigger, period.before(tick, zone)?).await
}

/// Makes the report for `trigger` over `period`, unless it exists. Returns
/// the row's id when this call made it.
///
/// # Errors
/// Database and queue errors (retried by the job).
pub async fn run(ctx: &JobContext, trigger: &str, period: Period) -> Result<Option<i64>> {
    let done = || kpi_report::Entity::find().filter(kpi_report::Column::Trigger.eq(trigger));
    if done().one(&ctx.db).await?.is_some() {
        return Ok(None);
    }
    let kpis = kpis::compute(&ctx.db, period, &ctx.reports.program_costs).await?;
    let kpis_json = serde_json::to_value(&kpis)
        .map_err(|e| Error::permanent(format!("the KPIs do not serialise: {e}")))?;
    let tx = begin_locked(&ctx.db, &[format!("report:{trigger}")]).await?;
    if done().one(&tx).await?.is_some() {
        return Ok(None);
    }
    let now = Utc::now();
    let row = kpi_report::ActiveModel {
        trigger: Set(trigger.to_owned()),
        period_from: Set(period.from),
        period_until: Set(period.until),
        kpis: Set(kpis_json.to_string()),
        message_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let message = outbox::stage(
        ctx,
        &tx,
        OutboundChannel::Crm,
        MESSAGE_TYPE,
        Subject {
            kind: "kpi_report",
            id: Some(row.id),
        },
        json!({ "report_id": row.id.to_string(), "trigger": trigger, "kpis": kpis_json }),
    )
    .await?;
    if let Some(id) = message {
        let mut a: kpi_report::ActiveModel = row.clone().into();
        a.message_id = Set(Some(id));
        a.update(&tx).await?;
    }
    tx.audit(AuditEntry::system(
        "report.kpis_made",
        "kpi_report",
        row.id,
        json!({ "trigger": trigger, "from": period.from, "until": period.until,
                "sent_to_crm": message.is_some() }),
    ));
    tx.commit().await?;
    if message.is_some() {
        outbox::kick(ctx).await?;
    }
    Ok(Some(row.id))
}

/// A kept report, as the API and the ops page list it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredReport {
    /// The row (`report_id` in its CRM message).
    pub report_id: i64,
    /// `cron:reports:<tick>`.
    pub trigger: String,
    /// First instant covered.
    pub period_from: DateTime<Utc>,
    /// First instant after it.
    pub period_until: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether a CRM message carried it.
    pub sent_to_crm: bool,
    /// The KPIs as sent.
    pub kpis: serde_json::Value,
}

/// The latest `limit` reports, newest first.
///
/// # Errors
/// Database errors.
pub async fn recent(conn: &impl sea_orm::ConnectionTrait, limit: u64) -> Result<Vec<StoredReport>> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(kpi_report::Entity::find()
        .order_by_desc(kpi_report::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| StoredReport {
            report_id: r.id,
            trigger: r.trigger,
            period_from: r.period_from,
            period_until: r.period_until,
            created_at: r.created_at,
            sent_to_crm: r.message_id.is_some(),
            kpis: serde_json::from_str(&r.kpis).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

/// The tick a schedule trigger (`cron:<name>:<unix seconds>`) names, so
/// the job's period is the tick's, however late it runs.
pub fn tick_of(trigger: &str) -> Option<DateTime<Utc>> {
    let ts: i64 = trigger.rsplit(':').next()?.parse().ok()?;
    DateTime::<Utc>::from_timestamp(ts, 0)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn each_period_is_the_full_one_before_the_tick_in_the_zone() {
        let utc: Tz = "UTC".parse().unwrap();
        // Monday 2026-12-07 07:00 UTC.
        let tick = at(2026, 12, 7, 7);
        let day = ReportPeriod::Day.before(tick, utc).unwrap();
        assert_eq!(
            (day.from, day.until),
            (at(2026, 12, 6, 0), at(2026, 12, 7, 0))
        );
        let week = ReportPeriod::Week.before(tick, utc).unwrap();
        assert_eq!(
            (week.from, week.until),
            (at(2026, 11, 30, 0), at(2026, 12, 7, 0))
        );
        let month = ReportPeriod::Month.before(tick, utc).unwrap();
        assert_eq!(
            (month.from, month.until),
            (at(2026, 11, 1, 0), at(2026, 12, 1, 0))
        );
        // January reports December.
        let jan = ReportPeriod::Month.before(at(2027, 1, 1, 6), utc).unwrap();
        assert_eq!(
            (jan.from, jan.until),
            (at(2026, 12, 1, 0), at(2027, 1, 1, 0))
        );
    }

    #[test]
    fn days_follow_the_zone_s_midnight() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 00:30 in Berlin on Tuesday 8 Dec is still 7 Dec in UTC.
        let tick = at(2026, 12, 7, 23) + Duration::minutes(30);
        let day = ReportPeriod::Day.before(tick, berlin).unwrap();
        assert_eq!(
            (day.from, day.until),
            (at(2026, 12, 6, 23), at(2026, 12, 7, 23))
        );
    }

    #[test]
    fn a_trigger_names_its_tick() {
        assert_eq!(tick_of("cron:reports:1796626800"), Some(at(2026, 12, 7, 7)));
        assert_eq!(tick_of("manual:x"), None);
    }
}
