//! `bench_e2e timers`: a million pending probation timers, their Redis
//! memory and the firing lag of a batch made due at one instant.

use super::*;

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

pub(super) async fn timers(args: &Args, n: usize, due: usize, lead: u64) -> anyhow::Result<()> {
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
    let _ = RedisStore::delete_prefix(&args.redis_url, &prefix).await;
    result
}
