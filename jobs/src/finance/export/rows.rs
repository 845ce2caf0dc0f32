//! The rows an export is made of ([`PayoutRow`], [`ReferralRow`],
//! [`AuditRow`], [`ReportRow`], [`VarianceRow`]) and how one becomes a CSV record: the column order, dates
//! in RFC 3339, enums by their stored names. JSON is the rows serialised as
//! they are. Used by the [`super::Exporter`].

use chrono::{DateTime, SecondsFormat, Utc};
use entities::{
    milestone::MilestoneKind,
    payout::PayoutState,
    reconciliation_item::VarianceKind,
    reconciliation_run::RunScope,
    referral::{ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::ActiveEnum;
use serde::Serialize;
use serde_json::Value;

use crate::{
    error::{Error, Result},
    finance::spreadsheet::neutralise,
};

/// One payout ledger row with the facts finance reconciles it against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayoutRow {
    /// The payout's public id (`pay_…`), as the bonus system and alerts
    /// name it.
    pub payout_id: String,
    /// The public id (`ref_…`) of the credited referral it rewards.
    pub referral_id: Option<String>,
    /// HRIS id of the referrer.
    pub employee_id: Option<String>,
    /// The ATS the application lives in.
    pub ats: Option<Ats>,
    /// Our candidate id: one person, whichever ATS ids they have.
    pub candidate_id: Option<i64>,
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
    /// The `Idempotency-Key` the bonus system files it under.
    pub idempotency_key: String,
    /// When the ledger row was made (what the period filters on).
    pub created_at: DateTime<Utc>,
    /// The payout, its referral or its candidate is test data.
    pub is_test: bool,
}

/// One attribution claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferralRow {
    /// The referral's public id (`ref_…`).
    pub referral_id: String,
    /// HRIS id of the referrer.
    pub employee_id: String,
    /// Our candidate id: two referrals with the same one are one person,
    /// before (or without) any ATS id.
    pub candidate_id: i64,
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
    pub(super) data_text: String,
}

/// One scheduled KPI report, as sent to the CRM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The report's id (`report_id` in its `report.kpis` message).
    pub report_id: i64,
    /// `cron:reports:<tick>`.
    pub trigger: String,
    /// First instant covered.
    pub period_from: DateTime<Utc>,
    /// First instant after the period.
    pub period_until: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Whether a CRM message carried it.
    pub sent_to_crm: bool,
    /// The KPIs as sent (JSON).
    pub kpis: Value,
    /// `kpis` exactly as stored, for CSV.
    #[serde(skip)]
    pub(super) kpis_text: String,
}

/// One variance of a reconciliation run (nightly or three-way), with the
/// run it belongs to and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VarianceRow {
    /// The run.
    pub run_id: i64,
    /// `ledger` or `three_way`.
    pub scope: RunScope,
    /// The run's trigger (`cron:…`, `manual:…`, `day7:…`).
    pub trigger: String,
    /// When the run started.
    pub run_started_at: DateTime<Utc>,
    /// The period a three-way run compared.
    pub period_from: Option<DateTime<Utc>>,
    /// Its end (exclusive).
    pub period_until: Option<DateTime<Utc>>,
    /// The variance's kind.
    pub kind: VarianceKind,
    /// What it is about.
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// Fixed by the run or marked handled.
    pub resolved: bool,
    /// What a person should do about it.
    pub suggested_fix: Option<String>,
    /// Ids and values on each side (JSON).
    pub detail: Value,
    /// `detail` as stored, for CSV.
    #[serde(skip)]
    pub(super) detail_text: String,
}

/// A row type's columns, for CSV. The JSON keys are the serde field names,
/// which a unit test holds equal to these.
pub(super) trait Record: Serialize {
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
        "candidate_id",
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
        "idempotency_key",
        "created_at",
        "is_test",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.payout_id.clone(),
            opt(self.referral_id.as_deref()),
            opt(self.employee_id.as_deref()),
            enum_text(self.ats),
            self.candidate_id.map(|c| c.to_string()).unwrap_or_default(),
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
            self.idempotency_key.clone(),
            time(self.created_at),
            self.is_test.to_string(),
        ]
    }
}

impl Record for ReferralRow {
    const COLUMNS: &'static [&'static str] = &[
        "referral_id",
        "employee_id",
        "candidate_id",
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
            self.referral_id.clone(),
            self.employee_id.clone(),
            self.candidate_id.to_string(),
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

impl Record for ReportRow {
    const COLUMNS: &'static [&'static str] = &[
        "report_id",
        "trigger",
        "period_from",
        "period_until",
        "created_at",
        "sent_to_crm",
        "kpis",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.report_id.to_string(),
            self.trigger.clone(),
            time(self.period_from),
            time(self.period_until),
            time(self.created_at),
            self.sent_to_crm.to_string(),
            self.kpis_text.clone(),
        ]
    }
}

impl Record for VarianceRow {
    const COLUMNS: &'static [&'static str] = &[
        "run_id",
        "scope",
        "trigger",
        "run_started_at",
        "period_from",
        "period_until",
        "kind",
        "subject_type",
        "subject_id",
        "resolved",
        "suggested_fix",
        "detail",
    ];

    fn fields(&self) -> Vec<String> {
        vec![
            self.run_id.to_string(),
            self.scope.to_value(),
            self.trigger.clone(),
            time(self.run_started_at),
            opt_time(self.period_from),
            opt_time(self.period_until),
            self.kind.to_value(),
            self.subject_type.clone(),
            self.subject_id.clone(),
            self.resolved.to_string(),
            opt(self.suggested_fix.as_deref()),
            self.detail_text.clone(),
        ]
    }
}

pub(super) fn write_csv<I, R, F>(out: &mut Vec<u8>, records: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for record in records {
        let cells = record
            .into_iter()
            .map(|cell| neutralise(cell.as_ref()).into_owned());
        writer
            .write_record(cells)
            .map_err(|e| Error::permanent(format!("encoding CSV: {e}")))?;
    }
    let encoded = writer
        .into_inner()
        .map_err(|e| Error::permanent(format!("encoding CSV: {e}")))?;
    out.extend_from_slice(&encoded);
    Ok(())
}
