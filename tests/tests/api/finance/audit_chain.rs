//! `audit verify` on an untouched and a tampered hash chain, SQLite and
//! PostgreSQL.

use super::*;

pub(super) async fn migrated(driver: DbDriver) -> TestDb {
    let db = fresh_db(driver).await;
    db.migrate().await.expect("migrate");
    db
}

/// Appends `n` events in one locked transaction, as the service would.
pub(super) async fn append_events(db: &DatabaseConnection, n: usize) {
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

pub(super) async fn event_ids(db: &DatabaseConnection) -> Vec<i64> {
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
pub(super) async fn allow_tampering(db: &TestDb) {
    if db.backend() == sea_orm::DbBackend::Postgres {
        db.conn
            .execute_unprepared("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
            .await
            .expect("disable the append-only trigger");
    }
}

/// Holds `lanes`' advisory locks on a session of its own, as a transaction
/// committing on them would, until the returned connection is dropped.
pub(super) async fn hold_lanes(
    db: &TestDb,
    lanes: impl Iterator<Item = i16>,
) -> DatabaseConnection {
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
pub(super) async fn a_commit_appends_to_the_lane_no_one_else_is_committing_on() {
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
pub(super) async fn transactions_committing_together_spread_over_lanes_and_every_lane_verifies() {
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

pub(super) async fn an_untouched_chain_verifies(driver: DbDriver) {
    let db = migrated(driver).await;
    // More than one page of the verifier.
    append_events(&db.conn, 1_205).await;
    let outcome = audit::verify(&db.conn).await.expect("verify");
    assert_eq!(outcome, Verification::Intact { events: 1_205 });
    db.drop_database().await;
}

#[tokio::test]
pub(super) async fn an_untouched_chain_verifies_on_sqlite() {
    an_untouched_chain_verifies(DbDriver::Sqlite).await;
}

#[tokio::test]
pub(super) async fn an_untouched_chain_verifies_on_postgres() {
    an_untouched_chain_verifies(DbDriver::Postgres).await;
}

#[tokio::test]
pub(super) async fn an_empty_audit_log_verifies() {
    let db = migrated(DbDriver::Sqlite).await;
    assert_eq!(
        audit::verify(&db.conn).await.expect("verify"),
        Verification::Intact { events: 0 }
    );
    db.drop_database().await;
}

pub(super) async fn a_tampered_row_breaks_the_chain_at_that_row(driver: DbDriver) {
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
pub(super) async fn a_tampered_row_breaks_the_chain_at_that_row_on_sqlite() {
    a_tampered_row_breaks_the_chain_at_that_row(DbDriver::Sqlite).await;
}

#[tokio::test]
pub(super) async fn a_tampered_row_breaks_the_chain_at_that_row_on_postgres() {
    a_tampered_row_breaks_the_chain_at_that_row(DbDriver::Postgres).await;
}

#[tokio::test]
pub(super) async fn a_deleted_row_breaks_the_link_of_the_row_after_it() {
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
pub(super) async fn deleting_the_first_row_breaks_the_link_to_genesis() {
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
pub(super) async fn a_row_rewritten_with_a_matching_hash_breaks_the_next_link_on_postgres() {
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
