//! What the ATS does to people and applications after the fact: Greenhouse
//! or Ashby merging two candidates, Greenhouse deleting an application,
//! anonymising (Greenhouse) or deleting (Ashby, SmartRecruiters) a candidate (GDPR). Attributions follow the surviving rows; nothing that
//! says who referred whom is lost, personal data is.
//!
//! Called by the `process_delivery` job ([`super::process_delivery`]); the
//! retention purge ([`crate::maintenance::retention`]) and data-subject
//! requests ([`crate::privacy`]) erase through `erase_personal_data` too.

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    candidate, candidate_ats_id, referral,
    states::Ats,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;

use super::application::{candidate_by_ats, lock_candidate};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
    privacy::tombstone::{self, Tombstone},
};

/// The lock key of `ats` candidate `id` (Greenhouse's is the one the
/// retention purge takes too).
fn candidate_lock(ats: Ats, id: &str) -> String {
    match ats {
        Ats::Greenhouse => format!("gh-cand:{id}"),
        other => format!("{}-cand:{id}", other.to_value()),
    }
}

/// The ATS (Greenhouse, Ashby) merged its candidate `from` into `into`:
/// attributions follow the survivor. Returns whether anything changed
/// here (`false`: nothing of ours).
pub(super) async fn merge_candidates(
    ctx: &JobContext,
    ats: Ats,
    from: &str,
    into: &str,
) -> Result<bool> {
    let tx = begin_locked(
        &ctx.db,
        &[candidate_lock(ats, from), candidate_lock(ats, into)],
    )
    .await?;
    let mut loser = candidate_by_ats(&tx, ats, from).await?;
    let mut survivor = candidate_by_ats(&tx, ats, into).await?;
    // Both rows locked, in id order, and read again: a capture attaching
    // to either through another key finishes first or waits for the merge.
    let mut ids: Vec<i64> = [&loser, &survivor]
        .iter()
        .filter_map(|c| c.as_ref().map(|c| c.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        candidate::Entity::find()
            .filter(candidate::Column::Id.is_in(ids))
            .order_by_asc(candidate::Column::Id)
            .lock_exclusive()
            .all(&tx)
            .await?;
        loser = candidate_by_ats(&tx, ats, from).await?;
        survivor = candidate_by_ats(&tx, ats, into).await?;
    }
    let outcome = match (loser, survivor) {
        (None, _) => false,
        (Some(l), None) => {
            // Only the old record is ours: it simply takes the new id.
            candidate_ats_id::ActiveModel {
                candidate_id: Set(l.id),
                ats: Set(ats),
                ats_candidate_id: Set(into.to_string()),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
            tx.audit(AuditEntry::system(
                "candidate.merged",
                "candidate",
                l.id,
                json!({ "into_ats_candidate_id": into }),
            ));
            true
        }
        (Some(l), Some(s)) if l.id == s.id => false,
        (Some(l), Some(s)) => {
            let apps = application::Entity::find()
                .filter(application::Column::CandidateId.eq(l.id))
                .all(&tx)
                .await?;
            for app in apps {
                let mut a: application::ActiveModel = app.into();
                a.candidate_id = Set(s.id);
                a.update(&tx).await?;
            }
            let refs = referral::Entity::find()
                .filter(referral::Column::CandidateId.eq(l.id))
                .all(&tx)
                .await?;
            let moved = refs.len();
            for r in refs {
                let mut a: referral::ActiveModel = r.into();
                a.candidate_id = Set(s.id);
                a.updated_at = Set(Utc::now());
                a.update(&tx).await?;
            }
            let mut a: candidate::ActiveModel = l.clone().into();
            a.merged_into_id = Set(Some(s.id));
            a.updated_at = Set(Utc::now());
            a.update(&tx).await?;
            tx.audit(AuditEntry::system(
                "candidate.merged",
                "candidate",
                l.id,
                json!({ "into_candidate_id": s.id, "referrals_moved": moved }),
            ));
            true
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Greenhouse deleted an application: its attributions move to the
/// candidate's surviving application for the same job, if there is one.
/// Returns whether anything changed here.
pub(super) async fn delete_application(ctx: &JobContext, ats_application_id: &str) -> Result<bool> {
    let tx = begin_locked(
        &ctx.db,
        &[format!("app:{:?}:{ats_application_id}", Ats::Greenhouse)],
    )
    .await?;
    let Some(app) = application::Entity::find()
        .filter(application::Column::Ats.eq(Ats::Greenhouse))
        .filter(application::Column::AtsApplicationId.eq(ats_application_id))
        .one(&tx)
        .await?
    else {
        tx.commit().await?;
        return Ok(false);
    };
    let survivor = application::Entity::find()
        .filter(application::Column::CandidateId.eq(app.candidate_id))
        .filter(application::Column::JobId.eq(&app.job_id))
        .filter(application::Column::Id.ne(app.id))
        .filter(application::Column::Status.ne(ApplicationStatus::Deleted))
        .one(&tx)
        .await?;
    let refs = referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .all(&tx)
        .await?;
    for r in refs {
        let rid = r.id;
        if let Some(s) = &survivor
            && super::attribution::already_on(&tx, &r, s.id).await?
        {
            continue;
        }
        let mut a: referral::ActiveModel = r.into();
        if let Some(s) = &survivor {
            a.application_id = Set(Some(s.id));
            a.updated_at = Set(Utc::now());
            a.update(&tx).await?;
        }
        tx.audit(AuditEntry::system(
                "attribution.application_deleted",
                "referral",
                rid,
                json!({ "deleted_application_id": app.id, "moved_to_application_id": survivor.as_ref().map(|s| s.id) }),
            ));
    }
    let mut a: application::ActiveModel = app.into();
    a.status = Set(ApplicationStatus::Deleted);
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// GDPR (Greenhouse's anonymisation, Ashby's and SmartRecruiters' deletion of a candidate):
/// erase the candidate's personal data in our copy; referrals and payouts
/// stay, pseudonymous (they hold ids only).
pub(super) async fn anonymize_candidate(
    ctx: &JobContext,
    ats: Ats,
    ats_candidate_id: &str,
) -> Result<bool> {
    let tx = begin_locked(&ctx.db, &[candidate_lock(ats, ats_candidate_id)]).await?;
    let Some(found) = candidate_by_ats(&tx, ats, ats_candidate_id).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    // Locked and read again, so a capture filling in an email or phone
    // through another key cannot land after the erasure.
    let Some(c) = lock_candidate(&tx, found.id).await? else {
        tx.commit().await?;
        return Ok(false);
    };
    let id = c.id;
    let (_, tombstone) = erase_personal_data(&tx, c, "candidate.anonymized").await?;
    tx.audit(AuditEntry::system(
        "candidate.anonymized",
        "candidate",
        id,
        json!({ "tombstone_sha256": tombstone.sha256 }),
    ));
    tx.commit().await?;
    Ok(true)
}

/// The personal columns [`erase_personal_data`] erases, as its tombstone
/// names them.
pub const ERASED_CANDIDATE_FIELDS: [&str; 6] = [
    "email_raw",
    "email_canonical",
    "phone_raw",
    "phone_e164",
    "first_name",
    "last_name",
];

/// Erases candidate `c`'s personal columns (email, phone, names), stamps
/// `anonymized_at` and stores the sealed tombstone
/// ([`crate::privacy::tombstone`]) in their place. The row, its ATS ids,
/// applications, referrals and payouts stay: they hold ids only, and
/// finance must still trace payouts.
///
/// The one erasure Greenhouse's `candidate_anonymized` (above), the
/// retention purge ([`crate::maintenance::retention`]) and a data-subject
/// request ([`crate::privacy`]) use, so "erased" means the same thing
/// whichever asked. Call it inside a [`begin_locked`] transaction and audit
/// the erasure in the same transaction, with the returned tombstone's
/// `sha256` in the event's data; `cause` is that event's action.
pub(crate) async fn erase_personal_data(
    conn: &impl ConnectionTrait,
    c: candidate::Model,
    cause: &str,
) -> Result<(candidate::Model, Tombstone)> {
    let now = Utc::now();
    let tombstone = tombstone::seal(
        "candidate",
        &c.id.to_string(),
        &ERASED_CANDIDATE_FIELDS,
        cause,
        now,
    );
    let mut a: candidate::ActiveModel = c.into();
    a.email_raw = Set(None);
    a.email_canonical = Set(None);
    a.phone_raw = Set(None);
    a.phone_e164 = Set(None);
    a.first_name = Set(String::new());
    a.last_name = Set(None);
    a.anonymized_at = Set(Some(now));
    a.erasure_tombstone = Set(Some(tombstone.text.clone()));
    a.updated_at = Set(now);
    Ok((a.update(conn).await?, tombstone))
}
