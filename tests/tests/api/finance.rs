//! Finance features on real databases: `audit verify` on an untouched and a
//! tampered hash chain (SQLite and PostgreSQL), the payout, referral and
//! audit exports over HTTP and from the CLI, and the KPIs.
//!
//! The ledger is seeded straight through the entities ([`World`]): the
//! exports read rows, and how the rows came to be is the payout tests'
//! subject. The audit log is written through `LockedTx::audit` and its commit,
//! the one way the service writes it, so the chain is the real one.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use entities::{
    application::{self, ApplicationStatus},
    audit_event, candidate, candidate_ats_id,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::{self, PayoutState},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use jobs::{
    db::audit::{self, AuditEntry, GENESIS, Problem, Verification},
    db::begin_locked,
};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use tests::{
    app::{
        DbDriver, Setup, TestApp, TestProcess, fresh_db, spawn_app_with, spawn_process, worker_env,
    },
    db::TestDb,
    fixtures::{configure_capture, tokens},
};

/// How long a CLI one-shot may take.
const CLI_EXIT: Duration = Duration::from_secs(60);

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0)
        .single()
        .expect("a valid date")
}

// ---------------------------------------------------------------------------
// Audit chain
// ---------------------------------------------------------------------------

async fn migrated(driver: DbDriver) -> TestDb {
    let db = fresh_db(driver).await;
    db.migrate().await.expect("migrate");
    db
}

/// Appends `n` events in one locked transaction, as the service would.
async fn append_events(db: &DatabaseConnection, n: usize) {
    let tx = begin_locked(db, &[]).await.expect("begin");
    for i in 0..n {
        tx.audit(AuditEntry::system(
            "payout.created",
            "payout",
            i,
            json!({ "amount_minor": 100_000 + i, "currency": "EUR", "tranche": "hire" }),
        ));
    }
    tx.commit().await.expect("commit");
}

async fn event_ids(db: &DatabaseConnection) -> Vec<i64> {
    audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await
        .expect("audit events")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Lets this test's PostgreSQL database change audit rows: the append-only
/// trigger lives in the test's own database, so nothing else is affected.
async fn allow_tampering(db: &TestDb) {
    if db.backend() == sea_orm::DbBackend::Postgres {
        db.conn
            .execute_unprepared("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            .await
            .expect("disable the append-only trigger");
    }
}

/// Holds `lanes`' advisory locks on a session of its own, as a transaction
/// committing on them would, until the returned connection is dropped.
async fn hold_lanes(db: &TestDb, lanes: impl Iterator<Item = i16>) -> DatabaseConnection {
    let holder = sea_orm::Database::connect(db.url.as_str())
        .await
        .expect("a second connection");
    for lane in lanes {
        holder
            .execute_unprepared(&format!(
                "SELECT pg_advisory_lock(hashtextextended('audit_events:{lane}', 0))"
            ))
            .await
            .expect("lock a lane");
    }
    holder
}

#[tokio::test]
async fn a_commit_appends_to_the_lane_no_one_else_is_committing_on() {
    let db = migrated(DbDriver::Postgres).await;
    let busy = hold_lanes(&db, (0..audit::LANES).filter(|lane| *lane != 11)).await;
    append_events(&db.conn, 3).await;
    let rows = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(&db.conn)
        .await
        .expect("audit rows");
    assert_eq!(
        rows.iter().map(|r| r.lane).collect::<Vec<_>>(),
        [11, 11, 11],
        "one transaction, one lane: the free one"
    );
    assert_eq!(rows[0].prev_hash, GENESIS, "a new lane starts at genesis");
    assert_eq!(rows[1].prev_hash, rows[0].hash);
    assert_eq!(rows[2].prev_hash, rows[1].hash);
    drop(busy);
    db.drop_database().await;
}

#[tokio::test]
async fn transactions_committing_together_spread_over_lanes_and_every_lane_verifies() {
    let db = migrated(DbDriver::Postgres).await;
    // A pool of its own: the test database's is smaller than 16.
    let mut options = sea_orm::ConnectOptions::new(db.url.as_str());
    options.max_connections(16).sqlx_logging(false);
    let pool = sea_orm::Database::connect(options)
        .await
        .expect("a pool of 16");
    let together = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let writers: Vec<_> = (0..16)
        .map(|writer| {
            let (conn, together) = (pool.clone(), together.clone());
            tokio::spawn(async move {
                let tx = begin_locked(&conn, &[]).await.expect("begin");
                for step in 0..3 {
                    tx.audit(AuditEntry::system(
                        "payout.attempt",
                        "payout",
                        writer,
                        json!({ "step": step }),
                    ));
                }
                // Every writer has its entries recorded before any commits.
                together.wait().await;
                tx.commit_audited().await.expect("commit")
            })
        })
        .collect();
    let mut lanes_used = std::collections::HashSet::new();
    for writer in writers {
        let ids = writer.await.expect("writer");
        let rows: Vec<_> = audit_event::Entity::find()
            .filter(sea_orm::ColumnTrait::is_in(
                &audit_event::Column::Id,
                ids.clone(),
            ))
            .order_by_asc(audit_event::Column::Id)
            .all(&db.conn)
            .await
            .expect("the writer's rows");
        assert_eq!(rows.len(), 3);
        assert!(
            rows.windows(2)
                .all(|w| w[1].prev_hash == w[0].hash && w[0].lane == w[1].lane)
        );
        lanes_used.insert(rows[0].lane);
    }
    assert!(lanes_used.len() > 1, "16 writers at once used one lane");
    assert_eq!(
        audit::verify(&db.conn).await.expect("verify"),
        Verification::Intact { events: 48 }
    );
    pool.close().await.expect("close the pool");
    db.drop_database().await;
}

async fn an_untouched_chain_verifies(driver: DbDriver) {
    let db = migrated(driver).await;
    // More than one page of the verifier.
    append_events(&db.conn, 1_205).await;
    let outcome = audit::verify(&db.conn).await.expect("verify");
    assert_eq!(outcome, Verification::Intact { events: 1_205 });
    db.drop_database().await;
}

#[tokio::test]
async fn an_untouched_chain_verifies_on_sqlite() {
    an_untouched_chain_verifies(DbDriver::Sqlite).await;
}

#[tokio::test]
async fn an_untouched_chain_verifies_on_postgres() {
    an_untouched_chain_verifies(DbDriver::Postgres).await;
}

#[tokio::test]
async fn an_empty_audit_log_verifies() {
    let db = migrated(DbDriver::Sqlite).await;
    assert_eq!(
        audit::verify(&db.conn).await.expect("verify"),
        Verification::Intact { events: 0 }
    );
    db.drop_database().await;
}

async fn a_tampered_row_breaks_the_chain_at_that_row(driver: DbDriver) {
    let db = migrated(driver).await;
    append_events(&db.conn, 10).await;
    let ids = event_ids(&db.conn).await;
    let victim = ids[3];
    allow_tampering(&db).await;
    db.conn
        .execute_unprepared(&format!(
            r#"UPDATE audit_events SET data = '{{"amount_minor":999999,"currency":"EUR","tranche":"hire"}}' WHERE id = {victim}"#
        ))
        .await
        .expect("tamper");

    let outcome = audit::verify(&db.conn).await.expect("verify");
    let Verification::Broken {
        verified,
        event_id,
        problem,
    } = outcome
    else {
        panic!("a changed amount went unnoticed: {outcome:?}");
    };
    assert_eq!((event_id, verified), (victim, 3));
    assert!(
        matches!(problem, Problem::ContentChanged { .. }),
        "{problem}"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_tampered_row_breaks_the_chain_at_that_row_on_sqlite() {
    a_tampered_row_breaks_the_chain_at_that_row(DbDriver::Sqlite).await;
}

#[tokio::test]
async fn a_tampered_row_breaks_the_chain_at_that_row_on_postgres() {
    a_tampered_row_breaks_the_chain_at_that_row(DbDriver::Postgres).await;
}

#[tokio::test]
async fn a_deleted_row_breaks_the_link_of_the_row_after_it() {
    let db = migrated(DbDriver::Sqlite).await;
    append_events(&db.conn, 8).await;
    let ids = event_ids(&db.conn).await;
    db.conn
        .execute_unprepared(&format!("DELETE FROM audit_events WHERE id = {}", ids[4]))
        .await
        .expect("delete");

    let outcome = audit::verify(&db.conn).await.expect("verify");
    let Verification::Broken {
        verified,
        event_id,
        problem,
    } = outcome
    else {
        panic!("a deleted row went unnoticed: {outcome:?}");
    };
    assert_eq!((event_id, verified), (ids[5], 4));
    assert!(matches!(problem, Problem::LinkBroken { .. }), "{problem}");
    db.drop_database().await;
}

#[tokio::test]
async fn deleting_the_first_row_breaks_the_link_to_genesis() {
    let db = migrated(DbDriver::Sqlite).await;
    append_events(&db.conn, 3).await;
    let ids = event_ids(&db.conn).await;
    db.conn
        .execute_unprepared(&format!("DELETE FROM audit_events WHERE id = {}", ids[0]))
        .await
        .expect("delete");
    let outcome = audit::verify(&db.conn).await.expect("verify");
    assert!(
        matches!(
            &outcome,
            Verification::Broken { event_id, verified: 0, problem: Problem::LinkBroken { expected, .. } }
                if *event_id == ids[1] && expected == GENESIS
        ),
        "{outcome:?}"
    );
    db.drop_database().await;
}

#[tokio::test]
async fn a_row_rewritten_with_a_matching_hash_breaks_the_next_link_on_postgres() {
    let db = migrated(DbDriver::Postgres).await;
    append_events(&db.conn, 6).await;
    let rows = audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(&db.conn)
        .await
        .expect("rows");
    let victim = &rows[2];
    // A careful forger recomputes the row's own hash; the next row still
    // points at the old one.
    let forged = AuditEntry {
        actor: victim.actor.clone(),
        action: victim.action.clone(),
        subject_type: victim.subject_type.clone(),
        subject_id: victim.subject_id.clone(),
        data: json!({ "amount_minor": 1, "currency": "EUR", "tranche": "hire" }),
    };
    let hash = audit::sha256_hex(&audit::canonical(
        &victim.prev_hash,
        victim.occurred_at,
        &forged,
    ));
    allow_tampering(&db).await;
    db.conn
        .execute_unprepared(&format!(
            "UPDATE audit_events SET data = '{}', hash = '{hash}' WHERE id = {}",
            forged.data, victim.id
        ))
        .await
        .expect("forge");

    let outcome = audit::verify(&db.conn).await.expect("verify");
    assert!(
        matches!(
            &outcome,
            Verification::Broken { event_id, verified: 3, problem: Problem::LinkBroken { .. } }
                if *event_id == rows[3].id
        ),
        "{outcome:?}"
    );
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// A small ledger
// ---------------------------------------------------------------------------

async fn insert_candidate(db: &DatabaseConnection, is_test: bool, ats_ids: &[(Ats, &str)]) -> i64 {
    let at = day(2026, 1, 1);
    let c = candidate::ActiveModel {
        email_raw: Set(None),
        email_canonical: Set(None),
        phone_raw: Set(None),
        phone_e164: Set(None),
        first_name: Set("Test".into()),
        last_name: Set(None),
        merged_into_id: Set(None),
        anonymized_at: Set(None),
        is_test: Set(is_test),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("candidate");
    for (ats, id) in ats_ids {
        candidate_ats_id::ActiveModel {
            candidate_id: Set(c.id),
            ats: Set(*ats),
            ats_candidate_id: Set((*id).to_string()),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("candidate ats id");
    }
    c.id
}

async fn insert_application(
    db: &DatabaseConnection,
    candidate_id: i64,
    ats_application_id: &str,
    job_id: &str,
    applied_at: DateTime<Utc>,
    hired_at: Option<DateTime<Utc>>,
) -> i64 {
    application::ActiveModel {
        candidate_id: Set(candidate_id),
        ats: Set(Ats::Greenhouse),
        ats_application_id: Set(ats_application_id.into()),
        job_id: Set(job_id.into()),
        requisition_id: Set(None),
        status: Set(if hired_at.is_some() {
            ApplicationStatus::Hired
        } else {
            ApplicationStatus::Active
        }),
        stage: Set(None),
        applied_at: Set(applied_at),
        hired_at: Set(hired_at),
        start_date: Set(hired_at.map(|h| h + chrono::TimeDelta::days(7))),
        rejected_at: Set(None),
        job_level: Set(None),
        department: Set(None),
        location: Set(None),
        created_at: Set(applied_at),
        updated_at: Set(applied_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("application")
    .id
}

async fn insert_referral(
    db: &DatabaseConnection,
    candidate_id: i64,
    application_id: i64,
    employee_id: &str,
    state: ReferralState,
    referred_at: DateTime<Utc>,
) -> i64 {
    referral::ActiveModel {
        candidate_id: Set(candidate_id),
        application_id: Set(Some(application_id)),
        employee_id: Set(employee_id.into()),
        source: Set(ReferralSource::AtsCredited),
        link_token: Set(None),
        state: Set(state),
        reason: Set((state == ReferralState::Lost).then(|| "first_referrer_wins".to_string())),
        referred_at: Set(referred_at),
        decided_at: Set(Some(referred_at)),
        is_test: Set(false),
        created_at: Set(referred_at),
        updated_at: Set(referred_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("referral")
    .id
}

async fn insert_milestone(
    db: &DatabaseConnection,
    application_id: i64,
    referral_id: i64,
    kind: MilestoneKind,
) -> i64 {
    let at = day(2026, 1, 1);
    milestone::ActiveModel {
        referral_id: Set(Some(referral_id)),
        application_id: Set(application_id),
        kind: Set(kind),
        state: Set(MilestoneState::Reached),
        occurred_at: Set(Some(at)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("milestone")
    .id
}

/// A payout row; `delivered_at` makes it delivered.
struct NewPayout<'a> {
    referral_id: i64,
    milestone_id: Option<i64>,
    tranche: &'a str,
    amount_minor: i64,
    currency: &'a str,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    is_test: bool,
}

async fn insert_payout(db: &DatabaseConnection, p: NewPayout<'_>) -> i64 {
    payout::ActiveModel {
        referral_id: Set(p.referral_id),
        milestone_id: Set(p.milestone_id),
        tranche: Set(p.tranche.into()),
        amount_minor: Set(p.amount_minor),
        currency: Set(p.currency.into()),
        state: Set(if p.delivered_at.is_some() {
            PayoutState::Delivered
        } else {
            PayoutState::Pending
        }),
        reason: Set(None),
        idempotency_key: Set(format!("{}:{}", p.referral_id, p.tranche)),
        webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
        attempts: Set(i32::from(p.delivered_at.is_some())),
        last_status_code: Set(p.delivered_at.map(|_| 200)),
        eligible_at: Set(p.delivered_at.map(|_| p.created_at)),
        sent_at: Set(p.delivered_at),
        delivered_at: Set(p.delivered_at),
        is_test: Set(p.is_test),
        created_at: Set(p.created_at),
        updated_at: Set(p.created_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("payout")
    .id
}

/// The ids of the seeded ledger.
///
/// January 2026:
/// * Ana (Greenhouse 9001), referred by E-1, applied Jan 5, hired Jan 25:
///   `hire` tranche EUR 1,000.00 delivered Jan 26, `probation` EUR 500.00
///   pending; plus a payout marked test.
/// * A sandbox candidate (test), referred by E-2, hired Jan 20, EUR
///   1,000.00 delivered Jan 21: test data throughout.
/// * Carl (Greenhouse 9003, Lever lev-3), credited to E-2 over E-1's
///   later claim, applied Jan 10, not hired; USD 200.00 created and
///   delivered in February.
/// * Dora, not referred, applied Jan 2, hired Jan 12.
struct World {
    ana: i64,
    ana_referral: i64,
    ana_hire: i64,
    ana_probation: i64,
    ana_test_payout: i64,
    sandbox_payout: i64,
    carl_referral: i64,
    carl_lost_referral: i64,
    carl_february: i64,
}

async fn seed(db: &DatabaseConnection) -> World {
    let ana = insert_candidate(db, false, &[(Ats::Greenhouse, "9001")]).await;
    let ana_app = insert_application(
        db,
        ana,
        "1201",
        "40",
        day(2026, 1, 5),
        Some(day(2026, 1, 25)),
    )
    .await;
    let ana_referral = insert_referral(
        db,
        ana,
        ana_app,
        "E-1",
        ReferralState::Credited,
        day(2026, 1, 4),
    )
    .await;
    let hire = insert_milestone(db, ana_app, ana_referral, MilestoneKind::Hire).await;
    let probation =
        insert_milestone(db, ana_app, ana_referral, MilestoneKind::ProbationComplete).await;
    let ana_hire = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: Some(hire),
            tranche: "hire",
            amount_minor: 100_000,
            currency: "EUR",
            created_at: day(2026, 1, 25),
            delivered_at: Some(day(2026, 1, 26)),
            is_test: false,
        },
    )
    .await;
    let ana_probation = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: Some(probation),
            tranche: "probation",
            amount_minor: 50_000,
            currency: "EUR",
            created_at: day(2026, 1, 25),
            delivered_at: None,
            is_test: false,
        },
    )
    .await;
    let ana_test_payout = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: None,
            tranche: "sandbox",
            amount_minor: 1,
            currency: "EUR",
            created_at: day(2026, 1, 27),
            delivered_at: Some(day(2026, 1, 27)),
            is_test: true,
        },
    )
    .await;

    let sandbox = insert_candidate(db, true, &[(Ats::Greenhouse, "9002")]).await;
    let sandbox_app = insert_application(
        db,
        sandbox,
        "1202",
        "40",
        day(2026, 1, 6),
        Some(day(2026, 1, 20)),
    )
    .await;
    let sandbox_referral = insert_referral(
        db,
        sandbox,
        sandbox_app,
        "E-2",
        ReferralState::Credited,
        day(2026, 1, 6),
    )
    .await;
    let sandbox_payout = insert_payout(
        db,
        NewPayout {
            referral_id: sandbox_referral,
            milestone_id: None,
            tranche: "hire",
            amount_minor: 100_000,
            currency: "EUR",
            created_at: day(2026, 1, 20),
            delivered_at: Some(day(2026, 1, 21)),
            is_test: false,
        },
    )
    .await;

    let carl = insert_candidate(
        db,
        false,
        &[(Ats::Greenhouse, "9003"), (Ats::Lever, "lev-3")],
    )
    .await;
    let carl_app = insert_application(db, carl, "1203", "41", day(2026, 1, 10), None).await;
    let carl_referral = insert_referral(
        db,
        carl,
        carl_app,
        "E-2",
        ReferralState::Credited,
        day(2026, 1, 9),
    )
    .await;
    let carl_lost_referral = insert_referral(
        db,
        carl,
        carl_app,
        "E-1",
        ReferralState::Lost,
        day(2026, 1, 11),
    )
    .await;
    let carl_february = insert_payout(
        db,
        NewPayout {
            referral_id: carl_referral,
            milestone_id: None,
            tranche: "hire",
            amount_minor: 20_000,
            currency: "USD",
            created_at: day(2026, 2, 3),
            delivered_at: Some(day(2026, 2, 10)),
            is_test: false,
        },
    )
    .await;

    let dora = insert_candidate(db, false, &[(Ats::Greenhouse, "9004")]).await;
    insert_application(
        db,
        dora,
        "1204",
        "41",
        day(2026, 1, 2),
        Some(day(2026, 1, 12)),
    )
    .await;

    World {
        ana,
        ana_referral,
        ana_hire,
        ana_probation,
        ana_test_payout,
        sandbox_payout,
        carl_referral,
        carl_lost_referral,
        carl_february,
    }
}

// ---------------------------------------------------------------------------
// Exports and KPIs over HTTP
// ---------------------------------------------------------------------------

async fn finance_app(setup: Setup) -> TestApp {
    spawn_app_with(setup, |s| configure_capture(s, None, None)).await
}

async fn get_as(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = get_as(app, path, Some(tokens::OPS)).await;
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
}

/// Our row ids of the payouts an export names by public id (`pay_…`).
async fn payout_ids(db: &DatabaseConnection, rows: &Value) -> Vec<i64> {
    let mut ids = Vec::new();
    for row in rows.as_array().expect("an array") {
        let public = row["payout_id"].as_str().expect("a public payout id");
        assert!(public.starts_with("pay_"), "{row}");
        ids.push(
            payout::Entity::find()
                .filter(payout::Column::PublicId.eq(public))
                .one(db)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("no payout {public}"))
                .id,
        );
    }
    ids
}

/// The public id (`ref_…`) of referral `id`, as exports name it.
async fn referral_public_id(db: &DatabaseConnection, id: i64) -> String {
    referral::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the referral")
        .public_id
}

/// The public id (`pay_…`) and idempotency key of payout `id`.
async fn payout_public(db: &DatabaseConnection, id: i64) -> (String, String) {
    let p = payout::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read")
        .expect("the payout");
    (p.public_id, p.idempotency_key)
}

async fn payouts_export_carries_each_ledger_row_with_its_referral_facts(setup: Setup) {
    let app = finance_app(setup).await;
    let world = seed(&app.state.db).await;

    let rows = get_json(
        &app,
        "/api/exports/payouts?from=2026-01-01&to=2026-01-31&format=json",
    )
    .await;
    let db = &app.state.db;
    assert_eq!(
        payout_ids(db, &rows).await,
        vec![world.ana_hire, world.ana_probation],
        "January's real payouts, in id order; test data and February left out"
    );
    let hire = &rows[0];
    assert_eq!(
        hire["referral_id"],
        json!(referral_public_id(db, world.ana_referral).await)
    );
    let (_, key) = payout_public(db, world.ana_hire).await;
    assert_eq!(hire["idempotency_key"], json!(key));
    assert_eq!(hire["candidate_id"], json!(world.ana));
    assert_eq!(hire["employee_id"], "E-1");
    assert_eq!(hire["ats"], "greenhouse");
    assert_eq!(hire["candidate_ats_ids"], json!(["9001"]));
    assert_eq!(hire["application"], "1201");
    assert_eq!(hire["job_id"], "40");
    assert_eq!(hire["milestone"], "hire");
    assert_eq!(hire["tranche"], "hire");
    assert_eq!(hire["amount_minor"], 100_000);
    assert_eq!(hire["currency"], "EUR");
    assert_eq!(hire["state"], "delivered");
    assert_eq!(hire["is_test"], false);
    for key in [
        "hired_at",
        "start_date",
        "eligible_at",
        "sent_at",
        "delivered_at",
    ] {
        assert!(hire[key].is_string(), "{key} is set: {hire}");
    }
    assert_eq!(
        hire["delivered_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc)),
        Some(day(2026, 1, 26))
    );
    let probation = &rows[1];
    assert_eq!(probation["milestone"], "probation_complete");
    assert_eq!(probation["state"], "pending");
    assert_eq!(probation["delivered_at"], Value::Null);

    let with_test = get_json(
        &app,
        "/api/exports/payouts?from=2026-01-01&to=2026-01-31&format=json&include_test=true",
    )
    .await;
    assert_eq!(
        payout_ids(db, &with_test).await,
        vec![
            world.ana_hire,
            world.ana_probation,
            world.ana_test_payout,
            world.sandbox_payout
        ]
    );
    assert!(
        with_test.as_array().expect("array")[2..]
            .iter()
            .all(|r| r["is_test"] == true),
        "a test payout and a test candidate's payout are flagged: {with_test}"
    );

    let february = get_json(
        &app,
        "/api/exports/payouts?from=2026-02-01T00:00:00Z&to=2026-02-28&format=json",
    )
    .await;
    assert_eq!(payout_ids(db, &february).await, vec![world.carl_february]);
    assert_eq!(
        february[0]["candidate_ats_ids"],
        json!(["9003"]),
        "only the application's ATS"
    );

    app.cleanup().await;
}

#[tokio::test]
async fn payouts_export_carries_each_ledger_row_with_its_referral_facts_on_sqlite() {
    payouts_export_carries_each_ledger_row_with_its_referral_facts(Setup::EMBEDDED_SQLITE).await;
}

#[tokio::test]
async fn payouts_export_carries_each_ledger_row_with_its_referral_facts_on_postgres() {
    payouts_export_carries_each_ledger_row_with_its_referral_facts(Setup::EMBEDDED_POSTGRES).await;
}

#[tokio::test]
async fn the_csv_export_is_a_download_with_a_header_row() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    let world = seed(&app.state.db).await;

    let response = get_as(
        &app,
        "/api/exports/referrals?from=2026-01-01&to=2026-01-31",
        Some(tokens::OPS),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"referrals_2026-01-01_2026-01-31.csv\""
    );
    assert_eq!(header("cache-control"), "no-store");
    let text = response.text().await.expect("body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "referral_id,employee_id,candidate_id,candidate_ats_ids,ats,application,job_id,source,state,reason,referred_at,created_at,is_test"
    );
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let ids: Vec<String> = rows.iter().map(|r| r[0].to_string()).collect();
    let db = &app.state.db;
    let mut expected = Vec::new();
    for id in [
        world.ana_referral,
        world.carl_referral,
        world.carl_lost_referral,
    ] {
        expected.push(referral_public_id(db, id).await);
    }
    assert_eq!(
        ids, expected,
        "the sandbox candidate's referral is test data:\n{text}"
    );
    assert!(
        rows[1][2].parse::<i64>().is_ok(),
        "our candidate id: {text}"
    );
    assert_eq!(
        rows[1][2], rows[2][2],
        "Carl's two referrals are one person"
    );
    assert_eq!(
        &rows[1][1..10],
        [
            "E-2",
            rows[1][2],
            "9003;lev-3",
            "greenhouse",
            "1203",
            "41",
            "ats_credited",
            "credited",
            ""
        ]
    );
    assert_eq!(rows[2][8..10], ["lost", "first_referrer_wins"]);
    app.cleanup().await;
}

#[tokio::test]
async fn an_export_larger_than_a_page_streams_every_row_in_id_order() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    append_events(&app.state.db, 2_345).await;

    let response = get_as(
        &app,
        "/api/exports/audit?from=2000-01-01&to=2100-12-31&format=json",
        Some(tokens::OPS),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.content_length(),
        None,
        "streamed, not buffered to learn its length"
    );
    let rows: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2_345);
    let mut prev = GENESIS.to_string();
    for pair in rows.windows(2) {
        assert!(pair[0]["id"].as_i64() < pair[1]["id"].as_i64(), "id order");
    }
    for row in rows {
        assert_eq!(row["lane"], 0, "SQLite writes one lane");
        assert_eq!(row["prev_hash"], json!(prev), "the chain runs across pages");
        assert!(row["data"].is_object(), "data is JSON, not a string: {row}");
        prev = row["hash"].as_str().expect("hash").to_string();
    }
    assert_eq!(rows[2_344]["data"]["amount_minor"], 100_000 + 2_344);
    app.cleanup().await;
}

#[tokio::test]
async fn an_empty_period_exports_a_header_or_an_empty_array() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    seed(&app.state.db).await;
    let csv = get_as(
        &app,
        "/api/exports/payouts?from=2025-01-01&to=2025-12-31",
        Some(tokens::OPS),
    )
    .await
    .text()
    .await
    .expect("body");
    assert_eq!(csv.lines().count(), 1, "{csv}");
    assert!(
        csv.starts_with("payout_id,referral_id,employee_id,"),
        "{csv}"
    );
    let json = get_json(
        &app,
        "/api/exports/audit?from=2025-01-01&to=2025-12-31&format=json",
    )
    .await;
    assert_eq!(json, json!([]));
    app.cleanup().await;
}

#[tokio::test]
async fn bad_export_and_report_requests_are_refused_naming_the_problem() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    let period = "from=2026-01-01&to=2026-01-31";

    let no_token = get_as(&app, &format!("/api/exports/payouts?{period}"), None).await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let wrong_scope = get_as(
        &app,
        &format!("/api/exports/payouts?{period}"),
        Some(tokens::LINKS),
    )
    .await;
    assert_eq!(wrong_scope.status(), StatusCode::FORBIDDEN);
    let kpis_wrong_scope = get_as(
        &app,
        &format!("/api/reports/kpis?{period}"),
        Some(tokens::LINKS),
    )
    .await;
    assert_eq!(kpis_wrong_scope.status(), StatusCode::FORBIDDEN);

    let cases = [
        (
            format!("/api/exports/salaries?{period}"),
            StatusCode::NOT_FOUND,
            "salaries",
        ),
        (
            "/api/exports/payouts?from=2026-01-01".to_string(),
            StatusCode::BAD_REQUEST,
            "to:",
        ),
        (
            "/api/exports/payouts?from=01/01/2026&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/exports/payouts?from=2026-02-01&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            format!("/api/exports/payouts?{period}&format=xml"),
            StatusCode::BAD_REQUEST,
            "format:",
        ),
        (
            format!("/api/exports/payouts?{period}&include_test=maybe"),
            StatusCode::BAD_REQUEST,
            "include_test:",
        ),
        (
            format!("/api/exports/payouts?{period}&limit=5"),
            StatusCode::BAD_REQUEST,
            "limit:",
        ),
        (
            format!("/api/exports/payouts?{period}&from=2026-01-02"),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/reports/kpis?from=2026-02-01&to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            "/api/reports/kpis?to=2026-01-31".to_string(),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        (
            format!("/api/reports/kpis?{period}&format=csv"),
            StatusCode::BAD_REQUEST,
            "format:",
        ),
    ];
    for (path, status, named) in cases {
        let response = get_as(&app, &path, Some(tokens::OPS)).await;
        assert_eq!(response.status(), status, "GET {path}");
        let body: Value = response.json().await.expect("a JSON error body");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(named), "GET {path}: {body}");
        assert!(body["error"].is_string(), "GET {path}: {body}");
    }
    app.cleanup().await;
}

#[tokio::test]
async fn kpis_count_conversion_time_to_hire_payouts_and_top_referrers() {
    let app = finance_app(Setup::EMBEDDED_SQLITE).await;
    seed(&app.state.db).await;

    let k = get_json(&app, "/api/reports/kpis?from=2026-01-01&to=2026-01-31").await;
    // Ana (hired) and Carl (not) applied in January with a credited
    // referral; the sandbox hire is test data, Dora was not referred.
    assert_eq!(
        k["conversion"],
        json!({ "referred_applications": 2, "hires": 1, "rate": 0.5 })
    );
    // Hired in January: Ana after 20 days (referred), Dora after 10.
    assert_eq!(
        k["time_to_hire"]["referred"],
        json!({ "hires": 1, "median_days": 20.0, "mean_days": 20.0 })
    );
    assert_eq!(
        k["time_to_hire"]["all"],
        json!({ "hires": 2, "median_days": 15.0, "mean_days": 15.0 })
    );
    assert_eq!(
        k["payouts_delivered"],
        json!([{ "month": "2026-01", "currency": "EUR", "amount_minor": 100_000, "count": 1 }])
    );
    assert_eq!(
        k["top_referrers"],
        json!([
            { "employee_id": "E-1", "credited_referrals": 1, "hires": 1,
              "paid": [{ "currency": "EUR", "amount_minor": 100_000 }] },
            { "employee_id": "E-2", "credited_referrals": 1, "hires": 0, "paid": [] },
        ])
    );

    let two_months = get_json(&app, "/api/reports/kpis?from=2026-01-01&to=2026-02-28").await;
    assert_eq!(
        two_months["payouts_delivered"],
        json!([
            { "month": "2026-01", "currency": "EUR", "amount_minor": 100_000, "count": 1 },
            { "month": "2026-02", "currency": "USD", "amount_minor": 20_000, "count": 1 },
        ]),
        "one line per month and currency, never summed across currencies"
    );
    assert_eq!(
        two_months["top_referrers"][1]["paid"],
        json!([{ "currency": "USD", "amount_minor": 20_000 }])
    );
    app.cleanup().await;
}

// ---------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------

async fn run_cli(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let mut process: TestProcess = spawn_process(args, worker_env(&db.url, None));
    let status = process.wait_exit(CLI_EXIT).await;
    (status.code(), process.stdout(), process.stderr())
}

#[tokio::test]
async fn audit_verify_exits_0_on_an_untouched_chain_and_1_naming_the_tampered_row() {
    let db = migrated(DbDriver::Sqlite).await;
    append_events(&db.conn, 5).await;

    let (code, stdout, stderr) = run_cli(&db, &["audit", "verify"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "OK: 5 events verified");

    let ids = event_ids(&db.conn).await;
    db.conn
        .execute_unprepared(&format!(
            "UPDATE audit_events SET actor = 'ops:mallory' WHERE id = {}",
            ids[2]
        ))
        .await
        .expect("tamper");
    let (code, stdout, stderr) = run_cli(&db, &["audit", "verify"]).await;
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("audit event {}", ids[2])) && stdout.contains("hash mismatch"),
        "{stdout}"
    );
    assert!(stderr.contains("broken"), "{stderr}");
    db.drop_database().await;
}

#[tokio::test]
async fn the_cli_exports_payouts_to_a_file() {
    let db = migrated(DbDriver::Sqlite).await;
    let world = seed(&db.conn).await;
    let dir = std::env::temp_dir().join(format!("rw-export-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("january.csv");
    let out_arg = out.to_str().expect("utf-8 path");

    let (code, stdout, stderr) = run_cli(
        &db,
        &[
            "export",
            "payouts",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            out_arg,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("payouts: 2 rows written to"), "{stdout}");
    let text = std::fs::read_to_string(&out).expect("the export file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0]
            .starts_with("payout_id,referral_id,employee_id,ats,candidate_id,candidate_ats_ids,")
    );
    let (payout_id, key) = payout_public(&db.conn, world.ana_hire).await;
    assert!(
        lines[1].starts_with(&format!(
            "{payout_id},{},E-1,greenhouse,{},9001,1201,40,hire,hire,",
            referral_public_id(&db.conn, world.ana_referral).await,
            world.ana
        )),
        "{text}"
    );
    assert!(lines[1].contains(&format!(",{key},")), "{text}");
    assert!(lines[1].contains(",100000,EUR,delivered,"), "{text}");
    assert!(
        !dir.join("january.csv.partial").exists(),
        "the partial file was renamed"
    );

    let (code, stdout, stderr) = run_cli(
        &db,
        &[
            "export",
            "referrals",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--format",
            "json",
            "--include-test",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let rows: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(rows.as_array().map(Vec::len), Some(4), "{stdout}");

    let _ = std::fs::remove_dir_all(&dir);
    db.drop_database().await;
}

#[tokio::test]
async fn the_cli_refuses_a_period_that_ends_before_it_starts() {
    let db = migrated(DbDriver::Sqlite).await;
    let (code, stdout, stderr) = run_cli(
        &db,
        &[
            "export",
            "audit",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-31",
        ],
    )
    .await;
    assert_ne!(code, Some(0), "{stdout}");
    assert!(stdout.is_empty(), "nothing exported: {stdout}");
    assert!(stderr.contains("--from"), "{stderr}");

    let (code, _, stderr) = run_cli(
        &db,
        &[
            "report",
            "kpis",
            "--from",
            "2026-02-01",
            "--to",
            "2026-01-31",
        ],
    )
    .await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--from"), "{stderr}");

    let (code, _, stderr) = run_cli(
        &db,
        &[
            "report",
            "kpis",
            "--from",
            "last week",
            "--to",
            "2026-01-31",
        ],
    )
    .await;
    assert_eq!(code, Some(2), "a malformed date is a usage error");
    assert!(stderr.contains("--from"), "{stderr}");
    db.drop_database().await;
}

#[tokio::test]
async fn report_kpis_prints_a_table_or_json() {
    let db = migrated(DbDriver::Sqlite).await;
    seed(&db.conn).await;

    let (code, stdout, stderr) = run_cli(
        &db,
        &[
            "report",
            "kpis",
            "--from",
            "2026-01-01",
            "--to",
            "2026-02-28",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "conversion rate           50.0%",
        "2026-01  EUR           1           100000",
        "2026-02  USD           1            20000",
        "E-1                     1      1  EUR 100000",
        "E-2                     1      0  USD 20000",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }

    let (code, stdout, stderr) = run_cli(
        &db,
        &[
            "report",
            "kpis",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let k: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(k["conversion"]["rate"], 0.5);
    db.drop_database().await;
}
