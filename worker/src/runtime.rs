//! Process wiring: what `serve`, `work`, `web` and `migrate` start, and how
//! they stop.
//!
//! [`Application::build`] connects to the database and the queue (and runs
//! migrations unless told not to) and binds the HTTP port; [`Application::run_until`]
//! runs the HTTP server and/or the workers until a shutdown token fires. The
//! binary wires that token to SIGTERM/SIGINT; tests fire it themselves, so
//! they drive exactly the code production runs.
//!
//! Shutdown order on SIGTERM: the HTTP server stops accepting and finishes
//! in-flight requests; the workers stop fetching, let running jobs finish
//! within `queue.shutdown_timeout`, write their acks and hand unstarted jobs
//! back to the queue. A job still running when the timeout passes is left
//! leased; its lease expires and another worker runs it again.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use anyhow::Context as _;
use apalis::prelude::*;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jobs::{
    connectors::{
        greenhouse::{GreenhouseClient, GreenhouseConfig},
        lever::{LeverClient, LeverConfig},
    },
    context::{CaptureSettings, JobContext},
    job::Job,
    queue::{
        BackendSettings, QueueBackend, QueueStore, RedisStore, Retention, RetryPolicies,
        RetryPolicy, SqlStore,
    },
    referral::attribution::Rules,
};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio_util::sync::CancellationToken;

use crate::{
    cli::Command,
    config::{QueueSettings, RetryPolicySettings, Settings},
    http,
};

/// Which parts of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// HTTP, workers and schedules (`serve`).
    All,
    /// Workers and schedules only (`work`).
    Workers,
    /// HTTP only (`web`).
    Web,
}

impl Role {
    fn runs_http(self) -> bool {
        matches!(self, Role::All | Role::Web)
    }

    fn runs_workers(self) -> bool {
        matches!(self, Role::All | Role::Workers)
    }
}

/// Runs a CLI command to completion; the binary's only entry into the library.
///
/// # Errors
/// Start-up failures (unreachable database or Redis, a port in use, a failed
/// migration), each with the step that failed.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let role = match &command {
        Command::Migrate => {
            let db = connect_database(&settings).await?;
            let pending = Migrator::get_pending_migrations(&db).await?.len();
            Migrator::up(&db, None)
                .await
                .context("applying migrations")?;
            println!("migrations applied: {pending} new");
            return Ok(());
        }
        Command::Serve { .. } => Role::All,
        Command::Work { .. } => Role::Workers,
        Command::Web { .. } => Role::Web,
        Command::Config(_) => return Ok(()),
        Command::Task(cmd) => return crate::commands::task(cmd.clone(), &settings).await,
        Command::Links(cmd) => return crate::commands::links(cmd.clone(), &settings).await,
    };
    let app = Application::build(settings, role, command.migrate_on_start()).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run_until(shutdown).await
}

/// Cancels `token` on SIGTERM or SIGINT (Ctrl-C).
async fn stop_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
    token.cancel();
}

/// Opens the database pool. SQLite gets WAL mode and a busy timeout, so the
/// HTTP handlers and the embedded queue can write side by side.
///
/// # Errors
/// An invalid URL or an unreachable server.
pub async fn connect_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database.url.expose_secret().to_string();
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(settings.database.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(opts)
        .await
        .with_context(|| format!("connecting to the database {}", settings.database.url))
}

/// Opens the queue the settings name: Redis when `queue.redis_url` is set,
/// else the embedded table in `db`.
///
/// # Errors
/// An unreachable Redis.
pub async fn connect_queue(
    settings: &QueueSettings,
    db: &DatabaseConnection,
) -> anyhow::Result<QueueStore> {
    let retention = Retention {
        succeeded: settings.retention_succeeded,
        dead: settings.retention_dead,
    };
    if settings.uses_redis() {
        let store = RedisStore::connect(
            settings.redis_url.expose_secret(),
            &settings.prefix,
            &settings.name,
            retention,
        )
        .await
        .with_context(|| format!("connecting to Redis {}", settings.redis_url))?;
        Ok(QueueStore::Redis(store))
    } else {
        Ok(QueueStore::Sql(SqlStore::new(
            db.clone(),
            &settings.name,
            retention,
        )))
    }
}

fn policy(s: &RetryPolicySettings) -> RetryPolicy {
    RetryPolicy {
        max_attempts: s.max_attempts,
        base_delay: s.base_delay,
        max_delay: s.max_delay,
        schedule: None,
    }
}

/// The retry policies from `[queue.retry]` and `[queue.kinds.*]`, with
/// `payouts.retry_schedule` for the outbound kinds (bonus POSTs and
/// notifications) unless `[queue.kinds.<kind>]` names them.
pub fn retry_policies(settings: &Settings) -> RetryPolicies {
    let queue = &settings.queue;
    let outbound = RetryPolicy::scheduled(settings.payouts.retry_schedule.clone());
    let base = [jobs::job::Job::SEND_PAYOUT, jobs::job::Job::DELIVER_MESSAGE]
        .into_iter()
        .fold(RetryPolicies::new(policy(&queue.retry)), |acc, kind| {
            acc.with_kind(kind, outbound.clone())
        });
    queue.kinds.keys().fold(base, |acc, kind| {
        acc.with_kind(kind.clone(), policy(&queue.retry_for(kind)))
    })
}

/// Everything request handlers and jobs share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database (source of truth for workflow state).
    pub db: DatabaseConnection,
    /// The job queue.
    pub queue: QueueStore,
    /// Where webhook deliveries are stored: several arriving together
    /// share a statement and a commit (see [`jobs::intake::inbox::InboxWriter`]).
    pub inbox: jobs::intake::inbox::InboxWriter,
    /// Retry policies, for enqueueing jobs with the right attempt budget.
    pub retry: RetryPolicies,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
    /// What jobs run with (rules, outbound clients): request handlers that
    /// change workflow state use the same context, so their notifications
    /// and sends go through the same clients and rate limiters.
    pub jobs: Arc<JobContext>,
}

/// The job context from the settings: capture rules and the ATS clients
/// that have API keys.
///
/// # Errors
/// An ATS section that cannot make a client (a bad base URL, a Greenhouse
/// key without an On-Behalf-Of user).
pub fn job_context(settings: &Settings, state: &AppState) -> anyhow::Result<JobContext> {
    let r = &settings.referrals;
    let capture = CaptureSettings {
        rules: Rules {
            ownership_window: chrono::Duration::from_std(r.ownership_window)
                .context("referrals.ownership_window is too long")?,
            prior_applicant_window: chrono::Duration::from_std(r.prior_applicant_window)
                .context("referrals.prior_applicant_window is too long")?,
        },
        default_phone_region: Some(r.default_phone_region.clone()).filter(|s| !s.is_empty()),
        job_phone_regions: r
            .job_phone_regions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ats_tag: r.ats_tag.clone(),
        hire_stages: settings
            .milestones
            .hire_stages
            .iter()
            .map(|(ats, stages)| {
                (
                    ats.trim().to_lowercase(),
                    stages.iter().map(|s| s.trim().to_lowercase()).collect(),
                )
            })
            .collect(),
        start_date_field: settings.milestones.start_date_field.clone(),
    };
    let mut ctx = JobContext::new(
        state.db.clone(),
        state.queue.clone(),
        state.retry.clone(),
        capture,
    );
    ctx.payouts.rules = settings.payouts.rules.clone();
    let sb = &settings.sandbox;
    let recorder = sb
        .enabled
        .then(|| jobs::outbound::sandbox::Recorder::new(state.db.clone()));
    ctx.sandbox.enabled = sb.enabled;
    ctx.sandbox.recorder = recorder.clone();
    let p = &settings.payouts;
    // In sandbox mode: the sandbox URL when given, else the real one,
    // recorded instead of called (`record` is then the recorder).
    let (bonus_url, bonus_record) = sandboxed(&recorder, &sb.bonus_url, &p.destination_url);
    if !bonus_url.is_empty() {
        let url = url::Url::parse(bonus_url).context(if bonus_record.is_none() && sb.enabled {
            "sandbox.bonus_url"
        } else {
            "payouts.destination_url"
        })?;
        let rps = NonZeroU32::new(p.destination_requests_per_second).unwrap_or(NonZeroU32::MIN);
        let mut destination = jobs::outbound::webhook::Destination::new(
            "bonus-system",
            url,
            p.destination_secret.expose(),
            rps,
        );
        destination.idempotent = p.destination_idempotent;
        let client = jobs::outbound::webhook::OutboundClient::with_options(
            destination,
            &outbound_options(settings, p.destination_timeout),
        )
        .map_err(|e| anyhow::anyhow!("payouts.destination: {e}"))?;
        ctx.payouts.destination = Some(Arc::new(match bonus_record {
            Some(r) => client.record_only(r),
            None => client,
        }));
    }
    ctx.notifications = notifications(settings, &recorder)?;
    let rc = &settings.reconciliation;
    ctx.reconcile = jobs::context::ReconcileSettings {
        delivery_window: chrono::Duration::from_std(rc.delivery_window)
            .context("reconciliation.delivery_window is too long")?,
        ats_lookback: chrono::Duration::from_std(rc.ats_lookback)
            .context("reconciliation.ats_lookback is too long")?,
    };
    let gh = &settings.ats.greenhouse;
    if !gh.api_key.is_empty() {
        let mut config = GreenhouseConfig::new(gh.api_key.expose(), gh.on_behalf_of.clone());
        config.base_url = url::Url::parse(&gh.base_url).context("ats.greenhouse.base_url")?;
        if sb.enabled {
            if sb.greenhouse_base_url.is_empty() {
                ctx.sandbox.greenhouse = Some(config.base_url.clone());
            } else {
                config.base_url = url::Url::parse(&sb.greenhouse_base_url)
                    .context("sandbox.greenhouse_base_url")?;
            }
        }
        config.token_field_key = Some(gh.token_field.clone());
        config.http.allow_private_networks = settings.outbound.allow_private_networks;
        if let Some(n) = NonZeroU32::new(gh.requests_per_second) {
            config.quota = Quota::per_second(n);
        }
        ctx.greenhouse = Some(Arc::new(
            GreenhouseClient::new(config).map_err(|e| anyhow::anyhow!("ats.greenhouse: {e}"))?,
        ));
    }
    let lv = &settings.ats.lever;
    if !lv.api_key.is_empty() {
        let mut config = LeverConfig::new(lv.api_key.expose());
        config.base_url = url::Url::parse(&lv.base_url).context("ats.lever.base_url")?;
        if sb.enabled {
            if sb.lever_base_url.is_empty() {
                // Write-backs are recorded; re-fetches (reads) still go to
                // Lever, or nothing could be captured from its webhooks.
                ctx.sandbox.lever = Some(config.base_url.clone());
            } else {
                config.base_url =
                    url::Url::parse(&sb.lever_base_url).context("sandbox.lever_base_url")?;
            }
        }
        config.http.allow_private_networks = settings.outbound.allow_private_networks;
        if let Some(n) = NonZeroU32::new(lv.requests_per_second) {
            config.quota = Quota::per_second(n)
                .allow_burst(NonZeroU32::new(n.get().saturating_mul(2)).unwrap_or(n));
        }
        ctx.lever = Some(Arc::new(
            LeverClient::new(config).map_err(|e| anyhow::anyhow!("ats.lever: {e}"))?,
        ));
    }
    Ok(ctx)
}

/// A built, not yet running, service process.
pub struct Application {
    role: Role,
    settings: Settings,
    state: AppState,
    listener: Option<tokio::net::TcpListener>,
}

impl Application {
    /// Connects, migrates (when `migrate`) and binds the HTTP port (when the
    /// role serves HTTP; port 0 picks a free one, see [`Application::local_addr`]).
    ///
    /// # Errors
    /// The step that failed, named.
    pub async fn build(settings: Settings, role: Role, migrate: bool) -> anyhow::Result<Self> {
        // Once per process (later calls are no-ops): the recorder behind
        // every `metrics` call, rendered by `GET /metrics`.
        http::metrics::install();
        if migrate {
            // On a connection of its own, closed before the pool below opens.
            // SQLite compiles a statement against a schema cached per
            // connection, and migrations run statement by statement on
            // whichever pooled connection is free: a connection left holding
            // the schema as it was between two of them (`queue_jobs` created,
            // its unique index not yet) fails its first `INSERT .. ON
            // CONFLICT (queue, idempotency_key)` with "ON CONFLICT clause
            // does not match any PRIMARY KEY or UNIQUE constraint".
            let mut one = settings.clone();
            one.database.max_connections = 1;
            let db = connect_database(&one).await?;
            Migrator::up(&db, None)
                .await
                .context("applying migrations on start (use --no-migrate to skip)")?;
            db.close()
                .await
                .context("closing the migration connection")?;
        }
        let db = connect_database(&settings).await?;
        let queue = connect_queue(&settings.queue, &db).await?;
        let listener = if role.runs_http() {
            let listener = tokio::net::TcpListener::bind(settings.http.listen)
                .await
                .with_context(|| format!("binding HTTP to {}", settings.http.listen))?;
            Some(listener)
        } else {
            None
        };
        let retry = retry_policies(&settings);
        let mut state = AppState {
            jobs: Arc::new(JobContext::new(
                db.clone(),
                queue.clone(),
                retry.clone(),
                Default::default(),
            )),
            inbox: jobs::intake::inbox::InboxWriter::spawn(db.clone()),
            db,
            queue,
            retry,
            settings: Arc::new(settings.clone()),
        };
        // Fails at start-up, naming the key, rather than on the first job or
        // the first delivery.
        state.jobs = Arc::new(job_context(&settings, &state)?);
        let careers_secret = settings.webhooks.careers_site_secret.expose();
        if !careers_secret.is_empty() {
            jobs::connectors::careers_site::validate_secret(careers_secret)
                .map_err(|e| anyhow::anyhow!("webhooks.careers_site_secret: {e}"))?;
        }
        Ok(Self {
            role,
            settings,
            state,
            listener,
        })
    }

    /// The bound HTTP address, when this process serves HTTP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests use it to enqueue and inspect).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until `shutdown` is cancelled, then drains and returns.
    ///
    /// # Errors
    /// The HTTP server or the worker monitor failing.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            role,
            settings,
            state,
            listener,
        } = self;
        tracing::info!(
            role = ?role,
            queue = state.queue.backend_name(),
            listen = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
            "referral-worker starting"
        );
        let http = listener.map(|listener| {
            let router = http::router(state.clone(), &settings);
            let token = shutdown.clone();
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { token.cancelled().await })
                    .await
                    .context("HTTP server")
            })
        });
        let workers = role.runs_workers().then(|| {
            let token = shutdown.clone();
            tokio::spawn(run_workers(settings.clone(), state.clone(), token))
        });
        if let Some(h) = http {
            h.await.context("HTTP task")??;
        }
        if let Some(w) = workers {
            w.await.context("worker task")??;
        }
        tracing::info!("referral-worker stopped");
        Ok(())
    }
}

/// What a one-shot command needs to act like a job: the database, the
/// queue and the job context built from `settings`.
///
/// # Errors
/// A database or queue that cannot be reached; a section that cannot make
/// a client.
pub async fn connect_job_context(settings: &Settings) -> anyhow::Result<Arc<JobContext>> {
    let db = connect_database(settings).await?;
    let queue = connect_queue(&settings.queue, &db).await?;
    let retry = retry_policies(settings);
    let mut state = AppState {
        jobs: Arc::new(JobContext::new(
            db.clone(),
            queue.clone(),
            retry.clone(),
            Default::default(),
        )),
        // No HTTP intake here: nothing to batch.
        inbox: jobs::intake::inbox::InboxWriter::direct(db.clone()),
        db,
        queue,
        retry,
        settings: Arc::new(settings.clone()),
    };
    state.jobs = Arc::new(job_context(settings, &state)?);
    Ok(state.jobs)
}

/// Where one outbound client goes in sandbox mode: `(url, recorder)`.
/// Sandbox off (`recorder` is `None`): the real URL, sent. Sandbox on: the
/// sandbox URL when given, sent; else the real URL with the recorder, so
/// its calls are recorded instead of sent. An empty URL means no client.
fn sandboxed<'a>(
    recorder: &Option<jobs::outbound::sandbox::Recorder>,
    sandbox_url: &'a str,
    real_url: &'a str,
) -> (&'a str, Option<jobs::outbound::sandbox::Recorder>) {
    match recorder {
        None => (real_url, None),
        Some(_) if !sandbox_url.is_empty() => (sandbox_url, None),
        Some(r) => (real_url, Some(r.clone())),
    }
}

/// The status-sync, CRM and alert clients of `[notifications]` (sandboxed
/// per `[sandbox]` when `recorder` is set).
fn notifications(
    settings: &Settings,
    recorder: &Option<jobs::outbound::sandbox::Recorder>,
) -> anyhow::Result<jobs::context::Notifications> {
    use jobs::outbound::webhook::{Destination, OutboundClient};
    let n = &settings.notifications;
    let sb = &settings.sandbox;
    let rps = NonZeroU32::new(n.requests_per_second).unwrap_or(NonZeroU32::MIN);
    let options = outbound_options(settings, n.timeout);
    let finish =
        |client: OutboundClient, record: Option<jobs::outbound::sandbox::Recorder>| match record {
            Some(r) => Arc::new(client.record_only(r)),
            None => Arc::new(client),
        };
    let signed = |name: &str,
                  sandbox_url: &str,
                  url: &str,
                  secret: &str|
     -> anyhow::Result<Option<Arc<OutboundClient>>> {
        let (url, record) = sandboxed(recorder, sandbox_url, url);
        if url.is_empty() {
            return Ok(None);
        }
        let key = if recorder.is_some() && record.is_none() {
            format!("sandbox.{name}_url")
        } else {
            format!("notifications.{name}_url")
        };
        let url = url::Url::parse(url).with_context(|| key.clone())?;
        let client =
            OutboundClient::with_options(Destination::new(name, url, secret, rps), &options)
                .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        Ok(Some(finish(client, record)))
    };
    let (alert_url, alert_record) = sandboxed(
        recorder,
        sb.alert_webhook_url.expose(),
        n.alert_webhook_url.expose(),
    );
    let alert = if alert_url.is_empty() {
        None
    } else {
        // The URL is the credential: never put it in an error.
        let url = url::Url::parse(alert_url)
            .map_err(|_| anyhow::anyhow!("notifications.alert_webhook_url is not a URL"))?;
        let client = OutboundClient::with_options(Destination::slack("alert", url, rps), &options)
            .map_err(|e| anyhow::anyhow!("notifications.alert_webhook_url: {e}"))?;
        Some(finish(client, alert_record))
    };
    Ok(jobs::context::Notifications {
        status_sync: signed(
            "status_sync",
            &sb.status_sync_url,
            &n.status_sync_url,
            n.status_sync_secret.expose(),
        )?,
        crm: signed("crm", &sb.crm_url, &n.crm_url, n.crm_secret.expose())?,
        alert,
        notify_rejections: n.notify_rejections,
        public_base_url: settings.http.public_base_url.clone(),
    })
}

/// Outbound transport options for a request timeout: the connect timeout
/// stays strictly shorter (see `jobs::outbound::webhook`).
fn outbound_options(
    settings: &Settings,
    timeout: Duration,
) -> jobs::outbound::webhook::OutboundOptions {
    let mut options = jobs::outbound::webhook::OutboundOptions::default();
    options.http.allow_private_networks = settings.outbound.allow_private_networks;
    options.http.timeout = timeout;
    options.http.connect_timeout = options.http.connect_timeout.min(timeout / 2);
    options
}

/// What every job attempt can reach.
struct JobRuntime {
    limiter: Option<DefaultDirectRateLimiter>,
    ctx: JobContext,
}

/// The apalis handler: waits for the process-wide start rate, then runs the job.
///
/// Every line logged while the job runs carries the job's id, kind and the
/// id of what it is about (inbox delivery, referral, milestone, payout,
/// message) through a span: ids, never personal data.
async fn handle_job(
    job: Job,
    attempt: Attempt,
    task_id: TaskId,
    rt: Data<Arc<JobRuntime>>,
) -> jobs::Result<()> {
    use tracing::Instrument as _;
    if let Some(limiter) = &rt.limiter {
        limiter.until_ready().await;
    }
    let span = tracing::info_span!(
        "job",
        job_id = %task_id,
        kind = job.kind(),
        attempt = attempt.current(),
        inbox_id = tracing::field::Empty,
        referral_id = tracing::field::Empty,
        milestone_id = tracing::field::Empty,
        payout_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
    );
    if let Some((field, id)) = job.subject() {
        span.record(field, id);
    }
    job.run(&rt.ctx, attempt.current() as u32)
        .instrument(span)
        .await
}

/// A worker name unique per process start. apalis-redis refuses to re-register
/// a name for a while after a crash; our leases are per name too, so a
/// restarted process must never reuse its predecessor's name.
fn worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let tag = ulid::Ulid::generate().to_string();
    format!("{host}-{}-{}", std::process::id(), &tag[tag.len() - 6..])
}

async fn run_workers(
    settings: Settings,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let q = &settings.queue;
    let backend_settings = BackendSettings {
        concurrency: q.concurrency,
        fetch_batch: q.fetch_batch,
        lease: q.lease,
        heartbeat: q.heartbeat,
        poll_interval: q.poll_interval,
        retry: state.retry.clone(),
    };
    let runtime = Arc::new(JobRuntime {
        ctx: (*state.jobs).clone(),
        limiter: q
            .rate_limit_per_second()
            .map(|n: NonZeroU32| RateLimiter::direct(Quota::per_second(n))),
    });
    // The probation timers' safety net: re-arm any whose job is missing
    // (every worker process runs it; re-arming is idempotent).
    let sweeper = {
        let ctx = runtime.ctx.clone();
        let every = settings.payouts.timer_sweep;
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                if let Err(e) = jobs::maintenance::sweeper::sweep(&ctx).await {
                    tracing::warn!(error = %e, "sweeping timers, payouts and notifications failed");
                }
            }
        })
    };
    let mut schedules = Vec::new();
    if !settings.reconciliation.schedule.trim().is_empty() {
        let schedule = jobs::maintenance::schedule::CronSchedule::new(
            "reconciliation",
            &settings.reconciliation.schedule,
            &settings.reconciliation.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("reconciliation.{e}"))?;
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            runtime.ctx.clone(),
            shutdown.clone(),
            |trigger| jobs::job::Job::Reconcile {
                trigger,
                dry_run: false,
            },
        )));
    }
    if !settings.retention.schedule.trim().is_empty() {
        let schedule = jobs::maintenance::schedule::CronSchedule::new(
            "retention",
            &settings.retention.schedule,
            &settings.retention.time_zone,
        )
        .map_err(|e| anyhow::anyhow!("retention.{e}"))?;
        let after_secs = settings.retention.purge_after.as_secs();
        schedules.push(tokio::spawn(run_schedule(
            schedule,
            runtime.ctx.clone(),
            shutdown.clone(),
            move |trigger| jobs::job::Job::PurgePersonalData {
                trigger,
                after_secs,
            },
        )));
    }
    let name = worker_name();
    tracing::info!(worker = %name, concurrency = q.concurrency, "worker starting");
    let store = state.queue.clone();
    let timeout = q.job_timeout;
    Monitor::new()
        .register(move |run| {
            let backend: QueueBackend<Job> =
                QueueBackend::new(store.clone(), backend_settings.clone());
            WorkerBuilder::new(format!("{name}-{run}"))
                .backend(backend)
                .timeout(timeout)
                .catch_panic()
                .data(runtime.clone())
                .build(handle_job)
        })
        .shutdown_timeout(q.shutdown_timeout)
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .context("worker monitor")?;
    sweeper.abort();
    for s in schedules {
        s.abort();
    }
    Ok(())
}

/// Enqueues `job(tick key)` at every tick of `schedule` until shutdown.
///
/// Every worker process runs this loop for every schedule; the tick's key
/// is the job's idempotency key, so the queue keeps one job per tick
/// whichever process enqueues first (see `jobs::maintenance::schedule`). A tick missed
/// while no process was up is not made up: the next one runs.
async fn run_schedule(
    schedule: jobs::maintenance::schedule::CronSchedule,
    ctx: JobContext,
    stop: CancellationToken,
    job: impl Fn(String) -> jobs::job::Job + Send + 'static,
) {
    tracing::info!(schedule = %schedule, "schedule armed");
    loop {
        let Some(tick) = schedule.next_after(chrono::Utc::now()) else {
            tracing::warn!(schedule = %schedule, "schedule has no further tick");
            return;
        };
        let wait = (tick - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let key = schedule.tick_key(tick);
        let enqueued = job(key.clone())
            .to_new_job(&ctx.retry)
            .map(|j| j.idempotency_key(key.clone()));
        match enqueued {
            Ok(new_job) => match ctx.queue.enqueue(new_job).await {
                Ok(outcome) => tracing::info!(
                    schedule = schedule.name(),
                    tick = %key,
                    job_id = %outcome.id.as_str(),
                    duplicate = outcome.duplicate,
                    "schedule tick"
                ),
                Err(e) => tracing::warn!(schedule = schedule.name(), tick = %key, error = %e,
                    "could not enqueue the tick's job; the next tick runs"),
            },
            Err(e) => tracing::warn!(schedule = schedule.name(), error = %e, "tick job"),
        }
        // Never fire the same tick twice in one process, even if the clock
        // reads the tick again after the sleep.
        let past = tick + chrono::Duration::milliseconds(1);
        let now = chrono::Utc::now();
        if now < past {
            tokio::time::sleep((past - now).to_std().unwrap_or_default()).await;
        }
    }
}
