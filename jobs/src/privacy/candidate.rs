//! A candidate's data-subject requests: export everything we hold on them,
//! or erase their personal data while the money trail stays.
//!
//! A request names one candidate row; the *person* is that row, the row it
//! was merged into (if any), and every row merged into those: a merge
//! moved their applications and referrals, not their history.

use std::collections::{BTreeSet, HashSet};

use chrono::Utc;
use entities::{
    application, audit_event, candidate, candidate_ats_id, consent, inbox, milestone,
    outbound_message, payout, referral,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::deliveries::{self, Identifiers};
use crate::{
    capture::erasure::erase_personal_data,
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
};

/// How far a chain of merges is followed; Greenhouse merges pairwise, so a
/// real chain is a few links long.
const MAX_MERGE_DEPTH: usize = 32;

/// What erasing a candidate did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CandidateErasure {
    /// The candidate row the request named.
    pub candidate_id: i64,
    /// Every row of the person (the named one and merged ones), ascending.
    pub rows: Vec<i64>,
    /// The rows erased by this request (the others were already erased).
    pub erased: Vec<i64>,
    /// The SHA-256 of each erased row's tombstone, as audited, by row.
    pub tombstones: Vec<(i64, String)>,
    /// Inbox deliveries about them whose raw body was cleared.
    pub deliveries_cleared: Vec<i64>,
    /// Inbox deliveries about them still being processed: their bodies are
    /// kept (their job needs them); ask again once they are processed.
    pub deliveries_pending: Vec<i64>,
}

/// The person's rows: `id`'s survivor and every row merged into it.
async fn person(conn: &impl ConnectionTrait, id: i64) -> Result<Vec<candidate::Model>> {
    let Some(mut top) = candidate::Entity::find_by_id(id).one(conn).await? else {
        return Err(Error::NotFound(format!("candidate {id}")));
    };
    for _ in 0..MAX_MERGE_DEPTH {
        let Some(into) = top.merged_into_id else {
            break;
        };
        match candidate::Entity::find_by_id(into).one(conn).await? {
            Some(next) => top = next,
            None => break,
        }
    }
    let mut rows = vec![top];
    let mut frontier: Vec<i64> = rows.iter().map(|c| c.id).collect();
    for _ in 0..MAX_MERGE_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let merged = candidate::Entity::find()
            .filter(candidate::Column::MergedIntoId.is_in(frontier.clone()))
            .order_by_asc(candidate::Column::Id)
            .all(conn)
            .await?;
        frontier = merged
            .iter()
            .map(|c| c.id)
            .filter(|id| !rows.iter().any(|r| r.id == *id))
            .collect();
        rows.extend(merged.into_iter().filter(|c| frontier.contains(&c.id)));
    }
    rows.sort_by_key(|c| c.id);
    Ok(rows)
}

/// Everything attached to the person's rows.
struct Holdings {
    rows: Vec<candidate::Model>,
    ats_ids: Vec<candidate_ats_id::Model>,
    applications: Vec<application::Model>,
    referrals: Vec<referral::Model>,
}

impl Holdings {
    async fn load(conn: &impl ConnectionTrait, id: i64) -> Result<Holdings> {
        let rows = person(conn, id).await?;
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        Ok(Holdings {
            ats_ids: candidate_ats_id::Entity::find()
                .filter(candidate_ats_id::Column::CandidateId.is_in(ids.clone()))
                .order_by_asc(candidate_ats_id::Column::Id)
                .all(conn)
                .await?,
            applications: application::Entity::find()
                .filter(application::Column::CandidateId.is_in(ids.clone()))
                .order_by_asc(application::Column::Id)
                .all(conn)
                .await?,
            referrals: referral::Entity::find()
                .filter(referral::Column::CandidateId.is_in(ids))
                .order_by_asc(referral::Column::Id)
                .all(conn)
                .await?,
            rows,
        })
    }

    fn identifiers(&self) -> Identifiers {
        Identifiers {
            applications: self
                .applications
                .iter()
                .map(|a| (a.ats, a.ats_application_id.clone()))
                .collect(),
            candidates: self
                .ats_ids
                .iter()
                .map(|m| (m.ats, m.ats_candidate_id.clone()))
                .collect(),
            emails: self
                .rows
                .iter()
                .filter_map(|c| c.email_canonical.clone())
                .collect(),
        }
    }

    /// The advisory-lock keys capture, Greenhouse's erasure events and the
    /// retention purge take for these rows (see `capture_application`,
    /// `anonymize_candidate`), so a request and a delivery about the same
    /// person serialise.
    fn lock_keys(&self) -> Vec<String> {
        let mut keys = BTreeSet::new();
        for c in &self.rows {
            if let Some(e) = &c.email_canonical {
                keys.insert(format!("cand:email:{e}"));
            }
            if let Some(p) = &c.phone_e164 {
                keys.insert(format!("cand:phone:{p}"));
            }
        }
        for a in &self.applications {
            keys.insert(format!("app:{:?}:{}", a.ats, a.ats_application_id));
        }
        for m in &self.ats_ids {
            if m.ats == entities::states::Ats::Greenhouse {
                keys.insert(format!("gh-cand:{}", m.ats_candidate_id));
            }
        }
        keys.into_iter().collect()
    }
}

/// Erases the personal data of candidate `id` (and of the rows merged with
/// it) on request: each row's personal columns are replaced by a sealed
/// tombstone through [`erase_personal_data`], the erasure Greenhouse's
/// anonymisation and the retention purge use, and audited as
/// `privacy.candidate_erased` with the tombstone's hash; the raw bodies of
/// the deliveries about them are cleared. Applications, referrals,
/// milestones, payouts and the audit log stay: they hold ids, amounts and
/// hashes, which finance keeps. `actor` is recorded on every event.
///
/// Repeating the request is safe: rows already erased are left as they
/// are, and deliveries that finished processing since are cleared now.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id; database errors (nothing is
/// changed then).
pub async fn erase(ctx: &JobContext, id: i64, actor: &str) -> Result<CandidateErasure> {
    let scanned = Holdings::load(&ctx.db, id).await?;
    let about = deliveries::about(
        &ctx.db,
        &scanned.identifiers(),
        &ctx.capture.start_date_field,
    )
    .await?;
    let tx = begin_locked(&ctx.db, &scanned.lock_keys()).await?;
    let rows: Vec<i64> = scanned.rows.iter().map(|c| c.id).collect();
    // Read again under the locks: a capture that filled in an email or
    // phone meanwhile has committed, and its data is erased with the rest.
    let now = candidate::Entity::find()
        .filter(candidate::Column::Id.is_in(rows.clone()))
        .order_by_asc(candidate::Column::Id)
        .lock_exclusive()
        .all(&tx)
        .await?;
    let mut report = CandidateErasure {
        candidate_id: id,
        rows,
        erased: Vec::new(),
        tombstones: Vec::new(),
        deliveries_cleared: Vec::new(),
        deliveries_pending: Vec::new(),
    };
    for c in now {
        if c.anonymized_at.is_some() {
            continue;
        }
        let row = c.id;
        let (_, tombstone) = erase_personal_data(&tx, c, "privacy.candidate_erased").await?;
        tx.audit(AuditEntry {
            actor: actor.to_owned(),
            action: "privacy.candidate_erased".into(),
            subject_type: "candidate".into(),
            subject_id: row.to_string(),
            data: json!({ "requested_for": id, "tombstone_sha256": tombstone.sha256 }),
        });
        report.erased.push(row);
        report.tombstones.push((row, tombstone.sha256));
    }
    let (finished, pending): (Vec<&inbox::Model>, Vec<&inbox::Model>) =
        about.iter().partition(|r| deliveries::finished(r));
    deliveries::clear(&tx, &finished).await?;
    report.deliveries_cleared = finished.iter().map(|r| r.id).collect();
    report.deliveries_pending = pending.iter().map(|r| r.id).collect();
    if !report.deliveries_cleared.is_empty() {
        tx.audit(AuditEntry {
            actor: actor.to_owned(),
            action: "privacy.deliveries_cleared".into(),
            subject_type: "candidate".into(),
            subject_id: id.to_string(),
            data: json!({ "inbox_ids": report.deliveries_cleared }),
        });
    }
    tx.commit().await?;
    tracing::info!(
        candidate_id = id,
        erased = report.erased.len(),
        deliveries_cleared = report.deliveries_cleared.len(),
        deliveries_pending = report.deliveries_pending.len(),
        "data-subject erasure"
    );
    Ok(report)
}

/// Everything we hold on candidate `id` (and the rows merged with it), as
/// one JSON document: the candidate rows with their personal columns (or
/// their tombstones), ATS ids, applications, consents, referrals (the
/// referrer by HRIS id only: the referrer's own data is theirs),
/// milestones, payouts, status messages, the audit events about them, and
/// the deliveries we still hold the raw body of.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id; database errors.
pub async fn export(ctx: &JobContext, id: i64) -> Result<Value> {
    let db = &ctx.db;
    let h = Holdings::load(db, id).await?;
    let rows: Vec<i64> = h.rows.iter().map(|c| c.id).collect();
    let app_ids: Vec<i64> = h.applications.iter().map(|a| a.id).collect();
    let referral_ids: Vec<i64> = h.referrals.iter().map(|r| r.id).collect();
    let consents = consent::Entity::find()
        .filter(consent::Column::CandidateId.is_in(rows.clone()))
        .order_by_asc(consent::Column::Id)
        .all(db)
        .await?;
    let milestones = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.is_in(app_ids.clone()))
        .order_by_asc(milestone::Column::Id)
        .all(db)
        .await?;
    let payouts = payout::Entity::find()
        .filter(payout::Column::ReferralId.is_in(referral_ids.clone()))
        .order_by_asc(payout::Column::Id)
        .all(db)
        .await?;
    let milestone_ids: Vec<i64> = milestones.iter().map(|m| m.id).collect();
    let payout_ids: Vec<i64> = payouts.iter().map(|p| p.id).collect();
    let messages = outbound_message::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(outbound_message::Column::SubjectType.eq("milestone"))
                        .add(outbound_message::Column::SubjectId.is_in(milestone_ids.clone())),
                )
                .add(
                    Condition::all()
                        .add(outbound_message::Column::SubjectType.eq("payout"))
                        .add(outbound_message::Column::SubjectId.is_in(payout_ids.clone())),
                ),
        )
        .order_by_asc(outbound_message::Column::Id)
        .all(db)
        .await?;
    let subjects = [
        ("candidate", ids_text(&rows)),
        ("application", ids_text(&app_ids)),
        ("referral", ids_text(&referral_ids)),
        ("milestone", ids_text(&milestone_ids)),
        ("payout", ids_text(&payout_ids)),
    ];
    let events = audit_events(db, &subjects).await?;
    let about = deliveries::about(db, &h.identifiers(), &ctx.capture.start_date_field).await?;

    Ok(json!({
        "subject": { "type": "candidate", "id": id },
        "exported_at": Utc::now(),
        "candidates": h.rows.iter().map(|c| json!({
            "id": c.id,
            "email_raw": c.email_raw,
            "email_canonical": c.email_canonical,
            "phone_raw": c.phone_raw,
            "phone_e164": c.phone_e164,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "merged_into_id": c.merged_into_id,
            "anonymized_at": c.anonymized_at,
            "erasure_tombstone": c.erasure_tombstone.as_deref().map(parse_or_text),
            "is_test": c.is_test,
            "created_at": c.created_at,
            "updated_at": c.updated_at,
        })).collect::<Vec<_>>(),
        "ats_ids": h.ats_ids.iter().map(|m| json!({
            "candidate_id": m.candidate_id, "ats": m.ats, "ats_candidate_id": m.ats_candidate_id,
        })).collect::<Vec<_>>(),
        "applications": h.applications.iter().map(|a| json!({
            "id": a.id, "candidate_id": a.candidate_id, "ats": a.ats,
            "ats_application_id": a.ats_application_id, "job_id": a.job_id,
            "requisition_id": a.requisition_id, "status": a.status, "stage": a.stage,
            "applied_at": a.applied_at, "hired_at": a.hired_at, "start_date": a.start_date,
            "rejected_at": a.rejected_at, "job_level": a.job_level, "department": a.department,
            "location": a.location, "created_at": a.created_at, "updated_at": a.updated_at,
        })).collect::<Vec<_>>(),
        "consents": consents.iter().map(|c| json!({
            "application_id": c.application_id, "source": c.source, "given_at": c.given_at,
            "flags": parse_or_text(&c.flags), "recorded_at": c.recorded_at,
        })).collect::<Vec<_>>(),
        "referrals": h.referrals.iter().map(|r| json!({
            "id": r.id, "candidate_id": r.candidate_id, "application_id": r.application_id,
            "employee_id": r.employee_id, "source": r.source, "state": r.state,
            "reason": r.reason, "referred_at": r.referred_at, "decided_at": r.decided_at,
            "is_test": r.is_test,
        })).collect::<Vec<_>>(),
        "milestones": milestones.iter().map(|m| json!({
            "id": m.id, "referral_id": m.referral_id, "application_id": m.application_id,
            "kind": m.kind, "state": m.state, "occurred_at": m.occurred_at, "due_at": m.due_at,
            "cancel_reason": m.cancel_reason,
        })).collect::<Vec<_>>(),
        "payouts": payouts.iter().map(|p| json!({
            "id": p.id, "referral_id": p.referral_id, "milestone_id": p.milestone_id,
            "tranche": p.tranche, "amount_minor": p.amount_minor, "currency": p.currency,
            "state": p.state, "reason": p.reason, "eligible_at": p.eligible_at,
            "sent_at": p.sent_at, "delivered_at": p.delivered_at,
        })).collect::<Vec<_>>(),
        "messages": messages.iter().map(|m| json!({
            "id": m.id, "webhook_id": m.webhook_id, "event_type": m.event_type,
            "data": parse_or_text(&m.data), "state": m.state, "created_at": m.created_at,
            "delivered_at": m.delivered_at,
        })).collect::<Vec<_>>(),
        "audit_events": events.iter().map(audit_json).collect::<Vec<_>>(),
        "deliveries": about.iter().map(|r| json!({
            "inbox_id": r.id, "source": r.source, "delivery_id": r.delivery_id,
            "event": r.event, "received_at": r.received_at, "status": r.status,
            "body": r.raw_body.as_deref().map(body_json),
        })).collect::<Vec<_>>(),
    }))
}

/// The audit events whose subject is one of `subjects` (type, ids), in id
/// order.
pub(super) async fn audit_events(
    conn: &impl ConnectionTrait,
    subjects: &[(&str, Vec<String>)],
) -> Result<Vec<audit_event::Model>> {
    let mut any = Condition::any();
    for (kind, ids) in subjects {
        if ids.is_empty() {
            continue;
        }
        let ids: HashSet<&String> = ids.iter().collect();
        any = any.add(
            Condition::all()
                .add(audit_event::Column::SubjectType.eq(*kind))
                .add(audit_event::Column::SubjectId.is_in(ids)),
        );
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    Ok(audit_event::Entity::find()
        .filter(any)
        .order_by_asc(audit_event::Column::Id)
        .all(conn)
        .await?)
}

fn ids_text(ids: &[i64]) -> Vec<String> {
    ids.iter().map(i64::to_string).collect()
}

/// One audit event as the exports show it.
pub(super) fn audit_json(e: &audit_event::Model) -> Value {
    json!({
        "id": e.id, "occurred_at": e.occurred_at, "actor": e.actor, "action": e.action,
        "subject_type": e.subject_type, "subject_id": e.subject_id,
        "data": parse_or_text(&e.data), "hash": e.hash,
    })
}

/// Stored JSON text as JSON; anything else as the text itself.
pub(super) fn parse_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A raw delivery body as JSON, or as lossy text when it is not JSON.
fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
