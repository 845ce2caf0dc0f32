//! What HR and finance read: exports of the payout ledger, the referrals and
//! the audit log ([`export`]), and the programme's KPIs ([`kpis`]).
//!
//! Called by the worker's CLI (`export`, `report kpis`) and its HTTP API
//! (`/api/exports/...`, `/api/reports/kpis`); both pass a [`Period`] parsed
//! here so the two surfaces agree on what a date means. Everything in this
//! module only reads, page by page ([`PAGE_SIZE`] rows ordered by id), so an
//! export of years of data never sits in memory at once.
//!
//! Test records (`is_test` on payouts, referrals and candidates) are left out
//! of KPIs always and of exports unless asked for: a sandbox hire must never
//! reach a finance reconciliation by accident.

pub mod export;
pub mod kpis;
pub mod programme;
pub mod report;
pub mod spreadsheet;

use std::{
    collections::{HashMap, HashSet},
    fmt,
    str::FromStr,
};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use entities::{candidate, candidate_ats_id, referral, referral::ReferralState};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::Serialize;

use crate::error::{Error, Result};

/// Rows read per query. Large enough that an export is a few hundred
/// queries per million rows, small enough that a page is a few hundred KB.
pub const PAGE_SIZE: u64 = 1000;

/// One end of a period as the caller typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBound {
    /// `YYYY-MM-DD`: the whole UTC day.
    Day(NaiveDate),
    /// An RFC 3339 timestamp: exactly that instant.
    Instant(DateTime<Utc>),
}

impl FromStr for DateBound {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(day) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(DateBound::Day(day));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|at| DateBound::Instant(at.with_timezone(&Utc)))
            .map_err(|_| format!("`{s}` is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp"))
    }
}

impl fmt::Display for DateBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateBound::Day(d) => write!(f, "{d}"),
            DateBound::Instant(at) => write!(f, "{}", at.to_rfc3339()),
        }
    }
}

/// A half-open UTC interval `[from, until)`.
///
/// Both ends as typed are inclusive: `--from 2026-01-01 --to 2026-01-31` is
/// all of January (`until` is February 1st, midnight), and an RFC 3339 `to`
/// includes that instant (`until` is one microsecond later, the precision
/// both databases store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Period {
    /// First instant included.
    pub from: DateTime<Utc>,
    /// First instant no longer included.
    pub until: DateTime<Utc>,
}

impl Period {
    /// The period from `from` to `to`, both inclusive.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `from` when it is after `to`, or `to` when
    /// the date is past the calendar's end.
    pub fn new(from: DateBound, to: DateBound) -> Result<Self> {
        let start = match from {
            DateBound::Day(d) => d.and_hms_opt(0, 0, 0).map(|n| n.and_utc()),
            DateBound::Instant(at) => Some(at),
        }
        .ok_or_else(|| Error::invalid("from", "is not a valid date"))?;
        let until = match to {
            DateBound::Day(d) => d
                .checked_add_days(Days::new(1))
                .and_then(|next| next.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc()),
            DateBound::Instant(at) => at.checked_add_signed(TimeDelta::microseconds(1)),
        }
        .ok_or_else(|| Error::invalid("to", "is too far in the future"))?;
        if start >= until {
            return Err(Error::invalid("from", format!("{from} is after to ({to})")));
        }
        Ok(Period { from: start, until })
    }

    /// Parses both ends (see [`DateBound`]) and builds the period.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `from` or `to`.
    pub fn parse(from: &str, to: &str) -> Result<Self> {
        let from_bound = from.parse().map_err(|e| Error::invalid("from", e))?;
        let to_bound = to.parse().map_err(|e| Error::invalid("to", e))?;
        Period::new(from_bound, to_bound)
    }

    /// Whether `at` falls inside.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.until
    }
}

/// The page of `query` after id `after`: at most [`PAGE_SIZE`] rows in id
/// order. Keyset paging: rows inserted meanwhile neither shift nor repeat a
/// page, and every page costs the same however deep the walk.
async fn next_page<E, C>(
    conn: &impl ConnectionTrait,
    query: &Select<E>,
    id: C,
    after: i64,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    Ok(query
        .clone()
        .filter(id.gt(after))
        .order_by_asc(id)
        .limit(PAGE_SIZE)
        .all(conn)
        .await?)
}

/// Whether a page was full, so another may follow.
fn is_full<T>(page: &[T]) -> bool {
    page.len() as u64 == PAGE_SIZE
}

/// Of `ids`, the candidates marked as test data.
async fn test_candidates(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashSet<i64>> {
    let ids: HashSet<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(candidate::Entity::find()
        .filter(candidate::Column::Id.is_in(ids))
        .filter(candidate::Column::IsTest.eq(true))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

/// The candidates' ATS id mappings, by candidate, oldest mapping first.
async fn ats_ids_by_candidate(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Vec<candidate_ats_id::Model>>> {
    let ids: HashSet<i64> = ids.into_iter().collect();
    let mut by_candidate: HashMap<i64, Vec<candidate_ats_id::Model>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_candidate);
    }
    let rows = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::CandidateId.is_in(ids))
        .order_by_asc(candidate_ats_id::Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        by_candidate.entry(row.candidate_id).or_default().push(row);
    }
    Ok(by_candidate)
}

/// Of `application_ids`, those with a credited referral that is not test
/// data (its candidate's flag is the caller's business).
async fn credited_applications(
    conn: &impl ConnectionTrait,
    application_ids: impl IntoIterator<Item = i64>,
) -> Result<HashSet<i64>> {
    let ids: HashSet<i64> = application_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(referral::Entity::find()
        .filter(referral::Column::ApplicationId.is_in(ids))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .filter(referral::Column::IsTest.eq(false))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|r| r.application_id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .expect("a valid timestamp")
    }

    #[test]
    fn days_are_whole_utc_days_inclusive() {
        let p = Period::parse("2026-01-01", "2026-01-31").expect("a period");
        assert_eq!(p.from, at("2026-01-01T00:00:00Z"));
        assert_eq!(p.until, at("2026-02-01T00:00:00Z"));
        assert!(p.contains(at("2026-01-31T23:59:59.999999Z")));
        assert!(!p.contains(at("2026-02-01T00:00:00Z")));
    }

    #[test]
    fn one_day_is_a_period() {
        let p = Period::parse("2026-03-05", "2026-03-05").expect("a period");
        assert!(p.contains(at("2026-03-05T12:00:00Z")));
    }

    #[test]
    fn timestamps_are_exact_and_inclusive_with_their_offset() {
        let p =
            Period::parse("2026-01-01T10:00:00+02:00", "2026-01-01T12:00:00Z").expect("a period");
        assert_eq!(p.from, at("2026-01-01T08:00:00Z"));
        assert!(p.contains(at("2026-01-01T12:00:00Z")));
        assert!(!p.contains(at("2026-01-01T12:00:00.000001Z")));
    }

    #[test]
    fn from_after_to_names_from() {
        let err = Period::parse("2026-02-01", "2026-01-31").expect_err("refused");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "from"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_date_names_its_parameter() {
        let err = Period::parse("2026-01-01", "31/01/2026").expect_err("refused");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "to"),
            "{err}"
        );
        let err = Period::parse("2026-13-01", "2026-12-31").expect_err("refused");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "from"),
            "{err}"
        );
    }
}
