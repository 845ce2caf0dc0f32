//! [`Lease`]: what a worker knows about the lease one task runs under.
//!
//! The backend ([`crate::backend`]) puts it in each task's extensions when
//! it hands the task to apalis, and its ack layer reads it back; the
//! verdict ([`crate::verdict`]) reads its attempt counts to decide between
//! a retry and the dead letter. It has a module of its own so that the
//! verdict, which the backend calls, never has to import the backend.

use crate::JobId;

/// What the worker knows about the lease a task runs under; stored in the
/// task's extensions for the backend's ack layer.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The job.
    pub id: JobId,
    /// Its kind.
    pub kind: String,
    /// This attempt's number (1-based).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The lease's sequence number in the store.
    pub lease: u64,
}
