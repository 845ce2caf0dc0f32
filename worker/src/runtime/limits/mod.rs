//! What keeps the HTTP server up on a hostile network without a proxy in
//! front (issue 18): every `[http]` limit, applied where it belongs.
//!
//! | limit | setting | where |
//! |---|---|---|
//! | headers must arrive in time; idle keep-alive connections close | `header_read_timeout` | hyper's HTTP/1 connection ([`connections`]) |
//! | a body must keep arriving | `body_timeout` | tower-http's `RequestBodyTimeoutLayer` (a stalled body reads as an error: 408) |
//! | a request must be answered in time | `request_timeout` | tower-http's `TimeoutLayer` (408) |
//! | connections served at once | `max_connections` | the accept loop ([`connections`]): a semaphore, then a small overflow pool that answers only the probes |
//! | refused requests per source address | `refused_per_minute` | [`refusals`]: a token bucket per address, reserved before the handler and refunded unless refused; 429 with `Retry-After` |
//!
//! Called by `wiring::spawn_server` for the service's listener and a `work`
//! process's ops listener. The handlers in `crate::http` know nothing of
//! this; the one exception is `http::body`, which answers a body that
//! stalled with 408 rather than 400.

pub mod connections;
pub mod refusals;

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutBody, TimeoutLayer};

use crate::config::HttpSettings;

/// The `[http]` limits of one listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// hyper's header read timeout (and idle keep-alive timeout).
    pub header_read_timeout: Duration,
    /// Longest pause inside a request body.
    pub body_timeout: Duration,
    /// Longest time to a response's headers.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// The per-address limiter of refused requests, `None` when off.
    pub refusals: Option<Arc<refusals::RefusalLimiter>>,
}

impl HttpLimits {
    /// The limits `settings` configure.
    pub fn from_settings(settings: &HttpSettings) -> HttpLimits {
        HttpLimits {
            header_read_timeout: settings.header_read_timeout,
            body_timeout: settings.body_timeout,
            request_timeout: settings.request_timeout,
            max_connections: settings.max_connections.max(1),
            refusals: refusals::RefusalLimiter::new(
                settings.refused_per_minute,
                settings.trusted_proxies.clone(),
            )
            .map(Arc::new),
        }
    }

    /// `router` with the per-request limits as layers: the refusal limit
    /// outermost (a throttled address costs nothing more), then the request
    /// and body timeouts.
    pub fn wrap(&self, router: Router) -> Router {
        let router = router
            // The handlers read `Body`; the timeout layer hands on its own
            // wrapper of it, boxed back here.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(RequestBodyTimeoutLayer::new(self.body_timeout))
                    .map_request(|request: Request<TimeoutBody<Body>>| request.map(Body::new)),
            )
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.request_timeout,
            ))
            .layer(axum::middleware::map_response(explain_timeout));
        match &self.refusals {
            Some(limiter) => router.layer(axum::middleware::from_fn_with_state(
                limiter.clone(),
                refusals::throttle,
            )),
            None => router,
        }
    }
}

/// tower-http's 408 has an empty body: given the service's JSON error shape
/// here. Other responses pass unchanged.
async fn explain_timeout(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let body = serde_json::json!({
        "error": "request_timeout",
        "detail": "no answer within http.request_timeout",
    });
    (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response()
}

/// The address a request came from, as the accept loop saw it (the TCP
/// peer), put into every request's extensions by [`connections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub IpAddr);
