//! Tests of `finance/export/mod.rs`.

use chrono::{DateTime, Utc};
use entities::{
    milestone::MilestoneKind,
    payout::PayoutState,
    referral::{ReferralSource, ReferralState},
};
use serde::Serialize;

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
        payout_id: "pay_01JDQZ6Y3V1R9N8XK2M4P5T7WA".into(),
        referral_id: Some("ref_01JDQZ6Y3V1R9N8XK2M4P5T7WB".into()),
        employee_id: Some("E-1".into()),
        ats: Some(Ats::Greenhouse),
        candidate_id: Some(12),
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
        idempotency_key: "ref_01JDQZ6Y3V1R9N8XK2M4P5T7WB:hired".into(),
        created_at: at(),
        is_test: false,
    }
}

#[test]
fn csv_columns_are_the_json_keys() {
    let referral = ReferralRow {
        referral_id: "ref_01JDQZ6Y3V1R9N8XK2M4P5T7WB".into(),
        employee_id: "E-1".into(),
        candidate_id: 12,
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
    let variance = VarianceRow {
        run_id: 3,
        scope: entities::reconciliation_run::RunScope::ThreeWay,
        trigger: "day7:2026-12-01".into(),
        run_started_at: at(),
        period_from: Some(at()),
        period_until: None,
        kind: entities::reconciliation_item::VarianceKind::HireNotInCrm,
        subject_type: "application".into(),
        subject_id: "7".into(),
        resolved: false,
        suggested_fix: Some("=add it to the CRM".into()),
        detail: Value::Null,
        detail_text: "null".into(),
    };
    assert_eq!(keys(&variance), sorted(VarianceRow::COLUMNS));
    let fields = variance.fields();
    assert_eq!(fields.len(), VarianceRow::COLUMNS.len());
    assert_eq!(
        (fields[1].as_str(), fields[6].as_str()),
        ("three_way", "hire_not_in_crm")
    );
}

#[test]
fn csv_quotes_what_needs_quoting_and_joins_lists() {
    let mut out = Vec::new();
    write_csv(&mut out, [payout_row().fields()]).expect("encodes");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(
        text.starts_with(
            "pay_01JDQZ6Y3V1R9N8XK2M4P5T7WA,ref_01JDQZ6Y3V1R9N8XK2M4P5T7WB,E-1,greenhouse,12,\
             901;902,1201,40,hire,hire,2026-01-15T09:30:00Z,,"
        ),
        "{text}"
    );
    assert!(text.contains("\"a, \"\"quoted\"\"\nreason\""), "{text}");
    assert!(
        text.contains(",ref_01JDQZ6Y3V1R9N8XK2M4P5T7WB:hired,"),
        "the idempotency key: {text}"
    );
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

#[test]
fn csv_cells_that_a_spreadsheet_would_run_are_written_as_text() {
    let mut row = payout_row();
    row.reason = Some("=HYPERLINK(\"http://evil.example\",\"x\")".into());
    row.job_id = Some("@SUM(A1)".into());
    let mut out = Vec::new();
    write_csv(&mut out, [row.fields()]).expect("encodes");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains(",'@SUM(A1),"), "{text}");
    assert!(text.contains("\"'=HYPERLINK("), "{text}");
    assert!(!text.contains(",=") && !text.contains(",@"), "{text}");
}
