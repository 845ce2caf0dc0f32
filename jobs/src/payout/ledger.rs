//! The payout ledger: one row per (referral, tranche), and the job that
//! sends it.
//!
//! Rows are made when the hire milestone is reached: the tranches paid at
//! hire become `eligible` and are sent; the tranches paid at probation
//! completion wait as `pending` until their timer fires (or are `cancelled`,
//! with the reason, when the hire is undone). A referrer who has left when a
//! tranche comes due makes it `ineligible` (when the rule requires an
//! active referrer). The unique index on (referral_id, tranche) makes every
//! step idempotent: a fanned-out hire creates each row once.
//!
//! Sending ([`send`]) moves `eligible` → `sending` → `delivered`, or
//! `failed` (a 4xx, a 410), `dead` (retries exhausted) or `outcome_unknown`
//! (a non-idempotent receiver that may have got it: never resent
//! automatically). The message's `webhook-id` and `Idempotency-Key` are the
//! row's and never change, so a receiver can dedupe every retry.

use chrono::Utc;
use entities::{
    application, employee,
    milestone::MilestoneKind,
    payout::{self, PayoutState},
    referral,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::json;

use crate::{
    audit::{self, AuditEntry},
    context::JobContext,
    db::begin_locked,
    error::{Error, Result},
    job::Job,
    payout::{
        outbound::{Message, SendOutcome},
        rules::JobFacts,
    },
};

/// The kind name of the send job.
pub const SEND_PAYOUT: &str = "send_payout";

fn milestone_name(m: MilestoneKind) -> &'static str {
    match m {
        MilestoneKind::Hire => "hire",
        MilestoneKind::ProbationComplete => "probation_complete",
    }
}

/// Creates the payout rows of a credited referral whose hire was reached;
/// returns the ids to send now. Idempotent.
///
/// # Errors
/// Database errors.
pub async fn on_hire(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    app: &application::Model,
    referral_id: i64,
    hire_milestone_id: i64,
    probation_milestone_id: Option<i64>,
) -> Result<Vec<i64>> {
    let facts = JobFacts::from(app);
    let Some(rule) = ctx.payouts.rules.select(&facts) else {
        audit::append(
            conn,
            AuditEntry::system(
                "payout.no_rule",
                "referral",
                referral_id,
                json!({ "application_id": app.id, "job_id": app.job_id }),
            ),
        )
        .await?;
        return Ok(Vec::new());
    };
    let referrer_active = referrer_active(conn, referral_id).await?;
    let now = Utc::now();
    let mut ready = Vec::new();
    for (tranche, milestone, amount) in rule.tranche_amounts() {
        let exists = payout::Entity::find()
            .filter(payout::Column::ReferralId.eq(referral_id))
            .filter(payout::Column::Tranche.eq(&tranche))
            .one(conn)
            .await?;
        if exists.is_some() {
            continue;
        }
        let at_hire = milestone == MilestoneKind::Hire;
        let (state, reason) = if at_hire && rule.require_active_referrer && !referrer_active {
            (
                PayoutState::Ineligible,
                Some("referrer is no longer an active employee".to_string()),
            )
        } else if at_hire {
            (PayoutState::Eligible, None)
        } else {
            (PayoutState::Pending, None)
        };
        let row = payout::ActiveModel {
            referral_id: Set(referral_id),
            milestone_id: Set(if at_hire {
                Some(hire_milestone_id)
            } else {
                probation_milestone_id
            }),
            tranche: Set(tranche.clone()),
            amount_minor: Set(amount),
            currency: Set(rule.currency.clone()),
            state: Set(state),
            reason: Set(reason),
            idempotency_key: Set(format!("{referral_id}:{}", milestone_name(milestone))),
            webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
            attempts: Set(0),
            last_status_code: Set(None),
            eligible_at: Set(at_hire.then_some(now)),
            sent_at: Set(None),
            delivered_at: Set(None),
            is_test: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        audit::append(
            conn,
            AuditEntry::system(
                "payout.created",
                "payout",
                row.id,
                json!({ "referral_id": referral_id, "tranche": tranche, "amount_minor": amount,
                    "currency": rule.currency, "state": state }),
            ),
        )
        .await?;
        if state == PayoutState::Eligible {
            ready.push(row.id);
        }
    }
    Ok(ready)
}

async fn referrer_active(conn: &impl ConnectionTrait, referral_id: i64) -> Result<bool> {
    let Some(r) = referral::Entity::find_by_id(referral_id).one(conn).await? else {
        return Ok(false);
    };
    Ok(employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(&r.employee_id))
        .one(conn)
        .await?
        .is_some_and(|e| e.active))
}

/// The probation tranche of `referral_id` comes due; returns the ids to send.
///
/// # Errors
/// Database errors.
pub async fn on_probation(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    referral_id: i64,
) -> Result<Vec<i64>> {
    let active = referrer_active(conn, referral_id).await?;
    // The rule of this referral's job decides, as it did at hire.
    let app = match referral::Entity::find_by_id(referral_id).one(conn).await? {
        Some(r) => match r.application_id {
            Some(id) => application::Entity::find_by_id(id).one(conn).await?,
            None => None,
        },
        None => None,
    };
    let require_active = app
        .map(|a| JobFacts::from(&a))
        .and_then(|facts| {
            ctx.payouts
                .rules
                .select(&facts)
                .map(|r| r.require_active_referrer)
        })
        .unwrap_or(true);
    let pending = payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(referral_id))
        .filter(payout::Column::State.eq(PayoutState::Pending))
        .all(conn)
        .await?;
    let mut ready = Vec::new();
    for p in pending {
        let id = p.id;
        let eligible = active || !require_active;
        let mut a: payout::ActiveModel = p.into();
        a.state = Set(if eligible {
            PayoutState::Eligible
        } else {
            PayoutState::Ineligible
        });
        if eligible {
            a.eligible_at = Set(Some(Utc::now()));
        } else {
            a.reason = Set(Some("referrer is no longer an active employee".into()));
        }
        a.updated_at = Set(Utc::now());
        a.update(conn).await?;
        audit::append(
            conn,
            AuditEntry::system(
                if eligible {
                    "payout.eligible"
                } else {
                    "payout.ineligible"
                },
                "payout",
                id,
                json!({ "referral_id": referral_id }),
            ),
        )
        .await?;
        if eligible {
            ready.push(id);
        }
    }
    Ok(ready)
}

/// The hire was undone: tranches not yet sent are cancelled with `reason`.
///
/// # Errors
/// Database errors.
pub async fn cancel_pending(
    conn: &impl ConnectionTrait,
    referral_id: i64,
    reason: &str,
) -> Result<()> {
    let open = payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(referral_id))
        .filter(payout::Column::State.is_in([
            PayoutState::Pending,
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Held,
        ]))
        .all(conn)
        .await?;
    for p in open {
        let id = p.id;
        let mut a: payout::ActiveModel = p.into();
        a.state = Set(PayoutState::Cancelled);
        a.reason = Set(Some(reason.to_string()));
        a.updated_at = Set(Utc::now());
        a.update(conn).await?;
        audit::append(
            conn,
            AuditEntry::system(
                "payout.cancelled",
                "payout",
                id,
                json!({ "reason": reason }),
            ),
        )
        .await?;
    }
    Ok(())
}

/// Enqueues the send job of each payout (keyed by payout: at most one live).
///
/// # Errors
/// Queue errors.
pub async fn enqueue_sends(ctx: &JobContext, ids: &[i64]) -> Result<()> {
    for id in ids {
        let job = Job::SendPayout { payout_id: *id }
            .to_new_job(&ctx.retry)?
            .idempotency_key(format!("send:{id}"));
        ctx.queue.enqueue(job).await?;
    }
    Ok(())
}

/// The `send_payout` job: one attempt at POSTing the bonus event.
///
/// # Errors
/// The send's verdict: retryable (with Retry-After) or permanent.
pub async fn send(ctx: &JobContext, payout_id: i64, attempt: u32) -> Result<()> {
    let Some(client) = ctx.payouts.destination.clone() else {
        // Nothing to send to: the row stays eligible, visible to ops; the
        // sweeper sends it once a destination is configured.
        return Ok(());
    };
    let tx = begin_locked(&ctx.db, &[format!("payout:{payout_id}")]).await?;
    let Some(p) = payout::Entity::find_by_id(payout_id).one(&tx).await? else {
        return Err(Error::permanent(format!(
            "payout {payout_id} does not exist"
        )));
    };
    if !matches!(
        p.state,
        PayoutState::Eligible | PayoutState::Approved | PayoutState::Sending
    ) {
        return Ok(());
    }
    // `sending` on entry means an earlier attempt started and never recorded
    // its outcome (the worker died mid-POST): the receiver may have it. Only
    // an idempotent receiver may be sent the same message again.
    if p.state == PayoutState::Sending && !client.destination().idempotent {
        let reason = "an earlier attempt was interrupted before its outcome was known; \
                      the receiver is not idempotent, so it is not resent automatically";
        let mut a: payout::ActiveModel = p.into();
        a.state = Set(PayoutState::OutcomeUnknown);
        a.reason = Set(Some(reason.into()));
        a.updated_at = Set(Utc::now());
        a.update(&tx).await?;
        audit::append(
            &tx,
            AuditEntry::system(
                "payout.outcome_unknown",
                "payout",
                payout_id,
                json!({ "reason": reason }),
            ),
        )
        .await?;
        tx.commit().await?;
        return Ok(());
    }
    let r = referral::Entity::find_by_id(p.referral_id)
        .one(&tx)
        .await?
        .ok_or_else(|| Error::permanent("payout without referral"))?;
    let app = match r.application_id {
        Some(id) => application::Entity::find_by_id(id).one(&tx).await?,
        None => None,
    };
    let milestone = if p.idempotency_key.ends_with(":hire") {
        "hire"
    } else {
        "probation_complete"
    };
    let message = Message {
        id: p.webhook_id.clone(),
        event_type: "referral.milestone_reached".into(),
        occurred_at: Utc::now(),
        data: json!({
            "referral_id": r.id.to_string(),
            "referring_employee_id": r.employee_id,
            "milestone": milestone,
            "candidate": {
                "ats": app.as_ref().map(|a| a.ats),
                "ats_application_id": app.as_ref().map(|a| a.ats_application_id.clone()),
            },
            "job": { "ats_job_id": app.as_ref().map(|a| a.job_id.clone()),
                     "requisition_id": app.as_ref().and_then(|a| a.requisition_id.clone()) },
            "hire": { "hired_at": app.as_ref().and_then(|a| a.hired_at),
                      "start_date": app.as_ref().and_then(|a| a.start_date) },
            "bonus": { "tranche": p.tranche, "amount_minor": p.amount_minor, "currency": p.currency },
            "idempotency_key": p.idempotency_key,
        }),
        idempotency_key: p.idempotency_key.clone(),
    };
    let mut a: payout::ActiveModel = p.clone().into();
    a.state = Set(PayoutState::Sending);
    a.attempts = Set(p.attempts + 1);
    a.sent_at = Set(Some(Utc::now()));
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.commit().await?;

    let outcome = client.send(&message).await;
    let max = ctx.retry.for_kind(SEND_PAYOUT).max_attempts;
    let (state, reason) = match &outcome {
        SendOutcome::Delivered { .. } => (PayoutState::Delivered, None),
        SendOutcome::Retry { reason, .. } if attempt >= max => (
            PayoutState::Dead,
            Some(format!("gave up after {attempt} attempts: {reason}")),
        ),
        // Back to eligible while the retry waits, so `sending` only ever
        // means "an attempt is in flight".
        SendOutcome::Retry { .. } => (PayoutState::Eligible, None),
        SendOutcome::Failed { reason, .. } | SendOutcome::Gone { reason } => {
            (PayoutState::Failed, Some(reason.clone()))
        }
        SendOutcome::OutcomeUnknown { reason } => {
            (PayoutState::OutcomeUnknown, Some(reason.clone()))
        }
    };
    let tx = begin_locked(&ctx.db, &[format!("payout:{payout_id}")]).await?;
    let mut a: payout::ActiveModel = payout::Entity::find_by_id(payout_id)
        .one(&tx)
        .await?
        .ok_or_else(|| Error::permanent("payout vanished"))?
        .into();
    a.state = Set(state);
    if reason.is_some() {
        a.reason = Set(reason.clone());
    }
    a.last_status_code = Set(outcome.status().map(i32::from));
    if state == PayoutState::Delivered {
        a.delivered_at = Set(Some(Utc::now()));
    }
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    audit::append(
        &tx,
        AuditEntry::system(
            "payout.attempt",
            "payout",
            payout_id,
            json!({
                "webhook_id": message.id, "attempt": attempt, "status_code": outcome.status(),
                "state": state, "reason": reason,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    match outcome {
        // Unknown outcome to a non-idempotent receiver: the job is done; the
        // row waits for ops (resend with the same key, or mark delivered).
        SendOutcome::OutcomeUnknown { .. } => Ok(()),
        other => other.into_job_result(),
    }
}
