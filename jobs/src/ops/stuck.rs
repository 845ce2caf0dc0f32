//! The stuck finder: everything that is not moving and why, in plain
//! English, with what moves it. One step per kind of row: probation
//! timers, payouts, running jobs whose lease ran out, inbox rows, pending
//! messages, disabled destinations, HRIS terminations no hire matched,
//! careers-site referrals the fallback write-back could not place.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entities::{
    audit_event,
    inbox::{self, InboxStatus},
    milestone::{self, MilestoneState},
    outbound_destination,
    outbound_message::{self, OutboundState},
    payout::{self, PayoutState},
    twin_wait::{self, TwinWaitState},
    unmatched_termination,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    inbox::{InboxRow, inbox_rows_query},
    request::{at, name_of},
    workflows::{JobLink, job_link},
};
use crate::{
    context::JobContext,
    error::Result,
    outbox::{self, BONUS_DESTINATION},
};
use queue::{JobFilter, JobId, JobState};

/// How long an inbox row or a due timer may sit before the stuck finder
/// names it.
pub const STUCK_AFTER: Duration = Duration::minutes(1);

/// The most rows the stuck finder reads per category (each category is
/// ordered oldest first, so what it names is what waited longest).
pub const STUCK_SCAN: u64 = 1000;

/// Something that is not moving, and why.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StuckItem {
    /// What kind of thing: `milestone_overdue`, `milestone_timer_missing`,
    /// `payout_send_missing`, `payout_awaiting_approval`,
    /// `payout_outcome_unknown`, `payout_failed`, `payout_dead`,
    /// `job_lease_expired`, `inbox_stuck`, `message_unsent`,
    /// `destination_disabled`, `termination_unmatched`,
    /// `twin_wait_overdue`, `twin_fallback_not_found`,
    /// `twin_fallback_failed`.
    pub kind: &'static str,
    /// The ids that name it (`milestone_id`, `payout_id`, `referral_id`,
    /// `job_id`, `inbox_id`, `message_id`, `destination`).
    pub ids: serde_json::Map<String, Value>,
    /// Why it is not moving, and what moves it, in plain English.
    pub reason: String,
    /// Since when it has been like this, when known.
    pub since: Option<DateTime<Utc>>,
    /// When the sweeper next looks (now + `payouts.timer_sweep`).
    pub next_check: DateTime<Utc>,
}

fn ids(pairs: &[(&str, Value)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn describe(link: &JobLink) -> String {
    match (&link.job_id, link.state) {
        (None, _) => "it has no job".to_string(),
        (Some(id), None) => format!("its job {id} is no longer in the queue"),
        (Some(id), Some(s)) => format!("its job {id} is {s}"),
    }
}

/// Everything that is not moving: see [`StuckItem::kind`] for the list.
/// Each category reads at most [`STUCK_SCAN`] rows, oldest first.
/// `sweep_every` is `payouts.timer_sweep`, for `next_check`.
///
/// # Errors
/// Storage errors.
pub async fn stuck(ctx: &JobContext, sweep_every: std::time::Duration) -> Result<Vec<StuckItem>> {
    let now = Utc::now();
    let mut found = Found {
        items: Vec::new(),
        next_check: now + Duration::from_std(sweep_every).unwrap_or_else(|_| Duration::minutes(1)),
    };
    timers(ctx, now, &mut found).await?;
    payouts(ctx, &mut found).await?;
    expired_leases(ctx, now, &mut found).await?;
    inbox_rows(ctx, now, &mut found).await?;
    unsent_messages(ctx, &mut found).await?;
    disabled_destinations(ctx, &mut found).await?;
    unmatched_terminations(ctx, &mut found).await?;
    twin_waits(ctx, now, &mut found).await?;
    Ok(found.items)
}

/// What the steps of [`stuck`] found so far.
struct Found {
    items: Vec<StuckItem>,
    /// When the sweeper next looks, the same for every item.
    next_check: DateTime<Utc>,
}

impl Found {
    fn push(
        &mut self,
        kind: &'static str,
        ids: serde_json::Map<String, Value>,
        reason: String,
        since: Option<DateTime<Utc>>,
    ) {
        self.items.push(StuckItem {
            kind,
            ids,
            reason,
            since,
            next_check: self.next_check,
        });
    }
}

/// Armed probation timers: overdue, or without a live job.
async fn timers(ctx: &JobContext, now: DateTime<Utc>, found: &mut Found) -> Result<()> {
    let armed = milestone::Entity::find()
        .filter(milestone::Column::State.eq(MilestoneState::Armed))
        .order_by_asc(milestone::Column::DueAt)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for m in &armed {
        let link = job_link(&ctx.queue, m.timer_job_id.as_deref()).await?;
        let the_ids = ids(&[
            ("milestone_id", json!(m.id)),
            ("application_id", json!(m.application_id)),
            ("referral_id", json!(m.referral_id)),
            ("job_id", json!(m.timer_job_id)),
        ]);
        if let Some(due) = m.due_at
            && due < now - STUCK_AFTER
        {
            found.push(
                "milestone_overdue",
                the_ids.clone(),
                format!(
                    "the probation timer was due at {} ({} min ago) but has not fired; {}. \
                     The timer sweeper re-arms a timer whose job is missing; a live job \
                     runs when a worker takes it",
                    due.to_rfc3339(),
                    (now - due).num_minutes(),
                    describe(&link)
                ),
                Some(due),
            );
        }
        if !link.live {
            found.push(
                "milestone_timer_missing",
                the_ids,
                format!(
                    "the probation timer is armed, but {} (the queue lost it, e.g. Redis was \
                     wiped); the timer sweeper re-arms it",
                    describe(&link)
                ),
                Some(m.updated_at),
            );
        }
    }
    Ok(())
}

/// Payouts waiting for approval, for a send job, or for ops (outcome
/// unknown, failed, dead).
async fn payouts(ctx: &JobContext, found: &mut Found) -> Result<()> {
    let bonus_disabled = outbox::is_disabled(&ctx.db, BONUS_DESTINATION).await?;
    let rows = payout::Entity::find()
        .filter(payout::Column::State.is_in([
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Sending,
            PayoutState::OutcomeUnknown,
            PayoutState::Failed,
            PayoutState::Dead,
        ]))
        .order_by_asc(payout::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for p in &rows {
        let the_ids = ids(&[
            ("payout_id", json!(p.id)),
            ("referral_id", json!(p.referral_id)),
            ("job_id", json!(p.send_job_id)),
        ]);
        let why = p.reason.as_deref().unwrap_or("no reason recorded");
        match p.state {
            PayoutState::Eligible if p.needs_approval => found.push(
                "payout_awaiting_approval",
                the_ids,
                format!(
                    "payout {} ({} {} minor units, tranche {}) waits for ops to approve it{}: \
                     POST /api/payouts/{}/approve or `referral-worker ops approve {}`",
                    p.id,
                    p.currency,
                    p.amount_minor,
                    p.tranche,
                    p.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    p.id,
                    p.id
                ),
                p.eligible_at.or(Some(p.updated_at)),
            ),
            PayoutState::Eligible | PayoutState::Approved | PayoutState::Sending => {
                let link = job_link(&ctx.queue, p.send_job_id.as_deref()).await?;
                if link.live {
                    continue;
                }
                let cause = send_missing_cause(ctx, bonus_disabled, &link);
                found.push(
                    "payout_send_missing",
                    the_ids,
                    format!(
                        "payout {} is {} and should be sent, but has no live send job: {cause}",
                        p.id,
                        name_of(&p.state)
                    ),
                    Some(p.updated_at),
                );
            }
            PayoutState::OutcomeUnknown => found.push(
                "payout_outcome_unknown",
                the_ids,
                format!(
                    "payout {} was sent but the outcome is unknown ({why}); it is never resent \
                     automatically: check with the bonus system, then POST \
                     /api/payouts/{}/resolve with delivered or resend",
                    p.id, p.id
                ),
                p.sent_at.or(Some(p.updated_at)),
            ),
            PayoutState::Failed => found.push(
                "payout_failed",
                the_ids,
                format!(
                    "payout {} was refused by the bonus system ({why}); fix the cause, then \
                     retry its job or hold the payout",
                    p.id
                ),
                Some(p.updated_at),
            ),
            PayoutState::Dead => found.push(
                "payout_dead",
                the_ids,
                format!(
                    "payout {} gave up after its retries ({why}); retry its job once the \
                     bonus system answers",
                    p.id
                ),
                Some(p.updated_at),
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Why a sendable payout has no live send job, and what sends it.
fn send_missing_cause(ctx: &JobContext, bonus_disabled: bool, link: &JobLink) -> String {
    if ctx.payouts.destination.is_none() {
        "no bonus destination is configured (payouts.destination_url), so nothing \
         is sent until one is"
            .to_string()
    } else if bonus_disabled {
        "the bonus destination is disabled after a 410 Gone; re-enable it with \
         POST /api/ops/destinations/bonus/enable and the sweeper sends it"
            .to_string()
    } else {
        format!(
            "{}; the payout sweeper gives it a new send job",
            describe(link)
        )
    }
}

/// Running jobs whose lease ran out: their worker died or stalled.
async fn expired_leases(ctx: &JobContext, now: DateTime<Utc>, found: &mut Found) -> Result<()> {
    let now_ms = now.timestamp_millis();
    let mut filter = JobFilter::state(JobState::Running);
    filter.limit = 200;
    let mut seen = 0u64;
    loop {
        let page = ctx.queue.list(&filter).await?;
        for j in page.jobs {
            seen += 1;
            let Some(expired) = j.lease_expires_at.filter(|t| *t < now_ms) else {
                // Ordered by lease deadline: the rest are live.
                return Ok(());
            };
            found.push(
                "job_lease_expired",
                ids(&[("job_id", json!(j.id.to_string())), ("kind", json!(j.kind))]),
                format!(
                    "{} job {} is running on worker {}, whose lease ran out at {} (the worker \
                     died or stalled); the next fetch by any worker re-delivers it",
                    j.kind,
                    j.id,
                    j.lease_owner.as_deref().unwrap_or("?"),
                    at(expired).to_rfc3339()
                ),
                Some(at(expired)),
            );
        }
        match page.next {
            Some(n) if seen < STUCK_SCAN => filter.cursor = n,
            _ => return Ok(()),
        }
    }
}

/// Inbox rows that were never processed (and that ops have not replayed).
async fn inbox_rows(ctx: &JobContext, now: DateTime<Utc>, found: &mut Found) -> Result<()> {
    let rows: Vec<InboxRow> = inbox_rows_query()
        .filter(inbox::Column::Status.is_in([InboxStatus::Received, InboxStatus::Enqueued]))
        .filter(inbox::Column::ReceivedAt.lt(now - STUCK_AFTER))
        .order_by_asc(inbox::Column::Id)
        .limit(STUCK_SCAN)
        .into_model::<InboxRow>()
        .all(&ctx.db)
        .await?;
    // A row ops already replayed is handled: its replay is a row of its own.
    let replayed: BTreeSet<String> = if rows.is_empty() {
        BTreeSet::new()
    } else {
        audit_event::Entity::find()
            .filter(audit_event::Column::SubjectType.eq("inbox"))
            .filter(audit_event::Column::Action.eq("inbox.replayed"))
            .filter(audit_event::Column::SubjectId.is_in(rows.iter().map(|r| r.id.to_string())))
            .all(&ctx.db)
            .await?
            .into_iter()
            .map(|a| a.subject_id)
            .collect()
    };
    for row in rows {
        if replayed.contains(&row.id.to_string()) {
            continue;
        }
        let the_ids = ids(&[("inbox_id", json!(row.id)), ("job_id", json!(row.job_id))]);
        let reason = inbox_reason(ctx, &row).await?;
        found.push(
            "inbox_stuck",
            the_ids,
            format!(
                "inbox row {} ({}) has been {} since {}: {reason}",
                row.id,
                row.event.as_deref().unwrap_or("unknown event"),
                name_of(&row.status),
                row.received_at.to_rfc3339()
            ),
            Some(row.received_at),
        );
    }
    Ok(())
}

/// Why an unprocessed inbox row is not moving: never enqueued, or what its
/// job is doing.
async fn inbox_reason(ctx: &JobContext, row: &InboxRow) -> Result<String> {
    if row.status == InboxStatus::Received || row.job_id.is_none() {
        return Ok(format!(
            "{} delivery {} was stored but never enqueued (the process stopped between \
             storing and enqueueing); replay it",
            name_of(&row.source),
            row.id
        ));
    }
    let id = row.job_id.as_deref();
    let job = match id.and_then(|i| JobId::parse(i).ok()) {
        Some(jid) => ctx.queue.get(&jid).await?,
        None => None,
    };
    Ok(match job {
        Some(j) if matches!(j.state, JobState::Succeeded) => format!(
            "its job {} succeeded but the row is still enqueued; replay it",
            j.id
        ),
        Some(j) => format!(
            "its job {} is {} after {} of {} attempts{}",
            j.id,
            j.state,
            j.attempts,
            j.max_attempts,
            j.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        ),
        None => format!(
            "its job {} is no longer in the queue; replay it",
            id.unwrap_or("?")
        ),
    })
}

/// Pending outbox messages without a live job.
async fn unsent_messages(ctx: &JobContext, found: &mut Found) -> Result<()> {
    let pending = outbound_message::Entity::find()
        .filter(outbound_message::Column::State.eq(OutboundState::Pending))
        .order_by_asc(outbound_message::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for m in pending {
        let link = job_link(&ctx.queue, m.job_id.as_deref()).await?;
        if link.live {
            continue;
        }
        let name = outbox::destination_name(m.channel);
        let cause = if outbox::is_disabled(&ctx.db, name).await? {
            format!(
                "the {name} destination is disabled after a 410 Gone; re-enable it with POST \
                 /api/ops/destinations/{name}/enable"
            )
        } else {
            format!("{}; the sweeper gives it a delivery job", describe(&link))
        };
        found.push(
            "message_unsent",
            ids(&[
                ("message_id", json!(m.id)),
                ("job_id", json!(m.job_id)),
                ("subject_type", json!(m.subject_type)),
                ("subject_id", json!(m.subject_id)),
            ]),
            format!(
                "{name} message {} ({}) is pending without a live job: {cause}",
                m.id, m.event_type
            ),
            Some(m.created_at),
        );
    }
    Ok(())
}

/// Destinations switched off by a 410.
async fn disabled_destinations(ctx: &JobContext, found: &mut Found) -> Result<()> {
    let disabled = outbound_destination::Entity::find()
        .filter(outbound_destination::Column::Disabled.eq(true))
        .all(&ctx.db)
        .await?;
    for d in disabled {
        found.push(
            "destination_disabled",
            ids(&[("destination", json!(d.name))]),
            format!(
                "destination {} is disabled ({}); nothing is sent to it until ops re-enable it: \
                 POST /api/ops/destinations/{}/enable",
                d.name,
                d.reason.as_deref().unwrap_or("no reason recorded"),
                d.name
            ),
            Some(d.updated_at),
        );
    }
    Ok(())
}

/// HRIS terminations that matched no hire while an unlinked hire was in
/// probation ([`crate::referral::hires`]): one of those hires may have
/// left, and its probation tranche would still be paid.
async fn unmatched_terminations(ctx: &JobContext, found: &mut Found) -> Result<()> {
    let open = unmatched_termination::Entity::find()
        .filter(unmatched_termination::Column::ResolvedAt.is_null())
        .order_by_asc(unmatched_termination::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for t in open {
        found.push(
            "termination_unmatched",
            ids(&[
                ("unmatched_termination_id", json!(t.id)),
                ("employee_id", json!(t.employee_id)),
                ("ats_candidate_id", json!(t.ats_candidate_id)),
                ("ats_application_id", json!(t.ats_application_id)),
            ]),
            format!(
                "the HRIS reported employee {} inactive ({}), but no hire matched by employee \
                 id, ATS ids or work email while a hire with no linked employee is in \
                 probation. If they are that hire, end it: POST \
                 /api/hires/{{application}}/terminated with {{\"employee_id\": \"{}\"}}; or \
                 re-send the HRIS record with their ats_candidate_id / ats_application_id",
                t.employee_id, t.reported_by, t.employee_id
            ),
            Some(t.reported_at),
        );
    }
    Ok(())
}

/// Careers-site referrals whose fallback write-back
/// ([`crate::capture::twin_fallback`]) is overdue, or ended without
/// reaching the ATS (not found, or refused): their attribution is not in
/// the ATS.
async fn twin_waits(ctx: &JobContext, now: DateTime<Utc>, found: &mut Found) -> Result<()> {
    let rows = twin_wait::Entity::find()
        .filter(twin_wait::Column::State.is_in([
            TwinWaitState::Waiting,
            TwinWaitState::NotFound,
            TwinWaitState::Failed,
        ]))
        .order_by_asc(twin_wait::Column::Id)
        .limit(STUCK_SCAN)
        .all(&ctx.db)
        .await?;
    for w in rows {
        let the_ids = ids(&[
            ("twin_wait_id", json!(w.id)),
            ("referral_id", json!(w.referral_id)),
            ("application_id", json!(w.application_id)),
            ("job_id", json!(w.job_id)),
        ]);
        let why = w.reason.as_deref().unwrap_or("no reason recorded");
        let (kind, reason, since) = match w.state {
            TwinWaitState::Waiting if w.due_at < now - STUCK_AFTER => {
                let link = job_link(&ctx.queue, w.job_id.as_deref()).await?;
                (
                    "twin_wait_overdue",
                    format!(
                        "referral {}'s look-up in the ATS was due at {} but has not run; {}. \
                         The timer sweeper re-arms a wait whose job is missing",
                        w.referral_id,
                        w.due_at.to_rfc3339(),
                        describe(&link)
                    ),
                    w.due_at,
                )
            }
            TwinWaitState::NotFound => (
                "twin_fallback_not_found",
                format!(
                    "careers-site referral {} was never written back to the ATS: its ATS \
                     application never arrived through the webhooks, and the look-up by email \
                     found nothing to write to ({why}). Check the ATS webhook subscription, or \
                     credit the referral in the ATS by hand; should the application arrive, it \
                     is written back then",
                    w.referral_id
                ),
                w.updated_at,
            ),
            TwinWaitState::Failed => (
                "twin_fallback_failed",
                format!(
                    "careers-site referral {} was never written back to the ATS: the ATS refused \
                     the look-up or the write ({why}). Fix the cause (credentials, scopes), then \
                     credit the referral in the ATS by hand",
                    w.referral_id
                ),
                w.updated_at,
            ),
            _ => continue,
        };
        found.push(kind, the_ids, reason, Some(since));
    }
    Ok(())
}
