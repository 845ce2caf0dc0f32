//! A hostile network with no proxy in front (issue 18): clients that send
//! headers or bodies a byte at a time, sockets that connect and say nothing,
//! a flood of unsigned webhook posts, and a process environment pointing
//! every outbound call at a proxy. Each test asserts that the service stays
//! healthy (`/healthz` keeps answering) and bounded (sockets are closed,
//! rows stop growing, nothing goes where it must not).
//!
//! Deadlines below are liveness bounds ("closed at some point within a
//! generous while"), never performance assertions; the measured figures are
//! in README "Security".

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use entities::{
    inbox::InboxStatus,
    payout::{self, PayoutState},
};
use futures::{StreamExt as _, stream};
use sea_orm::EntityTrait;
use tests::{
    app::{Setup, setting_var, spawn_app_with, spawn_process, worker_env},
    destinations::BONUS_SECRET,
    fixtures::{
        GreenhouseApplication, inbox_rows, post_greenhouse, processed, put_employee,
        spawn_capture_app, unique, wait_until,
    },
    receiver::Receiver,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A fresh client per call (no pooled connection), like a load balancer's
/// probe.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn healthz_answers(address: SocketAddr) {
    let answer = fresh_client()
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .expect("/healthz answers");
    assert_eq!(answer.status(), 200);
}

/// Reads until the server closes the socket (or `within` passes); what it
/// sent, and whether it closed.
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(within, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&seen).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let app = spawn_app_with(Setup::EMBEDDED_SQLITE, |s| {
        s.http.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let mut slow = TcpStream::connect(app.address).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("start");
    // One header byte every 200 ms, for far longer than the timeout.
    let drip = async {
        for _ in 0..100 {
            if slow.write_all(b"X").await.is_err() {
                return true;
            }
            healthz_answers(app.address).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    };
    let cut = tokio::time::timeout(Duration::from_secs(15), drip)
        .await
        .unwrap_or(false);
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(cut || closed, "a slowloris connection was never closed");
    healthz_answers(app.address).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_sockets_beyond_the_cap_leave_healthz_answering_and_the_rest_busy() {
    const CAP: usize = 8;
    let app = spawn_app_with(Setup::EMBEDDED_SQLITE, |s| {
        s.http.max_connections = CAP;
        // Long enough that the idle sockets hold their slots throughout.
        s.http.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    // Five times the cap: the slots, then the overflow pool and beyond.
    let mut idle = Vec::new();
    for _ in 0..5 * CAP {
        idle.push(TcpStream::connect(app.address).await.expect("connect"));
    }
    // Let the accept loop take them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        healthz_answers(app.address).await;
        let ready = fresh_client()
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("/readyz answers");
        assert_eq!(ready.status(), 200);
    }
    // Anything else waits its turn: 503, JSON, Retry-After, and closed.
    let busy = fresh_client()
        .get(app.url("/api/ops/queues"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: serde_json::Value = busy.json().await.expect("JSON");
    assert_eq!(body["error"], "busy");

    // The overflow pool closed the oldest of the sockets beyond the cap to
    // make room: the process holds a bounded number of them.
    let mut closed = 0;
    for socket in &mut idle[CAP..] {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(50), socket.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert!(
        closed >= 4 * CAP - tests_overflow_cap(CAP),
        "only {closed} sockets beyond the cap were closed"
    );

    // Once the idle sockets go, the API answers again.
    drop(idle);
    wait_until("the API answers again", || async {
        fresh_client()
            .get(app.url("/api/ops/queues"))
            .send()
            .await
            .is_ok_and(|r| r.status() != 503)
    })
    .await;
    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("referral_worker_http_connections_overflow_total"),
        "{metrics}"
    );
    app.cleanup().await;
}

/// The overflow pool's size for a cap (`runtime::limits::connections`).
fn tests_overflow_cap(cap: usize) -> usize {
    worker::runtime::limits::connections::overflow_cap(cap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_stalls_gets_a_408_and_the_connection_is_closed() {
    let app = spawn_app_with(Setup::EMBEDDED_SQLITE, |s| {
        s.http.body_timeout = Duration::from_millis(500);
    })
    .await;
    let mut slow = TcpStream::connect(app.address).await.expect("connect");
    slow.write_all(
        b"POST /webhooks/applications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"a\":",
    )
    .await
    .expect("headers and a first chunk");
    healthz_answers(app.address).await;
    let (answer, closed) = read_until_closed(&mut slow, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(closed, "the connection stays open after a 408");
    healthz_answers(app.address).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_that_takes_too_long_gets_a_json_408() {
    let app = spawn_app_with(Setup::EMBEDDED_SQLITE, |s| {
        s.http.request_timeout = Duration::from_millis(300);
        s.http.body_timeout = Duration::from_secs(60);
    })
    .await;
    // A body that keeps trickling in (each pause under body_timeout) is
    // still bounded by request_timeout.
    let mut slow = TcpStream::connect(app.address).await.expect("connect");
    slow.write_all(
        b"POST /webhooks/applications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n",
    )
    .await
    .expect("headers");
    let drip = async {
        for _ in 0..100 {
            if slow.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), drip).await;
    let (answer, _) = read_until_closed(&mut slow, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    healthz_answers(app.address).await;
    app.cleanup().await;
}

/// 10,000 unsigned careers-site posts from one address: the first
/// `PER_MINUTE` (the burst) are refused (401) and recorded as `rejected`
/// inbox rows as always; after that the address gets 429 with Retry-After
/// and nothing is written. The rows stay bounded by the budget, not by the
/// flood.
async fn a_flood_of_unsigned_posts_is_throttled_and_rows_stay_bounded(setup: Setup) {
    const PER_MINUTE: u32 = 60;
    const FLOOD: usize = 10_000;
    let app = spawn_app_with(setup, |s| {
        s.http.refused_per_minute = PER_MINUTE;
    })
    .await;
    let started = std::time::Instant::now();
    let refused = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let client = app.client.clone();
    let url = app.url("/webhooks/applications");
    stream::iter(0..FLOOD)
        .for_each_concurrent(32, |n| {
            let (client, url) = (client.clone(), url.clone());
            let (refused, throttled) = (refused.clone(), throttled.clone());
            async move {
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(format!("{{\"n\":{n}}}"))
                    .send()
                    .await
                    .expect("an answer");
                match answer.status().as_u16() {
                    401 => refused.fetch_add(1, Ordering::Relaxed),
                    429 => {
                        let retry: u64 = answer.headers()["retry-after"]
                            .to_str()
                            .expect("ascii")
                            .parse()
                            .expect("seconds");
                        assert!((1..=60).contains(&retry), "Retry-After {retry}");
                        throttled.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("unexpected {other}"),
                };
            }
        })
        .await;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    // The burst, plus what the budget refilled while the flood lasted.
    let budget = PER_MINUTE as usize + (PER_MINUTE as f64 * minutes).ceil() as usize;
    let refused = refused.load(Ordering::Relaxed);
    let throttled = throttled.load(Ordering::Relaxed);
    assert_eq!(refused + throttled, FLOOD);
    assert!(
        refused >= PER_MINUTE as usize,
        "the burst is refused as usual"
    );
    assert!(
        refused <= budget,
        "{refused} refused; the budget was {budget}"
    );
    let rows = inbox_rows(&app.state.db).await;
    assert!(rows.iter().all(|r| r.status == InboxStatus::Rejected));
    assert_eq!(rows.len(), refused, "a row per refusal, none per 429");
    assert!(rows.len() <= budget);

    // Probes and metrics are never throttled, even for this address.
    healthz_answers(app.address).await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("metrics");
    assert!(
        text.contains("referral_worker_http_throttled_total"),
        "{text}"
    );
    app.cleanup().await;
}

tests::both_setups!(a_flood_of_unsigned_posts_is_throttled_and_rows_stay_bounded);

/// A fake forward proxy: counts the connections it gets, answers none.
async fn fake_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (address, seen)
}

/// With `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (both cases) set in the
/// process environment and no `[outbound] proxy`, the bonus POST goes
/// straight to the receiver: the proxy never hears of it (reqwest would
/// have used it by default, and the SSRF guard would have seen only the
/// proxy's address).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_variables_in_the_environment_are_ignored() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    put_employee(&world.app, "E-PROXY", "proxy@acme-example.com", true).await;
    let gh = GreenhouseApplication::new(880_001, 550_001, 4_012_345, "proxied@example.org")
        .credited_to("E-PROXY");
    processed(
        &world.app,
        post_greenhouse(&world.app, &unique("evt"), &gh.body()).await,
    )
    .await;
    let mut hired = gh.clone();
    hired.action = "hire_candidate".into();
    hired.status = "hired".into();
    processed(
        &world.app,
        post_greenhouse(&world.app, &unique("evt"), &hired.body()).await,
    )
    .await;
    let mut world = world;
    world.app.stop().await.expect("stop the in-process app");

    let (proxy, proxy_seen) = fake_proxy().await;
    let receiver = Receiver::builder().secret(BONUS_SECRET).start().await;
    let database_url = world.app.db.as_ref().expect("db").url.clone();
    let mut env = worker_env(&database_url, None);
    for (key, value) in [
        ("payouts.destination_url", receiver.url("/bonus")),
        ("payouts.destination_secret", BONUS_SECRET.to_string()),
        ("payouts.timer_sweep", "200ms".to_string()),
    ] {
        env.push((setting_var(key), value));
    }
    let proxy_url = format!("http://{proxy}");
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        env.push((name.to_string(), proxy_url.clone()));
    }
    env.push(("NO_PROXY".to_string(), String::new()));
    env.push(("no_proxy".to_string(), String::new()));
    let mut worker = spawn_process(&["work", "--no-migrate"], env);

    let db = world.db().clone();
    wait_until("the payout delivered", || async {
        payout::Entity::find()
            .all(&db)
            .await
            .expect("payouts")
            .iter()
            .any(|p| p.state == PayoutState::Delivered)
    })
    .await;
    worker.assert_running();
    assert_eq!(receiver.count(), 1, "the receiver got the POST directly");
    assert_eq!(
        proxy_seen.load(Ordering::SeqCst),
        0,
        "the proxy got nothing"
    );
    drop(worker);
    world.cleanup().await;
}
