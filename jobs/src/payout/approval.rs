//! What ops do to a payout by hand, each audited with the actor and the
//! reason: [`approve`] one that waits for approval (or release a held one),
//! [`hold`] one that has not been sent, [`resolve`] one whose outcome is
//! unknown.
//!
//! Called by the ops API (`worker/src/http/ops.rs`) and the CLI
//! (`referral-worker payouts ...`, `worker/src/commands/ops.rs`).

use chrono::Utc;
use entities::payout::{self, PayoutState};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;

use super::ledger::{enqueue_sends, notify, state_name};
use crate::{
    context::JobContext,
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
    outbox,
};

/// Ops approve a payout that waits for approval (or release a held one):
/// it becomes `approved` and is sent. Audited with the actor and reason.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] when the payout is not
/// waiting for approval or held.
pub async fn approve(
    ctx: &JobContext,
    payout_id: i64,
    actor: &str,
    reason: &str,
) -> Result<payout::Model> {
    let row = ops_transition(
        ctx,
        payout_id,
        actor,
        reason,
        "payout.approved",
        |p| match p.state {
            PayoutState::Eligible | PayoutState::Held => Ok(PayoutState::Approved),
            _ => Err("only an eligible (awaiting approval) or held payout can be approved"),
        },
    )
    .await?;
    enqueue_sends(ctx, &[payout_id]).await?;
    Ok(row)
}

/// Ops freeze a payout that has not been sent (a dispute, an
/// investigation); only [`approve`] moves it on. Audited with the actor.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] for a payout that is
/// pending its milestone, in flight or finished.
pub async fn hold(
    ctx: &JobContext,
    payout_id: i64,
    actor: &str,
    reason: &str,
) -> Result<payout::Model> {
    ops_transition(ctx, payout_id, actor, reason, "payout.held", |p| {
        match p.state {
            PayoutState::Eligible | PayoutState::Approved | PayoutState::Failed => {
                Ok(PayoutState::Held)
            }
            _ => Err("only an eligible, approved or failed payout can be held"),
        }
    })
    .await
}

/// How ops settle a payout whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The bonus system confirms it got it: `delivered`, nothing is sent.
    Delivered,
    /// Send it again under the same `webhook-id` and `Idempotency-Key`
    /// (ops checked that the receiver does not have it, or dedupes).
    Resend,
}

/// Ops settle an `outcome_unknown` payout. Audited with the actor.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::InvalidState`] unless the payout's outcome
/// is unknown.
pub async fn resolve(
    ctx: &JobContext,
    payout_id: i64,
    resolution: Resolution,
    actor: &str,
    reason: &str,
) -> Result<payout::Model> {
    let (action, to) = match resolution {
        Resolution::Delivered => ("payout.marked_delivered", PayoutState::Delivered),
        Resolution::Resend => ("payout.resend", PayoutState::Approved),
    };
    let row = ops_transition(ctx, payout_id, actor, reason, action, |p| {
        if p.state == PayoutState::OutcomeUnknown {
            Ok(to)
        } else {
            Err("only a payout whose outcome is unknown can be resolved")
        }
    })
    .await?;
    if resolution == Resolution::Delivered {
        payout::Entity::update_many()
            .set(payout::ActiveModel {
                delivered_at: Set(Some(Utc::now())),
                ..Default::default()
            })
            .filter(payout::Column::Id.eq(payout_id))
            .exec(&ctx.db)
            .await?;
    } else {
        enqueue_sends(ctx, &[payout_id]).await?;
    }
    Ok(row)
}

async fn ops_transition(
    ctx: &JobContext,
    payout_id: i64,
    actor: &str,
    reason: &str,
    action: &str,
    next: impl FnOnce(&payout::Model) -> std::result::Result<PayoutState, &'static str>,
) -> Result<payout::Model> {
    let tx = begin_locked(&ctx.db, &[format!("payout:{payout_id}")]).await?;
    let Some(p) = payout::Entity::find_by_id(payout_id)
        .lock_exclusive()
        .one(&tx)
        .await?
    else {
        return Err(Error::NotFound(format!("payout {payout_id}")));
    };
    let state = next(&p).map_err(|why| Error::InvalidState {
        id: format!("payout {payout_id}"),
        state: state_name(p.state),
        reason: why,
    })?;
    let previous = p.state;
    let mut a: payout::ActiveModel = p.into();
    a.state = Set(state);
    a.reason = Set(Some(format!("{action} by {actor}: {reason}")));
    a.updated_at = Set(Utc::now());
    let row = a.update(&tx).await?;
    tx.audit(AuditEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        subject_type: "payout".into(),
        subject_id: payout_id.to_string(),
        data: json!({ "from": previous, "to": state, "reason": reason }),
    });
    notify(ctx, &tx, &row).await?;
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(row)
}
