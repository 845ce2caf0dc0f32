//! The `send_payout` job: one attempt at POSTing a payout's bonus event to
//! the bonus destination through the signed webhook sender
//! ([`crate::outbound::webhook`]).
//!
//! An attempt is three steps, each its own transaction or call, so no
//! database lock is held while the receiver is on the line:
//!
//! 1. `claim`: lock the row, check it may be sent now, build the message
//!    from the row (the same bytes on every retry) and mark it `sending`;
//! 2. the POST ([`OutboundClient::send`]), whose outcome becomes the row's
//!    next state (`next_state`);
//! 3. `record`: store the state, audit the attempt, tell the referral
//!    platform, and switch the destination off (410) or alert ops (failed,
//!    dead, outcome unknown).
//!
//! Enqueued by the ledger ([`super::ledger::enqueue_sends`]); run by
//! [`crate::dispatch`]. The states are described in [`super::ledger`].

use std::sync::Arc;

use chrono::Utc;
use entities::{
    application, candidate_ats_id, milestone,
    payout::{self, PayoutState},
    referral,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::json;

use super::alert::payout_alert;
use super::ledger::{milestone_of, notify, sendable, state_name, tranche_position};
use crate::{
    context::JobContext,
    db::{LockedTx, audit::AuditEntry, begin_locked},
    error::{Error, Result},
    job::Job,
    outbound::webhook::{Message, OutboundClient, SendOutcome},
    outbox::{self, BONUS_DESTINATION},
    payout::rules::JobFacts,
};

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
    if outbox::is_disabled(&ctx.db, BONUS_DESTINATION).await? {
        // Switched off by a 410: the row waits; re-enabling sweeps it.
        return Ok(());
    }
    let Some((p, message)) = claim(ctx, &client, payout_id).await? else {
        return Ok(());
    };

    let started = std::time::Instant::now();
    let outcome = client.send(&message).await;
    let attempted = Attempt {
        number: attempt,
        before: p.state,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let max = ctx.retry.for_kind(Job::SEND_PAYOUT).max_attempts;
    let (state, reason) = next_state(&outcome, attempt, max, p.state, p.needs_approval);
    record(
        ctx, payout_id, &message, &attempted, &outcome, state, reason,
    )
    .await?;
    match outcome {
        // Unknown outcome to a non-idempotent receiver: the job is done; the
        // row waits for ops (resend with the same key, or mark delivered).
        SendOutcome::OutcomeUnknown { .. } => Ok(()),
        // Not this job's failure: the destination is off until ops say.
        SendOutcome::Gone { .. } => Ok(()),
        other => other.into_job_result(),
    }
}

/// Step 1: locks the row and, when it may be sent now, marks it `sending`
/// and returns it (as it was) with the message to POST. `None` when there
/// is nothing to send (held, awaiting approval, cancelled or finished
/// meanwhile, or an interrupted attempt to a non-idempotent receiver, now
/// `outcome_unknown`).
async fn claim(
    ctx: &JobContext,
    client: &Arc<OutboundClient>,
    payout_id: i64,
) -> Result<Option<(payout::Model, Message)>> {
    let tx = begin_locked(&ctx.db, &[format!("payout:{payout_id}")]).await?;
    let Some(p) = payout::Entity::find_by_id(payout_id)
        .lock_exclusive()
        .one(&tx)
        .await?
    else {
        return Err(Error::permanent(format!(
            "payout {payout_id} does not exist"
        )));
    };
    if !sendable(&p) {
        // Held, awaiting approval, cancelled or finished meanwhile.
        return Ok(None);
    }
    wait_for_attempt_in_flight(&p, client)?;
    if p.state == PayoutState::Sending && !client.destination().idempotent {
        give_up_interrupted(ctx, tx, p).await?;
        return Ok(None);
    }
    let message = bonus_message(ctx, &tx, &p).await?;
    let mut a: payout::ActiveModel = p.clone().into();
    a.state = Set(PayoutState::Sending);
    a.attempts = Set(p.attempts + 1);
    a.sent_at = Set(Some(Utc::now()));
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.commit().await?;
    Ok(Some((p, message)))
}

/// `sending` on entry means an earlier attempt started and never recorded
/// its outcome (the worker died mid-POST): the receiver may have it. Only
/// an idempotent receiver may be sent the same message again.
/// `sending` may also be an attempt still in flight in another worker:
/// this job can exist beside it when the queue lost the job that made
/// it (a Redis wipe, then the sweeper). Until that attempt must have
/// ended (its request timeout, plus a margin), wait for it rather than
/// send the same payout twice.
fn wait_for_attempt_in_flight(p: &payout::Model, client: &OutboundClient) -> Result<()> {
    if p.state == PayoutState::Sending
        && let Some(sent_at) = p.sent_at
    {
        let window = chrono::Duration::from_std(client.request_timeout()).unwrap_or_default()
            + chrono::Duration::seconds(5);
        let ends = sent_at + window;
        let now = Utc::now();
        if ends > now {
            return Err(Error::RetryAfter {
                after: (ends - now).to_std().unwrap_or_default(),
                reason: format!("payout {}: an attempt may still be in flight", p.id),
            });
        }
    }
    Ok(())
}

/// An interrupted attempt to a receiver that is not idempotent: the row
/// becomes `outcome_unknown` and ops are alerted; nothing is resent.
async fn give_up_interrupted(ctx: &JobContext, tx: LockedTx, p: payout::Model) -> Result<()> {
    let payout_id = p.id;
    let reason = "an earlier attempt was interrupted before its outcome was known; \
                  the receiver is not idempotent, so it is not resent automatically";
    let mut a: payout::ActiveModel = p.into();
    a.state = Set(PayoutState::OutcomeUnknown);
    a.reason = Set(Some(reason.into()));
    a.updated_at = Set(Utc::now());
    let row = a.update(&tx).await?;
    tx.audit(AuditEntry::system(
        "payout.outcome_unknown",
        "payout",
        payout_id,
        json!({ "reason": reason }),
    ));
    notify(ctx, &tx, &row).await?;
    payout_alert(
        ctx,
        &tx,
        &row,
        &format!("outcome_unknown and needs ops: {reason}"),
    )
    .await?;
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(())
}

/// The `referral.milestone_reached` message for `p`, built from the rows
/// alone, so every attempt sends the same bytes under the same id. Its
/// shape is the published contract (`docs/schemas/referral.milestone_reached.json`,
/// the sample `outbound_referral_milestone_reached.json`): the milestone's
/// contract name, the tranche as an integer with `of_tranches`, and
/// `idempotency_key` equal to the `Idempotency-Key` header.
async fn bonus_message(ctx: &JobContext, tx: &LockedTx, p: &payout::Model) -> Result<Message> {
    let r = referral::Entity::find_by_id(p.referral_id)
        .one(tx)
        .await?
        .ok_or_else(|| Error::permanent("payout without referral"))?;
    let app = match r.application_id {
        Some(id) => application::Entity::find_by_id(id).one(tx).await?,
        None => None,
    };
    let milestone = milestone_of(p);
    let milestone_at = match p.milestone_id {
        Some(id) => milestone::Entity::find_by_id(id)
            .one(tx)
            .await?
            .and_then(|m| m.occurred_at),
        None => None,
    };
    let ats_candidate_id = match &app {
        Some(a) => candidate_ats_id::Entity::find()
            .filter(candidate_ats_id::Column::CandidateId.eq(a.candidate_id))
            .filter(candidate_ats_id::Column::Ats.eq(a.ats))
            .one(tx)
            .await?
            .map(|c| c.ats_candidate_id),
        None => None,
    };
    let (tranche, of_tranches) = tranche_position(tx, p).await?;
    // The rule that made the row; rows made before it was recorded name the
    // rule their job matches now.
    let rule = match &p.rule_id {
        Some(id) => ctx.payouts.rules.rules().iter().find(|r| &r.id == id),
        None => app
            .as_ref()
            .and_then(|a| ctx.payouts.rules.select(&JobFacts::from(a))),
    };
    let rule_id = p.rule_id.clone().or_else(|| rule.map(|r| r.id.clone()));
    let probation_days = rule.map(|r| r.probation.as_secs() / 86_400);
    // The body's timestamp is when the milestone happened, never this
    // attempt's time: every retry under this webhook-id carries the same
    // event (the attempt's time is in the webhook-timestamp header).
    let occurred_at = milestone_at.or(p.eligible_at).unwrap_or(p.created_at);
    Ok(Message {
        id: p.webhook_id.clone(),
        event_type: "referral.milestone_reached".into(),
        occurred_at,
        data: json!({
            "referral_id": r.public_id,
            "milestone": milestone,
            "milestone_at": milestone_at,
            "probation_days": probation_days,
            "referring_employee_id": r.employee_id,
            "candidate": {
                "ats": app.as_ref().map(|a| a.ats),
                "ats_candidate_id": ats_candidate_id,
                "ats_application_id": app.as_ref().map(|a| a.ats_application_id.clone()),
            },
            "job": { "ats_job_id": app.as_ref().map(|a| a.job_id.clone()),
                     "requisition_id": app.as_ref().and_then(|a| a.requisition_id.clone()) },
            "hire": { "hired_at": app.as_ref().and_then(|a| a.hired_at),
                      // A day, as the contract and the ATS give it.
                      "start_date": app.as_ref().and_then(|a| a.start_date)
                          .map(|d| d.date_naive().to_string()) },
            "bonus": { "rule_id": rule_id, "tranche": tranche, "of_tranches": of_tranches,
                       "amount_minor": p.amount_minor, "currency": p.currency },
            "idempotency_key": p.idempotency_key,
        }),
        idempotency_key: p.idempotency_key.clone(),
    })
}

/// Step 2: the row's next state after `outcome`, and the reason to store.
/// `before` is the state the row was claimed in.
fn next_state(
    outcome: &SendOutcome,
    attempt: u32,
    max_attempts: u32,
    before: PayoutState,
    needs_approval: bool,
) -> (PayoutState, Option<String>) {
    match outcome {
        SendOutcome::Delivered { .. } => (PayoutState::Delivered, None),
        SendOutcome::Retry { reason, .. } if attempt >= max_attempts => (
            PayoutState::Dead,
            Some(format!("gave up after {attempt} attempts: {reason}")),
        ),
        // Back to where it was while the retry waits, so `sending` only
        // ever means "an attempt is in flight".
        SendOutcome::Retry { reason, .. } => {
            (resting(before, needs_approval), Some(reason.clone()))
        }
        // The destination is switched off; the row waits for it.
        SendOutcome::Gone { reason } => (resting(before, needs_approval), Some(reason.clone())),
        SendOutcome::Failed { reason, .. } => (PayoutState::Failed, Some(reason.clone())),
        SendOutcome::OutcomeUnknown { reason } => {
            (PayoutState::OutcomeUnknown, Some(reason.clone()))
        }
    }
}

/// The state a row returns to between attempts: an approved row stays
/// approved (an interrupted one was approved if it needed to be).
fn resting(before: PayoutState, needs_approval: bool) -> PayoutState {
    match before {
        PayoutState::Approved => PayoutState::Approved,
        PayoutState::Sending if needs_approval => PayoutState::Approved,
        _ => PayoutState::Eligible,
    }
}

/// What the attempt was, for its audit event.
struct Attempt {
    /// 1-based.
    number: u32,
    /// The row's state when it was claimed.
    before: PayoutState,
    /// From the POST to its answer.
    duration_ms: u64,
}

/// Step 3: stores the attempt's outcome on the row and audits it; tells
/// the referral platform about a new state; switches the destination off
/// after a 410, alerts ops about a failed, dead or unknown payout.
async fn record(
    ctx: &JobContext,
    payout_id: i64,
    message: &Message,
    attempt: &Attempt,
    outcome: &SendOutcome,
    state: PayoutState,
    reason: Option<String>,
) -> Result<()> {
    let tx = begin_locked(&ctx.db, &[format!("payout:{payout_id}")]).await?;
    let mut a: payout::ActiveModel = payout::Entity::find_by_id(payout_id)
        .lock_exclusive()
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
    let row = a.update(&tx).await?;
    tx.audit(AuditEntry::system(
        "payout.attempt",
        "payout",
        payout_id,
        json!({
            "webhook_id": message.id, "attempt": attempt.number, "status_code": outcome.status(),
            "duration_ms": attempt.duration_ms,
            "state": state, "reason": reason,
        }),
    ));
    // A retry waiting is not news to the referrer; every other end is.
    if state != attempt.before {
        notify(ctx, &tx, &row).await?;
    }
    let job_id = row.send_job_id.as_deref();
    match outcome {
        SendOutcome::Gone { reason } => {
            outbox::disable(ctx, &tx, BONUS_DESTINATION, reason, job_id).await?;
        }
        _ if matches!(
            state,
            PayoutState::Failed | PayoutState::Dead | PayoutState::OutcomeUnknown
        ) =>
        {
            let what = format!("{}: {}", state_name(state), reason.as_deref().unwrap_or(""));
            payout_alert(ctx, &tx, &row, &what).await?;
        }
        _ => {}
    }
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(())
}
