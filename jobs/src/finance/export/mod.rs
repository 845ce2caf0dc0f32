//! Exports for HR and finance: the payout ledger, the referrals, the audit
//! log, the scheduled KPI reports and the reconciliation variances (nightly
//! and three-way, each with its suggested fix), as CSV or JSON, for a period.
//!
//! Called by `referral-worker export ...` (which writes each chunk to a file
//! or stdout as it comes) and `GET /api/exports/{dataset}` (which streams the
//! chunks as the response body). An [`Exporter`] reads [`PAGE_SIZE`](super::PAGE_SIZE) rows at
//! a time in id order, resuming after the last id it saw (keyset paging, so
//! rows inserted meanwhile neither shift nor repeat a page), joins each page
//! with its referrals, applications, milestones and candidate ids in a few
//! `IN (...)` queries, and encodes it. Memory stays one page whatever the
//! size of the export.
//!
//! The period applies to when a row came into being: `created_at` for
//! payouts, referrals and reports, `occurred_at` for audit events, the
//! run's `started_at` for variances. Test records (a
//! payout, its referral or its candidate marked `is_test`) are left out
//! unless the request includes them; the `is_test` column says which rows
//! are test data when they are included. The audit log has no test records.
//!
//! Exports contain ids, dates, amounts and reason codes, never candidates'
//! names, emails or phones. Payouts and referrals are named by their
//! public ids (`pay_…`, `ref_…`), as the bonus system, alerts and the ops
//! API name them, with the idempotency key and our candidate id beside
//! the ATS ids.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    str::FromStr,
};

use chrono::TimeDelta;
use entities::{
    application, audit_event, candidate_ats_id, kpi_report, milestone,
    payout::{self},
    reconciliation_item, reconciliation_run,
    referral::{self},
    referral_link,
    states::Ats,
};
use futures::Stream;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Select};
use serde_json::Value;

mod rows;

pub use rows::{AuditRow, PayoutRow, ReferralRow, ReportRow, VarianceRow};

use super::{Period, ats_ids_by_candidate, is_full, next_page, test_candidates};
use crate::error::Result;
use rows::{Record, write_csv};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// The payout ledger, one row per (referral, tranche).
    Payouts,
    /// Every attribution claim, credited or not.
    Referrals,
    /// The audit log, with its hash chain.
    Audit,
    /// The scheduled KPI reports, as sent to the CRM.
    Reports,
    /// The reconciliation runs' variances, with their suggested fixes.
    Reconciliation,
}

impl Dataset {
    /// Every dataset, in the order help texts list them.
    pub const ALL: [Dataset; 5] = [
        Dataset::Payouts,
        Dataset::Referrals,
        Dataset::Audit,
        Dataset::Reports,
        Dataset::Reconciliation,
    ];

    /// The name in URLs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Payouts => "payouts",
            Dataset::Referrals => "referrals",
            Dataset::Audit => "audit",
            Dataset::Reports => "reports",
            Dataset::Reconciliation => "reconciliation",
        }
    }

    /// The CSV header (and the JSON keys) of the dataset, in column order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Dataset::Payouts => PayoutRow::COLUMNS,
            Dataset::Referrals => ReferralRow::COLUMNS,
            Dataset::Audit => AuditRow::COLUMNS,
            Dataset::Reports => ReportRow::COLUMNS,
            Dataset::Reconciliation => VarianceRow::COLUMNS,
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                format!(
                    "no export named `{s}`: one of payouts, referrals, audit, reports, reconciliation"
                )
            })
    }
}

/// How to encode an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// RFC 4180 CSV with a header row; lists joined with `;`, audit `data`
    /// as its JSON text.
    #[default]
    Csv,
    /// One JSON array of objects; the audit `data` as a JSON value.
    Json,
}

impl Format {
    /// The name in URLs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    /// The HTTP `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("`{other}` is not a format: csv or json")),
        }
    }
}

/// One export: what, how, when, and whether test records are included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRequest {
    /// What to export.
    pub dataset: Dataset,
    /// How to encode it.
    pub format: Format,
    /// Which rows, by creation time.
    pub period: Period,
    /// Include rows marked as test data.
    pub include_test: bool,
}

impl ExportRequest {
    /// A file name for the export: `payouts_2026-01-01_2026-01-31.csv`
    /// (the last day included).
    pub fn file_name(&self) -> String {
        let last = self.period.until - TimeDelta::microseconds(1);
        format!(
            "{}_{}_{}.{}",
            self.dataset,
            self.period.from.format("%Y-%m-%d"),
            last.format("%Y-%m-%d"),
            self.format
        )
    }
}

/// A piece of encoded output and how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Bytes to append to the output.
    pub bytes: Vec<u8>,
    /// Data rows in `bytes` (the header and brackets are not rows).
    pub rows: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing written yet: the next chunk starts with the header.
    Start,
    /// Between pages.
    Rows,
    /// The trailer has been written.
    Done,
}

/// Reads and encodes one export a page at a time.
#[derive(Debug, Clone)]
pub struct Exporter {
    request: ExportRequest,
    after: i64,
    stage: Stage,
    rows: u64,
}

impl Exporter {
    /// An export that has not read anything yet.
    pub fn new(request: ExportRequest) -> Self {
        Self {
            request,
            after: i64::MIN,
            stage: Stage::Start,
            rows: 0,
        }
    }

    /// Data rows encoded so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// The next piece of output: the header with the first page, then one
    /// page per call, the last one with the trailer; `None` once all is out.
    /// A page whose rows were all test data gives a chunk with no rows.
    ///
    /// # Errors
    /// Database errors; an encoding failure (a bug) as [`Error::Permanent`](crate::Error::Permanent).
    pub async fn next_chunk(&mut self, conn: &impl ConnectionTrait) -> Result<Option<Chunk>> {
        if self.stage == Stage::Done {
            return Ok(None);
        }
        let format = self.request.format;
        let mut bytes = Vec::new();
        if self.stage == Stage::Start {
            match format {
                Format::Csv => write_csv(&mut bytes, [self.request.dataset.columns()])?,
                Format::Json => bytes.push(b'['),
            }
            self.stage = Stage::Rows;
        }
        let (rows, more) = match self.request.dataset {
            Dataset::Payouts => {
                let (rows, more) = self.payouts_page(conn).await?;
                (self.encode(&rows, &mut bytes)?, more)
            }
            Dataset::Referrals => {
                let (rows, more) = self.referrals_page(conn).await?;
                (self.encode(&rows, &mut bytes)?, more)
            }
            Dataset::Audit => {
                let (rows, more) = self.audit_page(conn).await?;
                (self.encode(&rows, &mut bytes)?, more)
            }
            Dataset::Reports => {
                let (rows, more) = self.reports_page(conn).await?;
                (self.encode(&rows, &mut bytes)?, more)
            }
            Dataset::Reconciliation => {
                let (rows, more) = self.variances_page(conn).await?;
                (self.encode(&rows, &mut bytes)?, more)
            }
        };
        if !more {
            if format == Format::Json {
                bytes.extend_from_slice(if self.rows == 0 { b"]\n" } else { b"\n]\n" });
            }
            self.stage = Stage::Done;
        }
        Ok(Some(Chunk { bytes, rows }))
    }

    fn encode<R: Record>(&mut self, rows: &[R], out: &mut Vec<u8>) -> Result<usize> {
        match self.request.format {
            Format::Csv => write_csv(out, rows.iter().map(Record::fields))?,
            Format::Json => {
                for (i, row) in rows.iter().enumerate() {
                    out.extend_from_slice(if self.rows == 0 && i == 0 {
                        b"\n"
                    } else {
                        b",\n"
                    });
                    serde_json::to_writer(&mut *out, row)?;
                }
            }
        }
        self.rows += rows.len() as u64;
        Ok(rows.len())
    }

    /// The next page of `query` (ids after the last one seen), remembering
    /// where it ended; also says whether a page may follow.
    async fn page<E, C>(
        &mut self,
        conn: &impl ConnectionTrait,
        query: Select<E>,
        id: C,
        key: impl Fn(&E::Model) -> i64,
    ) -> Result<(Vec<E::Model>, bool)>
    where
        E: EntityTrait,
        C: ColumnTrait,
    {
        let rows = next_page(conn, &query, id, self.after).await?;
        if let Some(last) = rows.last() {
            self.after = key(last);
        }
        let more = is_full(&rows);
        Ok((rows, more))
    }

    async fn payouts_page(
        &mut self,
        conn: &impl ConnectionTrait,
    ) -> Result<(Vec<PayoutRow>, bool)> {
        let period = self.request.period;
        let include_test = self.request.include_test;
        let mut query = payout::Entity::find()
            .filter(payout::Column::CreatedAt.gte(period.from))
            .filter(payout::Column::CreatedAt.lt(period.until));
        if !include_test {
            query = query.filter(payout::Column::IsTest.eq(false));
        }
        let (payouts, more) = self.page(conn, query, payout::Column::Id, |p| p.id).await?;

        let referrals = by_id(
            referral::Entity::find()
                .filter(referral::Column::Id.is_in(ids(payouts.iter().map(|p| p.referral_id))))
                .all(conn)
                .await?,
            |r| r.id,
        );
        let applications =
            applications(conn, referrals.values().filter_map(|r| r.application_id)).await?;
        let milestones = by_id(
            milestone::Entity::find()
                .filter(
                    milestone::Column::Id.is_in(ids(payouts.iter().filter_map(|p| p.milestone_id))),
                )
                .all(conn)
                .await?,
            |m| m.id,
        );
        let candidate_ids: Vec<i64> = referrals.values().map(|r| r.candidate_id).collect();
        let test = test_candidates(conn, candidate_ids.iter().copied()).await?;
        let ats_ids = ats_ids_by_candidate(conn, candidate_ids).await?;

        let mut rows = Vec::with_capacity(payouts.len());
        for p in payouts {
            let r = referrals.get(&p.referral_id);
            let is_test =
                p.is_test || r.is_some_and(|r| r.is_test || test.contains(&r.candidate_id));
            if is_test && !include_test {
                continue;
            }
            let app = r
                .and_then(|r| r.application_id)
                .and_then(|id| applications.get(&id));
            let candidate_ats_ids = r
                .and_then(|r| ats_ids.get(&r.candidate_id))
                .map(|mapped| ids_in(mapped, app.map(|a| a.ats)))
                .unwrap_or_default();
            rows.push(PayoutRow {
                payout_id: p.public_id,
                referral_id: r.map(|r| r.public_id.clone()),
                employee_id: r.map(|r| r.employee_id.clone()),
                ats: app.map(|a| a.ats),
                candidate_id: r.map(|r| r.candidate_id),
                candidate_ats_ids,
                application: app.map(|a| a.ats_application_id.clone()),
                job_id: app.map(|a| a.job_id.clone()),
                milestone: p
                    .milestone_id
                    .and_then(|id| milestones.get(&id))
                    .map(|m| m.kind),
                tranche: p.tranche,
                hired_at: app.and_then(|a| a.hired_at),
                start_date: app.and_then(|a| a.start_date),
                eligible_at: p.eligible_at,
                sent_at: p.sent_at,
                delivered_at: p.delivered_at,
                amount_minor: p.amount_minor,
                currency: p.currency,
                state: p.state,
                reason: p.reason,
                idempotency_key: p.idempotency_key,
                created_at: p.created_at,
                is_test,
            });
        }
        Ok((rows, more))
    }

    async fn referrals_page(
        &mut self,
        conn: &impl ConnectionTrait,
    ) -> Result<(Vec<ReferralRow>, bool)> {
        let period = self.request.period;
        let include_test = self.request.include_test;
        let mut query = referral::Entity::find()
            .filter(referral::Column::CreatedAt.gte(period.from))
            .filter(referral::Column::CreatedAt.lt(period.until));
        if !include_test {
            query = query.filter(referral::Column::IsTest.eq(false));
        }
        let (referrals, more) = self
            .page(conn, query, referral::Column::Id, |r| r.id)
            .await?;

        let applications =
            applications(conn, referrals.iter().filter_map(|r| r.application_id)).await?;
        let tokens: HashSet<&str> = referrals
            .iter()
            .filter_map(|r| r.link_token.as_deref())
            .collect();
        let link_jobs: HashMap<String, String> = if tokens.is_empty() {
            HashMap::new()
        } else {
            referral_link::Entity::find()
                .filter(referral_link::Column::Token.is_in(tokens))
                .all(conn)
                .await?
                .into_iter()
                .map(|l| (l.token, l.job_id))
                .collect()
        };
        let candidate_ids: Vec<i64> = referrals.iter().map(|r| r.candidate_id).collect();
        let test = test_candidates(conn, candidate_ids.iter().copied()).await?;
        let ats_ids = ats_ids_by_candidate(conn, candidate_ids).await?;

        let mut rows = Vec::with_capacity(referrals.len());
        for r in referrals {
            let is_test = r.is_test || test.contains(&r.candidate_id);
            if is_test && !include_test {
                continue;
            }
            let app = r.application_id.and_then(|id| applications.get(&id));
            let job_id = app.map(|a| a.job_id.clone()).or_else(|| {
                r.link_token
                    .as_ref()
                    .and_then(|t| link_jobs.get(t))
                    .cloned()
            });
            rows.push(ReferralRow {
                referral_id: r.public_id,
                employee_id: r.employee_id,
                candidate_id: r.candidate_id,
                candidate_ats_ids: ats_ids
                    .get(&r.candidate_id)
                    .map(|mapped| ids_in(mapped, None))
                    .unwrap_or_default(),
                ats: app.map(|a| a.ats),
                application: app.map(|a| a.ats_application_id.clone()),
                job_id,
                source: r.source,
                state: r.state,
                reason: r.reason,
                referred_at: r.referred_at,
                created_at: r.created_at,
                is_test,
            });
        }
        Ok((rows, more))
    }

    async fn audit_page(&mut self, conn: &impl ConnectionTrait) -> Result<(Vec<AuditRow>, bool)> {
        let period = self.request.period;
        let query = audit_event::Entity::find()
            .filter(audit_event::Column::OccurredAt.gte(period.from))
            .filter(audit_event::Column::OccurredAt.lt(period.until));
        let (events, more) = self
            .page(conn, query, audit_event::Column::Id, |e| e.id)
            .await?;
        let rows = events
            .into_iter()
            .map(|e| AuditRow {
                id: e.id,
                at: e.occurred_at,
                actor: e.actor,
                action: e.action,
                subject_type: e.subject_type,
                subject_id: e.subject_id,
                // A row that is not JSON was tampered with; export it as it
                // is rather than refusing the whole export.
                data: serde_json::from_str(&e.data)
                    .unwrap_or_else(|_| Value::String(e.data.clone())),
                lane: e.lane,
                prev_hash: e.prev_hash,
                hash: e.hash,
                data_text: e.data,
            })
            .collect();
        Ok((rows, more))
    }

    async fn reports_page(
        &mut self,
        conn: &impl ConnectionTrait,
    ) -> Result<(Vec<ReportRow>, bool)> {
        let period = self.request.period;
        let query = kpi_report::Entity::find()
            .filter(kpi_report::Column::CreatedAt.gte(period.from))
            .filter(kpi_report::Column::CreatedAt.lt(period.until));
        let (reports, more) = self
            .page(conn, query, kpi_report::Column::Id, |r| r.id)
            .await?;
        let rows = reports
            .into_iter()
            .map(|r| ReportRow {
                report_id: r.id,
                trigger: r.trigger,
                period_from: r.period_from,
                period_until: r.period_until,
                created_at: r.created_at,
                sent_to_crm: r.message_id.is_some(),
                kpis: serde_json::from_str(&r.kpis)
                    .unwrap_or_else(|_| Value::String(r.kpis.clone())),
                kpis_text: r.kpis,
            })
            .collect();
        Ok((rows, more))
    }
}

impl Exporter {
    async fn variances_page(
        &mut self,
        conn: &impl ConnectionTrait,
    ) -> Result<(Vec<VarianceRow>, bool)> {
        let period = self.request.period;
        let runs = by_id(
            reconciliation_run::Entity::find()
                .filter(reconciliation_run::Column::StartedAt.gte(period.from))
                .filter(reconciliation_run::Column::StartedAt.lt(period.until))
                .all(conn)
                .await?,
            |r| r.id,
        );
        let query = reconciliation_item::Entity::find()
            .filter(reconciliation_item::Column::RunId.is_in(runs.keys().copied()));
        let (items, more) = self
            .page(conn, query, reconciliation_item::Column::Id, |i| i.id)
            .await?;
        let rows = items
            .into_iter()
            .filter_map(|i| {
                let run = runs.get(&i.run_id)?;
                let detail_text = i.detail.clone();
                let item = crate::maintenance::runs::recorded_item(i);
                Some(VarianceRow {
                    run_id: run.id,
                    scope: run.scope,
                    trigger: run.trigger.clone(),
                    run_started_at: run.started_at,
                    period_from: run.period_from,
                    period_until: run.period_until,
                    kind: item.kind,
                    subject_type: item.subject_type,
                    subject_id: item.subject_id,
                    resolved: item.resolved,
                    suggested_fix: item.suggested_fix,
                    detail: item.detail,
                    detail_text,
                })
            })
            .collect();
        Ok((rows, more))
    }
}

/// The export as a stream of chunks, for an HTTP body. It owns its pool
/// handle, so it can outlive the request handler.
pub fn stream(
    db: DatabaseConnection,
    request: ExportRequest,
) -> impl Stream<Item = Result<Chunk>> + Send + 'static {
    futures::stream::try_unfold(
        (db, Exporter::new(request)),
        |(db, mut exporter)| async move {
            let chunk = exporter.next_chunk(&db).await?;
            Ok(chunk.map(|c| (c, (db, exporter))))
        },
    )
}

fn ids(iter: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let set: HashSet<i64> = iter.into_iter().collect();
    set.into_iter().collect()
}

fn by_id<M>(rows: Vec<M>, key: impl Fn(&M) -> i64) -> HashMap<i64, M> {
    rows.into_iter().map(|m| (key(&m), m)).collect()
}

async fn applications(
    conn: &impl ConnectionTrait,
    application_ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, application::Model>> {
    let wanted = ids(application_ids);
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(by_id(
        application::Entity::find()
            .filter(application::Column::Id.is_in(wanted))
            .all(conn)
            .await?,
        |a| a.id,
    ))
}

/// The ATS candidate ids of `mapped`, only those in `ats` when given.
fn ids_in(mapped: &[candidate_ats_id::Model], ats: Option<Ats>) -> Vec<String> {
    mapped
        .iter()
        .filter(|m| ats.is_none_or(|ats| m.ats == ats))
        .map(|m| m.ats_candidate_id.clone())
        .collect()
}

#[cfg(test)]
mod tests;
