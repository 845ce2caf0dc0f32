//! Exports for HR and finance: the payout ledger, the referrals and the audit
//! log, as CSV or JSON, for a period.
//!
//! Called by `referral-worker export ...` (which writes each chunk to a file
//! or stdout as it comes) and `GET /api/exports/{dataset}` (which streams the
//! chunks as the response body). An [`Exporter`] reads [`PAGE_SIZE`] rows at
//! a time in id order, resuming after the last id it saw (keyset paging, so
//! rows inserted meanwhile neither shift nor repeat a page), joins each page
//! with its referrals, applications, milestones and candidate ids in a few
//! `IN (...)` queries, and encodes it. Memory stays one page whatever the
//! size of the export.
//!
//! The period applies to when a row came into being: `created_at` for
//! payouts and referrals, `occurred_at` for audit events. Test records (a
//! payout, its referral or its candidate marked `is_test`) are left out
//! unless the request includes them; the `is_test` column says which rows
//! are test data when they are included. The audit log has no test records.
//!
//! Exports contain ids, dates, amounts and reason codes, never candidates'
//! names, emails or phones.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    str::FromStr,
};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use entities::{
    application, audit_event, candidate_ats_id, milestone,
    milestone::MilestoneKind,
    payout::{self, PayoutState},
    referral::{self, ReferralSource, ReferralState},
    referral_link,
    states::Ats,
};
use futures::Stream;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Select,
};
use serde::Serialize;
use serde_json::Value;

use super::{Period, ats_ids_by_candidate, is_full, next_page, test_candidates};
use crate::error::{Error, Result};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// The payout ledger, one row per (referral, tranche).
    Payouts,
    /// Every attribution claim, credited or not.
    Referrals,
    /// The audit log, with its hash chain.
    Audit,
}

impl Dataset {
    /// Every dataset, in the order help texts list them.
    pub const ALL: [Dataset; 3] = [Dataset::Payouts, Dataset::Referrals, Dataset::Audit];

    /// The name in URLs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Payouts => "payouts",
            Dataset::Referrals => "referrals",
            Dataset::Audit => "audit",
        }
    }

    /// The CSV header (and the JSON keys) of the dataset, in column order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Dataset::Payouts => PayoutRow::COLUMNS,
            Dataset::Referrals => ReferralRow::COLUMNS,
            Dataset::Audit => AuditRow::COLUMNS,
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
            .ok_or_else(|| format!("no export named `{s}`: one of payouts, referrals, audit"))
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

/// One payout ledger row with the facts finance reconciles it against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayoutRow {
    /// Our payout id.
    pub payout_id: i64,
    /// The credited referral it rewards.
    pub referral_id: i64,
    /// HRIS id of the referrer.
    pub employee_id: Option<String>,
    /// The ATS the application lives in.
    pub ats: Option<Ats>,
    /// The candidate's ids in that ATS (several only for duplicates the ATS
    /// has not merged).
    pub candidate_ats_ids: Vec<String>,
    /// The ATS application id.
    pub application: Option<String>,
    /// The ATS job id.
    pub job_id: Option<String>,
    /// The milestone that triggered the tranche.
    pub milestone: Option<MilestoneKind>,
    /// The tranche name from the bonus rule.
    pub tranche: String,
    /// When the ATS recorded the hire.
    pub hired_at: Option<DateTime<Utc>>,
    /// First working day.
    pub start_date: Option<DateTime<Utc>>,
    /// When the payout became eligible.
    pub eligible_at: Option<DateTime<Utc>>,
    /// When the last delivery attempt was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When the bonus system acknowledged it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Amount in the currency's minor unit.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Where the payout stands.
    pub state: PayoutState,
    /// Why it is ineligible, cancelled, held or dead.
    pub reason: Option<String>,
    /// When the ledger row was made (what the period filters on).
    pub created_at: DateTime<Utc>,
    /// The payout, its referral or its candidate is test data.
    pub is_test: bool,
}

/// One attribution claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferralRow {
    /// Our referral id.
    pub referral_id: i64,
    /// HRIS id of the referrer.
    pub employee_id: String,
    /// The candidate's ATS ids, in every ATS.
    pub candidate_ats_ids: Vec<String>,
    /// The ATS of the application, once known.
    pub ats: Option<Ats>,
    /// The ATS application id, once known.
    pub application: Option<String>,
    /// The ATS job id (from the application, else the referral link).
    pub job_id: Option<String>,
    /// How the referral reached us.
    pub source: ReferralSource,
    /// The attribution decision.
    pub state: ReferralState,
    /// Why it lost, is ineligible or was voided.
    pub reason: Option<String>,
    /// When the referral happened (link click or ATS credit).
    pub referred_at: DateTime<Utc>,
    /// When the row was made (what the period filters on).
    pub created_at: DateTime<Utc>,
    /// The referral or its candidate is test data.
    pub is_test: bool,
}

/// One audit event, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Event id (the chain's order).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What kind of thing it happened to.
    pub subject_type: String,
    /// Which one.
    pub subject_id: String,
    /// Details: JSON (a string when the stored text is not JSON, which
    /// `audit verify` reports).
    pub data: Value,
    /// The chain it belongs to (`prev_hash` links within a lane).
    pub lane: i16,
    /// The previous event's hash in its lane.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// `data` exactly as stored, for CSV.
    #[serde(skip)]
    data_text: String,
}

/// A row type's columns, for CSV. The JSON keys are the serde field names,
/// which a unit test holds equal to these.
trait Record: Serialize {
    const COLUMNS: &'static [&'static str];

    fn fields(&self) -> Vec<String>;
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_default()
}

fn opt(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

fn enum_text<E: ActiveEnum<Value = String>>(e: Option<E>) -> String {
    e.map(|e| e.to_value()).unwrap_or_default()
}

impl Record for PayoutRow {
    const COLUMNS: &'static [&'static str] = &[
        "payout_id",
        "referral_id",
        "employee_id",
        "ats",
        "candidate_ats_ids",
        "application",
        "job_id",
        "milestone",
        "tranche",
        "hired_at",
        "start_date",
        "eligible_at",
        "sent_at",
        "delivered_at",
        "amount_minor",
        "currency",
        "state",
        "reason",
        "created_at",
        "is_test",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.payout_id.to_string(),
            self.referral_id.to_string(),
            opt(self.employee_id.as_deref()),
            enum_text(self.ats),
            self.candidate_ats_ids.join(";"),
            opt(self.application.as_deref()),
            opt(self.job_id.as_deref()),
            enum_text(self.milestone),
            self.tranche.clone(),
            opt_time(self.hired_at),
            opt_time(self.start_date),
            opt_time(self.eligible_at),
            opt_time(self.sent_at),
            opt_time(self.delivered_at),
            self.amount_minor.to_string(),
            self.currency.clone(),
            self.state.to_value(),
            opt(self.reason.as_deref()),
            time(self.created_at),
            self.is_test.to_string(),
        ]
    }
}

impl Record for ReferralRow {
    const COLUMNS: &'static [&'static str] = &[
        "referral_id",
        "employee_id",
        "candidate_ats_ids",
        "ats",
        "application",
        "job_id",
        "source",
        "state",
        "reason",
        "referred_at",
        "created_at",
        "is_test",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.referral_id.to_string(),
            self.employee_id.clone(),
            self.candidate_ats_ids.join(";"),
            enum_text(self.ats),
            opt(self.application.as_deref()),
            opt(self.job_id.as_deref()),
            self.source.to_value(),
            self.state.to_value(),
            opt(self.reason.as_deref()),
            time(self.referred_at),
            time(self.created_at),
            self.is_test.to_string(),
        ]
    }
}

impl Record for AuditRow {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "at",
        "actor",
        "action",
        "subject_type",
        "subject_id",
        "data",
        "lane",
        "prev_hash",
        "hash",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            time(self.at),
            self.actor.clone(),
            self.action.clone(),
            self.subject_type.clone(),
            self.subject_id.clone(),
            self.data_text.clone(),
            self.lane.to_string(),
            self.prev_hash.clone(),
            self.hash.clone(),
        ]
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
    /// Database errors; an encoding failure (a bug) as [`Error::Permanent`].
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
                payout_id: p.id,
                referral_id: p.referral_id,
                employee_id: r.map(|r| r.employee_id.clone()),
                ats: app.map(|a| a.ats),
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
                referral_id: r.id,
                employee_id: r.employee_id,
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

fn write_csv<I, R, F>(out: &mut Vec<u8>, records: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for record in records {
        writer
            .write_record(record)
            .map_err(|e| Error::permanent(format!("encoding CSV: {e}")))?;
    }
    let encoded = writer
        .into_inner()
        .map_err(|e| Error::permanent(format!("encoding CSV: {e}")))?;
    out.extend_from_slice(&encoded);
    Ok(())
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
mod tests {
    use super::*;

    fn keys(row: &impl Serialize) -> Vec<String> {
        match serde_json::to_value(row).expect("serialisable") {
            Value::Object(map) => {
                let mut keys: Vec<String> = map.keys().cloned().collect();
                keys.sort();
                keys
            }
            other => panic!("not an object: {other}"),
        }
    }

    fn sorted(columns: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-15T09:30:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("a valid timestamp")
    }

    fn payout_row() -> PayoutRow {
        PayoutRow {
            payout_id: 7,
            referral_id: 3,
            employee_id: Some("E-1".into()),
            ats: Some(Ats::Greenhouse),
            candidate_ats_ids: vec!["901".into(), "902".into()],
            application: Some("1201".into()),
            job_id: Some("40".into()),
            milestone: Some(MilestoneKind::Hire),
            tranche: "hire".into(),
            hired_at: Some(at()),
            start_date: None,
            eligible_at: Some(at()),
            sent_at: None,
            delivered_at: None,
            amount_minor: 150_000,
            currency: "EUR".into(),
            state: PayoutState::Eligible,
            reason: Some("a, \"quoted\"\nreason".into()),
            created_at: at(),
            is_test: false,
        }
    }

    #[test]
    fn csv_columns_are_the_json_keys() {
        let referral = ReferralRow {
            referral_id: 1,
            employee_id: "E-1".into(),
            candidate_ats_ids: vec![],
            ats: None,
            application: None,
            job_id: None,
            source: ReferralSource::ReferralLink,
            state: ReferralState::Credited,
            reason: None,
            referred_at: at(),
            created_at: at(),
            is_test: false,
        };
        let audit = AuditRow {
            id: 1,
            at: at(),
            actor: "system".into(),
            action: "x".into(),
            subject_type: "payout".into(),
            subject_id: "1".into(),
            data: Value::Null,
            lane: 0,
            prev_hash: String::new(),
            hash: String::new(),
            data_text: "null".into(),
        };
        assert_eq!(keys(&payout_row()), sorted(PayoutRow::COLUMNS));
        assert_eq!(payout_row().fields().len(), PayoutRow::COLUMNS.len());
        assert_eq!(keys(&referral), sorted(ReferralRow::COLUMNS));
        assert_eq!(referral.fields().len(), ReferralRow::COLUMNS.len());
        assert_eq!(keys(&audit), sorted(AuditRow::COLUMNS));
        assert_eq!(audit.fields().len(), AuditRow::COLUMNS.len());
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_joins_lists() {
        let mut out = Vec::new();
        write_csv(&mut out, [payout_row().fields()]).expect("encodes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with("7,3,E-1,greenhouse,901;902,1201,40,hire,hire,2026-01-15T09:30:00Z,,"),
            "{text}"
        );
        assert!(text.contains("\"a, \"\"quoted\"\"\nreason\""), "{text}");
    }

    #[test]
    fn names_parse_back() {
        for d in Dataset::ALL {
            assert_eq!(d.name().parse::<Dataset>(), Ok(d));
        }
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("xml".parse::<Format>().is_err());
        assert!("payout".parse::<Dataset>().is_err());
    }

    #[test]
    fn the_file_name_shows_the_last_day_included() {
        let request = ExportRequest {
            dataset: Dataset::Payouts,
            format: Format::Csv,
            period: Period::parse("2026-01-01", "2026-01-31").expect("a period"),
            include_test: false,
        };
        assert_eq!(request.file_name(), "payouts_2026-01-01_2026-01-31.csv");
    }
}
