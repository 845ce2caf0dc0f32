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
    connectors::{ashby, careers_site, greenhouse, lever, smartrecruiters, workable},
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

/// What a SmartRecruiters activation handshake is answered with (besides
/// the echoed `X-Hook-Secret` header).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Handshake {
    /// Always `handshake`: the secret is echoed, nothing is stored.
    status: &'static str,
}

#[utoipa::path(post, path = "/webhooks/smartrecruiters", tag = "webhooks",
    summary = "SmartRecruiters webhooks: the activation handshake (X-Hook-Secret echoed) and notifications signed `smartrecruiters-signature: v1=<hex>` over timestamp.body.event-id.event-name.event-version.link",
    security(("smartrecruiters_signature" = [])),
    params(
        ("X-Hook-Secret" = Option<String>, Header, description = "present only on the activation handshake: echoed back in the answer's X-Hook-Secret header; nothing else is done"),
        ("event-id" = Option<String>, Header, description = "the notification's id (the inbox key); a repeated one is a duplicate"),
        ("event-name" = Option<String>, Header, description = "e.g. application.created, application.status.updated, candidate.deleted"),
        ("event-version" = Option<String>, Header, description = "signed"),
        ("link" = Option<String>, Header, description = "`<url>; rel=self`, signed as sent"),
        ("smartrecruiters-timestamp" = Option<String>, Header, description = "Unix seconds; refused when further from now than ats.smartrecruiters.timestamp_tolerance"),
    ),
    request_body(content = VendorEvent, description = "ids only, e.g. `{\"job_id\": \"…\", \"candidate_id\": \"…\"}`; the candidate is re-read through the API"),
    responses(
        (status = 200, description = "the activation handshake, answered with the same X-Hook-Secret header (`Handshake`); or a repeated notification (`Receipt`, `duplicate`): nothing changed", body = Receipt),
        (status = 202, description = "verified, stored in the inbox and enqueued", body = Receipt),
        (status = 400, description = "the body is not JSON, the event-id header is missing, or an X-Hook-Secret that is not 1 to 256 visible ASCII characters", body = ErrorBody),
        (status = 401, description = "bad or missing signature, or a timestamp outside the tolerance", body = ErrorBody),
        (status = 413, description = "body over http.body_limit", body = ErrorBody),
        (status = 415, description = "not application/json", body = ErrorBody),
        (status = 422, description = "a missing or mistyped id (named)", body = ErrorBody),
        (status = 503, description = "storage down, or no ats.smartrecruiters.webhook_secret configured; SmartRecruiters retries", body = ErrorBody),
    ))]
/// `POST /webhooks/smartrecruiters`: the activation handshake, and
/// notifications verified over the timestamp, body and event headers under
/// the configured key (or the one before the last rotation), keyed on
/// `event-id` (`jobs::connectors::smartrecruiters::webhook`).
///
/// A request carrying `X-Hook-Secret` is the handshake: the value is
/// echoed in the answer's `X-Hook-Secret` header at once (SmartRecruiters
/// waits 20 s at most) and nothing else happens; it is not the signing key
/// (that one is generated after activation and configured as
/// `ats.smartrecruiters.webhook_secret`), so it is not stored. Without a
/// key configured, notifications answer 503 and SmartRecruiters retries
/// them; the handshake is answered either way, since activation comes
/// before the key exists.
pub async fn smartrecruiters(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let source = Source::SmartRecruiters;
    if let Some(value) = headers.get(smartrecruiters::HOOK_SECRET_HEADER) {
        // Not UTF-8 is no visible ASCII either: the same refusal.
        let checked = smartrecruiters::handshake_secret(value.to_str().unwrap_or("\u{0}"));
        let echoed = match checked {
            Ok(v) => v.to_owned(),
            Err(e) => {
                let e = ApiError::BadRequest(e.to_string());
                return Err(reject(&state, source, false, e, None).await);
            }
        };
        tracing::info!("smartrecruiters subscription handshake answered");
        count(source, "handshake", 200);
        let mut answer = (
            StatusCode::OK,
            Json(Handshake {
                status: "handshake",
            }),
        )
            .into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&echoed) {
            answer
                .headers_mut()
                .insert(smartrecruiters::HOOK_SECRET_HEADER, v);
        }
        return Ok(answer);
    }
    let s = &state.settings.ats.smartrecruiters;
    let keys: Vec<String> = [&s.webhook_secret, &s.webhook_secret_previous]
        .into_iter()
        .map(|k| k.expose().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        let e = ApiError::Unavailable(
            "no SmartRecruiters signing key is configured (ats.smartrecruiters.webhook_secret); \
             SmartRecruiters retries this notification"
                .into(),
        );
        return Err(reject(&state, source, false, e, None).await);
    }
    let tolerance = s.timestamp_tolerance;
    let answer = intake_as(&state, source, &headers, body, move |headers, bytes| {
        let lookup = |name: &str| headers.get(name)?.to_str().ok().map(str::to_owned);
        let keys: Vec<&[u8]> = keys.iter().map(String::as_bytes).collect();
        let now = chrono::Utc::now().timestamp();
        let n = smartrecruiters::verify_at(&keys, &lookup, bytes, now, tolerance)?;
        // Built from the verified headers and body: errors from here on
        // are the authenticated sender's.
        let stored = smartrecruiters::stored_envelope(&n, bytes)?;
        Ok((n.event_id.trim().to_owned(), Some(stored)))
    })
    .await?;
    Ok(answer.into_response())
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
    intake_as(state, source, headers, body, |headers, bytes| {
        verify(headers, bytes).map(|id| (id, None))
    })
    .await
}

/// [`intake`] for a source whose inbox row holds something built from the
/// verified request rather than its bytes (SmartRecruiters: the signed
/// event headers with the body): `verify` returns the delivery id and,
/// when it differs from the body, what to decode and store.
async fn intake_as(
    state: &AppState,
    source: Source,
    headers: &HeaderMap,
    body: Body,
    verify: impl FnOnce(&HeaderMap, &[u8]) -> Result<(String, Option<Vec<u8>>), intake::IntakeError>,
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
    let (delivery_id, stored) = match verify(headers, &bytes) {
        Ok((id, stored)) => (id, stored),
        // Ashby's and Workable's keys are read from the body after the
        // signature passed, and SmartRecruiters' envelope is built from
        // it: a body that is not JSON is the authenticated sender's (400).
        Err(e @ intake::IntakeError::MalformedJson(_))
            if matches!(
                source,
                Source::Ashby | Source::Workable | Source::SmartRecruiters
            ) =>
        {
            return Err(reject(state, source, true, e.into(), Some(bytes.to_vec())).await);
        }
        Err(e @ intake::IntakeError::InvalidField { .. }) => {
            // Authentic (the signature passed) but incomplete: Greenhouse
            // without its Greenhouse-Event-ID header (a missing header, 400),
            // or a Lever body whose `event` field, read while verifying, is
            // missing or mistyped (a field, 422 naming it). SmartRecruiters
            // without its `event-id` header is a missing header too.
            let e = match source {
                Source::Greenhouse | Source::SmartRecruiters => ApiError::BadRequest(e.to_string()),
                _ => e.into(),
            };
            return Err(reject(state, source, true, e, Some(bytes.to_vec())).await);
        }
        Err(e) => return Err(reject(state, source, false, e.into(), None).await),
    };
    // A refusal keeps the bytes as received; what is stored and decoded
    // is what `verify` built from them, if anything.
    let (bytes, received) = match stored {
        Some(built) => (built.into(), Some(bytes)),
        None => (bytes, None),
    };
    let decoded = intake::decode(source, &bytes, &state.settings.milestones.start_date_field);
    let event = match decoded {
        Ok(ev) => ev,
        Err(e) => {
            let kept = received.as_ref().unwrap_or(&bytes).to_vec();
            return Err(reject(state, source, true, e.into(), Some(kept)).await);
        }
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
        Source::SmartRecruiters => "smartrecruiters",
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
