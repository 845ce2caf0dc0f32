//! `queue_jobs`: the embedded job queue's table.
//!
//! Owned by the SQL queue store in `jobs`, which is the only code that should
//! write it (enqueue, lease, complete, retry, rescue); ops commands read it to
//! list stuck or dead jobs. Unlike the domain tables it keeps times as Unix
//! milliseconds in `BIGINT`s: the store compares and orders them in SQL on both
//! SQLite and PostgreSQL, and integers behave identically on both.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a queued job is in its life. Shared by both queue stores (the Redis
/// store keeps the same names in its job hashes); only the stores move jobs
/// between states, and the `queue` crate documents the transitions.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
#[schema(as = JobState)]
pub enum QueueJobState {
    /// Waiting for its `run_at` (a delayed job or a durable timer). Moved to
    /// `ready` by any worker's fetch once due; ops may cancel it.
    #[sea_orm(string_value = "scheduled")]
    Scheduled,
    /// Due and waiting for a worker. Fetch moves it to `running`.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// Leased to `lease_owner` until `lease_expires_at`. The worker's ack moves
    /// it on; an expired lease puts it back to `ready` (or `dead` when out of
    /// attempts) and counts a re-delivery.
    #[sea_orm(string_value = "running")]
    Running,
    /// An attempt failed and another is scheduled at `run_at` with backoff.
    /// Becomes `ready` when due; ops may retry it now or cancel it.
    #[sea_orm(string_value = "retrying")]
    Retrying,
    /// Done. Kept for the configured retention, then deleted.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Failed permanently or ran out of attempts; `errors` keeps every
    /// attempt's error. Only ops move it on (retry, requeue-dead).
    #[sea_orm(string_value = "dead")]
    Dead,
    /// Cancelled by ops before it ran. Ops may retry it.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl QueueJobState {
    /// Every state, in display order.
    pub const ALL: [QueueJobState; 7] = [
        QueueJobState::Scheduled,
        QueueJobState::Ready,
        QueueJobState::Running,
        QueueJobState::Retrying,
        QueueJobState::Succeeded,
        QueueJobState::Dead,
        QueueJobState::Cancelled,
    ];

    /// The state's stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueJobState::Scheduled => "scheduled",
            QueueJobState::Ready => "ready",
            QueueJobState::Running => "running",
            QueueJobState::Retrying => "retrying",
            QueueJobState::Succeeded => "succeeded",
            QueueJobState::Dead => "dead",
            QueueJobState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or user-given state name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for QueueJobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One queued job.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_jobs")]
pub struct Model {
    /// ULID, so ids sort by creation time.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(26))"
    )]
    pub id: String,
    /// Queue name.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub queue: String,
    /// Job kind within the queue (which handler runs it).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub kind: String,
    /// JSON payload for the handler.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// Lifecycle state.
    pub state: QueueJobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// After this many attempts the job goes `dead`.
    pub max_attempts: i32,
    /// Earliest run time, Unix ms.
    pub run_at: i64,
    /// Enqueue time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
    /// When it reached a terminal state, Unix ms.
    pub finished_at: Option<i64>,
    /// Worker holding the lease while `running`.
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub lease_owner: Option<String>,
    /// When the lease lapses, Unix ms.
    pub lease_expires_at: Option<i64>,
    /// Deduplication key; unique per queue when set.
    #[sea_orm(column_type = "String(StringLen::N(256))", nullable)]
    pub idempotency_key: Option<String>,
    /// Times the job was rescued after a lease expired (worker crash).
    pub redeliveries: i32,
    /// Counts leases ever granted; names the current one, so an ack from an
    /// earlier lease (even with the same attempt number after an ops retry)
    /// is recognised as stale.
    pub lease_seq: i64,
    /// Message of the last failure.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// JSON array of attempt records.
    #[sea_orm(column_type = "Text")]
    pub errors: String,
}

impl ActiveModelBehavior for ActiveModel {}
