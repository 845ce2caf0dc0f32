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
