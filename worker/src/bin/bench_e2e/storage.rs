//! `bench_e2e capture` and `bench_e2e inbox`: the storage halves of the
//! workflow called directly, without HTTP or the queue.

use super::*;

pub(super) async fn capture(
    args: &Args,
    workflows: usize,
    concurrency: &[usize],
) -> anyhow::Result<()> {
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
    let _ = RedisStore::delete_prefix(&args.redis_url, &prefix).await;
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

pub(super) async fn inbox(
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
    let _ = RedisStore::delete_prefix(&args.redis_url, &prefix).await;
    db.drop().await;
    result
}
