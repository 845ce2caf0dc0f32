//! Employees: the people who refer. Synced from the HRIS by
//! `POST /api/employees` or `referral-worker employees import FILE.csv`.
//!
//! Employees matter to attribution twice: a referral by an inactive employee
//! is recorded but ineligible, and a candidate whose email is the referrer's
//! own is a self-referral.

use chrono::Utc;
use entities::employee;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
    identity::CanonicalEmail,
};

/// An employee as the HRIS describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployeeRecord {
    /// The HRIS id.
    pub employee_id: String,
    /// Work email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Still employed.
    #[serde(default = "yes")]
    pub active: bool,
    /// For a new hire: their candidate id in the ATS, which links the hire
    /// to this employee ([`super::hires`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ats_candidate_id: Option<String>,
    /// For a new hire: their application id in the ATS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ats_application_id: Option<String>,
}

fn yes() -> bool {
    true
}

impl EmployeeRecord {
    /// Checks the fields, naming the first bad one.
    ///
    /// # Errors
    /// [`Error::Invalid`].
    pub fn validate(&self) -> Result<CanonicalEmail> {
        let id = self.employee_id.trim();
        if id.is_empty() || id.len() > 64 {
            return Err(Error::invalid("employee_id", "must be 1 to 64 characters"));
        }
        for (field, value) in [
            ("ats_candidate_id", &self.ats_candidate_id),
            ("ats_application_id", &self.ats_application_id),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().len() > 255) {
                return Err(Error::invalid(field, "must be at most 255 characters"));
            }
        }
        if self.name.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        CanonicalEmail::parse(&self.email)
            .ok_or_else(|| Error::invalid("email", "is not an email address"))
    }
}

/// Whether an upsert created or changed a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Upserted {
    /// A new employee.
    Created,
    /// An existing employee's fields changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

/// Creates or updates an employee by HRIS id. One transaction per employee,
/// so an import never leaves half a row.
///
/// # Errors
/// [`Error::Invalid`] for bad fields; database errors.
pub async fn upsert(
    db: &DatabaseConnection,
    actor: &str,
    rec: &EmployeeRecord,
) -> Result<Upserted> {
    let canonical = rec.validate()?;
    let employee_id = rec.employee_id.trim().to_string();
    let tx = begin_locked(db, &[format!("employee:{employee_id}")]).await?;
    let existing = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(&employee_id))
        .one(&tx)
        .await?;
    let now = Utc::now();
    let outcome = match existing {
        None => {
            employee::ActiveModel {
                employee_id: Set(employee_id.clone()),
                email: Set(rec.email.trim().to_string()),
                email_canonical: Set(canonical.as_str().to_string()),
                name: Set(rec.name.trim().to_string()),
                active: Set(rec.active),
                deactivated_at: Set((!rec.active).then_some(now)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
            Upserted::Created
        }
        Some(e)
            if e.email == rec.email.trim()
                && e.name == rec.name.trim()
                && e.active == rec.active =>
        {
            Upserted::Unchanged
        }
        // Erased on request or by retention: an HRIS feed that still lists
        // them as gone must not bring their data back (see
        // `crate::privacy`). Rehired, they are a referrer again.
        Some(e) if e.erased_at.is_some() && !e.active && !rec.active => Upserted::Unchanged,
        Some(e) => {
            let was_active = e.active;
            let mut a: employee::ActiveModel = e.into();
            a.email = Set(rec.email.trim().to_string());
            a.email_canonical = Set(canonical.as_str().to_string());
            a.name = Set(rec.name.trim().to_string());
            a.active = Set(rec.active);
            if was_active != rec.active {
                a.deactivated_at = Set((!rec.active).then_some(now));
            }
            if rec.active {
                a.erased_at = Set(None);
                a.erasure_tombstone = Set(None);
            }
            a.updated_at = Set(now);
            a.update(&tx).await?;
            if was_active != rec.active {
                tx.audit(AuditEntry {
                    actor: actor.to_string(),
                    action: if rec.active {
                        "employee.reactivated"
                    } else {
                        "employee.deactivated"
                    }
                    .into(),
                    subject_type: "employee".into(),
                    subject_id: employee_id.clone(),
                    data: json!({}),
                });
            }
            Upserted::Updated
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// A CSV row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub problem: String,
}

/// Good rows with their line numbers, and the bad rows' errors.
pub type ParsedCsv = (Vec<(u64, EmployeeRecord)>, Vec<RowError>);

/// Reads an HRIS export with columns `employee_id, email, name, active`
/// and, optionally, `ats_candidate_id` and `ats_application_id` for new
/// hires (header required, any order; `active` is true/false/yes/no/1/0;
/// a blank id is none). Returns
/// the good rows with their line numbers and the bad rows' errors.
///
/// # Errors
/// [`Error::Invalid`] when the header lacks a required column.
pub fn parse_csv(text: &str) -> Result<ParsedCsv> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::invalid("header", e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| Error::invalid("header", format!("missing column {name:?}")))
    };
    let (c_id, c_email, c_name, c_active) = (
        col("employee_id")?,
        col("email")?,
        col("name")?,
        col("active")?,
    );
    let optional = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (c_candidate, c_application) =
        (optional("ats_candidate_id"), optional("ats_application_id"));
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(RowError {
                    line,
                    problem: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("").to_string();
        let active = match field(c_active).to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "y" | "active" => true,
            "false" | "no" | "0" | "n" | "inactive" => false,
            other => {
                bad.push(RowError {
                    line,
                    problem: format!("active: {other:?} is not true/false"),
                });
                continue;
            }
        };
        let id_in = |c: Option<usize>| c.map(field).filter(|v| !v.is_empty());
        let rec = EmployeeRecord {
            employee_id: field(c_id),
            email: field(c_email),
            name: field(c_name),
            active,
            ats_candidate_id: id_in(c_candidate),
            ats_application_id: id_in(c_application),
        };
        match rec.validate() {
            Ok(_) => good.push((line, rec)),
            Err(e) => bad.push(RowError {
                line,
                problem: e.to_string(),
            }),
        }
    }
    Ok((good, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_read_by_header_and_bad_rows_named_by_line() {
        let text = "name,employee_id,email,active\n\
                    Ada,E1,ada@acme.example,true\n\
                    Bob,E2,not-an-email,true\n\
                    Cy,E3,cy@acme.example,maybe\n\
                    Di,,di@acme.example,no\n\
                    Ed,E5,ed@acme.example,no\n";
        let (good, bad) = parse_csv(text).expect("header ok");
        assert_eq!(
            good.iter()
                .map(|(l, r)| (*l, r.employee_id.as_str(), r.active))
                .collect::<Vec<_>>(),
            vec![(2, "E1", true), (6, "E5", false)]
        );
        assert_eq!(
            bad.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(bad[0].problem.contains("email"));
    }

    #[test]
    fn a_new_hire_row_may_name_its_ats_ids() {
        let text = "employee_id,email,name,active,ats_candidate_id,ats_application_id\n\
                    E7,new@acme.example,New,false,90077001,120450001\n\
                    E8,old@acme.example,Old,true,,\n";
        let (good, bad) = parse_csv(text).expect("header ok");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good[0].1.ats_candidate_id.as_deref(), Some("90077001"));
        assert_eq!(good[0].1.ats_application_id.as_deref(), Some("120450001"));
        assert_eq!(good[1].1.ats_candidate_id, None, "a blank id is none");
    }

    #[test]
    fn a_missing_column_is_refused() {
        let err =
            parse_csv("employee_id,email,name\nE1,a@b.example,A\n").expect_err("no active column");
        assert!(err.to_string().contains("active"));
    }
}
