//! Reconciliation: our attributions, milestones and payouts checked against
//! each other, the queue and the ATS, with every difference recorded.
//!
//! A run ([`run`]) is one `reconciliation_runs` row with one
//! `reconciliation_items` row per variance. Its `trigger` is unique: a cron
//! tick's trigger is the tick ([`crate::maintenance::schedule`]), so however many worker
//! processes see the tick, one run happens, and a second attempt at the
//! same trigger returns `None`. Ops run it on demand (`referral-worker
//! reconcile [--dry-run]`) under a trigger of their own.
//!
//! What it looks for ([`VarianceKind`]):
//!
//! * a hired application with a credited referral but no hire milestone,
//!   or whose bonus rule applies but that has no payout rows, or whose
//!   probation was reached while a tranche still waits for it (fixed by
//!   re-running the milestone sync, which creates or releases what is
//!   missing);
//! * payouts sendable for longer than `delivery_window` (re-enqueued),
//!   waiting for approval that long, failed, dead or with an unknown
//!   outcome (reported: a human decides);
//! * the same payout acknowledged twice (from the audit log's attempts);
//! * armed probation timers without a live job (re-armed);
//! * from every configured ATS connector ([`crate::connectors::Connector`],
//!   every page within its rate limit): referred applications that moved
//!   within `ats_lookback` and that we never saw, hires the ATS confirms
//!   and we do not have, and accepted offers starting on another day than
//!   the start date we count probation from (fixed: the timer is re-armed
//!   from the ATS's date). Listings are read and compared a page at a
//!   time, waiting out each `Retry-After`; one longer than
//!   `reconciliation.max_ats_pages` is itself a variance;
//! * from an ATS that announces no merges or deletions (Workable): open
//!   referred applications it answers 404 for ([`super::removals`]).
//!
//! A dry run records what it found (its run row says `dry_run`) and fixes
//! nothing. A run with variances alerts ops. Called by the `reconcile` job
//! and the CLI. The run's row, items and alert are [`super::runs`]'s.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{
    application::{self, ApplicationStatus},
    audit_event,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::{self, PayoutState},
    reconciliation_item::VarianceKind,
    reconciliation_run::RunScope,
    referral::{self, ReferralState},
    states::Ats,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::runs::{self, variance};
pub use super::runs::{
    RecordedItem, RecordedRun, RunReport, Variance, items_csv, recent_runs, recorded_run,
};
use crate::{
    connectors::{AtsStatus, Connector, StartDate},
    context::JobContext,
    error::Result,
    payout::rules::JobFacts,
};

/// The longest wait a vendor's `Retry-After` may ask of a listing before
/// the run gives up (and its job is retried later).
const MAX_LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Times one page is asked again after a `Retry-After`.
const PAGE_RETRIES: u32 = 5;

/// Runs one reconciliation under `trigger`; `None` when a run with that
/// trigger already exists (another process took this tick).
///
/// # Errors
/// Database errors before the run row exists (retryable); after it, a
/// failure is recorded on the row (finished, with the error in its
/// summary), ops are alerted, and the error is permanent: the trigger has
/// had its run, and the next tick tries again.
pub async fn run(
    ctx: &JobContext,
    trigger: &str,
    dry_run: bool,
    actor: &str,
) -> Result<Option<RunReport>> {
    let Some(run_row) = runs::open(ctx, trigger, RunScope::Ledger, None, dry_run).await? else {
        return Ok(None);
    };
    match checks(ctx, run_row.started_at, dry_run).await {
        Ok(variances) => {
            let label = format!("reconciliation run {}", run_row.id);
            Ok(Some(
                runs::record(ctx, &run_row, variances, actor, &label).await?,
            ))
        }
        Err(e) => Err(runs::failed(ctx, &run_row, e).await?),
    }
}

async fn checks(
    ctx: &JobContext,
    started_at: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<Variance>> {
    let mut variances = Vec::new();
    hires(ctx, dry_run, &mut variances).await?;
    payouts(ctx, dry_run, started_at, &mut variances).await?;
    duplicate_deliveries(ctx, &mut variances).await?;
    timers(ctx, dry_run, &mut variances).await?;
    for connector in ctx.connectors.all() {
        ats_listings(ctx, connector.as_ref(), started_at, dry_run, &mut variances).await?;
        super::removals::gone_applications(ctx, connector.as_ref(), dry_run, &mut variances)
            .await?;
    }
    Ok(variances)
}

/// Hired applications with a credited referral: a hire milestone, and
/// payout rows when their rule pays.
async fn hires(ctx: &JobContext, dry_run: bool, out: &mut Vec<Variance>) -> Result<()> {
    let hired = application::Entity::find()
        .filter(application::Column::Status.eq(ApplicationStatus::Hired))
        .all(&ctx.db)
        .await?;
    for app in hired {
        let Some(referral) = referral::Entity::find()
            .filter(referral::Column::ApplicationId.eq(app.id))
            .filter(referral::Column::State.eq(ReferralState::Credited))
            .one(&ctx.db)
            .await?
        else {
            continue;
        };
        let hire = milestone::Entity::find()
            .filter(milestone::Column::ApplicationId.eq(app.id))
            .filter(milestone::Column::Kind.eq(MilestoneKind::Hire))
            .one(&ctx.db)
            .await?;
        let detail = json!({ "application_id": app.id, "ats_application_id": app.ats_application_id,
                             "referral_id": referral.id });
        let mut found = match hire {
            None => Some(variance(
                VarianceKind::HireWithoutMilestone,
                "application",
                app.id,
                detail,
            )),
            Some(h) if h.state == MilestoneState::Reached => {
                let rows = payout::Entity::find()
                    .filter(payout::Column::ReferralId.eq(referral.id))
                    .all(&ctx.db)
                    .await?;
                // An undecided tier pays too (its payouts wait for approval).
                let pays = !matches!(
                    ctx.payouts.rules.choose(&JobFacts::from(&app)),
                    crate::payout::rules::Choice::NoRule
                );
                if rows.is_empty() && pays {
                    Some(variance(
                        VarianceKind::HireWithoutPayout,
                        "application",
                        app.id,
                        detail,
                    ))
                } else if rows.iter().any(|p| p.state == PayoutState::Pending)
                    && milestone::Entity::find()
                        .filter(milestone::Column::ApplicationId.eq(app.id))
                        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
                        .filter(milestone::Column::State.eq(MilestoneState::Reached))
                        .one(&ctx.db)
                        .await?
                        .is_some()
                {
                    // The timer fired, the tranche never heard of it (the
                    // referral arrived after the probation ended, before
                    // that case was handled): the sync releases it.
                    Some(variance(
                        VarianceKind::TrancheNotReleased,
                        "application",
                        app.id,
                        detail,
                    ))
                } else {
                    None
                }
            }
            Some(_) => None,
        };
        if let Some(v) = found.as_mut() {
            if !dry_run && app.hired_at.is_some() {
                crate::milestones::sync_application(ctx, app.id).await?;
                v.fixed = true;
            }
            out.push(v.clone());
        }
    }
    Ok(())
}

/// Payouts that should have moved and did not.
async fn payouts(
    ctx: &JobContext,
    dry_run: bool,
    now: DateTime<Utc>,
    out: &mut Vec<Variance>,
) -> Result<()> {
    let open = payout::Entity::find()
        .filter(payout::Column::State.is_in([
            PayoutState::Eligible,
            PayoutState::Approved,
            PayoutState::Sending,
            PayoutState::Failed,
            PayoutState::Dead,
            PayoutState::OutcomeUnknown,
        ]))
        .all(&ctx.db)
        .await?;
    let overdue_since = now - ctx.reconcile.delivery_window;
    let mut resend = Vec::new();
    for p in open {
        let detail = json!({ "payout_id": p.id, "referral_id": p.referral_id, "tranche": p.tranche,
            "state": p.state, "eligible_at": p.eligible_at, "attempts": p.attempts,
            "last_status_code": p.last_status_code, "reason": p.reason,
            "idempotency_key": p.idempotency_key });
        let overdue = p.eligible_at.is_some_and(|at| at < overdue_since);
        let kind = match p.state {
            PayoutState::Failed => Some(VarianceKind::PayoutFailed),
            PayoutState::Dead => Some(VarianceKind::PayoutDead),
            PayoutState::OutcomeUnknown => Some(VarianceKind::PayoutOutcomeUnknown),
            PayoutState::Eligible if p.needs_approval => {
                overdue.then_some(VarianceKind::PayoutAwaitingApproval)
            }
            _ => overdue.then_some(VarianceKind::PayoutNotDelivered),
        };
        if let Some(kind) = kind {
            let mut v = variance(kind, "payout", p.id, detail);
            if kind == VarianceKind::PayoutNotDelivered && !dry_run {
                resend.push(p.id);
                v.fixed = true;
            }
            out.push(v);
        }
    }
    if !resend.is_empty() {
        crate::payout::ledger::enqueue_sends(ctx, &resend).await?;
    }
    Ok(())
}

/// A payout acknowledged by more than one attempt: the receiver was paid
/// twice for one idempotency key (if it did not dedupe).
async fn duplicate_deliveries(ctx: &JobContext, out: &mut Vec<Variance>) -> Result<()> {
    let attempts = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("payout.attempt"))
        .filter(audit_event::Column::Data.contains("\"state\":\"delivered\""))
        .all(&ctx.db)
        .await?;
    let mut per_payout: HashMap<String, usize> = HashMap::new();
    for a in attempts {
        *per_payout.entry(a.subject_id).or_default() += 1;
    }
    let mut doubled: Vec<_> = per_payout.into_iter().filter(|(_, n)| *n > 1).collect();
    doubled.sort();
    for (payout_id, n) in doubled {
        let key = match payout_id.parse::<i64>() {
            Ok(id) => payout::Entity::find_by_id(id)
                .one(&ctx.db)
                .await?
                .map(|p| p.idempotency_key),
            Err(_) => None,
        };
        out.push(variance(
            VarianceKind::DuplicateDelivery,
            "payout",
            &payout_id,
            json!({ "payout_id": payout_id, "deliveries": n, "idempotency_key": key }),
        ));
    }
    Ok(())
}

/// Armed probation timers whose job the queue does not hold.
async fn timers(ctx: &JobContext, dry_run: bool, out: &mut Vec<Variance>) -> Result<()> {
    let armed = milestone::Entity::find()
        .filter(milestone::Column::State.eq(MilestoneState::Armed))
        .all(&ctx.db)
        .await?;
    for m in armed {
        let Some(due) = m.due_at else { continue };
        if ctx.queue.is_live(m.timer_job_id.as_deref()).await? {
            continue;
        }
        let mut v = variance(
            VarianceKind::TimerNotArmed,
            "milestone",
            m.id,
            json!({ "milestone_id": m.id, "application_id": m.application_id, "due_at": due,
                    "timer_job_id": m.timer_job_id }),
        );
        if !dry_run {
            crate::milestones::arm_timer(ctx, m.id, due).await?;
            v.fixed = true;
        }
        out.push(v);
    }
    Ok(())
}

/// One ATS's applications that moved within the lookback, read page by
/// page through its connector: referred ones (the ATS credits a referrer)
/// we never saw, hires the ATS confirms and we do not have; then its
/// accepted offers starting on another day than the start date we count
/// probation from (fixed: the timer is re-armed from the ATS's date).
async fn ats_listings(
    ctx: &JobContext,
    connector: &dyn Connector,
    now: DateTime<Utc>,
    dry_run: bool,
    out: &mut Vec<Variance>,
) -> Result<()> {
    let ats = connector.ats();
    let since = now - ctx.reconcile.ats_lookback;
    // Page by page: each page is compared before the next is read, so a
    // program of any size is held one page at a time.
    let mut page = None;
    for n in 0.. {
        if n == ctx.reconcile.max_ats_pages {
            out.push(truncated(ats, "applications", n));
            break;
        }
        let listed = patiently(|| connector.list_changes(since, page.clone())).await?;
        unseen(ctx, ats, listed.items, out).await?;
        match listed.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    let mut page = None;
    for n in 0.. {
        if n == ctx.reconcile.max_ats_pages {
            out.push(truncated(ats, "start_dates", n));
            break;
        }
        let listed =
            patiently(|| connector.list_start_dates(since.date_naive(), page.clone())).await?;
        start_dates(ctx, ats, listed.items, dry_run, out).await?;
        match listed.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    Ok(())
}

/// A listing longer than one run reads.
pub(super) fn truncated(ats: Ats, listing: &str, pages_read: u32) -> Variance {
    variance(
        VarianceKind::AtsListingTruncated,
        "ats_listing",
        listing,
        json!({ "ats": ats, "listing": listing, "pages_read": pages_read }),
    )
}

/// `fetch` again after each `Retry-After` the vendor asks for (up to
/// [`MAX_LISTING_WAIT`] each, [`PAGE_RETRIES`] times): a rate-limited
/// listing slows down instead of failing the run.
pub(crate) async fn patiently<T, F, Fut>(mut fetch: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match fetch().await {
            Err(crate::Error::RetryAfter { after, .. })
                if after <= MAX_LISTING_WAIT && tries < PAGE_RETRIES =>
            {
                tries += 1;
                tokio::time::sleep(after).await;
            }
            other => return other,
        }
    }
}

/// Of one page of applications that moved: referred ones we never saw,
/// and hires the ATS confirms that we do not have.
async fn unseen(
    ctx: &JobContext,
    ats: Ats,
    listed: Vec<crate::connectors::ApplicationState>,
    out: &mut Vec<Variance>,
) -> Result<()> {
    for item in listed {
        let id = item.application_id;
        let ours = application::Entity::find()
            .filter(application::Column::Ats.eq(ats))
            .filter(application::Column::AtsApplicationId.eq(&id))
            .one(&ctx.db)
            .await?;
        let hired = item.status == AtsStatus::Hired;
        match ours {
            None if item.referrer_user_id.is_some() => out.push(variance(
                VarianceKind::AtsReferralUnseen,
                "ats_application",
                &id,
                json!({ "ats": ats, "ats_application_id": id,
                        "referrer_user_id": item.referrer_user_id, "status": item.status }),
            )),
            Some(app) if hired && app.status != ApplicationStatus::Hired => out.push(variance(
                VarianceKind::AtsHireUnseen,
                "application",
                app.id,
                json!({ "ats": ats, "ats_application_id": id,
                        "ours": app.status, "theirs": item.status }),
            )),
            _ => {}
        }
    }
    Ok(())
}

/// Accepted offers whose start date differs from the one our hired
/// application counts probation from.
async fn start_dates(
    ctx: &JobContext,
    ats: Ats,
    starts: Vec<StartDate>,
    dry_run: bool,
    out: &mut Vec<Variance>,
) -> Result<()> {
    for StartDate {
        application_id,
        starts_on: theirs,
    } in starts
    {
        let Some(app) = application::Entity::find()
            .filter(application::Column::Ats.eq(ats))
            .filter(application::Column::AtsApplicationId.eq(&application_id))
            .one(&ctx.db)
            .await?
        else {
            continue;
        };
        if app.status != ApplicationStatus::Hired {
            continue;
        }
        let ours = app.start_date.map(|d| d.date_naive());
        if ours == Some(theirs) {
            continue;
        }
        let mut v = variance(
            VarianceKind::StartDateMismatch,
            "application",
            app.id,
            json!({ "ats": ats, "ats_application_id": application_id,
                    "ours": ours, "theirs": theirs }),
        );
        if !dry_run && let Some(start) = theirs.and_hms_opt(0, 0, 0) {
            let mut a: application::ActiveModel = app.clone().into();
            a.start_date = Set(Some(start.and_utc()));
            a.updated_at = Set(Utc::now());
            a.update(&ctx.db).await?;
            crate::milestones::sync_application(ctx, app.id).await?;
            v.fixed = true;
        }
        out.push(v);
    }
    Ok(())
}
