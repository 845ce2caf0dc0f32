//! The shipped migrations against real SQLite and PostgreSQL databases.
//!
//! Each test gets its own database (see `tests::db`). The round-trip tests
//! write and read rows through `entities`, which is what checks that the
//! entities still describe the schema the migrations produce: a column the
//! entity has but the table lacks (or a type that does not decode) fails here.

use chrono::{DateTime, TimeZone, Utc};
use entities::application::{self, ApplicationStatus};
use entities::audit_event;
use entities::candidate;
use entities::candidate_ats_id;
use entities::employee;
use entities::inbox::{self, InboxSource, InboxStatus, Verification};
use entities::milestone::{self, MilestoneKind, MilestoneState};
use entities::payout::{self, PayoutState};
use entities::queue_job::{self, QueueJobState};
use entities::reconciliation_item;
use entities::reconciliation_run;
use entities::referral::{self, ReferralSource, ReferralState};
use entities::referral_link;
use entities::states::Ats;
use migrations::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Set,
    SqlErr, Statement,
};
use tests::db::{TestDb, fresh_postgres, fresh_sqlite};

/// Every table the migrations create. Kept by hand on purpose: a migration
/// that forgets a table, or a new table nobody added here, should be noticed.
const TABLES: &[&str] = &[
    "employees",
    "referral_links",
    "candidates",
    "candidate_ats_ids",
    "applications",
    "referrals",
    "milestones",
    "payouts",
    "audit_events",
    "reconciliation_runs",
    "reconciliation_items",
    "inbox",
    "queue_jobs",
    "outbound_messages",
    "outbound_destinations",
    "ats_jobs",
    "twin_waits",
];

/// A fixed instant with whole seconds, so values compare equal after a round
/// trip (PostgreSQL keeps microseconds, `Utc::now()` has nanoseconds).
fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, hour, 30, 0).unwrap()
}

async fn existing_tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut found = Vec::new();
    for table in TABLES {
        if manager.has_table(*table).await.expect("has_table") {
            found.push(*table);
        }
    }
    found
}

async fn assert_fully_migrated(db: &TestDb) {
    let applied = Migrator::get_applied_migrations(&db.conn)
        .await
        .expect("read applied migrations");
    assert_eq!(
        applied.len(),
        Migrator::migrations().len(),
        "every migration applied"
    );
    assert!(
        Migrator::get_pending_migrations(&db.conn)
            .await
            .expect("pending")
            .is_empty(),
        "no migration pending"
    );
    assert_eq!(existing_tables(&db.conn).await, TABLES, "all tables exist");
}

/// Up, down to zero, up again: every `down` must undo its `up` completely,
/// or the second `up` fails on an object that already exists.
async fn roll_back_and_reapply(db: &TestDb) {
    db.migrate().await.expect("first up");
    assert_fully_migrated(db).await;

    Migrator::down(&db.conn, None).await.expect("down to zero");
    assert_eq!(
        existing_tables(&db.conn).await,
        Vec::<&str>::new(),
        "down drops every table"
    );
    assert_eq!(
        Migrator::get_applied_migrations(&db.conn)
            .await
            .expect("applied")
            .len(),
        0,
        "nothing recorded as applied after down"
    );

    db.migrate().await.expect("second up");
    assert_fully_migrated(db).await;
}

/// Writes a small referral story through the entities and reads it back.
async fn round_trip_rows(db: &DatabaseConnection) {
    let candidate = candidate::ActiveModel {
        email_raw: Set(Some("Ada.Lovelace@Example.com".to_owned())),
        email_canonical: Set(Some("ada.lovelace@example.com".to_owned())),
        first_name: Set("Ada".to_owned()),
        created_at: Set(at(9)),
        updated_at: Set(at(9)),
        // `is_test` left unset: the column default must apply.
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert candidate");
    assert!(!candidate.is_test, "is_test defaults to false");

    let application = application::ActiveModel {
        candidate_id: Set(candidate.id),
        ats: Set(Ats::Greenhouse),
        ats_application_id: Set("gh-app-1".to_owned()),
        job_id: Set("gh-job-7".to_owned()),
        status: Set(ApplicationStatus::Hired),
        stage: Set(Some("Offer Accepted".to_owned())),
        applied_at: Set(at(8)),
        hired_at: Set(Some(at(10))),
        created_at: Set(at(9)),
        updated_at: Set(at(10)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert application");
    let read = application::Entity::find_by_id(application.id)
        .one(db)
        .await
        .expect("select application")
        .expect("application exists");
    assert_eq!(read, application);
    assert_eq!(read.status, ApplicationStatus::Hired);
    assert_eq!(read.ats, Ats::Greenhouse);

    // The enum is stored as its documented string, not a number or a Debug name.
    let raw = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT status, ats FROM applications WHERE id = {}",
                application.id
            ),
        ))
        .await
        .expect("raw select")
        .expect("row");
    assert_eq!(raw.try_get::<String>("", "status").unwrap(), "hired");
    assert_eq!(raw.try_get::<String>("", "ats").unwrap(), "greenhouse");

    let referral = referral::ActiveModel {
        candidate_id: Set(candidate.id),
        application_id: Set(Some(application.id)),
        employee_id: Set("E-1001".to_owned()),
        source: Set(ReferralSource::ReferralLink),
        link_token: Set(Some("tok_abc".to_owned())),
        state: Set(ReferralState::Credited),
        referred_at: Set(at(7)),
        decided_at: Set(Some(at(9))),
        created_at: Set(at(9)),
        updated_at: Set(at(9)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert referral");

    let milestone = milestone::ActiveModel {
        referral_id: Set(Some(referral.id)),
        application_id: Set(application.id),
        kind: Set(MilestoneKind::Hire),
        state: Set(MilestoneState::Reached),
        occurred_at: Set(Some(at(10))),
        created_at: Set(at(10)),
        updated_at: Set(at(10)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert milestone");

    // A second `hire` milestone for the same application is what a vendor's
    // duplicate event would produce; the schema must refuse it.
    let duplicate_milestone = milestone::ActiveModel {
        application_id: Set(application.id),
        kind: Set(MilestoneKind::Hire),
        state: Set(MilestoneState::Waiting),
        created_at: Set(at(11)),
        updated_at: Set(at(11)),
        ..Default::default()
    }
    .insert(db)
    .await;
    assert_unique_violation(duplicate_milestone, "milestones (application_id, kind)");

    let hire_payout = |key: &str| payout::ActiveModel {
        referral_id: Set(referral.id),
        milestone_id: Set(Some(milestone.id)),
        tranche: Set("hire".to_owned()),
        amount_minor: Set(150_000),
        currency: Set("EUR".to_owned()),
        state: Set(PayoutState::Pending),
        idempotency_key: Set(key.to_owned()),
        webhook_id: Set(format!("msg_{key}")),
        created_at: Set(at(10)),
        updated_at: Set(at(10)),
        ..Default::default()
    };
    let payout = hire_payout(&format!("{}:hire", referral.id))
        .insert(db)
        .await
        .expect("insert payout");
    let read = payout::Entity::find_by_id(payout.id)
        .one(db)
        .await
        .expect("select payout")
        .expect("payout exists");
    assert_eq!(read, payout);
    assert_eq!(read.state, PayoutState::Pending);
    assert_eq!(read.attempts, 0, "attempts defaults to 0");
    assert_eq!(read.amount_minor, 150_000);

    // Same (referral, tranche) with fresh keys: only the (referral_id, tranche)
    // constraint can reject it, so this checks that constraint specifically.
    let duplicate = hire_payout("another-key").insert(db).await;
    assert_unique_violation(duplicate, "payouts (referral_id, tranche)");
    assert_eq!(
        payout::Entity::find()
            .all(db)
            .await
            .expect("select payouts")
            .len(),
        1,
        "the duplicate tranche was not stored"
    );

    // Foreign keys are enforced on both backends (SQLite only when the
    // connection enables them, which sqlx does by default).
    let orphan = application::ActiveModel {
        candidate_id: Set(candidate.id + 1000),
        ats: Set(Ats::Lever),
        ats_application_id: Set("lv-app-1".to_owned()),
        job_id: Set("lv-job-1".to_owned()),
        status: Set(ApplicationStatus::Active),
        applied_at: Set(at(8)),
        created_at: Set(at(8)),
        updated_at: Set(at(8)),
        ..Default::default()
    }
    .insert(db)
    .await;
    match orphan.as_ref().map_err(DbErr::sql_err) {
        Err(Some(SqlErr::ForeignKeyConstraintViolation(_))) => {}
        other => {
            panic!("expected a foreign key violation for an orphan application, got {other:?}")
        }
    }

    let delivery = inbox::ActiveModel {
        source: Set(InboxSource::Greenhouse),
        delivery_id: Set("gh-delivery-1".to_owned()),
        event: Set(Some("hire_candidate".to_owned())),
        received_at: Set(at(10)),
        raw_body: Set(Some(b"{\"action\":\"hire_candidate\"}\x00\xff".to_vec())),
        verification: Set(Verification::Verified),
        status: Set(InboxStatus::Received),
        http_status: Set(202),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert inbox row");
    let read = inbox::Entity::find_by_id(delivery.id)
        .one(db)
        .await
        .expect("select inbox")
        .expect("inbox row exists");
    assert_eq!(read, delivery, "raw body bytes survive the round trip");

    // Fields the queue store leaves to the database defaults.
    let job = queue_job::ActiveModel {
        id: Set("01JDQZ6Y3V1R9N8XK2M4P5T7WA".to_owned()),
        queue: Set("default".to_owned()),
        kind: Set("ingest_webhook".to_owned()),
        payload: Set(r#"{"inbox_id":1}"#.to_owned()),
        state: Set(QueueJobState::Ready),
        max_attempts: Set(10),
        run_at: Set(1_795_000_000_000),
        created_at: Set(1_795_000_000_000),
        updated_at: Set(1_795_000_000_000),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert queue job");
    assert_eq!(job.state, QueueJobState::Ready);
    assert_eq!(job.attempts, 0, "attempts defaults to 0");
    assert_eq!(job.redeliveries, 0, "redeliveries defaults to 0");
    assert_eq!(job.errors, "[]", "errors defaults to an empty JSON array");
    assert_eq!(job.idempotency_key, None);

    every_other_entity_round_trips(db, candidate.id).await;
}

/// One row through each entity not exercised above, so that a column the
/// entity declares but the migrations never created fails here, not in production.
async fn every_other_entity_round_trips(db: &DatabaseConnection, candidate_id: i64) {
    let employee = employee::ActiveModel {
        employee_id: Set("E-1001".to_owned()),
        email: Set("Grace@Corp.example".to_owned()),
        email_canonical: Set("grace@corp.example".to_owned()),
        name: Set("Grace".to_owned()),
        active: Set(true),
        created_at: Set(at(6)),
        updated_at: Set(at(6)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert employee");
    assert_eq!(
        employee::Entity::find_by_id(employee.id)
            .one(db)
            .await
            .expect("select employee"),
        Some(employee)
    );

    let link = referral_link::ActiveModel {
        token: Set("tok_abc".to_owned()),
        employee_id: Set("E-1001".to_owned()),
        job_id: Set("gh-job-7".to_owned()),
        created_at: Set(at(6)),
        expires_at: Set(at(23)),
        first_clicked_at: Set(Some(at(7))),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert referral link");
    assert_eq!(link.click_count, 0, "click_count defaults to 0");
    assert_eq!(
        referral_link::Entity::find_by_id(link.id)
            .one(db)
            .await
            .expect("select link"),
        Some(link)
    );

    let ats_id = candidate_ats_id::ActiveModel {
        candidate_id: Set(candidate_id),
        ats: Set(Ats::CareersSite),
        ats_candidate_id: Set("cs-1".to_owned()),
        ..Default::default()
    };
    let ats_id = ats_id.insert(db).await.expect("insert candidate ats id");
    assert_eq!(
        candidate_ats_id::Entity::find_by_id(ats_id.id)
            .one(db)
            .await
            .expect("select ats id"),
        Some(ats_id)
    );

    let run = reconciliation_run::ActiveModel {
        started_at: Set(at(3)),
        trigger: Set("cron:2026-11-22T03:00:00Z".to_owned()),
        dry_run: Set(false),
        summary: Set("{}".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert reconciliation run");
    assert_eq!(run.variance_count, 0, "variance_count defaults to 0");
    let item = reconciliation_item::ActiveModel {
        run_id: Set(run.id),
        kind: Set(reconciliation_item::VarianceKind::HireWithoutPayout),
        subject_type: Set("application".to_owned()),
        subject_id: Set("gh-app-1".to_owned()),
        detail: Set("{}".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert reconciliation item");
    assert!(!item.resolved, "resolved defaults to false");
    assert_eq!(
        reconciliation_item::Entity::find_by_id(item.id)
            .one(db)
            .await
            .expect("select item"),
        Some(item)
    );

    let event = audit_event::ActiveModel {
        occurred_at: Set(at(12)),
        actor: Set("system".to_owned()),
        action: Set("attribution.credited".to_owned()),
        subject_type: Set("referral".to_owned()),
        subject_id: Set("1".to_owned()),
        data: Set("{}".to_owned()),
        prev_hash: Set("0".repeat(64)),
        hash: Set("a".repeat(64)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert audit event");
    assert_eq!(
        audit_event::Entity::find_by_id(event.id)
            .one(db)
            .await
            .expect("select audit event"),
        Some(event)
    );
}

/// Two jobs without an idempotency key must coexist (NULLs are distinct in
/// the unique index); two with the same key in one queue must not.
async fn queue_idempotency_key_is_unique_per_queue(db: &DatabaseConnection) {
    let job = |id: &str, queue: &str, key: Option<&str>| queue_job::ActiveModel {
        id: Set(id.to_owned()),
        queue: Set(queue.to_owned()),
        kind: Set("deliver_payout".to_owned()),
        payload: Set("{}".to_owned()),
        state: Set(QueueJobState::Scheduled),
        max_attempts: Set(3),
        run_at: Set(0),
        created_at: Set(0),
        updated_at: Set(0),
        idempotency_key: Set(key.map(str::to_owned)),
        ..Default::default()
    };
    job("01JDQZ6Y3V1R9N8XK2M4P5T7W1", "payouts", None)
        .insert(db)
        .await
        .expect("first keyless");
    job("01JDQZ6Y3V1R9N8XK2M4P5T7W2", "payouts", None)
        .insert(db)
        .await
        .expect("second keyless");
    job("01JDQZ6Y3V1R9N8XK2M4P5T7W3", "payouts", Some("p:1"))
        .insert(db)
        .await
        .expect("keyed");
    job("01JDQZ6Y3V1R9N8XK2M4P5T7W4", "other", Some("p:1"))
        .insert(db)
        .await
        .expect("same key in another queue");
    let duplicate = job("01JDQZ6Y3V1R9N8XK2M4P5T7W5", "payouts", Some("p:1"))
        .insert(db)
        .await;
    assert_unique_violation(duplicate, "queue_jobs (queue, idempotency_key)");
}

fn assert_unique_violation<T: std::fmt::Debug>(result: Result<T, DbErr>, what: &str) {
    match result.as_ref().map_err(DbErr::sql_err) {
        Err(Some(SqlErr::UniqueConstraintViolation(_))) => {}
        other => panic!("expected a unique violation on {what}, got {other:?} from {result:?}"),
    }
}

/// Rows made before public ids get one (`ref_…`, `pay_…`), and their
/// payouts keep the `webhook_id` and `idempotency_key` they may already
/// have been sent with, so a receiver still recognises a retry.
async fn existing_rows_get_public_ids_and_keep_their_keys(db: &TestDb) {
    // Everything before `m20261207_000010_public_ids`.
    Migrator::up(&db.conn, Some(6))
        .await
        .expect("the first six");
    let backend = db.backend();
    for sql in [
        "INSERT INTO candidates (first_name, is_test, created_at, updated_at) \
         VALUES ('Ana', false, '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00')",
        "INSERT INTO referrals (candidate_id, employee_id, source, state, referred_at, is_test, \
         created_at, updated_at) VALUES (1, 'E-OLD', 'ats_credited', 'credited', \
         '2026-11-22 10:00:00+00:00', false, '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00')",
        "INSERT INTO payouts (referral_id, tranche, amount_minor, currency, state, \
         idempotency_key, webhook_id, attempts, is_test, needs_approval, created_at, updated_at) \
         VALUES (1, 'hire', 50000, 'EUR', 'delivered', '1:hire', 'msg_old', 1, false, false, \
         '2026-11-22 10:00:00+00:00', '2026-11-22 10:00:00+00:00')",
    ] {
        db.conn
            .execute_raw(Statement::from_string(backend, sql))
            .await
            .expect(sql);
    }
    db.migrate().await.expect("the rest");
    let read = |sql: &'static str| {
        let conn = db.conn.clone();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(backend, sql))
                .await
                .expect(sql)
                .expect("a row");
            (0..3)
                .map(|i| row.try_get_by_index::<String>(i).expect("text"))
                .collect::<Vec<_>>()
        }
    };
    let referral = read("SELECT public_id, employee_id, state FROM referrals").await;
    assert!(
        referral[0].starts_with("ref_") && referral[0].len() == 30,
        "{referral:?}"
    );
    let payout = read("SELECT public_id, idempotency_key, webhook_id FROM payouts").await;
    assert!(
        payout[0].starts_with("pay_") && payout[0].len() == 30,
        "{payout:?}"
    );
    assert_eq!(
        payout[1..],
        ["1:hire", "msg_old"],
        "the old key and id stay"
    );
    // New rows get theirs on insert.
    let fresh = referral::ActiveModel {
        candidate_id: Set(1),
        employee_id: Set("E-NEW".into()),
        source: Set(ReferralSource::AtsCredited),
        state: Set(ReferralState::Credited),
        referred_at: Set(at(11)),
        is_test: Set(false),
        created_at: Set(at(11)),
        updated_at: Set(at(11)),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .expect("insert");
    assert!(fresh.public_id.starts_with("ref_"));
    assert_ne!(fresh.public_id, referral[0]);
}

/// Referrals become one per (referrer, candidate, application): two rows of
/// one referrer on one application, made before the index, are both kept;
/// the credited one stays on the application and the other is detached
/// with the reason. After it, a third such row is refused.
async fn duplicate_referrals_are_detached_not_deleted(db: &TestDb) {
    // Everything before `m20261207_000020_job_facts_and_referral_per_application`.
    Migrator::up(&db.conn, Some(8))
        .await
        .expect("the first eight");
    let backend = db.backend();
    let now = "'2026-11-22 10:00:00+00:00'";
    for sql in [
        format!(
            "INSERT INTO candidates (first_name, is_test, created_at, updated_at) \
             VALUES ('Ana', false, {now}, {now})"
        ),
        format!(
            "INSERT INTO applications (candidate_id, ats, ats_application_id, job_id, status, \
             applied_at, created_at, updated_at) \
             VALUES (1, 'greenhouse', '77', 'J-1', 'active', {now}, {now}, {now})"
        ),
        format!(
            "INSERT INTO referrals (candidate_id, application_id, employee_id, source, state, \
             referred_at, is_test, created_at, updated_at, public_id) VALUES \
             (1, 1, 'E-1', 'referral_link', 'ineligible', {now}, false, {now}, {now}, 'ref_a'), \
             (1, 1, 'E-1', 'ats_credited', 'credited', {now}, false, {now}, {now}, 'ref_b')"
        ),
    ] {
        db.conn
            .execute_raw(Statement::from_string(backend, sql.clone()))
            .await
            .expect(&sql);
    }
    db.migrate().await.expect("the rest");
    let rows = referral::Entity::find().all(&db.conn).await.expect("read");
    assert_eq!(rows.len(), 2, "nothing deleted");
    let credited = rows.iter().find(|r| r.public_id == "ref_b").unwrap();
    assert_eq!(credited.application_id, Some(1));
    let detached = rows.iter().find(|r| r.public_id == "ref_a").unwrap();
    assert_eq!(detached.application_id, None);
    let reason = detached.reason.clone().unwrap_or_default();
    assert!(reason.contains("duplicate of referral"), "{reason}");
    let again = referral::ActiveModel {
        candidate_id: Set(1),
        application_id: Set(Some(1)),
        employee_id: Set("E-1".into()),
        source: Set(ReferralSource::AtsCredited),
        state: Set(ReferralState::Lost),
        referred_at: Set(at(11)),
        is_test: Set(false),
        created_at: Set(at(11)),
        updated_at: Set(at(11)),
        ..Default::default()
    }
    .insert(&db.conn)
    .await;
    assert_unique_violation(again, "a second referral of E-1 on application 1");
}

#[tokio::test]
async fn duplicate_referrals_are_detached_on_sqlite() {
    let db = fresh_sqlite().await;
    duplicate_referrals_are_detached_not_deleted(&db).await;
    db.drop_database().await;
}

#[tokio::test]
async fn duplicate_referrals_are_detached_on_postgres() {
    let db = fresh_postgres().await;
    duplicate_referrals_are_detached_not_deleted(&db).await;
    db.drop_database().await;
}

#[tokio::test]
async fn existing_rows_get_public_ids_on_sqlite() {
    let db = fresh_sqlite().await;
    existing_rows_get_public_ids_and_keep_their_keys(&db).await;
    db.drop_database().await;
}

#[tokio::test]
async fn existing_rows_get_public_ids_on_postgres() {
    let db = fresh_postgres().await;
    existing_rows_get_public_ids_and_keep_their_keys(&db).await;
    db.drop_database().await;
}

#[tokio::test]
async fn migrations_apply_on_sqlite() {
    let db = fresh_sqlite().await;
    assert_eq!(db.backend(), DbBackend::Sqlite);
    db.migrate().await.expect("migrate");
    assert_fully_migrated(&db).await;
    queue_idempotency_key_is_unique_per_queue(&db.conn).await;
    db.drop_database().await;
}

#[tokio::test]
async fn migrations_apply_on_postgres() {
    let db = fresh_postgres().await;
    assert_eq!(db.backend(), DbBackend::Postgres);
    db.migrate().await.expect("migrate");
    assert_fully_migrated(&db).await;
    queue_idempotency_key_is_unique_per_queue(&db.conn).await;
    db.drop_database().await;
}

#[tokio::test]
async fn migrations_roll_back_and_reapply_on_sqlite() {
    let db = fresh_sqlite().await;
    roll_back_and_reapply(&db).await;
    round_trip_rows(&db.conn).await;
    db.drop_database().await;
}

#[tokio::test]
async fn migrations_roll_back_and_reapply_on_postgres() {
    let db = fresh_postgres().await;
    db.migrate().await.expect("first up");
    Migrator::down(&db.conn, None).await.expect("down to zero");
    // The trigger function is not owned by the table, so dropping the table
    // would leave it behind; `down` must remove it explicitly.
    assert_eq!(
        count_audit_trigger_functions(&db.conn).await,
        0,
        "function dropped by down"
    );
    Migrator::up(&db.conn, None).await.expect("up after down");
    assert_eq!(
        count_audit_trigger_functions(&db.conn).await,
        1,
        "function recreated"
    );

    // And the full scenario once more from the top, now on a reapplied schema.
    roll_back_and_reapply(&db).await;
    round_trip_rows(&db.conn).await;
    db.drop_database().await;
}

async fn count_audit_trigger_functions(db: &DatabaseConnection) -> i64 {
    db.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) AS n FROM pg_proc WHERE proname = 'audit_events_append_only'",
    ))
    .await
    .expect("query pg_proc")
    .expect("one row")
    .try_get::<i64>("", "n")
    .expect("count")
}

#[tokio::test]
async fn audit_events_refuse_update_and_delete_on_postgres() {
    let db = fresh_postgres().await;
    db.migrate().await.expect("migrate");

    let event = audit_event::ActiveModel {
        occurred_at: Set(at(12)),
        actor: Set("system".to_owned()),
        action: Set("attribution.credited".to_owned()),
        subject_type: Set("referral".to_owned()),
        subject_id: Set("1".to_owned()),
        data: Set(r#"{"employee_id":"E-1001"}"#.to_owned()),
        prev_hash: Set("0".repeat(64)),
        hash: Set("a".repeat(64)),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .expect("inserting is allowed");

    for (sql, operation) in [
        (
            format!(
                "UPDATE audit_events SET actor = 'ops:mallory' WHERE id = {}",
                event.id
            ),
            "UPDATE",
        ),
        (
            format!("DELETE FROM audit_events WHERE id = {}", event.id),
            "DELETE",
        ),
        ("TRUNCATE audit_events".to_owned(), "TRUNCATE"),
    ] {
        let error = db
            .conn
            .execute_unprepared(&sql)
            .await
            .expect_err(&format!("{operation} must be refused"));
        let message = error.to_string();
        assert!(
            message.contains("append-only") && message.contains(operation),
            "{operation} refused for the wrong reason: {message}"
        );
    }

    let stored = audit_event::Entity::find_by_id(event.id)
        .one(&db.conn)
        .await
        .expect("select audit event")
        .expect("the event is still there");
    assert_eq!(stored, event, "the event is unchanged");

    // Inserting more events still works after the refusals.
    audit_event::ActiveModel {
        occurred_at: Set(at(13)),
        actor: Set("system".to_owned()),
        action: Set("payout.created".to_owned()),
        subject_type: Set("payout".to_owned()),
        subject_id: Set("1".to_owned()),
        data: Set("{}".to_owned()),
        prev_hash: Set("a".repeat(64)),
        hash: Set("b".repeat(64)),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .expect("appending is allowed");

    db.drop_database().await;
}

/// The SQL queue store in `jobs` writes hand-written SQL against
/// `queue_jobs`, so its column names, types, nullability and defaults are an
/// interface; this pins them.
#[tokio::test]
async fn queue_jobs_columns_match_the_store_contract_on_postgres() {
    let db = fresh_postgres().await;
    db.migrate().await.expect("migrate");

    let rows = db
        .conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT column_name, data_type, character_maximum_length, is_nullable, \
                    column_default \
             FROM information_schema.columns \
             WHERE table_name = 'queue_jobs' ORDER BY ordinal_position",
        ))
        .await
        .expect("read information_schema");
    let actual: Vec<String> = rows
        .iter()
        .map(|row| {
            let name: String = row.try_get("", "column_name").unwrap();
            let data_type: String = row.try_get("", "data_type").unwrap();
            let length: Option<i32> = row.try_get("", "character_maximum_length").unwrap();
            let nullable: String = row.try_get("", "is_nullable").unwrap();
            let default: Option<String> = row.try_get("", "column_default").unwrap();
            let length = length.map(|n| format!("({n})")).unwrap_or_default();
            let null = if nullable == "YES" {
                "null"
            } else {
                "not null"
            };
            let default = default.map(|d| format!(" default {d}")).unwrap_or_default();
            format!("{name} {data_type}{length} {null}{default}")
        })
        .collect();

    let expected = [
        "id character varying(26) not null",
        "queue character varying(64) not null",
        "kind character varying(64) not null",
        "payload text not null",
        "state character varying(16) not null",
        "attempts integer not null default 0",
        "max_attempts integer not null",
        "run_at bigint not null",
        "created_at bigint not null",
        "updated_at bigint not null",
        "finished_at bigint null",
        "lease_owner character varying(128) null",
        "lease_expires_at bigint null",
        "idempotency_key character varying(256) null",
        "redeliveries integer not null default 0",
        "lease_seq bigint not null default 0",
        "last_error text null",
        "errors text not null default '[]'::text",
    ];
    assert_eq!(actual, expected);

    let indexes = db
        .conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'queue_jobs' ORDER BY indexname",
        ))
        .await
        .expect("read pg_indexes");
    let indexes: Vec<String> = indexes
        .iter()
        .map(|row| row.try_get::<String>("", "indexdef").unwrap())
        .collect();
    for expected in [
        "UNIQUE INDEX uq_queue_jobs_queue_idempotency_key ON public.queue_jobs USING btree (queue, idempotency_key)",
        "INDEX idx_queue_jobs_queue_state_run_at ON public.queue_jobs USING btree (queue, state, run_at)",
        "INDEX idx_queue_jobs_state_lease_expires_at ON public.queue_jobs USING btree (state, lease_expires_at)",
        "INDEX idx_queue_jobs_queue_kind_state ON public.queue_jobs USING btree (queue, kind, state)",
        "UNIQUE INDEX queue_jobs_pkey ON public.queue_jobs USING btree (id)",
    ] {
        assert!(
            indexes.iter().any(|index| index.ends_with(expected)),
            "missing index `{expected}` in {indexes:#?}"
        );
    }

    db.drop_database().await;
}
