//! The outbox: signed notifications that report state changes to systems
//! we don't own (status sync to the referral platform, hire hand-offs to
//! the CRM, alerts to a Slack-compatible webhook), and the job that
//! delivers them.
//!
//! # Why an outbox
//!
//! A notification must go out if and only if its state change committed.
//! Sending from inside the transaction could announce a change that then
//! rolls back; enqueueing after the commit could be lost if the process
//! dies in between. So [`stage`] writes an `outbound_messages` row in the
//! *same* transaction as the change, and after the commit the caller (or,
//! at the latest, the sweeper) runs [`kick`], which gives every pending row
//! a `deliver_message` job. The job POSTs the row ([`deliver`]); the row's
//! `webhook_id` is the same on every retry, so receivers dedupe.
//!
//! # Who calls it
//!
//! * [`crate::milestones`] and [`crate::payout::ledger`] stage a
//!   `referral.status_changed` for every milestone and payout state change
//!   (not for the in-flight `sending` marker), and a
//!   `referral.hire_confirmed` to the CRM when a credited referral's hire
//!   is reached.
//! * [`alert`] is staged by the ledger when a payout fails, dies or its
//!   destination answers `410 Gone`, and by [`deliver`] when a notification
//!   dies; it names the job and links to it in the ops API.
//! * The worker's sweeper calls [`kick`] periodically.
//!
//! A channel with no URL configured stages nothing: nobody is waiting.
//!
//! # 410 Gone
//!
//! A destination that answers 410 asks never to be called again. The row
//! stays `pending`, the destination is switched off in
//! `outbound_destinations` for every process ([`disable`]), ops are alerted
//! once, and nothing more is sent to it until ops re-enable it
//! ([`enable`]); then the pending rows go out.

use chrono::Utc;
use entities::{
    outbound_destination,
    outbound_message::{self, OutboundChannel, OutboundState},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::OnConflict,
};
use serde_json::{Value, json};

use crate::{
    context::JobContext,
    db::audit::AuditEntry,
    db::{LockedTx, begin_locked},
    error::{Error, Result},
    job::Job,
    outbound::webhook::{Message, SendOutcome},
};

/// The name the bonus destination is switched under in
/// `outbound_destinations` (the outbox channels use their own names).
pub const BONUS_DESTINATION: &str = "bonus";

/// Most pending rows one [`kick`] looks at; the next kick takes the rest.
const KICK_BATCH: u64 = 500;

/// The name a channel is switched under in `outbound_destinations`.
pub fn destination_name(channel: OutboundChannel) -> &'static str {
    match channel {
        OutboundChannel::StatusSync => "status_sync",
        OutboundChannel::Crm => "crm",
        OutboundChannel::Alert => "alert",
    }
}

/// What a message is about, for ops and for the receiver.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `payout`, `milestone`, `job`, `destination`.
    pub kind: &'a str,
    /// Its id, when it has a numeric one.
    pub id: Option<i64>,
}

/// Writes a message to the outbox, inside the caller's transaction. Returns
/// its row id, or `None` when the channel is not configured.
///
/// # Errors
/// Database errors.
pub async fn stage(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    channel: OutboundChannel,
    event_type: &str,
    subject: Subject<'_>,
    data: Value,
) -> Result<Option<i64>> {
    if ctx.notifications.client(channel).is_none() {
        return Ok(None);
    }
    let row = outbound_message::ActiveModel {
        channel: Set(channel),
        webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
        event_type: Set(event_type.to_string()),
        data: Set(data.to_string()),
        subject_type: Set(Some(subject.kind.to_string())),
        subject_id: Set(subject.id),
        state: Set(OutboundState::Pending),
        attempts: Set(0),
        job_id: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(Some(row.id))
}

/// Stages an alert for ops: `text` plus the job and its ops-API link,
/// escaped for Slack (`&`, `<`, `>`). Logged as an error too, so an
/// unconfigured alert webhook still leaves a trace. Receiver bodies in
/// `text` arrive already cut, masked and escaped
/// ([`crate::outbound::redact`]).
///
/// # Errors
/// Database errors.
pub async fn alert(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    text: &str,
    job_id: Option<&str>,
    subject: Subject<'_>,
) -> Result<()> {
    alert_with_context(ctx, conn, text, job_id, subject, None).await
}

/// [`alert`] with `context`: the subject's identifiers, field by field, for
/// a receiver that files or searches alerts (`docs/schemas/ops.alert.json`;
/// a payout's come from [`crate::payout::alert`]).
///
/// # Errors
/// Database errors.
pub async fn alert_with_context(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    text: &str,
    job_id: Option<&str>,
    subject: Subject<'_>,
    context: Option<Value>,
) -> Result<()> {
    tracing::error!(job_id = job_id.unwrap_or(""), subject = subject.kind, subject_id = ?subject.id, "alert: {text}");
    let link = job_id.map(|id| ctx.notifications.job_link(id));
    // Slack reads `<...>` as links and mentions (`<!channel>`) and `&` as
    // an entity: the text is escaped as its formatting rules ask.
    let mut message = format!(
        ":rotating_light: referral-worker: {}",
        crate::outbound::redact::slack_text(text)
    );
    if let (Some(id), Some(link)) = (job_id, &link) {
        message.push_str(&crate::outbound::redact::slack_text(&format!(
            "\nJob {id}: {link}"
        )));
    }
    let mut data = json!({ "text": message, "job_id": job_id, "link": link });
    if let Some(context) = context {
        data["context"] = context;
    }
    stage(
        ctx,
        conn,
        OutboundChannel::Alert,
        "ops.alert",
        subject,
        data,
    )
    .await?;
    Ok(())
}

/// Gives every pending message without a live job a `deliver_message`
/// job. Returns how many were enqueued. Cheap when nothing is pending.
///
/// # Errors
/// Database and queue errors.
pub async fn kick(ctx: &JobContext) -> Result<usize> {
    let pending = outbound_message::Entity::find()
        .filter(outbound_message::Column::State.eq(OutboundState::Pending))
        .order_by_asc(outbound_message::Column::Id)
        .limit(KICK_BATCH)
        .all(&ctx.db)
        .await?;
    let mut enqueued = 0;
    for m in pending {
        if ctx.queue.is_live(m.job_id.as_deref()).await? {
            continue;
        }
        if is_disabled(&ctx.db, destination_name(m.channel)).await? {
            continue;
        }
        // The key names the job this one replaces: processes kicking the
        // same row at once enqueue one job (see `payout::ledger::enqueue_sends`).
        let previous = m.job_id.as_deref().unwrap_or("none");
        let job = Job::DeliverMessage { message_id: m.id }
            .to_new_job(&ctx.retry)?
            .idempotency_key(format!("message:{}:after:{previous}", m.id));
        let job_id = job.id.as_str().to_string();
        // The row names its job before the job can run (the alert a dead
        // message raises names it), and only if no other kick did meanwhile.
        let still = match &m.job_id {
            Some(recorded) => outbound_message::Column::JobId.eq(recorded.clone()),
            None => outbound_message::Column::JobId.is_null(),
        };
        let recorded = outbound_message::Entity::update_many()
            .set(outbound_message::ActiveModel {
                job_id: Set(Some(job_id.clone())),
                ..Default::default()
            })
            .filter(outbound_message::Column::Id.eq(m.id))
            .filter(still)
            .exec(&ctx.db)
            .await?;
        if recorded.rows_affected == 0 {
            continue;
        }
        let queued = ctx.queue.enqueue(job).await?;
        if queued.id.as_str() != job_id {
            // The key was taken: the job that holds it delivers the row.
            outbound_message::Entity::update_many()
                .set(outbound_message::ActiveModel {
                    job_id: Set(Some(queued.id.as_str().to_string())),
                    ..Default::default()
                })
                .filter(outbound_message::Column::Id.eq(m.id))
                .filter(outbound_message::Column::JobId.eq(job_id))
                .exec(&ctx.db)
                .await?;
        }
        if !queued.duplicate {
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// The `deliver_message` job: one attempt at POSTing an outbox row.
///
/// # Errors
/// The send's verdict: retryable (with Retry-After) or permanent.
pub async fn deliver(ctx: &JobContext, message_id: i64, attempt: u32) -> Result<()> {
    let Some(m) = outbound_message::Entity::find_by_id(message_id)
        .one(&ctx.db)
        .await?
    else {
        return Err(Error::permanent(format!(
            "outbound message {message_id} does not exist"
        )));
    };
    if m.state != OutboundState::Pending {
        return Ok(());
    }
    let Some(client) = ctx.notifications.client(m.channel).cloned() else {
        // Configured when staged, not now: it waits, visible to ops.
        return Ok(());
    };
    let name = destination_name(m.channel);
    let job_id = m.job_id.clone();
    let job_id = job_id.as_deref();
    if is_disabled(&ctx.db, name).await? {
        // Re-enabling the destination kicks it again.
        return Ok(());
    }
    let data: Value = serde_json::from_str(&m.data)?;
    let message = Message {
        id: m.webhook_id.clone(),
        event_type: m.event_type.clone(),
        occurred_at: m.created_at,
        data,
        idempotency_key: m.webhook_id.clone(),
    };
    let outcome = client.send(&message).await;
    let max = ctx.retry.for_kind(Job::DELIVER_MESSAGE).max_attempts;
    let (state, error) = match &outcome {
        SendOutcome::Delivered { .. } => (OutboundState::Delivered, None),
        SendOutcome::Retry { reason, .. } if attempt >= max => (
            OutboundState::Dead,
            Some(format!("gave up after {attempt} attempts: {reason}")),
        ),
        SendOutcome::Retry { reason, .. } => (OutboundState::Pending, Some(reason.clone())),
        SendOutcome::Gone { reason } => (OutboundState::Pending, Some(reason.clone())),
        SendOutcome::Failed { reason, .. } | SendOutcome::OutcomeUnknown { reason } => {
            (OutboundState::Dead, Some(reason.clone()))
        }
    };
    let tx = begin_locked(&ctx.db, &[format!("message:{message_id}")]).await?;
    let mut a: outbound_message::ActiveModel = m.clone().into();
    a.state = Set(state);
    a.attempts = Set(m.attempts + 1);
    a.last_status_code = Set(outcome.status().map(i32::from));
    a.last_error = Set(error.clone());
    if state == OutboundState::Delivered {
        a.delivered_at = Set(Some(Utc::now()));
    }
    a.update(&tx).await?;
    let gone = matches!(outcome, SendOutcome::Gone { .. });
    if gone {
        disable(
            ctx,
            &tx,
            name,
            error.as_deref().unwrap_or("410 Gone"),
            job_id,
        )
        .await?;
    } else if state == OutboundState::Dead && m.channel != OutboundChannel::Alert {
        // An alert about a dead alert would only die the same way; the
        // error log above is its trace.
        alert(
            ctx,
            &tx,
            &format!(
                "{} message {} ({}) is dead: {}",
                name,
                m.id,
                m.event_type,
                error.as_deref().unwrap_or("")
            ),
            job_id,
            Subject {
                kind: "outbound_message",
                id: Some(m.id),
            },
        )
        .await?;
    }
    tx.commit().await?;
    if gone {
        // Not a failure of this job: the row waits for the destination to
        // be re-enabled, and a retry would only hear 410 again.
        return Ok(());
    }
    outcome.into_job_result()
}

/// Whether the named destination is switched off.
///
/// # Errors
/// Database errors.
pub async fn is_disabled(conn: &impl ConnectionTrait, name: &str) -> Result<bool> {
    Ok(outbound_destination::Entity::find_by_id(name.to_string())
        .one(conn)
        .await?
        .is_some_and(|d| d.disabled))
}

/// Switches a destination off (a `410 Gone`), audits it and alerts ops,
/// once: a destination already off is left alone.
///
/// # Errors
/// Database errors.
pub async fn disable(
    ctx: &JobContext,
    conn: &LockedTx,
    name: &str,
    reason: &str,
    job_id: Option<&str>,
) -> Result<()> {
    // The caller holds its payout's or message's key, not the
    // destination's: two 410s at once would both see it on, and audit and
    // alert twice. `enable` takes the same key.
    crate::db::lock_key(conn, &format!("destination:{name}")).await?;
    if is_disabled(conn, name).await? {
        return Ok(());
    }
    switch(conn, name, true, reason).await?;
    conn.audit(AuditEntry::system(
        "destination.disabled",
        "destination",
        name,
        json!({ "reason": reason, "job_id": job_id }),
    ));
    if name != destination_name(OutboundChannel::Alert) {
        alert(
            ctx,
            conn,
            &format!(
                "destination {name} answered 410 Gone and is disabled; nothing more is sent to it until ops re-enable it: {reason}"
            ),
            job_id,
            Subject {
                kind: "destination",
                id: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// Switches a destination back on (ops), audited with the actor; the
/// rows waiting for it are sent by the next sweep.
///
/// # Errors
/// [`Error::Invalid`] for an unknown destination name; database errors.
pub async fn enable(ctx: &JobContext, name: &str, actor: &str, reason: &str) -> Result<bool> {
    if ![BONUS_DESTINATION, "status_sync", "crm", "alert"].contains(&name) {
        return Err(Error::invalid(
            "destination",
            format!("unknown destination {name:?}; one of bonus, status_sync, crm, alert"),
        ));
    }
    let tx = begin_locked(&ctx.db, &[format!("destination:{name}")]).await?;
    let was_disabled = is_disabled(&tx, name).await?;
    if was_disabled {
        switch(
            &tx,
            name,
            false,
            &format!("re-enabled by {actor}: {reason}"),
        )
        .await?;
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            action: "destination.enabled".into(),
            subject_type: "destination".into(),
            subject_id: name.to_string(),
            data: json!({ "reason": reason }),
        });
    }
    tx.commit().await?;
    Ok(was_disabled)
}

async fn switch(
    conn: &impl ConnectionTrait,
    name: &str,
    disabled: bool,
    reason: &str,
) -> Result<()> {
    outbound_destination::Entity::insert(outbound_destination::ActiveModel {
        name: Set(name.to_string()),
        disabled: Set(disabled),
        reason: Set(Some(reason.to_string())),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(outbound_destination::Column::Name)
            .update_columns([
                outbound_destination::Column::Disabled,
                outbound_destination::Column::Reason,
                outbound_destination::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(conn)
    .await?;
    Ok(())
}
