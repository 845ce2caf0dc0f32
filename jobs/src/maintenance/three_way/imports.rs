//! The outside systems' monthly lists, imported: the referral platform's
//! referrals and the CRM's hires, each for one month (`YYYY-MM`, UTC).
//!
//! One import per (source, month): importing a month again replaces its
//! rows (the same file again changes nothing), so re-running an import
//! never doubles what the comparison sees. Every row is checked before
//! anything is written; the first bad one is refused by line (CSV) or
//! index (JSON) and field, and the stored import stays as it was.
//!
//! Rows hold ids and dates only: columns other than those below are
//! refused, so a list carrying names or emails never gets in.
//!
//! | source | columns (`*` required) |
//! |---|---|
//! | `platform` | `platform_referral_id`*, `employee_id`*, `referred_on`* (`YYYY-MM-DD`, in the month), `referral_id` (our `ref_…`), `ats`, `ats_application_id` |
//! | `crm` | `crm_hire_id`*, `ats`*, `ats_application_id`*, `hired_on`* (`YYYY-MM-DD`, in the month), `employee_id` (the referrer) |
//!
//! Called by `referral-worker reconcile import-platform|import-crm` and
//! `POST /api/reconciliation/imports/{source}`.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use entities::{
    reconciliation_import::{self, ImportSource},
    reconciliation_import_row,
    states::Ats,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    db::{
        audit::{AuditEntry, sha256_hex},
        begin_locked,
    },
    error::{Error, Result},
    finance::Period,
};

/// A calendar month, UTC: the unit imports come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// Parses `YYYY-MM`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `period`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::invalid("period", format!("{text:?} is not a month YYYY-MM"));
        let (y, m) = text.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (y, m) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
        Ok(Month { first })
    }

    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        let d = at.date_naive();
        Month {
            first: d.with_day(1).unwrap_or(d),
        }
    }

    /// The month after.
    pub fn next(self) -> Option<Self> {
        self.first
            .checked_add_months(Months::new(1))
            .map(|first| Month { first })
    }

    /// The month as a period, midnight UTC to midnight UTC.
    pub fn period(self) -> Result<Period> {
        let until = self
            .next()
            .ok_or_else(|| Error::invalid("period", "is past the calendar's end"))?;
        Ok(Period {
            from: midnight(self.first),
            until: midnight(until.first),
        })
    }

    /// Every month `period` touches.
    pub fn covering(period: Period) -> Vec<Month> {
        let mut months = Vec::new();
        let mut m = Month::of(period.from);
        while midnight(m.first) < period.until {
            months.push(m);
            match m.next() {
                Some(next) => m = next,
                None => break,
            }
        }
        months
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The source as URLs and commands name it (`platform`, `crm`).
///
/// # Errors
/// [`Error::Invalid`] naming `source`.
pub fn parse_source(text: &str) -> Result<ImportSource> {
    serde_json::from_value(Value::String(text.to_owned())).map_err(|_| {
        Error::invalid(
            "source",
            format!("{text:?} is not an import source: platform or crm"),
        )
    })
}

/// One checked row, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportRow {
    /// Line in the file (header = 1) or index in the JSON list plus one.
    pub line: i32,
    /// The source's id of the row.
    pub external_id: String,
    /// Our `ref_…`, when the platform has it.
    pub referral_id: Option<String>,
    /// The referrer.
    pub employee_id: Option<String>,
    /// The application's ATS.
    pub ats: Option<Ats>,
    /// The application in that ATS.
    pub ats_application_id: Option<String>,
    /// Day referred (platform) or hired (CRM).
    pub occurred_on: NaiveDate,
}

/// The columns of a source: (id column, date column, required others, optional).
fn columns(
    source: ImportSource,
) -> (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
) {
    match source {
        ImportSource::Platform => (
            "platform_referral_id",
            "referred_on",
            &["employee_id"],
            &["referral_id", "ats", "ats_application_id"],
        ),
        ImportSource::Crm => (
            "crm_hire_id",
            "hired_on",
            &["ats", "ats_application_id"],
            &["employee_id"],
        ),
    }
}

/// Checks one row, its fields by name (empty cells absent); `at(field)`
/// names a field for an error (`line 3: hired_on`, `rows[2].hired_on`).
fn check_row(
    source: ImportSource,
    month: Month,
    line: i32,
    fields: &BTreeMap<String, String>,
    at: &dyn Fn(&str) -> String,
) -> Result<ImportRow> {
    let (id_col, date_col, required, optional) = columns(source);
    for name in fields.keys() {
        let known = name == id_col
            || name == date_col
            || required.contains(&name.as_str())
            || optional.contains(&name.as_str());
        if !known {
            let mut all = vec![id_col, date_col];
            all.extend_from_slice(required);
            all.extend_from_slice(optional);
            return Err(Error::invalid(
                at(name),
                format!(
                    "is not a column of a {} import ({})",
                    source_name(source),
                    all.join(", ")
                ),
            ));
        }
    }
    let get = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let need = |name: &str| get(name).ok_or_else(|| Error::invalid(at(name), "is required"));
    for name in [id_col].iter().chain(required) {
        need(name)?;
    }
    for (name, max) in [
        (id_col, 255),
        ("referral_id", 64),
        ("employee_id", 64),
        ("ats_application_id", 255),
    ] {
        if get(name).is_some_and(|v| v.len() > max) {
            return Err(Error::invalid(
                at(name),
                format!("must be at most {max} characters"),
            ));
        }
    }
    let day = need(date_col)?;
    let occurred_on = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| Error::invalid(at(date_col), format!("{day:?} is not a date YYYY-MM-DD")))?;
    if Month::of(midnight(occurred_on)) != month {
        return Err(Error::invalid(
            at(date_col),
            format!("{occurred_on} is not in the imported month {month}"),
        ));
    }
    let ats = match get("ats") {
        None => None,
        Some(name) => Some(serde_json::from_value::<Ats>(Value::String(name.to_owned())).map_err(|_| {
            Error::invalid(
                at("ats"),
                format!("{name:?} is not an ATS (greenhouse, lever, ashby, workable, careers_site, generic)"),
            )
        })?),
    };
    if ats.is_some() != get("ats_application_id").is_some() {
        return Err(Error::invalid(
            at(if ats.is_some() {
                "ats_application_id"
            } else {
                "ats"
            }),
            "ats and ats_application_id come together",
        ));
    }
    Ok(ImportRow {
        line,
        external_id: get(id_col).unwrap_or_default().to_owned(),
        referral_id: get("referral_id").map(str::to_owned),
        employee_id: get("employee_id").map(str::to_owned),
        ats,
        ats_application_id: get("ats_application_id").map(str::to_owned),
        occurred_on,
    })
}

fn source_name(source: ImportSource) -> &'static str {
    match source {
        ImportSource::Platform => "platform",
        ImportSource::Crm => "crm",
    }
}

/// A row's id must be unique in its import.
fn no_repeats(rows: &[ImportRow], at: &dyn Fn(i32) -> String) -> Result<()> {
    let mut seen = HashSet::new();
    for r in rows {
        if !seen.insert(r.external_id.as_str()) {
            return Err(Error::invalid(
                at(r.line),
                format!("{:?} appears twice in this import", r.external_id),
            ));
        }
    }
    Ok(())
}

/// Reads a CSV file (header row first) of `source`'s rows for `month`.
///
/// # Errors
/// [`Error::Invalid`] naming the line and column of the first bad row
/// (`line 4: hired_on`), or the header.
pub fn parse_csv(source: ImportSource, month: Month, bytes: &[u8]) -> Result<Vec<ImportRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::invalid("line 1", format!("is not a CSV header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let (id_col, date_col, required, _) = columns(source);
    for name in [id_col, date_col].iter().chain(required) {
        if !headers.iter().any(|h| h == name) {
            return Err(Error::invalid(
                "line 1",
                format!("the header has no column {name}"),
            ));
        }
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i32::try_from(i + 2).unwrap_or(i32::MAX);
        let record = record
            .map_err(|e| Error::invalid(format!("line {line}"), format!("is not CSV: {e}")))?;
        let fields: BTreeMap<String, String> = headers
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        rows.push(check_row(source, month, line, &fields, &|f| {
            format!("line {line}: {f}")
        })?);
    }
    no_repeats(&rows, &|line| format!("line {line}"))?;
    Ok(rows)
}

/// Reads a JSON list of objects (string values or null) of `source`'s rows
/// for `month`.
///
/// # Errors
/// [`Error::Invalid`] naming the first bad field (`rows[2].hired_on`).
pub fn parse_json_rows(
    source: ImportSource,
    month: Month,
    rows: &[Value],
) -> Result<Vec<ImportRow>> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let at = |f: &str| format!("rows[{i}].{f}");
        let Some(object) = row.as_object() else {
            return Err(Error::invalid(format!("rows[{i}]"), "must be an object"));
        };
        let mut fields = BTreeMap::new();
        for (name, value) in object {
            match value {
                Value::Null => {}
                Value::String(s) => {
                    fields.insert(name.clone(), s.clone());
                }
                _ => return Err(Error::invalid(at(name), "must be a string")),
            }
        }
        let line = i32::try_from(i + 1).unwrap_or(i32::MAX);
        out.push(check_row(source, month, line, &fields, &at)?);
    }
    no_repeats(&out, &|line| format!("rows[{}]", line - 1))?;
    Ok(out)
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// The `reconciliation_imports` row.
    pub import_id: i64,
    /// Whose list.
    pub source: ImportSource,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Rows now held for the month.
    pub rows: usize,
    /// Whether an earlier import of the month was replaced.
    pub replaced: bool,
    /// Whether the rows were the same as the month's earlier import
    /// (nothing changed).
    pub unchanged: bool,
}

/// Stores `rows` as `source`'s import for `month`, replacing an earlier
/// one, in one transaction with an audit event.
///
/// # Errors
/// Database errors.
pub async fn store(
    db: &sea_orm::DatabaseConnection,
    source: ImportSource,
    month: Month,
    rows: &[ImportRow],
    actor: &str,
) -> Result<ImportReport> {
    let period = month.to_string();
    let digest = sha256_hex(&serde_json::to_string(rows)?);
    let tx = begin_locked(
        db,
        &[format!(
            "reconciliation_import:{}:{period}",
            source_name(source)
        )],
    )
    .await?;
    let existing = reconciliation_import::Entity::find()
        .filter(reconciliation_import::Column::Source.eq(source))
        .filter(reconciliation_import::Column::Period.eq(&period))
        .one(&tx)
        .await?;
    if let Some(e) = existing.as_ref().filter(|e| e.sha256 == digest) {
        return Ok(ImportReport {
            import_id: e.id,
            source,
            period,
            rows: rows.len(),
            replaced: false,
            unchanged: true,
        });
    }
    let now = Utc::now();
    let row_count = i32::try_from(rows.len()).map_err(|_| Error::invalid("rows", "too many"))?;
    let import = match existing.clone() {
        Some(e) => {
            reconciliation_import_row::Entity::delete_many()
                .filter(reconciliation_import_row::Column::ImportId.eq(e.id))
                .exec(&tx)
                .await?;
            let mut a: reconciliation_import::ActiveModel = e.into();
            a.row_count = Set(row_count);
            a.sha256 = Set(digest.clone());
            a.actor = Set(actor.to_owned());
            a.imported_at = Set(now);
            a.update(&tx).await?
        }
        None => {
            reconciliation_import::ActiveModel {
                source: Set(source),
                period: Set(period.clone()),
                row_count: Set(row_count),
                sha256: Set(digest.clone()),
                actor: Set(actor.to_owned()),
                imported_at: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await?
        }
    };
    for chunk in rows.chunks(200) {
        reconciliation_import_row::Entity::insert_many(chunk.iter().map(|r| {
            reconciliation_import_row::ActiveModel {
                import_id: Set(import.id),
                line: Set(r.line),
                external_id: Set(r.external_id.clone()),
                referral_id: Set(r.referral_id.clone()),
                employee_id: Set(r.employee_id.clone()),
                ats: Set(r.ats),
                ats_application_id: Set(r.ats_application_id.clone()),
                occurred_on: Set(midnight(r.occurred_on)),
                ..Default::default()
            }
        }))
        .exec(&tx)
        .await?;
    }
    tx.audit(AuditEntry {
        actor: actor.to_owned(),
        action: "reconciliation.imported".into(),
        subject_type: "reconciliation_import".into(),
        subject_id: import.id.to_string(),
        data: json!({ "source": source, "period": period, "rows": rows.len(),
                      "sha256": digest, "replaced": existing.is_some() }),
    });
    tx.commit().await?;
    Ok(ImportReport {
        import_id: import.id,
        source,
        period,
        rows: rows.len(),
        replaced: existing.is_some(),
        unchanged: false,
    })
}

/// One stored import, as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredImport {
    /// The row.
    pub import_id: i64,
    /// Whose list.
    pub source: ImportSource,
    /// The month.
    pub period: String,
    /// How many rows.
    pub rows: i32,
    /// Who imported it, when.
    pub actor: String,
    /// When.
    pub imported_at: DateTime<Utc>,
}

/// Every import, newest month first.
///
/// # Errors
/// Database errors.
pub async fn list(conn: &impl sea_orm::ConnectionTrait) -> Result<Vec<StoredImport>> {
    use sea_orm::QueryOrder;
    Ok(reconciliation_import::Entity::find()
        .order_by_desc(reconciliation_import::Column::Period)
        .order_by_asc(reconciliation_import::Column::Source)
        .all(conn)
        .await?
        .into_iter()
        .map(|i| StoredImport {
            import_id: i.id,
            source: i.source,
            period: i.period,
            rows: i.row_count,
            actor: i.actor,
            imported_at: i.imported_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nov() -> Month {
        Month::parse("2026-11").expect("a month")
    }

    #[test]
    fn months_parse_and_cover_periods() {
        assert!(Month::parse("2026-13").is_err());
        assert!(Month::parse("26-11").is_err());
        let p = nov().period().expect("period");
        assert_eq!(p.from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(p.until.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let week = Period {
            from: midnight(NaiveDate::from_ymd_opt(2026, 11, 28).expect("d")),
            until: midnight(NaiveDate::from_ymd_opt(2026, 12, 5).expect("d")),
        };
        let names: Vec<String> = Month::covering(week)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["2026-11", "2026-12"]);
    }

    #[test]
    fn a_bad_row_is_named_by_line_and_column() {
        let csv = "crm_hire_id,ats,ats_application_id,hired_on\nH1,greenhouse,1,2026-11-03\nH2,greenhouse,2,2026-12-01\n";
        let err = parse_csv(ImportSource::Crm, nov(), csv.as_bytes()).expect_err("December");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "line 3: hired_on"),
            "{err}"
        );
        let csv =
            "crm_hire_id,ats,ats_application_id,hired_on,email\nH1,greenhouse,1,2026-11-03,a@b.c\n";
        let err = parse_csv(ImportSource::Crm, nov(), csv.as_bytes()).expect_err("an email column");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "line 2: email"),
            "{err}"
        );
        let csv = "crm_hire_id,ats,ats_application_id,hired_on\nH1,taleo,1,2026-11-03\n";
        let err = parse_csv(ImportSource::Crm, nov(), csv.as_bytes()).expect_err("unknown ATS");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "line 2: ats"),
            "{err}"
        );
        let rows = [
            json!({"platform_referral_id": "P1", "employee_id": "E1", "referred_on": "2026-11-31"}),
        ];
        let err = parse_json_rows(ImportSource::Platform, nov(), &rows).expect_err("no such day");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "rows[0].referred_on"),
            "{err}"
        );
    }

    #[test]
    fn good_rows_parse_with_empty_cells_absent() {
        let csv = "platform_referral_id,referral_id,employee_id,ats,ats_application_id,referred_on\nP1,,E1,,,2026-11-02\nP2,ref_X,E2,lever,opp-1,2026-11-30\n";
        let rows = parse_csv(ImportSource::Platform, nov(), csv.as_bytes()).expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].line, rows[0].ats, rows[0].referral_id.as_deref()),
            (2, None, None)
        );
        assert_eq!(
            (rows[1].ats, rows[1].ats_application_id.as_deref()),
            (Some(Ats::Lever), Some("opp-1"))
        );
        let twice =
            "platform_referral_id,employee_id,referred_on\nP1,E1,2026-11-02\nP1,E2,2026-11-03\n";
        let err = parse_csv(ImportSource::Platform, nov(), twice.as_bytes()).expect_err("P1 twice");
        assert!(
            matches!(&err, Error::Invalid { field, .. } if field == "line 3"),
            "{err}"
        );
    }
}
