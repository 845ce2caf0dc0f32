//! An application arriving: the candidate found or created by their
//! canonical email and phone ([`crate::identity`]), the application
//! upserted by its ATS id (what it states of the status, stage and start
//! date only when newer than what is on record: [`super::facts`]), the
//! applicant's consent recorded
//! ([`crate::privacy::consent`]), every referral claim decided
//! ([`super::attribution`]), all in one locked transaction; then
//! write-back and milestones.
//!
//! Called by the `process_delivery` job ([`super::process_delivery`]) for
//! every [`ApplicationEvent`] (and a Lever opportunity re-fetched as one),
//! and directly by tests and the benchmarks.

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    candidate, candidate_ats_id, milestone,
    referral::ReferralState,
    states::Ats,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
    sea_query::{Expr, OnConflict},
};

use super::{
    attribution::{
        OnRecord, adopt_careers_site_referrals, decide_and_store, enqueue_write_back,
        referral_claims,
    },
    facts::{self, ApplicationFact, EventTime},
};
use crate::{
    context::{CaptureSettings, JobContext},
    db::{LockedTx, begin_locked},
    error::{Error, Result},
    identity::CandidateKeys,
    intake::event::{ApplicationEvent, Source},
    referral::engagement::{self, StageOf},
};

/// The result of capturing one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The (possibly pre-existing) candidate.
    pub candidate_id: i64,
    /// The application.
    pub application_id: i64,
    /// Whether the candidate row was created by this capture.
    pub new_candidate: bool,
    /// Referral rows written, with their state.
    pub referrals: Vec<(i64, ReferralState)>,
}

/// Dedups the candidate, upserts the application and decides every
/// referral claim the event carries, then enqueues ATS write-back for
/// credited referrals.
///
/// # Errors
/// Database and queue errors (retryable).
pub async fn capture_application(ctx: &JobContext, ev: &ApplicationEvent) -> Result<Captured> {
    capture_application_marked(ctx, ev, false).await
}

/// [`capture_application`] for a submission marked as a test (the
/// careers site's `"test": true`): a candidate it creates and the
/// referrals it writes are `is_test`.
///
/// # Errors
/// As [`capture_application`].
pub async fn capture_application_marked(
    ctx: &JobContext,
    ev: &ApplicationEvent,
    is_test: bool,
) -> Result<Captured> {
    let mut hints: Vec<&str> = Vec::new();
    if let Some(r) = ev.phone_region.as_deref() {
        hints.push(r);
    }
    if let Some(r) = ctx.capture.job_phone_regions.get(&ev.job_id) {
        hints.push(r);
    }
    if let Some(r) = ctx.capture.default_phone_region.as_deref() {
        hints.push(r);
    }
    let keys = CandidateKeys::from_raw(ev.email.as_deref(), ev.phone.as_deref(), &hints);
    // A submission through our careers site is stored under the careers
    // site, whatever ATS its job lives in: the ATS's own application
    // arrives later and adopts it.
    let ats = if ev.source == Source::CareersSite {
        Ats::CareersSite
    } else {
        ev.ats
    };
    let mut locks = vec![format!("app:{ats:?}:{}", ev.ats_application_id)];
    if let Some(e) = &keys.email {
        locks.push(format!("cand:email:{}", e.as_str()));
    }
    if let Some(p) = &keys.phone {
        locks.push(format!("cand:phone:{}", p.as_str()));
    }
    let tx = begin_locked(&ctx.db, &locks).await?;

    let (cand, new_candidate) = find_or_create_candidate(&tx, ev, ats, &keys, is_test).await?;
    let Upserted {
        app,
        was_hired,
        before,
    } = upsert_application(&tx, &ctx.capture, ev, ats, cand.id).await?;
    // Referrals credited before this delivery hear of the move (one
    // credited by it hears of the credit instead).
    let mut told = match &before {
        Some(before) => engagement::stage_changed(ctx, &tx, before, &app).await?,
        None => false,
    };
    if let Some(consent) = &ev.consent {
        crate::privacy::consent::record(&tx, cand.id, app.id, ev.source, ev.applied_at, consent)
            .await?;
    }
    let adopted = if ats != Ats::CareersSite {
        adopt_careers_site_referrals(&tx, cand.id, &app).await?
    } else {
        Vec::new()
    };

    let claims = referral_claims(&tx, ev, &cand, &app).await?;

    let mut written = Vec::new();
    for (employee_id, source, token) in claims {
        // A candidate created by this transaction has, so far, only the
        // application upserted above and the referrals written in this
        // loop: until one is written, there is nothing on record to read.
        // (Other transactions cannot have referenced a row they cannot
        // see.) This spares a new candidate's capture three reads.
        let on_record = if new_candidate && written.is_empty() {
            OnRecord::Nothing
        } else {
            OnRecord::Read
        };
        if let Some(r) = decide_and_store(
            ctx,
            &tx,
            &cand,
            &app,
            &employee_id,
            source,
            token,
            ev.applied_at,
            is_test,
            on_record,
        )
        .await?
        {
            written.push(r);
        }
    }
    // The submission may be processed after the ATS application it became
    // (deliveries run concurrently and are retried): its referrals then go
    // to that application now, as they would have had it come first. A
    // candidate created by this transaction has no other application.
    let mut late = None;
    if ats == Ats::CareersSite
        && !new_candidate
        && let Some(ats_app) = application::Entity::find()
            .filter(application::Column::CandidateId.eq(cand.id))
            .filter(application::Column::JobId.eq(&app.job_id))
            .filter(application::Column::Ats.ne(Ats::CareersSite))
            .one(&tx)
            .await?
    {
        let moved = adopt_careers_site_referrals(&tx, cand.id, &ats_app).await?;
        late = Some((ats_app.id, moved));
    }
    tx.commit().await?;
    // Each referral written was told to the referral platform (when it
    // listens): deliver now rather than at the sweeper's next pass.
    told |= !written.is_empty() && engagement::active(ctx);
    if told {
        crate::outbox::kick(ctx).await?;
    }

    let credited = written
        .iter()
        .filter(|(_, state)| *state == ReferralState::Credited)
        .map(|(id, _)| *id)
        .chain(adopted);
    for referral_id in credited {
        enqueue_write_back(ctx, referral_id, app.id).await?;
    }
    if let Some((ats_app_id, moved)) = late {
        for referral_id in moved {
            enqueue_write_back(ctx, referral_id, ats_app_id).await?;
        }
        crate::milestones::sync_application(ctx, ats_app_id).await?;
    }
    // A hire may already be on record (it can arrive before its
    // application or attribution): milestones catch up now. An application
    // that neither is nor was hired has nothing to sync: it has no hire to
    // record, and any hire milestone an earlier unhire left behind is that
    // unhire's own sync to cancel, unless the process died between that
    // unhire's commit and its sync: a known application that has
    // milestones syncs whatever its status, so a retry (or any later
    // event) cancels them. Skipping the rest spares every new application
    // a second locked transaction.
    let has_milestones = || async {
        milestone::Entity::find()
            .filter(milestone::Column::ApplicationId.eq(app.id))
            .one(&ctx.db)
            .await
            .map(|m| m.is_some())
    };
    if was_hired
        || app.status == ApplicationStatus::Hired
        || (before.is_some() && has_milestones().await?)
    {
        crate::milestones::sync_application(ctx, app.id).await?;
    }
    Ok(Captured {
        candidate_id: cand.id,
        application_id: app.id,
        new_candidate,
        referrals: written,
    })
}

async fn find_or_create_candidate(
    tx: &LockedTx,
    ev: &ApplicationEvent,
    ats: Ats,
    keys: &CandidateKeys,
    is_test: bool,
) -> Result<(candidate::Model, bool)> {
    let mut found: Option<candidate::Model> = None;
    if let Some(cid) = ev.ats_candidate_id.as_deref() {
        found = candidate_by_ats(tx, ats, cid).await?;
    }
    // The mapping's foreign key means a known ATS id always finds its row.
    let known_by_ats = found.is_some();
    if found.is_none() {
        found = live_candidate(tx, keys).await?;
    }
    // Follow merges to the surviving record, then lock its row and decide
    // on what it is once locked: the keys above cover this delivery's
    // email, phone and application, but another delivery can reach the
    // same candidate through other ones (its other email or phone, its ATS
    // id), and a merge or an erasure can be under way. Only the survivor
    // is locked, so a capture never holds a merged-away row that a merge
    // (which locks both, in id order) would wait for.
    let mut hops = 0;
    loop {
        while let Some(into) = found.as_ref().and_then(|c| c.merged_into_id) {
            hops += 1;
            if hops > 16 {
                return Err(Error::Corrupt(format!(
                    "candidate merge chain from {into} does not end"
                )));
            }
            found = candidate::Entity::find_by_id(into).one(tx).await?;
        }
        let Some(c) = &found else { break };
        found = lock_candidate(tx, c.id).await?;
        // Merged while this waited for the lock: follow on.
        if found.as_ref().is_none_or(|c| c.merged_into_id.is_none()) {
            break;
        }
    }
    let now = Utc::now();
    let (cand, created) = match found {
        Some(c) => {
            // Keep what we had; fill in what we lacked. Never on an erased
            // candidate: an event naming its ATS id after the erasure must
            // not bring the personal data back.
            let erased = c.anonymized_at.is_some();
            let needs_email = !erased && c.email_canonical.is_none() && keys.email.is_some();
            let needs_phone = !erased && c.phone_e164.is_none() && keys.phone.is_some();
            if needs_email || needs_phone {
                let mut a: candidate::ActiveModel = c.clone().into();
                if needs_email {
                    a.email_raw = Set(ev.email.clone());
                    a.email_canonical = Set(keys.email.as_ref().map(|e| e.as_str().to_string()));
                }
                if needs_phone {
                    a.phone_raw = Set(ev.phone.clone());
                    a.phone_e164 = Set(keys.phone.as_ref().map(|p| p.as_str().to_string()));
                }
                a.updated_at = Set(now);
                (a.update(tx).await?, false)
            } else {
                (c, false)
            }
        }
        None => {
            let c = candidate::ActiveModel {
                email_raw: Set(ev.email.clone()),
                email_canonical: Set(keys.email.as_ref().map(|e| e.as_str().to_string())),
                phone_raw: Set(ev.phone.clone()),
                phone_e164: Set(keys.phone.as_ref().map(|p| p.as_str().to_string())),
                first_name: Set(ev.first_name.clone().unwrap_or_default()),
                last_name: Set(ev.last_name.clone()),
                merged_into_id: Set(None),
                anonymized_at: Set(None),
                is_test: Set(is_test),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await?;
            (c, true)
        }
    };
    if let Some(cid) = ev.ats_candidate_id.as_deref()
        && !known_by_ats
    {
        let mapped = candidate_ats_id::Entity::insert(candidate_ats_id::ActiveModel {
            candidate_id: Set(cand.id),
            ats: Set(ats),
            ats_candidate_id: Set(cid.to_string()),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([
            candidate_ats_id::Column::Ats,
            candidate_ats_id::Column::AtsCandidateId,
        ])
        .exec_without_returning(tx)
        .await?;
        // Unknown when this capture looked, mapped by the time it inserts:
        // another capture of the same person, reaching them through other
        // keys (none covers the ATS id), committed first. The person is
        // theirs; attaching this application to the candidate found here
        // would split one person in two (and their referrals' first-wins
        // rule with them). Roll back and retry: the retry finds the person
        // by the ATS id.
        if !matches!(mapped, TryInsertResult::Inserted(1)) {
            return Err(Error::retryable(format!(
                "{ats:?} candidate {cid} was mapped by a capture that committed first"
            )));
        }
    }
    Ok((cand, created))
}

/// The live (not erased) candidate with `keys`' email, or failing that one
/// with its phone: email first, the phone only when no email matches. One
/// statement for both, since a new candidate's capture would otherwise
/// always pay for the second look-up; the oldest record wins a tie.
async fn live_candidate(tx: &LockedTx, keys: &CandidateKeys) -> Result<Option<candidate::Model>> {
    let mut any = Condition::any();
    if let Some(email) = &keys.email {
        any = any.add(candidate::Column::EmailCanonical.eq(email.as_str()));
    }
    if let Some(phone) = &keys.phone {
        any = any.add(candidate::Column::PhoneE164.eq(phone.as_str()));
    }
    if any.is_empty() {
        return Ok(None);
    }
    let mut query = candidate::Entity::find()
        .filter(any)
        .filter(candidate::Column::AnonymizedAt.is_null());
    if let Some(email) = &keys.email {
        let email_first: Expr = Expr::case(candidate::Column::EmailCanonical.eq(email.as_str()), 0)
            .finally(1)
            .into();
        query = query.order_by_asc(email_first);
    }
    Ok(query.order_by_asc(candidate::Column::Id).one(tx).await?)
}

/// Whether `stage` is one of the configured hire stages of `ats`
/// (`[milestones] hire_stages`, keyed by the ATS's name).
pub(super) fn is_hire_stage(settings: &CaptureSettings, ats: Ats, stage: Option<&str>) -> bool {
    stage.is_some_and(|stage| {
        settings
            .hire_stages
            .get(&ats.to_value())
            .is_some_and(|names| names.iter().any(|n| n == &stage.trim().to_lowercase()))
    })
}

pub(super) fn status_of(text: Option<&str>) -> ApplicationStatus {
    match text {
        Some("hired") => ApplicationStatus::Hired,
        Some("rejected") => ApplicationStatus::Rejected,
        Some("withdrawn") | Some("archived") => ApplicationStatus::Withdrawn,
        _ => ApplicationStatus::Active,
    }
}

/// What [`upsert_application`] did.
struct Upserted {
    /// The application as it is now.
    app: application::Model,
    /// Whether it was hired before.
    was_hired: bool,
    /// Its stage and status before, when it was on record.
    before: Option<StageOf>,
}

async fn upsert_application(
    tx: &LockedTx,
    settings: &CaptureSettings,
    ev: &ApplicationEvent,
    ats: Ats,
    candidate_id: i64,
) -> Result<Upserted> {
    let now = Utc::now();
    let mut status = status_of(ev.status.as_deref());
    // A configured hire stage hires, as in a stage change: the vendor may
    // still call the application `active` there.
    if status == ApplicationStatus::Active && is_hire_stage(settings, ev.ats, ev.stage.as_deref()) {
        status = ApplicationStatus::Hired;
    }
    let hired_now = (status == ApplicationStatus::Hired).then_some(now);
    // Most captures meet a new application: insert it, and read the one on
    // record only when the insert finds it there (one statement, not two,
    // for the common case). The transaction holds the application's key,
    // so nothing else inserts it in between.
    let inserted = application::Entity::insert(application::ActiveModel {
        candidate_id: Set(candidate_id),
        ats: Set(ats),
        ats_application_id: Set(ev.ats_application_id.clone()),
        job_id: Set(ev.job_id.clone()),
        requisition_id: Set(ev.requisition_id.clone()),
        status: Set(status),
        stage: Set(ev.stage.clone()),
        applied_at: Set(ev.applied_at),
        hired_at: Set(hired_now),
        start_date: Set(ev.start_date),
        rejected_at: Set(None),
        job_level: Set(None),
        department: Set(ev.department.clone()),
        location: Set(ev.location.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            application::Column::Ats,
            application::Column::AtsApplicationId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_with_returning(tx)
    .await;
    // The facts this event states, each ordered by its time.
    let named = [
        (ev.status.is_some(), ApplicationFact::Status),
        (ev.stage.is_some(), ApplicationFact::Stage),
        (ev.start_date.is_some(), ApplicationFact::StartDate),
    ];
    let facts: Vec<ApplicationFact> = named.iter().filter(|(n, _)| *n).map(|(_, f)| *f).collect();
    let time = EventTime::new(ev.changed_at, None);
    match inserted {
        Ok(app) => {
            // New: nothing on record to be stale against; this records
            // the event's time for what it stated.
            facts::admit(tx, app.id, &ev.event, time, &facts).await?;
            return Ok(Upserted {
                app,
                was_hired: false,
                before: None,
            });
        }
        // The insert skipped for the conflict: sea-orm 2.0.4 reports that
        // as `RecordNotFound` when it asked for the row back with
        // RETURNING (`TryInsert` only knows `RecordNotInserted`).
        Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let app = application::Entity::find()
        .filter(application::Column::Ats.eq(ats))
        .filter(application::Column::AtsApplicationId.eq(&ev.ats_application_id))
        .one(tx)
        .await?
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "application {} conflicted on insert but is not on record",
                ev.ats_application_id
            ))
        })?;
    let was_hired = app.status == ApplicationStatus::Hired;
    let hired_at = app.hired_at;
    let before = StageOf::from(&app);
    // A snapshot older than (or as old as) what is on record changes
    // nothing of what it states ([`facts`]).
    let admitted = facts::admit(tx, app.id, &ev.event, time, &facts).await?;
    // A snapshot without a time of its own saying `active` may be older
    // than the hire already recorded: only an explicit unhire, rejection
    // or withdrawal undoes a hire then. (A timed one is ordered above.)
    if was_hired && status == ApplicationStatus::Active && ev.changed_at.is_none() {
        status = ApplicationStatus::Hired;
    }
    let mut a: application::ActiveModel = app.into();
    a.candidate_id = Set(candidate_id);
    if admitted.allows(ApplicationFact::Status) {
        a.status = Set(status);
        if hired_at.is_none() {
            a.hired_at = Set(hired_now);
        }
    }
    if admitted.allows(ApplicationFact::Stage) {
        a.stage = Set(ev.stage.clone());
    }
    // A start date the ATS confirmed moves the probation timer (the
    // milestone sync below re-arms it); none said keeps the one on record.
    if admitted.allows(ApplicationFact::StartDate) {
        a.start_date = Set(ev.start_date);
    }
    if ev.department.is_some() {
        a.department = Set(ev.department.clone());
    }
    if ev.location.is_some() {
        a.location = Set(ev.location.clone());
    }
    a.updated_at = Set(now);
    Ok(Upserted {
        app: a.update(tx).await?,
        was_hired,
        before: Some(before),
    })
}

/// Candidate `id` as it is now, its row locked until the transaction ends
/// (`FOR UPDATE`; SQLite's transaction already holds the only write lock).
pub(super) async fn lock_candidate(
    conn: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<candidate::Model>> {
    Ok(candidate::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?)
}

pub(super) async fn candidate_by_ats(
    conn: &impl ConnectionTrait,
    ats: Ats,
    id: &str,
) -> Result<Option<candidate::Model>> {
    let Some(map) = candidate_ats_id::Entity::find()
        .filter(candidate_ats_id::Column::Ats.eq(ats))
        .filter(candidate_ats_id::Column::AtsCandidateId.eq(id))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(candidate::Entity::find_by_id(map.candidate_id)
        .one(conn)
        .await?)
}
