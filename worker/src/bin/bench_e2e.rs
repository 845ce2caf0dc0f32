//! `bench_e2e`: end-to-end figures on PostgreSQL + Redis, one JSON line per
//! figure (the queue alone is measured by `bench`). `docs/PERFORMANCE.md`
//! ("End to end") records runs.
//!
//! ```text
//! cargo build --release -p worker --bin bench_e2e --bin referral-worker
//! ./target/release/bench_e2e intake  --connections 16,64 --seconds 15
//! ./target/release/bench_e2e intake  --service process      # the real binary as a child, its RSS sampled
//! ./target/release/bench_e2e capture --workflows 5000 --concurrency 1,4,16
//! ./target/release/bench_e2e timers  --timers 1000000 --due 10000
//! ./target/release/bench_e2e inbox   --variant current|merged   # diagnostic: the storage half of intake
//! ./target/release/bench_e2e --synchronous-commit-off intake    # diagnostic: without the WAL flush at commit
//! ```
//!
//! * `intake` starts the service (`Application::build`, role `web` unless
//!   `--role all`) on a fresh database (created, migrated, dropped) and a
//!   fresh Redis prefix (deleted), then a built-in HTTP/1.1 keep-alive load
//!   generator POSTs signed careers-site `application.submitted` deliveries,
//!   each with its own `webhook-id`, over N connections for a fixed time.
//!   With `--service process` the service is `target/release/referral-worker
//!   serve` (or `web`) in a child process instead, so its own peak RSS is
//!   read from `/proc/<pid>/status` without the generator in it.
//! * `capture` calls `jobs::capture::capture_application` directly (not
//!   through the queue) for N distinct applications, each carrying a valid
//!   referral link of one of 100 employees, with C at a time.
//! * `timers` arms probation timers as `arm_timer` does (a `probation_due`
//!   job with `run_at` and the same idempotency key shape) through
//!   `enqueue_batch`, measures the time and Redis `used_memory` delta, then
//!   schedules `--due` more at one instant T with a worker (production queue
//!   defaults, no-op handler) running, and reports each job's start minus T.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use apalis::prelude::*;
use clap::{Parser, Subcommand, ValueEnum};
use jobs::job::Job;
use queue::{BackendSettings, Handled, NewJob, QueueBackend, QueueStore, RedisStore, Retention};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use worker::{
    config::{Secret, SecretUrl, Settings},
    runtime::{Application, Role},
};

/// A throwaway `whsec_` secret (31 bytes), only ever used by this bench.
const SECRET: &str = "whsec_Y2FyZWVycy1zaXRlLXRlc3Qtb25seS1zZWNyZXQhIQ==";

#[derive(Parser, Debug)]
#[command(about = "End-to-end benchmarks of referral-worker on PostgreSQL + Redis")]
struct Args {
    /// A PostgreSQL database to create (and drop) the run's database from.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Redis for the queue.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Diagnostic: `ALTER DATABASE .. SET synchronous_commit = off` on the
    /// run's own database, to show what the WAL flush at commit costs.
    #[arg(long)]
    synchronous_commit_off: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Signed webhook deliveries over HTTP against the running service.
    Intake {
        /// Concurrent keep-alive connections; one run per value.
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        connections: Vec<usize>,
        /// Seconds of load per run (after a 2 s warm-up on the same service).
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// What the service runs: `web` (HTTP only) or `all` (HTTP + workers
        /// processing the deliveries).
        #[arg(long, value_enum, default_value_t = RoleArg::Web)]
        role: RoleArg,
        /// In this process (`Application::build`) or the real binary as a child.
        #[arg(long, value_enum, default_value_t = ServiceArg::InProcess)]
        service: ServiceArg,
        /// The service's database pool.
        #[arg(long, default_value_t = 10)]
        db_connections: u32,
    },
    /// Diagnostic: `jobs::intake::inbox::receive` called directly (no HTTP, no
    /// signature check), the storage half of `intake`.
    Inbox {
        /// Calls in flight; one run per value.
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        concurrency: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The database pool.
        #[arg(long, default_value_t = 10)]
        db_connections: u32,
        /// `current`: `jobs::intake::inbox::receive` itself (INSERT … ON CONFLICT DO
        /// NOTHING, enqueue, one UPDATE: two commits). `merged`: the first
        /// session's experiment (SELECT, INSERT, enqueue, one UPDATE), kept
        /// for comparison.
        #[arg(long, value_enum, default_value_t = Variant::Current)]
        variant: Variant,
    },
    /// `capture_application` for distinct referred applications.
    Capture {
        /// Workflows per run.
        #[arg(long, default_value_t = 5000)]
        workflows: usize,
        /// Captures in flight; one run per value.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        concurrency: Vec<usize>,
    },
    /// A million pending probation timers: arm time, Redis memory, firing lag.
    Timers {
        /// Timers armed far in the future.
        #[arg(long, default_value_t = 1_000_000)]
        timers: usize,
        /// Timers then made due at one instant, with a worker running.
        #[arg(long, default_value_t = 10_000)]
        due: usize,
        /// Seconds between the end of arming the due batch and its instant.
        #[arg(long, default_value_t = 3)]
        lead_seconds: u64,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    Web,
    All,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Variant {
    Current,
    Merged,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ServiceArg {
    InProcess,
    Process,
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

fn ulid_lower() -> String {
    ulid::Ulid::generate().to_string().to_lowercase()
}

/// `VmHWM` (peak) and `VmRSS` (now) of a process, MiB.
fn rss_mib(pid: &str) -> (Option<f64>, Option<f64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((kb / 1024.0 * 10.0).round() / 10.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// p50 / p99 / max of `samples` (sorted here), rounded to 0.01.
fn percentiles(samples: &mut [f64]) -> serde_json::Value {
    if samples.is_empty() {
        return json!(null);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| {
        let v = samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        (v * 100.0).round() / 100.0
    };
    json!({"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)})
}

// ---------------------------------------------------------------- fixtures

/// A fresh PostgreSQL database, dropped by [`FreshDb::drop`].
struct FreshDb {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshDb {
    async fn create(admin_url: &str, sync_off: bool) -> anyhow::Result<Self> {
        let name = format!("rw_bench_{}", ulid_lower());
        let admin = Database::connect(
            ConnectOptions::new(admin_url)
                .sqlx_logging(false)
                .to_owned(),
        )
        .await
        .with_context(|| format!("connecting to {admin_url}"))?;
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await?;
        if sync_off {
            admin
                .execute_unprepared(&format!(
                    r#"ALTER DATABASE "{name}" SET synchronous_commit = off"#
                ))
                .await?;
        }
        let _ = admin.close().await;
        let base = admin_url.split('?').next().unwrap_or(admin_url);
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        Ok(Self {
            admin_url: admin_url.to_string(),
            url: format!("{server}/{name}"),
            name,
        })
    }

    async fn drop(self) {
        let result = async {
            let admin = Database::connect(
                ConnectOptions::new(&self.admin_url)
                    .sqlx_logging(false)
                    .to_owned(),
            )
            .await?;
            admin
                .execute_unprepared(&format!(
                    r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                    self.name
                ))
                .await?;
            admin.close().await
        }
        .await;
        if let Err(e) = result {
            eprintln!("dropping database {} failed: {e}", self.name);
        }
    }
}

async fn delete_prefix(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor: u64 = 0;
    loop {
        let reply: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = reply else { return };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

fn settings(db_url: &str, redis_url: &str, prefix: &str, pool: u32) -> anyhow::Result<Settings> {
    let mut s = Settings::default();
    s.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    // Nothing balances load onto a bench: stop at once.
    s.http.shutdown_delay = std::time::Duration::ZERO;
    s.database.url = SecretUrl::new(db_url);
    s.database.max_connections = pool;
    s.queue.redis_url = SecretUrl::new(redis_url);
    s.queue.prefix = prefix.to_string();
    s.webhooks.careers_site_secret = Secret::new(SECRET);
    s.log.filter = "warn".into();
    s.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(s)
}

/// A careers-site `application.submitted` body for a new candidate.
fn application_body(n: u64, tag: &str, referral: Option<&str>) -> String {
    json!({
        "type": "application.submitted",
        "submission_id": format!("sub_{tag}_{n}"),
        "submitted_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "job": { "ats": "greenhouse", "ats_job_id": format!("job-{}", n % 50), "title": "Engineer", "location": "Berlin, Germany" },
        "tracking": { "ref": referral, "ref_source": "query" },
        "applicant": {
            "first_name": "Bench",
            "last_name": "Applicant",
            "email": format!("applicant.{tag}.{n}@example.org"),
            "phone": null,
            "phone_country_hint": null,
        },
        "consent": { "processing": true },
    })
    .to_string()
}

// ------------------------------------------------------------------ intake

/// One keep-alive connection's loop: POST, read the whole answer, repeat.
async fn connection_loop(
    addr: SocketAddr,
    tag: String,
    counter: Arc<AtomicU64>,
    deadline: Instant,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut lat = Vec::with_capacity(100_000);
    let mut non_202 = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut req = Vec::with_capacity(2048);
    while Instant::now() < deadline {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = application_body(n, &tag, None);
        let id = format!("msg_{tag}_{n}");
        let ts = chrono::Utc::now().timestamp();
        let sig = jobs::outbound::webhook::sign(SECRET, &id, ts, body.as_bytes())?;
        req.clear();
        req.extend_from_slice(
            format!(
                "POST /webhooks/applications HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nwebhook-id: {id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {sig}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        req.extend_from_slice(body.as_bytes());
        let t0 = Instant::now();
        stream.write_all(&req).await?;
        buf.clear();
        let status = read_response(&mut stream, &mut buf).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if status == 202 {
            lat.push(ms);
        } else {
            non_202 += 1;
            if non_202 <= 3 {
                eprintln!("status {status}: {}", String::from_utf8_lossy(&buf));
            }
        }
    }
    Ok((lat, non_202))
}

/// Reads one HTTP/1.1 response (Content-Length framed); returns its status.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed mid-body");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

async fn load(
    addr: SocketAddr,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<(f64, u64, u64, Vec<f64>)> {
    let counter = Arc::new(AtomicU64::new(0));
    let tag = ulid_lower();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(connection_loop(
                addr,
                tag.clone(),
                counter.clone(),
                deadline,
            ))
        })
        .collect();
    let mut lat = Vec::new();
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await??;
        lat.extend(l);
        bad += b;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((secs, lat.len() as u64, bad, lat))
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            if let Ok(200) = read_response(&mut s, &mut buf).await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the service did not become ready at {addr}")
}

async fn intake(
    args: &Args,
    connections: &[usize],
    seconds: u64,
    role: RoleArg,
    service: ServiceArg,
    pool: u32,
) -> anyhow::Result<()> {
    let db = FreshDb::create(&args.postgres_url, args.synchronous_commit_off).await?;
    let prefix = format!("bench-e2e-{}", ulid_lower());
    let result = async {
        let s = settings(&db.url, &args.redis_url, &prefix, pool)?;
        let shutdown = CancellationToken::new();
        let mut child = None;
        let (addr, task, pid) = match service {
            ServiceArg::InProcess => {
                let r = if role == RoleArg::All {
                    Role::All
                } else {
                    Role::Web
                };
                let app = Application::build(s, r, true).await?;
                let addr = app.local_addr().context("no HTTP address")?;
                let task = tokio::spawn(app.run_until(shutdown.clone()));
                (addr, Some(task), std::process::id().to_string())
            }
            ServiceArg::Process => {
                let bin = std::env::current_exe()?.with_file_name("referral-worker");
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let c = std::process::Command::new(&bin)
                    .arg(if role == RoleArg::All { "serve" } else { "web" })
                    .env_remove("RUST_LOG")
                    .env("DATABASE_URL", &db.url)
                    .env("REDIS_URL", &args.redis_url)
                    .env("REFERRAL_WORKER__QUEUE__PREFIX", &prefix)
                    .env("REFERRAL_WORKER__HTTP__LISTEN", addr.to_string())
                    .env("REFERRAL_WORKER__DATABASE__MAX_CONNECTIONS", pool.to_string())
                    .env("REFERRAL_WORKER__WEBHOOKS__CAREERS_SITE_SECRET", SECRET)
                    .env("REFERRAL_WORKER__LOG__FILTER", "warn")
                    .env("REFERRAL_WORKER__LOG__FORMAT", "json")
                    .current_dir(std::env::temp_dir())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {}", bin.display()))?;
                let pid = c.id().to_string();
                child = Some(c);
                (addr, None, pid)
            }
        };
        wait_ready(addr).await?;
        let (_, idle_rss) = rss_mib(&pid);
        // Warm-up: connections, statement caches, allocator.
        load(addr, connections[0], 2.0).await?;
        for &n in connections {
            let load_before = load_average();
            let (secs, ok, bad, mut lat) = load(addr, n, seconds as f64).await?;
            let (hwm, rss) = rss_mib(&pid);
            emit(json!({
                "bench": "intake", "service": format!("{service:?}"), "role": format!("{role:?}"),
                "connections": n, "seconds": (secs * 100.0).round() / 100.0,
                "accepted_202": ok, "non_202": bad,
                "requests_per_sec": ((ok + bad) as f64 / secs).round(),
                "latency_ms_202": percentiles(&mut lat),
                "db_pool": pool, "synchronous_commit_off": args.synchronous_commit_off, "loadavg_before": load_before, "loadavg_after": load_average(),
                "service_pid_is_bench": service == ServiceArg::InProcess,
                "service_vm_hwm_mib": hwm, "service_vm_rss_mib": rss, "service_idle_rss_mib": idle_rss,
            }));
        }
        shutdown.cancel();
        if let Some(t) = task {
            let _ = t.await;
        }
        if let Some(mut c) = child {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    delete_prefix(&args.redis_url, &prefix).await;
    db.drop().await;
    result
}

// ----------------------------------------------------------------- capture

async fn capture(args: &Args, workflows: usize, concurrency: &[usize]) -> anyhow::Result<()> {
    let db = FreshDb::create(&args.postgres_url, args.synchronous_commit_off).await?;
    let prefix = format!("bench-e2e-{}", ulid_lower());
    let max_c = concurrency.iter().copied().max().unwrap_or(1) as u32;
    let result = async {
        let s = settings(&db.url, &args.redis_url, &prefix, max_c + 2)?;
        // Migrates; no HTTP, no workers: only its state is used.
        let app = Application::build(s.clone(), Role::Workers, true).await?;
        let ctx = app.state().jobs.clone();
        drop(app);
        let mut tokens = Vec::new();
        for e in 0..100 {
            let rec = jobs::referral::employees::EmployeeRecord {
                employee_id: format!("E{e:04}"),
                email: format!("employee{e}@acme.example"),
                name: format!("Employee {e}"),
                active: true,
            };
            jobs::referral::employees::upsert(&ctx.db, "bench", &rec).await?;
            let link = jobs::referral::links::mint(
                &ctx.db,
                "bench",
                &rec.employee_id,
                &format!("job-{}", e % 50),
                Duration::from_secs(30 * 86_400),
                "https://careers.example",
            )
            .await?;
            tokens.push(link.token);
        }
        let field = jobs::connectors::careers_site::DEFAULT_START_DATE_FIELD;
        for &c in concurrency {
            let tag = ulid_lower();
            let mut events = Vec::with_capacity(workflows);
            for n in 0..workflows as u64 {
                let body = application_body(n, &tag, Some(&tokens[n as usize % tokens.len()]));
                match jobs::connectors::careers_site::decode_with(body.as_bytes(), field)? {
                    jobs::intake::IntakeEvent::Application(ev) => events.push(ev),
                    other => bail!("unexpected event {other:?}"),
                }
            }
            let events = Arc::new(events);
            let next = Arc::new(AtomicUsize::new(0));
            let credited = Arc::new(AtomicU64::new(0));
            let load_before = load_average();
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..c)
                .map(|_| {
                    let (ctx, events, next, credited) =
                        (ctx.clone(), events.clone(), next.clone(), credited.clone());
                    tokio::spawn(async move {
                        let mut lat = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(ev) = events.get(i) else { break };
                            let t = Instant::now();
                            let got = jobs::capture::capture_application(&ctx, ev).await?;
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                            if got
                                .referrals
                                .iter()
                                .any(|(_, s)| *s == entities::referral::ReferralState::Credited)
                            {
                                credited.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok::<_, jobs::Error>(lat)
                    })
                })
                .collect();
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await??);
            }
            let secs = t0.elapsed().as_secs_f64();
            emit(json!({
                "bench": "capture", "path": "capture_application, called directly",
                "workflows": workflows, "concurrency": c, "seconds": (secs * 100.0).round() / 100.0,
                "workflows_per_sec": (workflows as f64 / secs).round(),
                "credited": credited.load(Ordering::Relaxed),
                "synchronous_commit_off": args.synchronous_commit_off,
                "latency_ms": percentiles(&mut lat),
                "loadavg_before": load_before, "loadavg_after": load_average(),
                "process_vm_hwm_mib": rss_mib("self").0,
            }));
        }
        ctx.db.clone().close().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    delete_prefix(&args.redis_url, &prefix).await;
    db.drop().await;
    result
}

// ------------------------------------------------------------------- inbox

/// The first session's experiment: `receive` as it was then (look up,
/// insert, enqueue) with its two UPDATEs merged into one.
async fn receive_merged(
    state: &worker::runtime::AppState,
    d: jobs::intake::inbox::Delivery,
) -> anyhow::Result<()> {
    use entities::inbox as ib;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let source = jobs::intake::inbox::inbox_source(d.source);
    let existing = ib::Entity::find()
        .filter(ib::Column::Source.eq(source))
        .filter(ib::Column::DeliveryId.eq(&d.delivery_id))
        .one(&state.db)
        .await?;
    if existing.is_some() {
        return Ok(());
    }
    let row = ib::ActiveModel {
        source: Set(source),
        delivery_id: Set(d.delivery_id.clone()),
        event: Set(d.event.clone()),
        received_at: Set(chrono::Utc::now()),
        raw_body: Set(Some(d.body)),
        verification: Set(ib::Verification::Verified),
        status: Set(ib::InboxStatus::Received),
        job_id: Set(None),
        error: Set(None),
        http_status: Set(202),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    let job = Job::ProcessDelivery { inbox_id: row.id }
        .to_new_job(&state.retry)?
        .idempotency_key(format!("delivery:{}", row.id));
    let queued = state.queue.enqueue(job).await?;
    ib::Entity::update_many()
        .set(ib::ActiveModel {
            job_id: Set(Some(queued.id.to_string())),
            status: Set(ib::InboxStatus::Enqueued),
            ..Default::default()
        })
        .filter(ib::Column::Id.eq(row.id))
        .filter(ib::Column::JobId.is_null())
        .filter(ib::Column::Status.eq(ib::InboxStatus::Received))
        .exec(&state.db)
        .await?;
    Ok(())
}

async fn inbox(
    args: &Args,
    concurrency: &[usize],
    seconds: u64,
    pool: u32,
    variant: Variant,
) -> anyhow::Result<()> {
    let db = FreshDb::create(&args.postgres_url, args.synchronous_commit_off).await?;
    let prefix = format!("bench-e2e-{}", ulid_lower());
    let result = async {
        let s = settings(&db.url, &args.redis_url, &prefix, pool)?;
        let app = Application::build(s, Role::Workers, true).await?;
        let state = app.state().clone();
        drop(app);
        for &c in concurrency {
            let tag = ulid_lower();
            let counter = Arc::new(AtomicU64::new(0));
            let load_before = load_average();
            let t0 = Instant::now();
            let deadline = t0 + Duration::from_secs(seconds);
            let tasks: Vec<_> = (0..c)
                .map(|_| {
                    let (state, counter, tag) = (state.clone(), counter.clone(), tag.clone());
                    tokio::spawn(async move {
                        let mut lat = Vec::new();
                        while Instant::now() < deadline {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            let d = jobs::intake::inbox::Delivery {
                                source: jobs::intake::Source::CareersSite,
                                delivery_id: format!("msg_{tag}_{n}"),
                                event: Some("application.submitted".into()),
                                body: application_body(n, &tag, None).into_bytes(),
                            };
                            let t = Instant::now();
                            match variant {
                                Variant::Current => {
                                    jobs::intake::inbox::receive(&state.inbox, &state.queue, &state.retry, d)
                                        .await?;
                                }
                                Variant::Merged => receive_merged(&state, d).await?,
                            }
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        Ok::<_, anyhow::Error>(lat)
                    })
                })
                .collect();
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await??);
            }
            let secs = t0.elapsed().as_secs_f64();
            emit(json!({
                "bench": "inbox_receive_direct", "variant": format!("{variant:?}"), "concurrency": c, "seconds": (secs * 100.0).round() / 100.0,
                "receipts": lat.len(), "receipts_per_sec": (lat.len() as f64 / secs).round(),
                "latency_ms": percentiles(&mut lat), "db_pool": pool,
                "synchronous_commit_off": args.synchronous_commit_off,
                "loadavg_before": load_before, "loadavg_after": load_average(),
            }));
        }
        state.db.clone().close().await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    delete_prefix(&args.redis_url, &prefix).await;
    db.drop().await;
    result
}

// ------------------------------------------------------------------ timers

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("used_memory in INFO memory")
}

/// The timer job exactly as `jobs::milestones::arm_timer` builds it.
fn timer_job(milestone_id: i64, due_ms: i64, retry: &queue::RetryPolicies) -> NewJob {
    jobs::milestones::probation_timer_job(milestone_id, due_ms, None, retry).expect("serialise")
}

/// The no-op timer handler: records its start minus the instant it was due.
async fn timer_fired(job: Job, lags: Data<Arc<Mutex<Vec<f64>>>>) -> Handled<jobs::Error> {
    let now_us = chrono::Utc::now().timestamp_micros();
    if let Job::ProbationDue { due_at_ms, .. } = job {
        let lag = (now_us - due_at_ms * 1000) as f64 / 1000.0;
        lags.lock().expect("lock").push(lag);
    }
    Handled(Ok(()))
}

async fn timers(args: &Args, n: usize, due: usize, lead: u64) -> anyhow::Result<()> {
    let prefix = format!("bench-e2e-{}", ulid_lower());
    let result = async {
        let defaults = Settings::default().queue;
        let store = QueueStore::Redis(
            RedisStore::connect(
                &args.redis_url,
                &prefix,
                &defaults.name,
                Retention::default(),
            )
            .await?,
        );
        let client = redis::Client::open(args.redis_url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let retry = queue::RetryPolicies::default();
        let before = used_memory(&mut conn).await?;
        let load_before = load_average();
        // Due over the next 90..180 days, like probation periods.
        let now = queue::now_millis();
        let day = 86_400_000i64;
        let t0 = Instant::now();
        let mut id = 0i64;
        while (id as usize) < n {
            let k = (n - id as usize).min(1000);
            let batch = (0..k as i64)
                .map(|j| {
                    let m = id + j + 1;
                    timer_job(m, now + 90 * day + (m * 7_777) % (90 * day), &retry)
                })
                .collect();
            store.enqueue_batch(batch).await?;
            id += k as i64;
        }
        let arm_secs = t0.elapsed().as_secs_f64();
        let after = used_memory(&mut conn).await?;
        let counts = store.counts().await?;
        emit(json!({
            "bench": "timers_arm", "timers": n, "seconds": (arm_secs * 100.0).round() / 100.0,
            "timers_per_sec": (n as f64 / arm_secs).round(),
            "redis_used_memory_delta_mib": ((after as f64 - before as f64) / 1_048_576.0 * 10.0).round() / 10.0,
            "redis_bytes_per_timer": ((after as f64 - before as f64) / n as f64).round(),
            "scheduled": counts.get(queue::JobState::Scheduled),
            "loadavg_before": load_before, "loadavg_after": load_average(),
        }));

        // A worker with the production queue settings and a no-op handler.
        let lags = Arc::new(Mutex::new(Vec::with_capacity(due)));
        let settings = BackendSettings {
            concurrency: defaults.concurrency,
            fetch_batch: defaults.fetch_batch,
            lease: defaults.lease,
            heartbeat: defaults.heartbeat,
            poll_interval: defaults.poll_interval,
            retry: retry.clone(),
        };
        let stop = CancellationToken::new();
        let handle = {
            let (store, lags, token) = (store.clone(), lags.clone(), stop.clone());
            tokio::spawn(async move {
                let backend: QueueBackend<Job> = QueueBackend::new(store, settings);
                let worker = WorkerBuilder::new(format!("bench-e2e-{}", ulid_lower()))
                    .backend(backend)
                    .data(lags)
                    .build(timer_fired);
                let _ = worker
                    .run_until(async move {
                        token.cancelled().await;
                        Ok::<(), std::io::Error>(())
                    })
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        let load_before = load_average();
        let t_arm = Instant::now();
        // Everything armed first, then T = lead seconds later.
        let mut batches = Vec::new();
        let mut left = due;
        while left > 0 {
            let k = left.min(1000);
            batches.push(k);
            left -= k;
        }
        let due_at = queue::now_millis() + 1000 * lead as i64;
        for k in batches {
            let batch = (0..k as i64)
                .map(|j| {
                    id += 1;
                    let _ = j;
                    timer_job(id, due_at, &retry)
                })
                .collect();
            store.enqueue_batch(batch).await?;
        }
        let armed_in = t_arm.elapsed().as_secs_f64();
        let deadline = Instant::now() + Duration::from_secs(lead + 120);
        while lags.lock().expect("lock").len() < due {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut got = std::mem::take(&mut *lags.lock().expect("lock"));
        let fired = got.len();
        let (hwm, rss) = rss_mib("self");
        stop.cancel();
        let _ = handle.await;
        emit(json!({
            "bench": "timers_fire", "pending": n + due, "due_at_once": due, "fired": fired,
            "armed_due_batch_in_seconds": (armed_in * 1000.0).round() / 1000.0,
            "lag_ms": percentiles(&mut got),
            "worker": {"concurrency": defaults.concurrency, "fetch_batch": defaults.fetch_batch,
                       "poll_interval_ms": defaults.poll_interval.as_millis() as u64},
            "loadavg_before": load_before, "loadavg_after": load_average(),
            "process_vm_hwm_mib": hwm, "process_vm_rss_mib": rss,
        }));
        Ok::<_, anyhow::Error>(())
    }
    .await;
    delete_prefix(&args.redis_url, &prefix).await;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.mode {
        Mode::Intake {
            connections,
            seconds,
            role,
            service,
            db_connections,
        } => {
            intake(
                &args,
                connections,
                *seconds,
                *role,
                *service,
                *db_connections,
            )
            .await
        }
        Mode::Inbox {
            concurrency,
            seconds,
            db_connections,
            variant,
        } => inbox(&args, concurrency, *seconds, *db_connections, *variant).await,
        Mode::Capture {
            workflows,
            concurrency,
        } => capture(&args, *workflows, concurrency).await,
        Mode::Timers {
            timers: n,
            due,
            lead_seconds,
        } => timers(&args, *n, *due, *lead_seconds).await,
    }
}
