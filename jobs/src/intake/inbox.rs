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
use queue::{JobId, QueueStore, RetryPolicies};
use sea_orm::{
    ActiveEnum, ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{CaseStatement, Expr, Func},
};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::{context::JobContext, error::Result, intake::event::Source, job::Job};

/// Maps an intake source to its inbox column value.
pub fn inbox_source(source: Source) -> InboxSource {
    match source {
        Source::CareersSite => InboxSource::CareersSite,
        Source::Greenhouse => InboxSource::Greenhouse,
        Source::Lever => InboxSource::Lever,
        Source::Ashby => InboxSource::Ashby,
        Source::Workable => InboxSource::Workable,
        Source::SmartRecruiters => InboxSource::SmartRecruiters,
    }
}

/// The intake source of a stored row, or `None` for a `generic` row: no
/// connector verifies or decodes those.
pub fn stored_source(source: InboxSource) -> Option<Source> {
    match source {
        InboxSource::CareersSite => Some(Source::CareersSite),
        InboxSource::Greenhouse => Some(Source::Greenhouse),
        InboxSource::Lever => Some(Source::Lever),
        InboxSource::Ashby => Some(Source::Ashby),
        InboxSource::Workable => Some(Source::Workable),
        InboxSource::SmartRecruiters => Some(Source::SmartRecruiters),
        InboxSource::Generic => None,
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
/// A new delivery costs one row in a database write it may share with
/// other deliveries arriving at the same moment ([`InboxWriter`]): the row
/// is inserted already `enqueued`, carrying the id its job is about to be
/// enqueued under. If the enqueue then fails, the row goes back to
/// `received` without a job and the error is returned (the sender gets 503
/// and retries); the retry finds the row and enqueues again (the job's
/// idempotency key makes that safe). If the process dies between the two
/// steps, the row names a job the queue does not hold: a retry of the
/// delivery enqueues it, and so does the sweeper ([`sweep`]), so nothing is
/// lost.
///
/// # Errors
/// Database or queue unavailable.
pub async fn receive(
    inbox: &InboxWriter,
    queue: &QueueStore,
    retry: &RetryPolicies,
    d: Delivery,
) -> Result<Receipt> {
    let db = &inbox.db;
    let source = inbox_source(d.source);
    let job_id = JobId::generate();
    let inserted = inbox
        .insert(NewRow {
            source,
            delivery_id: d.delivery_id.clone(),
            event: d.event.clone(),
            received_at: Utc::now(),
            body: d.body,
            job_id: job_id.to_string(),
        })
        .await?;
    let Some(inbox_id) = inserted else {
        return receive_again(db, queue, retry, source, &d.delivery_id).await;
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
            Err(e.into())
        }
    }
}

/// A new inbox row, as [`receive`] stores it: verified, already `enqueued`
/// under `job_id`, answered 202.
#[derive(Debug)]
struct NewRow {
    source: InboxSource,
    delivery_id: String,
    event: Option<String>,
    received_at: chrono::DateTime<Utc>,
    body: Vec<u8>,
    job_id: String,
}

/// Most rows one inbox statement carries.
const BATCH_ROWS: usize = 64;

/// Most inbox statements in flight at once. Two, so that the next batch is
/// being written while one commits; not more, because fewer statements
/// carry more rows each, and each statement costs the service and the
/// database CPU of its own: on the bench machine (docs/PERFORMANCE.md,
/// "Results after the fourth round") 2 did best, 1 and 4 to 8 worse.
const WRITERS_IN_FLIGHT: usize = 2;

/// How many deliveries may wait for a writer before senders wait too.
const WAITING: usize = 4_096;

/// A delivery waiting for its row, and where its answer goes: the row's id,
/// or `None` when `(source, delivery_id)` was stored already.
struct Pending {
    row: NewRow,
    reply: oneshot::Sender<std::result::Result<Option<i64>, sea_orm::DbErr>>,
}

/// Inserts new inbox rows, those of deliveries arriving together in one
/// statement and one commit.
///
/// Why: every delivery must be durable before it is answered, and a commit
/// waits for the database to flush its log. On the machine in
/// docs/PERFORMANCE.md PostgreSQL commits about 3,600–3,900 small
/// transactions a second however many clients send them, so one row per
/// commit caps intake there. The writer keeps at most
/// `WRITERS_IN_FLIGHT` statements running; a delivery that arrives while
/// they all are waits, and goes out with the next statement together with
/// every other delivery that arrived meanwhile (at most `BATCH_ROWS`).
/// A delivery arriving at a quiet moment goes out at once, alone: batching
/// adds no wait of its own.
///
/// Every caller is answered only after the statement holding its row has
/// committed. A caller that gives up waiting (its request dropped) may
/// leave a row naming a job no one enqueued; the sweeper enqueues it, as
/// when a process dies between the two steps.
///
/// Cloning is cheap: clones share one writer task.
#[derive(Clone, Debug)]
pub struct InboxWriter {
    db: DatabaseConnection,
    /// `None`: [`InboxWriter::direct`], one statement per delivery.
    to_writer: Option<mpsc::Sender<Pending>>,
}

impl InboxWriter {
    /// A writer that batches, with its task on the current Tokio runtime.
    /// The task ends when the last clone is dropped.
    pub fn spawn(db: DatabaseConnection) -> Self {
        let (to_writer, waiting) = mpsc::channel(WAITING);
        tokio::spawn(write_batches(db.clone(), waiting));
        Self {
            db,
            to_writer: Some(to_writer),
        }
    }

    /// A writer that inserts each delivery on its own, for callers off the
    /// hot path (an ops replay) that have no runtime-long state to keep a
    /// task in.
    pub fn direct(db: DatabaseConnection) -> Self {
        Self {
            db,
            to_writer: None,
        }
    }

    /// Inserts `row`; `None` when its `(source, delivery_id)` is stored
    /// already.
    async fn insert(&self, row: NewRow) -> Result<Option<i64>> {
        let Some(to_writer) = &self.to_writer else {
            return Ok(insert_one(&self.db, &row).await?);
        };
        let (reply, answer) = oneshot::channel();
        let gone =
            || crate::error::Error::Retryable("the inbox writer has stopped; retry later".into());
        to_writer
            .send(Pending { row, reply })
            .await
            .map_err(|_| gone())?;
        Ok(answer.await.map_err(|_| gone())??)
    }
}

/// The writer task: takes whatever waits (up to a batch) whenever a
/// statement slot is free.
async fn write_batches(db: DatabaseConnection, mut waiting: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(WRITERS_IN_FLIGHT));
    loop {
        // A slot first, then the deliveries: while every slot is busy,
        // deliveries pile up in the channel and leave as one batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        if waiting.recv_many(&mut batch, BATCH_ROWS).await == 0 {
            return; // every sender is gone
        }
        let db = db.clone();
        tokio::spawn(async move {
            write_batch(&db, batch).await;
            drop(slot);
        });
    }
}

/// Inserts one batch and answers its callers.
async fn write_batch(db: &DatabaseConnection, batch: Vec<Pending>) {
    let rows: Vec<&NewRow> = batch.iter().map(|p| &p.row).collect();
    match insert_rows(db, &rows).await {
        Ok(ids) => {
            for (pending, id) in batch.into_iter().zip(ids) {
                let _ = pending.reply.send(Ok(id));
            }
        }
        Err(e) if batch.len() == 1 => {
            for pending in batch {
                let _ = pending.reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            // One row may be what the database refused: it must not take
            // the others down with it. Each goes again on its own (at once,
            // so an outage fails them together rather than one by one).
            tracing::warn!(rows = batch.len(), error = %e, "inbox batch refused; inserting its rows one by one");
            futures::future::join_all(batch.into_iter().map(|pending| async move {
                let id = insert_one(db, &pending.row).await;
                let _ = pending.reply.send(id);
            }))
            .await;
        }
    }
}

/// Inserts one row: its new id, or `None` when its `(source, delivery_id)`
/// was stored already.
async fn insert_one(
    db: &DatabaseConnection,
    row: &NewRow,
) -> std::result::Result<Option<i64>, sea_orm::DbErr> {
    Ok(insert_rows(db, &[row]).await?.pop().flatten())
}

/// Inserts `rows` in one statement: for each, its new id, or `None` when
/// its `(source, delivery_id)` was stored already (by an earlier delivery,
/// or earlier in `rows`).
async fn insert_rows(
    db: &DatabaseConnection,
    rows: &[&NewRow],
) -> std::result::Result<Vec<Option<i64>>, sea_orm::DbErr> {
    use inbox::Column as C;
    use sea_orm::{
        ConnectionTrait, DbErr,
        sea_query::{OnConflict, Query},
    };
    use std::collections::{HashMap, hash_map::Entry};

    // The first copy of a key goes in; later copies in the same batch are
    // repeats, answered as such (PostgreSQL would skip them too, but which
    // copy won would then be its choice).
    let mut first: HashMap<(InboxSource, &str), usize> = HashMap::new();
    let mut insert = Query::insert();
    insert.into_table(inbox::Entity).columns([
        C::Source,
        C::DeliveryId,
        C::Event,
        C::ReceivedAt,
        C::RawBody,
        C::Verification,
        C::Status,
        C::JobId,
        C::HttpStatus,
    ]);
    for (i, row) in rows.iter().enumerate() {
        let Entry::Vacant(slot) = first.entry((row.source, row.delivery_id.as_str())) else {
            continue;
        };
        slot.insert(i);
        insert
            .values([
                row.source.to_value().into(),
                row.delivery_id.clone().into(),
                row.event.clone().into(),
                row.received_at.into(),
                row.body.clone().into(),
                Verification::Verified.to_value().into(),
                InboxStatus::Enqueued.to_value().into(),
                row.job_id.clone().into(),
                202i32.into(),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    // A resent delivery must not log a unique-violation error in the
    // database, hence DO NOTHING rather than a failing INSERT.
    insert
        .on_conflict(
            OnConflict::columns([C::Source, C::DeliveryId])
                .do_nothing()
                .to_owned(),
        )
        .returning(Query::returning().columns([C::Id, C::Source, C::DeliveryId]));
    let stored = db.query_all(&insert).await?;
    let mut ids = vec![None; rows.len()];
    for row in stored {
        let id: i64 = row.try_get("", "id")?;
        let source = InboxSource::try_from_value(&row.try_get::<String>("", "source")?)?;
        let delivery_id: String = row.try_get("", "delivery_id")?;
        if let Some(&i) = first.get(&(source, delivery_id.as_str())) {
            ids[i] = Some(id);
        }
    }
    Ok(ids)
}

/// The job that processes inbox row `inbox_id`, under `id` when the row
/// names it already. Its idempotency key is the row's, so two copies of a
/// delivery enqueue one job.
fn delivery_job(inbox_id: i64, id: Option<JobId>, retry: &RetryPolicies) -> Result<queue::NewJob> {
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
