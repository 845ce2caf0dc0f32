//! `bench_e2e intake`: signed careers-site deliveries over HTTP/1.1 keep-alive
//! connections against the running service (in this process or the real
//! binary as a child).

use super::*;

/// One keep-alive connection's loop: POST, read the whole answer, repeat.
async fn connection_loop(
    addr: SocketAddr,
    tag: String,
    counter: Arc<AtomicU64>,
    deadline: Instant,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut lat = Vec::with_capacity(100_000);
    let mut non_202 = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut req = Vec::with_capacity(2048);
    while Instant::now() < deadline {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let body = application_body(n, &tag, None);
        let id = format!("msg_{tag}_{n}");
        let ts = chrono::Utc::now().timestamp();
        let sig = jobs::outbound::webhook::sign(SECRET, &id, ts, body.as_bytes())?;
        req.clear();
        req.extend_from_slice(
            format!(
                "POST /webhooks/applications HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nwebhook-id: {id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {sig}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        req.extend_from_slice(body.as_bytes());
        let t0 = Instant::now();
        stream.write_all(&req).await?;
        buf.clear();
        let status = read_response(&mut stream, &mut buf).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if status == 202 {
            lat.push(ms);
        } else {
            non_202 += 1;
            if non_202 <= 3 {
                eprintln!("status {status}: {}", String::from_utf8_lossy(&buf));
            }
        }
    }
    Ok((lat, non_202))
}

/// Reads one HTTP/1.1 response (Content-Length framed); returns its status.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed mid-body");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

async fn load(
    addr: SocketAddr,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<(f64, u64, u64, Vec<f64>)> {
    let counter = Arc::new(AtomicU64::new(0));
    let tag = ulid_lower();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(connection_loop(
                addr,
                tag.clone(),
                counter.clone(),
                deadline,
            ))
        })
        .collect();
    let mut lat = Vec::new();
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await??;
        lat.extend(l);
        bad += b;
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((secs, lat.len() as u64, bad, lat))
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            if let Ok(200) = read_response(&mut s, &mut buf).await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the service did not become ready at {addr}")
}

pub(super) async fn intake(
    args: &Args,
    connections: &[usize],
    seconds: u64,
    role: RoleArg,
    service: ServiceArg,
    pool: u32,
) -> anyhow::Result<()> {
    let db = FreshDb::create(&args.postgres_url, args.synchronous_commit_off).await?;
    let prefix = format!("bench-e2e-{}", ulid_lower());
    let result = async {
        let s = settings(&db.url, &args.redis_url, &prefix, pool)?;
        let shutdown = CancellationToken::new();
        let mut child = None;
        let (addr, task, pid) = match service {
            ServiceArg::InProcess => {
                let r = if role == RoleArg::All {
                    Role::All
                } else {
                    Role::Web
                };
                let app = Application::build(s, r, true).await?;
                let addr = app.local_addr().context("no HTTP address")?;
                let task = tokio::spawn(app.run_until(shutdown.clone()));
                (addr, Some(task), std::process::id().to_string())
            }
            ServiceArg::Process => {
                let bin = std::env::current_exe()?.with_file_name("referral-worker");
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let c = std::process::Command::new(&bin)
                    .arg(if role == RoleArg::All { "serve" } else { "web" })
                    .env_remove("RUST_LOG")
                    .env("DATABASE_URL", &db.url)
                    .env("REDIS_URL", &args.redis_url)
                    .env("REFERRAL_WORKER__QUEUE__PREFIX", &prefix)
                    .env("REFERRAL_WORKER__HTTP__LISTEN", addr.to_string())
                    .env("REFERRAL_WORKER__DATABASE__MAX_CONNECTIONS", pool.to_string())
                    .env("REFERRAL_WORKER__WEBHOOKS__CAREERS_SITE_SECRET", SECRET)
                    .env("REFERRAL_WORKER__LOG__FILTER", "warn")
                    .env("REFERRAL_WORKER__LOG__FORMAT", "json")
                    .current_dir(std::env::temp_dir())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {}", bin.display()))?;
                let pid = c.id().to_string();
                child = Some(c);
                (addr, None, pid)
            }
        };
        wait_ready(addr).await?;
        let (_, idle_rss) = rss_mib(&pid);
        // Warm-up: connections, statement caches, allocator.
        load(addr, connections[0], 2.0).await?;
        for &n in connections {
            let load_before = load_average();
            let (secs, ok, bad, mut lat) = load(addr, n, seconds as f64).await?;
            let (hwm, rss) = rss_mib(&pid);
            emit(json!({
                "bench": "intake", "service": format!("{service:?}"), "role": format!("{role:?}"),
                "connections": n, "seconds": (secs * 100.0).round() / 100.0,
                "accepted_202": ok, "non_202": bad,
                "requests_per_sec": ((ok + bad) as f64 / secs).round(),
                "latency_ms_202": percentiles(&mut lat),
                "db_pool": pool, "synchronous_commit_off": args.synchronous_commit_off, "loadavg_before": load_before, "loadavg_after": load_average(),
                "service_pid_is_bench": service == ServiceArg::InProcess,
                "service_vm_hwm_mib": hwm, "service_vm_rss_mib": rss, "service_idle_rss_mib": idle_rss,
            }));
        }
        shutdown.cancel();
        if let Some(t) = task {
            let _ = t.await;
        }
        if let Some(mut c) = child {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let _ = RedisStore::delete_prefix(&args.redis_url, &prefix).await;
    db.drop().await;
    result
}
