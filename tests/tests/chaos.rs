//! The chaos suite: referrals through all three intake paths to hire and
//! probation completion while worker processes are SIGKILLed, the queue's
//! Redis data is wiped, and the bonus receiver fails half its requests
//! (500, 429 with Retry-After, answers slower than the client's timeout).
//! Afterwards every payout is delivered, the receiver acknowledged every
//! idempotency key and no tranche under two keys, reconciliation finds no
//! variance and the audit chain verifies.
//!
//! CI runs it small (9 referrals, a handful of kills, the wipe as a delete
//! of this test's Redis prefix, since other tests share the server). The
//! full size runs on demand, alone, because it FLUSHALLs and restarts Redis
//! and restarts PostgreSQL:
//!
//! ```text
//! CHAOS_REFERRALS=10000 CHAOS_KILLS=100 CHAOS_FULL=1 \
//!   cargo test --release -p tests --test chaos -- --ignored --nocapture
//! ```
//!
//! (see docs/CHAOS.md for the figures).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use chrono::Utc;
use entities::{
    inbox::{self, InboxStatus},
    payout::PayoutState,
    referral,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::{
    app::{TestProcess, delete_redis_prefix, setting_var, spawn_process, worker_env},
    db::{TestDb, fresh_postgres},
    destinations::BONUS_SECRET,
    fixtures::{
        CAREERS_SITE_SECRET, CareersApplication, FakeLever, GreenhouseApplication,
        careers_site_headers, greenhouse_secret, greenhouse_signature, lever_body, lever_hired,
        lever_opportunity, lever_signature_token, payouts, tokens, unique,
    },
    process_config::ProcessConfig,
    queue::redis_url,
    receiver::{Receiver, Reply},
};

const PROBATION: &str = "3s";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Half the answers fail: 500, 429 + Retry-After, or slower than the
/// client's 1 s timeout (the idempotent destination gets those again).
fn hostile_script(rng: &mut StdRng, len: usize) -> Vec<Reply> {
    (0..len)
        .map(|_| match rng.random_range(0..6) {
            0 => Reply::status(500),
            1 => Reply::status(429).retry_after("1"),
            2 => Reply::ok().delay(Duration::from_millis(1_500)),
            _ => Reply::ok(),
        })
        .collect()
}

fn config_file(dir: &std::path::Path, port: u16, bonus: &str, lever: &str) -> String {
    let retries: Vec<String> = (0..40)
        .map(|i| format!("\"{}ms\"", 200 + 100 * i.min(18)))
        .collect();
    let text = ProcessConfig::new(port, "chaos", bonus, PROBATION)
        .scopes(&["links", "employees", "ops_read", "ops_admin"])
        .with("queue", "concurrency = 32")
        .with(
            "webhooks",
            format!("greenhouse_secret = \"{}\"", greenhouse_secret()),
        )
        .with(
            "webhooks",
            format!("lever_signature_token = \"{}\"", lever_signature_token()),
        )
        .with("ats.lever", format!("base_url = \"{lever}\""))
        .with("ats.lever", "api_key = \"lever-test-key\"")
        .with("ats.lever", "requests_per_second = 1000")
        .with("payouts", "destination_timeout = \"1s\"")
        .with("payouts", "destination_requests_per_second = 500")
        .with("payouts", "timer_sweep = \"500ms\"")
        .with(
            "payouts",
            format!("retry_schedule = [{}]", retries.join(", ")),
        )
        .render();
    let path = dir.join("chaos.toml");
    std::fs::write(&path, text).expect("write the config");
    path.display().to_string()
}

/// The processes under test: one `serve` (HTTP + workers) and `work`ers.
struct Fleet {
    config: String,
    env: Vec<(String, String)>,
    procs: Vec<TestProcess>,
}

impl Fleet {
    fn spawn(&self, serve: bool) -> TestProcess {
        let role = if serve { "serve" } else { "work" };
        spawn_process(
            &["--config", &self.config, role, "--no-migrate"],
            self.env.clone(),
        )
    }

    fn kill_one(&mut self, rng: &mut StdRng) {
        let i = rng.random_range(0..self.procs.len());
        self.procs[i].kill();
        self.procs[i] = self.spawn(i == 0);
    }
}

/// POSTs until the service answers 2xx (a caller retries while the HTTP
/// process is being restarted, as an ATS does).
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut req = client.post(url).body(body.clone());
        for (k, v) in &headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Ok(r) = req.send().await {
            if r.status().is_success() {
                return;
            }
            assert!(
                r.status().is_server_error(),
                "{url} refused a genuine delivery: {}",
                r.status()
            );
        }
        assert!(Instant::now() < deadline, "{url} never accepted a delivery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A referral link for the chaos referrer, or `None` while `serve` is down.
async fn mint(client: &reqwest::Client, base: &str) -> Option<String> {
    let response = client
        .post(format!("{base}/api/referral-links"))
        .bearer_auth(tokens::OPS)
        .json(&json!({ "employee_id": "E-CHAOS", "job_id": "4012345" }))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let link: Value = response.json().await.ok()?;
    link["token"].as_str().map(str::to_owned)
}

fn careers_headers(body: &[u8]) -> Vec<(String, String)> {
    let mut h = careers_site_headers(
        CAREERS_SITE_SECRET,
        &unique("msg_"),
        Utc::now().timestamp(),
        body,
    );
    h.push(("content-type".into(), "application/json".into()));
    h
}

async fn wipe_queue(prefix: &str, full: bool) {
    if full {
        let client = redis::Client::open(redis_url()).expect("redis");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("FLUSHALL");
    } else {
        delete_redis_prefix(prefix).await;
    }
}

/// Stops Redis without saving and starts it again empty, as `.ci/run`
/// starts it (full mode only: every other user of the server loses its
/// data too).
async fn restart_redis() {
    // SHUTDOWN closes the connection instead of answering: the error is
    // the expected outcome.
    let _ = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis_answers() {
        assert!(Instant::now() < deadline, "Redis did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = std::process::Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--port",
            "6379",
            "--bind",
            "127.0.0.1",
        ])
        .args(["--save", "", "--appendonly", "no"])
        .status()
        .expect("redis-server");
    assert!(status.success(), "starting Redis");
    while !redis_answers() {
        assert!(Instant::now() < deadline, "Redis did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn redis_answers() -> bool {
    std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "ping"])
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
}

fn restart_postgres() {
    let versions = std::fs::read_dir("/etc/postgresql").expect("/etc/postgresql");
    for v in versions.flatten() {
        let status = std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect"])
            .arg(v.file_name())
            .args(["main", "restart"])
            .status()
            .expect("pg_ctlcluster");
        assert!(status.success(), "restarting PostgreSQL");
    }
}

/// Sends referral `n` through its intake path (by `n % 3`); false when
/// its link could not be minted because `serve` is restarting.
async fn send_referral(client: &reqwest::Client, base: &str, lever: &FakeLever, n: usize) -> bool {
    let path = n % 3;
    let email = format!("chaos{n}@example.org");
    match path {
        // The careers site: an application through a referral link,
        // then the generic status event hires it.
        0 | 2 => {
            let Some(token) = mint(client, base).await else {
                // `serve` is restarting; this referral's link comes later.
                return false;
            };
            let application = CareersApplication::new("4012345", &email).referred_by(&token);
            let body = application.body();
            deliver(
                client,
                &format!("{base}/webhooks/applications"),
                careers_headers(&body),
                body,
            )
            .await;
            if path == 0 {
                let hire = serde_json::to_vec(&json!({
                    "type": "application.status_changed",
                    "changed_at": Utc::now(),
                    "application": { "id": application.submission_id, "status": "hired",
                                     "start_date": Utc::now().date_naive().to_string() },
                }))
                .expect("json");
                deliver(
                    client,
                    &format!("{base}/webhooks/applications"),
                    careers_headers(&hire),
                    hire,
                )
                .await;
            } else {
                // Lever: the same person hired in Lever for the same job
                // (the careers site posts Lever's posting id as the job);
                // the opportunity is re-fetched from the (fake) Lever API
                // and the submission's referral moves to it.
                let opportunity = format!("opp-chaos-{n}");
                let mut opp = lever_opportunity(
                    &opportunity,
                    &format!("contact-{n}"),
                    &email,
                    "Hired",
                    "4012345",
                    Utc::now(),
                );
                // The fixture's phone is shared by every opportunity; the
                // phone fallback would rightly match them to one another.
                opp["phones"] = json!([{ "type": "mobile", "value": format!("+4930{:07}", n) }]);
                lever.set_opportunity(&opportunity, lever_hired(opp));
                let body =
                    serde_json::to_vec(&lever_body("candidateHired", &opportunity)).expect("json");
                deliver(
                    client,
                    &format!("{base}/webhooks/lever"),
                    vec![("content-type".into(), "application/json".into())],
                    body,
                )
                .await;
            }
        }
        // Greenhouse: an application credited to the referrer, then
        // its hire announced twice (fan-out).
        _ => {
            let gh = GreenhouseApplication::new(
                5_000_000 + n as u64,
                6_000_000 + n as u64,
                4_012_345,
                &email,
            )
            .credited_to("E-CHAOS");
            let mut events = vec![gh.body()];
            for action in ["candidate_stage_change", "hire_candidate"] {
                let mut e = gh.clone();
                e.action = action.into();
                e.status = "hired".into();
                e.stage = "Hired".into();
                events.push(e.body());
            }
            for body in events {
                let headers = vec![
                    ("content-type".into(), "application/json".into()),
                    ("greenhouse-event-id".into(), unique("ev-")),
                    (
                        "signature".into(),
                        greenhouse_signature(&greenhouse_secret(), &body),
                    ),
                ];
                deliver(
                    client,
                    &format!("{base}/webhooks/greenhouse"),
                    headers,
                    body,
                )
                .await;
            }
        }
    }
    true
}

async fn run_chaos(referrals: usize, kills: usize, full: bool) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(referrals as u64 * 7919 + kills as u64);
    let bonus = Receiver::builder()
        .secret(BONUS_SECRET)
        .script(hostile_script(&mut rng, referrals * 4))
        .start()
        .await;
    let lever = FakeLever::start().await;
    let db: TestDb = fresh_postgres().await;
    let prefix = unique("chaos");
    let dir = std::env::temp_dir().join(unique("chaos-"));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let config = config_file(&dir, port, &bonus.url("/bonus"), &lever.ats.base_url);
    let mut env = worker_env(&db.url, Some((&redis_url(), &prefix)));
    env.retain(|(k, _)| k != &setting_var("http.listen"));
    let mut migrate = spawn_process(&["--config", &config, "migrate"], env.clone());
    assert!(
        migrate.wait_exit(Duration::from_secs(60)).await.success(),
        "migrate: {}",
        migrate.stderr()
    );
    let mut fleet = Fleet {
        config,
        env,
        procs: Vec::new(),
    };
    fleet.procs = vec![fleet.spawn(true), fleet.spawn(false), fleet.spawn(false)];
    let base = format!("http://127.0.0.1:{port}");
    let client = tests::app::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // The referrer, through the API (retrying while `serve` starts).
    let employee = serde_json::to_vec(&json!({ "employee_id": "E-CHAOS",
        "email": "chaos@acme-example.com", "name": "Chaos Referrer", "active": true }))
    .expect("json");
    deliver(
        &client,
        &format!("{base}/api/employees"),
        vec![
            ("authorization".into(), format!("Bearer {}", tokens::OPS)),
            ("content-type".into(), "application/json".into()),
        ],
        employee,
    )
    .await;

    let kill_every = (referrals / kills.max(1)).max(1);
    let parallel = env_number("CHAOS_PARALLEL", 8).max(1);
    let mut killed = 0;
    let mut wiped = false;
    let mut n = 0;
    while n < referrals {
        // A few referrals at a time, as concurrent senders would post them.
        let batch: Vec<usize> = (n..(n + parallel).min(referrals)).collect();
        let sent = futures::future::join_all(
            batch
                .iter()
                .map(|&i| send_referral(&client, &base, &lever, i)),
        )
        .await;
        for (&i, ok) in batch.iter().zip(sent) {
            if !ok {
                while !send_referral(&client, &base, &lever, i).await {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        for &n in &batch {
            if (n + 1) % kill_every == 0 && killed < kills {
                fleet.kill_one(&mut rng);
                killed += 1;
            }
            if !wiped && n >= referrals / 2 {
                wipe_queue(&prefix, full).await;
                if full {
                    restart_redis().await;
                    restart_postgres();
                }
                wiped = true;
            }
        }
        n += batch.len();
    }
    while killed < kills {
        fleet.kill_one(&mut rng);
        killed += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !wiped {
        wipe_queue(&prefix, full).await;
    }

    let conn = sea_orm::Database::connect(&db.url).await.expect("connect");
    let expected = referrals * 2;
    let limit = Duration::from_secs(120 + referrals as u64 / 10);
    let deadline = Instant::now() + limit;
    loop {
        let delivered = payouts(&conn)
            .await
            .iter()
            .filter(|p| p.state == PayoutState::Delivered)
            .count();
        if delivered == expected {
            break;
        }
        if Instant::now() > deadline {
            let mut states: BTreeMap<String, usize> = BTreeMap::new();
            for p in payouts(&conn).await {
                *states.entry(format!("{:?}", p.state)).or_default() += 1;
            }
            let inbox = inbox::Entity::find().all(&conn).await.expect("inbox");
            let stuck: Vec<_> = inbox
                .iter()
                .filter(|r| !matches!(r.status, InboxStatus::Processed | InboxStatus::Ignored))
                .map(|r| (r.id, r.status, r.error.clone()))
                .collect();
            panic!(
                "after {limit:?}: {delivered}/{expected} delivered; payouts {states:?}; \
                 unfinished deliveries {stuck:?}; serve stderr:\n{}",
                fleet.procs[0].stderr()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed();
    drop(fleet);

    // Every tranche once in our ledger, each key acknowledged by the receiver.
    let rows = payouts(&conn).await;
    let referral_count = referral::Entity::find()
        .all(&conn)
        .await
        .expect("referrals")
        .len();
    assert_eq!(
        rows.len(),
        expected,
        "two tranches for each of {referral_count} referrals"
    );
    let mut tranches = BTreeSet::new();
    for p in &rows {
        assert!(
            tranches.insert((p.referral_id, p.tranche.clone())),
            "a tranche twice: {p:?}"
        );
    }
    let keys: BTreeSet<String> = rows.iter().map(|p| p.idempotency_key.clone()).collect();
    let acknowledged: BTreeSet<String> =
        bonus.deliveries_by_idempotency_key().into_keys().collect();
    let missing: Vec<_> = keys.difference(&acknowledged).collect();
    assert!(missing.is_empty(), "never acknowledged: {missing:?}");
    let strangers: Vec<_> = acknowledged.difference(&keys).collect();
    assert!(
        strangers.is_empty(),
        "keys the ledger does not have: {strangers:?}"
    );

    // Reconciliation and the audit chain.
    let mut settings = tests::app::test_settings(&db.url, Some((&redis_url(), &prefix)));
    settings.payouts.destination_url = bonus.url("/bonus");
    settings.payouts.destination_secret = worker::config::Secret::new(BONUS_SECRET);
    let ctx = worker::runtime::connect_job_context(&settings)
        .await
        .expect("context");
    let report = jobs::maintenance::reconcile::run(&ctx, "chaos:final", true, "chaos")
        .await
        .expect("reconcile")
        .expect("a run");
    assert!(
        report.variances.is_empty(),
        "unexplained variance: {:#?}",
        report.variances
    );
    match jobs::db::audit::verify(&conn).await.expect("verify") {
        jobs::db::audit::Verification::Intact { events } => {
            eprintln!(
                "chaos: {referrals} referrals, {killed} kills, {} bonus requests ({} acknowledged keys), \
                 {events} audit events, all delivered in {elapsed:?}",
                bonus.count(),
                acknowledged.len()
            );
        }
        broken => panic!("audit chain broken: {broken:?}"),
    }
    db.drop_database().await;
    delete_redis_prefix(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn referrals_survive_kills_a_queue_wipe_and_a_flaky_receiver() {
    run_chaos(9, 4, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "full size: run alone (it FLUSHALLs and restarts Redis and PostgreSQL)"]
async fn full_chaos() {
    run_chaos(
        env_number("CHAOS_REFERRALS", 10_000),
        env_number("CHAOS_KILLS", 100),
        std::env::var("CHAOS_FULL").is_ok_and(|v| v == "1"),
    )
    .await;
}
