//! Per-test queues: a fresh [`QueueStore`] on each storage driver.
//!
//! Redis queues live under a unique key prefix (`rw-test-<ulid>`) on the
//! shared server, so tests run in parallel without `FLUSHDB`. SQL queues
//! live in a fresh, migrated database from [`crate::db`].

use std::time::Duration;

use queue::{JobId, JobInfo, QueueStore, RedisStore, Retention, SqlStore};

use crate::db::{self, TestDb};

/// Redis used by the tests; `TEST_REDIS_URL` overrides.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!(
        "rw-test-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// The storage drivers every conformance test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// [`RedisStore`].
    Redis,
    /// [`SqlStore`] on SQLite (the embedded default).
    Sqlite,
    /// [`SqlStore`] on PostgreSQL.
    Postgres,
}

/// A queue for one test, with what keeps it alive.
pub struct TestQueue {
    /// The queue.
    pub store: QueueStore,
    /// For Redis: the key prefix.
    pub prefix: String,
    /// For SQL drivers: the database.
    pub db: Option<TestDb>,
}

impl TestQueue {
    /// A fresh queue on `driver` with default retention.
    pub async fn new(driver: Driver) -> Self {
        Self::with_retention(driver, Retention::default()).await
    }

    /// A fresh queue on `driver` keeping finished jobs for `retention`.
    pub async fn with_retention(driver: Driver, retention: Retention) -> Self {
        let prefix = unique_prefix();
        match driver {
            Driver::Redis => {
                let store = RedisStore::connect(&redis_url(), &prefix, "default", retention)
                    .await
                    .expect("connect to the test Redis");
                Self {
                    store: QueueStore::Redis(store),
                    prefix,
                    db: None,
                }
            }
            Driver::Sqlite | Driver::Postgres => {
                let test_db = if driver == Driver::Sqlite {
                    db::fresh_sqlite().await
                } else {
                    db::fresh_postgres().await
                };
                test_db.migrate().await.expect("migrate the test database");
                // A pool of its own for the store: SQLite caches the schema
                // per connection, and a pooled connection that last looked
                // between two migration statements would reject the first
                // `ON CONFLICT` insert (the runtime migrates the same way).
                let conn = sea_orm::Database::connect(test_db.url.as_str())
                    .await
                    .expect("connect to the migrated test database");
                let store = SqlStore::new(conn, "default", retention);
                Self {
                    store: QueueStore::Sql(store),
                    prefix,
                    db: Some(test_db),
                }
            }
        }
    }

    /// Deletes what the queue left behind (best effort).
    pub async fn cleanup(self) {
        if let Some(db) = self.db {
            db.drop_database().await;
        } else if let Ok(client) = redis::Client::open(redis_url())
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            let pattern = format!("{}:*", self.prefix);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            for chunk in keys.chunks(500) {
                let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
            }
        }
    }
}

/// Job `id` as `store` has it now.
///
/// # Panics
/// If the store fails or has no such job.
pub async fn job_info(store: &QueueStore, id: &JobId) -> JobInfo {
    store.get(id).await.expect("get").expect("job exists")
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `within`.
/// Tests wait on observable state, never on fixed sleeps.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP forwarder in front of Redis that a test can take down and bring
/// back (an outage or a restart as the client sees it: open connections
/// reset, new ones closed at once) or slow down (every chunk forwarded late,
/// so replies take longer than a client's default timeout).
pub struct FlakyProxy {
    /// Where the proxy listens.
    pub address: std::net::SocketAddr,
    down: Arc<std::sync::atomic::AtomicBool>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    generation: tokio::sync::watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

use std::sync::Arc;

impl FlakyProxy {
    /// Starts forwarding a free local port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> FlakyProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let delay_ms = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let upstream = upstream.to_string();
        let (d, l, g) = (down.clone(), delay_ms.clone(), generation.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let Ok(outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let mut killed = g.subscribe();
                let delay = l.clone();
                tokio::spawn(async move {
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::select! {
                        _ = killed.changed() => {}
                        _ = pump(ri, wo, delay.clone()) => {}
                        _ = pump(ro, wi, delay) => {}
                    }
                });
            }
        });
        FlakyProxy {
            address,
            down,
            delay_ms,
            generation,
            task,
        }
    }

    /// The Redis URL that goes through the proxy.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address)
    }

    /// Starts an outage: open connections are cut, new ones closed at once.
    pub fn outage(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Ends the outage.
    pub fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Delays every forwarded chunk by `ms` milliseconds (0 = none).
    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.generation.send_modify(|g| *g += 1);
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let ms = delay_ms.load(std::sync::atomic::Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
