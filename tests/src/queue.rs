//! Per-test queues: a fresh [`QueueStore`] on each storage driver.
//!
//! Redis queues live under a unique key prefix (`rw-test-<ulid>`) on the
//! shared server, so tests run in parallel without `FLUSHDB`. SQL queues
//! live in a fresh, migrated database from [`crate::db`].

use std::time::Duration;

use jobs::queue::{QueueStore, RedisStore, Retention, SqlStore};

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
                let store = SqlStore::new(test_db.conn.clone(), "default", retention);
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
