//! Milestones: the hire, and probation completion with its durable timer.
//!
//! A milestone row per (application, kind) is the truth (a unique index
//! makes it so); the queue only carries a scheduled `probation_due` job that
//! fires the timer. Vendors fan one hire out into several events
//! (`candidate_stage_change` to Hired *and* `hire_candidate`), so everything
//! here is idempotent per (application, milestone): [`sync_application`]
//! reads the application as it now is and makes the milestones agree.
//!
//! The timer lasts months, longer than any Redis can be trusted to keep a
//! job: [`rearm_missing_timers`] (run by the sweeper) re-enqueues the job of
//! every armed timer (the job's
//! idempotency key makes that a no-op while the job exists), so a wiped
//! Redis loses no timer. A changed start date re-arms it under a new key;
//! the old job, when it fires, sees the due time has moved and does nothing.
//!
//! Every milestone state change is audited and staged for the referral
//! platform's status sync, and a hire reached with a credited referral is
//! handed to the CRM (`referral.hire_confirmed`), both through
//! [`crate::outbox`], in the same transaction as the change.
//!
//! Called by capture after every application change, by the
//! `probation_due` job, and by terminations (API, HRIS import). Payouts
//! ([`crate::payout::ledger`]) build on these rows.

use chrono::{DateTime, Duration, Utc};
use entities::{
    application::{self, ApplicationStatus},
    milestone::{self, MilestoneKind, MilestoneState},
    outbound_message::OutboundChannel,
    referral::{self, ReferralState},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::{
    context::JobContext,
    db::audit::AuditEntry,
    db::{LockedTx, begin_locked},
    error::{Error, Result},
    job::Job,
    outbox::{self, Subject},
    payout::{job_facts::KnownJob, rules::JobFacts},
};

/// Stages the referral platform's status sync for a milestone's new state
/// (only for milestones of a referral: nobody else is following them).
async fn notify(ctx: &JobContext, conn: &impl ConnectionTrait, m: &milestone::Model) -> Result<()> {
    let Some(referral_id) = m.referral_id else {
        return Ok(());
    };
    let Some(r) = referral::Entity::find_by_id(referral_id).one(conn).await? else {
        return Ok(());
    };
    outbox::stage(
        ctx,
        conn,
        OutboundChannel::StatusSync,
        "referral.status_changed",
        Subject {
            kind: "milestone",
            id: Some(m.id),
        },
        json!({
            "referral_id": r.public_id,
            "referring_employee_id": r.employee_id,
            "subject": "milestone",
            "milestone_id": m.id.to_string(),
            "milestone": crate::payout::ledger::milestone_name(m.kind),
            "state": m.state,
            "occurred_at": m.occurred_at,
            "due_at": m.due_at,
            "reason": m.cancel_reason,
            "changed_at": Utc::now(),
        }),
    )
    .await?;
    Ok(())
}

/// Hands a confirmed hire with its attribution to the CRM.
async fn confirm_hire(
    ctx: &JobContext,
    conn: &impl ConnectionTrait,
    app: &application::Model,
    referral_id: i64,
    hire: &milestone::Model,
) -> Result<()> {
    let Some(r) = referral::Entity::find_by_id(referral_id).one(conn).await? else {
        return Ok(());
    };
    outbox::stage(
        ctx,
        conn,
        OutboundChannel::Crm,
        "referral.hire_confirmed",
        Subject {
            kind: "milestone",
            id: Some(hire.id),
        },
        json!({
            "referral_id": r.public_id,
            "referring_employee_id": r.employee_id,
            "attribution": { "source": r.source, "credited_at": r.decided_at },
            "candidate": { "ats": app.ats, "ats_application_id": app.ats_application_id },
            "job": { "ats_job_id": app.job_id, "requisition_id": app.requisition_id },
            "hire": { "hired_at": hire.occurred_at,
                      "start_date": app.start_date.map(|d| d.date_naive().to_string()) },
        }),
    )
    .await?;
    Ok(())
}

/// The probation period for an application: its bonus rule's, else 90 days.
fn probation_for(ctx: &JobContext, app: &application::Model) -> Duration {
    let facts = JobFacts::from(app);
    ctx.payouts
        .rules
        .select(&facts)
        .and_then(|r| Duration::from_std(r.probation).ok())
        .unwrap_or_else(|| Duration::days(90))
}

async fn find(
    conn: &impl ConnectionTrait,
    application_id: i64,
    kind: MilestoneKind,
) -> Result<Option<milestone::Model>> {
    Ok(milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(kind))
        .one(conn)
        .await?)
}

/// Makes the application's milestones agree with its current status:
/// a hire reaches the hire milestone and arms the probation timer (at the
/// start date, else the hire date, plus the probation period); a changed
/// start date re-arms it; a hire undone (unhired, rejected, withdrawn,
/// deleted) cancels what is still pending, with the reason.
///
/// # Errors
/// Database and queue errors (retryable).
pub async fn sync_application(ctx: &JobContext, application_id: i64) -> Result<()> {
    let job = hired_job_facts(ctx, application_id).await?;
    let tx = begin_locked(&ctx.db, &[format!("milestones:{application_id}")]).await?;
    let Some(app) = application::Entity::find_by_id(application_id)
        .one(&tx)
        .await?
    else {
        return Err(Error::NotFound(format!("application {application_id}")));
    };
    let referral_id = referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .one(&tx)
        .await?
        .map(|r| r.id);
    let hire = find(&tx, app.id, MilestoneKind::Hire).await?;
    let probation = find(&tx, app.id, MilestoneKind::ProbationComplete).await?;
    let now = Utc::now();
    let mut arm: Option<(i64, DateTime<Utc>)> = None;
    let mut send: Vec<i64> = Vec::new();

    match (app.status, app.hired_at) {
        (ApplicationStatus::Hired, Some(hired_at)) => {
            let hire_id = reach_hire(ctx, &tx, &app, referral_id, hire, hired_at, now).await?;
            let due = app.start_date.unwrap_or(hired_at) + probation_for(ctx, &app);
            let step =
                arm_probation(ctx, &tx, &app, referral_id, probation, hire_id, due, now).await?;
            arm = step.arm;
            if let Some(referral_id) = referral_id {
                // Read before the lock; an application hired meanwhile is
                // priced on what it holds (a rule needing more waits for
                // approval).
                let job = job.unwrap_or_else(|| KnownJob {
                    facts: JobFacts::from(&app),
                    unknown_reason: None,
                });
                send = crate::payout::ledger::on_hire(
                    ctx,
                    &tx,
                    &app,
                    &job,
                    referral_id,
                    hire_id,
                    Some(step.id),
                )
                .await?;
                if step.reached {
                    // No timer will fire again: its tranche, just created
                    // pending, is eligible now (a no-op when none is pending).
                    send.extend(crate::payout::ledger::on_probation(ctx, &tx, referral_id).await?);
                }
            }
        }
        (status, _) => undo_hire(ctx, &tx, status, referral_id, hire, probation).await?,
    }
    tx.commit().await?;
    if let Some((milestone_id, due)) = arm {
        arm_timer(ctx, milestone_id, due).await?;
    }
    crate::payout::ledger::enqueue_sends(ctx, &send).await?;
    outbox::kick(ctx).await?;
    Ok(())
}

/// The job facts of a hired application with a credited referral, read
/// (through the cache) before [`sync_application`] takes its lock: the
/// ATS may be asked, and no lock is held across an HTTP call. `None` for
/// an application with nothing to price.
async fn hired_job_facts(ctx: &JobContext, application_id: i64) -> Result<Option<KnownJob>> {
    let Some(app) = application::Entity::find_by_id(application_id)
        .one(&ctx.db)
        .await?
        .filter(|a| a.status == ApplicationStatus::Hired)
    else {
        return Ok(None);
    };
    let credited = referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .filter(referral::Column::State.eq(ReferralState::Credited))
        .one(&ctx.db)
        .await?;
    if credited.is_none() {
        return Ok(None);
    }
    Ok(Some(
        crate::payout::job_facts::for_application(ctx, &app).await?,
    ))
}

/// A hired application's hire milestone: reached now (`hire` is `None`),
/// revived (it was cancelled: the hire is back), or attributed to the
/// referral that arrived after it. Returns its id.
async fn reach_hire(
    ctx: &JobContext,
    tx: &LockedTx,
    app: &application::Model,
    referral_id: Option<i64>,
    hire: Option<milestone::Model>,
    hired_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let Some(m) = hire else {
        let row = milestone::ActiveModel {
            referral_id: Set(referral_id),
            application_id: Set(app.id),
            kind: Set(MilestoneKind::Hire),
            state: Set(MilestoneState::Reached),
            occurred_at: Set(Some(hired_at)),
            due_at: Set(None),
            cancel_reason: Set(None),
            timer_job_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        tx.audit(AuditEntry::system(
            "milestone.hire_reached",
            "application",
            app.id,
            json!({ "milestone_id": row.id, "referral_id": referral_id, "hired_at": hired_at }),
        ));
        notify(ctx, tx, &row).await?;
        if let Some(referral_id) = referral_id {
            confirm_hire(ctx, tx, app, referral_id, &row).await?;
        }
        return Ok(row.id);
    };
    let id = m.id;
    let revive = m.state == MilestoneState::Cancelled;
    let attributed = m.referral_id.is_none() && referral_id.is_some();
    if revive || m.referral_id != referral_id {
        let mut a: milestone::ActiveModel = m.into();
        a.referral_id = Set(referral_id);
        if revive {
            a.state = Set(MilestoneState::Reached);
            a.cancel_reason = Set(None);
            a.occurred_at = Set(Some(hired_at));
        }
        a.updated_at = Set(now);
        let row = a.update(tx).await?;
        if revive || attributed {
            notify(ctx, tx, &row).await?;
            if let Some(referral_id) = referral_id {
                confirm_hire(ctx, tx, app, referral_id, &row).await?;
            }
        }
    }
    Ok(id)
}

/// Where a hired application's probation milestone stands after
/// [`arm_probation`].
struct ProbationStep {
    /// The milestone.
    id: i64,
    /// The timer to (re-)arm after the commit, when it is armed.
    arm: Option<(i64, DateTime<Utc>)>,
    /// The probation was already over (its tranche is earned now).
    reached: bool,
}

/// A hired application's probation milestone: armed for `due` (created,
/// re-armed when the due time moved, or re-attributed), or left reached
/// when the probation ended before the referral was known.
#[allow(clippy::too_many_arguments)]
async fn arm_probation(
    ctx: &JobContext,
    tx: &LockedTx,
    app: &application::Model,
    referral_id: Option<i64>,
    probation: Option<milestone::Model>,
    hire_id: i64,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ProbationStep> {
    match probation {
        None => {
            let row = milestone::ActiveModel {
                referral_id: Set(referral_id),
                application_id: Set(app.id),
                kind: Set(MilestoneKind::ProbationComplete),
                state: Set(MilestoneState::Armed),
                occurred_at: Set(None),
                due_at: Set(Some(due)),
                cancel_reason: Set(None),
                timer_job_id: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await?;
            tx.audit(AuditEntry::system(
                "milestone.probation_armed",
                "application",
                app.id,
                json!({ "milestone_id": row.id, "hire_milestone_id": hire_id, "due_at": due }),
            ));
            notify(ctx, tx, &row).await?;
            Ok(ProbationStep {
                id: row.id,
                arm: Some((row.id, due)),
                reached: false,
            })
        }
        Some(m) if m.state == MilestoneState::Reached => {
            // The probation ended before the referral was known
            // (an attribution that arrives late): it belongs to the
            // referral now, and its tranche is earned already.
            let id = m.id;
            if m.referral_id != referral_id {
                let mut a: milestone::ActiveModel = m.into();
                a.referral_id = Set(referral_id);
                a.updated_at = Set(now);
                a.update(tx).await?;
            }
            Ok(ProbationStep {
                id,
                arm: None,
                reached: true,
            })
        }
        Some(m) => {
            let id = m.id;
            let moved = m.due_at != Some(due) || m.state != MilestoneState::Armed;
            if moved || m.referral_id != referral_id {
                let previous = m.due_at;
                let mut a: milestone::ActiveModel = m.into();
                a.referral_id = Set(referral_id);
                a.state = Set(MilestoneState::Armed);
                a.due_at = Set(Some(due));
                a.cancel_reason = Set(None);
                a.updated_at = Set(now);
                let row = a.update(tx).await?;
                if moved {
                    tx.audit(AuditEntry::system(
                        "milestone.probation_rearmed",
                        "application",
                        app.id,
                        json!({ "milestone_id": id, "previous_due_at": previous, "due_at": due }),
                    ));
                    notify(ctx, tx, &row).await?;
                }
            }
            Ok(ProbationStep {
                id,
                arm: Some((id, due)),
                reached: false,
            })
        }
    }
}

/// An application not (or no longer) hired: a hire on record was undone,
/// so the hire milestone, an armed probation and the referral's pending
/// tranches are cancelled with the reason.
async fn undo_hire(
    ctx: &JobContext,
    tx: &LockedTx,
    status: ApplicationStatus,
    referral_id: Option<i64>,
    hire: Option<milestone::Model>,
    probation: Option<milestone::Model>,
) -> Result<()> {
    let Some(h) = hire.filter(|h| h.state == MilestoneState::Reached) else {
        return Ok(());
    };
    let reason = format!("application is {status:?} after the hire").to_lowercase();
    let rejected = status == ApplicationStatus::Rejected;
    cancel(ctx, tx, h, &reason, rejected).await?;
    if let Some(p) = probation.filter(|p| p.state == MilestoneState::Armed) {
        cancel(ctx, tx, p, &reason, rejected).await?;
    }
    if let Some(referral_id) = referral_id {
        crate::payout::ledger::cancel_pending(ctx, tx, referral_id, &reason, rejected, true)
            .await?;
    }
    Ok(())
}

/// Cancels a milestone with the reason; the referral platform hears of it
/// unless a rejection undid it and rejections are not to be told.
async fn cancel(
    ctx: &JobContext,
    conn: &LockedTx,
    m: milestone::Model,
    reason: &str,
    rejected: bool,
) -> Result<()> {
    let (id, application_id) = (m.id, m.application_id);
    let mut a: milestone::ActiveModel = m.into();
    a.state = Set(MilestoneState::Cancelled);
    a.cancel_reason = Set(Some(reason.to_string()));
    a.updated_at = Set(Utc::now());
    let row = a.update(conn).await?;
    if !rejected || ctx.notifications.notify_rejections {
        notify(ctx, conn, &row).await?;
    }
    conn.audit(AuditEntry::system(
        "milestone.cancelled",
        "application",
        application_id,
        json!({ "milestone_id": id, "reason": reason }),
    ));
    Ok(())
}

/// Makes sure the timer's job is in the queue: a live job for this very
/// due time is left alone; otherwise (none yet, the queue lost it, it died,
/// the due time moved) a new one is enqueued and recorded on the row.
/// Returns whether a job was added.
///
/// The new job's idempotency key names the due time *and* the job it
/// replaces: the queue keeps a finished job's key while it retains the
/// job, so a key of the due time alone could never re-arm a timer whose
/// job died; naming the predecessor still makes processes sweeping at the
/// same moment enqueue one job.
pub(crate) async fn arm_timer(
    ctx: &JobContext,
    milestone_id: i64,
    due: DateTime<Utc>,
) -> Result<bool> {
    let due_ms = due.timestamp_millis();
    let previous = milestone::Entity::find_by_id(milestone_id)
        .one(&ctx.db)
        .await?
        .and_then(|m| m.timer_job_id);
    if let Some(job) = ctx
        .queue
        .get_stored([previous.as_deref()])
        .await?
        .pop()
        .flatten()
        && is_timer_for(&job, milestone_id, due)
    {
        return Ok(false);
    }
    let job = probation_timer_job(milestone_id, due_ms, previous.as_deref(), &ctx.retry)?;
    let queued = ctx.queue.enqueue(job).await?;
    milestone::Entity::update_many()
        .set(milestone::ActiveModel {
            timer_job_id: Set(Some(queued.id.to_string())),
            ..Default::default()
        })
        .filter(milestone::Column::Id.eq(milestone_id))
        .exec(&ctx.db)
        .await?;
    Ok(!queued.duplicate)
}

/// The `probation_due` job of milestone `milestone_id` for `due_ms`: a
/// timer (kept compactly while it waits) whose idempotency key names the
/// due time and the job it replaces (`previous`; see `arm_timer`).
///
/// # Errors
/// The job failing to serialise.
pub fn probation_timer_job(
    milestone_id: i64,
    due_ms: i64,
    previous: Option<&str>,
    retry: &queue::RetryPolicies,
) -> Result<queue::NewJob> {
    Ok(Job::ProbationDue {
        milestone_id,
        due_at_ms: due_ms,
    }
    .to_new_job(retry)?
    .run_at(due_ms)
    .timer()
    .idempotency_key(format!(
        "probation:{milestone_id}:{due_ms}:after:{}",
        previous.unwrap_or("none")
    )))
}

/// Whether `job` is a live timer of milestone `milestone_id` for `due`:
/// a job that finished, or that fires for another due time, is not.
fn is_timer_for(job: &queue::JobInfo, milestone_id: i64, due: DateTime<Utc>) -> bool {
    job.is_live()
        && serde_json::from_str::<Job>(&job.payload).ok()
            == Some(Job::ProbationDue {
                milestone_id,
                due_at_ms: due.timestamp_millis(),
            })
}

/// Records an employee's termination reported by the HRIS or ops: pending
/// milestones of the application are cancelled with the reason.
///
/// # Errors
/// [`Error::NotFound`] for an unknown application.
pub async fn terminate(ctx: &JobContext, application_id: i64, reason: &str) -> Result<()> {
    let tx = begin_locked(&ctx.db, &[format!("milestones:{application_id}")]).await?;
    if application::Entity::find_by_id(application_id)
        .one(&tx)
        .await?
        .is_none()
    {
        return Err(Error::NotFound(format!("application {application_id}")));
    }
    if let Some(p) = find(&tx, application_id, MilestoneKind::ProbationComplete)
        .await?
        .filter(|p| p.state == MilestoneState::Armed || p.state == MilestoneState::Waiting)
    {
        let referral_id = p.referral_id;
        let why = format!("terminated: {reason}");
        cancel(ctx, &tx, p, &why, false).await?;
        if let Some(referral_id) = referral_id {
            // The hire tranche was earned at the hire; only what waits for
            // the probation goes.
            crate::payout::ledger::cancel_pending(ctx, &tx, referral_id, &why, false, false)
                .await?;
        }
    }
    tx.commit().await?;
    outbox::kick(ctx).await?;
    Ok(())
}

/// The HRIS reports an employee inactive: if they are a hire we are
/// counting probation for (matched by canonical email to a hired
/// candidate), the probation is cancelled as a termination. Returns the
/// applications terminated.
///
/// # Errors
/// Database and queue errors.
pub async fn terminate_employee(
    ctx: &JobContext,
    email_canonical: &str,
    reason: &str,
) -> Result<Vec<i64>> {
    let candidates: Vec<i64> = entities::candidate::Entity::find()
        .filter(entities::candidate::Column::EmailCanonical.eq(email_canonical))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let hired = application::Entity::find()
        .filter(application::Column::CandidateId.is_in(candidates))
        .filter(application::Column::Status.eq(ApplicationStatus::Hired))
        .all(&ctx.db)
        .await?;
    let mut terminated = Vec::new();
    for app in hired {
        let armed = find(&ctx.db, app.id, MilestoneKind::ProbationComplete)
            .await?
            .is_some_and(|p| matches!(p.state, MilestoneState::Armed | MilestoneState::Waiting));
        if armed {
            terminate(ctx, app.id, reason).await?;
            terminated.push(app.id);
        }
    }
    Ok(terminated)
}

/// The `probation_due` job: completes the probation milestone if it is
/// still armed for exactly this due time.
///
/// # Errors
/// Retry-after when the job runs early (a clock ahead of the scheduler's).
pub async fn probation_due(ctx: &JobContext, milestone_id: i64, due_at_ms: i64) -> Result<()> {
    // The application's key, the one `sync_application` and `terminate`
    // take: an unhire, a termination or a moved start date racing the timer
    // decides about this very milestone and its tranches, so the two must
    // not run side by side on their own keys. A milestone never changes
    // application, so reading it before the lock is safe.
    let Some(m) = milestone::Entity::find_by_id(milestone_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    let tx = begin_locked(&ctx.db, &[format!("milestones:{}", m.application_id)]).await?;
    let Some(m) = milestone::Entity::find_by_id(milestone_id).one(&tx).await? else {
        return Ok(());
    };
    let Some(due) = m.due_at else { return Ok(()) };
    if m.state != MilestoneState::Armed || due.timestamp_millis() != due_at_ms {
        // Re-armed for another time (a newer job carries it), reached or
        // cancelled meanwhile: this firing is stale.
        return Ok(());
    }
    let now = Utc::now();
    if due > now {
        let wait = (due - now).to_std().unwrap_or_default();
        return Err(Error::RetryAfter {
            after: wait,
            reason: "probation timer fired early".into(),
        });
    }
    let application_id = m.application_id;
    let referral_id = m.referral_id;
    let mut a: milestone::ActiveModel = m.into();
    a.state = Set(MilestoneState::Reached);
    a.occurred_at = Set(Some(due));
    a.updated_at = Set(now);
    let row = a.update(&tx).await?;
    notify(ctx, &tx, &row).await?;
    tx.audit(AuditEntry::system(
        "milestone.probation_completed",
        "application",
        application_id,
        json!({ "milestone_id": milestone_id, "due_at": due }),
    ));
    let send = match referral_id {
        Some(referral_id) => crate::payout::ledger::on_probation(ctx, &tx, referral_id).await?,
        None => Vec::new(),
    };
    tx.commit().await?;
    let lag = (Utc::now() - due).num_milliseconds().max(0) as f64 / 1000.0;
    metrics::histogram!("referral_worker_probation_timer_lag_seconds").record(lag);
    crate::payout::ledger::enqueue_sends(ctx, &send).await?;
    outbox::kick(ctx).await?;
    Ok(())
}

/// Re-enqueues the job of every armed timer that is missing from the queue,
/// `page` armed milestones at a time; returns how many timers were
/// re-armed. Run by the sweeper ([`crate::maintenance::sweeper`]).
///
/// A page at a time, and the queue asked about a whole page at once: a
/// million armed timers must cost neither a million rows in memory nor a
/// million round trips every sweep.
///
/// # Errors
/// Database and queue errors.
pub async fn rearm_missing_timers(ctx: &JobContext, page: u64) -> Result<u64> {
    let page = page.max(1);
    let mut rearmed = 0;
    let mut after = 0i64;
    loop {
        let armed = milestone::Entity::find()
            .filter(milestone::Column::State.eq(MilestoneState::Armed))
            .filter(milestone::Column::DueAt.is_not_null())
            .filter(milestone::Column::Id.gt(after))
            .order_by_asc(milestone::Column::Id)
            .limit(page)
            .all(&ctx.db)
            .await?;
        let Some(last) = armed.last() else { break };
        after = last.id;
        let jobs = ctx
            .queue
            .get_stored(armed.iter().map(|m| m.timer_job_id.as_deref()))
            .await?;
        for (m, job) in armed.iter().zip(jobs) {
            let Some(due) = m.due_at else { continue };
            if job.is_some_and(|job| is_timer_for(&job, m.id, due)) {
                continue;
            }
            if arm_timer(ctx, m.id, due).await? {
                rearmed += 1;
                tracing::warn!(
                    milestone_id = m.id,
                    "probation timer was missing from the queue; re-armed"
                );
            }
        }
        if (armed.len() as u64) < page {
            break;
        }
    }
    Ok(rearmed)
}
