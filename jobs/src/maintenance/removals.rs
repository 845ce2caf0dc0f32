//! Reconciliation's check for applications an ATS dropped without saying
//! so: a vendor whose webhooks announce no merges or deletions (Workable,
//! `docs/workable-smartrecruiters.md` W1 and §A5) is asked, application by
//! application, whether it still has ours
//! ([`Connector::still_has`], for connectors whose
//! [`Connector::polls_removals`] is `true`); a 404 is the only sign that a
//! candidate was merged away or deleted.
//!
//! # Which applications are asked
//!
//! Only those money may still move for: the ATS's applications with a
//! credited referral that are active, or hired with a tranche not yet
//! settled (none made yet, or one neither delivered, cancelled nor
//! ineligible). A referral whose money is settled is history, and asking
//! about it would only spend the vendor's rate limit (Workable: 10
//! requests per 10 s). At most `reconciliation.max_ats_pages` applications
//! are asked per run (each read counts as a page); more is an
//! `ats_listing_truncated` variance (listing `known_applications`).
//!
//! # What a 404 becomes: `ats_application_gone`
//!
//! A 404 cannot tell a merge (the person lives on under another id) from a
//! deletion (the customer removed them, perhaps for GDPR), so it decides
//! nothing about money on its own, and money already paid is never undone:
//!
//! * an **active** application (nothing earned yet) is marked `deleted`,
//!   as a Greenhouse `delete_application` marks it, and audited
//!   (`application.gone_from_ats`); the variance is fixed. Its referral
//!   stays credited (it holds ids only) and is no longer asked about; a
//!   surviving candidate that Workable announces later is captured as
//!   usual;
//! * a **hired** application is reported and left as it is: delivered
//!   tranches stay delivered, and the unpaid ones (listed in the variance)
//!   keep waiting for their milestone. Ops decide: end the hire
//!   (`POST /api/hires/{id}/terminated`, which cancels what is unpaid and
//!   keeps the hire tranche) or hold a payout, or let it pay (a merge). It
//!   is reported on every run until its money is settled.
//!
//! Personal data is not erased on a 404: an erasure is a data-subject
//! request or the retention purge ([`crate::privacy`],
//! [`crate::maintenance::retention`]), not something a missing record may
//! be guessed to be.
//!
//! Called by [`super::reconcile`] for each configured connector.

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    payout::{self, PayoutState},
    reconciliation_item::VarianceKind,
    referral::{self, ReferralState},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::reconcile::{Variance, patiently, truncated};
use super::runs::variance;
use crate::{
    connectors::Connector,
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::Result,
};

/// Tranche states no later event changes.
const SETTLED: [PayoutState; 3] = [
    PayoutState::Delivered,
    PayoutState::Cancelled,
    PayoutState::Ineligible,
];

/// One application to ask about, with its referral and payouts.
struct Open {
    app: application::Model,
    referral: referral::Model,
    payouts: Vec<payout::Model>,
}

/// Asks `connector` about each open referred application of its ATS
/// (module docs) and records what it no longer has.
///
/// # Errors
/// Database errors; the connector's errors other than a 404 (after its
/// `Retry-After`s are waited out).
pub(super) async fn gone_applications(
    ctx: &JobContext,
    connector: &dyn Connector,
    dry_run: bool,
    out: &mut Vec<Variance>,
) -> Result<()> {
    if !connector.polls_removals() {
        return Ok(());
    }
    let ats = connector.ats();
    let open = open_applications(ctx, connector).await?;
    let budget = ctx.reconcile.max_ats_pages as usize;
    if open.len() > budget {
        out.push(truncated(
            ats,
            "known_applications",
            ctx.reconcile.max_ats_pages,
        ));
    }
    for o in open.into_iter().take(budget) {
        let id = o.app.ats_application_id.clone();
        if patiently(|| connector.still_has(&id)).await? {
            continue;
        }
        let paid: Vec<&str> = o
            .payouts
            .iter()
            .filter(|p| p.state == PayoutState::Delivered)
            .map(|p| p.tranche.as_str())
            .collect();
        let unpaid: Vec<_> = o
            .payouts
            .iter()
            .filter(|p| !SETTLED.contains(&p.state))
            .map(|p| json!({ "payout_id": p.id, "tranche": p.tranche, "state": p.state }))
            .collect();
        let mut v = variance(
            VarianceKind::AtsApplicationGone,
            "application",
            o.app.id,
            json!({ "ats": ats, "ats_application_id": id, "ours": o.app.status,
                    "referral_id": o.referral.public_id, "paid_tranches": paid,
                    "unpaid_tranches": unpaid }),
        );
        if o.app.status == ApplicationStatus::Active && !dry_run {
            v.fixed = mark_deleted(ctx, &o.app).await?;
        }
        out.push(v);
    }
    Ok(())
}

/// The ATS's applications with a credited referral whose money may still
/// move, in id order.
async fn open_applications(ctx: &JobContext, connector: &dyn Connector) -> Result<Vec<Open>> {
    let apps = application::Entity::find()
        .filter(application::Column::Ats.eq(connector.ats()))
        .filter(
            application::Column::Status
                .is_in([ApplicationStatus::Active, ApplicationStatus::Hired]),
        )
        .all(&ctx.db)
        .await?;
    let mut open = Vec::new();
    for app in apps {
        let Some(referral) = referral::Entity::find()
            .filter(referral::Column::ApplicationId.eq(app.id))
            .filter(referral::Column::State.eq(ReferralState::Credited))
            .one(&ctx.db)
            .await?
        else {
            continue;
        };
        let payouts = payout::Entity::find()
            .filter(payout::Column::ReferralId.eq(referral.id))
            .all(&ctx.db)
            .await?;
        let settled = app.status == ApplicationStatus::Hired
            && !payouts.is_empty()
            && payouts.iter().all(|p| SETTLED.contains(&p.state));
        if !settled {
            open.push(Open {
                app,
                referral,
                payouts,
            });
        }
    }
    open.sort_by_key(|o| o.app.id);
    Ok(open)
}

/// Marks an active application the ATS no longer has `deleted`, under its
/// capture lock and only if it is still active (a hire captured meanwhile
/// is left for the next run). Returns whether it did.
async fn mark_deleted(ctx: &JobContext, app: &application::Model) -> Result<bool> {
    let key = format!("app:{:?}:{}", app.ats, app.ats_application_id);
    let tx = begin_locked(&ctx.db, &[key]).await?;
    let Some(now) = application::Entity::find_by_id(app.id)
        .one(&tx)
        .await?
        .filter(|a| a.status == ApplicationStatus::Active)
    else {
        tx.commit().await?;
        return Ok(false);
    };
    let mut a: application::ActiveModel = now.into();
    a.status = Set(ApplicationStatus::Deleted);
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.audit(AuditEntry::system(
        "application.gone_from_ats",
        "application",
        app.id,
        json!({ "ats": app.ats, "ats_application_id": app.ats_application_id,
                "reason": "the ATS answered 404: its candidate was merged away or deleted" }),
    ));
    tx.commit().await?;
    Ok(true)
}
