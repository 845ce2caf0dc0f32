//! Connecting: the database pool, the queue the settings name, the retry
//! policies, and the [`AppState`] over them. Used by the service wiring
//! (`wiring`), by the one-shot CLI commands (`commands`), by the benches and
//! by the test harness, so that every one of them connects the same way.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use jobs::{context::JobContext, intake::inbox::InboxWriter};
use queue::{QueueStore, RedisStore, Retention, RetryPolicies, RetryPolicy, SqlStore};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use super::context::job_context;
use crate::{
    config::{QueueSettings, RetryPolicySettings, Settings},
    state::AppState,
};

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
        let client = redis_client(settings)?;
        let store = RedisStore::connect_client(client, &settings.prefix, &settings.name, retention)
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

/// The Redis client for `queue.redis_url`: with `queue.redis_ca_file`, a
/// `rediss://` client that trusts that CA (instead of the system's roots).
fn redis_client(settings: &QueueSettings) -> anyhow::Result<redis::Client> {
    let url = settings.redis_url.expose_secret();
    if settings.redis_ca_file.is_empty() {
        return redis::Client::open(url)
            .with_context(|| format!("queue.redis_url {}", settings.redis_url));
    }
    let ca = std::fs::read(&settings.redis_ca_file)
        .with_context(|| format!("queue.redis_ca_file: reading {}", settings.redis_ca_file))?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca),
    };
    redis::Client::build_with_tls(url, certificates).with_context(|| {
        format!(
            "queue.redis_ca_file {} with queue.redis_url {}",
            settings.redis_ca_file, settings.redis_url
        )
    })
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

/// The shared state over an open database and queue: the retry policies
/// and the job context from `settings`, checked now so that a bad section
/// fails at start-up, naming the key, rather than on the first job or the
/// first delivery.
///
/// # Errors
/// A section that cannot make a client (see [`job_context`]).
pub(super) fn app_state(
    settings: &Settings,
    db: DatabaseConnection,
    queue: QueueStore,
    inbox: InboxWriter,
) -> anyhow::Result<AppState> {
    let retry = retry_policies(settings);
    let mut state = AppState {
        jobs: Arc::new(JobContext::new(
            db.clone(),
            queue.clone(),
            retry.clone(),
            Default::default(),
        )),
        inbox,
        db,
        queue,
        retry,
        settings: Arc::new(settings.clone()),
        stopping: tokio_util::sync::CancellationToken::new(),
    };
    state.jobs = Arc::new(job_context(settings, &state)?);
    Ok(state)
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
    // No HTTP intake here: nothing to batch.
    let inbox = InboxWriter::direct(db.clone());
    Ok(app_state(settings, db, queue, inbox)?.jobs)
}
