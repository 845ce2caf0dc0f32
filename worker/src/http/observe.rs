//! What every HTTP request leaves behind: an `x-request-id` (the caller's,
//! or a new ULID), echoed on the response; a `http_request` span carrying
//! that id, the method and the matched route, so every log line written
//! while handling it names the request; and one sample of
//! `http_server_request_duration_seconds` by method, route and status.
//!
//! [`layer`] wraps both routers (the service's and a `work` process's ops
//! listener). The id is set and echoed by tower-http's request-id layers;
//! what is here is the part they leave open: a caller's id that is not a
//! short token (64 characters of `[A-Za-z0-9._:-]`) is replaced rather than
//! written into logs, and the route label is the route's pattern
//! (`/api/ops/jobs/{id}`, from axum's `MatchedPath`), never the raw URI, so
//! ids never become label values.

use std::time::Instant;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, Method},
    middleware::{self, Next},
    response::Response,
};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

/// The header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-supplied id kept.
const MAX_ID_LEN: usize = 64;

/// The route label of a request no route matched (404s).
pub const UNMATCHED: &str = "unmatched";

/// Adds the request id, the span and the duration metric to `router`.
pub fn layer(router: Router) -> Router {
    // Outermost last: sanitise, then set, then echo, then observe (which
    // runs after routing, so the matched route is known).
    router
        .layer(middleware::from_fn(observe))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, NewUlid))
        .layer(middleware::from_fn(drop_unusable_id))
}

/// Makes request ids: ULIDs, sortable by time like the job ids.
#[derive(Debug, Clone, Copy, Default)]
struct NewUlid;

impl MakeRequestId for NewUlid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&ulid::Ulid::generate().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Whether a caller's id is kept as it is.
fn usable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

/// Removes an `x-request-id` that is not a short token (so a new one is
/// made), and all but the first when several are sent.
async fn drop_unusable_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let first = headers.get(&REQUEST_ID).cloned();
    if let Some(id) = first {
        headers.remove(&REQUEST_ID);
        if usable(&id) {
            headers.insert(REQUEST_ID, id);
        }
    }
    next.run(request).await
}

/// A method as a label: the standard ones by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The span and the duration of one request.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED.to_string(), |p| p.as_str().to_string());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method,
        route = %route,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request answered"
        );
    });
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_tokens_are_kept_as_request_ids() {
        for ok in [
            "01J9ZQ4X5S7Z0Y3K8M2N6P4R1T",
            "req-42",
            "a.b:c_d",
            &"x".repeat(64),
        ] {
            assert!(usable(&HeaderValue::from_str(ok).expect("header")), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "quote\"",
            "tab\there",
            &"x".repeat(65),
            "é",
        ] {
            let Ok(v) = HeaderValue::from_str(bad) else {
                continue;
            };
            assert!(!usable(&v), "{bad:?}");
        }
    }
}
