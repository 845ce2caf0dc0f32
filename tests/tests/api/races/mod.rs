//! The races the global audit lock used to hide (docs/AUDIT-LOCK.md §5).
//!
//! Every audited transaction on PostgreSQL once took one global advisory
//! lock from its start to its commit, so two transactions that decide about
//! the same rows under *different* keys ran one after the other. That lock
//! is gone (the audit chain's lanes are locked only at commit); the
//! row-level fixes P1–P5 are what keep these pairs apart now. Each test here
//! drives one such pair truly at once and checks the invariant the fix
//! protects: with the global lock gone, reverting a fix fails its test here
//! (each was seen to, docs/AUDIT-LOCK.md).
//!
//! How a race is forced (the "interleaving technique" of §5): on every other
//! iteration a transaction of the test's own ([`hold`], on a pool apart from
//! the app's) takes `SELECT … FOR UPDATE` on the contested row, both
//! operations are spawned, and only after [`HOLD`] does it commit. Without a
//! fix both operations read the old row and queue at their write, which is
//! the race; with the fix the second one waits at its key or row lock and
//! reads again. The other iterations run the two operations with no help,
//! as a plain stress. Every iteration works on fresh rows.
//!
//! Everything runs on PostgreSQL (on SQLite `BEGIN IMMEDIATE` serialises
//! every locked transaction, so none of these races can happen there), each
//! test on its own fresh database, against an app that is built but never
//! run ([`idle_app`]): nothing but the test acts on the database.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entities::{
    application::{self, ApplicationStatus},
    audit_event, candidate, employee,
    inbox::{self, InboxSource, InboxStatus},
    milestone::{self, MilestoneKind, MilestoneState},
    outbound_destination,
    outbound_message::{self, OutboundChannel, OutboundState},
    payout::{self, PayoutState},
    reconciliation_item::VarianceKind,
    referral::{self, ReferralState},
    referral_link,
    states::Ats,
};
use jobs::{
    context::JobContext,
    db::audit::Verification,
    identity::{CanonicalEmail, E164},
    intake::{ApplicationEvent, Source},
    payout::rules::{BonusRules, default_rules},
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Statement, TransactionTrait,
};
use serde_json::Value;
use tests::{
    app::{IdleApp, Setup, idle_app},
    destinations::{BONUS_SECRET, SYNC_SECRET},
    fixtures::{Audit, all, audit},
    receiver::{Receiver, Reply},
};
use worker::config::{Secret, Settings};

mod candidates;
mod destinations_links;
mod load;
mod payouts;
mod timers;

/// Fresh rows per test: each iteration races one pair of operations.
const ITERATIONS: u64 = 40;
/// How long [`hold`]'s transaction keeps the contested row once both
/// operations are started: long enough for both to read it and queue.
const HOLD: Duration = Duration::from_millis(60);
/// The probation of every rule here: short, so the timers are due by the
/// time the races start.
const PROBATION: Duration = Duration::from_secs(1);
/// The Greenhouse job every application is for (unless a test says).
const JOB: &str = "4012345";
/// Who acts for ops in these tests.
const OPS: &str = "ops:race-test";

// ---------------------------------------------------------------------------
// The world and the race driver
// ---------------------------------------------------------------------------

/// An idle app on a fresh PostgreSQL database, with one bonus rule of
/// [`PROBATION`], then `configure`.
async fn world(configure: impl FnOnce(&mut Settings)) -> IdleApp {
    idle_app(Setup::EMBEDDED_POSTGRES, |s| {
        let mut rule = default_rules().rules()[0].clone();
        rule.probation = PROBATION;
        s.payouts.rules = BonusRules::new(vec![rule]);
        s.database.max_connections = 10;
        configure(s);
    })
    .await
}

fn ctx(app: &IdleApp) -> Arc<JobContext> {
    app.state.jobs.clone()
}

/// On a [`forced`] iteration, begins a transaction on `db` (the test's own
/// pool) holding `FOR UPDATE` on the row of `table` whose `column` is `key`;
/// on the others, holds nothing.
///
/// # Panics
/// If there is no such row: holding nothing would race nothing.
async fn hold(
    iteration: u64,
    db: &DatabaseConnection,
    table: &str,
    column: &str,
    key: impl Into<sea_orm::Value>,
) -> Option<DatabaseTransaction> {
    if !forced(iteration) {
        return None;
    }
    let tx = db.begin().await.expect("begin the holder");
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(r#"SELECT 1 AS held FROM "{table}" WHERE "{column}" = $1 FOR UPDATE"#),
            [key.into()],
        ))
        .await
        .expect("lock the contested row");
    assert!(row.is_some(), "no {table} row to hold");
    Some(tx)
}

/// Runs `a` and `b` at once, each on a task of its own. With a `holder`,
/// both start while it holds their contested row and it commits after
/// [`HOLD`], so both have read the row before either can write it.
async fn race<A, B>(holder: Option<DatabaseTransaction>, a: A, b: B) -> (A::Output, B::Output)
where
    A: Future + Send + 'static,
    A::Output: Send + 'static,
    B: Future + Send + 'static,
    B::Output: Send + 'static,
{
    let a = tokio::spawn(a);
    let b = tokio::spawn(b);
    if let Some(tx) = holder {
        tokio::time::sleep(HOLD).await;
        tx.commit().await.expect("release the held row");
    }
    (
        a.await.expect("the first operation panicked"),
        b.await.expect("the second operation panicked"),
    )
}

/// Even iterations use the holder, odd ones race unaided.
fn forced(iteration: u64) -> bool {
    iteration.is_multiple_of(2)
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// An active employee who can refer.
async fn referrer(db: &DatabaseConnection, employee_id: &str) {
    let email = format!("{}@acme-example.com", employee_id.to_lowercase());
    let now = Utc::now();
    employee::ActiveModel {
        employee_id: Set(employee_id.into()),
        email_canonical: Set(CanonicalEmail::parse(&email)
            .expect("an email")
            .as_str()
            .into()),
        email: Set(email),
        name: Set(format!("Employee {employee_id}")),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert an employee");
}

/// A candidate already on record with `email` and `phone`.
async fn known_candidate(db: &DatabaseConnection, email: &str, phone: &str) -> candidate::Model {
    let now = Utc::now();
    candidate::ActiveModel {
        email_raw: Set(Some(email.into())),
        email_canonical: Set(Some(
            CanonicalEmail::parse(email)
                .expect("an email")
                .as_str()
                .into(),
        )),
        phone_raw: Set(Some(phone.into())),
        phone_e164: Set(Some(
            E164::parse(phone, &[]).expect("a phone").as_str().into(),
        )),
        first_name: Set("Known".into()),
        last_name: Set(None),
        merged_into_id: Set(None),
        anonymized_at: Set(None),
        is_test: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert a candidate")
}

/// Moves candidate `id`'s creation and its applications' last activity
/// back to `at`, as tests/tests/api/retention.rs does: the age a retention
/// purge looks for is the one thing a test cannot wait for.
async fn backdate(db: &DatabaseConnection, id: i64, at: DateTime<Utc>) {
    candidate::Entity::update_many()
        .set(candidate::ActiveModel {
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(candidate::Column::Id.eq(id))
        .exec(db)
        .await
        .expect("backdate the candidate");
    application::Entity::update_many()
        .set(application::ActiveModel {
            applied_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(application::Column::CandidateId.eq(id))
        .exec(db)
        .await
        .expect("backdate the applications");
}

/// Captures `a` and `b` at once; on a [`forced`] iteration both start
/// while candidate `candidate_id`'s row is held.
async fn capture_both(
    app: &IdleApp,
    iteration: u64,
    candidate_id: i64,
    a: ApplicationEvent,
    b: ApplicationEvent,
) -> (jobs::capture::Captured, jobs::capture::Captured) {
    let holder = hold(iteration, &app.db.conn, "candidates", "id", candidate_id).await;
    let (c1, c2) = (ctx(app), ctx(app));
    let (first, second) = race(
        holder,
        async move { jobs::capture::capture_application(&c1, &a).await },
        async move { jobs::capture::capture_application(&c2, &b).await },
    )
    .await;
    (
        first.expect("capture the first application"),
        second.expect("capture the second application"),
    )
}

/// A Greenhouse `new_candidate_application` for application `n` of
/// Greenhouse candidate `n`, active, applied now, with no contact details
/// and no referral: tests fill in what they need.
fn greenhouse_event(n: u64) -> ApplicationEvent {
    ApplicationEvent {
        source: Source::Greenhouse,
        event: "new_candidate_application".into(),
        ats: Ats::Greenhouse,
        ats_candidate_id: Some(format!("{}", 700_000 + n)),
        ats_application_id: format!("{}", 900_000 + n),
        job_id: JOB.into(),
        requisition_id: None,
        email: None,
        phone: None,
        phone_region: None,
        first_name: Some("Race".into()),
        last_name: Some("Candidate".into()),
        referral_token: None,
        credited_employee_id: None,
        prospect: false,
        applied_at: Utc::now(),
        status: Some("active".into()),
        stage: None,
        department: None,
        location: None,
        start_date: None,
        consent: None,
        changed_at: None,
    }
}

/// A credited hire as capture leaves it: the application hired, its hire
/// milestone reached, its probation armed, the hire tranche eligible and
/// the probation tranche pending.
#[derive(Debug, Clone)]
struct Hire {
    application_id: i64,
    probation: milestone::Model,
    hire_payout: payout::Model,
    probation_payout: payout::Model,
}

impl Hire {
    fn due_ms(&self) -> i64 {
        self.probation
            .due_at
            .expect("an armed probation is due")
            .timestamp_millis()
    }
}

/// Captures application `n`, hired, credited to `employee_id`.
async fn hire(ctx: &JobContext, n: u64, employee_id: &str) -> Hire {
    let mut ev = greenhouse_event(n);
    ev.email = Some(format!("hire{n}@example.org"));
    ev.credited_employee_id = Some(employee_id.into());
    ev.status = Some("hired".into());
    let captured = jobs::capture::capture_application(ctx, &ev)
        .await
        .expect("capture the hire");
    let db = &ctx.db;
    let referral_id = captured
        .referrals
        .iter()
        .find(|(_, s)| *s == ReferralState::Credited)
        .expect("a credited referral")
        .0;
    let probation = milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(captured.application_id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .expect("read milestones")
        .expect("a probation milestone");
    assert_eq!(probation.state, MilestoneState::Armed);
    let tranche = |name: &'static str| async move {
        payout::Entity::find()
            .filter(payout::Column::ReferralId.eq(referral_id))
            .filter(payout::Column::Tranche.eq(name))
            .one(db)
            .await
            .expect("read payouts")
            .unwrap_or_else(|| panic!("a {name} tranche"))
    };
    let hire_payout = tranche("hire").await;
    let probation_payout = tranche("probation").await;
    assert_eq!(hire_payout.state, PayoutState::Eligible);
    assert_eq!(probation_payout.state, PayoutState::Pending);
    Hire {
        application_id: captured.application_id,
        probation,
        hire_payout,
        probation_payout,
    }
}

/// `count` hires, numbered from `first`, all credited to one referrer, and
/// a wait until every probation timer among them is due.
async fn hires(ctx: &JobContext, first: u64, count: u64) -> Vec<Hire> {
    referrer(&ctx.db, "E-RACE").await;
    let mut out = Vec::new();
    for n in first..first + count {
        out.push(hire(ctx, n, "E-RACE").await);
    }
    let last_due = out
        .iter()
        .filter_map(|h| h.probation.due_at)
        .max()
        .expect("due times");
    if let Ok(wait) = (last_due - Utc::now()).to_std() {
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
    }
    out
}

/// An unhire as the worker runs it: capture commits the application back to
/// active, then `sync_application` makes the milestones and tranches agree.
async fn unhire(ctx: Arc<JobContext>, application_id: i64) -> jobs::Result<()> {
    application::Entity::update_many()
        .set(application::ActiveModel {
            status: Set(ApplicationStatus::Active),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(application::Column::Id.eq(application_id))
        .exec(&ctx.db)
        .await?;
    jobs::milestones::sync_application(&ctx, application_id).await
}

/// The probation timer of `h` firing.
async fn timer(ctx: Arc<JobContext>, h: Hire) -> jobs::Result<()> {
    jobs::milestones::probation_due(&ctx, h.probation.id, h.due_ms()).await
}

async fn milestone_row(db: &DatabaseConnection, id: i64) -> milestone::Model {
    milestone::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read a milestone")
        .expect("the milestone")
}

async fn payout_row(db: &DatabaseConnection, id: i64) -> payout::Model {
    payout::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read a payout")
        .expect("the payout")
}

/// The audit events that end milestone `id` (`milestone.cancelled`,
/// `milestone.probation_completed`), in chain order.
fn terminal_events(log: &[Audit], milestone_id: i64) -> Vec<&Audit> {
    log.iter()
        .filter(|e| {
            matches!(
                e.action.as_str(),
                "milestone.cancelled" | "milestone.probation_completed"
            ) && e.data["milestone_id"].as_i64() == Some(milestone_id)
        })
        .collect()
}

/// The audit actions about payout `id`, in chain order.
fn payout_actions(log: &[Audit], id: i64) -> Vec<&str> {
    log.iter()
        .filter(|e| e.subject_type == "payout" && e.subject_id == id.to_string())
        .map(|e| e.action.as_str())
        .collect()
}

/// Whether `err` is PostgreSQL's `deadlock detected` (SQLSTATE 40P01).
fn is_deadlock(err: &jobs::Error) -> bool {
    let text = err.to_string();
    text.contains("40P01") || text.contains("deadlock detected")
}

/// Asserts the whole chain verifies and every committed row was walked.
async fn assert_chain_intact(db: &DatabaseConnection) {
    let rows = audit_event::Entity::find()
        .count(db)
        .await
        .expect("count audit rows");
    match jobs::db::audit::verify(db).await.expect("verify the chain") {
        Verification::Intact { events } => {
            assert_eq!(events, rows, "the id-keyset walk saw every committed row")
        }
        broken => panic!("the audit chain is broken: {broken:?}"),
    }
}
