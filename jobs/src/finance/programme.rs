//! The programme's reach and cost for a period, beside the KPIs of
//! [`super::kpis`] (which calls [`compute`]):
//!
//! * participation: employees who shared at least one referral link in the
//!   period (minted one: a link is minted to be shared) over the employees
//!   active now;
//! * the click → application → hire funnel, per referrer and per link:
//!   links minted in the period with their clicks, credited referrals
//!   referred in the period (through that link, for a link), and how many
//!   of those are hired now;
//! * cost per hire of the referral channel, per currency: bonuses delivered
//!   in the period plus the programme's own costs configured for the months
//!   that start in it (`[reports] program_costs`), over the referred hires
//!   of the period; and hires by channel (referred or not; the ATS's
//!   sources of other hires are not kept, so "other" is one channel).
//!
//! Test records never count. Links and referrals are read page by page.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use entities::{
    application::{self, ApplicationStatus},
    employee, referral,
    referral::ReferralState,
    referral_link,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::{Period, is_full, kpis::MonthlyPayouts, next_page, test_candidates};
use crate::error::{Error, Result};

/// How many links the per-link funnel lists (most clicked first).
pub const TOP_LINKS: usize = 20;

/// What the programme costs besides bonuses in one month (tooling,
/// events, swag), as finance configures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramCost {
    /// `YYYY-MM`.
    pub month: String,
    /// ISO 4217 code.
    pub currency: String,
    /// In the currency's minor unit.
    pub amount_minor: i64,
}

impl ProgramCost {
    /// The first day of its month.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the month or currency that cannot be read.
    pub fn first_day(&self) -> Result<NaiveDate> {
        NaiveDate::parse_from_str(&format!("{}-01", self.month), "%Y-%m-%d")
            .map_err(|_| Error::invalid("month", format!("{:?} is not YYYY-MM", self.month)))
    }

    /// Checks the month, the currency and the amount.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        self.first_day()?;
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Error::invalid(
                "currency",
                format!("{:?} is not an ISO 4217 code", self.currency),
            ));
        }
        if self.amount_minor < 0 {
            return Err(Error::invalid("amount_minor", "must not be negative"));
        }
        Ok(())
    }
}

/// Reach and cost (module docs).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Programme {
    /// Who shared.
    pub participation: Participation,
    /// Per referrer who shared or referred in the period, best first.
    pub funnel_by_referrer: Vec<ReferrerFunnel>,
    /// Per link minted in the period, the [`TOP_LINKS`] most clicked.
    pub funnel_by_link: Vec<LinkFunnel>,
    /// Per currency.
    pub cost_per_hire: Vec<CostPerHire>,
    /// Hires of the period by channel.
    pub hires_by_channel: HiresByChannel,
}

/// Advocate participation.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Participation {
    /// Employees active now.
    pub active_employees: u64,
    /// Employees who minted at least one link in the period.
    pub sharing_employees: u64,
    /// `sharing / active`; `None` without active employees.
    pub rate: Option<f64>,
}

/// One referrer's funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReferrerFunnel {
    /// HRIS id.
    pub employee_id: String,
    /// Links minted in the period.
    pub links: u64,
    /// Clicks on those links.
    pub clicks: u64,
    /// Credited referrals referred in the period (by link or ATS credit).
    pub applications: u64,
    /// Of those, hired now.
    pub hires: u64,
}

impl ReferrerFunnel {
    /// `employee_id`'s funnel before anything is counted: the one start
    /// for a referrer first met through a link or through a referral.
    fn empty(employee_id: &str) -> Self {
        Self {
            employee_id: employee_id.to_owned(),
            links: 0,
            clicks: 0,
            applications: 0,
            hires: 0,
        }
    }
}

/// One link's funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LinkFunnel {
    /// The link's row id (the token itself is a credential).
    pub link_id: i64,
    /// Whose link.
    pub employee_id: String,
    /// The job shared.
    pub job_id: String,
    /// Clicks.
    pub clicks: u64,
    /// Credited referrals through it.
    pub applications: u64,
    /// Of those, hired now.
    pub hires: u64,
}

/// Cost per referred hire in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CostPerHire {
    /// ISO 4217 code.
    pub currency: String,
    /// Bonuses delivered in the period.
    pub bonuses_minor: i64,
    /// Programme costs of the months starting in the period.
    pub program_costs_minor: i64,
    /// Referred hires of the period (any currency: hires have none).
    pub hires: u64,
    /// `(bonuses + costs) / hires`, rounded down; `None` without hires.
    pub per_hire_minor: Option<i64>,
}

/// Hires of the period by channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HiresByChannel {
    /// With a credited referral.
    pub referral: u64,
    /// Without one (every other source together).
    pub other: u64,
}

/// Computes reach and cost for `period`, given what [`super::kpis`]
/// already counted: payouts delivered by month and the hires of the period
/// (referred and all).
///
/// # Errors
/// Database errors; a configured cost that cannot be read.
pub async fn compute(
    conn: &impl ConnectionTrait,
    period: Period,
    costs: &[ProgramCost],
    delivered: &[MonthlyPayouts],
    (referred_hires, all_hires): (u64, u64),
) -> Result<Programme> {
    let participation_and_links = links(conn, period).await?;
    let (participation, link_rows) = participation_and_links;
    let (funnel_by_referrer, funnel_by_link) = funnels(conn, period, link_rows).await?;
    Ok(Programme {
        participation,
        funnel_by_referrer,
        funnel_by_link,
        cost_per_hire: cost_per_hire(period, costs, delivered, referred_hires)?,
        hires_by_channel: HiresByChannel {
            referral: referred_hires,
            other: all_hires.saturating_sub(referred_hires),
        },
    })
}

async fn links(
    conn: &impl ConnectionTrait,
    period: Period,
) -> Result<(Participation, Vec<referral_link::Model>)> {
    let active_employees = employee::Entity::find()
        .filter(employee::Column::Active.eq(true))
        .count(conn)
        .await?;
    let query = referral_link::Entity::find()
        .filter(referral_link::Column::CreatedAt.gte(period.from))
        .filter(referral_link::Column::CreatedAt.lt(period.until));
    let mut rows = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = next_page(conn, &query, referral_link::Column::Id, after).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = is_full(&page);
        rows.extend(page);
        if !full {
            break;
        }
    }
    let sharing: HashSet<&str> = rows.iter().map(|l| l.employee_id.as_str()).collect();
    let sharing_employees = sharing.len() as u64;
    Ok((
        Participation {
            active_employees,
            sharing_employees,
            rate: (active_employees > 0)
                .then(|| sharing_employees as f64 / active_employees as f64),
        },
        rows,
    ))
}

async fn funnels(
    conn: &impl ConnectionTrait,
    period: Period,
    link_rows: Vec<referral_link::Model>,
) -> Result<(Vec<ReferrerFunnel>, Vec<LinkFunnel>)> {
    let mut by_employee: BTreeMap<String, ReferrerFunnel> = BTreeMap::new();
    let mut by_token: HashMap<String, LinkFunnel> = HashMap::new();
    for l in &link_rows {
        let clicks = u64::try_from(l.click_count).unwrap_or(0);
        let f = by_employee
            .entry(l.employee_id.clone())
            .or_insert_with(|| ReferrerFunnel::empty(&l.employee_id));
        f.links += 1;
        f.clicks += clicks;
        by_token.insert(
            l.token.clone(),
            LinkFunnel {
                link_id: l.id,
                employee_id: l.employee_id.clone(),
                job_id: l.job_id.clone(),
                clicks,
                applications: 0,
                hires: 0,
            },
        );
    }
    let query = referral::Entity::find()
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .filter(referral::Column::IsTest.eq(false))
        .filter(referral::Column::ReferredAt.gte(period.from))
        .filter(referral::Column::ReferredAt.lt(period.until));
    let mut after = i64::MIN;
    loop {
        let page = next_page(conn, &query, referral::Column::Id, after).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let test = test_candidates(conn, page.iter().map(|r| r.candidate_id)).await?;
        let hired: HashSet<i64> = application::Entity::find()
            .filter(application::Column::Id.is_in(page.iter().filter_map(|r| r.application_id)))
            .filter(application::Column::Status.eq(ApplicationStatus::Hired))
            .all(conn)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        for r in page.iter().filter(|r| !test.contains(&r.candidate_id)) {
            let is_hired = r.application_id.is_some_and(|a| hired.contains(&a));
            let f = by_employee
                .entry(r.employee_id.clone())
                .or_insert_with(|| ReferrerFunnel::empty(&r.employee_id));
            f.applications += 1;
            f.hires += u64::from(is_hired);
            if let Some(link) = r.link_token.as_ref().and_then(|t| by_token.get_mut(t)) {
                link.applications += 1;
                link.hires += u64::from(is_hired);
            }
        }
        if !is_full(&page) {
            break;
        }
    }
    let mut referrers: Vec<ReferrerFunnel> = by_employee.into_values().collect();
    referrers.sort_by(|a, b| {
        (b.hires, b.applications, b.clicks)
            .cmp(&(a.hires, a.applications, a.clicks))
            .then_with(|| a.employee_id.cmp(&b.employee_id))
    });
    let mut links: Vec<LinkFunnel> = by_token.into_values().collect();
    links.sort_by(|a, b| {
        (b.clicks, b.applications)
            .cmp(&(a.clicks, a.applications))
            .then_with(|| a.link_id.cmp(&b.link_id))
    });
    links.truncate(TOP_LINKS);
    Ok((referrers, links))
}

fn cost_per_hire(
    period: Period,
    costs: &[ProgramCost],
    delivered: &[MonthlyPayouts],
    hires: u64,
) -> Result<Vec<CostPerHire>> {
    // currency → (bonuses, programme costs)
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for m in delivered {
        let t = totals.entry(m.currency.clone()).or_default();
        t.0 = t.0.saturating_add(m.amount_minor);
    }
    for c in costs {
        let first = c.first_day()?;
        let starts = first.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        if starts.is_some_and(|s| period.contains(s)) {
            let t = totals.entry(c.currency.clone()).or_default();
            t.1 = t.1.saturating_add(c.amount_minor);
        }
    }
    let divisor = i64::try_from(hires).unwrap_or(i64::MAX);
    Ok(totals
        .into_iter()
        .map(
            |(currency, (bonuses_minor, program_costs_minor))| CostPerHire {
                currency,
                bonuses_minor,
                program_costs_minor,
                hires,
                per_hire_minor: (divisor > 0)
                    .then(|| bonuses_minor.saturating_add(program_costs_minor) / divisor),
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn period(from: (i32, u32, u32), until: (i32, u32, u32)) -> Period {
        Period {
            from: Utc
                .with_ymd_and_hms(from.0, from.1, from.2, 0, 0, 0)
                .unwrap(),
            until: Utc
                .with_ymd_and_hms(until.0, until.1, until.2, 0, 0, 0)
                .unwrap(),
        }
    }

    fn cost(month: &str, currency: &str, amount_minor: i64) -> ProgramCost {
        ProgramCost {
            month: month.into(),
            currency: currency.into(),
            amount_minor,
        }
    }

    #[test]
    fn cost_per_hire_adds_the_months_starting_in_the_period_per_currency() {
        let delivered = vec![MonthlyPayouts {
            month: "2026-11".into(),
            currency: "EUR".into(),
            amount_minor: 300_000,
            count: 2,
        }];
        let costs = [
            cost("2026-11", "EUR", 60_000),
            // Starts before the period: not this period's cost.
            cost("2026-10", "EUR", 99_999),
            cost("2026-11", "USD", 10_000),
        ];
        let got = cost_per_hire(period((2026, 11, 1), (2026, 12, 1)), &costs, &delivered, 3)
            .expect("costs");
        assert_eq!(
            got,
            vec![
                CostPerHire {
                    currency: "EUR".into(),
                    bonuses_minor: 300_000,
                    program_costs_minor: 60_000,
                    hires: 3,
                    per_hire_minor: Some(120_000),
                },
                CostPerHire {
                    currency: "USD".into(),
                    bonuses_minor: 0,
                    program_costs_minor: 10_000,
                    hires: 3,
                    per_hire_minor: Some(3_333),
                },
            ]
        );
        let none = cost_per_hire(period((2026, 11, 1), (2026, 12, 1)), &costs, &delivered, 0)
            .expect("costs");
        assert!(none.iter().all(|c| c.per_hire_minor.is_none()));
    }

    #[test]
    fn a_cost_names_what_cannot_be_read() {
        assert!(cost("2026-11", "EUR", 1).validate().is_ok());
        for (bad, field) in [
            (cost("November", "EUR", 1), "month"),
            (cost("2026-13", "EUR", 1), "month"),
            (cost("2026-11", "eur", 1), "currency"),
            (cost("2026-11", "EUR", -1), "amount_minor"),
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::Invalid { field: f, .. }) if f == field),
                "{bad:?}"
            );
        }
    }
}
