//! The inbox as ops see it (rows without their bodies), and replaying a
//! stored delivery through the path the webhooks use.

use chrono::{DateTime, Utc};
use entities::inbox::{self, InboxSource, InboxStatus, Verification};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use serde::Serialize;
use serde_json::json;

use super::{
    matching::decode,
    request::{MAX_LIMIT, Page, clean_reason, page_of, record},
};
use crate::{
    context::JobContext,
    error::{Error, Result},
    intake::inbox::Delivery,
};

/// An inbox row without its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromQueryResult, utoipa::ToSchema)]
pub struct InboxRow {
    /// The row.
    pub id: i64,
    /// Where it came from.
    pub source: InboxSource,
    /// The sender's delivery id.
    pub delivery_id: String,
    /// The sender's event name.
    pub event: Option<String>,
    /// Received.
    pub received_at: DateTime<Utc>,
    /// Signature check.
    pub verification: Verification,
    /// Where it stands.
    pub status: InboxStatus,
    /// Its processing job.
    pub job_id: Option<String>,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// What we answered.
    pub http_status: i32,
    /// Size of the stored body; `None` when no body is stored.
    pub body_bytes: Option<i64>,
}

pub(super) fn inbox_rows_query() -> sea_orm::Select<inbox::Entity> {
    inbox::Entity::find()
        .select_only()
        .columns([
            inbox::Column::Id,
            inbox::Column::Source,
            inbox::Column::DeliveryId,
            inbox::Column::Event,
            inbox::Column::ReceivedAt,
            inbox::Column::Verification,
            inbox::Column::Status,
            inbox::Column::JobId,
            inbox::Column::Error,
            inbox::Column::HttpStatus,
        ])
        .column_as(Expr::cust("CAST(LENGTH(raw_body) AS BIGINT)"), "body_bytes")
}

/// Inbox rows, newest first, without bodies.
///
/// # Errors
/// Database errors.
pub async fn inbox(
    ctx: &JobContext,
    source: Option<InboxSource>,
    status: Option<InboxStatus>,
    cursor: Option<i64>,
    limit: u32,
) -> Result<Page<InboxRow>> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = inbox_rows_query();
    if let Some(s) = source {
        q = q.filter(inbox::Column::Source.eq(s));
    }
    if let Some(s) = status {
        q = q.filter(inbox::Column::Status.eq(s));
    }
    if let Some(c) = cursor {
        q = q.filter(inbox::Column::Id.lt(c));
    }
    let rows = q
        .order_by_desc(inbox::Column::Id)
        .limit(u64::from(limit) + 1)
        .into_model::<InboxRow>()
        .all(&ctx.db)
        .await?;
    Ok(page_of(rows, limit, |r: &InboxRow| r.id))
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// The row replayed (left as it was).
    pub inbox_id: i64,
    /// The new inbox row holding the replayed delivery.
    pub replay_inbox_id: i64,
    /// Its processing job.
    pub job_id: Option<String>,
    /// The audit event.
    pub audit_event_id: i64,
}

/// Why a replay was refused (HTTP 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReplayRefused(pub String);

/// How a replayed delivery's id starts (`replay:<inbox id>:<ulid>`): ops
/// asked for it again on purpose, so it is no duplicate of the original.
pub const REPLAY_PREFIX: &str = "replay:";

/// Replays an inbox row: its stored body is decoded with the source's
/// decoder and stored as a new delivery (`replay:<id>:<ulid>`) through
/// [`crate::intake::inbox::receive`], the path the webhooks use, which enqueues its
/// `process_delivery` job. The original row is left as it was. Audited as
/// `inbox.replayed`.
///
/// Returns `Ok(Err(..))` when the row cannot be replayed: no stored body
/// (refused before its sender was authenticated), a source without a
/// decoder, or a body that no longer decodes.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] for an empty reason; storage
/// errors.
pub async fn replay(
    ctx: &JobContext,
    inbox_id: i64,
    actor: &str,
    reason: &str,
) -> Result<std::result::Result<Replayed, ReplayRefused>> {
    let reason = clean_reason(reason)?;
    let row = inbox::Entity::find_by_id(inbox_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("inbox row {inbox_id}")))?;
    let Some(body) = row.raw_body.clone() else {
        let why = if row.verification == Verification::Failed {
            "it was refused before its sender was authenticated, so its body was not kept"
        } else {
            "its body was not kept"
        };
        return Ok(Err(ReplayRefused(format!(
            "inbox row {inbox_id} has no stored body to replay: {why}"
        ))));
    };
    let Some(source) = crate::intake::inbox::stored_source(row.source) else {
        return Ok(Err(ReplayRefused(format!(
            "inbox row {inbox_id} is a generic delivery, which has no decoder"
        ))));
    };
    let event = match decode(ctx, row.source, &body) {
        Ok(ev) => ev,
        Err(e) => {
            return Ok(Err(ReplayRefused(format!(
                "inbox row {inbox_id}'s stored body does not decode: {e}"
            ))));
        }
    };
    let receipt = crate::intake::inbox::receive(
        &crate::intake::inbox::InboxWriter::direct(ctx.db.clone()),
        &ctx.queue,
        &ctx.retry,
        Delivery {
            source,
            delivery_id: format!("{REPLAY_PREFIX}{inbox_id}:{}", ulid::Ulid::generate()),
            event: Some(event.event_name()),
            body,
        },
    )
    .await?;
    let audit_event_id = record(
        ctx,
        actor,
        "inbox.replayed",
        "inbox",
        inbox_id.to_string(),
        json!({
            "reason": reason,
            "replay_inbox_id": receipt.inbox_id,
            "job_id": receipt.job_id,
        }),
    )
    .await?;
    Ok(Ok(Replayed {
        inbox_id,
        replay_inbox_id: receipt.inbox_id,
        job_id: receipt.job_id,
        audit_event_id,
    }))
}
