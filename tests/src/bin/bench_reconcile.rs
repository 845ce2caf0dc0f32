//! Reconciliation at scale (issue 22): a program of `BENCH_APPLICATIONS`
//! applications (default 100,000; one in ten hired with an accepted offer,
//! one in five credited to a referrer) changed within the lookback, held by
//! a fake Greenhouse Harvest v3 that pages like the vendor (500 a page,
//! `Link` cursors) and enforces its 30-second window (75 requests,
//! `X-RateLimit-*`, 429 past it), reconciled by the service as shipped
//! (`ats.greenhouse.requests_per_window` 50) on the embedded default.
//!
//! Prints how long the run took, how many requests it made, how many the
//! vendor refused for going over its limit (a 429 storm would show here),
//! the variances it recorded, and the process's resident memory before and
//! at most during the run (the fake's records are in the same process and
//! are seeded before the first reading, so growth is the run's).
//!
//! ```sh
//! cargo run --release -p tests --bin bench_reconcile
//! BENCH_APPLICATIONS=20000 cargo run --release -p tests --bin bench_reconcile
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::json;
use tests::{
    app::{Setup, idle_app},
    vendors::greenhouse::{FakeGreenhouse, RATE_LIMIT, configure},
};

/// Resident memory of this process now, in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let applications: u64 = std::env::var("BENCH_APPLICATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let fake = FakeGreenhouse::start().await;
    let h = &fake.harvest;
    let now = Utc::now();
    let start = now.date_naive() + chrono::Duration::days(14);
    h.referrer(5_900, Some(4_419_000));
    for n in 0..applications {
        let id = 20_000_000 + n;
        let status = if n % 10 == 0 { "hired" } else { "in_process" };
        h.application(id, 30_000_000 + n, 4_012_345, status, now);
        if n % 5 == 0 {
            let mut app = h.record("applications", id).expect("seeded");
            app["referrer_id"] = json!(5_900);
            h.put("applications", app);
        }
        if n % 10 == 0 {
            h.offer(40_000_000 + n, id, "Accepted", start);
        }
    }
    let world = idle_app(Setup::EMBEDDED_SQLITE, |s| {
        configure(s, &fake.base_url(), &fake.token_url());
        // As shipped: 50 requests per 30 s window.
        s.ats.greenhouse.requests_per_window = 50;
        s.reconciliation.schedule = String::new();
    })
    .await;
    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let requests_before = fake.seen().len();
    let started = Instant::now();
    let report = jobs::maintenance::reconcile::run(
        &world.state.jobs,
        &format!("manual:bench:{}", ulid::Ulid::generate()),
        true,
        "ops:bench",
    )
    .await
    .expect("the run")
    .expect("recorded");
    let took = started.elapsed();
    sampler.abort();
    let api_requests = fake
        .seen()
        .iter()
        .skip(requests_before)
        .filter(|s| s.path.starts_with("/v3/"))
        .count();
    let minutes = took.as_secs_f64() / 60.0;
    println!("applications listed by the fake ATS: {applications}");
    println!(
        "run: {:.1} s; {api_requests} API requests ({:.1} per 30 s; vendor limit {RATE_LIMIT}, ours 50)",
        took.as_secs_f64(),
        api_requests as f64 / (took.as_secs_f64() / 30.0).max(1.0 / 30.0)
    );
    println!(
        "refused by the vendor for exceeding its window: {}",
        fake.harvest.over_limit()
    );
    println!(
        "variances: {} ({:?})",
        report.variances.len(),
        report.summary
    );
    println!(
        "resident memory: {} MiB before the run, {} MiB at most during it",
        before / 1024,
        peak.load(Ordering::Relaxed) / 1024
    );
    println!("within 10 minutes: {}", minutes <= 10.0);
    world.cleanup().await;
}
