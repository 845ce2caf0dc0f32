//! Hire → bonus latency (issue 22): the time from the `202` of a hire
//! delivery to the bonus receiver's receipt of that hire's tranche, with
//! the service as production runs it: one `web` and two `work` processes of
//! the real binary on PostgreSQL + Redis.
//!
//! Set-up (not timed): `BENCH_HIRES` careers-site applications through one
//! employee's referral link, each credited. Then the hires, as
//! `application.status_changed` deliveries at `BENCH_RATE` per second (one
//! run per rate, fresh applications each); the bonus receiver (a real local
//! server verifying the Standard Webhooks signature) notes when each hire
//! tranche arrives. Prints p50, p99 and the slowest, and any hire whose
//! tranche never came within a minute. The bonus destination's rate limit
//! is raised to 500 per second per process (the shipped 10 would be the
//! bottleneck by design: a courtesy to the receiver, not latency).
//!
//! ```sh
//! cargo build --release -p worker --bin referral-worker
//! cargo run --release -p tests --bin bench_hire_latency          # 50 and 200 per second, 10 s each
//! BENCH_RATES=200 BENCH_SECONDS=20 cargo run --release -p tests --bin bench_hire_latency
//! ```
//!
//! The `referral-worker` binary is the one next to this executable unless
//! `REFERRAL_WORKER_BIN` names another.
//!
//! Where the time goes: over each rate's timed phase it also reads the CPU
//! time (`/proc/<pid>/stat`) of the `web` and `work` processes, of
//! redis-server and of every PostgreSQL process, and the bench database's
//! commits (`pg_stat_database`), and prints them per hire. CPU per hire is
//! what bounds the rate two cores can sustain, and unlike wall time it
//! holds when the machine is shared (PostgreSQL's figure counts every
//! database's work, so it is only clean on a quiet server).
//! `BENCH_LOG_STATEMENTS=1` also has PostgreSQL log every statement of the
//! bench database (`ALTER DATABASE … SET log_statement = 'all'`, to the
//! server's log), to see which ones a hire costs.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::Utc;
use entities::{application, referral};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::{DbDriver, fresh_db, setting_var, spawn_process},
    destinations::BONUS_SECRET,
    fixtures::{CAREERS_SITE_SECRET, careers_site_headers, tokens, unique},
    process_config::ProcessConfig,
    queue::{redis_url, unique_prefix},
    receiver::Receiver,
};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bonus POSTs per second each process may send (see the config).
const BONUS_RATE: u32 = 500;

fn config(port: u16, bonus: &str) -> String {
    ProcessConfig::new(port, "bench", bonus, "90days")
        // The shipped 10 per second per process is a courtesy to the
        // receiver that would cap 200 hires/s at 20 bonus POSTs/s with two
        // workers: the bench measures the pipeline, so the receiver here
        // takes 500/s per process.
        .with(
            "payouts",
            format!("destination_requests_per_second = {BONUS_RATE}"),
        )
        .render()
}

async fn post_careers(client: &reqwest::Client, base: &str, body: &Value) -> reqwest::Response {
    let bytes = body.to_string().into_bytes();
    let mut req = client.post(format!("{base}/webhooks/applications"));
    for (k, v) in careers_site_headers(
        CAREERS_SITE_SECRET,
        &unique("msg_"),
        Utc::now().timestamp(),
        &bytes,
    ) {
        req = req.header(k, v);
    }
    req.header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .expect("POST to the service")
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are the 14th and 15th fields of the line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Every process whose command name is `name`.
fn pids_named(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == name)
                .unwrap_or(false)
        })
        .collect()
}

/// CPU seconds so far per component, and the bench database's commits.
struct Usage {
    cpu: Vec<(&'static str, f64)>,
    commits: i64,
}

async fn usage(procs: &[(&'static str, u32)], db: &sea_orm::DatabaseConnection) -> Usage {
    use sea_orm::{ConnectionTrait, Statement};
    let mut cpu: Vec<(&'static str, f64)> = Vec::new();
    for (name, pid) in procs {
        let s = cpu_seconds(*pid).unwrap_or(0.0);
        match cpu.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += s,
            None => cpu.push((name, s)),
        }
    }
    for (name, comm) in [
        ("redis-server", "redis-server"),
        ("postgres (all)", "postgres"),
    ] {
        let s: f64 = pids_named(comm).into_iter().filter_map(cpu_seconds).sum();
        cpu.push((name, s));
    }
    let commits = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await
        .ok()
        .flatten()
        .and_then(|row| row.try_get_by_index::<i64>(0).ok())
        .unwrap_or(0);
    Usage { cpu, commits }
}

fn print_cost(before: &Usage, after: &Usage, hires: usize) {
    let per_hire = |a: f64, b: f64| (a - b) * 1000.0 / hires as f64;
    let mut total = 0.0;
    let parts: Vec<String> = after
        .cpu
        .iter()
        .zip(&before.cpu)
        .map(|((name, a), (_, b))| {
            let ms = per_hire(*a, *b);
            total += ms;
            format!("{name} {ms:.2}")
        })
        .collect();
    println!(
        "  CPU ms per hire: {} (total {total:.2}: at most {:.0} hires/s on 2 cores); {:.1} commits per hire",
        parts.join(", "),
        2000.0 / total.max(0.001),
        (after.commits - before.commits) as f64 / hires as f64
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::var_os("REFERRAL_WORKER_BIN").is_none() {
        let exe = std::env::current_exe().expect("this executable");
        let bin = exe.with_file_name("referral-worker");
        // SAFETY: set before any other thread reads the environment.
        unsafe { std::env::set_var("REFERRAL_WORKER_BIN", bin) };
    }
    let seconds = env_number("BENCH_SECONDS", 10);
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "50,200".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let db = fresh_db(DbDriver::Postgres).await;
    db.migrate().await.expect("migrate");
    if std::env::var_os("BENCH_LOG_STATEMENTS").is_some() {
        use sea_orm::ConnectionTrait;
        let name: String = db
            .url
            .rsplit('/')
            .next()
            .and_then(|n| n.split('?').next())
            .unwrap_or_default()
            .to_owned();
        db.conn
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{name}\" SET log_statement = 'all'"
            ))
            .await
            .expect("log statements");
        println!("logging every statement of database {name}");
    }
    let prefix = unique_prefix();
    let bonus = Receiver::builder().secret(BONUS_SECRET).start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(unique("bench-latency-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config_path = dir.join("bench.toml");
    std::fs::write(&config_path, config(port, &bonus.url("/bonus"))).expect("config");
    let config_path = config_path.display().to_string();
    // The shipped defaults (lease, heartbeat, polling, concurrency): only
    // where the storage is and the queue's key prefix.
    let env = vec![
        ("DATABASE_URL".to_string(), db.url.clone()),
        ("REDIS_URL".to_string(), redis_url()),
        (setting_var("queue.prefix"), prefix.clone()),
        (setting_var("log.filter"), "warn".to_string()),
    ];
    let mut procs = vec![spawn_process(
        &["--config", &config_path, "web", "--no-migrate"],
        env.clone(),
    )];
    for _ in 0..2 {
        procs.push(spawn_process(
            &["--config", &config_path, "work", "--no-migrate"],
            env.clone(),
        ));
    }
    let base = format!("http://127.0.0.1:{port}");
    let client = tests::app::client_builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("a client");
    let up = Instant::now();
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "the service did not come up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ok = client
        .post(format!("{base}/api/employees"))
        .bearer_auth(tokens::OPS)
        .json(&json!({ "employee_id": "E-BENCH", "email": "bench@acme-example.com", "name": "Bench" }))
        .send()
        .await
        .expect("employee");
    assert!(ok.status().is_success(), "employee: {}", ok.status());
    let link: Value = client
        .post(format!("{base}/api/referral-links"))
        .bearer_auth(tokens::OPS)
        .json(&json!({ "employee_id": "E-BENCH", "job_id": "J-BENCH" }))
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("link json");
    let token = link["token"].as_str().expect("a token").to_owned();

    for rate in rates {
        let hires = (rate * seconds) as usize;
        // Set-up: credited applications, not timed.
        let submissions: Vec<String> = (0..hires).map(|_| unique("sub_bench_")).collect();
        // Sixteen at a time, as a careers site would post them; a 429 (the
        // service shedding load) is sent again after a moment.
        use futures::StreamExt as _;
        futures::stream::iter(submissions.iter().map(|sub| {
            let body = json!({
                "type": "application.submitted", "submission_id": sub,
                "submitted_at": Utc::now().to_rfc3339(),
                "job": { "ats": "careers_site", "ats_job_id": "J-BENCH", "title": "Engineer" },
                "tracking": { "ref": token },
                "applicant": { "first_name": "Bench", "last_name": "Candidate",
                               "email": format!("{sub}@example.org") },
            });
            let (client, base) = (client.clone(), base.clone());
            async move {
                loop {
                    match post_careers(&client, &base, &body).await.status().as_u16() {
                        202 => return,
                        429 | 503 => tokio::time::sleep(Duration::from_millis(200)).await,
                        other => panic!("a set-up delivery answered {other}"),
                    }
                }
            }
        }))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
        let referral_of: HashMap<String, String> = loop {
            let apps = application::Entity::find()
                .filter(application::Column::AtsApplicationId.is_in(submissions.clone()))
                .all(&db.conn)
                .await
                .expect("applications");
            let refs = referral::Entity::find()
                .filter(referral::Column::ApplicationId.is_in(apps.iter().map(|a| a.id)))
                .all(&db.conn)
                .await
                .expect("referrals");
            if refs.len() == hires {
                let by_app: HashMap<i64, String> = apps
                    .into_iter()
                    .map(|a| (a.id, a.ats_application_id))
                    .collect();
                break refs
                    .into_iter()
                    .filter_map(|r| Some((by_app.get(&r.application_id?)?.clone(), r.public_id)))
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };

        // The hires, at `rate` per second; each one's 202 is its clock.
        let pids: Vec<(&'static str, u32)> = procs
            .iter()
            .enumerate()
            .map(|(i, p)| (if i == 0 { "web" } else { "work" }, p.pid()))
            .collect();
        let before = usage(&pids, &db.conn).await;
        let started = Instant::now();
        let gap = Duration::from_secs_f64(1.0 / rate as f64);
        let mut inflight = Vec::new();
        for (i, sub) in submissions.iter().enumerate() {
            let due = started + gap * i as u32;
            tokio::time::sleep_until(due.into()).await;
            let body = json!({
                "type": "application.status_changed", "changed_at": Utc::now().to_rfc3339(),
                "application": { "id": sub, "ats": "careers_site", "status": "hired" },
            });
            let (client, base, referral) = (client.clone(), base.clone(), referral_of[sub].clone());
            inflight.push(tokio::spawn(async move {
                let response = post_careers(&client, &base, &body).await;
                assert_eq!(response.status().as_u16(), 202, "a hire delivery");
                (referral, Instant::now())
            }));
        }
        let accepted: HashMap<String, Instant> = futures::future::join_all(inflight)
            .await
            .into_iter()
            .map(|r| r.expect("a hire task"))
            .collect();
        let sent_in = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(60);
        let received = loop {
            let got: HashMap<String, Instant> = bonus
                .requests()
                .into_iter()
                .filter(|r| r.body["data"]["milestone"] == "hired")
                .filter_map(|r| Some((r.body["data"]["referral_id"].as_str()?.to_owned(), r.at)))
                .filter(|(id, _)| accepted.contains_key(id))
                .collect();
            if got.len() == hires || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut latencies: Vec<Duration> = received
            .iter()
            .map(|(id, at)| at.saturating_duration_since(accepted[id]))
            .collect();
        latencies.sort();
        let after = usage(&pids, &db.conn).await;
        println!(
            "rate {rate}/s: {hires} hires sent in {:.1} s; tranches received {}/{hires}",
            sent_in.as_secs_f64(),
            latencies.len()
        );
        if !latencies.is_empty() {
            println!(
                "  202 -> bonus POST received: p50 {} ms, p99 {} ms, max {} ms",
                percentile(&latencies, 0.50).as_millis(),
                percentile(&latencies, 0.99).as_millis(),
                latencies[latencies.len() - 1].as_millis()
            );
        }
        print_cost(&before, &after, hires);
    }
    for mut p in procs {
        p.kill();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
