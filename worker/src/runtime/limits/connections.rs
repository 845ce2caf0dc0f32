//! The accept loop: HTTP/1.1 connections served by hyper with a header read
//! timeout, at most `http.max_connections` of them at once, plus a small
//! overflow pool that keeps `/healthz` and `/readyz` answering when the cap
//! is reached (a slowloris holding every slot must not take the probes down
//! with it, or the orchestrator restarts a process that is merely busy).
//!
//! A connection accepted while every slot is taken goes to the overflow
//! pool: a hyper connection with a short header timeout
//! ([`OVERFLOW_HEADER_TIMEOUT`]), no keep-alive, and a router that answers
//! only the probes (503 + `Retry-After` + `Connection: close` for the rest).
//! The pool holds at most [`overflow_cap`] connections; when it is full the
//! oldest one is closed to make room, so a probe (whose request arrives at
//! once) is answered even while an attacker keeps the pool full of sockets
//! that never finish a request. Every socket is thus closed within a bounded
//! time, and open sockets never exceed `max_connections + overflow_cap`:
//! the file-descriptor limit is never reached by clients.
//!
//! Shutdown: the loop stops accepting when `stop` completes, idle
//! connections are closed, requests in flight finish (hyper-util's
//! `GracefulShutdown`), overflow connections are closed.
//!
//! Metrics: `referral_worker_http_connections_open` (gauge, served
//! connections), `referral_worker_http_connections_overflow_total`
//! (connections over the cap) and
//! `referral_worker_http_connections_evicted_total` (overflow connections
//! closed to make room).

use std::{
    collections::VecDeque,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::{HttpLimits, Peer};

/// Header timeout in the overflow pool: a probe sends its request at once.
pub const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How many connections the overflow pool holds: a quarter of the cap,
/// between 8 and 256.
pub fn overflow_cap(max_connections: usize) -> usize {
    (max_connections / 4).clamp(8, 256)
}

/// Pause after a failed `accept` (out of file descriptors, say) so the loop
/// does not spin; connections in progress close meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` within `limits` until `stop` completes, then
/// finishes the requests in flight. `probes` answers over-cap connections.
///
/// # Errors
/// None today (accept errors are logged and retried); the `Result` keeps
/// the signature of the server it replaces.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    probes: Router,
    limits: HttpLimits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = limits.wrap(app);
    let probes = overflow_router(probes);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Overflow::new(overflow_cap(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut served = http1::Builder::new();
    served
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shed = http1::Builder::new();
    shed.timer(TokioTimer::new())
        .header_read_timeout(OVERFLOW_HEADER_TIMEOUT)
        .keep_alive(false);
    let open = metrics::gauge!("referral_worker_http_connections_open");
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Small requests and answers: Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let conn = served.serve_connection(io, hyper_service(app.clone(), peer));
                let conn = graceful.watch(conn);
                let open = open.clone();
                open.increment(1.0);
                tokio::spawn(async move {
                    // A client that vanishes or times out is no server error.
                    let _ = conn.await;
                    open.decrement(1.0);
                    drop(permit);
                });
            }
            Err(_) => {
                metrics::counter!("referral_worker_http_connections_overflow_total").increment(1);
                let (id, closed) = overflow.admit();
                let conn = shed.serve_connection(io, hyper_service(probes.clone(), peer));
                let overflow = overflow.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn => {}
                        () = closed.cancelled() => {}
                    }
                    overflow.release(id);
                });
            }
        }
    }
    drop(listener);
    overflow.close_all();
    graceful.shutdown().await;
    Ok(())
}

/// `router` as a hyper service, each request tagged with the peer address
/// (as [`Peer`] and as axum's `ConnectInfo`).
fn hyper_service(
    router: Router,
    peer: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
        Request<hyper::body::Incoming>,
        Response = Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let service = router.map_request(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(Peer(peer.ip()));
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        request.map(axum::body::Body::new)
    });
    TowerToHyperService::new(service)
}

/// The over-cap router: `probes` (the listener's own `/healthz` and
/// `/readyz`), and 503 for everything else.
fn overflow_router(probes: Router) -> Router {
    probes.fallback(get(busy).post(busy).put(busy).delete(busy).patch(busy))
}

async fn busy() -> Response {
    let body = serde_json::json!({
        "error": "busy",
        "detail": "the server has reached http.max_connections; retry shortly",
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The overflow pool: tokens of its open connections, oldest first.
#[derive(Clone)]
struct Overflow {
    cap: usize,
    inner: Arc<Mutex<OverflowState>>,
}

struct OverflowState {
    next_id: u64,
    open: VecDeque<(u64, CancellationToken)>,
}

impl Overflow {
    fn new(cap: usize) -> Overflow {
        Overflow {
            cap: cap.max(1),
            inner: Arc::new(Mutex::new(OverflowState {
                next_id: 0,
                open: VecDeque::new(),
            })),
        }
    }

    /// Room for one more connection, closing the oldest when full; its id
    /// and the token that closes it.
    fn admit(&self) -> (u64, CancellationToken) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while state.open.len() >= self.cap {
            if let Some((_, oldest)) = state.open.pop_front() {
                oldest.cancel();
                metrics::counter!("referral_worker_http_connections_evicted_total").increment(1);
            }
        }
        let id = state.next_id;
        state.next_id += 1;
        let token = CancellationToken::new();
        state.open.push_back((id, token.clone()));
        (id, token)
    }

    /// Forgets a connection that has closed.
    fn release(&self, id: u64) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = state.open.iter().position(|(i, _)| *i == id) {
            state.open.remove(at);
        }
    }

    fn close_all(&self) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (_, token) in state.open.drain(..) {
            token.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overflow_pool_closes_its_oldest_connection_to_make_room() {
        let pool = Overflow::new(2);
        let (a, first) = pool.admit();
        let (_, second) = pool.admit();
        let (_, third) = pool.admit();
        assert!(first.is_cancelled(), "the oldest gives way");
        assert!(!second.is_cancelled() && !third.is_cancelled());
        pool.release(a); // already gone: nothing happens
        pool.close_all();
        assert!(second.is_cancelled() && third.is_cancelled());
    }

    #[test]
    fn the_overflow_pool_is_a_quarter_of_the_cap_within_bounds() {
        assert_eq!(overflow_cap(1), 8);
        assert_eq!(overflow_cap(512), 128);
        assert_eq!(overflow_cap(100_000), 256);
    }
}
