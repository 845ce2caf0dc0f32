//! The retention purge (issue 5): erases the personal data of candidates we
//! did not hire once their last activity is older than the retention period,
//! and the raw webhook bodies that carried it.
//!
//! The worker calls [`purge`] from its daily schedule and from the CLI (with
//! `--dry-run` to preview); this module owns which candidates qualify and how
//! they are erased, not when it runs or where the period is configured.
//!
//! # What qualifies
//!
//! A candidate not yet anonymised, created before the cutoff (now minus the
//! retention period), whose applications are all closed without a hire
//! (rejected, withdrawn, or deleted by the ATS) and whose latest application
//! activity (`updated_at`, or `rejected_at` when later) is before the cutoff.
//! A candidate with no application qualifies on its creation date alone.
//! Never purged: a candidate with an active or hired application, or with a
//! referral that has a payout row, whatever its state, because finance
//! reconciles payouts against the people they paid for.
//!
//! # What a purge erases, and what it keeps
//!
//! The candidate's personal columns are erased by
//! `crate::capture::erasure::erase_personal_data`, exactly as Greenhouse's
//! `candidate_anonymized` erases them; the row, its ATS ids, applications,
//! referrals, milestones and payouts stay (ids only). The raw bodies of inbox
//! deliveries received before the cutoff are set to NULL (the row, its
//! status and event name stay), except those whose processing job has not
//! finished yet: it still needs the body, and the next purge after it
//! finishes clears it.
//!
//! Referrers (employees) the HRIS reported inactive longer ago than
//! `retention.referrer_after` are purged by [`purge_referrers`]
//! (`retention/referrers.rs`), after the candidates.
//!
//! Refused deliveries (`rejected` inbox rows) are deleted outright once
//! older than `retention.rejected_after` (default 7 days) by
//! [`purge_rejected`], run by the same schedule: a flood of unsigned or
//! forged posts must not grow storage without bound, and a refusal holds
//! nothing worth keeping longer (its body was never stored unless the
//! sender was authenticated; the metrics and logs counted it).
//!
//! Every purged candidate gets a `retention.candidate_purged` audit event and
//! every run one `retention.purged` event with the counts, both carrying the
//! caller's `actor` and no personal data. A dry run writes nothing at all.
//!
//! # Batches and races
//!
//! Candidates are purged [`BATCH`] at a time, each batch in one
//! [`begin_locked`] transaction, so a first purge over years of data never
//! holds one huge transaction. Each batch takes the same locks capture takes
//! for those candidates (canonical email and phone, their applications,
//! their Greenhouse ids) and decides again under them: a candidate whose
//! application moved or who re-applied between the scan and the lock is
//! left for the next run. Nothing here enqueues: on SQLite the embedded queue
//! shares the database file, and enqueuing inside a locked transaction would
//! deadlock.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use entities::{
    application::{self, ApplicationStatus},
    candidate, candidate_ats_id, inbox,
    inbox::InboxStatus,
    payout, referral,
    states::Ats,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::{
    capture::erasure::erase_personal_data,
    context::JobContext,
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
};

mod referrers;

pub use referrers::{ReferrerPurgeReport, purge_referrers};

/// Candidates (and inbox rows) handled per transaction or statement. Small
/// enough that a batch's transaction is short and, on PostgreSQL, its
/// advisory locks (a few per candidate) stay well inside the shared lock
/// table (`max_locks_per_transaction` × connections, 6400 by default).
pub const BATCH: u64 = 200;

/// What a purge did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Activity before this instant was old enough to purge.
    pub cutoff: DateTime<Utc>,
    /// Ids of the candidates purged (or that would be), ascending.
    pub candidates: Vec<i64>,
    /// Inbox rows whose raw body was cleared (or would be).
    pub inbox_bodies: u64,
}

/// Erases personal data older than `after`: the candidates that qualify (see
/// the module documentation) and the raw bodies of inbox rows received
/// before now − `after`. With `dry_run`, computes the same report and
/// changes nothing, audit log included. `actor` is recorded on every audit
/// event (`system`, `ops:<name>`).
///
/// Safe to run while the service processes deliveries, and safe to repeat:
/// a second run finds only what aged past the cutoff since.
///
/// # Errors
/// `after` too long to subtract from now (an invalid input), and database
/// errors. Batches committed before an error stay purged and audited; a
/// rerun carries on from there.
pub async fn purge(
    ctx: &JobContext,
    after: std::time::Duration,
    dry_run: bool,
    actor: &str,
) -> Result<PurgeReport> {
    let cutoff = cutoff(Utc::now(), after)?;
    let mut report = PurgeReport {
        dry_run,
        cutoff,
        ..Default::default()
    };

    // Page through the candidates that could qualify, in id order. Purged
    // ones drop out of the filter, so the id cursor is what moves on.
    let mut cursor = i64::MIN;
    loop {
        let page = candidate::Entity::find()
            .filter(candidate::Column::Id.gt(cursor))
            .filter(candidate::Column::AnonymizedAt.is_null())
            .filter(candidate::Column::CreatedAt.lt(cutoff))
            .order_by_asc(candidate::Column::Id)
            .limit(BATCH)
            .all(&ctx.db)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        let full_page = page.len() as u64 == BATCH;

        let facts = Facts::load(&ctx.db, &ids_of(&page)).await?;
        let chosen: Vec<candidate::Model> = page
            .into_iter()
            .filter(|c| facts.qualifies(c, cutoff))
            .collect();
        if !chosen.is_empty() {
            if dry_run {
                report.candidates.extend(ids_of(&chosen));
            } else {
                let purged = purge_batch(ctx, &chosen, &facts, cutoff, actor).await?;
                report.candidates.extend(purged);
            }
        }
        if !full_page {
            break;
        }
    }

    report.inbox_bodies = if dry_run {
        old_bodies(cutoff).count(&ctx.db).await?
    } else {
        clear_inbox_bodies(&ctx.db, cutoff).await?
    };

    if !dry_run {
        let tx = begin_locked(&ctx.db, &[]).await?;
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            action: "retention.purged".into(),
            subject_type: "retention".into(),
            subject_id: rfc3339(cutoff),
            data: json!({
                "cutoff": rfc3339(cutoff),
                "after_seconds": after.as_secs(),
                "candidates": report.candidates.len(),
                "inbox_bodies": report.inbox_bodies,
            }),
        });
        tx.commit().await?;
    }
    tracing::info!(
        dry_run,
        cutoff = %rfc3339(cutoff),
        candidates = report.candidates.len(),
        inbox_bodies = report.inbox_bodies,
        "retention purge"
    );
    Ok(report)
}

/// Deletes `rejected` inbox rows received more than `after` ago, [`BATCH`]
/// per statement, and returns how many (with `dry_run`, how many would
/// go). Nothing refers to an inbox row, so nothing else changes.
///
/// # Errors
/// `after` too long to subtract from now, and database errors (rows
/// deleted before one stay deleted; a rerun carries on).
pub async fn purge_rejected(
    db: &impl ConnectionTrait,
    after: std::time::Duration,
    dry_run: bool,
) -> Result<u64> {
    let cutoff = cutoff(Utc::now(), after)?;
    let old = || {
        inbox::Entity::find()
            .filter(inbox::Column::Status.eq(InboxStatus::Rejected))
            .filter(inbox::Column::ReceivedAt.lt(cutoff))
    };
    if dry_run {
        return Ok(old().count(db).await?);
    }
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = old()
            .select_only()
            .column(inbox::Column::Id)
            .order_by_asc(inbox::Column::Id)
            .limit(BATCH)
            .into_tuple::<i64>()
            .all(db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let done = inbox::Entity::delete_many()
            .filter(inbox::Column::Id.is_in(ids.iter().copied()))
            .filter(inbox::Column::Status.eq(InboxStatus::Rejected))
            .exec(db)
            .await?;
        deleted += done.rows_affected;
        if (ids.len() as u64) < BATCH {
            break;
        }
    }
    tracing::info!(cutoff = %rfc3339(cutoff), deleted, "rejected deliveries purged");
    Ok(deleted)
}

/// Now − `after`, to the microsecond both databases store, so the cutoff
/// reported and audited is exactly the one compared against.
fn cutoff(now: DateTime<Utc>, after: std::time::Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(after)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .map(|c| c.trunc_subsecs(6))
        .ok_or_else(|| Error::invalid("after", format!("{after:?} reaches before year 0")))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn ids_of(candidates: &[candidate::Model]) -> Vec<i64> {
    candidates.iter().map(|c| c.id).collect()
}

/// Erases `chosen` (found qualifying outside any transaction) in one locked
/// transaction, deciding again under the locks. Returns the ids erased.
async fn purge_batch(
    ctx: &JobContext,
    chosen: &[candidate::Model],
    scanned: &Facts,
    cutoff: DateTime<Utc>,
    actor: &str,
) -> Result<Vec<i64>> {
    let locks: BTreeSet<String> = chosen.iter().flat_map(|c| scanned.lock_keys(c)).collect();
    let keys: Vec<String> = locks.iter().cloned().collect();
    let tx = begin_locked(&ctx.db, &keys).await?;
    let ids = ids_of(chosen);
    let now = candidate::Entity::find()
        .filter(candidate::Column::Id.is_in(ids.clone()))
        .filter(candidate::Column::AnonymizedAt.is_null())
        .order_by_asc(candidate::Column::Id)
        // Capture locks the candidate row it attaches to (see
        // `capture::find_or_create_candidate`): a delivery through the
        // candidate's ATS id, whose key is not among ours, still waits here
        // or is seen by `Facts::load` below.
        .lock_exclusive()
        .all(&tx)
        .await?;
    let facts = Facts::load(&tx, &ids).await?;
    let mut purged = Vec::with_capacity(now.len());
    for c in now {
        // Re-checked under the locks: a rejection undone, a new application
        // or a new email since the scan (its lock is not held) leaves the
        // candidate for the next run rather than racing capture.
        if !facts.qualifies(&c, cutoff) || !facts.lock_keys(&c).iter().all(|k| locks.contains(k)) {
            continue;
        }
        let id = c.id;
        let (_, tombstone) = erase_personal_data(&tx, c, "retention.candidate_purged").await?;
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            action: "retention.candidate_purged".into(),
            subject_type: "candidate".into(),
            subject_id: id.to_string(),
            data: json!({ "cutoff": rfc3339(cutoff), "tombstone_sha256": tombstone.sha256 }),
        });
        purged.push(id);
    }
    tx.commit().await?;
    Ok(purged)
}

/// What decides whether a page of candidates qualifies, read in a few
/// queries per page rather than per candidate.
#[derive(Debug, Default)]
struct Facts {
    /// Applications per candidate id.
    applications: HashMap<i64, Vec<application::Model>>,
    /// Greenhouse candidate ids per candidate id (capture and anonymisation
    /// lock on them).
    greenhouse_ids: HashMap<i64, Vec<String>>,
    /// Candidates with a referral that has a payout row.
    paid: HashSet<i64>,
}

impl Facts {
    async fn load(conn: &impl ConnectionTrait, ids: &[i64]) -> Result<Facts> {
        let mut facts = Facts::default();
        if ids.is_empty() {
            return Ok(facts);
        }
        for app in application::Entity::find()
            .filter(application::Column::CandidateId.is_in(ids.to_vec()))
            .all(conn)
            .await?
        {
            facts
                .applications
                .entry(app.candidate_id)
                .or_default()
                .push(app);
        }
        for row in candidate_ats_id::Entity::find()
            .filter(candidate_ats_id::Column::CandidateId.is_in(ids.to_vec()))
            .filter(candidate_ats_id::Column::Ats.eq(Ats::Greenhouse))
            .all(conn)
            .await?
        {
            facts
                .greenhouse_ids
                .entry(row.candidate_id)
                .or_default()
                .push(row.ats_candidate_id);
        }
        let referrals: HashMap<i64, i64> = referral::Entity::find()
            .select_only()
            .column(referral::Column::Id)
            .column(referral::Column::CandidateId)
            .filter(referral::Column::CandidateId.is_in(ids.to_vec()))
            .into_tuple::<(i64, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        if !referrals.is_empty() {
            let paid_referrals: Vec<i64> = payout::Entity::find()
                .select_only()
                .column(payout::Column::ReferralId)
                .filter(payout::Column::ReferralId.is_in(referrals.keys().copied()))
                .into_tuple::<i64>()
                .all(conn)
                .await?;
            facts.paid = paid_referrals
                .iter()
                .filter_map(|r| referrals.get(r).copied())
                .collect();
        }
        Ok(facts)
    }

    /// The rules of the module documentation, for one candidate.
    fn qualifies(&self, c: &candidate::Model, cutoff: DateTime<Utc>) -> bool {
        if c.anonymized_at.is_some() || c.created_at >= cutoff || self.paid.contains(&c.id) {
            return false;
        }
        self.applications.get(&c.id).is_none_or(|apps| {
            apps.iter().all(|a| {
                // Deleted counts as closed: the ATS dropped it, and it can
                // no longer lead to a hire.
                let closed = matches!(
                    a.status,
                    ApplicationStatus::Rejected
                        | ApplicationStatus::Withdrawn
                        | ApplicationStatus::Deleted
                );
                let last_activity = a.rejected_at.map_or(a.updated_at, |r| r.max(a.updated_at));
                closed && last_activity < cutoff
            })
        })
    }

    /// The advisory-lock keys capture takes for this candidate (see
    /// `capture_application`, `apply_stage_change`, `anonymize_candidate`),
    /// so a purge and a delivery about the same person serialise.
    fn lock_keys(&self, c: &candidate::Model) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(e) = &c.email_canonical {
            keys.push(format!("cand:email:{e}"));
        }
        if let Some(p) = &c.phone_e164 {
            keys.push(format!("cand:phone:{p}"));
        }
        for a in self.applications.get(&c.id).into_iter().flatten() {
            keys.push(format!("app:{:?}:{}", a.ats, a.ats_application_id));
        }
        for g in self.greenhouse_ids.get(&c.id).into_iter().flatten() {
            keys.push(format!("gh-cand:{g}"));
        }
        keys
    }
}

/// Inbox rows received before `cutoff` that still hold a body and whose
/// processing is over (a row still `received` or `enqueued` has a job that
/// needs its body).
fn old_bodies(cutoff: DateTime<Utc>) -> sea_orm::Select<inbox::Entity> {
    inbox::Entity::find()
        .filter(inbox::Column::ReceivedAt.lt(cutoff))
        .filter(inbox::Column::RawBody.is_not_null())
        .filter(inbox::Column::Status.is_not_in([InboxStatus::Received, InboxStatus::Enqueued]))
}

/// Sets `raw_body` to NULL on [`old_bodies`], [`BATCH`] rows per statement,
/// and counts them. Not audited row by row (the run's event has the count)
/// and not in a locked transaction: each statement stands alone, and its
/// own filter keeps it off a row that went back into processing meanwhile.
async fn clear_inbox_bodies(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64> {
    let mut cleared = 0;
    let mut cursor = i64::MIN;
    loop {
        let ids: Vec<i64> = old_bodies(cutoff)
            .select_only()
            .column(inbox::Column::Id)
            .filter(inbox::Column::Id.gt(cursor))
            .order_by_asc(inbox::Column::Id)
            .limit(BATCH)
            .into_tuple::<i64>()
            .all(db)
            .await?;
        let Some(&last) = ids.last() else { break };
        cursor = last;
        let done = inbox::Entity::update_many()
            .set(inbox::ActiveModel {
                raw_body: Set(None),
                ..Default::default()
            })
            .filter(inbox::Column::Id.is_in(ids.iter().copied()))
            .filter(inbox::Column::RawBody.is_not_null())
            .filter(inbox::Column::Status.is_not_in([InboxStatus::Received, InboxStatus::Enqueued]))
            .exec(db)
            .await?;
        cleared += done.rows_affected;
        if (ids.len() as u64) < BATCH {
            break;
        }
    }
    Ok(cleared)
}
