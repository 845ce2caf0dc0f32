//! Process wiring: what `serve`, `work` and `web` start, and how they stop.
//!
//! [`Application::build`] connects to the database and the queue (and runs
//! migrations unless told not to) and binds the HTTP port;
//! [`Application::run_until`] runs the HTTP server and/or the workers until a
//! shutdown token fires. [`serve`] wires that token to SIGTERM/SIGINT; tests
//! fire it themselves, so they drive exactly the code production runs.
//!
//! Shutdown order on SIGTERM: the HTTP server stops accepting and finishes
//! in-flight requests; the workers stop fetching, let running jobs finish
//! within `queue.shutdown_timeout`, write their acks and hand unstarted jobs
//! back to the queue. A job still running when the timeout passes is left
//! leased; its lease expires and another worker runs it again.
//!
//! # Files
//!
//! | file | owns |
//! |---|---|
//! | `connect.rs` | the database pool, the queue, retry policies, the [`AppState`] over them; [`connect_job_context`] for one-shot commands |
//! | `context.rs` | [`job_context`]: the job context (capture rules, outbound and ATS clients, sandbox routing) from the settings |
//! | `wiring.rs` | [`Role`] and [`Application`]: build, then run HTTP and/or workers until shutdown |
//! | `limits/` | the `[http]` limits: the accept loop (connection cap, header timeout, overflow pool for the probes), body and request timeouts, the per-address limit on refused requests |
//! | `workers.rs` | the apalis monitor over the queue and the handler of one job attempt |
//! | `schedules.rs` | the timer sweeper and the cron schedules beside the workers |
//! | `signals.rs` | SIGTERM/SIGINT → the shutdown token |
//!
//! Nothing here knows the CLI: `commands` decides which command runs what,
//! and calls [`serve`] for the long-running ones. `http` takes the
//! [`AppState`] from `crate::state`, not from here.

mod connect;
mod context;
pub mod limits;
mod schedules;
mod signals;
mod wiring;
mod workers;

pub use connect::{connect_database, connect_job_context, connect_queue, retry_policies};
pub use context::job_context;
pub use wiring::{Application, Role};

/// The state the wiring builds (owned by `crate::state`; re-exported for
/// callers that build an [`Application`] and inspect what it holds).
pub use crate::state::AppState;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// Builds the service for `role` and runs it until SIGTERM or SIGINT, then
/// drains (see the module docs for the order).
///
/// # Errors
/// Start-up failures (unreachable database or Redis, a port in use, a failed
/// migration), each with the step that failed; the HTTP server or the
/// worker monitor failing.
pub async fn serve(settings: Settings, role: Role, migrate: bool) -> anyhow::Result<()> {
    let app = Application::build(settings, role, migrate).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(signals::stop_on_signal(shutdown.clone()));
    app.run_until(shutdown).await
}
