//! The binary's configuration handling as an operator meets it: `config
//! check` prints the effective settings with every secret masked, and a bad
//! file or value stops the process with exit code 2 and the key's name.

use std::process::{Command, Output};

use tests::app::binary_path;

/// Runs `referral-worker ARGS` in an empty directory with only `env` set
/// (so no stray `referral-worker.toml` or `REFERRAL_WORKER__*` is read).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!("rw-cli-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cmd = Command::new(binary_path());
    cmd.args(args).current_dir(&dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the binary");
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_masked() {
    let out = run(
        &["config", "check"],
        &[
            (
                "DATABASE_URL",
                "postgres://app:hunter2@db.internal/referrals",
            ),
            ("REDIS_URL", "redis://:s3cret-redis@cache.internal:6379"),
            (
                "REFERRAL_WORKER__WEBHOOKS__GREENHOUSE_SECRET",
                "gh-very-secret-value",
            ),
            ("REFERRAL_WORKER__QUEUE__CONCURRENCY", "128"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("concurrency = 128"),
        "env overrides apply:\n{stdout}"
    );
    assert!(
        stdout.contains("db.internal"),
        "the host is shown:\n{stdout}"
    );
    for secret in ["hunter2", "s3cret-redis", "gh-very-secret-value"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stdout}"
        );
    }
}

#[test]
fn an_unknown_key_in_the_file_exits_2_naming_it() {
    let dir = std::env::temp_dir().join(format!("rw-cli-cfg-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[queue]\nconcurency = 5\n").expect("write config");
    let out = run(
        &[
            "--config",
            file.to_str().expect("utf-8 path"),
            "config",
            "check",
        ],
        &[],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("queue.concurency"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_value_from_the_environment_exits_2_naming_the_key() {
    let out = run(
        &["config", "check"],
        &[("REFERRAL_WORKER__QUEUE__LEASE", "soon")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("queue.lease"), "{stderr}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let out = run(
        &[
            "--config",
            "/nonexistent/referral-worker.toml",
            "config",
            "check",
        ],
        &[],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/referral-worker.toml"),
        "{stderr}"
    );
}

#[test]
fn migrate_applies_the_schema_to_a_fresh_database() {
    let path = std::env::temp_dir().join(format!("rw-cli-migrate-{}.db", ulid::Ulid::generate()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let first = run(&["migrate"], &[("DATABASE_URL", &url)]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
    let again = run(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(again.status.success());
    assert!(
        text(&again).0.contains("0 new"),
        "a second run has nothing to do"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

// ---------------------------------------------------------------------------
// ops
// ---------------------------------------------------------------------------

/// A fresh, migrated SQLite file's URL, and its path (to remove).
fn migrated_sqlite() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("rw-cli-ops-{}.db", ulid::Ulid::generate()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let out = run(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", text(&out).1);
    (url, path)
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn ops_queues_json_and_stuck_answer_on_a_fresh_database() {
    let (url, path) = migrated_sqlite();
    let env = [("DATABASE_URL", url.as_str())];
    let out = run(&["ops", "queues", "--json"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let queue = &doc["queues"][0];
    assert_eq!(queue["backend"], "sql", "{doc}");
    let states = queue["states"].as_array().expect("states");
    assert_eq!(states.len(), 7, "{doc}");
    assert!(states.iter().all(|s| s["count"] == 0), "{doc}");

    let out = run(&["ops", "stuck"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("nothing is stuck"), "{stdout}");
    let out = run(&["ops", "stuck", "--json"], &env);
    let doc: serde_json::Value = serde_json::from_str(&text(&out).0).expect("JSON");
    assert_eq!(doc["count"], 0);

    let out = run(&["ops", "queues"], &env);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("state") && stdout.contains("dead"),
        "a table: {stdout}"
    );
    remove_sqlite(&path);
}

#[test]
fn ops_with_a_bad_id_exits_2_and_an_unknown_one_exits_1_with_a_message() {
    let (url, path) = migrated_sqlite();
    let env = [("DATABASE_URL", url.as_str())];
    for args in [
        &["ops", "job", "not-a-job"][..],
        &["ops", "retry", "42", "--reason", "r"],
        &["ops", "approve", "abc", "--reason", "r"],
        &["ops", "workflow", "-3"],
    ] {
        let out = run(args, &env);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
    let out = run(&["ops", "job", "nope"], &env);
    assert!(text(&out).1.contains("not a job id"), "{}", text(&out).1);
    let out = run(&["ops", "approve", "5"], &env);
    assert_eq!(out.status.code(), Some(2), "--reason is required");
    assert!(text(&out).1.contains("--reason"), "{}", text(&out).1);

    let out = run(&["ops", "approve", "12345", "--reason", "why"], &env);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("payout 12345"), "{stderr}");
    let out = run(&["ops", "job", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("not found"), "{}", text(&out).1);
    let out = run(
        &["ops", "jobs", "--from", "2030-01-02", "--to", "2030-01-01"],
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    remove_sqlite(&path);
}

#[tokio::test]
async fn ops_lists_and_cancels_a_job_on_redis_with_a_dry_run_first() {
    use jobs::job::{Job, Probe};
    use queue::{JobId, JobState, RetryPolicies};
    use tests::{
        app::{delete_redis_prefix, redis_store, worker_env},
        queue::{redis_url, unique_prefix},
    };

    let db = tests::db::fresh_postgres().await;
    db.migrate().await.expect("migrate");
    let prefix = unique_prefix();
    let queue = redis_store(&prefix).await;
    let new = Job::Probe(Probe {
        sleep_ms: 0,
        fail_attempts: 0,
        permanent_failure: false,
    })
    .to_new_job(&RetryPolicies::default())
    .expect("job")
    .run_after(std::time::Duration::from_secs(3600));
    let id = queue.enqueue(new).await.expect("enqueue").id.to_string();
    let env = worker_env(&db.url, Some((&redis_url(), &prefix)));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let out = run(&["ops", "queues", "--json"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["queues"][0]["backend"], "redis");
    let scheduled = doc["queues"][0]["states"]
        .as_array()
        .expect("states")
        .iter()
        .find(|s| s["state"] == "scheduled")
        .cloned()
        .expect("scheduled");
    assert_eq!(scheduled["count"], 1, "{doc}");
    assert_eq!(scheduled["oldest"]["job_id"], id.as_str());

    let out = run(&["ops", "jobs", "--state", "scheduled"], &env);
    assert!(text(&out).0.contains(&id), "{}", text(&out).0);

    let out = run(
        &["ops", "cancel", &id, "--reason", "not needed", "--dry-run"],
        &env,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("dry run"), "{stdout}");
    let job_id = JobId::parse(&id).expect("id");
    let state = |q: queue::QueueStore, id: JobId| async move {
        q.get(&id).await.expect("get").expect("job").state
    };
    assert_eq!(
        state(queue.clone(), job_id.clone()).await,
        JobState::Scheduled
    );

    let out = run(
        &[
            "ops",
            "cancel",
            &job_id.to_string(),
            "--reason",
            "not needed",
            "--json",
        ],
        &env,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["from"], "scheduled");
    assert_eq!(doc["to"], "cancelled");
    assert!(doc["audit_event_id"].is_i64(), "{doc}");
    assert_eq!(
        state(queue.clone(), job_id.clone()).await,
        JobState::Cancelled
    );

    let out = run(
        &["ops", "cancel", &job_id.to_string(), "--reason", "again"],
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("cancelled"), "{}", text(&out).1);
    delete_redis_prefix(&prefix).await;
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// reconcile and retention
// ---------------------------------------------------------------------------

#[test]
fn reconcile_and_a_retention_dry_run_answer_on_a_fresh_database() {
    let (url, path) = migrated_sqlite();
    let env = [("DATABASE_URL", url.as_str())];
    let out = run(&["reconcile", "--dry-run", "--json"], &env);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "nothing to find on a fresh database: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(report["dry_run"], true);
    assert!(report["run_id"].as_i64().is_some(), "{report}");
    assert_eq!(report["variances"].as_array().map(Vec::len), Some(0));
    let out = run(&["reconcile"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("0 variance(s)"), "{stdout}");

    let out = run(&["retention", "purge", "--dry-run"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("would erase 0 candidate(s)"), "{stdout}");
    let out = run(&["retention", "purge", "--bogus"], &env);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    remove_sqlite(&path);
}
