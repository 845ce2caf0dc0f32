//! `referral-worker demo` as a newcomer runs it: the real binary, nothing
//! configured, walks one referral from link to audit and prints each hop;
//! a bonus receiver holding the wrong secret fails the `bonus` hop, and
//! the run exits 1 naming it.

use std::{path::Path, time::Duration};

use tests::app::{binary_path, spawn_process};

/// The hops the demo prints, in order.
const HOPS: [&str; 7] = [
    "link",
    "application",
    "attribution",
    "hire",
    "probation",
    "bonus",
    "audit",
];

/// Long enough for the walk (its own timeout is shorter) on a busy machine.
const WITHIN: Duration = Duration::from_secs(150);

/// The hop line of `hop` in `stdout`: `  <hop> ok|FAIL <at> (+<took>) <what>`.
fn hop_line<'a>(stdout: &'a str, hop: &str) -> Option<&'a str> {
    stdout.lines().find(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(hop) && matches!(words.next(), Some("ok" | "FAIL"))
    })
}

/// An empty directory for the process's `TMPDIR`, to see what it leaves.
fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rw-demo-tmp-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("create TMPDIR");
    dir
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[tokio::test]
async fn the_demo_walks_a_referral_through_every_hop_and_leaves_a_verifiable_database() {
    let data = temp_dir();
    let data_arg = data.to_string_lossy().into_owned();
    let mut demo = spawn_process(
        &["demo", "--data-dir", &data_arg, "--timeout", "120s"],
        Vec::<(String, String)>::new(),
    );
    let status = demo.wait_exit(WITHIN).await;
    let (stdout, stderr) = (demo.stdout(), demo.stderr());
    assert!(
        status.success(),
        "{status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for hop in HOPS {
        let line =
            hop_line(&stdout, hop).unwrap_or_else(|| panic!("no `{hop}` line in:\n{stdout}"));
        assert!(
            line.split_whitespace().nth(1) == Some("ok"),
            "{hop}: {line}\n{stdout}"
        );
    }
    let bonus = hop_line(&stdout, "bonus").expect("bonus line");
    assert!(
        bonus.contains("2 signed POST(s) received, signature verified"),
        "{bonus}"
    );
    assert!(
        bonus.contains("hire EUR 50000") && bonus.contains("probation EUR 50000"),
        "{bonus}"
    );
    let probation = hop_line(&stdout, "probation").expect("probation line");
    assert!(
        probation.contains("probation_complete reached"),
        "{probation}"
    );
    assert!(stdout.contains("demo: every hop passed"), "{stdout}");

    // The database it kept is a real one: the CLI verifies its audit
    // chain on its own, and finds the two payouts delivered.
    let db = data.join("referral-worker-demo.db");
    assert!(db.is_file(), "{} missing", db.display());
    let url = format!("sqlite://{}", db.display());
    let out = std::process::Command::new(binary_path())
        .args(["audit", "verify"])
        .env_clear()
        .env("DATABASE_URL", &url)
        .current_dir(&data)
        .output()
        .expect("run audit verify");
    let verified = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && verified.starts_with("OK: "),
        "{verified}"
    );
    let out = std::process::Command::new(binary_path())
        .args(["ops", "payouts", "--state", "delivered", "--json"])
        .env_clear()
        .env("DATABASE_URL", &url)
        .current_dir(&data)
        .output()
        .expect("run ops payouts");
    let page: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("ops payouts --json prints JSON");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{page}");
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn a_bonus_receiver_with_the_wrong_secret_fails_the_bonus_hop_and_the_run() {
    let tmp = temp_dir();
    let mut demo = spawn_process(
        &["demo", "--break-bonus-secret", "--timeout", "120s"],
        [("TMPDIR", tmp.to_string_lossy().into_owned())],
    );
    let status = demo.wait_exit(WITHIN).await;
    let (stdout, stderr) = (demo.stdout(), demo.stderr());
    assert_eq!(
        status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for hop in ["link", "application", "attribution", "hire"] {
        let line = hop_line(&stdout, hop).unwrap_or_else(|| panic!("no `{hop}`:\n{stdout}"));
        assert_eq!(line.split_whitespace().nth(1), Some("ok"), "{line}");
    }
    let bonus = hop_line(&stdout, "bonus").unwrap_or_else(|| panic!("no bonus line:\n{stdout}"));
    assert_eq!(bonus.split_whitespace().nth(1), Some("FAIL"), "{bonus}");
    assert!(
        bonus.contains("refused") && bonus.contains("401"),
        "{bonus}"
    );
    assert!(
        hop_line(&stdout, "audit").is_none(),
        "nothing after the failed hop:\n{stdout}"
    );
    assert!(
        stderr.contains("demo failed at hop `bonus`"),
        "stderr names the hop:\n{stderr}"
    );
    assert!(is_empty(&tmp), "the temporary database was not removed");
    let _ = std::fs::remove_dir_all(&tmp);
}
