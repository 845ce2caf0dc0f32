//! The payout ledger: one row per (referral, tranche), made and moved by
//! the milestones that earn it.
//!
//! Rows are made when the hire milestone is reached: the tranches paid at
//! hire become `eligible` and are sent; the tranches paid at probation
//! completion wait as `pending` until their timer fires (or are `cancelled`,
//! with the reason, when the hire is undone). A referrer who has left when a
//! tranche comes due makes it `ineligible` (when the rule requires an
//! active referrer). The unique index on (referral_id, tranche) makes every
//! step idempotent: a fanned-out hire creates each row once.
//!
//! A rule with `require_approval` makes its rows wait as `eligible` with
//! `needs_approval` until ops approve them (→ `approved`); ops can hold a
//! row that has not been sent, and approving it releases it (both in
//! [`super::approval`]).
//!
//! Sending ([`super::send`]) moves `eligible`/`approved` → `sending` →
//! `delivered`, or `failed` (a 4xx), `dead` (retries exhausted) or
//! `outcome_unknown` (a non-idempotent receiver that may have got it: never
//! resent automatically). A `410 Gone` switches the bonus destination off
//! for every process ([`crate::outbox::disable`], with an alert) and puts
//! the row back to wait. The message's `webhook-id` and `Idempotency-Key`
//! are the row's and never change, so a receiver can dedupe every retry.
//!
//! Every state change but the in-flight `sending` marker is audited and
//! staged for the referral platform's status sync
//! ([`crate::outbox`]); failed and dead payouts alert ops with the job's
//! id and its link in the ops API.
//!
//! Which job sends a row is recorded on it (`send_job_id`): the queue keeps
//! a finished job's idempotency key while it retains the job, so
//! [`enqueue_sends`] asks the queue whether the recorded job is still live
//! instead, and gives the row a new job when it is not (approved after a
//! hold, destination re-enabled, Redis wiped).
//!
//! Called by the milestones ([`crate::milestones`]: [`on_hire`],
//! [`on_probation`], [`cancel_pending`], then [`enqueue_sends`] after the
//! commit) and by the sweeper ([`sweep`]).

use chrono::Utc;
use entities::{
    application, employee,
    milestone::MilestoneKind,
    outbound_message::OutboundChannel,
    payout::{self, PayoutState},
    referral,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::{
    context::JobContext,
    db::{LockedTx, audit::AuditEntry},
    error::Result,
    job::Job,
    outbox::{self, BONUS_DESTINATION, Subject},
    payout::{
        job_facts::KnownJob,
        rules::{BonusRule, Choice, Fact, JobFacts},
    },
};

/// A milestone as the published bonus contract names it
/// (`docs/schemas/referral.milestone_reached.json`): `hired`,
/// `probation_completed`. The status sync and the CRM use the same names.
pub fn milestone_name(m: MilestoneKind) -> &'static str {
    match m {
        MilestoneKind::Hire => "hired",
        MilestoneKind::ProbationComplete => "probation_completed",
    }
}

/// The milestone a row pays for, from its idempotency key: new keys end in
/// the contract's name, rows made before it in the old one (`:hire`,
/// `:probation_complete`); both map to the contract's name.
pub fn milestone_of(p: &payout::Model) -> &'static str {
    if p.idempotency_key.ends_with(":hire") || p.idempotency_key.ends_with(":hired") {
        milestone_name(MilestoneKind::Hire)
    } else {
        milestone_name(MilestoneKind::ProbationComplete)
    }
}

/// The row's tranche as the contract counts it: its 1-based position among
/// its referral's tranches (made in the rule's order, so in id order), and
/// how many there are.
///
/// # Errors
/// Database errors.
pub async fn tranche_position(
    conn: &impl ConnectionTrait,
    p: &payout::Model,
) -> Result<(u64, u64)> {
    let ids: Vec<i64> = payout::Entity::find()
        .select_only()
        .column(payout::Column::Id)
        .filter(payout::Column::ReferralId.eq(p.referral_id))
        .order_by_asc(payout::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let position = ids.iter().position(|&id| id == p.id).unwrap_or(0) as u64 + 1;
    Ok((position, ids.len().max(1) as u64))
}

/// A state as stored and serialised (`outcome_unknown`).
pub(super) fn state_name(state: PayoutState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether a row may be sent now (by state and approval).
pub(super) fn sendable(p: &payout::Model) -> bool {
    match p.state {
        PayoutState::Eligible => !p.needs_approval,
        PayoutState::Approved | PayoutState::Sending => true,
        _ => false,
    }
}

/// Stages the referral platform's status sync for a payout's new state.
///
/// # Errors
/// Database errors.
pub async fn notify(ctx: &JobContext, conn: &LockedTx, p: &payout::Model) -> Result<()> {
    let Some(r) = referral::Entity::find_by_id(p.referral_id)
        .one(conn)
        .await?
    else {
        return Ok(());
    };
    let (tranche, of_tranches) = tranche_position(conn, p).await?;
    outbox::stage(
        ctx,
        conn,
        OutboundChannel::StatusSync,
        "referral.status_changed",
        Subject {
            kind: "payout",
            id: Some(p.id),
        },
        json!({
            "referral_id": r.public_id,
            "referring_employee_id": r.employee_id,
            "subject": "payout",
            "payout_id": p.public_id,
            "milestone": milestone_of(p),
            "tranche": tranche,
            "of_tranches": of_tranches,
            "tranche_name": p.tranche,
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "state": p.state,
            "awaiting_approval": p.state == PayoutState::Eligible && p.needs_approval,
            "reason": p.reason,
            "changed_at": Utc::now(),
        }),
    )
    .await?;
    Ok(())
}

/// Creates the payout rows of a credited referral whose hire was reached;
/// returns the ids to send now. Idempotent.
///
/// # Errors
/// Database errors.
///
/// The rule is chosen on `job` (the facts [`super::job_facts`] read from
/// the ATS). When the ATS does not say a fact a rule depends on, the tier
/// is undecided: the rows are priced by the first rule that applies on
/// what is known (else the undecided one), and every one of them waits
/// for approval with the reason, so no amount is paid on a guess.
#[allow(clippy::too_many_arguments)]
pub async fn on_hire(
    ctx: &JobContext,
    conn: &LockedTx,
    app: &application::Model,
    job: &KnownJob,
    referral_id: i64,
    hire_milestone_id: i64,
    probation_milestone_id: Option<i64>,
) -> Result<Vec<i64>> {
    let (rule, undecided) = match ctx.payouts.rules.choose(&job.facts) {
        Choice::Rule(rule) => (rule, None),
        Choice::Undecided {
            rule: tier,
            missing,
            fallback,
        } => {
            let priced = fallback.unwrap_or(tier);
            let why = undecided_reason(app, job, tier, &missing, priced);
            (priced, Some(why))
        }
        Choice::NoRule => {
            conn.audit(AuditEntry::system(
                "payout.no_rule",
                "referral",
                referral_id,
                json!({ "application_id": app.id, "job_id": app.job_id }),
            ));
            return Ok(Vec::new());
        }
    };
    let Some(referral) = referral::Entity::find_by_id(referral_id).one(conn).await? else {
        return Ok(Vec::new());
    };
    let referrer_active = referrer_active(conn, referral_id).await?;
    let is_test = referral_is_test(conn, referral_id).await?;
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
            (PayoutState::Eligible, undecided.clone())
        } else {
            (PayoutState::Pending, undecided.clone())
        };
        let needs_approval = rule.require_approval || undecided.is_some();
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
            // Built from the referral's global id, never a row number: no
            // two deployments or environments share a key.
            idempotency_key: Set(format!(
                "{}:{}",
                referral.public_id,
                milestone_name(milestone)
            )),
            rule_id: Set(Some(rule.id.clone())),
            webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
            attempts: Set(0),
            last_status_code: Set(None),
            eligible_at: Set(at_hire.then_some(now)),
            sent_at: Set(None),
            delivered_at: Set(None),
            is_test: Set(is_test),
            needs_approval: Set(needs_approval),
            send_job_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await?;
        conn.audit(AuditEntry::system(
            "payout.created",
            "payout",
            row.id,
            json!({ "referral_id": referral_id, "tranche": tranche, "amount_minor": amount,
                    "currency": rule.currency, "state": state, "rule": rule.id,
                    "needs_approval": needs_approval, "tier_undecided": undecided }),
        ));
        notify(ctx, conn, &row).await?;
        if sendable(&row) {
            ready.push(row.id);
        }
    }
    Ok(ready)
}

/// Why a hire's tier is undecided, in words ops act on: what the ATS does
/// not say, which rule needed it, what the rows are priced by.
fn undecided_reason(
    app: &application::Model,
    job: &KnownJob,
    tier: &BonusRule,
    missing: &[Fact],
    priced: &BonusRule,
) -> String {
    let facts: Vec<&str> = missing.iter().map(|f| f.name()).collect();
    let because = match &job.unknown_reason {
        Some(why) => format!(" ({why})"),
        None => String::new(),
    };
    format!(
        "bonus tier undecided: the ATS does not say the {} of job {}{because}, which rule {:?} \
         depends on; priced by rule {:?} ({} minor units {}) until someone checks: \
         approve to pay this amount, or hold it",
        facts.join(" and "),
        app.job_id,
        tier.id,
        priced.id,
        priced.amount_minor,
        priced.currency,
    )
}

/// Whether the referral is test data (its own flag or its candidate's), so
/// its payouts are too.
async fn referral_is_test(conn: &impl ConnectionTrait, referral_id: i64) -> Result<bool> {
    let Some(r) = referral::Entity::find_by_id(referral_id).one(conn).await? else {
        return Ok(false);
    };
    if r.is_test {
        return Ok(true);
    }
    Ok(entities::candidate::Entity::find_by_id(r.candidate_id)
        .one(conn)
        .await?
        .is_some_and(|c| c.is_test))
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
pub async fn on_probation(ctx: &JobContext, conn: &LockedTx, referral_id: i64) -> Result<Vec<i64>> {
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
    // Locked rows, in id order: a send or an ops action deciding about the
    // same payout under its own key waits, and reads what this wrote.
    let pending = payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(referral_id))
        .filter(payout::Column::State.eq(PayoutState::Pending))
        .order_by_asc(payout::Column::Id)
        .lock_exclusive()
        .all(conn)
        .await?;
    let mut ready = Vec::new();
    for p in pending {
        let id = p.id;
        let eligible = active || !require_active;
        let needs_approval = p.needs_approval;
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
        let row = a.update(conn).await?;
        conn.audit(AuditEntry::system(
            if eligible {
                "payout.eligible"
            } else {
                "payout.ineligible"
            },
            "payout",
            id,
            json!({ "referral_id": referral_id, "needs_approval": needs_approval }),
        ));
        notify(ctx, conn, &row).await?;
        if sendable(&row) {
            ready.push(id);
        }
    }
    Ok(ready)
}

/// The hire was undone: tranches not yet sent are cancelled with `reason`.
///
/// # Errors
/// Database errors.
/// `rejected` says the hire was undone by a rejection: the referral
/// platform is told only when `notifications.notify_rejections` is on.
/// `earned_too`: also cancel tranches whose milestone was reached but that
/// are not sent yet (the hire itself was undone); a termination during
/// probation passes `false`, because the hire tranche was earned.
pub async fn cancel_pending(
    ctx: &JobContext,
    conn: &LockedTx,
    referral_id: i64,
    reason: &str,
    rejected: bool,
    earned_too: bool,
) -> Result<()> {
    let states: &[PayoutState] = if earned_too {
        &[
            PayoutState::Pending,
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Held,
        ]
    } else {
        &[PayoutState::Pending]
    };
    // Locked, in id order (see `on_probation`): a payout a concurrent send
    // has just moved to `sending` no longer matches once the lock is had,
    // so it is never cancelled behind a POST that pays it.
    let open = payout::Entity::find()
        .filter(payout::Column::ReferralId.eq(referral_id))
        .filter(payout::Column::State.is_in(states.iter().copied()))
        .order_by_asc(payout::Column::Id)
        .lock_exclusive()
        .all(conn)
        .await?;
    for p in open {
        let id = p.id;
        let mut a: payout::ActiveModel = p.into();
        a.state = Set(PayoutState::Cancelled);
        a.reason = Set(Some(reason.to_string()));
        a.updated_at = Set(Utc::now());
        let row = a.update(conn).await?;
        conn.audit(AuditEntry::system(
            "payout.cancelled",
            "payout",
            id,
            json!({ "reason": reason }),
        ));
        if !rejected || ctx.notifications.notify_rejections {
            notify(ctx, conn, &row).await?;
        }
    }
    Ok(())
}

/// Gives each sendable payout a send job unless its recorded job is still
/// live; returns how many jobs were enqueued.
///
/// At most one live job per row, across processes, without holding a lock
/// across the enqueue (the embedded queue writes to the same SQLite file,
/// which a held write lock would deadlock): the new job's idempotency key
/// names the job it replaces, so two processes that both saw the same
/// finished (or missing) job enqueue the same key, and the queue keeps one.
///
/// # Errors
/// Database and queue errors.
pub async fn enqueue_sends(ctx: &JobContext, ids: &[i64]) -> Result<usize> {
    if ctx.payouts.destination.is_none() || outbox::is_disabled(&ctx.db, BONUS_DESTINATION).await? {
        // Nothing would be sent; the sweeper tries again once it can be.
        return Ok(0);
    }
    let mut enqueued = 0;
    for &id in ids {
        let Some(p) = payout::Entity::find_by_id(id).one(&ctx.db).await? else {
            continue;
        };
        if !sendable(&p) || ctx.queue.is_live(p.send_job_id.as_deref()).await? {
            continue;
        }
        let previous = p.send_job_id.as_deref().unwrap_or("none");
        let job = Job::SendPayout { payout_id: id }
            .to_new_job(&ctx.retry)?
            .idempotency_key(format!("send:{id}:after:{previous}"));
        let job_id = job.id.as_str().to_string();
        // The row names its job before the job exists, so the send (its
        // alerts, the ops link) never runs ahead of its own id; and only if
        // no other process gave the row a job meanwhile.
        let still = match &p.send_job_id {
            Some(recorded) => payout::Column::SendJobId.eq(recorded.clone()),
            None => payout::Column::SendJobId.is_null(),
        };
        let recorded = payout::Entity::update_many()
            .set(payout::ActiveModel {
                send_job_id: Set(Some(job_id.clone())),
                ..Default::default()
            })
            .filter(payout::Column::Id.eq(id))
            .filter(still)
            .exec(&ctx.db)
            .await?;
        if recorded.rows_affected == 0 {
            continue;
        }
        let queued = ctx.queue.enqueue(job).await?;
        if queued.id.as_str() != job_id {
            // The key was taken: the job that holds it sends the row.
            payout::Entity::update_many()
                .set(payout::ActiveModel {
                    send_job_id: Set(Some(queued.id.as_str().to_string())),
                    ..Default::default()
                })
                .filter(payout::Column::Id.eq(id))
                .filter(payout::Column::SendJobId.eq(job_id))
                .exec(&ctx.db)
                .await?;
        }
        if !queued.duplicate {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// Sends what is sendable and has no live job (after a Redis wipe, a
/// re-enabled destination, a crash between commit and enqueue). Run by
/// every worker's sweeper.
///
/// # Errors
/// Database and queue errors.
pub async fn sweep(ctx: &JobContext) -> Result<usize> {
    let rows: Vec<payout::Model> = payout::Entity::find()
        .filter(payout::Column::State.is_in([
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Sending,
        ]))
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter(sendable)
        .collect();
    // Ask the queue about every recorded job at once (a receiver outage
    // can leave thousands of payouts waiting, each with a live retrying
    // job); only the rows without one go through `enqueue_sends`.
    let live = ctx
        .queue
        .live_stored(rows.iter().map(|p| p.send_job_id.as_deref()))
        .await?;
    let missing: Vec<i64> = rows
        .iter()
        .zip(live)
        .filter(|(_, live)| !live)
        .map(|(p, _)| p.id)
        .collect();
    enqueue_sends(ctx, &missing).await
}
