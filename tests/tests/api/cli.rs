//! The binary's configuration handling as an operator meets it: `config
//! check` prints the effective settings with every secret masked, and a bad
//! file or value stops the process with exit code 2 and the key's name;
//! `migrate` and `migrate status`; the one-shot commands.

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

/// The deployment spellings: `PORT`, and secrets handed over as files
/// (`DATABASE_URL_FILE`, `REFERRAL_WORKER__..._FILE`), as Docker secrets and
/// systemd credentials do. `config check` shows them applied and masked.
#[test]
fn config_check_reads_port_and_secret_files_and_masks_them() {
    let dir = std::env::temp_dir().join(format!("rw-cli-secrets-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db_file = dir.join("database_url");
    std::fs::write(
        &db_file,
        "postgres://app:file-hunter2@db.internal/referrals\n",
    )
    .expect("write");
    let gh_file = dir.join("greenhouse_secret");
    std::fs::write(&gh_file, "gh-secret-from-a-file\n").expect("write");
    let out = run(
        &["config", "check"],
        &[
            ("PORT", "8081"),
            ("DATABASE_URL_FILE", db_file.to_str().expect("utf-8 path")),
            (
                "REFERRAL_WORKER__WEBHOOKS__GREENHOUSE_SECRET_FILE",
                gh_file.to_str().expect("utf-8 path"),
            ),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(r#"listen = "0.0.0.0:8081""#), "{stdout}");
    assert!(
        stdout.contains("postgres://app:***@db.internal/referrals"),
        "{stdout}"
    );
    assert!(stdout.contains(r#"greenhouse_secret = "***""#), "{stdout}");
    for secret in ["file-hunter2", "gh-secret-from-a-file"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
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

/// Harvest v1's keys, from a file or the environment, stop `config check`
/// and start-up alike (exit 2) with what to set instead; the old key's
/// value is never printed.
#[test]
fn the_harvest_v1_keys_are_refused_saying_what_to_set_instead() {
    let dir = std::env::temp_dir().join(format!("rw-cli-gh-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("v1.toml");
    std::fs::write(
        &file,
        "[ats.greenhouse]\napi_key = \"v1-key-do-not-print\"\non_behalf_of = \"4410007\"\n",
    )
    .expect("write config");
    let path = file.to_str().expect("utf-8 path");
    for args in [
        vec!["--config", path, "config", "check"],
        vec!["--config", path, "serve"],
    ] {
        let out = run(&args, &[]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for needle in [
            "ats.greenhouse.api_key",
            "Harvest v1 is gone",
            "Harvest V3 (OAuth)",
            "ats.greenhouse.client_id",
            "ats.greenhouse.client_secret",
            "ats.greenhouse.user_id",
            "Site Admin",
        ] {
            assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
        }
        assert!(
            !stdout.contains("v1-key-do-not-print") && !stderr.contains("v1-key-do-not-print"),
            "{args:?}: {stderr}"
        );
    }
    let out = run(
        &["config", "check"],
        &[("REFERRAL_WORKER__ATS__GREENHOUSE__ON_BEHALF_OF", "4410007")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ats.greenhouse.on_behalf_of")
            && stderr.contains("REFERRAL_WORKER__ATS__GREENHOUSE__ON_BEHALF_OF")
            && stderr.contains("ats.greenhouse.user_id"),
        "{stderr}"
    );
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

/// `config check` refuses a signing secret exactly as start-up does (exit
/// 2 naming the key, the secret never printed), and accepts what the
/// official Standard Webhooks libraries accept: padded or unpadded base64.
#[test]
fn config_check_validates_whsec_secrets_as_start_up_does() {
    // 32 bytes: base64 ends in one `=`, dropped in the unpadded spelling.
    let padded = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";
    let unpadded = padded.trim_end_matches('=');
    for key in [
        "REFERRAL_WORKER__WEBHOOKS__CAREERS_SITE_SECRET",
        "REFERRAL_WORKER__PAYOUTS__DESTINATION_SECRET",
    ] {
        let with_url = |secret: &str| {
            let mut env = vec![(key, secret.to_string())];
            if key.contains("PAYOUTS") {
                env.push((
                    "REFERRAL_WORKER__PAYOUTS__DESTINATION_URL",
                    "https://bonus.example.com/hook".into(),
                ));
            }
            env
        };
        for good in [padded, unpadded] {
            let env = with_url(good);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = run(&["config", "check"], &env);
            assert!(out.status.success(), "{key}={good}: {}", text(&out).1);
        }
        for bad in ["whsec_not*base64!", "whsec_c2hvcnQ", "whsec_"] {
            let env = with_url(bad);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = run(&["config", "check"], &env);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{key}={bad}: {stdout}{stderr}");
            let named = key
                .trim_start_matches("REFERRAL_WORKER__")
                .replace("__", ".")
                .to_lowercase();
            assert!(stderr.contains(&named), "{named} named: {stderr}");
            // (A bare `whsec_` is only the prefix, which the message names.)
            assert!(
                bad == "whsec_" || !stderr.contains(bad),
                "the secret is not printed: {stderr}"
            );
        }
    }
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

/// `migrate status` lists every migration this binary knows, in order,
/// `applied` or `pending`, and changes nothing: on a database never
/// migrated (not even the migrations table is created), on one migrated
/// part of the way, and after `migrate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_status_lists_applied_and_pending_migrations_and_changes_nothing() {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};

    let db = tests::db::fresh_postgres().await;
    let env = [("DATABASE_URL", db.url.as_str())];
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let total = names.len();
    assert!(total > 2, "{names:?}");
    let status_lines = |out: &Output| -> Vec<String> {
        let (stdout, stderr) = text(out);
        assert!(out.status.success(), "{stderr}");
        stdout.lines().map(str::to_owned).collect()
    };

    let never = status_lines(&run(&["migrate", "status"], &env));
    let expected: Vec<String> = names
        .iter()
        .map(|n| format!("pending  {n}"))
        .chain([format!("0 applied, {total} pending")])
        .collect();
    assert_eq!(never, expected);
    let tables = db
        .conn
        .query_one_raw(Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'seaql_migrations'",
        ))
        .await
        .expect("query")
        .and_then(|row| row.try_get::<i64>("", "n").ok());
    assert_eq!(tables, Some(0), "status created the migrations table");

    Migrator::up(&db.conn, Some(2)).await.expect("apply two");
    let out = run(&["migrate", "status", "--json"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["applied"], 2, "{report}");
    assert_eq!(report["pending"], total - 2, "{report}");
    for (i, name) in names.iter().enumerate() {
        let row = &report["migrations"][i];
        assert_eq!(row["name"], name.as_str(), "{report}");
        let status = if i < 2 { "applied" } else { "pending" };
        assert_eq!(row["status"], status, "{report}");
    }

    assert!(run(&["migrate"], &env).status.success());
    let after = status_lines(&run(&["migrate", "status"], &env));
    assert_eq!(after.last(), Some(&format!("{total} applied, 0 pending")));
    assert!(
        after[..total].iter().all(|l| l.starts_with("applied  ")),
        "{after:?}"
    );
    db.drop_database().await;
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
