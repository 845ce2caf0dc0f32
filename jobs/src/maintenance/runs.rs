//! A reconciliation run's record: its `reconciliation_runs` row, opened once
//! per trigger, its `reconciliation_items`, and how ops and finance read
//! them back (API, CSV, ops page, export).
//!
//! Shared by the nightly ledger run ([`super::reconcile`]) and the
//! three-way comparison ([`super::three_way`]): both open a run under a
//! unique trigger (a second process at the same tick gets `None`), record
//! what they found in one transaction with an audit event, and alert ops
//! when anything was found; a run that fails is closed with its error and
//! alerted too.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{
    reconciliation_item::{self, VarianceKind},
    reconciliation_run::{self, RunScope},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
    finance::Period,
    outbox::{self, Subject},
};

/// One difference found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Variance {
    /// What kind.
    pub kind: VarianceKind,
    /// What it is about (`application`, `payout`, `milestone`,
    /// `ats_application`, `referral`, `platform_referral`, `crm_hire`, `import`).
    pub subject_type: String,
    /// Its id (ours, or the outside system's).
    pub subject_id: String,
    /// Ids and values on each side; no personal data.
    pub detail: Value,
    /// Whether this run fixed it (never in a dry run).
    pub fixed: bool,
    /// What a person should do about it, when the run cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_fix: Option<String>,
}

/// A variance of `kind` about `subject_type` `subject_id`, not fixed.
pub fn variance(
    kind: VarianceKind,
    subject_type: &str,
    subject_id: impl ToString,
    detail: Value,
) -> Variance {
    Variance {
        kind,
        subject_type: subject_type.to_string(),
        subject_id: subject_id.to_string(),
        detail,
        fixed: false,
        suggested_fix: None,
    }
}

/// The kind as stored and shown (`referrer_mismatch`).
pub fn kind_name(kind: VarianceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What a run found and did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunReport {
    /// The `reconciliation_runs` row.
    pub run_id: i64,
    /// Its trigger (`cron:…`, `manual:…`, `day7:…`).
    pub trigger: String,
    /// What it compared.
    pub scope: RunScope,
    /// The period a three-way run compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Whether it only looked.
    pub dry_run: bool,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Every variance.
    pub variances: Vec<Variance>,
    /// Count per kind.
    pub summary: HashMap<String, usize>,
}

/// Opens the run of `trigger`; `None` when it already exists (another
/// process took this tick, or the one-off already ran).
///
/// # Errors
/// Database errors.
pub async fn open(
    ctx: &JobContext,
    trigger: &str,
    scope: RunScope,
    period: Option<Period>,
    dry_run: bool,
) -> Result<Option<reconciliation_run::Model>> {
    let inserted = reconciliation_run::ActiveModel {
        started_at: Set(Utc::now()),
        finished_at: Set(None),
        trigger: Set(trigger.to_string()),
        dry_run: Set(dry_run),
        variance_count: Set(0),
        summary: Set("{}".into()),
        scope: Set(scope),
        period_from: Set(period.map(|p| p.from)),
        period_until: Set(period.map(|p| p.until)),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await;
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            tracing::info!(trigger, "reconciliation already ran for this trigger");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Closes a run that failed with `e`: its row finished with the error in
/// its summary, ops alerted. Returns the error to give the job: permanent,
/// since the trigger has had its run.
///
/// # Errors
/// Database and queue errors while recording the failure.
pub async fn failed(
    ctx: &JobContext,
    run_row: &reconciliation_run::Model,
    e: Error,
) -> Result<Error> {
    let message = e.to_string();
    let trigger = &run_row.trigger;
    let mut a: reconciliation_run::ActiveModel = run_row.clone().into();
    a.finished_at = Set(Some(Utc::now()));
    a.summary = Set(json!({ "error": message }).to_string());
    a.update(&ctx.db).await?;
    let tx = begin_locked(&ctx.db, &[format!("reconciliation:{}", run_row.id)]).await?;
    outbox::alert(
        ctx,
        &tx,
        &format!(
            "reconciliation run {} ({trigger}) failed: {message}",
            run_row.id
        ),
        None,
        Subject {
            kind: "reconciliation_run",
            id: Some(run_row.id),
        },
    )
    .await?;
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(Error::permanent(format!(
        "reconciliation run {} failed: {message}",
        run_row.id
    )))
}

/// Records `variances` on the open run (items, counts, audit event) and
/// alerts ops when there is any, the alert starting with `label`
/// (`reconciliation run 7`).
///
/// # Errors
/// Database and queue errors.
pub async fn record(
    ctx: &JobContext,
    run_row: &reconciliation_run::Model,
    variances: Vec<Variance>,
    actor: &str,
    label: &str,
) -> Result<RunReport> {
    let trigger = run_row.trigger.as_str();
    let mut summary: HashMap<String, usize> = HashMap::new();
    for v in &variances {
        *summary.entry(kind_name(v.kind)).or_default() += 1;
    }
    let tx = begin_locked(&ctx.db, &[format!("reconciliation:{}", run_row.id)]).await?;
    for v in &variances {
        let mut stored = json!({ "detail": v.detail, "fixed": v.fixed });
        if let Some(fix) = &v.suggested_fix {
            stored["suggested_fix"] = json!(fix);
        }
        reconciliation_item::ActiveModel {
            run_id: Set(run_row.id),
            kind: Set(v.kind),
            subject_type: Set(v.subject_type.clone()),
            subject_id: Set(v.subject_id.clone()),
            detail: Set(stored.to_string()),
            resolved: Set(v.fixed),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    let mut a: reconciliation_run::ActiveModel = run_row.clone().into();
    a.finished_at = Set(Some(Utc::now()));
    a.variance_count = Set(variances.len() as i32);
    a.summary = Set(json!(summary).to_string());
    a.update(&tx).await?;
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        action: "reconciliation.completed".into(),
        subject_type: "reconciliation_run".into(),
        subject_id: run_row.id.to_string(),
        data: json!({ "trigger": trigger, "scope": run_row.scope, "dry_run": run_row.dry_run,
                      "variances": variances.len(), "summary": summary }),
    });
    if !variances.is_empty() {
        let mut kinds: Vec<String> = summary.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        kinds.sort();
        outbox::alert(
            ctx,
            &tx,
            &format!(
                "{label} ({trigger}) found {} variance(s): {}",
                variances.len(),
                kinds.join(", ")
            ),
            None,
            Subject {
                kind: "reconciliation_run",
                id: Some(run_row.id),
            },
        )
        .await?;
    }
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(RunReport {
        run_id: run_row.id,
        trigger: trigger.to_string(),
        scope: run_row.scope,
        period: period_of(run_row),
        dry_run: run_row.dry_run,
        started_at: run_row.started_at,
        variances,
        summary,
    })
}

fn period_of(run: &reconciliation_run::Model) -> Option<Period> {
    Some(Period {
        from: run.period_from?,
        until: run.period_until?,
    })
}

/// A recorded run with its items, as ops and finance read it back.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordedRun {
    /// The run.
    pub id: i64,
    /// Its trigger.
    pub trigger: String,
    /// What it compared.
    pub scope: RunScope,
    /// The period a three-way run compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Whether it only looked.
    pub dry_run: bool,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished (`None`: still running, or it died).
    pub finished_at: Option<DateTime<Utc>>,
    /// How many variances it found.
    pub variance_count: i32,
    /// Counts per kind (or `{"error": …}` for a failed run).
    pub summary: Value,
    /// Its variances (empty in a listing).
    pub items: Vec<RecordedItem>,
}

/// One recorded variance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordedItem {
    /// What kind.
    pub kind: VarianceKind,
    /// What it is about.
    pub subject_type: String,
    /// Its id.
    pub subject_id: String,
    /// Fixed by the run, or marked handled by ops.
    pub resolved: bool,
    /// Ids and values on each side.
    pub detail: Value,
    /// What a person should do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_fix: Option<String>,
}

fn recorded(run: reconciliation_run::Model, items: Vec<reconciliation_item::Model>) -> RecordedRun {
    RecordedRun {
        id: run.id,
        period: period_of(&run),
        scope: run.scope,
        trigger: run.trigger,
        dry_run: run.dry_run,
        started_at: run.started_at,
        finished_at: run.finished_at,
        variance_count: run.variance_count,
        summary: serde_json::from_str(&run.summary).unwrap_or(Value::Null),
        items: items.into_iter().map(recorded_item).collect(),
    }
}

/// An item as read back; the fix is kept beside the detail in the stored JSON.
pub fn recorded_item(i: reconciliation_item::Model) -> RecordedItem {
    let detail: Value = serde_json::from_str(&i.detail).unwrap_or(Value::Null);
    RecordedItem {
        kind: i.kind,
        subject_type: i.subject_type,
        subject_id: i.subject_id,
        resolved: i.resolved,
        suggested_fix: detail["suggested_fix"].as_str().map(str::to_owned),
        detail,
    }
}

/// The latest `limit` runs, newest first, without their items; only those
/// of `scope` when given.
///
/// # Errors
/// Database errors.
pub async fn recent_runs(
    conn: &impl sea_orm::ConnectionTrait,
    scope: Option<RunScope>,
    limit: u64,
) -> Result<Vec<RecordedRun>> {
    let mut query = reconciliation_run::Entity::find();
    if let Some(scope) = scope {
        query = query.filter(reconciliation_run::Column::Scope.eq(scope));
    }
    Ok(query
        .order_by_desc(reconciliation_run::Column::Id)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| recorded(r, Vec::new()))
        .collect())
}

/// One run with its items.
///
/// # Errors
/// [`Error::NotFound`]; database errors.
pub async fn recorded_run(conn: &impl sea_orm::ConnectionTrait, id: i64) -> Result<RecordedRun> {
    let Some(run) = reconciliation_run::Entity::find_by_id(id).one(conn).await? else {
        return Err(Error::NotFound(format!("reconciliation run {id}")));
    };
    let items = reconciliation_item::Entity::find()
        .filter(reconciliation_item::Column::RunId.eq(id))
        .order_by_asc(reconciliation_item::Column::Id)
        .all(conn)
        .await?;
    Ok(recorded(run, items))
}

/// A run's items as CSV (`run_id,kind,subject_type,subject_id,resolved,detail`),
/// for finance's spreadsheet, formula-leading cells neutralised
/// ([`crate::finance::spreadsheet`]).
///
/// # Errors
/// Only if writing to memory fails.
pub fn items_csv(run: &RecordedRun) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "run_id",
        "kind",
        "subject_type",
        "subject_id",
        "resolved",
        "detail",
    ];
    let io = |e: csv::Error| Error::permanent(format!("writing CSV: {e}"));
    w.write_record(header).map_err(io)?;
    for i in &run.items {
        let cells = [
            run.id.to_string(),
            kind_name(i.kind),
            i.subject_type.clone(),
            i.subject_id.clone(),
            i.resolved.to_string(),
            i.detail.to_string(),
        ];
        w.write_record(
            cells
                .iter()
                .map(|c| crate::finance::spreadsheet::neutralise(c.as_bytes())),
        )
        .map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| Error::permanent(format!("writing CSV: {e}")))
}
