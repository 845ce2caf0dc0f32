//! Capture: turns a verified inbound delivery into candidates, applications
//! and attributions. The `process_delivery` job runs it; the HTTP intake only
//! stored the raw bytes in the inbox and enqueued that job.
//!
//! Everything a delivery changes is written in one transaction from
//! [`crate::db::begin_locked`], keyed by the candidate's canonical email and
//! phone and the application id, so two deliveries about the same person
//! never race into two candidate rows. Every attribution decision writes an
//! audit event in the same transaction.
//!
//! Deliveries are at least once and out of order: each step is idempotent
//! (an application is upserted by its ATS id, a referral by candidate,
//! employee and application) and a stage change for an application not yet
//! seen fails retryably, so the queue keeps it until the application arrives.

pub mod write_back;

use chrono::{DateTime, Utc};
use entities::{
    application::{self, ApplicationStatus},
    candidate, candidate_ats_id, employee, inbox,
    inbox::{InboxSource, InboxStatus},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TryInsertResult,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;

use crate::{
    connectors::{careers_site, lever},
    context::{CaptureSettings, JobContext},
    db::audit::AuditEntry,
    db::{LockedTx, begin_locked},
    error::{Error, Result},
    identity::CandidateKeys,
    intake::{self, ApplicationEvent, IntakeEvent, StageChange, StoredBodyError},
    job::Job,
    referral::{
        attribution::{self, CandidateFacts, ExistingCredit, Referrer, Verdict},
        links::{self, LinkCheck},
    },
};

/// What processing a delivery amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Acted on.
    Applied,
    /// Authentic but nothing to do.
    Ignored,
}

/// The `process_delivery` job: decode the stored body and act on it.
///
/// # Errors
/// Retryable for transient failures and for events that wait on others
/// (a stage change before its application); permanent for a body that no
/// longer decodes or a source that cannot be acted on.
pub async fn process_delivery(ctx: &JobContext, inbox_id: i64, attempt: u32) -> Result<Processed> {
    let Some(row) = inbox::Entity::find_by_id(inbox_id).one(&ctx.db).await? else {
        return Err(Error::permanent(format!(
            "inbox row {inbox_id} does not exist"
        )));
    };
    if matches!(row.status, InboxStatus::Processed | InboxStatus::Ignored) {
        return Ok(if row.status == InboxStatus::Ignored {
            Processed::Ignored
        } else {
            Processed::Applied
        });
    }
    let result = act(ctx, &row).await;
    let (status, error) = match &result {
        Ok(Processed::Applied) => (Some(InboxStatus::Processed), None),
        Ok(Processed::Ignored) => (Some(InboxStatus::Ignored), None),
        Err(Error::Permanent(e)) => (Some(InboxStatus::Failed), Some(e.clone())),
        // The last attempt: the job goes dead now, so the row must say so
        // too, or it would look `enqueued` for ever.
        Err(e) if attempt >= ctx.retry.for_kind(Job::PROCESS_DELIVERY).max_attempts => (
            Some(InboxStatus::Failed),
            Some(format!("gave up after {attempt} attempts: {e}")),
        ),
        // Retryable: the row stays `enqueued`; the job's own history has the error.
        Err(_) => (None, None),
    };
    if let Some(status) = status {
        let mut active: inbox::ActiveModel = row.into();
        active.status = Set(status);
        active.error = Set(error);
        active.update(&ctx.db).await?;
    }
    result
}

async fn act(ctx: &JobContext, row: &inbox::Model) -> Result<Processed> {
    let body = row
        .raw_body
        .as_deref()
        .ok_or_else(|| Error::permanent("inbox row has no stored body"))?;
    let event = intake::decode_stored(row.source, body, &ctx.capture.start_date_field).map_err(
        |e| match e {
            StoredBodyError::NoDecoder => Error::permanent(e.to_string()),
            StoredBodyError::Invalid(e) => {
                Error::permanent(format!("stored body no longer decodes: {e}"))
            }
        },
    )?;
    let is_test = row.source == InboxSource::CareersSite && careers_site::is_test(body);
    match event {
        IntakeEvent::Application(ev) => capture_application_marked(ctx, &ev, is_test)
            .await
            .map(|_| Processed::Applied),
        IntakeEvent::StageChanged(sc) => apply_stage_change(ctx, &sc)
            .await
            .map(|_| Processed::Applied),
        IntakeEvent::CandidateMerged {
            from_candidate_id,
            into_candidate_id,
        } => merge_candidates(ctx, &from_candidate_id, &into_candidate_id).await,
        IntakeEvent::ApplicationDeleted { application_id, .. } => {
            delete_application(ctx, &application_id).await
        }
        IntakeEvent::CandidateAnonymized { candidate_id } => {
            anonymize_candidate(ctx, &candidate_id).await
        }
        IntakeEvent::LeverOpportunity {
            event,
            opportunity_id,
        } => {
            let ev =
                lever::refetch_application(ctx.lever.as_deref(), &event, &opportunity_id).await?;
            capture_application(ctx, &ev)
                .await
                .map(|_| Processed::Applied)
        }
        IntakeEvent::Ignored { .. } => Ok(Processed::Ignored),
    }
}

fn status_of(text: Option<&str>) -> ApplicationStatus {
    match text {
        Some("hired") => ApplicationStatus::Hired,
        Some("rejected") => ApplicationStatus::Rejected,
        Some("withdrawn") | Some("archived") => ApplicationStatus::Withdrawn,
        _ => ApplicationStatus::Active,
    }
}

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
    let ats = if ev.source == intake::Source::CareersSite {
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
    let (app, was_hired) = upsert_application(&tx, &ctx.capture, ev, ats, cand.id).await?;
    let adopted = if ats != Ats::CareersSite {
        adopt_careers_site_referrals(&tx, cand.id, &app).await?
    } else {
        Vec::new()
    };

    let mut claims: Vec<(String, ReferralSource, Option<String>)> = Vec::new();
    if let Some(token) = ev
        .referral_token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        match links::check(&tx, token.trim(), ev.applied_at).await? {
            LinkCheck::Valid(link) => claims.push((
                link.employee_id.clone(),
                ReferralSource::ReferralLink,
                Some(link.token.clone()),
            )),
            other => {
                let reason = other.rejection().unwrap_or("rejected");
                tx.audit(AuditEntry::system(
                    "attribution.token_rejected",
                    "application",
                    app.id,
                    json!({ "application_id": app.id, "candidate_id": cand.id, "reason": reason }),
                ));
            }
        }
    }
    if let Some(emp) = ev
        .credited_employee_id
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        claims.push((emp.trim().to_string(), ReferralSource::AtsCredited, None));
    }

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
    // unhire's own sync to cancel. Skipping it spares every new
    // application a second locked transaction.
    if was_hired || app.status == ApplicationStatus::Hired {
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
fn is_hire_stage(settings: &CaptureSettings, ats: Ats, stage: Option<&str>) -> bool {
    stage.is_some_and(|stage| {
        settings
            .hire_stages
            .get(&ats.to_value())
            .is_some_and(|names| names.iter().any(|n| n == &stage.trim().to_lowercase()))
    })
}

async fn upsert_application(
    tx: &LockedTx,
    settings: &CaptureSettings,
    ev: &ApplicationEvent,
    ats: Ats,
    candidate_id: i64,
) -> Result<(application::Model, bool)> {
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
        start_date: Set(None),
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
    match inserted {
        Ok(app) => return Ok((app, false)),
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
    // A pushed application snapshot saying `active` may be older than the
    // hire already recorded (deliveries are retried and run concurrently);
    // only an explicit unhire, rejection or withdrawal undoes a hire.
    // Lever's state is re-fetched from its API, so it is current and is
    // believed.
    if was_hired && status == ApplicationStatus::Active && ev.source != intake::Source::Lever {
        status = ApplicationStatus::Hired;
    }
    let mut a: application::ActiveModel = app.into();
    a.candidate_id = Set(candidate_id);
    if ev.status.is_some() {
        a.status = Set(status);
        if hired_at.is_none() {
            a.hired_at = Set(hired_now);
        }
    }
    if ev.stage.is_some() {
        a.stage = Set(ev.stage.clone());
    }
    if ev.department.is_some() {
        a.department = Set(ev.department.clone());
    }
    if ev.location.is_some() {
        a.location = Set(ev.location.clone());
    }
    a.updated_at = Set(now);
    Ok((a.update(tx).await?, was_hired))
}

/// A careers-site submission and the ATS application it becomes are one
/// candidacy: referrals recorded against the submission move to the ATS
/// application (same candidate, same job), where write-back can reach them.
/// Returns the credited ones, which now need writing back.
async fn adopt_careers_site_referrals(
    tx: &LockedTx,
    candidate_id: i64,
    app: &application::Model,
) -> Result<Vec<i64>> {
    let mut credited = Vec::new();
    let submissions = application::Entity::find()
        .filter(application::Column::CandidateId.eq(candidate_id))
        .filter(application::Column::Ats.eq(Ats::CareersSite))
        .filter(application::Column::JobId.eq(&app.job_id))
        .all(tx)
        .await?;
    for sub in submissions {
        let moved = referral::Entity::find()
            .filter(referral::Column::ApplicationId.eq(sub.id))
            .all(tx)
            .await?;
        for r in moved {
            let rid = r.id;
            if r.state == ReferralState::Credited {
                credited.push(rid);
            }
            let mut a: referral::ActiveModel = r.into();
            a.application_id = Set(Some(app.id));
            a.updated_at = Set(Utc::now());
            a.update(tx).await?;
            tx.audit(AuditEntry::system(
                "attribution.moved_to_ats_application",
                "referral",
                rid,
                json!({ "from_application_id": sub.id, "to_application_id": app.id }),
            ));
        }
    }
    Ok(credited)
}

async fn candidate_facts(
    tx: &LockedTx,
    cand: &candidate::Model,
    app: &application::Model,
) -> Result<CandidateFacts> {
    let apps = application::Entity::find()
        .filter(application::Column::CandidateId.eq(cand.id))
        .all(tx)
        .await?;
    let refs = referral::Entity::find()
        .filter(referral::Column::CandidateId.eq(cand.id))
        .all(tx)
        .await?;
    let unreferred_applications = apps
        .iter()
        // A careers-site submission and its ATS twin are one candidacy, not
        // a prior application: same job, applied within a day of each other.
        // An unreferred application to the same job long before still counts.
        .filter(|a| {
            a.id != app.id
                && !(a.job_id == app.job_id
                    && (a.applied_at - app.applied_at).abs() <= chrono::Duration::days(1))
        })
        .filter(|a| !refs.iter().any(|r| r.application_id == Some(a.id)))
        .map(|a| a.applied_at)
        .collect();
    let credits = refs
        .iter()
        .filter(|r| r.state == ReferralState::Credited)
        .map(|r| ExistingCredit {
            referral_id: r.id,
            employee_id: r.employee_id.clone(),
            referred_at: r.referred_at,
        })
        .collect();
    Ok(CandidateFacts {
        email_canonical: cand.email_canonical.clone(),
        unreferred_applications,
        credits,
    })
}

/// What [`decide_and_store`] may assume about the candidate's earlier
/// applications and referrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnRecord {
    /// Read them.
    Read,
    /// There are none: the candidate was created by this transaction and
    /// no referral has been written for it yet.
    Nothing,
}

#[allow(clippy::too_many_arguments)]
async fn decide_and_store(
    ctx: &JobContext,
    tx: &LockedTx,
    cand: &candidate::Model,
    app: &application::Model,
    employee_id: &str,
    source: ReferralSource,
    token: Option<String>,
    referred_at: DateTime<Utc>,
    is_test: bool,
    on_record: OnRecord,
) -> Result<Option<(i64, ReferralState)>> {
    // A re-delivery of the same facts: nothing new.
    if on_record == OnRecord::Read
        && referral::Entity::find()
            .filter(referral::Column::CandidateId.eq(cand.id))
            .filter(referral::Column::EmployeeId.eq(employee_id))
            .filter(referral::Column::ApplicationId.eq(app.id))
            .one(tx)
            .await?
            .is_some()
    {
        return Ok(None);
    }
    let referrer = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(tx)
        .await?
        .map(|e| Referrer {
            employee_id: e.employee_id,
            email_canonical: e.email_canonical,
            active: e.active,
        });
    let facts = match on_record {
        OnRecord::Read => candidate_facts(tx, cand, app).await?,
        OnRecord::Nothing => CandidateFacts {
            email_canonical: cand.email_canonical.clone(),
            unreferred_applications: Vec::new(),
            credits: Vec::new(),
        },
    };
    let verdict = attribution::decide(
        employee_id,
        referrer.as_ref(),
        referred_at,
        &facts,
        &ctx.capture.rules,
    );
    let (state, reason, demote) = match &verdict {
        Verdict::Duplicate => {
            tx.audit(AuditEntry::system(
                "attribution.duplicate",
                "application",
                app.id,
                json!({ "employee_id": employee_id, "candidate_id": cand.id, "source": source }),
            ));
            return Ok(None);
        }
        Verdict::Credited { demote } => (ReferralState::Credited, None, demote.clone()),
        Verdict::Lost(r) => (ReferralState::Lost, Some(r.clone()), Vec::new()),
        Verdict::Ineligible(r) => (ReferralState::Ineligible, Some(r.clone()), Vec::new()),
    };
    let now = Utc::now();
    let row = referral::ActiveModel {
        candidate_id: Set(cand.id),
        application_id: Set(Some(app.id)),
        employee_id: Set(employee_id.to_string()),
        source: Set(source),
        link_token: Set(token),
        state: Set(state),
        reason: Set(reason.clone()),
        referred_at: Set(referred_at),
        decided_at: Set(Some(now)),
        is_test: Set(is_test || cand.is_test),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    let action = match state {
        ReferralState::Credited => "attribution.credited",
        ReferralState::Lost => "attribution.lost",
        _ => "attribution.ineligible",
    };
    tx.audit(AuditEntry::system(
        action,
        "referral",
        row.id,
        json!({
            "referral_id": row.id, "candidate_id": cand.id, "application_id": app.id,
            "employee_id": employee_id, "source": source, "reason": reason,
        }),
    ));
    for loser in demote {
        if let Some(r) = referral::Entity::find_by_id(loser).one(tx).await? {
            let mut a: referral::ActiveModel = r.into();
            let why = format!(
                "first referral wins: superseded by earlier referral {}",
                row.id
            );
            a.state = Set(ReferralState::Lost);
            a.reason = Set(Some(why.clone()));
            a.decided_at = Set(Some(now));
            a.updated_at = Set(now);
            a.update(tx).await?;
            tx.audit(AuditEntry::system(
                "attribution.superseded",
                "referral",
                loser,
                json!({ "by_referral_id": row.id, "reason": why }),
            ));
        }
    }
    Ok(Some((row.id, state)))
}

/// One write-back per referral *and application*: a referral first recorded
/// on a careers-site submission is written back again once it moves to the
/// ATS application.
async fn enqueue_write_back(ctx: &JobContext, referral_id: i64, application_id: i64) -> Result<()> {
    let job = Job::WriteBackReferral { referral_id }
        .to_new_job(&ctx.retry)?
        .idempotency_key(format!("writeback:{referral_id}:{application_id}"));
    ctx.queue.enqueue(job).await?;
    Ok(())
}

/// Records a stage or status change on a known application.
///
/// # Errors
/// Retryable while the application is unknown (it may arrive later).
pub async fn apply_stage_change(ctx: &JobContext, sc: &StageChange) -> Result<()> {
    let ats = sc.ats;
    let tx = begin_locked(&ctx.db, &[format!("app:{ats:?}:{}", sc.ats_application_id)]).await?;
    let Some(app) = application::Entity::find()
        .filter(application::Column::Ats.eq(ats))
        .filter(application::Column::AtsApplicationId.eq(&sc.ats_application_id))
        .one(&tx)
        .await?
    else {
        return Err(Error::retryable(format!(
            "application {} is not known yet; the change waits for it",
            sc.ats_application_id
        )));
    };
    let at = sc.changed_at.unwrap_or_else(Utc::now);
    let mut a: application::ActiveModel = app.clone().into();
    if sc.stage.is_some() {
        a.stage = Set(sc.stage.clone());
    }
    // Greenhouse sends the offer's start date as a plain date; the
    // probation clock starts at its beginning, in UTC.
    if let Some(start) = sc
        .starts_at
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        a.start_date = Set(Some(start.and_utc()));
    }
    // A configured hire stage hires as the vendor's own hired status does.
    let hire_stage = is_hire_stage(&ctx.capture, sc.ats, sc.stage.as_deref());
    let status_text = match sc.status.as_deref() {
        // A deleted offer undoes a hire that rested on it; before a hire
        // it changes nothing.
        Some("offer_deleted") if app.status == ApplicationStatus::Hired => Some("active"),
        Some("offer_deleted") => None,
        Some("hired") | Some("rejected") | Some("withdrawn") | Some("archived") => {
            sc.status.as_deref()
        }
        _ if hire_stage => Some("hired"),
        other => other,
    };
    if let Some(status) = status_text {
        let status = status_of(Some(status));
        a.status = Set(status);
        match status {
            ApplicationStatus::Hired if app.hired_at.is_none() => a.hired_at = Set(Some(at)),
            ApplicationStatus::Rejected => a.rejected_at = Set(Some(at)),
            _ => {}
        }
    }
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.audit(AuditEntry::system(
        "application.stage_changed",
        "application",
        app.id,
        json!({ "event": sc.event, "stage": sc.stage, "status": sc.status }),
    ));
    tx.commit().await?;
    crate::milestones::sync_application(ctx, app.id).await?;
    Ok(())
}

/// Candidate `id` as it is now, its row locked until the transaction ends
/// (`FOR UPDATE`; SQLite's transaction already holds the only write lock).
async fn lock_candidate(conn: &impl ConnectionTrait, id: i64) -> Result<Option<candidate::Model>> {
    Ok(candidate::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?)
}

async fn candidate_by_ats(
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

/// Greenhouse merged `from` into `into`: attributions follow the survivor.
async fn merge_candidates(ctx: &JobContext, from: &str, into: &str) -> Result<Processed> {
    let tx = begin_locked(
        &ctx.db,
        &[format!("gh-cand:{from}"), format!("gh-cand:{into}")],
    )
    .await?;
    let mut loser = candidate_by_ats(&tx, Ats::Greenhouse, from).await?;
    let mut survivor = candidate_by_ats(&tx, Ats::Greenhouse, into).await?;
    // Both rows locked, in id order, and read again: a capture attaching
    // to either through another key finishes first or waits for the merge.
    let mut ids: Vec<i64> = [&loser, &survivor]
        .iter()
        .filter_map(|c| c.as_ref().map(|c| c.id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if !ids.is_empty() {
        candidate::Entity::find()
            .filter(candidate::Column::Id.is_in(ids))
            .order_by_asc(candidate::Column::Id)
            .lock_exclusive()
            .all(&tx)
            .await?;
        loser = candidate_by_ats(&tx, Ats::Greenhouse, from).await?;
        survivor = candidate_by_ats(&tx, Ats::Greenhouse, into).await?;
    }
    let outcome = match (loser, survivor) {
        (None, _) => Processed::Ignored,
        (Some(l), None) => {
            // Only the old record is ours: it simply takes the new id.
            candidate_ats_id::ActiveModel {
                candidate_id: Set(l.id),
                ats: Set(Ats::Greenhouse),
                ats_candidate_id: Set(into.to_string()),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
            tx.audit(AuditEntry::system(
                "candidate.merged",
                "candidate",
                l.id,
                json!({ "into_ats_candidate_id": into }),
            ));
            Processed::Applied
        }
        (Some(l), Some(s)) if l.id == s.id => Processed::Ignored,
        (Some(l), Some(s)) => {
            let apps = application::Entity::find()
                .filter(application::Column::CandidateId.eq(l.id))
                .all(&tx)
                .await?;
            for app in apps {
                let mut a: application::ActiveModel = app.into();
                a.candidate_id = Set(s.id);
                a.update(&tx).await?;
            }
            let refs = referral::Entity::find()
                .filter(referral::Column::CandidateId.eq(l.id))
                .all(&tx)
                .await?;
            let moved = refs.len();
            for r in refs {
                let mut a: referral::ActiveModel = r.into();
                a.candidate_id = Set(s.id);
                a.updated_at = Set(Utc::now());
                a.update(&tx).await?;
            }
            let mut a: candidate::ActiveModel = l.clone().into();
            a.merged_into_id = Set(Some(s.id));
            a.updated_at = Set(Utc::now());
            a.update(&tx).await?;
            tx.audit(AuditEntry::system(
                "candidate.merged",
                "candidate",
                l.id,
                json!({ "into_candidate_id": s.id, "referrals_moved": moved }),
            ));
            Processed::Applied
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Greenhouse deleted an application: its attributions move to the
/// candidate's surviving application for the same job, if there is one.
async fn delete_application(ctx: &JobContext, ats_application_id: &str) -> Result<Processed> {
    let tx = begin_locked(
        &ctx.db,
        &[format!("app:{:?}:{ats_application_id}", Ats::Greenhouse)],
    )
    .await?;
    let Some(app) = application::Entity::find()
        .filter(application::Column::Ats.eq(Ats::Greenhouse))
        .filter(application::Column::AtsApplicationId.eq(ats_application_id))
        .one(&tx)
        .await?
    else {
        tx.commit().await?;
        return Ok(Processed::Ignored);
    };
    let survivor = application::Entity::find()
        .filter(application::Column::CandidateId.eq(app.candidate_id))
        .filter(application::Column::JobId.eq(&app.job_id))
        .filter(application::Column::Id.ne(app.id))
        .filter(application::Column::Status.ne(ApplicationStatus::Deleted))
        .one(&tx)
        .await?;
    let refs = referral::Entity::find()
        .filter(referral::Column::ApplicationId.eq(app.id))
        .all(&tx)
        .await?;
    for r in refs {
        let rid = r.id;
        let mut a: referral::ActiveModel = r.into();
        if let Some(s) = &survivor {
            a.application_id = Set(Some(s.id));
            a.updated_at = Set(Utc::now());
            a.update(&tx).await?;
        }
        tx.audit(AuditEntry::system(
                "attribution.application_deleted",
                "referral",
                rid,
                json!({ "deleted_application_id": app.id, "moved_to_application_id": survivor.as_ref().map(|s| s.id) }),
            ));
    }
    let mut a: application::ActiveModel = app.into();
    a.status = Set(ApplicationStatus::Deleted);
    a.updated_at = Set(Utc::now());
    a.update(&tx).await?;
    tx.commit().await?;
    Ok(Processed::Applied)
}

/// GDPR: erase the candidate's personal data in our copy; referrals and
/// payouts stay, pseudonymous (they hold ids only).
async fn anonymize_candidate(ctx: &JobContext, ats_candidate_id: &str) -> Result<Processed> {
    let tx = begin_locked(&ctx.db, &[format!("gh-cand:{ats_candidate_id}")]).await?;
    let Some(found) = candidate_by_ats(&tx, Ats::Greenhouse, ats_candidate_id).await? else {
        tx.commit().await?;
        return Ok(Processed::Ignored);
    };
    // Locked and read again, so a capture filling in an email or phone
    // through another key cannot land after the erasure.
    let Some(c) = lock_candidate(&tx, found.id).await? else {
        tx.commit().await?;
        return Ok(Processed::Ignored);
    };
    let id = c.id;
    erase_personal_data(&tx, c).await?;
    tx.audit(AuditEntry::system(
        "candidate.anonymized",
        "candidate",
        id,
        json!({}),
    ));
    tx.commit().await?;
    Ok(Processed::Applied)
}

/// Erases candidate `c`'s personal columns (email, phone, names) and stamps
/// `anonymized_at`. The row, its ATS ids, applications, referrals and
/// payouts stay: they hold ids only, and finance must still trace payouts.
///
/// The one erasure both Greenhouse's `candidate_anonymized` (above) and the
/// retention purge ([`crate::maintenance::retention`]) use, so "anonymised" means the same
/// thing whichever asked. Call it inside a [`begin_locked`] transaction and
/// audit the erasure in the same transaction; the caller chooses the event.
pub(crate) async fn erase_personal_data(
    conn: &impl ConnectionTrait,
    c: candidate::Model,
) -> Result<candidate::Model> {
    let mut a: candidate::ActiveModel = c.into();
    a.email_raw = Set(None);
    a.email_canonical = Set(None);
    a.phone_raw = Set(None);
    a.phone_e164 = Set(None);
    a.first_name = Set(String::new());
    a.last_name = Set(None);
    a.anonymized_at = Set(Some(Utc::now()));
    a.updated_at = Set(Utc::now());
    Ok(a.update(conn).await?)
}
