//! The real binary as separate processes: killed with SIGKILL, stopped with
//! SIGTERM, started without its Redis. Each test gets its own database and
//! Redis prefix; the test itself reaches the same queue through a store of
//! its own, the way an operator's tooling would.
//!
//! Needs the binary built first: `cargo build -p worker --bin referral-worker`
//! (see `tests::app`).

use queue::{JobFilter, JobId, JobState, QueueStore, Retention, RetryPolicies, SqlStore};
use std::{sync::Mutex, time::Duration};

use jobs::job::{Job, Probe};
use tests::{
    app::{
        HAND_OVER, QueueDriver, TestProcess, closed_port, delete_redis_prefix, redis_store,
        setting_var, spawn_process, worker_env,
    },
    db::{self, TestDb},
    queue::{job_info, redis_url, unique_prefix},
};

/// Generates one `#[tokio::test]` per queue for each scenario.
macro_rules! per_queue {
    ($($scenario:ident),* $(,)?) => {
        mod redis { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::QueueDriver::Redis).await } )* }
        mod embedded { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::QueueDriver::Embedded).await } )* }
    };
}

per_queue!(
    a_job_of_a_sigkilled_worker_finishes_on_another_worker_and_the_redelivery_is_recorded,
    sigterm_lets_the_running_jobs_finish_and_returns_unstarted_ones,
);

/// What worker processes of one test share: the application database, a
/// queue the test can inspect, and the environment that points a process at
/// both.
struct Deployment {
    store: QueueStore,
    db: TestDb,
    redis_prefix: Option<String>,
    env: Vec<(String, String)>,
}

impl Deployment {
    /// Redis (under a fresh prefix) with a fresh PostgreSQL database that the
    /// processes migrate on start; or the embedded queue in a fresh SQLite
    /// file, migrated by `referral-worker migrate` as a deployment would,
    /// which the processes and the test's own store then share.
    async fn new(queue: QueueDriver) -> Self {
        match queue {
            QueueDriver::Redis => {
                let prefix = unique_prefix();
                let db = db::fresh_postgres().await;
                let env = worker_env(&db.url, Some((&redis_url(), &prefix)));
                Self {
                    store: redis_store(&prefix).await,
                    db,
                    redis_prefix: Some(prefix),
                    env,
                }
            }
            QueueDriver::Embedded => {
                let db = db::fresh_sqlite().await;
                let env = worker_env(&db.url, None);
                let mut migrate = spawn_process(&["migrate"], env.clone());
                let status = migrate.wait_exit(Duration::from_secs(60)).await;
                assert!(
                    status.success(),
                    "migrate exited with {status}; stderr:\n{}",
                    migrate.stderr()
                );
                assert!(
                    migrate.stdout().contains("migrations applied"),
                    "{}",
                    migrate.stdout()
                );
                let store = QueueStore::Sql(SqlStore::new(
                    db.conn.clone(),
                    "default",
                    Retention::default(),
                ));
                Self {
                    store,
                    db,
                    redis_prefix: None,
                    env,
                }
            }
        }
    }

    fn store(&self) -> &QueueStore {
        &self.store
    }

    /// This deployment's environment with `extra` settings (`key`, value).
    fn env_with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.extend(extra.iter().map(|(k, v)| (setting_var(k), v.to_string())));
        env
    }

    async fn cleanup(self) {
        if let Some(prefix) = &self.redis_prefix {
            delete_redis_prefix(prefix).await;
        }
        self.db.drop_database().await;
    }
}

fn probe(sleep_ms: u64) -> Job {
    Job::Probe(Probe {
        sleep_ms,
        fail_attempts: 0,
        permanent_failure: false,
    })
}

async fn enqueue(store: &QueueStore, job: &Job) -> JobId {
    let new = job.to_new_job(&RetryPolicies::default()).expect("encode");
    store.enqueue(new).await.expect("enqueue").id
}

/// The worker names of a process contain `-<pid>-` (see
/// `worker::runtime::worker_name`).
fn owned_by(owner: &str, process: &TestProcess) -> bool {
    owner.contains(&format!("-{}-", process.pid()))
}

/// Worker A leases a job and is SIGKILLed mid-job; its lease expires, worker
/// B (a new process) gets the job and finishes it. The crashed run counts as
/// an attempt and is recorded as a re-delivery naming A's worker.
async fn a_job_of_a_sigkilled_worker_finishes_on_another_worker_and_the_redelivery_is_recorded(
    queue: QueueDriver,
) {
    let d = Deployment::new(queue).await;
    let id = enqueue(d.store(), &probe(3000)).await;

    let mut a = spawn_process(&["work"], d.env.clone());
    let owner_a = a
        .wait_for(Duration::from_secs(30), || async {
            let job = job_info(d.store(), &id).await;
            (job.state == JobState::Running)
                .then_some(job.lease_owner)
                .flatten()
        })
        .await
        .unwrap_or_else(|| panic!("worker A never leased the job; stderr:\n{}", a.stderr()));
    assert!(
        owned_by(&owner_a, &a),
        "{owner_a} is not A's (pid {})",
        a.pid()
    );

    let killed = a.kill();
    assert!(!killed.success(), "SIGKILL ended A with {killed}");

    let mut b = spawn_process(&["work"], d.env.clone());
    // Every lease owner seen after A's, to tell who ran the job in the end.
    let seen = Mutex::new(None::<String>);
    let finished = b
        .wait_for(Duration::from_secs(30), || async {
            let job = job_info(d.store(), &id).await;
            if let Some(owner) = &job.lease_owner
                && *owner != owner_a
            {
                *seen.lock().expect("not poisoned") = Some(owner.clone());
            }
            (job.state == JobState::Succeeded).then_some(job)
        })
        .await;
    let Some(finished) = finished else {
        panic!(
            "the job did not finish on worker B; last seen: {:#?}\nB's stderr:\n{}",
            job_info(d.store(), &id).await,
            b.stderr()
        );
    };

    let owner_b = seen
        .into_inner()
        .expect("not poisoned")
        .expect("the job was seen running under a worker other than A");
    assert!(
        owned_by(&owner_b, &b),
        "{owner_b} is not B's (pid {})",
        b.pid()
    );
    assert_eq!(
        finished.attempts, 2,
        "the crashed run counts: {finished:#?}"
    );
    assert_eq!(finished.redeliveries, 1, "{finished:#?}");
    assert_eq!(finished.errors.len(), 1, "{finished:#?}");
    let crash = &finished.errors[0];
    assert_eq!(crash.attempt, 1, "{finished:#?}");
    assert_eq!(crash.worker, owner_a, "{finished:#?}");
    assert!(crash.error.contains("lease expired"), "{finished:#?}");
    assert!(crash.error.contains(&owner_a), "{finished:#?}");

    // B itself stops cleanly.
    b.terminate();
    let status = b.wait_exit(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "B exited with {status}; stderr:\n{}",
        b.stderr()
    );
    d.cleanup().await;
}

/// SIGTERM: the jobs running at that moment finish and are acked, the
/// process exits 0, nothing is left leased, and the jobs it had not started
/// are back in the queue with no attempt spent.
async fn sigterm_lets_the_running_jobs_finish_and_returns_unstarted_ones(queue: QueueDriver) {
    let d = Deployment::new(queue).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(enqueue(d.store(), &probe(1500)).await);
    }
    let mut worker = spawn_process(
        &["work"],
        d.env_with(&[("queue.concurrency", "2"), ("queue.fetch_batch", "2")]),
    );
    let running: Vec<JobId> = worker
        .wait_for(Duration::from_secs(30), || async {
            let page = d
                .store()
                .list(&JobFilter::state(JobState::Running))
                .await
                .expect("list");
            (page.jobs.len() == 2).then(|| page.jobs.into_iter().map(|j| j.id).collect())
        })
        .await
        .unwrap_or_else(|| panic!("two jobs never ran; stderr:\n{}", worker.stderr()));
    // A job shows as running when its lease commits, one store round trip
    // before the worker gets it; nothing outside the process sees the
    // handler start. Give the hand-over time (the jobs take 1.5 s).
    tokio::time::sleep(HAND_OVER).await;

    worker.terminate();
    let status = worker.wait_exit(Duration::from_secs(20)).await;
    let stderr = worker.stderr();
    assert!(status.success(), "exited with {status}; stderr:\n{stderr}");
    assert!(stderr.contains("shutdown signal received"), "{stderr}");

    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(job_info(d.store(), id).await);
    }
    let report = format!("running at SIGTERM: {running:?}; jobs: {jobs:#?}\nstderr:\n{stderr}");
    for job in &jobs {
        match job.state {
            JobState::Succeeded => {
                assert!(running.contains(&job.id), "started after SIGTERM: {report}");
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
    d.cleanup().await;
}

/// A worker whose Redis is unreachable does not start: it exits 1 and says
/// which step failed and where it tried to connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_reach_redis_exits_1_naming_it() {
    let db = db::fresh_sqlite().await;
    let port = closed_port();
    let redis = format!("redis://127.0.0.1:{port}");
    let env = worker_env(&db.url, Some((&redis, "rw-unreachable")));
    let mut worker = spawn_process(&["work"], env);
    let status = worker.wait_exit(Duration::from_secs(60)).await;
    let stderr = worker.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: connecting to Redis"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    db.drop_database().await;
}
