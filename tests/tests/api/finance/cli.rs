//! The CLI: `audit verify`, `export` and `report kpis` as processes.

use super::{
    audit_chain::{append_events, event_ids, migrated},
    exports::{payout_public, referral_public_id},
    *,
};

pub(super) async fn run_cli(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let mut process: TestProcess = spawn_process(args, worker_env(&db.url, None));
    let status = process.wait_exit(CLI_EXIT).await;
    (status.code(), process.stdout(), process.stderr())
}

#[tokio::test]
pub(super) async fn audit_verify_exits_0_on_an_untouched_chain_and_1_naming_the_tampered_row() {
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
pub(super) async fn the_cli_exports_payouts_to_a_file() {
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
pub(super) async fn the_cli_refuses_a_period_that_ends_before_it_starts() {
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
pub(super) async fn report_kpis_prints_a_table_or_json() {
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
