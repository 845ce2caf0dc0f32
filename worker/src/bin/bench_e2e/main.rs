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

mod intake;
mod storage;
mod timers;

use intake::intake;
use storage::{capture, inbox};
use timers::timers;

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
