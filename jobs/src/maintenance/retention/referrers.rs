//! The retention purge of referrers (issue 21): employees the HRIS has
//! reported inactive for longer than `retention.referrer_after` lose their
//! email and name, as on a data-subject request
//! ([`crate::privacy::referrer`]); their HRIS id, links, referrals and
//! payouts stay.
//!
//! Run by the same schedule and CLI as the candidate purge ([`super::purge`]),
//! after it; separate so each purge's rules stay in one place.

use chrono::{DateTime, Utc};
use entities::employee;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::{BATCH, cutoff, rfc3339};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
    privacy::referrer::{erase_row, lock_key},
};

/// What a referrer purge did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReferrerPurgeReport {
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Referrers inactive since before this instant were erased.
    pub cutoff: DateTime<Utc>,
    /// The HRIS ids erased (or that would be), in row order.
    pub referrers: Vec<String>,
}

/// Erases the referrers inactive since before now − `after` and not erased
/// yet, one locked transaction each (the HRIS sync's lock), deciding again
/// under the lock: one reactivated meanwhile is kept. Each erasure is
/// audited as `retention.referrer_purged` with its tombstone's hash;
/// `actor` is recorded. A dry run changes nothing.
///
/// # Errors
/// `after` too long to subtract from now; database errors (referrers
/// erased before stay erased; a rerun carries on).
pub async fn purge_referrers(
    ctx: &JobContext,
    after: std::time::Duration,
    dry_run: bool,
    actor: &str,
) -> Result<ReferrerPurgeReport> {
    let cutoff = cutoff(Utc::now(), after)?;
    let mut report = ReferrerPurgeReport {
        dry_run,
        cutoff,
        referrers: Vec::new(),
    };
    let mut cursor = i64::MIN;
    loop {
        let page: Vec<(i64, String)> = due(cutoff)
            .select_only()
            .column(employee::Column::Id)
            .column(employee::Column::EmployeeId)
            .filter(employee::Column::Id.gt(cursor))
            .order_by_asc(employee::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(&ctx.db)
            .await?;
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        let full = page.len() as u64 == BATCH;
        for (id, employee_id) in page {
            if dry_run {
                report.referrers.push(employee_id);
                continue;
            }
            let tx = begin_locked(&ctx.db, &[lock_key(&employee_id)]).await?;
            let Some(e) = due(cutoff)
                .filter(employee::Column::Id.eq(id))
                .one(&tx)
                .await?
            else {
                tx.commit().await?;
                continue;
            };
            let (tombstone, links_revoked) = erase_row(&tx, e, "retention.referrer_purged").await?;
            tx.audit(AuditEntry {
                actor: actor.to_owned(),
                action: "retention.referrer_purged".into(),
                subject_type: "employee".into(),
                subject_id: employee_id.clone(),
                data: json!({
                    "cutoff": rfc3339(cutoff),
                    "tombstone_sha256": tombstone.sha256,
                    "links_revoked": links_revoked,
                }),
            });
            tx.commit().await?;
            report.referrers.push(employee_id);
        }
        if !full {
            break;
        }
    }
    tracing::info!(
        dry_run,
        cutoff = %rfc3339(cutoff),
        referrers = report.referrers.len(),
        "retention purge of referrers"
    );
    Ok(report)
}

/// Referrers inactive since before `cutoff`, not erased yet.
fn due(cutoff: DateTime<Utc>) -> sea_orm::Select<employee::Entity> {
    employee::Entity::find()
        .filter(employee::Column::Active.eq(false))
        .filter(employee::Column::ErasedAt.is_null())
        .filter(employee::Column::DeactivatedAt.lt(cutoff))
}
