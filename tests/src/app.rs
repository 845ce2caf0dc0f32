//! The service under test, zero-to-production style: in-process
//! ([`spawn_app`]) or as the real compiled binary ([`spawn_process`]).
//!
//! # In-process
//!
//! [`spawn_app`] builds `worker::runtime::Application` exactly as `main`
//! does (connect, migrate, bind) on a fresh database from [`crate::db`] and,
//! for Redis, a unique key prefix from [`crate::queue::unique_prefix`], and
//! runs it in a tokio task until [`TestApp::stop`] fires its shutdown token:
//! the same token the binary fires on SIGTERM. HTTP listens on
//! `127.0.0.1:0`; [`TestApp::address`] is where it ended up.
//!
//! # As a process
//!
//! [`spawn_process`] starts `target/<profile>/referral-worker` (found next to
//! the test executable, or at `$REFERRAL_WORKER_BIN`), configured only
//! through environment variables ([`worker_env`]) and run in an empty
//! temporary directory, so no stray `referral-worker.toml` is read. A Cargo
//! dependency does not build another crate's binary, so build it first:
//!
//! ```text
//! cargo build -p worker --bin referral-worker && cargo test -p tests
//! ```
//!
//! Its stderr (JSON log lines) goes to a file in that directory; a test that
//! panics prints it. The process is killed when its [`TestProcess`] is
//! dropped, panics included, so no worker outlives its test.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use queue::{QueueStore, RedisStore, Retention};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker::{
    config::{SecretUrl, Settings},
    runtime::{AppState, Application, Role},
};

use crate::{
    db::{self, TestDb},
    queue::{redis_url, unique_prefix},
};

/// Lease of test workers: short, so a killed worker's jobs move on quickly.
pub const LEASE: Duration = Duration::from_secs(2);
/// Heartbeat of test workers: well under half of [`LEASE`].
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a test gives a job it saw leased to reach its handler: a job
/// shows as running when its lease commits, one store round trip before the
/// worker hands it over, and nothing outside the worker sees the handler
/// start.
pub const HAND_OVER: Duration = Duration::from_millis(300);

/// The database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbDriver {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// Where a test app keeps its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueDriver {
    /// The embedded queue, a table in the app's own database.
    Embedded,
    /// The test Redis, under a unique key prefix.
    Redis,
}

/// What a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// Its database.
    pub db: DbDriver,
    /// Its queue.
    pub queue: QueueDriver,
}

impl Setup {
    /// The embedded default: SQLite, queue in SQLite.
    pub const EMBEDDED_SQLITE: Setup = Setup {
        db: DbDriver::Sqlite,
        queue: QueueDriver::Embedded,
    };
    /// PostgreSQL with the queue in PostgreSQL.
    pub const EMBEDDED_POSTGRES: Setup = Setup {
        db: DbDriver::Postgres,
        queue: QueueDriver::Embedded,
    };
    /// Production: PostgreSQL plus Redis.
    pub const REDIS_POSTGRES: Setup = Setup {
        db: DbDriver::Postgres,
        queue: QueueDriver::Redis,
    };
}

/// One `#[tokio::test]` per setup for each named scenario, an `async fn
/// (Setup)` of the calling module: `embedded_sqlite::<scenario>` on the
/// embedded default ([`Setup::EMBEDDED_SQLITE`]) and
/// `redis_postgres::<scenario>` on production's PostgreSQL + Redis
/// ([`Setup::REDIS_POSTGRES`]).
#[macro_export]
macro_rules! both_setups {
    ($($scenario:ident),* $(,)?) => {
        mod embedded_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $scenario() { super::$scenario($crate::app::Setup::EMBEDDED_SQLITE).await } )* }
        mod redis_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $scenario() { super::$scenario($crate::app::Setup::REDIS_POSTGRES).await } )* }
    };
}

/// A fresh, empty (unmigrated) database on `driver`.
pub async fn fresh_db(driver: DbDriver) -> TestDb {
    match driver {
        DbDriver::Sqlite => db::fresh_sqlite().await,
        DbDriver::Postgres => db::fresh_postgres().await,
    }
}

/// Settings for one test: `database_url`, the embedded queue unless
/// `redis` gives a URL and key prefix, HTTP on a free port, [`LEASE`] and
/// [`HEARTBEAT`], quick polling, short retry delays and shutdown timeout.
///
/// # Panics
/// If the result does not validate (a bug in this helper).
pub fn test_settings(database_url: &str, redis: Option<(&str, &str)>) -> Settings {
    let mut s = Settings::default();
    s.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    // No load balancer to see it leave: stop at once.
    s.http.shutdown_delay = Duration::ZERO;
    s.database.url = SecretUrl::new(database_url);
    s.database.max_connections = 5;
    if let Some((url, prefix)) = redis {
        s.queue.redis_url = SecretUrl::new(url);
        s.queue.prefix = prefix.to_string();
    }
    s.queue.concurrency = 8;
    s.queue.fetch_batch = 8;
    s.queue.lease = LEASE;
    s.queue.heartbeat = HEARTBEAT;
    s.queue.poll_interval = Duration::from_millis(100);
    s.queue.shutdown_timeout = Duration::from_secs(10);
    s.queue.retry.base_delay = Duration::from_millis(100);
    s.queue.retry.max_delay = Duration::from_secs(1);
    s.log.filter = "warn".to_string();
    // Every fake receiver and ATS listens on 127.0.0.1.
    s.outbound.allow_private_networks = true;
    // Every test client is 127.0.0.1, and many tests send hundreds of
    // requests the service refuses on purpose: the per-address limit would
    // answer them 429. `hostile_network` turns it on where it is the subject.
    s.http.refused_per_minute = 0;
    if let Err(e) = s.validate() {
        panic!("test settings do not validate: {e}");
    }
    s
}

/// A running in-process app, with what it runs on.
pub struct TestApp {
    /// Where its HTTP server listens.
    pub address: SocketAddr,
    /// Its shared state: database, queue and retry policies.
    pub state: AppState,
    /// The settings it was built with.
    pub settings: Settings,
    /// An HTTP client (no proxy, 10 s timeout).
    pub client: reqwest::Client,
    /// Its database (deleted by [`TestApp::cleanup`]).
    pub db: Option<TestDb>,
    /// Its Redis key prefix, when it uses Redis.
    pub redis_prefix: Option<String>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Builds and starts an app on a fresh database (and Redis prefix) for
/// `setup`, with [`test_settings`].
///
/// # Panics
/// If it does not start.
pub async fn spawn_app(setup: Setup) -> TestApp {
    spawn_app_with(setup, |_| {}).await
}

/// [`spawn_app`], with `configure` changing the settings first.
///
/// # Panics
/// If it does not start.
pub async fn spawn_app_with(setup: Setup, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = fresh_db(setup.db).await;
    let prefix = (setup.queue == QueueDriver::Redis).then(unique_prefix);
    let redis = redis_url();
    let mut settings = test_settings(&db.url, prefix.as_deref().map(|p| (redis.as_str(), p)));
    configure(&mut settings);
    match try_spawn_app(settings).await {
        Ok(mut app) => {
            app.db = Some(db);
            app.redis_prefix = prefix;
            app
        }
        Err(e) => panic!("the app did not start: {e:#}"),
    }
}

/// An app built exactly as [`spawn_app_with`] builds it (fresh database and
/// Redis prefix, connected, migrated, job context configured), but never
/// run: no HTTP, no workers, no schedules. For tests that call `jobs::`
/// directly and must be the only ones acting: nothing picks up the jobs
/// their calls enqueue.
pub struct IdleApp {
    /// Its shared state; `state.jobs` is the job context to call `jobs::` with.
    pub state: AppState,
    /// The settings it was built with.
    pub settings: Settings,
    /// Its database; `db.conn` is a pool of its own, apart from the app's.
    pub db: TestDb,
    redis_prefix: Option<String>,
}

/// Builds (never runs) an app on a fresh database for `setup`, with
/// [`test_settings`] changed by `configure`.
///
/// # Panics
/// If it cannot be built.
pub async fn idle_app(setup: Setup, configure: impl FnOnce(&mut Settings)) -> IdleApp {
    let db = fresh_db(setup.db).await;
    let prefix = (setup.queue == QueueDriver::Redis).then(unique_prefix);
    let redis = redis_url();
    let mut settings = test_settings(&db.url, prefix.as_deref().map(|p| (redis.as_str(), p)));
    configure(&mut settings);
    let app = Application::build(settings.clone(), Role::Workers, true)
        .await
        .unwrap_or_else(|e| panic!("the app could not be built: {e:#}"));
    IdleApp {
        state: app.state().clone(),
        settings,
        db,
        redis_prefix: prefix,
    }
}

impl IdleApp {
    /// Closes its pool and deletes its database and Redis keys (best effort).
    pub async fn cleanup(self) {
        let _ = self.state.db.close_by_ref().await;
        self.db.drop_database().await;
        if let Some(prefix) = self.redis_prefix {
            delete_redis_prefix(&prefix).await;
        }
    }
}

/// Builds `Application` from `settings` (role `All`, migrating) and runs it.
/// The caller owns cleaning up what the settings point at.
///
/// # Errors
/// What `Application::build` returned: start-up failures, named.
pub async fn try_spawn_app(settings: Settings) -> anyhow::Result<TestApp> {
    let app = Application::build(settings.clone(), Role::All, true).await?;
    let address = app
        .local_addr()
        .ok_or_else(|| anyhow::anyhow!("role All binds HTTP, but there is no local address"))?;
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run_until(shutdown.clone()));
    let client = client_builder().timeout(Duration::from_secs(10)).build()?;
    Ok(TestApp {
        address,
        state,
        settings,
        client,
        db: None,
        redis_prefix: None,
        shutdown,
        task: Some(task),
    })
}

impl TestApp {
    /// `http://<address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// `GET path`.
    ///
    /// # Panics
    /// If no response arrives.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The queue of the running app.
    pub fn queue(&self) -> &QueueStore {
        &self.state.queue
    }

    /// Fires the shutdown token (what SIGTERM does in the binary) and waits
    /// for the app to drain and return, at most `queue.shutdown_timeout`
    /// plus 10 s. Returns what `run_until` returned; later calls return `Ok`.
    ///
    /// # Panics
    /// If the app does not stop in time or its task panicked.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let limit = self.settings.queue.shutdown_timeout + Duration::from_secs(10);
        match tokio::time::timeout(limit, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => panic!("the app task failed: {join}"),
            Err(_) => panic!("the app did not stop within {limit:?} of its shutdown signal"),
        }
    }

    /// Stops the app (if running) and deletes its database and Redis keys
    /// (best effort).
    pub async fn cleanup(mut self) {
        if let Err(e) = self.stop().await {
            eprintln!("test app: stopped with an error: {e:#}");
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
        if let Some(prefix) = self.redis_prefix.take() {
            delete_redis_prefix(&prefix).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // A test that panicked before `stop`: at least stop the app's work.
        self.shutdown.cancel();
    }
}

/// Connects a [`RedisStore`] on the test Redis under `prefix`, queue
/// `default` (the app's default queue name), to reach what a process's
/// queue holds.
///
/// # Panics
/// If Redis is unreachable.
pub async fn redis_store(prefix: &str) -> QueueStore {
    let store = RedisStore::connect(&redis_url(), prefix, "default", Retention::default())
        .await
        .expect("connect to the test Redis");
    QueueStore::Redis(store)
}

/// Deletes every key under `prefix` on the test Redis (best effort).
pub async fn delete_redis_prefix(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    // One script, so the deletion is atomic like the FLUSHALL it stands
    // for: a KEYS-then-DEL could miss a job hash written in between and
    // leave it without its index entries, a state no real wipe produces.
    let script = redis::Script::new(
        r"local n = 0
          for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
            redis.call('DEL', k)
            n = n + 1
          end
          return n",
    );
    let _: Result<i64, _> = script
        .arg(format!("{prefix}:*"))
        .invoke_async(&mut conn)
        .await;
}

/// A `reqwest` client builder for talking to the app and the fake
/// servers: no proxy, and the process's rustls crypto provider installed
/// first (reqwest is built without one of its own, see
/// `jobs::outbound::http::install_tls_provider`). Build every test client from it.
pub fn client_builder() -> reqwest::ClientBuilder {
    jobs::outbound::http::install_tls_provider();
    reqwest::Client::builder().no_proxy()
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A TCP forwarder in front of a real service, which a test can cut to make
/// that service unreachable for the code under test (connections reset, new
/// ones refused) without touching the service itself.
pub struct TcpProxy {
    /// Where the proxy listens.
    pub address: SocketAddr,
    cut: CancellationToken,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts forwarding `127.0.0.1:<free port>` to `upstream`.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let cut = CancellationToken::new();
        let token = cut.clone();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                let link_token = token.clone();
                links.spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = link_token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
            // Dropping the listener refuses new connections; ending the
            // links closes the open ones.
            drop(listener);
            links.shutdown().await;
        });
        TcpProxy { address, cut, task }
    }

    /// Closes every forwarded connection and stops listening.
    pub async fn cut(self) {
        self.cut.cancel();
        let _ = self.task.await;
    }
}

/// The `referral-worker` binary the tests run: `$REFERRAL_WORKER_BIN`, else
/// `referral-worker` in the target directory of the running test executable
/// (which lives in `target/<profile>/deps/`).
///
/// # Panics
/// If it is not there, saying how to build it.
pub fn binary_path() -> PathBuf {
    if let Some(path) = std::env::var_os("REFERRAL_WORKER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps/");
    let bin = profile_dir.join(format!("referral-worker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist. The process tests run the real binary, and a Cargo \
         dependency does not build it: run `cargo build -p worker --bin referral-worker` \
         (with the same profile as the tests) before `cargo test`.",
        bin.display()
    );
    bin
}

/// The environment variable for a settings key: `queue.lease` →
/// `REFERRAL_WORKER__QUEUE__LEASE`.
pub fn setting_var(key: &str) -> String {
    format!(
        "{}{}",
        worker::config::ENV_PREFIX,
        key.replace('.', "__").to_uppercase()
    )
}

/// The environment of a test worker process: `DATABASE_URL`, `REDIS_URL` and
/// the queue prefix when `redis` gives them, HTTP on a free port (stopped at
/// once on SIGTERM), [`LEASE`], [`HEARTBEAT`], quick polling, a 10 s
/// shutdown timeout and JSON logs.
/// Push more pairs (see [`setting_var`]) to change other settings.
pub fn worker_env(database_url: &str, redis: Option<(&str, &str)>) -> Vec<(String, String)> {
    let mut env = vec![("DATABASE_URL".to_string(), database_url.to_string())];
    if let Some((url, prefix)) = redis {
        env.push(("REDIS_URL".to_string(), url.to_string()));
        env.push((setting_var("queue.prefix"), prefix.to_string()));
    }
    for (key, value) in [
        ("http.listen", "127.0.0.1:0".to_string()),
        ("http.shutdown_delay", "0s".to_string()),
        ("queue.lease", humantime_ms(LEASE)),
        ("queue.heartbeat", humantime_ms(HEARTBEAT)),
        ("queue.poll_interval", "100ms".to_string()),
        ("queue.shutdown_timeout", "10s".to_string()),
        ("log.format", "json".to_string()),
        ("log.filter", "info".to_string()),
        ("outbound.allow_private_networks", "true".to_string()),
        // As in `test_settings`: the refusal limit is a subject of its own.
        ("http.refused_per_minute", "0".to_string()),
    ] {
        env.push((setting_var(key), value));
    }
    env
}

fn humantime_ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// A running `referral-worker` process, killed (SIGKILL) when dropped.
pub struct TestProcess {
    child: Child,
    exited: Option<ExitStatus>,
    dir: PathBuf,
    stderr_path: PathBuf,
    args: Vec<String>,
}

/// Starts the real binary with `args`, in a fresh empty working directory,
/// with the test runner's own `REFERRAL_WORKER_*`, `DATABASE_URL`,
/// `REDIS_URL` (and their `_FILE` twins), `PORT` and `RUST_LOG` removed and
/// `env` set instead.
///
/// # Panics
/// If the binary is missing (see [`binary_path`]) or cannot be started.
pub fn spawn_process<I, K, V>(args: &[&str], env: I) -> TestProcess
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let bin = binary_path();
    let dir = std::env::temp_dir().join(format!("rw-proc-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("create the process directory");
    let stderr_path = dir.join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("create the stderr log");
    let stdout = std::fs::File::create(dir.join("stdout.log")).expect("create the stdout log");

    let mut cmd = Command::new(&bin);
    cmd.args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("REFERRAL_WORKER")
            || matches!(
                &*text,
                "DATABASE_URL"
                    | "DATABASE_URL_FILE"
                    | "REDIS_URL"
                    | "REDIS_URL_FILE"
                    | "PORT"
                    | "RUST_LOG"
            )
        {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(env);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    TestProcess {
        child,
        exited: None,
        dir,
        stderr_path,
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

impl TestProcess {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far (its log lines).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps it.
    ///
    /// # Panics
    /// If the signal cannot be sent to a process that has not exited.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        if let Err(e) = self.child.kill() {
            // Only fails when it has already exited; `wait` then reaps it.
            eprintln!("kill {}: {e}", self.pid());
        }
        let status = self.child.wait().expect("reap the killed process");
        self.exited = Some(status);
        status
    }

    /// Sends SIGTERM (through `kill -TERM`, to avoid a libc dependency).
    ///
    /// # Panics
    /// If `kill` cannot be run or fails.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Its exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("poll the process");
        }
        self.exited
    }

    /// Waits up to `within` for it to exit.
    ///
    /// # Panics
    /// If it is still running then (it is killed by the drop).
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "referral-worker {:?} (pid {}) did not exit within {within:?}; stderr:\n{}",
                self.args,
                self.pid(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `check` every 20 ms until it returns `Some`, for at most
    /// `within`, like [`crate::queue::eventually`], but panics (with the log)
    /// as soon as this process exits: a worker that died is not "slow".
    pub async fn wait_for<T, F, Fut>(&mut self, within: Duration, mut check: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.assert_running();
            if let Some(v) = check().await {
                return Some(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address its "referral-worker starting" log line gives under
    /// `field` (`listen` or `ops_listen`, logged as `Some(ADDR)`), once it
    /// has logged it; `None` before that or when the listener is off.
    pub fn started_address(&self, field: &str) -> Option<SocketAddr> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["message"] == "referral-worker starting")
            .and_then(|l| l[field].as_str().map(str::to_owned))
            .and_then(|s| {
                s.strip_prefix("Some(")
                    .and_then(|s| s.strip_suffix(')'))
                    .and_then(|s| s.parse().ok())
            })
    }

    /// Panics, with its log, if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_status() {
            panic!(
                "referral-worker {:?} exited early with {status}; stderr:\n{}",
                self.args,
                self.stderr()
            );
        }
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- referral-worker {:?} (pid {}) stderr ---\n{}--- end ---",
                self.args,
                self.child.id(),
                self.stderr()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
