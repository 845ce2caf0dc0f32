//! `GET /metrics`: the process's metrics in the Prometheus text format.
//!
//! Counters and histograms are recorded where things happen (the queue's
//! enqueue and ack paths, webhook intake, outbound clients, the rate
//! limiter, probation timers) through the `metrics` facade; [`install`]
//! puts a Prometheus recorder behind it once per process. What is a state
//! rather than an event is read at scrape time: the queue's depth per state
//! and the age of its oldest ready job (`QueueStore::counts`), and payouts
//! per state (one `GROUP BY` on `payouts`).
//!
//! Labels are job kinds, webhook sources, destination names, status codes,
//! outcomes and states only: never an id, an email or a URL. The route is
//! unauthenticated like `/healthz`; it must not be exposed publicly.

use std::{fmt::Write as _, sync::OnceLock, time::Duration};

use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use entities::payout::{self, PayoutState};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use queue::JobState;
use sea_orm::{
    ActiveEnum as _, EntityTrait, Iterable as _, QuerySelect,
    sea_query::{Expr, Func},
};

use crate::state::AppState;

/// Buckets for job and outbound request durations, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Buckets for how late probation timers complete, in seconds.
const LAG_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0,
];

/// How often the recorder drains histogram samples between scrapes, so an
/// unscraped process does not accumulate them.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's Prometheus recorder (once; later calls return the
/// same handle, so tests may build many applications in one process).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                DURATION_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("referral_worker_rate_limiter_wait_seconds".into()),
                    DURATION_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("referral_worker_probation_timer_lag_seconds".into()),
                    LAG_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            // Another recorder was installed first (an embedding program):
            // /metrics then shows the scrape-time figures only.
            tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics shows queue and payout states only");
        }
        describe();
        process_collector().describe();
        // A constant 1 whose labels say what is running.
        metrics::gauge!(
            "referral_worker_build_info",
            "version" => env!("CARGO_PKG_VERSION")
        )
        .set(1.0);
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        "referral_worker_jobs_enqueued_total",
        "Jobs added to the queue, per kind (idempotency duplicates not counted)"
    );
    describe_counter!(
        "referral_worker_jobs_enqueue_duplicates_total",
        "Enqueues that found an existing job under the same idempotency key, per kind"
    );
    describe_counter!(
        "referral_worker_jobs_started_total",
        "Job attempts started, per kind"
    );
    describe_counter!(
        "referral_worker_jobs_succeeded_total",
        "Job attempts that succeeded, per kind"
    );
    describe_counter!(
        "referral_worker_jobs_failed_total",
        "Job attempts that failed with a retry scheduled, per kind"
    );
    describe_counter!(
        "referral_worker_jobs_dead_total",
        "Jobs sent to the dead set (permanent error, attempts exhausted, undecodable), per kind"
    );
    describe_histogram!(
        "referral_worker_job_duration_seconds",
        metrics::Unit::Seconds,
        "Job attempt duration, per kind"
    );
    describe_counter!(
        "referral_worker_webhooks_total",
        "Webhook deliveries per source, outcome (accepted, duplicate, rejected) and HTTP status"
    );
    describe_counter!(
        "referral_worker_outbound_requests_total",
        "Outbound HTTP requests per destination, status code (none without a response) and error (timeout, connect, transport; none with a response)"
    );
    describe_histogram!(
        "http_server_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP requests served, per method, route (the matched pattern, `unmatched` for 404s) and status code"
    );
    metrics::describe_gauge!(
        "referral_worker_build_info",
        "Always 1; the labels name the running version"
    );
    describe_histogram!(
        "referral_worker_outbound_request_duration_seconds",
        metrics::Unit::Seconds,
        "Outbound HTTP request duration, per destination"
    );
    describe_histogram!(
        "referral_worker_rate_limiter_wait_seconds",
        metrics::Unit::Seconds,
        "Rate-limiter waits of 1 ms or more: acquired after the wait, or handed_back to the queue (_count waits, _sum seconds)"
    );
    describe_histogram!(
        "referral_worker_probation_timer_lag_seconds",
        metrics::Unit::Seconds,
        "Seconds between a probation timer's due time and its completion"
    );
}

/// The process's own figures (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_open_fds`, `process_threads`,
/// `process_start_time_seconds`, ...), read from `/proc` at scrape time.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let handle = install();
    process_collector().collect();
    let mut text = handle.render();
    scrape_time(&state, &mut text).await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The figures read at scrape time; a store that does not answer leaves
/// its lines out (and is logged), the rest is still served.
async fn scrape_time(state: &AppState, out: &mut String) {
    match state.queue.counts().await {
        Ok(counts) => {
            out.push_str(
                "# HELP referral_worker_queue_jobs Jobs in the queue per state (finished states: what is still retained)\n\
                 # TYPE referral_worker_queue_jobs gauge\n",
            );
            for s in JobState::ALL {
                let _ = writeln!(
                    out,
                    "referral_worker_queue_jobs{{state=\"{}\"}} {}",
                    s.as_str(),
                    counts.get(s)
                );
            }
            out.push_str(
                "# HELP referral_worker_queue_oldest_ready_age_seconds How long the oldest ready job has been due (0 when none is ready)\n\
                 # TYPE referral_worker_queue_oldest_ready_age_seconds gauge\n",
            );
            let age = counts.oldest_ready_age_ms.unwrap_or(0) as f64 / 1000.0;
            let _ = writeln!(out, "referral_worker_queue_oldest_ready_age_seconds {age}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading queue counts failed"),
    }
    // Per state, with the ops API's definition of "oldest" (see
    // `jobs::ops::queues`): one indexed read per non-empty state.
    match jobs::ops::queues(&state.queue).await {
        Ok(queues) => {
            out.push_str(
                "# HELP referral_worker_queue_oldest_age_seconds Age of the oldest job per state, as GET /api/ops/queues defines it (0 when empty)\n\
                 # TYPE referral_worker_queue_oldest_age_seconds gauge\n",
            );
            for q in queues {
                for s in q.states {
                    let age = s.oldest.map_or(0.0, |o| o.age_ms as f64 / 1000.0);
                    let _ = writeln!(
                        out,
                        "referral_worker_queue_oldest_age_seconds{{state=\"{}\"}} {age}",
                        s.state.as_str()
                    );
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading queue ages failed"),
    }
    let rows = payout::Entity::find()
        .select_only()
        .column(payout::Column::State)
        .column_as(Expr::expr(Func::count(Expr::col(payout::Column::Id))), "n")
        .group_by(payout::Column::State)
        .into_tuple::<(PayoutState, i64)>()
        .all(&state.db)
        .await;
    match rows {
        Ok(rows) => {
            out.push_str(
                "# HELP referral_worker_payouts Payouts per state\n\
                 # TYPE referral_worker_payouts gauge\n",
            );
            for s in PayoutState::iter() {
                let n: i64 = rows.iter().filter(|(r, _)| *r == s).map(|(_, n)| n).sum();
                let _ = writeln!(
                    out,
                    "referral_worker_payouts{{state=\"{}\"}} {n}",
                    s.to_value()
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting payouts failed"),
    }
}
