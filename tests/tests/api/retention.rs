//! The retention purge (issue 5) against the real app: candidates come in
//! through the Greenhouse webhook and are processed by the app's own
//! workers, then their rows are backdated past the cutoff (the one thing a
//! test cannot wait for), and `jobs::maintenance::retention::purge` runs on the app's own
//! job context, as the daily schedule and the CLI call it.
//!
//! Every scenario runs on SQLite (queue in SQLite) and on PostgreSQL + Redis.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::{
    application, candidate,
    inbox::{self, InboxStatus},
    payout::{self, PayoutState},
};
use jobs::{
    db::audit::Verification,
    maintenance::retention::{self, PurgeReport},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr,
};
use serde_json::json;
use tests::{
    app::{Setup, TestApp},
    fixtures::{
        GreenhouseApplication, accepted, all, application_by_ats_id, applications, audit,
        audit_with, candidate_ats_ids, candidates, credited_hire, inbox_rows, post_greenhouse,
        processed, put_employee, referrals, spawn_capture_app, unique, wait_until,
    },
};

tests::both_setups!(
    an_old_rejected_candidate_loses_personal_data_but_keeps_its_ids,
    recent_active_hired_and_paid_candidates_are_kept,
    a_merged_away_candidate_without_applications_is_purged_by_its_age,
    a_dry_run_reports_the_same_candidates_and_changes_nothing,
    old_inbox_bodies_are_cleared_and_recent_and_unfinished_ones_kept,
    a_second_purge_finds_nothing_new,
    a_purge_larger_than_one_batch_purges_every_candidate,
    refused_deliveries_older_than_rejected_after_are_deleted,
);

/// The retention period of every test.
const RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Who runs the purges here.
const ACTOR: &str = "ops:retention-test";
/// A Greenhouse job id.
const JOB: u64 = 4_012_345;

/// Twice the retention period ago: well before any cutoff a test computes.
fn long_ago() -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(60)
}

async fn purge(app: &TestApp, dry_run: bool) -> PurgeReport {
    retention::purge(&app.state.jobs, RETENTION, dry_run, ACTOR)
        .await
        .expect("the purge runs")
}

/// Delivers `gh` as it is and waits until it is processed; returns the
/// inbox row.
async fn deliver(app: &TestApp, gh: &GreenhouseApplication) -> i64 {
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await
}

/// A new, active application with a phone number of its own; returns the builder for
/// later events and the inbox row of the delivery.
async fn applied(app: &TestApp, application_id: u64, email: &str) -> (GreenhouseApplication, i64) {
    let mut gh = GreenhouseApplication::new(application_id, application_id + 500_000, JOB, email);
    // A phone of its own: a shared one would make capture dedup two test
    // candidates into one.
    gh.phone = Some(format!("+49 30 {}", 1_000_000 + application_id % 1_000_000));
    let inbox_id = deliver(app, &gh).await;
    (gh, inbox_id)
}

/// Greenhouse's `reject_candidate` for `gh`; returns the inbox row.
async fn reject(app: &TestApp, gh: &GreenhouseApplication) -> i64 {
    let mut e = gh.clone();
    e.action = "reject_candidate".into();
    e.status = "rejected".into();
    deliver(app, &e).await
}

/// Greenhouse's `hire_candidate` for `gh`.
async fn hire(app: &TestApp, gh: &GreenhouseApplication) {
    let mut e = gh.clone();
    e.action = "hire_candidate".into();
    e.status = "hired".into();
    e.stage = "Hired".into();
    deliver(app, &e).await;
}

/// An application rejected right away: the candidate's whole history, in
/// two deliveries (returned).
async fn rejected(app: &TestApp, application_id: u64, email: &str) -> (i64, [i64; 2]) {
    let (gh, first) = applied(app, application_id, email).await;
    let second = reject(app, &gh).await;
    (candidate_of(app, &gh).await.id, [first, second])
}

async fn candidate_of(app: &TestApp, gh: &GreenhouseApplication) -> candidate::Model {
    let a = application_by_ats_id(&app.state.db, &gh.application_id.to_string())
        .await
        .expect("the application was captured");
    candidate_by_id(&app.state.db, a.candidate_id).await
}

async fn candidate_by_id(db: &DatabaseConnection, id: i64) -> candidate::Model {
    candidate::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read the candidate")
        .expect("the candidate row still exists")
}

/// Moves candidate `id` and its applications' activity to `at`, as if
/// everything about them had happened then.
async fn backdate(db: &DatabaseConnection, id: i64, at: DateTime<Utc>) {
    candidate::Entity::update_many()
        .col_expr(candidate::Column::CreatedAt, Expr::value(at))
        .col_expr(candidate::Column::UpdatedAt, Expr::value(at))
        .filter(candidate::Column::Id.eq(id))
        .exec(db)
        .await
        .expect("backdate the candidate");
    application::Entity::update_many()
        .col_expr(application::Column::AppliedAt, Expr::value(at))
        .col_expr(application::Column::UpdatedAt, Expr::value(at))
        .filter(application::Column::CandidateId.eq(id))
        .exec(db)
        .await
        .expect("backdate the applications");
    application::Entity::update_many()
        .col_expr(application::Column::RejectedAt, Expr::value(at))
        .filter(application::Column::CandidateId.eq(id))
        .filter(application::Column::RejectedAt.is_not_null())
        .exec(db)
        .await
        .expect("backdate the rejections");
}

/// Moves the receipt of inbox rows `ids` to `at`.
async fn backdate_inbox(db: &DatabaseConnection, ids: &[i64], at: DateTime<Utc>) {
    inbox::Entity::update_many()
        .set(inbox::ActiveModel {
            received_at: Set(at),
            ..Default::default()
        })
        .filter(inbox::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await
        .expect("backdate inbox rows");
}

async fn inbox_row(db: &DatabaseConnection, id: i64) -> inbox::Model {
    inbox::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read the inbox")
        .expect("the inbox row exists")
}

/// Still every piece of personal data capture stored.
fn assert_untouched(c: &candidate::Model, email: &str) {
    assert_eq!(c.email_canonical.as_deref(), Some(email), "{c:?}");
    assert!(c.phone_e164.is_some(), "{c:?}");
    assert_eq!(c.first_name, "Test");
    assert!(c.anonymized_at.is_none(), "{c:?}");
}

fn assert_erased(c: &candidate::Model) {
    assert_eq!(c.email_raw, None);
    assert_eq!(c.email_canonical, None);
    assert_eq!(c.phone_raw, None);
    assert_eq!(c.phone_e164, None);
    assert_eq!(c.first_name, "");
    assert_eq!(c.last_name, None);
    assert!(c.anonymized_at.is_some(), "{c:?}");
}

async fn assert_chain_intact(db: &DatabaseConnection) {
    let verdict = jobs::db::audit::verify(db)
        .await
        .expect("verify the audit log");
    assert!(
        matches!(verdict, Verification::Intact { .. }),
        "{verdict:?}"
    );
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

async fn an_old_rejected_candidate_loses_personal_data_but_keeps_its_ids(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-RET", "e-ret@acme-example.com", true).await;
    let mut gh = GreenhouseApplication::new(710_001, 810_001, JOB, "old.reject@example.org")
        .credited_to("E-RET");
    gh.phone = Some("+49 30 1234567".into());
    deliver(app, &gh).await;
    reject(app, &gh).await;
    let before = candidate_of(app, &gh).await;
    assert_untouched(&before, "old.reject@example.org");
    backdate(db, before.id, long_ago()).await;
    let apps_before = applications(db).await;
    let refs_before = referrals(db).await;
    assert_eq!(refs_before.len(), 1, "the credit is a referral row");
    let ats_ids_before = candidate_ats_ids(db).await;

    let started = Utc::now();
    let report = purge(app, false).await;

    assert!(!report.dry_run);
    assert_eq!(report.candidates, vec![before.id]);
    let expected_cutoff = started - chrono::Duration::from_std(RETENTION).expect("days");
    assert!(
        (report.cutoff - expected_cutoff).num_seconds().abs() < 60,
        "cutoff {} is now − the retention period",
        report.cutoff
    );
    let after = candidate_by_id(db, before.id).await;
    assert_erased(&after);
    assert_eq!(
        applications(db).await,
        apps_before,
        "applications stay, untouched"
    );
    let refs_after = referrals(db).await;
    assert_eq!(
        refs_after
            .iter()
            .map(|r| (r.id, r.candidate_id, r.application_id, r.state))
            .collect::<Vec<_>>(),
        refs_before
            .iter()
            .map(|r| (r.id, r.candidate_id, r.application_id, r.state))
            .collect::<Vec<_>>(),
        "the referral stays, pointing at the same candidate and application"
    );
    assert_eq!(candidate_ats_ids(db).await, ats_ids_before, "ATS ids stay");

    let purged = audit_with(db, "retention.candidate_purged").await;
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!(purged[0].subject_type, "candidate");
    assert_eq!(purged[0].subject_id, before.id.to_string());
    assert_eq!(purged[0].actor, ACTOR);
    let tombstone = after
        .erasure_tombstone
        .as_deref()
        .expect("a tombstone replaces the erased fields");
    assert_eq!(
        purged[0].data,
        json!({
            "cutoff": report.cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "tombstone_sha256": jobs::db::audit::sha256_hex(tombstone),
        }),
        "the audit event records the tombstone's hash"
    );
    let runs = audit_with(db, "retention.purged").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].actor, ACTOR);
    assert_eq!(runs[0].data["candidates"], 1);
    assert_eq!(runs[0].data["inbox_bodies"], 0, "the deliveries are recent");
    let log = serde_json::to_string(
        &audit(db)
            .await
            .iter()
            .map(|a| a.data.clone())
            .collect::<Vec<_>>(),
    )
    .expect("json");
    assert!(
        !log.contains("old.reject") && !log.contains("1234567"),
        "no personal data in the audit log"
    );
    assert_chain_intact(db).await;
    world.cleanup().await;
}

async fn recent_active_hired_and_paid_candidates_are_kept(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();

    let (old_rejected, _) = rejected(app, 720_001, "old@example.org").await;
    backdate(db, old_rejected, long_ago()).await;

    let (recent_rejected, _) = rejected(app, 720_002, "recent@example.org").await;

    let (active, _) = applied(app, 720_003, "active@example.org").await;
    let active = candidate_of(app, &active).await.id;
    backdate(db, active, long_ago()).await;

    let (hired_gh, _) = applied(app, 720_004, "hired@example.org").await;
    hire(app, &hired_gh).await;
    let hired = candidate_of(app, &hired_gh).await.id;
    backdate(db, hired, long_ago()).await;

    // Credited and hired: the hire tranche is in the ledger. A rejection
    // after the hire closes the application and cancels the payout, but the
    // payout row stays, and finance reconciles against the candidate.
    let mut paid_gh = GreenhouseApplication::new(720_005, 820_005, JOB, "paid@example.org");
    paid_gh.phone = Some("+49 30 7654321".into());
    let paid_gh = credited_hire(app, "E-PAID", paid_gh).await;
    wait_until("the hire tranche is in the ledger", || async {
        !all::<payout::Entity>(db).await.is_empty()
    })
    .await;
    reject(app, &paid_gh).await;
    wait_until("the unsent payout is cancelled", || async {
        all::<payout::Entity>(db)
            .await
            .iter()
            .all(|p| p.state == PayoutState::Cancelled)
    })
    .await;
    let paid = candidate_of(app, &paid_gh).await.id;
    backdate(db, paid, long_ago()).await;
    let payouts_before = all::<payout::Entity>(db).await;
    assert!(!payouts_before.is_empty());

    let report = purge(app, false).await;

    assert_eq!(
        report.candidates,
        vec![old_rejected],
        "only the old, rejected, unpaid candidate"
    );
    assert_erased(&candidate_by_id(db, old_rejected).await);
    for (id, email) in [
        (recent_rejected, "recent@example.org"),
        (active, "active@example.org"),
        (hired, "hired@example.org"),
        (paid, "paid@example.org"),
    ] {
        assert_untouched(&candidate_by_id(db, id).await, email);
    }
    assert_eq!(
        all::<payout::Entity>(db).await,
        payouts_before,
        "payouts untouched"
    );
    let purged = audit_with(db, "retention.candidate_purged").await;
    assert_eq!(
        purged
            .iter()
            .map(|a| a.subject_id.clone())
            .collect::<Vec<_>>(),
        vec![old_rejected.to_string()]
    );
    assert_chain_intact(db).await;
    world.cleanup().await;
}

async fn a_merged_away_candidate_without_applications_is_purged_by_its_age(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let (loser_gh, _) = applied(app, 730_001, "first.address@example.org").await;
    let (survivor_gh, _) = applied(app, 730_002, "second.address@example.org").await;
    let loser = candidate_of(app, &loser_gh).await.id;
    let survivor = candidate_of(app, &survivor_gh).await.id;
    assert_ne!(loser, survivor);
    // Greenhouse merges the first record into the second: the applications
    // move to the survivor and the loser is left with none.
    let merge = json!({
        "action": "merge_candidate",
        "payload": { "person": {
            "id": loser_gh.candidate_id,
            "new_candidate_id": survivor_gh.candidate_id,
        }},
    });
    processed(
        app,
        post_greenhouse(
            app,
            &unique("evt"),
            &serde_json::to_vec(&merge).expect("json"),
        )
        .await,
    )
    .await;
    assert!(
        applications(db)
            .await
            .iter()
            .all(|a| a.candidate_id == survivor),
        "the merge moved the applications"
    );
    // Only the loser is old; the survivor's applications are active anyway.
    candidate::Entity::update_many()
        .col_expr(candidate::Column::CreatedAt, Expr::value(long_ago()))
        .filter(candidate::Column::Id.eq(loser))
        .exec(db)
        .await
        .expect("backdate the loser");

    let report = purge(app, false).await;

    assert_eq!(report.candidates, vec![loser]);
    let erased = candidate_by_id(db, loser).await;
    assert_erased(&erased);
    assert_eq!(
        erased.merged_into_id,
        Some(survivor),
        "the merge link stays"
    );
    assert_untouched(
        &candidate_by_id(db, survivor).await,
        "second.address@example.org",
    );
    world.cleanup().await;
}

async fn a_dry_run_reports_the_same_candidates_and_changes_nothing(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let (old, deliveries) = rejected(app, 740_001, "old@example.org").await;
    backdate(db, old, long_ago()).await;
    backdate_inbox(db, &deliveries, long_ago()).await;
    let (recent, _) = rejected(app, 740_002, "recent@example.org").await;
    let candidates_before = candidates(db).await;
    let inbox_before = inbox_rows(db).await;
    let audit_before = audit(db).await.len();

    let dry = purge(app, true).await;

    assert!(dry.dry_run);
    assert_eq!(dry.candidates, vec![old]);
    assert_eq!(dry.inbox_bodies, 2, "the old candidate's two deliveries");
    assert_eq!(
        candidates(db).await,
        candidates_before,
        "no candidate changed"
    );
    assert_eq!(inbox_rows(db).await, inbox_before, "no inbox body cleared");
    assert_eq!(audit(db).await.len(), audit_before, "no audit event");

    let real = purge(app, false).await;

    assert!(!real.dry_run);
    assert_eq!(
        real.candidates, dry.candidates,
        "the dry run told the truth"
    );
    assert_eq!(real.inbox_bodies, dry.inbox_bodies);
    assert_erased(&candidate_by_id(db, old).await);
    assert_untouched(&candidate_by_id(db, recent).await, "recent@example.org");
    world.cleanup().await;
}

async fn old_inbox_bodies_are_cleared_and_recent_and_unfinished_ones_kept(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let (_, old) = rejected(app, 750_001, "old@example.org").await;
    let (_, recent) = applied(app, 750_002, "recent@example.org").await;
    // A stage change for an application Greenhouse never announced: its job
    // retries, waiting for the application, so the row stays `enqueued` and
    // its body is still needed, however old.
    let mut orphan = GreenhouseApplication::new(750_099, 850_099, JOB, "waiting@example.org");
    orphan.action = "candidate_stage_change".into();
    orphan.stage = "Interview".into();
    let waiting = accepted(post_greenhouse(app, &unique("evt"), &orphan.body()).await)
        .await
        .inbox_id;
    let mut old_rows = old.to_vec();
    old_rows.push(waiting);
    backdate_inbox(db, &old_rows, long_ago()).await;
    assert_eq!(inbox_row(db, waiting).await.status, InboxStatus::Enqueued);

    let report = purge(app, false).await;

    assert_eq!(report.inbox_bodies, 2, "the two old, processed deliveries");
    for id in old {
        let row = inbox_row(db, id).await;
        assert_eq!(row.raw_body, None, "old body cleared: {id}");
        assert_eq!(row.status, InboxStatus::Processed, "the row itself stays");
    }
    assert!(
        inbox_row(db, recent).await.raw_body.is_some(),
        "a recent body stays"
    );
    assert!(
        inbox_row(db, waiting).await.raw_body.is_some(),
        "a body its job still needs stays"
    );
    let runs = audit_with(db, "retention.purged").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].data["inbox_bodies"], 2);
    world.cleanup().await;
}

async fn a_second_purge_finds_nothing_new(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let (old, deliveries) = rejected(app, 760_001, "old@example.org").await;
    backdate(db, old, long_ago()).await;
    backdate_inbox(db, &deliveries, long_ago()).await;

    let first = purge(app, false).await;
    assert_eq!(first.candidates, vec![old]);
    assert_eq!(first.inbox_bodies, 2);
    let erased = candidate_by_id(db, old).await;

    let second = purge(app, false).await;

    assert!(second.candidates.is_empty(), "{second:?}");
    assert_eq!(second.inbox_bodies, 0);
    assert_eq!(
        candidate_by_id(db, old).await,
        erased,
        "an erased candidate is left alone"
    );
    assert_eq!(
        audit_with(db, "retention.candidate_purged").await.len(),
        1,
        "one erasure, audited once"
    );
    let runs = audit_with(db, "retention.purged").await;
    assert_eq!(runs.len(), 2, "each run is recorded");
    assert_eq!(runs[1].data["candidates"], 0);
    assert_eq!(runs[1].data["inbox_bodies"], 0);
    assert_chain_intact(db).await;
    world.cleanup().await;
}

async fn a_purge_larger_than_one_batch_purges_every_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let n = retention::BATCH + 5;
    // Applications that arrive already rejected: one delivery per candidate,
    // sent concurrently.
    let deliveries = (0..n).map(|i| async move {
        let mut gh = GreenhouseApplication::new(
            770_000 + i,
            870_000 + i,
            JOB,
            &format!("bulk{i}@example.org"),
        );
        gh.status = "rejected".into();
        accepted(post_greenhouse(app, &unique("evt"), &gh.body()).await).await
    });
    futures::future::join_all(deliveries).await;
    wait_until("every bulk delivery is processed", || async {
        let rows = inbox_rows(db).await;
        rows.len() as u64 == n && rows.iter().all(|r| r.status == InboxStatus::Processed)
    })
    .await;
    let ids: Vec<i64> = candidates(db).await.iter().map(|c| c.id).collect();
    assert_eq!(ids.len() as u64, n);
    for id in &ids {
        backdate(db, *id, long_ago()).await;
    }

    let dry = purge(app, true).await;
    let report = purge(app, false).await;

    assert_eq!(dry.candidates, ids);
    assert_eq!(report.candidates, ids, "every candidate, across batches");
    assert!(
        candidates(db)
            .await
            .iter()
            .all(|c| c.anonymized_at.is_some())
    );
    assert_eq!(
        audit_with(db, "retention.candidate_purged").await.len() as u64,
        n
    );
    assert_chain_intact(db).await;
    world.cleanup().await;
}

/// Refused deliveries (unsigned posts here) are deleted once older than
/// `retention.rejected_after`; recent refusals and accepted deliveries of
/// any age stay.
async fn refused_deliveries_older_than_rejected_after_are_deleted(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let mut refused = Vec::new();
    for n in 0..5 {
        let answer = app
            .client
            .post(app.url("/webhooks/greenhouse"))
            .header("content-type", "application/json")
            .body(format!("{{\"unsigned\": {n}}}"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), 401);
    }
    for row in inbox_rows(db).await {
        assert_eq!(row.status, InboxStatus::Rejected);
        refused.push(row.id);
    }
    assert_eq!(refused.len(), 5);
    let (_, kept) = applied(app, 770_001, "kept@example.org").await;
    let week = Duration::from_secs(7 * 86_400);
    let eight_days_ago = Utc::now() - chrono::Duration::days(8);
    backdate_inbox(db, &refused[..3], eight_days_ago).await;
    backdate_inbox(db, &[kept], eight_days_ago).await;

    let would = retention::purge_rejected(db, week, true)
        .await
        .expect("dry run");
    assert_eq!(would, 3);
    assert_eq!(inbox_rows(db).await.len(), 6, "a dry run deletes nothing");
    let deleted = retention::purge_rejected(db, week, false)
        .await
        .expect("purge");
    assert_eq!(deleted, 3);

    let left: Vec<i64> = inbox_rows(db).await.iter().map(|r| r.id).collect();
    let mut expected = refused[3..].to_vec();
    expected.push(kept);
    expected.sort_unstable();
    let mut left_sorted = left.clone();
    left_sorted.sort_unstable();
    assert_eq!(left_sorted, expected);
    assert_eq!(
        retention::purge_rejected(db, week, false)
            .await
            .expect("again"),
        0
    );
    world.cleanup().await;
}
