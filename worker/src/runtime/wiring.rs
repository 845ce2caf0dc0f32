//! The service process: [`Application::build`] connects to the database and
//! the queue (and runs migrations unless told not to) and binds the HTTP
//! port (or, for `work`, the ops port when `http.ops_listen` is set);
//! [`Application::run_until`] runs the HTTP server and/or the workers (per
//! [`Role`]) until a shutdown token fires, then drains. Built by
//! `runtime::serve` for `serve`, `work` and `web`, and by the test harness
//! and the benches, which fire the token themselves.

use std::{future::Future, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use jobs::intake::inbox::InboxWriter;
use migrations::{Migrator, MigratorTrait};
use tokio_util::sync::CancellationToken;

use super::{
    connect::{app_state, connect_database, connect_queue},
    limits::{HttpLimits, connections},
    workers::run_workers,
};
use crate::{config::Settings, http, state::AppState};

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

/// A built, not yet running, service process.
pub struct Application {
    role: Role,
    settings: Settings,
    state: AppState,
    listener: Option<tokio::net::TcpListener>,
    ops_listener: Option<tokio::net::TcpListener>,
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
        let listener = match role.runs_http() {
            true => Some(bind(settings.http.listen, "HTTP").await?),
            false => None,
        };
        // `serve` and `web` answer the ops routes on their HTTP listener.
        let ops_listener = match settings.http.ops_listen {
            Some(addr) if role == Role::Workers => Some(bind(addr, "the ops listener").await?),
            _ => None,
        };
        let inbox = InboxWriter::spawn(db.clone());
        let state = app_state(&settings, db, queue, inbox)?;
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
            ops_listener,
        })
    }

    /// The bound HTTP address, when this process serves HTTP.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound ops address, when this is a `work` process with
    /// `http.ops_listen`.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The shared state (tests use it to enqueue and inspect).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until `shutdown` is cancelled, then drains and returns.
    ///
    /// From the signal on, `/readyz` answers 503. The HTTP listener keeps
    /// answering for `http.shutdown_delay`, then stops accepting and
    /// finishes its requests; the workers drain meanwhile; a `work`
    /// process's ops listener answers until they are done.
    ///
    /// # Errors
    /// The HTTP server or the worker monitor failing.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            role,
            settings,
            mut state,
            listener,
            ops_listener,
        } = self;
        state.stopping = shutdown.clone();
        tracing::info!(
            role = ?role,
            queue = state.queue.backend_name(),
            listen = ?listener.as_ref().and_then(|l| l.local_addr().ok()),
            ops_listen = ?ops_listener.as_ref().and_then(|l| l.local_addr().ok()),
            "referral-worker starting"
        );
        let delay = settings.http.shutdown_delay;
        let limits = HttpLimits::from_settings(&settings.http);
        let http = listener.map(|listener| {
            let router = http::router(state.clone(), &settings);
            let probes = http::probes_router(state.clone());
            let stop = after_delay(shutdown.clone(), delay);
            spawn_server(listener, router, probes, limits.clone(), stop)
        });
        // Cancelled once the workers have drained (or failed).
        let drained = CancellationToken::new();
        let ops = ops_listener.map(|listener| {
            let router = http::ops_router(state.clone());
            let probes = http::probes_router(state.clone());
            let done = drained.clone();
            let stop = async move { done.cancelled().await };
            spawn_server(listener, router, probes, limits.clone(), stop)
        });
        let workers = role.runs_workers().then(|| {
            let token = shutdown.clone();
            tokio::spawn(run_workers(settings.clone(), state.clone(), token))
        });
        let workers_result = match workers {
            Some(w) => w.await.context("worker task").and_then(|r| r),
            None => Ok(()),
        };
        drained.cancel();
        if let Some(h) = http {
            h.await.context("HTTP task")??;
        }
        if let Some(o) = ops {
            o.await.context("ops listener task")??;
        }
        workers_result?;
        tracing::info!("referral-worker stopped");
        Ok(())
    }
}

/// Binds `addr` for `what` (named in the error).
async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {what} to {addr}"))
}

/// Serves `router` on `listener` within the `[http]` limits until `stop`
/// completes, then finishes the requests in flight (see
/// [`super::limits`]).
fn spawn_server(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    probes: axum::Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(connections::serve(listener, router, probes, limits, stop))
}

/// Completes `delay` after `token` is cancelled.
async fn after_delay(token: CancellationToken, delay: Duration) {
    token.cancelled().await;
    tokio::time::sleep(delay).await;
}
