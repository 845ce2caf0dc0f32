//! Redis-specific queue behaviour that the cross-driver conformance suite
//! cannot express: key layout (prefix and Cluster hash tag), bounded memory
//! through TTLs and purges, the leases index's encoding, and workers that survive Redis outages and slow replies
//! (apalis-redis 1.0.0 workers die on both, for good).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use apalis::prelude::*;
use jobs::{
    Error,
    job::{Job, Probe},
};
use queue::{
    BackendSettings, Completion, Handled, JobState, NewJob, Outcome, QueueBackend, QueueStore,
    RedisStore, Retention, RetryPolicies,
};
use tests::queue::{Driver, FlakyProxy, TestQueue, eventually, redis_url};

async fn raw_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

#[tokio::test]
async fn every_key_lives_under_the_prefix_in_one_hash_slot() {
    let q = TestQueue::new(Driver::Redis).await;
    let ids: Vec<_> = q
        .store
        .enqueue_batch(vec![
            NewJob::new("a", "{}").idempotency_key("k"),
            NewJob::new("a", "{}").run_after(Duration::from_secs(60)),
            NewJob::new("a", "{}"),
        ])
        .await
        .expect("enqueue")
        .into_iter()
        .map(|o| o.id)
        .collect();
    let leased = q
        .store
        .fetch("w", 10, Duration::from_secs(30))
        .await
        .expect("fetch")
        .jobs;
    q.store
        .complete(
            "w",
            vec![Completion {
                id: leased[0].id.clone(),
                attempt: 1,
                lease: leased[0].lease,
                outcome: Outcome::Retry {
                    at: 0,
                    error: "x".into(),
                },
            }],
        )
        .await
        .expect("complete");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", q.prefix))
        .query_async(&mut raw_conn().await)
        .await
        .expect("keys");
    assert!(keys.len() >= 6, "{keys:?}");
    for key in &keys {
        assert!(
            key.starts_with(&format!("{}:{{default}}:", q.prefix)),
            "{key} is outside the queue's hash tag"
        );
    }
    assert_eq!(ids.len(), 3);
    q.cleanup().await;
}

/// Every key of the test's queue, by type.
async fn keys_of(q: &TestQueue) -> Vec<String> {
    let mut conn = raw_conn().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", q.prefix))
        .query_async(&mut conn)
        .await
        .expect("keys");
    keys.sort();
    keys
}

#[tokio::test]
async fn a_waiting_timer_is_one_sorted_set_member_and_a_job_once_due() {
    let q = TestQueue::new(Driver::Redis).await;
    let far = queue::now_millis() + 90 * 86_400_000;
    let timer = |n: u64, at: i64| {
        NewJob::new("probation_due", format!("{{\"milestone_id\":{n}}}"))
            .run_at(at)
            .idempotency_key(format!("probation:{n}:{at}"))
            .timer()
    };
    let waiting = q.store.enqueue(timer(1, far)).await.expect("arm").id;
    let keys = keys_of(&q).await;
    assert_eq!(
        keys,
        [format!("{}:{{default}}:scheduled", q.prefix)],
        "no job hash and no idempotency key while it waits"
    );
    let mut conn = raw_conn().await;
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(&keys[0])
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("zrange");
    assert_eq!(members.len(), 1);
    assert!(members[0].len() < 100, "one short member: {:?}", members[0]);

    // Due soon: a fetch makes it a full job under the same derived id.
    let soon = queue::now_millis() + 300;
    let due = q.store.enqueue(timer(2, soon)).await.expect("arm").id;
    let leased = eventually(Duration::from_secs(5), || async {
        let f = q
            .store
            .fetch("w", 10, Duration::from_secs(30))
            .await
            .expect("fetch");
        (!f.jobs.is_empty()).then_some(f.jobs)
    })
    .await
    .expect("the timer comes due");
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, due);
    assert!(
        keys_of(&q)
            .await
            .contains(&format!("{}:{{default}}:job:{due}", q.prefix)),
        "promoted to a job hash"
    );
    assert_eq!(
        q.store
            .get(&waiting)
            .await
            .expect("get")
            .expect("still there")
            .state,
        JobState::Scheduled
    );
    q.cleanup().await;
}

/// A success sets no TTL (one command fewer per job on the hot path): the
/// job, its error history and its idempotency key stay until a purge past
/// the retention deletes them together with their `done` entry.
#[tokio::test]
async fn succeeded_jobs_are_kept_until_a_purge_past_their_retention_deletes_every_key() {
    let q = TestQueue::with_retention(
        Driver::Redis,
        Retention {
            succeeded: Duration::from_millis(400),
            dead: Duration::from_secs(600),
        },
    )
    .await;
    let id = q
        .store
        .enqueue(NewJob::new("a", "{}").idempotency_key("once"))
        .await
        .expect("enqueue")
        .id;
    // A first attempt fails, so the job has an error history to retire too.
    q.store
        .fetch("w", 1, Duration::from_secs(30))
        .await
        .expect("fetch");
    q.store
        .complete(
            "w",
            vec![Completion {
                id: id.clone(),
                attempt: 1,
                lease: 1,
                outcome: Outcome::Retry {
                    at: 0,
                    error: "flaky".into(),
                },
            }],
        )
        .await
        .expect("retry");
    let leased = q
        .store
        .fetch("w", 1, Duration::from_secs(30))
        .await
        .expect("fetch");
    assert_eq!(leased.jobs.len(), 1, "the retry is due at once");
    q.store
        .complete(
            "w",
            vec![Completion {
                id: id.clone(),
                attempt: 2,
                lease: leased.jobs[0].lease,
                outcome: Outcome::Succeeded,
            }],
        )
        .await
        .expect("complete");
    let mut conn = raw_conn().await;
    let base = format!("{}:{{default}}", q.prefix);
    let keys = [
        format!("{base}:job:{id}"),
        format!("{base}:errors:{id}"),
        format!("{base}:idem:once"),
    ];
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("pttl");
        assert_eq!(ttl, -1, "{key} exists without a TTL");
    }
    assert_eq!(q.store.purge_expired().await.expect("purge"), 0, "not yet");
    assert_eq!(
        q.store.get(&id).await.expect("get").map(|j| j.state),
        Some(JobState::Succeeded)
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.store.purge_expired().await.expect("purge"), 1);
    for key in &keys {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("exists");
        assert_eq!(exists, 0, "{key} deleted by the purge");
    }
    assert_eq!(
        q.store
            .counts()
            .await
            .expect("counts")
            .get(JobState::Succeeded),
        0
    );
    q.cleanup().await;
}

/// The leases index stays a skiplist (what keeps a lease and an ack cheap
/// at the default concurrency), and the member that keeps it one is never
/// counted or listed as a running job.
#[tokio::test]
async fn the_leases_index_is_a_skiplist_whose_sentinel_no_reader_sees() {
    let q = TestQueue::new(Driver::Redis).await;
    let id = q
        .store
        .enqueue(NewJob::new("a", "{}"))
        .await
        .expect("enqueue")
        .id;
    q.store
        .fetch("w", 1, Duration::from_secs(30))
        .await
        .expect("fetch");
    let mut conn = raw_conn().await;
    let leases = format!("{}:{{default}}:leases", q.prefix);
    let encoding: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(&leases)
        .query_async(&mut conn)
        .await
        .expect("encoding");
    assert_eq!(encoding, "skiplist");
    assert_eq!(
        q.store
            .counts()
            .await
            .expect("counts")
            .get(JobState::Running),
        1
    );
    let page = q
        .store
        .list(&queue::JobFilter {
            state: JobState::Running,
            kind: None,
            cursor: 0,
            limit: 10,
        })
        .await
        .expect("list");
    let listed: Vec<_> = page.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(listed, vec![id.clone()]);
    assert!(page.next.is_none(), "nothing after the one running job");
    let job = q.store.get(&id).await.expect("get").expect("job");
    assert_eq!(job.lease_owner.as_deref(), Some("w"));
    assert!(job.lease_expires_at.is_some(), "expiry read from the index");
    q.cleanup().await;
}

async fn count(job: Job, attempt: Attempt, started: Data<Arc<AtomicUsize>>) -> Handled<Error> {
    started.fetch_add(1, Ordering::SeqCst);
    job.run_diagnostic(attempt.current() as u32).await.into()
}

/// A worker whose Redis connection goes through `proxy`.
async fn worker_through(
    proxy: &FlakyProxy,
    prefix: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let store = QueueStore::Redis(
        RedisStore::connect(&proxy.url(), prefix, "default", Retention::default())
            .await
            .expect("connect via proxy"),
    );
    let settings = BackendSettings {
        concurrency: 8,
        fetch_batch: 8,
        lease: Duration::from_secs(10),
        heartbeat: Duration::from_millis(300),
        poll_interval: Duration::from_millis(200),
        retry: RetryPolicies::default(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = tokio::spawn(async move {
        let backend: QueueBackend<Job> = QueueBackend::new(store, settings);
        WorkerBuilder::new(format!("flaky-{}", ulid::Ulid::generate()))
            .backend(backend)
            .data(Arc::new(AtomicUsize::new(0)))
            .build(count)
            .run_until(async move {
                let _ = rx.await;
                Ok::<(), std::io::Error>(())
            })
            .await
            .expect("the worker ends only when told to");
    });
    (tx, handle)
}

fn probes(n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|_| {
            Job::Probe(Probe {
                sleep_ms: 0,
                fail_attempts: 0,
                permanent_failure: false,
            })
            .to_new_job(&RetryPolicies::default())
            .expect("encode")
        })
        .collect()
}

async fn succeeded(store: &QueueStore, n: u64, within: Duration) -> bool {
    eventually(within, || async {
        (store.counts().await.ok()?.get(JobState::Succeeded) >= n).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_out_a_redis_outage_and_carries_on() {
    let q = TestQueue::new(Driver::Redis).await;
    let proxy = FlakyProxy::start("127.0.0.1:6379").await;
    let (stop, worker) = worker_through(&proxy, &q.prefix).await;
    q.store.enqueue_batch(probes(20)).await.expect("enqueue");
    assert!(
        succeeded(&q.store, 20, Duration::from_secs(20)).await,
        "work before the outage"
    );

    proxy.outage();
    q.store
        .enqueue_batch(probes(20))
        .await
        .expect("enqueue during the outage");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!worker.is_finished(), "the worker survived the outage");
    proxy.restore();

    assert!(
        succeeded(&q.store, 40, Duration::from_secs(30)).await,
        "work after Redis came back: {:?}",
        q.store.counts().await
    );
    let _ = stop.send(());
    worker.await.expect("worker task");
    q.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_slower_than_half_a_second_do_not_kill_the_worker() {
    let q = TestQueue::new(Driver::Redis).await;
    let proxy = FlakyProxy::start("127.0.0.1:6379").await;
    proxy.set_delay(700);
    let (stop, worker) = worker_through(&proxy, &q.prefix).await;
    q.store.enqueue_batch(probes(10)).await.expect("enqueue");
    assert!(
        succeeded(&q.store, 10, Duration::from_secs(40)).await,
        "{:?}",
        q.store.counts().await
    );
    assert!(!worker.is_finished());
    let _ = stop.send(());
    worker.await.expect("worker task");
    q.cleanup().await;
}

/// A delivery is stored already naming the job it is about to be enqueued
/// under; when that job never reaches the queue (the process died in
/// between, or the queue lost it), the sender's retry enqueues it.
#[tokio::test]
async fn a_resent_delivery_whose_job_never_reached_the_queue_is_enqueued() {
    use jobs::{
        intake::Source,
        intake::inbox::{Delivery, receive},
    };
    let db = tests::db::fresh_postgres().await;
    db.migrate().await.expect("migrate");
    let q = TestQueue::new(Driver::Redis).await;
    let retry = RetryPolicies::default();
    let inbox = jobs::intake::inbox::InboxWriter::spawn(db.conn.clone());
    let delivery = || Delivery {
        source: Source::CareersSite,
        delivery_id: "msg_lost_job".into(),
        event: Some("application.submitted".into()),
        body: b"{}".to_vec(),
    };
    let first = receive(&inbox, &q.store, &retry, delivery())
        .await
        .expect("stored");
    assert!(!first.duplicate);
    let job_id = queue::JobId::parse(first.job_id.as_deref().expect("a job")).expect("id");
    assert!(q.store.get(&job_id).await.expect("get").is_some());
    let again = receive(&inbox, &q.store, &retry, delivery())
        .await
        .expect("stored");
    assert!(
        again.duplicate,
        "a resend while the job waits is a duplicate"
    );

    // The job is gone, as if the process had died before enqueueing it.
    let mut conn = raw_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", q.prefix))
        .query_async(&mut conn)
        .await
        .expect("keys");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .expect("del");
    let retried = receive(&inbox, &q.store, &retry, delivery())
        .await
        .expect("stored");
    assert!(!retried.duplicate, "the retry enqueued the job");
    assert_eq!(retried.inbox_id, first.inbox_id, "on the same row");
    assert_eq!(retried.job_id, first.job_id, "under the id the row names");
    let job = q
        .store
        .get(&job_id)
        .await
        .expect("get")
        .expect("queued again");
    assert_eq!(job.state, JobState::Ready);
    assert_eq!(job.kind, "process_delivery");
    q.cleanup().await;
    db.drop_database().await;
}
