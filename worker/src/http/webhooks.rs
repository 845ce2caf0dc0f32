//! Webhook intake: read the raw bytes, verify, validate, store in the inbox,
//! enqueue, answer. The work happens in the `process_delivery` job.
//!
//! The order is deliberate: size (413) and media type (415) first, then the
//! signature (401) over the exact bytes, then the shape (400/422), then the
//! inbox row and the job (503 when storage is down, so the sender retries).
//! Every refusal is recorded in the inbox, without the body when the sender
//! was not authenticated.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use jobs::{
    connectors::{ashby, careers_site, greenhouse, lever, workable},
    intake::inbox::{self, Delivery},
    intake::{self, Source},
};
use serde::Serialize;

use super::{
    body::{read_limited, require_json},
    error::{ApiError, ErrorBody},
};
use crate::state::AppState;

type Answer = Result<(StatusCode, Json<Receipt>), ApiError>;

/// What a webhook sender is answered when its delivery is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// `accepted` (202) or `duplicate` (200: seen before, nothing changed).
    status: ReceiptStatus,
    /// The inbox row (the first one, for a duplicate).
    inbox_id: i64,
    /// The `process_delivery` job.
    job_id: Option<String>,
}

/// Whether a delivery was new.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Stored in the inbox and enqueued.
    Accepted,
    /// Seen before (same delivery id): nothing changed.
    Duplicate,
}

/// A vendor's event, read by the source's decoder (see docs/ for the
/// payloads); authenticated over its exact bytes.
type VendorEvent = serde_json::Value;

/// `POST /webhooks/applications`: our careers site (Standard Webhooks).
#[utoipa::path(post, path = "/webhooks/applications", tag = "webhooks",
    summary = "Careers site and generic ATS events (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature)",
    security(("standard_webhooks" = [])),
    request_body(content = VendorEvent, description = "an application event"),
    responses(
        (status = 200, description = "a repeated delivery: nothing changed", body = Receipt),
        (status = 202, description = "verified, stored in the inbox and enqueued", body = Receipt),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "bad or missing signature, or a stale timestamp", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped field (named)", body = ErrorBody),
        (status = 503, description = "storage down; retry", body = ErrorBody),
    ))]
pub async fn careers_site(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    let secret = state
        .settings
        .webhooks
        .careers_site_secret
        .expose()
        .to_string();
    intake(
        &state,
        Source::CareersSite,
        &headers,
        body,
        move |headers, bytes| {
            if secret.is_empty() {
                return Err(intake::IntakeError::BadSignature(
                    "no careers-site secret configured".into(),
                ));
            }
            let pairs: Vec<(String, String)> = headers
                .iter()
                .filter_map(|(k, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (k.as_str().to_string(), v.to_string()))
                })
                .collect();
            let id = careers_site::verify(&secret, &pairs, bytes)?;
            Ok(id)
        },
    )
    .await
}

/// `POST /webhooks/greenhouse`: `Signature: sha256 <hex>`, deduplicated on
/// `Greenhouse-Event-ID`.
#[utoipa::path(post, path = "/webhooks/greenhouse", tag = "webhooks",
    summary = "Greenhouse webhooks (`Signature: sha256 <hex>`, deduplicated on Greenhouse-Event-ID)",
    security(("greenhouse_signature" = [])),
    params(("Greenhouse-Event-ID" = String, Header, description = "the delivery's id; a repeated one is a duplicate")),
    request_body(content = VendorEvent, description = "a Greenhouse web hook payload"),
    responses(
        (status = 200, description = "a repeated delivery: nothing changed", body = Receipt),
        (status = 202, description = "verified, stored in the inbox and enqueued", body = Receipt),
        (status = 400, description = "the body is not JSON, or Greenhouse-Event-ID missing", body = ErrorBody),
        (status = 401, description = "bad or missing signature, or a stale timestamp", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped field (named)", body = ErrorBody),
        (status = 503, description = "storage down; retry", body = ErrorBody),
    ))]
pub async fn greenhouse(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    let secret = state
        .settings
        .webhooks
        .greenhouse_secret
        .expose()
        .to_string();
    intake(
        &state,
        Source::Greenhouse,
        &headers,
        body,
        move |headers, bytes| {
            if secret.is_empty() {
                return Err(intake::IntakeError::BadSignature(
                    "no Greenhouse secret configured".into(),
                ));
            }
            let sig = headers.get("signature").and_then(|v| v.to_str().ok());
            greenhouse::verify(secret.as_bytes(), sig, bytes)?;
            headers
                .get("greenhouse-event-id")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 200)
                .map(str::to_string)
                .ok_or_else(|| intake::IntakeError::InvalidField {
                    field: "Greenhouse-Event-ID".into(),
                    problem: "header missing".into(),
                })
        },
    )
    .await
}

/// `POST /webhooks/lever`: HMAC over `token + triggeredAt`; a repeated token
/// is a duplicate, a stale `triggeredAt` is refused.
#[utoipa::path(post, path = "/webhooks/lever", tag = "webhooks",
    summary = "Lever webhooks (HMAC-SHA256 of token + triggeredAt, carried in the body's `signature`)",
    request_body(content = VendorEvent, description = "a Lever webhook: `event`, `triggeredAt`, `token`, `signature`, `data`"),
    responses(
        (status = 200, description = "a repeated delivery: nothing changed", body = Receipt),
        (status = 202, description = "verified, stored in the inbox and enqueued", body = Receipt),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "bad or missing signature, or a stale timestamp", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped field (named)", body = ErrorBody),
        (status = 503, description = "storage down; retry", body = ErrorBody),
    ))]
pub async fn lever(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    let secret = state
        .settings
        .webhooks
        .lever_signature_token
        .expose()
        .to_string();
    let max_age = state.settings.webhooks.lever_max_age;
    intake(
        &state,
        Source::Lever,
        &headers,
        body,
        move |_headers, bytes| {
            if secret.is_empty() {
                return Err(intake::IntakeError::BadSignature(
                    "no Lever signature token configured".into(),
                ));
            }
            let now = chrono::Utc::now().timestamp_millis();
            let delivery = lever::verify(secret.as_bytes(), bytes, now, max_age)?;
            Ok(delivery.token)
        },
    )
    .await
}

#[utoipa::path(post, path = "/webhooks/ashby", tag = "webhooks",
    summary = "Ashby webhooks (`Ashby-Signature: sha256=<hex>` over the body, deduplicated on webhookActionId + action)",
    security(("ashby_signature" = [])),
    request_body(content = VendorEvent, description = "an Ashby webhook: `webhookActionId`, `action`, `data`"),
    responses(
        (status = 200, description = "a repeated delivery (same webhookActionId and action), or a repeated ping: nothing changed", body = Receipt),
        (status = 202, description = "verified, stored in the inbox and enqueued", body = Receipt),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "bad or missing signature", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped field (named), an id that is not a UUID", body = ErrorBody),
        (status = 503, description = "storage down, or no ats.ashby.webhook_secret configured; Ashby retries", body = ErrorBody),
    ))]
/// `POST /webhooks/ashby`: `Ashby-Signature: sha256=<hex>` over the body,
/// deduplicated on (`webhookActionId`, `action`).
///
/// Ashby never retries a 401, 403, 404, 405 or 410, so only a signature
/// that does not verify answers 401. Trouble on our side answers 5xx, which
/// Ashby retries: storage down (503, as for every source) and no secret
/// configured (503: the deliveries come back once the operator sets
/// `ats.ashby.webhook_secret`, instead of being dropped by Ashby).
pub async fn ashby(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    let secret = state.settings.ats.ashby.webhook_secret.expose().to_string();
    if secret.is_empty() {
        let e = ApiError::Unavailable(
            "no Ashby webhook secret is configured (ats.ashby.webhook_secret); \
             Ashby retries this delivery"
                .into(),
        );
        return Err(reject(&state, Source::Ashby, false, e, None).await);
    }
    intake(
        &state,
        Source::Ashby,
        &headers,
        body,
        move |headers, bytes| {
            let sig = headers
                .get(ashby::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok());
            ashby::verify(secret.as_bytes(), sig, bytes)?;
            // The key is read from the verified body: any error from here
            // on is the authenticated sender's.
            ashby::delivery_key(bytes)
        },
    )
    .await
}

#[utoipa::path(post, path = "/webhooks/workable", tag = "webhooks",
    summary = "Workable webhooks (`X-Workable-Signature`: hex HMAC-SHA256 of the body; candidate_created, candidate_moved)",
    security(("workable_signature" = [])),
    request_body(content = VendorEvent, description = "a Workable webhook: `event_type` (or `type`), `fired_at`, and the candidate in `data` (or as the body)"),
    responses(
        (status = 200, description = "verified, stored in the inbox and enqueued (`accepted`), or a repeated delivery (`duplicate`): Workable counts anything but 200 as a failure", body = Receipt),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "bad or missing signature", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped field (named), a candidate id that is not one", body = ErrorBody),
        (status = 503, description = "storage down, or no ats.workable.webhook_secret configured; Workable replays", body = ErrorBody),
    ))]
/// `POST /webhooks/workable`: `X-Workable-Signature` (hex HMAC-SHA256 of
/// the body), keyed on (candidate, event, stage, `fired_at`).
///
/// Workable treats any answer but **200** as a failure and replays the
/// delivery, so a stored delivery is answered 200 (the receipt still says
/// `accepted` or `duplicate`), not the 202 the other sources get. No secret
/// configured answers 503, so the deliveries come back once the operator
/// sets `ats.workable.webhook_secret`.
pub async fn workable(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Answer {
    let secret = state
        .settings
        .ats
        .workable
        .webhook_secret
        .expose()
        .to_string();
    if secret.is_empty() {
        let e = ApiError::Unavailable(
            "no Workable webhook secret is configured (ats.workable.webhook_secret); \
             Workable replays this delivery"
                .into(),
        );
        return Err(reject(&state, Source::Workable, false, e, None).await);
    }
    intake(
        &state,
        Source::Workable,
        &headers,
        body,
        move |headers, bytes| {
            let sig = headers
                .get(workable::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok());
            workable::verify(secret.as_bytes(), sig, bytes)?;
            // Read from the verified body: errors from here on are the
            // authenticated sender's.
            workable::delivery_key(bytes)
        },
    )
    .await
}

/// The shared intake path. `verify` checks authenticity and returns the
/// delivery id.
async fn intake(
    state: &AppState,
    source: Source,
    headers: &HeaderMap,
    body: Body,
    verify: impl FnOnce(&HeaderMap, &[u8]) -> Result<String, intake::IntakeError>,
) -> Answer {
    let limit = state.settings.http.body_limit;
    let pre = async {
        let bytes = read_limited(headers, body, limit).await?;
        require_json(headers)?;
        Ok::<_, ApiError>(bytes)
    };
    let bytes = match pre.await {
        Ok(b) => b,
        Err(e) => return Err(reject(state, source, false, e, None).await),
    };
    let delivery_id = match verify(headers, &bytes) {
        Ok(id) => id,
        // Ashby's and Workable's keys are read from the body after the
        // signature passed: a body that is not JSON is the authenticated
        // sender's (400).
        Err(e @ intake::IntakeError::MalformedJson(_))
            if matches!(source, Source::Ashby | Source::Workable) =>
        {
            return Err(reject(state, source, true, e.into(), Some(bytes.to_vec())).await);
        }
        Err(e @ intake::IntakeError::InvalidField { .. }) => {
            // Authentic (the signature passed) but incomplete: Greenhouse
            // without its Greenhouse-Event-ID header (a missing header, 400),
            // or a Lever body whose `event` field, read while verifying, is
            // missing or mistyped (a field, 422 naming it).
            let e = match source {
                Source::Greenhouse => ApiError::BadRequest(e.to_string()),
                _ => e.into(),
            };
            return Err(reject(state, source, true, e, Some(bytes.to_vec())).await);
        }
        Err(e) => return Err(reject(state, source, false, e.into(), None).await),
    };
    let decoded = intake::decode(source, &bytes, &state.settings.milestones.start_date_field);
    let event = match decoded {
        Ok(ev) => ev,
        Err(e) => return Err(reject(state, source, true, e.into(), Some(bytes.to_vec())).await),
    };
    let receipt = inbox::receive(
        &state.inbox,
        &state.queue,
        &state.retry,
        Delivery {
            source,
            delivery_id,
            event: Some(event.event_name()),
            body: bytes.to_vec(),
        },
    )
    .await
    .map_err(ApiError::from)
    .inspect_err(|e| count(source, "rejected", e.status_and_code().0.as_u16()))?;
    tracing::info!(
        source = ?source,
        inbox_id = receipt.inbox_id,
        job_id = receipt.job_id.as_deref().unwrap_or(""),
        duplicate = receipt.duplicate,
        "webhook delivery stored"
    );
    if receipt.duplicate {
        count(source, "duplicate", 200);
        return Ok((
            StatusCode::OK,
            Json(Receipt {
                status: ReceiptStatus::Duplicate,
                inbox_id: receipt.inbox_id,
                job_id: receipt.job_id,
            }),
        ));
    }
    // Workable counts anything but 200 as a failure (see `workable`).
    let accepted = if source == Source::Workable {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    count(source, "accepted", accepted.as_u16());
    Ok((
        accepted,
        Json(Receipt {
            status: ReceiptStatus::Accepted,
            inbox_id: receipt.inbox_id,
            job_id: receipt.job_id,
        }),
    ))
}

/// Counts one delivery in `referral_worker_webhooks_total`.
fn count(source: Source, outcome: &'static str, status: u16) {
    let source = match source {
        Source::CareersSite => "careers_site",
        Source::Greenhouse => "greenhouse",
        Source::Lever => "lever",
        Source::Ashby => "ashby",
        Source::Workable => "workable",
    };
    metrics::counter!(
        "referral_worker_webhooks_total",
        "source" => source,
        "outcome" => outcome,
        "status" => status.to_string()
    )
    .increment(1);
}

/// Records a refusal (best effort: a database outage must not turn a 401
/// into a 500) and hands the error back for the response.
async fn reject(
    state: &AppState,
    source: Source,
    authenticated: bool,
    e: ApiError,
    body: Option<Vec<u8>>,
) -> ApiError {
    let status = e.status_and_code().0.as_u16();
    tracing::info!(source = ?source, status, error = %e, "webhook delivery refused");
    count(source, "rejected", status);
    if let Err(db) = inbox::record_rejection(
        &state.db,
        source,
        authenticated,
        status,
        &e.to_string(),
        body,
    )
    .await
    {
        tracing::warn!(error = %db, "could not record a refused delivery");
    }
    e
}
