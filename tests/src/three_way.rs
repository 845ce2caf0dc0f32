//! Helpers of the three-way reconciliation tests (`tests/tests/api/three_way.rs`):
//! the month under test, imports through the JSON API and through the real
//! binary's `reconcile import-…` commands, an on-demand comparison, and a
//! report's variances by kind.

use std::{collections::BTreeMap, path::Path};

use chrono::{Datelike, NaiveDate, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{app::TestApp, app::binary_path, fixtures::tokens};

/// This month (UTC), as imports name it: `YYYY-MM`.
pub fn this_month() -> String {
    month_of(Utc::now().date_naive())
}

/// The month of `day`, `YYYY-MM`.
pub fn month_of(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

/// Today (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    Utc::now().date_naive().to_string()
}

/// `POST /api/reconciliation/imports/{source}` with `{period, rows}` as ops.
pub async fn import_json(
    app: &TestApp,
    source: &str,
    period: &str,
    rows: Value,
) -> (StatusCode, Value) {
    post(
        app,
        &format!("/api/reconciliation/imports/{source}"),
        json!({ "period": period, "rows": rows }),
    )
    .await
}

/// `POST /api/reconciliation/three-way` for `period` as ops.
pub async fn three_way_now(app: &TestApp, period: &str) -> (StatusCode, Value) {
    post(
        app,
        "/api/reconciliation/three-way",
        json!({ "period": period, "reason": "month-end close" }),
    )
    .await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(tokens::OPS)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET path` as ops, as JSON (asserting 200).
pub async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// What one run of the binary ended with.
#[derive(Debug)]
pub struct Ran {
    /// The exit code.
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `referral-worker ARGS` against `database_url` only (no Redis: the
/// imports and the comparison need no queue), as operator `finance`.
pub fn referral_worker(database_url: &str, args: &[&str]) -> Ran {
    let out = std::process::Command::new(binary_path())
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("USER", "finance")
        .output()
        .expect("run the binary");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `csv` to a fresh file in `dir` and returns its path as text.
pub fn csv_file(dir: &Path, name: &str, csv: &str) -> String {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join(name);
    std::fs::write(&path, csv).expect("write the CSV");
    path.to_string_lossy().into_owned()
}

/// A report's (or a recorded run's) variances: kind → subject ids, sorted.
pub fn by_kind(variances: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in variances.as_array().expect("a list of variances") {
        out.entry(v["kind"].as_str().expect("kind").to_owned())
            .or_default()
            .push(v["subject_id"].as_str().expect("subject id").to_owned());
    }
    for ids in out.values_mut() {
        ids.sort();
    }
    out
}
