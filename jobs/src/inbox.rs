//! The inbox: one row per webhook delivery, written before anything else so
//! that no accepted event is ever lost and no delivery is processed twice.
//!
//! The HTTP intake calls [`receive`] after verifying and validating a
//! delivery: the row (with the raw body) and the processing job are created
//! here, and the caller answers `202`. A delivery whose `(source,
//! delivery_id)` is already stored answers `200` and changes nothing.
//! Refused deliveries are kept too ([`record_rejection`]), without their body
//! when the sender could not be authenticated.

use chrono::Utc;
use entities::inbox::{self, InboxSource, InboxStatus, Verification};
use sea_orm::{
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TryInsertResult,
    sea_query::{CaseStatement, Expr, Func},
};
use serde::Serialize;

use crate::{
    context::JobContext,
    error::Result,
    intake::Source,
    job::Job,
    queue::{JobId, QueueStore, RetryPolicies},
};

/// Maps an intake source to its inbox column value.
pub fn inbox_source(source: Source) -> InboxSource {
    match source {
        Source::CareersSite => InboxSource::CareersSite,
        Source::Greenhouse => InboxSource::Greenhouse,
        Source::Lever => InboxSource::Lever,
    }
}

/// A verified, well-formed delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Who sent it.
    pub source: Source,
    /// The sender's id for it (webhook-id, Greenhouse-Event-ID, Lever token).
    pub delivery_id: String,
    /// The vendor event name, when known.
    pub event: Option<String>,
    /// The exact bytes received.
    pub body: Vec<u8>,
}

/// What [`receive`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The inbox row.
    pub inbox_id: i64,
    /// The processing job.
    pub job_id: Option<String>,
    /// True when this delivery was already stored; nothing changed.
    pub duplicate: bool,
}

/// Stores a delivery and enqueues its processing job.
///
/// A new delivery costs one database write: the row is inserted already
/// `enqueued`, carrying the id its job is about to be enqueued under. If
/// the enqueue then fails, the row goes back to `received` without a job
/// and the error is returned (the sender gets 503 and retries); the retry
/// finds the row and enqueues again (the job's idempotency key makes that
/// safe). If the process dies between the two steps, the row names a job
/// the queue does not hold: a retry of the delivery enqueues it, and so does
/// the sweeper ([`sweep`]), so nothing is lost.
///
/// # Errors
/// Database or queue unavailable.
pub async fn receive(
    db: &DatabaseConnection,
    queue: &QueueStore,
    retry: &RetryPolicies,
    d: Delivery,
) -> Result<Receipt> {
    let source = inbox_source(d.source);
    let job_id = JobId::generate();
    // Insert first, look up only on a conflict: a new delivery (the common
    // case) costs one round trip here, not two. `ON CONFLICT DO NOTHING`
    // rather than a failing INSERT so that a resent delivery does not log a
    // unique-violation error in the database.
    let inserted = inbox::Entity::insert(inbox::ActiveModel {
        source: Set(source),
        delivery_id: Set(d.delivery_id.clone()),
        event: Set(d.event.clone()),
        received_at: Set(Utc::now()),
        raw_body: Set(Some(d.body)),
        verification: Set(Verification::Verified),
        status: Set(InboxStatus::Enqueued),
        job_id: Set(Some(job_id.to_string())),
        error: Set(None),
        http_status: Set(202),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([inbox::Column::Source, inbox::Column::DeliveryId])
    .exec(db)
    .await?;
    let inbox_id = match inserted {
        TryInsertResult::Inserted(done) => done.last_insert_id,
        TryInsertResult::Conflicted | TryInsertResult::Empty => {
            return receive_again(db, queue, retry, source, &d.delivery_id).await;
        }
    };
    match queue
        .enqueue(delivery_job(inbox_id, Some(job_id), retry)?)
        .await
    {
        Ok(queued) => Ok(Receipt {
            inbox_id,
            job_id: Some(queued.id.to_string()),
            // A concurrent copy that enqueued first holds the job's
            // idempotency key: this copy is the repeat, and answers as one.
            duplicate: queued.duplicate,
        }),
        Err(e) => {
            // Say what is true: stored, not enqueued. Best effort; should
            // this fail too, the row names a job the queue lacks, which the
            // sweeper repairs the same way.
            let reverted = inbox::Entity::update_many()
                .set(inbox::ActiveModel {
                    status: Set(InboxStatus::Received),
                    job_id: Set(None),
                    ..Default::default()
                })
                .filter(inbox::Column::Id.eq(inbox_id))
                .filter(inbox::Column::Status.eq(InboxStatus::Enqueued))
                .exec(db)
                .await;
            if let Err(db_error) = reverted {
                tracing::warn!(inbox_id, error = %db_error, "could not mark the delivery not enqueued");
            }
            Err(e)
        }
    }
}

/// The job that processes inbox row `inbox_id`, under `id` when the row
/// names it already. Its idempotency key is the row's, so two copies of a
/// delivery enqueue one job.
fn delivery_job(
    inbox_id: i64,
    id: Option<JobId>,
    retry: &RetryPolicies,
) -> Result<crate::queue::NewJob> {
    let mut job = Job::ProcessDelivery { inbox_id }
        .to_new_job(retry)?
        .idempotency_key(format!("delivery:{inbox_id}"));
    if let Some(id) = id {
        job.id = id;
    }
    Ok(job)
}

/// A delivery stored before: a duplicate, unless its row still waits for a
/// job the queue does not hold (an earlier copy failed to enqueue, or its
/// process died), in which case this copy enqueues it.
async fn receive_again(
    db: &DatabaseConnection,
    queue: &QueueStore,
    retry: &RetryPolicies,
    source: InboxSource,
    delivery_id: &str,
) -> Result<Receipt> {
    let Some(row) = find(db, source, delivery_id).await? else {
        return Err(crate::error::Error::Retryable(format!(
            "inbox row for {source:?} delivery {delivery_id} neither inserted nor found"
        )));
    };
    let waiting = matches!(row.status, InboxStatus::Received | InboxStatus::Enqueued);
    // Done, or its job still waits: a plain repeat.
    if row.job_id.is_some() && (!waiting || queue.is_live(row.job_id.as_deref()).await?) {
        return Ok(Receipt {
            inbox_id: row.id,
            job_id: row.job_id,
            duplicate: true,
        });
    }
    let inbox_id = row.id;
    // Under the job id the row already names, if any, so that a copy of the
    // first attempt still in flight and this one enqueue one job.
    let named = row.job_id.as_deref().and_then(|id| JobId::parse(id).ok());
    let queued = queue.enqueue(delivery_job(inbox_id, named, retry)?).await?;
    let job_id = queued.id.to_string();
    // One conditional update, never a blind write of the row read above: by
    // now the job may have run and marked the row processed, and a
    // concurrent copy of this delivery may have got here first. A row only
    // moves forward: the job id is set if none is, the status leaves
    // `received` only for `enqueued`.
    inbox::Entity::update_many()
        .col_expr(
            inbox::Column::JobId,
            Func::coalesce([Expr::col(inbox::Column::JobId), Expr::val(job_id.clone())]).into(),
        )
        .col_expr(
            inbox::Column::Status,
            CaseStatement::new()
                .case(
                    inbox::Column::Status.eq(InboxStatus::Received),
                    Expr::val(InboxStatus::Enqueued.to_value()),
                )
                .finally(Expr::col(inbox::Column::Status))
                .into(),
        )
        .filter(inbox::Column::Id.eq(inbox_id))
        .exec(db)
        .await?;
    Ok(Receipt {
        inbox_id,
        job_id: Some(job_id),
        duplicate: queued.duplicate,
    })
}

/// How long a new row may wait for `receive` to enqueue its job before the
/// sweeper takes over.
const SWEEP_GRACE: chrono::Duration = chrono::Duration::seconds(10);

/// Most rows one sweep re-enqueues; the next sweep takes the rest.
const SWEEP_BATCH: u64 = 1_000;

/// Gives every stored delivery still waiting to be processed (`received`
/// or `enqueued`) whose job the queue no longer holds a new job; returns
/// how many. The queue can lose a job (Redis wiped, restored from an old
/// snapshot) and a process can die between storing a row and enqueueing
/// it; the row, in the database, is the truth, so the delivery is acted on
/// anyway. Run by every worker's sweeper; acting twice on a delivery is
/// harmless (see `capture::process_delivery`).
///
/// # Errors
/// Database and queue errors.
pub async fn sweep(ctx: &JobContext) -> Result<usize> {
    use sea_orm::{QueryOrder, QuerySelect};
    let waiting = inbox::Entity::find()
        .filter(inbox::Column::Status.is_in([InboxStatus::Received, InboxStatus::Enqueued]))
        .filter(inbox::Column::RawBody.is_not_null())
        .filter(inbox::Column::ReceivedAt.lt(Utc::now() - SWEEP_GRACE))
        .order_by_asc(inbox::Column::Id)
        .limit(SWEEP_BATCH)
        .all(&ctx.db)
        .await?;
    let live = ctx
        .queue
        .live_stored(waiting.iter().map(|row| row.job_id.as_deref()))
        .await?;
    let mut enqueued = 0;
    for (row, live) in waiting.into_iter().zip(live) {
        if live {
            continue;
        }
        // The key names the job it replaces, so sweepers in several
        // processes enqueue one job (see `payout::ledger::enqueue_sends`).
        let previous = row.job_id.as_deref().unwrap_or("none");
        let job = Job::ProcessDelivery { inbox_id: row.id }
            .to_new_job(&ctx.retry)?
            .idempotency_key(format!("delivery:{}:after:{previous}", row.id));
        let queued = ctx.queue.enqueue(job).await?;
        inbox::Entity::update_many()
            .set(inbox::ActiveModel {
                job_id: Set(Some(queued.id.to_string())),
                status: Set(InboxStatus::Enqueued),
                ..Default::default()
            })
            .filter(inbox::Column::Id.eq(row.id))
            .filter(inbox::Column::Status.is_in([InboxStatus::Received, InboxStatus::Enqueued]))
            .exec(&ctx.db)
            .await?;
        if !queued.duplicate {
            tracing::warn!(inbox_id = row.id, job_id = %queued.id.as_str(), "delivery had no live job; re-enqueued");
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

async fn find(
    db: &DatabaseConnection,
    source: InboxSource,
    delivery_id: &str,
) -> Result<Option<inbox::Model>> {
    Ok(inbox::Entity::find()
        .filter(inbox::Column::Source.eq(source))
        .filter(inbox::Column::DeliveryId.eq(delivery_id))
        .one(db)
        .await?)
}

/// Records a refused delivery. `body` only when the sender was authenticated
/// (a stranger's bytes are not worth keeping, and may be an attack).
///
/// # Errors
/// Database errors.
pub async fn record_rejection(
    db: &DatabaseConnection,
    source: Source,
    authenticated: bool,
    http_status: u16,
    error: &str,
    body: Option<Vec<u8>>,
) -> Result<i64> {
    let row = inbox::ActiveModel {
        source: Set(inbox_source(source)),
        // Rejections get their own ids: a forged copy must not block the
        // genuine delivery that carries the same id later.
        delivery_id: Set(format!("rejected:{}", ulid::Ulid::generate())),
        event: Set(None),
        received_at: Set(Utc::now()),
        raw_body: Set(if authenticated { body } else { None }),
        verification: Set(if authenticated {
            Verification::Verified
        } else {
            Verification::Failed
        }),
        status: Set(InboxStatus::Rejected),
        job_id: Set(None),
        error: Set(Some(error.chars().take(1000).collect())),
        http_status: Set(i32::from(http_status)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}
