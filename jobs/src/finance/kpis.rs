//! The referral programme's KPIs for a period, for `referral-worker report
//! kpis` and `GET /api/reports/kpis`.
//!
//! What each figure counts (test records never count):
//!
//! * conversion: applications *applied* in the period that have a credited
//!   referral, and how many of them are hired now;
//! * time to hire: applications *hired* in the period, from `applied_at` to
//!   `hired_at`, for referred candidates (a credited referral) and for all;
//! * payouts: ledger rows *delivered* in the period, summed by month (UTC)
//!   and currency. Amounts are never added across currencies;
//! * top referrers: employees with referrals *credited* (referred) in the
//!   period, how many of those are hired, and what they were paid in the
//!   period; ranked by hires, then credited referrals, then employee id;
//! * participation, the click → application → hire funnel and cost per
//!   hire: [`super::programme`].
//!
//! Each figure walks its rows page by page, like the exports; only the
//! per-hire durations (for the median) and the per-employee tallies are kept.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entities::{
    application::{self, ApplicationStatus},
    payout::{self, PayoutState},
    referral::{self, ReferralState},
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::{
    Period, credited_applications, is_full, next_page,
    programme::{self, ProgramCost, Programme},
    test_candidates,
};
use crate::error::Result;

/// How many referrers the ranking lists.
pub const TOP_REFERRERS: usize = 10;

/// Every KPI for one period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// The period, `[from, until)`.
    pub period: Period,
    /// Referred applications → hires.
    pub conversion: Conversion,
    /// Days from application to hire.
    pub time_to_hire: TimeToHire,
    /// Delivered payouts by month and currency, oldest month first.
    pub payouts_delivered: Vec<MonthlyPayouts>,
    /// The best referrers, best first.
    pub top_referrers: Vec<TopReferrer>,
    /// Participation, the funnel and cost per hire.
    pub programme: Programme,
}

/// Referral conversion.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Conversion {
    /// Applications applied in the period with a credited referral.
    pub referred_applications: u64,
    /// Of those, how many are hired.
    pub hires: u64,
    /// `hires / referred_applications`; `None` without referred applications.
    pub rate: Option<f64>,
}

/// Time to hire of referred candidates against everyone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimeToHire {
    /// Hires with a credited referral.
    pub referred: HireTimes,
    /// Every hire.
    pub all: HireTimes,
}

/// Days from application to hire over a set of hires.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HireTimes {
    /// Hires counted.
    pub hires: u64,
    /// Median days; `None` without hires.
    pub median_days: Option<f64>,
    /// Mean days; `None` without hires.
    pub mean_days: Option<f64>,
}

impl HireTimes {
    fn of(mut days: Vec<f64>) -> Self {
        days.sort_by(f64::total_cmp);
        let n = days.len();
        let median_days = match n {
            0 => None,
            _ if n % 2 == 1 => Some(days[n / 2]),
            _ => Some((days[n / 2 - 1] + days[n / 2]) / 2.0),
        };
        let mean_days = (n > 0).then(|| days.iter().sum::<f64>() / n as f64);
        HireTimes {
            hires: n as u64,
            median_days,
            mean_days,
        }
    }
}

/// Payouts delivered in one month in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MonthlyPayouts {
    /// `YYYY-MM`, UTC.
    pub month: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of `amount_minor`.
    pub amount_minor: i64,
    /// Payouts delivered.
    pub count: u64,
}

/// An amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Amount {
    /// ISO 4217 code.
    pub currency: String,
    /// In the currency's minor unit.
    pub amount_minor: i64,
}

/// One referrer's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TopReferrer {
    /// HRIS id.
    pub employee_id: String,
    /// Credited referrals referred in the period.
    pub credited_referrals: u64,
    /// Of those, how many are hired.
    pub hires: u64,
    /// Delivered in the period, per currency (any referral date).
    pub paid: Vec<Amount>,
}

/// Computes every KPI for `period`, with the programme's own costs
/// (`[reports] program_costs`) in its cost per hire.
///
/// # Errors
/// Database errors; a configured cost that cannot be read.
pub async fn compute(
    conn: &impl ConnectionTrait,
    period: Period,
    costs: &[ProgramCost],
) -> Result<Kpis> {
    let conversion = conversion(conn, period).await?;
    let time_to_hire = time_to_hire(conn, period).await?;
    let (payouts_delivered, paid) = delivered(conn, period).await?;
    let top_referrers = top_referrers(conn, period, paid).await?;
    let hires = (time_to_hire.referred.hires, time_to_hire.all.hires);
    let programme = programme::compute(conn, period, costs, &payouts_delivered, hires).await?;
    Ok(Kpis {
        period,
        conversion,
        time_to_hire,
        payouts_delivered,
        top_referrers,
        programme,
    })
}

fn is_hired(app: &application::Model) -> bool {
    app.status == ApplicationStatus::Hired && app.hired_at.is_some()
}

fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds() as f64 / 86_400.0
}

async fn conversion(conn: &impl ConnectionTrait, period: Period) -> Result<Conversion> {
    let query = application::Entity::find()
        .filter(application::Column::AppliedAt.gte(period.from))
        .filter(application::Column::AppliedAt.lt(period.until));
    let (mut referred, mut hires) = (0u64, 0u64);
    let mut after = i64::MIN;
    loop {
        let apps = next_page(conn, &query, application::Column::Id, after).await?;
        let Some(last) = apps.last() else { break };
        after = last.id;
        let test = test_candidates(conn, apps.iter().map(|a| a.candidate_id)).await?;
        let credited = credited_applications(conn, apps.iter().map(|a| a.id)).await?;
        for app in apps.iter().filter(|a| !test.contains(&a.candidate_id)) {
            if credited.contains(&app.id) {
                referred += 1;
                hires += u64::from(is_hired(app));
            }
        }
        if !is_full(&apps) {
            break;
        }
    }
    Ok(Conversion {
        referred_applications: referred,
        hires,
        rate: (referred > 0).then(|| hires as f64 / referred as f64),
    })
}

async fn time_to_hire(conn: &impl ConnectionTrait, period: Period) -> Result<TimeToHire> {
    let query = application::Entity::find()
        .filter(application::Column::Status.eq(ApplicationStatus::Hired))
        .filter(application::Column::HiredAt.gte(period.from))
        .filter(application::Column::HiredAt.lt(period.until));
    let (mut referred, mut all) = (Vec::new(), Vec::new());
    let mut after = i64::MIN;
    loop {
        let apps = next_page(conn, &query, application::Column::Id, after).await?;
        let Some(last) = apps.last() else { break };
        after = last.id;
        let test = test_candidates(conn, apps.iter().map(|a| a.candidate_id)).await?;
        let credited = credited_applications(conn, apps.iter().map(|a| a.id)).await?;
        for app in apps.iter().filter(|a| !test.contains(&a.candidate_id)) {
            let Some(hired_at) = app.hired_at else {
                continue;
            };
            let days = days_between(app.applied_at, hired_at);
            all.push(days);
            if credited.contains(&app.id) {
                referred.push(days);
            }
        }
        if !is_full(&apps) {
            break;
        }
    }
    Ok(TimeToHire {
        referred: HireTimes::of(referred),
        all: HireTimes::of(all),
    })
}

/// Paid per employee, per currency.
type PaidByEmployee = HashMap<String, BTreeMap<String, i64>>;

async fn delivered(
    conn: &impl ConnectionTrait,
    period: Period,
) -> Result<(Vec<MonthlyPayouts>, PaidByEmployee)> {
    let query = payout::Entity::find()
        .filter(payout::Column::State.eq(PayoutState::Delivered))
        .filter(payout::Column::IsTest.eq(false))
        .filter(payout::Column::DeliveredAt.gte(period.from))
        .filter(payout::Column::DeliveredAt.lt(period.until));
    let mut months: BTreeMap<(String, String), (i64, u64)> = BTreeMap::new();
    let mut paid = PaidByEmployee::new();
    let mut after = i64::MIN;
    loop {
        let payouts = next_page(conn, &query, payout::Column::Id, after).await?;
        let Some(last) = payouts.last() else { break };
        after = last.id;
        let referrals: HashMap<i64, referral::Model> = referral::Entity::find()
            .filter(referral::Column::Id.is_in(payouts.iter().map(|p| p.referral_id)))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let test = test_candidates(conn, referrals.values().map(|r| r.candidate_id)).await?;
        for p in &payouts {
            let Some(delivered_at) = p.delivered_at else {
                continue;
            };
            let referral = referrals.get(&p.referral_id);
            if referral.is_some_and(|r| r.is_test || test.contains(&r.candidate_id)) {
                continue;
            }
            let month = delivered_at.format("%Y-%m").to_string();
            let entry = months.entry((month, p.currency.clone())).or_default();
            entry.0 = entry.0.saturating_add(p.amount_minor);
            entry.1 += 1;
            if let Some(r) = referral {
                let total = paid
                    .entry(r.employee_id.clone())
                    .or_default()
                    .entry(p.currency.clone())
                    .or_default();
                *total = total.saturating_add(p.amount_minor);
            }
        }
        if !is_full(&payouts) {
            break;
        }
    }
    let monthly = months
        .into_iter()
        .map(
            |((month, currency), (amount_minor, count))| MonthlyPayouts {
                month,
                currency,
                amount_minor,
                count,
            },
        )
        .collect();
    Ok((monthly, paid))
}

async fn top_referrers(
    conn: &impl ConnectionTrait,
    period: Period,
    mut paid: PaidByEmployee,
) -> Result<Vec<TopReferrer>> {
    let query = referral::Entity::find()
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .filter(referral::Column::IsTest.eq(false))
        .filter(referral::Column::ReferredAt.gte(period.from))
        .filter(referral::Column::ReferredAt.lt(period.until));
    // employee → (credited, hires)
    let mut tallies: HashMap<String, (u64, u64)> = HashMap::new();
    let mut after = i64::MIN;
    loop {
        let referrals = next_page(conn, &query, referral::Column::Id, after).await?;
        let Some(last) = referrals.last() else { break };
        after = last.id;
        let test = test_candidates(conn, referrals.iter().map(|r| r.candidate_id)).await?;
        let app_ids: Vec<i64> = referrals.iter().filter_map(|r| r.application_id).collect();
        let hired: std::collections::HashSet<i64> = if app_ids.is_empty() {
            Default::default()
        } else {
            application::Entity::find()
                .filter(application::Column::Id.is_in(app_ids))
                .all(conn)
                .await?
                .into_iter()
                .filter(is_hired)
                .map(|a| a.id)
                .collect()
        };
        for r in referrals.iter().filter(|r| !test.contains(&r.candidate_id)) {
            let tally = tallies.entry(r.employee_id.clone()).or_default();
            tally.0 += 1;
            tally.1 += u64::from(r.application_id.is_some_and(|id| hired.contains(&id)));
        }
        if !is_full(&referrals) {
            break;
        }
    }
    // Someone paid in the period for an older referral still ranks.
    for employee in paid.keys() {
        tallies.entry(employee.clone()).or_default();
    }
    let mut ranked: Vec<TopReferrer> = tallies
        .into_iter()
        .map(|(employee_id, (credited_referrals, hires))| TopReferrer {
            paid: paid
                .remove(&employee_id)
                .unwrap_or_default()
                .into_iter()
                .map(|(currency, amount_minor)| Amount {
                    currency,
                    amount_minor,
                })
                .collect(),
            employee_id,
            credited_referrals,
            hires,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.hires
            .cmp(&a.hires)
            .then(b.credited_referrals.cmp(&a.credited_referrals))
            .then_with(|| a.employee_id.cmp(&b.employee_id))
    });
    ranked.truncate(TOP_REFERRERS);
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mean_of_an_odd_and_an_even_count() {
        let odd = HireTimes::of(vec![30.0, 10.0, 20.0]);
        assert_eq!(odd.median_days, Some(20.0));
        assert_eq!(odd.mean_days, Some(20.0));
        let even = HireTimes::of(vec![40.0, 10.0, 20.0, 30.0]);
        assert_eq!(even.median_days, Some(25.0));
        assert_eq!(even.mean_days, Some(25.0));
        assert_eq!(even.hires, 4);
    }

    #[test]
    fn no_hires_have_no_times() {
        let none = HireTimes::of(Vec::new());
        assert_eq!(none.hires, 0);
        assert_eq!(none.median_days, None);
        assert_eq!(none.mean_days, None);
    }
}
