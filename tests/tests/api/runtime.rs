//! The service in-process: `Application::build` + `run_until`, exactly what
//! `main` runs, on a fresh database (and Redis prefix) per test, driven over
//! real HTTP and through the real queue.
//!
//! Scenarios that depend on the queue run on each setup: the embedded queue
//! on SQLite and on PostgreSQL, and Redis (with PostgreSQL).

use queue::{JobFilter, JobId, JobInfo, JobState, QueueStore};
use std::time::Duration;

use jobs::job::{Job, Probe};
use reqwest::StatusCode;
use serde_json::Value;
use tests::{
    app::{HAND_OVER, Setup, TcpProxy, TestApp, closed_port, fresh_db, spawn_app, spawn_app_with},
    app::{test_settings, try_spawn_app},
    queue::{eventually, job_info, unique_prefix},
};

/// Generates one `#[tokio::test]` per setup for each scenario.
macro_rules! per_setup {
    ($($scenario:ident),* $(,)?) => {
        mod embedded_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Setup::EMBEDDED_SQLITE).await } )* }
        mod embedded_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Setup::EMBEDDED_POSTGRES).await } )* }
        mod redis { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Setup::REDIS_POSTGRES).await } )* }
    };
}

per_setup!(
    readyz_reports_database_and_queue_ready,
    a_probe_job_enqueued_into_a_running_app_succeeds,
    a_probe_that_fails_once_is_retried_and_then_succeeds,
    stop_drains_running_jobs_and_returns_unstarted_ones,
);

fn probe(sleep_ms: u64, fail_attempts: u32) -> Job {
    Job::Probe(Probe {
        sleep_ms,
        fail_attempts,
        permanent_failure: false,
    })
}

async fn enqueue(app: &TestApp, job: &Job) -> JobId {
    let new = job.to_new_job(&app.state.retry).expect("encode");
    app.queue().enqueue(new).await.expect("enqueue").id
}

/// Waits until the job is in `state`; panics with the job as last seen.
async fn wait_for_state(store: &QueueStore, id: &JobId, state: JobState, within: Duration) {
    let reached = eventually(within, || async {
        (job_info(store, id).await.state == state).then_some(())
    })
    .await;
    if reached.is_none() {
        panic!(
            "job {id} did not reach {state:?} within {within:?}; last seen: {:#?}",
            job_info(store, id).await
        );
    }
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok() {
    let app = spawn_app(Setup::EMBEDDED_SQLITE).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await, serde_json::json!({ "status": "ok" }));
    app.cleanup().await;
}

async fn readyz_reports_database_and_queue_ready(setup: Setup) {
    let app = spawn_app(setup).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["queue"], "ok", "{body}");
    let backend = match setup.queue {
        tests::app::QueueDriver::Embedded => "sql",
        tests::app::QueueDriver::Redis => "redis",
    };
    assert_eq!(body["queue_backend"], backend, "{body}");
    app.cleanup().await;
}

/// Start-up connects to Redis, so an unreachable one stops `build` with a
/// message naming Redis and its address, rather than a process that starts
/// and then fails every job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_fails_naming_redis_when_it_is_unreachable() {
    let db = fresh_db(tests::app::DbDriver::Sqlite).await;
    let port = closed_port();
    let redis = format!("redis://127.0.0.1:{port}");
    let settings = test_settings(&db.url, Some((&redis, &unique_prefix())));
    let started = tokio::time::Instant::now();
    let error = match try_spawn_app(settings).await {
        Ok(mut app) => {
            let _ = app.stop().await;
            panic!("the app started without its Redis");
        }
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("connecting to Redis"), "{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "start-up took {:?} to give up",
        started.elapsed()
    );
    db.drop_database().await;
}

/// Redis going away after start-up (here: the TCP path to it cut) turns
/// `/readyz` into a 503 that names the queue and still reports the database
/// fine, and `/healthz` stays 200 so the process is not restarted for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_naming_the_queue_when_redis_is_unreachable() {
    let url = tests::queue::redis_url();
    let host_port = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let redis_addr = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("the test Redis URL {url} is not redis://host:port"));
    let proxy = TcpProxy::start(redis_addr).await;
    let redis = format!("redis://{}", proxy.address);
    // The app's own (unique, cleaned-up) prefix, reached through the proxy.
    let app = spawn_app_with(Setup::REDIS_POSTGRES, |s| {
        s.queue.redis_url = worker::config::SecretUrl::new(redis.clone());
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    proxy.cut().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response).await;
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    assert!(
        body["queue"]
            .as_str()
            .is_some_and(|q| q.starts_with("error")),
        "{body}"
    );
    assert_eq!(body["queue_backend"], "redis", "{body}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_get_a_json_404() {
    let app = spawn_app(Setup::EMBEDDED_SQLITE).await;
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        response.headers()
    );
    let body = json(response).await;
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/no/such/route")),
        "{body}"
    );
    app.cleanup().await;
}

async fn a_probe_job_enqueued_into_a_running_app_succeeds(setup: Setup) {
    let app = spawn_app(setup).await;
    let id = enqueue(&app, &probe(50, 0)).await;
    wait_for_state(
        app.queue(),
        &id,
        JobState::Succeeded,
        Duration::from_secs(15),
    )
    .await;
    let job = job_info(app.queue(), &id).await;
    assert_eq!(job.kind, "probe");
    assert_eq!(job.attempts, 1, "{job:#?}");
    assert!(job.errors.is_empty(), "{job:#?}");
    assert_eq!(job.lease_owner, None, "{job:#?}");
    assert!(job.finished_at.is_some(), "{job:#?}");
    app.cleanup().await;
}

async fn a_probe_that_fails_once_is_retried_and_then_succeeds(setup: Setup) {
    let app = spawn_app(setup).await;
    let id = enqueue(&app, &probe(0, 1)).await;
    wait_for_state(
        app.queue(),
        &id,
        JobState::Succeeded,
        Duration::from_secs(15),
    )
    .await;
    let job = job_info(app.queue(), &id).await;
    assert_eq!(job.attempts, 2, "{job:#?}");
    assert_eq!(job.redeliveries, 0, "{job:#?}");
    assert_eq!(job.errors.len(), 1, "{job:#?}");
    assert_eq!(job.errors[0].attempt, 1, "{job:#?}");
    assert!(
        job.errors[0].error.contains("probe asked to fail"),
        "{job:#?}"
    );
    app.cleanup().await;
}

/// The app-level shutdown: jobs running when the token fires finish and are
/// acked; jobs not started stay (or go back) to `ready` with no attempt spent.
async fn stop_drains_running_jobs_and_returns_unstarted_ones(setup: Setup) {
    let mut app = spawn_app_with(setup, |s| {
        s.queue.concurrency = 2;
        s.queue.fetch_batch = 2;
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(enqueue(&app, &probe(1500, 0)).await);
    }
    let queue = app.queue().clone();
    let running: Vec<JobId> = eventually(Duration::from_secs(15), || async {
        let page = queue
            .list(&JobFilter::state(JobState::Running))
            .await
            .expect("list");
        (page.jobs.len() == 2).then(|| page.jobs.into_iter().map(|j| j.id).collect())
    })
    .await
    .expect("two jobs running");
    // A job shows as running when its lease commits, one store round trip
    // before the worker gets it; nothing outside the worker sees the handler
    // start. Give the hand-over time (the jobs take 1.5 s).
    tokio::time::sleep(HAND_OVER).await;

    let stopping = tokio::time::Instant::now();
    app.stop().await.expect("the app stops cleanly");
    let took = stopping.elapsed();

    let jobs = infos(&queue, &ids).await;
    assert_drained(&jobs, &running, &format!("stop took {took:?}"));
    app.cleanup().await;
}

async fn infos(store: &QueueStore, ids: &[JobId]) -> Vec<JobInfo> {
    let mut jobs = Vec::new();
    for id in ids {
        jobs.push(job_info(store, id).await);
    }
    jobs
}

/// After a graceful stop: nothing is left leased; every job either finished
/// in one attempt or is ready with no attempt spent; only jobs that were
/// running at the stop finished (none was started after it), and at least one
/// did (the stop waited for it).
fn assert_drained(jobs: &[JobInfo], running: &[JobId], context: &str) {
    let report = format!("{context}; running at the stop: {running:?}; jobs: {jobs:#?}");
    for job in jobs {
        match job.state {
            JobState::Succeeded => {
                assert!(
                    running.contains(&job.id),
                    "started after the stop: {report}"
                );
                assert_eq!(job.attempts, 1, "{report}");
            }
            JobState::Ready => {
                assert_eq!(
                    job.attempts, 0,
                    "an unstarted job spent an attempt: {report}"
                );
                assert_eq!(job.lease_owner, None, "{report}");
            }
            other => panic!("job {} left {other:?}: {report}", job.id),
        }
    }
    assert!(
        jobs.iter().any(|j| j.state == JobState::Succeeded),
        "no running job was let finish: {report}"
    );
}
