//! `bench`: measures the queue with no-op jobs and prints one JSON line per
//! figure. Numbers, not assertions: `docs/PERFORMANCE.md` records a run.
//!
//! ```text
//! cargo run --release -p worker --bin bench -- --backlogs 1000,100000,1000000
//! cargo run --release -p worker --bin bench -- --drain-only --backlogs 50000 --concurrency 1024 --fetch-batch 512
//! ```
//!
//! It uses the production path end to end: `QueueStore` enqueue, the apalis
//! worker over `QueueBackend` with crash-safe leases (every job is leased,
//! renewed by heartbeat and acked in the store), and the store's own counts
//! to decide when a backlog is drained. Each run uses a fresh key prefix and
//! deletes it afterwards.
//!
//! The worker runs at the shipped defaults (`queue.concurrency`,
//! `queue.fetch_batch`, lease and heartbeat as `BackendSettings::default()`)
//! unless `--concurrency`/`--fetch-batch` tune it, and every drain reports
//! redis-server's CPU time per job beside the rate: Redis is what limits
//! the drain, and CPU time per job compares across runs on a busy machine
//! where jobs per second do not.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use apalis::prelude::*;
use clap::Parser;
use jobs::job::Job;
use queue::{
    BackendSettings, Handled, JobState, NewJob, QueueBackend, QueueStore, RedisStore, Retention,
    SqlStore,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(about = "Measure referral-worker's queue with no-op jobs")]
struct Args {
    /// Redis to measure against.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Backlog sizes to drain, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,100000,1000000")]
    backlogs: Vec<usize>,
    /// Jobs pushed one awaited enqueue at a time.
    #[arg(long, default_value_t = 20_000)]
    single_enqueues: usize,
    /// Jobs pushed in batches of 1,000.
    #[arg(long, default_value_t = 200_000)]
    batched_enqueues: usize,
    /// Push-to-start samples on an idle worker.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Jobs a worker holds at most; the shipped default
    /// (`queue.concurrency`) when not given.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Jobs leased per fetch; the shipped default (`queue.fetch_batch`)
    /// when not given.
    #[arg(long)]
    fetch_batch: Option<usize>,
    /// Only the drains (no enqueue, latency or SQLite runs): what the peer
    /// comparison in `benches/peers/` runs beside the other queues.
    #[arg(long)]
    drain_only: bool,
    /// Reset Redis's command statistics before each drain and print them
    /// after it (`INFO commandstats`, per job): which commands the drain's
    /// Redis CPU goes to. Resets the server's statistics, so only for a
    /// Redis of one's own.
    #[arg(long)]
    command_stats: bool,
    /// Also drain this many jobs on the embedded SQLite queue (0 = skip).
    #[arg(long, default_value_t = 10_000)]
    sqlite_jobs: usize,
}

fn noop() -> NewJob {
    NewJob::new("noop", r#"{"kind":"noop"}"#)
}

fn prefix() -> String {
    format!(
        "bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

/// Peak resident set of this process (producer and worker together), MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn redis_store(url: &str, prefix: &str) -> anyhow::Result<QueueStore> {
    let retention = Retention {
        succeeded: Duration::from_secs(300),
        dead: Duration::from_secs(3600),
    };
    Ok(QueueStore::Redis(
        RedisStore::connect(url, prefix, "bench", retention).await?,
    ))
}

async fn fill(store: &QueueStore, n: usize) -> anyhow::Result<()> {
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        store
            .enqueue_batch((0..k).map(|_| noop()).collect())
            .await?;
        left -= k;
    }
    Ok(())
}

/// The bench handler: counts starts and reports each start for latency runs.
async fn bench_job(
    _job: Job,
    started: Data<Arc<AtomicU64>>,
    signal: Data<Option<mpsc::UnboundedSender<Instant>>>,
) -> Handled<jobs::Error> {
    started.fetch_add(1, Ordering::Relaxed);
    if let Some(tx) = signal.as_ref() {
        let _ = tx.send(Instant::now());
    }
    Handled(Ok(()))
}

/// The worker's settings: the shipped defaults (what `queue.*` config
/// starts with) unless the command line tunes concurrency or fetch size.
fn backend_settings(args: &Args) -> BackendSettings {
    let shipped = BackendSettings::default();
    BackendSettings {
        concurrency: args.concurrency.unwrap_or(shipped.concurrency),
        fetch_batch: args.fetch_batch.unwrap_or(shipped.fetch_batch),
        ..shipped
    }
}

/// redis-server's own CPU time so far (`INFO cpu`: user + system), in
/// seconds. CPU time, not wall time: the figure per job holds when other
/// work shares the machine, which wall-clock rates do not.
async fn redis_cpu_seconds(url: &str) -> Option<f64> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn)
        .await
        .ok()?;
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .trim()
            .parse()
            .ok()
    };
    Some(field("used_cpu_user")? + field("used_cpu_sys")?)
}

/// `CONFIG RESETSTAT`, so the next `INFO commandstats` counts one drain.
async fn reset_command_stats(url: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// `INFO commandstats` as `{command: {calls_per_job, usec_per_job}}`.
/// Commands a script runs are counted under their own names, and the
/// script's call (`evalsha`) includes their time.
async fn command_stats(url: &str, jobs: usize) -> anyhow::Result<serde_json::Value> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await?;
    let mut out = serde_json::Map::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let field = |key: &str| -> f64 {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let per_job = |v: f64| (v / jobs as f64 * 1000.0).round() / 1000.0;
        out.insert(
            name.to_string(),
            json!({"calls_per_job": per_job(field("calls")), "usec_per_job": per_job(field("usec"))}),
        );
    }
    Ok(serde_json::Value::Object(out))
}

struct RunningWorker {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

fn start_worker(
    store: QueueStore,
    args: &Args,
    signal: Option<mpsc::UnboundedSender<Instant>>,
) -> RunningWorker {
    let settings = backend_settings(args);
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        let backend: QueueBackend<Job> = QueueBackend::new(store, settings);
        let worker = WorkerBuilder::new(format!("bench-{}", ulid::Ulid::generate()))
            .backend(backend)
            .data(Arc::new(AtomicU64::new(0)))
            .data(signal)
            .build(bench_job);
        let _ = worker
            .run_until(async move {
                token.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await;
    });
    RunningWorker { stop, handle }
}

impl RunningWorker {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.handle.await;
    }
}

async fn wait_succeeded(store: &QueueStore, n: u64) -> anyhow::Result<()> {
    loop {
        if store.counts().await?.get(JobState::Succeeded) >= n {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn drain(store: QueueStore, backend: &str, n: usize, args: &Args) -> anyhow::Result<()> {
    fill(&store, n).await?;
    let settings = backend_settings(args);
    let stats = backend == "redis" && args.command_stats;
    if stats {
        reset_command_stats(&args.redis_url).await?;
    }
    let cpu0 = redis_cpu_seconds(&args.redis_url).await;
    let t0 = Instant::now();
    let worker = start_worker(store.clone(), args, None);
    wait_succeeded(&store, n as u64).await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = redis_cpu_seconds(&args.redis_url).await;
    worker.stop().await;
    // Only meaningful for the Redis backend (the SQLite drain does not
    // touch Redis); rounded to 0.1 µs.
    let redis_us_per_job = match (backend, cpu0, cpu1) {
        ("redis", Some(a), Some(b)) => json!(((b - a) * 1e7 / n as f64).round() / 10.0),
        _ => json!(null),
    };
    let commands = if stats {
        command_stats(&args.redis_url, n).await?
    } else {
        json!(null)
    };
    emit(json!({
        "bench": "drain_noop", "backend": backend, "backlog": n, "seconds": secs,
        "jobs_per_sec": (n as f64 / secs).round(), "concurrency": settings.concurrency,
        "fetch_batch": settings.fetch_batch, "crash_safe_leases": true,
        "redis_cpu_us_per_job": redis_us_per_job,
        "process_peak_rss_mib": peak_rss_mib(),
        "redis_commands": commands,
    }));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = args.redis_url.clone();

    if !args.drain_only {
        // Enqueue, one awaited call per job.
        let p = prefix();
        let store = redis_store(&url, &p).await.context("connecting to Redis")?;
        let t0 = Instant::now();
        for _ in 0..args.single_enqueues {
            store.enqueue(noop()).await?;
        }
        let secs = t0.elapsed().as_secs_f64();
        emit(
            json!({"bench": "enqueue_single", "backend": "redis", "jobs": args.single_enqueues,
            "seconds": secs, "jobs_per_sec": (args.single_enqueues as f64 / secs).round()}),
        );
        let _ = RedisStore::delete_prefix(&url, &p).await;

        // Enqueue in batches of 1,000.
        let p = prefix();
        let store = redis_store(&url, &p).await?;
        let t0 = Instant::now();
        fill(&store, args.batched_enqueues).await?;
        let secs = t0.elapsed().as_secs_f64();
        emit(
            json!({"bench": "enqueue_batch_1000", "backend": "redis", "jobs": args.batched_enqueues,
            "seconds": secs, "jobs_per_sec": (args.batched_enqueues as f64 / secs).round()}),
        );
        let _ = RedisStore::delete_prefix(&url, &p).await;
    }

    // Drain at each backlog.
    for &n in &args.backlogs {
        let p = prefix();
        let store = redis_store(&url, &p).await?;
        drain(store, "redis", n, &args).await?;
        let _ = RedisStore::delete_prefix(&url, &p).await;
    }

    if args.drain_only {
        return Ok(());
    }

    // Push-to-start latency on an idle worker.
    let p = prefix();
    let store = redis_store(&url, &p).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let worker = start_worker(store.clone(), &args, Some(tx));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut samples = Vec::with_capacity(args.latency_samples);
    for _ in 0..args.latency_samples {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        store.enqueue(noop()).await?;
        let started = rx.recv().await.context("worker stopped")?;
        samples.push(started.duration_since(t0).as_secs_f64() * 1000.0);
    }
    worker.stop().await;
    let _ = RedisStore::delete_prefix(&url, &p).await;
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    emit(
        json!({"bench": "push_to_start_latency_idle", "backend": "redis",
        "samples": samples.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}),
    );

    // The embedded default, for scale.
    if args.sqlite_jobs > 0 {
        let dir = std::env::temp_dir().join(format!("{}.db", prefix()));
        let db_url = format!("sqlite://{}?mode=rwc", dir.display());
        let mut settings = worker::config::Settings::from_figment(figment::Figment::new().merge(
            figment::providers::Serialized::default("database.url", &db_url),
        ))?;
        settings.database.max_connections = 4;
        let db = worker::runtime::connect_database(&settings).await?;
        use migrations::MigratorTrait;
        migrations::Migrator::up(&db, None).await?;
        let store = QueueStore::Sql(SqlStore::new(db, "bench", Retention::default()));
        drain(store, "sqlite", args.sqlite_jobs, &args).await?;
        let _ = std::fs::remove_file(&dir);
    }

    emit(json!({"bench": "process_peak_rss", "mib": peak_rss_mib()}));
    Ok(())
}
