//! The fallback write-back: a credited careers-site referral whose ATS
//! "twin" (the same candidacy arriving through the ATS's webhooks) has not
//! arrived after `ats.twin_wait` is looked up in the ATS by the
//! candidate's email and written back there, so the attribution reaches
//! the ATS even when the customer never subscribed the webhook or a
//! delivery was lost.
//!
//! # The timer
//!
//! A `twin_waits` row per such referral is the truth, written in the
//! capture transaction that credits it ([`open`]); the queue only carries
//! a `twin_wait_due` job scheduled for the row's `due_at` ([`arm`]). A
//! wiped Redis or a process killed between commit and enqueue loses
//! nothing: the sweeper ([`rearm_missing`]) gives a waiting row without a
//! live job for its due time a new one. A twin that arrives closes the
//! wait in its own capture transaction ([`twin_arrived`]).
//!
//! # When due ([`due`])
//!
//! 1. The referral is on an ATS application already (the twin arrived):
//!    the wait closes as `twin_arrived`, nothing else happens.
//! 2. Otherwise the ATS is asked: the one the submission names (`job.ats`)
//!    when it has a connector; every configured connector when the
//!    submission named none; none for a `generic` ATS (it has no API).
//!    `find_candidates` by the email the candidate typed; no configured
//!    ATS looks candidates up by phone, so a candidate without an email is
//!    `not_found` at once. Each application found is read
//!    (`application_state`) for its job and when it was made.
//! 3. [`pick`] chooses the application: one for the referral's job when
//!    the ATS says which job; else, among applications whose job the ATS
//!    does not state, the only one or the newest. Applications that the
//!    ATS places on other jobs are never chosen.
//! 4. The same write-back as the normal path ([`super::write_back`]'s
//!    `attribution_for` and `send`: token, tag, source, referrer; sandbox
//!    mode records it instead), then the wait closes as `written_back`.
//!
//! Every look-up is audited as `attribution.twin_fallback` with what was
//! found and chosen (ATS ids only). A miss waits `twin_wait × 2^n` before
//! look-up `n + 1`; after `ats.twin_lookups` misses the wait closes as
//! `not_found`, listed by `ops stuck` with the reason. A connector error
//! the connector calls permanent closes it as `failed` (also listed); a
//! retryable one retries the job on its kind's schedule.
//!
//! # A twin arriving later
//!
//! The referral stays on the careers-site submission (the fallback creates
//! no application, referral or payout); when the twin does arrive, capture
//! moves the referral to it and the normal write-back runs again. Vendors'
//! writes are idempotent (a tag applied once, fields set to the same
//! value), so the ATS ends up as after one write-back.

use chrono::{DateTime, Duration, Utc};
use entities::{
    application, candidate,
    referral::{self, ReferralState},
    states::Ats,
    twin_wait::{self, TwinWaitState},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::json;

use super::write_back::{Sent, attribution_for, send, vendor_name};
use crate::{
    connectors::{CandidateQuery, Connector},
    context::JobContext,
    db::{LockedTx, audit::AuditEntry, begin_locked},
    error::{Error, Result},
    job::Job,
};

/// Most applications read per look-up (each costs the ATS a few reads).
const MAX_APPLICATIONS: usize = 20;

/// An application the ATS holds for the candidate, as [`pick`] weighs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidacy {
    /// The ATS it lives in.
    pub ats: Ats,
    /// The ATS's candidate id.
    pub candidate_id: String,
    /// The ATS's application id.
    pub application_id: String,
    /// Its job, when the ATS says.
    pub job_id: Option<String>,
    /// When it was made, when the ATS says.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Why [`pick`] chose an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PickRule {
    /// The ATS says it is for the referral's job (the newest such one).
    SameJob,
    /// The only application whose job the ATS does not state.
    OnlyApplication,
    /// The newest of several applications whose job the ATS does not state.
    NewestApplication,
}

/// What [`pick`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick<'a> {
    /// Write back to this application.
    Chosen(&'a Candidacy, PickRule),
    /// Nothing to write back to, and why.
    Nothing(String),
}

/// The application the referral for job `job_id` is written back to:
/// one the ATS says is for that job (the newest, should there be several);
/// else, among those whose job it does not state, the only or the newest
/// one. One the ATS places on another job is never chosen: the referral is
/// for this job.
pub fn pick<'a>(job_id: &str, found: &'a [Candidacy]) -> Pick<'a> {
    if found.is_empty() {
        return Pick::Nothing("the ATS has no application for a candidate with that email".into());
    }
    let newest = |of: Vec<&'a Candidacy>| {
        of.into_iter().max_by(|a, b| {
            (a.applied_at, &a.application_id).cmp(&(b.applied_at, &b.application_id))
        })
    };
    if let Some(c) = newest(
        found
            .iter()
            .filter(|c| c.job_id.as_deref() == Some(job_id))
            .collect(),
    ) {
        return Pick::Chosen(c, PickRule::SameJob);
    }
    let unstated: Vec<&Candidacy> = found.iter().filter(|c| c.job_id.is_none()).collect();
    let rule = if unstated.len() == 1 {
        PickRule::OnlyApplication
    } else {
        PickRule::NewestApplication
    };
    match newest(unstated) {
        Some(c) => Pick::Chosen(c, rule),
        None => Pick::Nothing(format!(
            "the candidate's {} application(s) in the ATS are all for other jobs than {job_id}",
            found.len()
        )),
    }
}

/// Opens a wait for each credited referral of careers-site submission
/// `app` (whose job lives in `job_ats`), inside capture's transaction.
/// Returns the waits to [`arm`] once it commits; none while the fallback
/// is off (`ats.twin_wait = "0s"`).
///
/// # Errors
/// Database errors.
pub(super) async fn open(
    ctx: &JobContext,
    tx: &LockedTx,
    referral_ids: &[i64],
    app: &application::Model,
    job_ats: Ats,
) -> Result<Vec<(i64, DateTime<Utc>)>> {
    let Some(wait) = ctx.capture.twin_wait else {
        return Ok(Vec::new());
    };
    let now = Utc::now();
    let due = whole_millis(now + Duration::from_std(wait).unwrap_or_else(|_| Duration::days(30)));
    let mut opened = Vec::with_capacity(referral_ids.len());
    for &referral_id in referral_ids {
        let row = twin_wait::ActiveModel {
            referral_id: Set(referral_id),
            application_id: Set(app.id),
            ats: Set(job_ats),
            state: Set(TwinWaitState::Waiting),
            due_at: Set(due),
            lookups: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        opened.push((row.id, due));
    }
    Ok(opened)
}

/// Closes the waits of referrals that just moved to their ATS application
/// (in the capture transaction that moved them): the normal write-back
/// takes over. A wait already written back keeps that outcome.
///
/// # Errors
/// Database errors.
pub(super) async fn twin_arrived(tx: &LockedTx, referral_ids: &[i64]) -> Result<()> {
    if referral_ids.is_empty() {
        return Ok(());
    }
    twin_wait::Entity::update_many()
        .set(twin_wait::ActiveModel {
            state: Set(TwinWaitState::TwinArrived),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(twin_wait::Column::ReferralId.is_in(referral_ids.iter().copied()))
        .filter(twin_wait::Column::State.is_in([
            TwinWaitState::Waiting,
            TwinWaitState::NotFound,
            TwinWaitState::Failed,
        ]))
        .exec(tx)
        .await?;
    Ok(())
}

/// Enqueues the job of each wait [`open`] returned (after its commit).
///
/// # Errors
/// Queue and database errors; the sweeper re-arms what this missed.
pub(super) async fn arm_opened(ctx: &JobContext, opened: &[(i64, DateTime<Utc>)]) -> Result<()> {
    for &(wait_id, due) in opened {
        arm(ctx, wait_id, due, None).await?;
    }
    Ok(())
}

/// Enqueues wait `wait_id`'s job for `due` and records it on the row;
/// returns whether a job was added. The key names the due time and the
/// job it replaces (`previous`), so sweepers in several processes add one
/// job, and a wait whose job died can be armed again.
async fn arm(
    ctx: &JobContext,
    wait_id: i64,
    due: DateTime<Utc>,
    previous: Option<&str>,
) -> Result<bool> {
    let due_ms = due.timestamp_millis();
    let job = Job::TwinWaitDue {
        wait_id,
        due_at_ms: due_ms,
    }
    .to_new_job(&ctx.retry)?
    .run_at(due_ms)
    .idempotency_key(format!(
        "twin:{wait_id}:{due_ms}:after:{}",
        previous.unwrap_or("none")
    ));
    let queued = ctx.queue.enqueue(job).await?;
    twin_wait::Entity::update_many()
        .set(twin_wait::ActiveModel {
            job_id: Set(Some(queued.id.to_string())),
            ..Default::default()
        })
        .filter(twin_wait::Column::Id.eq(wait_id))
        .filter(twin_wait::Column::State.eq(TwinWaitState::Waiting))
        .exec(&ctx.db)
        .await?;
    Ok(!queued.duplicate)
}

/// Gives every waiting row whose job the queue no longer holds (or that
/// fires for another due time) its job again, `page` rows at a time;
/// returns how many were re-armed. Run by the sweeper
/// ([`crate::maintenance::sweeper`]).
///
/// # Errors
/// Database and queue errors.
pub async fn rearm_missing(ctx: &JobContext, page: u64) -> Result<u64> {
    let page = page.max(1);
    let (mut rearmed, mut after) = (0, 0i64);
    loop {
        let waiting = twin_wait::Entity::find()
            .filter(twin_wait::Column::State.eq(TwinWaitState::Waiting))
            .filter(twin_wait::Column::Id.gt(after))
            .order_by_asc(twin_wait::Column::Id)
            .limit(page)
            .all(&ctx.db)
            .await?;
        let Some(last) = waiting.last() else { break };
        after = last.id;
        let jobs = ctx
            .queue
            .get_stored(waiting.iter().map(|w| w.job_id.as_deref()))
            .await?;
        for (w, job) in waiting.iter().zip(jobs) {
            let fires_for = Job::TwinWaitDue {
                wait_id: w.id,
                due_at_ms: w.due_at.timestamp_millis(),
            };
            if job.is_some_and(|j| {
                j.is_live() && serde_json::from_str::<Job>(&j.payload).ok() == Some(fires_for)
            }) {
                continue;
            }
            if arm(ctx, w.id, w.due_at, w.job_id.as_deref()).await? {
                rearmed += 1;
                tracing::warn!(twin_wait_id = w.id, "twin wait had no live job; re-armed");
            }
        }
        if (waiting.len() as u64) < page {
            break;
        }
    }
    Ok(rearmed)
}

/// The `twin_wait_due` job: see the module docs.
///
/// # Errors
/// Retry-after when it fires early; a retryable connector or storage
/// error (the queue retries the job).
pub async fn due(ctx: &JobContext, wait_id: i64, due_at_ms: i64) -> Result<()> {
    let Some(w) = twin_wait::Entity::find_by_id(wait_id).one(&ctx.db).await? else {
        return Ok(());
    };
    if w.state != TwinWaitState::Waiting || w.due_at.timestamp_millis() != due_at_ms {
        // Closed meanwhile, or re-armed for a later look-up: stale.
        return Ok(());
    }
    let now = Utc::now();
    if w.due_at > now {
        return Err(Error::RetryAfter {
            after: (w.due_at - now).to_std().unwrap_or_default(),
            reason: "twin wait fired early".into(),
        });
    }
    let Some(r) = referral::Entity::find_by_id(w.referral_id)
        .one(&ctx.db)
        .await?
    else {
        return close(
            ctx,
            &w,
            TwinWaitState::Skipped,
            "the referral is gone",
            json!({}),
        )
        .await;
    };
    if r.state != ReferralState::Credited {
        let why = "the referral is no longer credited";
        return close(ctx, &w, TwinWaitState::Skipped, why, json!({})).await;
    }
    if let Some(on) = r.application_id
        && on != w.application_id
        && application::Entity::find_by_id(on)
            .one(&ctx.db)
            .await?
            .is_some_and(|a| !matches!(a.ats, Ats::CareersSite | Ats::Generic))
    {
        let why = "the ATS application arrived";
        return close(ctx, &w, TwinWaitState::TwinArrived, why, json!({})).await;
    }
    let Some(fallback) = ctx.capture.twin_wait else {
        let why = "the fallback write-back is off (ats.twin_wait = \"0s\")";
        return close(ctx, &w, TwinWaitState::Skipped, why, json!({})).await;
    };
    let asked: Vec<&std::sync::Arc<dyn Connector>> = match w.ats {
        Ats::CareersSite => ctx.connectors.all(),
        Ats::Generic => Vec::new(),
        named => ctx.connectors.get(named).into_iter().collect(),
    };
    if asked.is_empty() {
        let why = format!("{} API not configured", vendor_name(w.ats));
        return close(ctx, &w, TwinWaitState::Skipped, &why, json!({})).await;
    }
    let email = candidate::Entity::find_by_id(r.candidate_id)
        .one(&ctx.db)
        .await?
        .and_then(|c| c.email_raw.or(c.email_canonical))
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    let Some(email) = email else {
        let why = "the candidate has no email to look them up by (no configured ATS \
                   searches by phone)";
        return close(ctx, &w, TwinWaitState::NotFound, why, json!({})).await;
    };
    let found = match look_up(&asked, &email).await {
        Ok(found) => found,
        Err(Error::Permanent(why)) => {
            return close(ctx, &w, TwinWaitState::Failed, &why, json!({})).await;
        }
        Err(other) => return Err(other),
    };
    let job_id = application::Entity::find_by_id(w.application_id)
        .one(&ctx.db)
        .await?
        .map(|a| a.job_id)
        .unwrap_or_default();
    let considered: Vec<_> = found
        .iter()
        .map(|c| {
            json!({ "ats": c.ats, "candidate_id": c.candidate_id,
                         "application_id": c.application_id, "job_id": c.job_id })
        })
        .collect();
    let (chosen, rule) = match pick(&job_id, &found) {
        Pick::Chosen(c, rule) => (c, rule),
        Pick::Nothing(why) => {
            return miss(ctx, &w, fallback, &why, json!({ "considered": considered })).await;
        }
    };
    let wb = attribution_for(
        ctx,
        &r,
        chosen.candidate_id.clone(),
        chosen.application_id.clone(),
    )
    .await?;
    let mut found_data = json!({
        "ats": chosen.ats, "candidate_id": chosen.candidate_id,
        "application_id": chosen.application_id, "rule": rule, "considered": considered,
    });
    let (state, why) = match send(ctx, r.id, chosen.ats, &wb).await {
        Ok(Sent::Written(report)) => {
            found_data["written"] = json!(report.written);
            found_data["skipped"] = json!(report.skipped);
            (TwinWaitState::WrittenBack, None)
        }
        Ok(Sent::Recorded) => (
            TwinWaitState::Skipped,
            Some("sandbox: write-back recorded, not sent".to_owned()),
        ),
        Ok(Sent::NotConfigured(why)) => (TwinWaitState::Skipped, Some(why)),
        Err(Error::Permanent(why)) => (TwinWaitState::Failed, Some(why)),
        Err(other) => return Err(other),
    };
    let tx = begin_locked(&ctx.db, &[]).await?;
    finish(&tx, &w, state, why.as_deref(), Some(chosen), found_data).await?;
    tx.commit().await
}

/// Every application the connectors in `asked` hold for a candidate with
/// `email`, each read for its job and when it was made.
async fn look_up(asked: &[&std::sync::Arc<dyn Connector>], email: &str) -> Result<Vec<Candidacy>> {
    let query = CandidateQuery {
        email: Some(email.to_owned()),
        phone: None,
    };
    let mut found = Vec::new();
    for connector in asked {
        for m in connector.find_candidates(&query).await? {
            for application_id in m.application_ids {
                if found.len() >= MAX_APPLICATIONS {
                    return Ok(found);
                }
                let state = connector.application_state(&application_id).await?;
                found.push(Candidacy {
                    ats: connector.ats(),
                    candidate_id: m.candidate_id.clone(),
                    application_id,
                    job_id: state.job_id,
                    applied_at: state.applied_at,
                });
            }
        }
    }
    Ok(found)
}

/// A look-up that found nothing to write to: the next one is due
/// `twin_wait × 2^n` later, or, after `ats.twin_lookups`, the wait closes
/// as `not_found`.
async fn miss(
    ctx: &JobContext,
    w: &twin_wait::Model,
    wait: std::time::Duration,
    why: &str,
    data: serde_json::Value,
) -> Result<()> {
    let lookups = w.lookups.saturating_add(1);
    if lookups >= i32::try_from(ctx.capture.twin_lookups).unwrap_or(i32::MAX) {
        let why = format!("{why} ({lookups} look-up(s))");
        return close(ctx, w, TwinWaitState::NotFound, &why, data).await;
    }
    let backoff = wait.saturating_mul(1u32 << lookups.clamp(0, 16));
    let due = whole_millis(
        Utc::now() + Duration::from_std(backoff).unwrap_or_else(|_| Duration::days(30)),
    );
    let tx = begin_locked(&ctx.db, &[]).await?;
    let moved = twin_wait::Entity::update_many()
        .set(twin_wait::ActiveModel {
            lookups: Set(lookups),
            due_at: Set(due),
            reason: Set(Some(why.to_owned())),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(twin_wait::Column::Id.eq(w.id))
        .filter(twin_wait::Column::State.eq(TwinWaitState::Waiting))
        .exec(&tx)
        .await?;
    if moved.rows_affected == 0 {
        // The twin arrived while this looked.
        return Ok(());
    }
    tx.audit(fallback_audit(
        w,
        "not_found_yet",
        lookups,
        json!({ "reason": why, "next_lookup_at": due, "found": data }),
    ));
    tx.commit().await?;
    arm(ctx, w.id, due, w.job_id.as_deref()).await?;
    Ok(())
}

/// Closes `w` as `state` for `why`, audited with `data`.
async fn close(
    ctx: &JobContext,
    w: &twin_wait::Model,
    state: TwinWaitState,
    why: &str,
    data: serde_json::Value,
) -> Result<()> {
    let tx = begin_locked(&ctx.db, &[]).await?;
    let mut data = data;
    data["reason"] = json!(why);
    finish(&tx, w, state, Some(why), None, data).await?;
    tx.commit().await
}

/// Closes `w` as `state` (the look-up counted when one was made), with
/// what it found, audited; only while it still waits: a twin that arrived
/// meanwhile keeps its outcome.
async fn finish(
    tx: &LockedTx,
    w: &twin_wait::Model,
    state: TwinWaitState,
    why: Option<&str>,
    written_to: Option<&Candidacy>,
    found: serde_json::Value,
) -> Result<()> {
    let asked = !matches!(state, TwinWaitState::TwinArrived | TwinWaitState::Skipped);
    let lookups = w.lookups + i32::from(asked);
    let closed = twin_wait::Entity::update_many()
        .set(twin_wait::ActiveModel {
            state: Set(state),
            lookups: Set(lookups),
            reason: Set(why.map(str::to_owned)),
            found_ats: Set(written_to.map(|c| c.ats)),
            found_application_id: Set(written_to.map(|c| c.application_id.clone())),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(twin_wait::Column::Id.eq(w.id))
        .filter(twin_wait::Column::State.eq(TwinWaitState::Waiting))
        .exec(tx)
        .await?;
    if closed.rows_affected > 0 {
        let outcome = serde_json::to_value(state)?;
        let outcome = outcome.as_str().unwrap_or("closed");
        tx.audit(fallback_audit(w, outcome, lookups, found));
    }
    Ok(())
}

/// The `attribution.twin_fallback` event of `w`.
fn fallback_audit(
    w: &twin_wait::Model,
    outcome: &str,
    lookups: i32,
    found: serde_json::Value,
) -> AuditEntry {
    AuditEntry::system(
        "attribution.twin_fallback",
        "referral",
        w.referral_id,
        json!({ "twin_wait_id": w.id, "application_id": w.application_id, "ats": w.ats,
                "outcome": outcome, "lookups": lookups, "found": found }),
    )
}

/// `at` to the whole millisecond, so the stored due time and the job's
/// `due_at_ms` agree on every database.
fn whole_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, job: Option<&str>, applied_day: Option<u32>) -> Candidacy {
        Candidacy {
            ats: Ats::Greenhouse,
            candidate_id: "80".into(),
            application_id: id.into(),
            job_id: job.map(str::to_owned),
            applied_at: applied_day.map(|d| {
                DateTime::parse_from_rfc3339(&format!("2026-12-{d:02}T10:00:00Z"))
                    .expect("a time")
                    .with_timezone(&Utc)
            }),
        }
    }

    fn chosen<'a>(p: &Pick<'a>) -> (&'a str, PickRule) {
        match p {
            Pick::Chosen(c, rule) => (c.application_id.as_str(), *rule),
            Pick::Nothing(why) => panic!("nothing chosen: {why}"),
        }
    }

    #[test]
    fn the_application_for_the_referrals_job_wins_over_newer_ones() {
        let found = [
            app("1", Some("other"), Some(6)),
            app("2", Some("job"), Some(2)),
            app("3", None, Some(7)),
        ];
        assert_eq!(chosen(&pick("job", &found)), ("2", PickRule::SameJob));
    }

    #[test]
    fn several_for_the_same_job_give_the_newest() {
        let found = [
            app("1", Some("job"), Some(2)),
            app("2", Some("job"), Some(5)),
            app("3", Some("job"), None),
        ];
        assert_eq!(chosen(&pick("job", &found)), ("2", PickRule::SameJob));
    }

    #[test]
    fn without_a_stated_job_the_only_application_is_chosen() {
        let found = [app("7", None, None)];
        assert_eq!(
            chosen(&pick("job", &found)),
            ("7", PickRule::OnlyApplication)
        );
    }

    #[test]
    fn without_a_stated_job_the_newest_application_is_chosen() {
        let found = [
            app("1", None, Some(3)),
            app("2", None, Some(9)),
            app("3", None, None),
            app("4", Some("other"), Some(20)),
        ];
        assert_eq!(
            chosen(&pick("job", &found)),
            ("2", PickRule::NewestApplication)
        );
    }

    #[test]
    fn applications_for_other_jobs_only_are_never_chosen() {
        let found = [
            app("1", Some("other"), Some(3)),
            app("2", Some("else"), Some(4)),
        ];
        match pick("job", &found) {
            Pick::Nothing(why) => assert!(why.contains("2 application(s)"), "{why}"),
            other => panic!("chose {other:?}"),
        }
    }

    #[test]
    fn nothing_found_is_nothing_chosen() {
        assert!(matches!(pick("job", &[]), Pick::Nothing(_)));
    }
}
