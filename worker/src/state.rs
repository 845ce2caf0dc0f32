//! [`AppState`]: what HTTP handlers and jobs share (the database, the queue,
//! the inbox writer, retry policies, the settings and the job context).
//!
//! Owned here, apart from the wiring that builds it (`runtime::connect`),
//! so that `http/*` can take it as their axum state without importing the
//! runtime that starts them.

use std::sync::Arc;

use jobs::{context::JobContext, intake::inbox::InboxWriter};
use queue::{QueueStore, RetryPolicies};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

/// Everything request handlers and jobs share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database (source of truth for workflow state).
    pub db: DatabaseConnection,
    /// The job queue.
    pub queue: QueueStore,
    /// Where webhook deliveries are stored: several arriving together
    /// share a statement and a commit (see [`jobs::intake::inbox::InboxWriter`]).
    pub inbox: InboxWriter,
    /// Retry policies, for enqueueing jobs with the right attempt budget.
    pub retry: RetryPolicies,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
    /// What jobs run with (rules, outbound clients): request handlers that
    /// change workflow state use the same context, so their notifications
    /// and sends go through the same clients and rate limiters.
    pub jobs: Arc<JobContext>,
    /// Cancelled when the process is told to stop (SIGTERM): from then on
    /// `/readyz` answers 503 while HTTP requests and jobs drain. The
    /// wiring sets it to its shutdown token; a state built for a one-shot
    /// command keeps a token nobody cancels.
    pub stopping: CancellationToken,
}
