//! Per-test databases: every test gets its own, freshly created, empty database.
//!
//! Tests never share a schema, so they can run in parallel and never see each
//! other's rows (no `TRUNCATE` between tests, no `--test-threads=1`). The
//! database is empty: call [`TestDb::migrate`] (or run `migrations::Migrator`
//! yourself) to get the real schema; tests must never build the schema from
//! entities, because that would skip the migrations we actually ship.
//!
//! - [`fresh_postgres`] creates `rw_<lowercase ulid>` on the server named by
//!   `TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]).
//! - [`fresh_sqlite`] creates `rw-test-<ulid>.db` in the system temp directory.
//!
//! Clean-up is best effort: call [`TestDb::drop_database`] at the end of a test.
//! A test that panics before that leaks its database; the unique names keep the
//! leak harmless, and `rw_*` databases / `rw-test-*.db` files can be deleted at
//! any time.
//!
//! The helpers panic on failure instead of returning errors: they are test
//! set-up, and a panic with the URL and cause is the most useful report.

use std::path::PathBuf;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// Server used by [`fresh_postgres`] when `TEST_POSTGRES_URL` is not set.
/// Any database on the server works: it is only used to create and drop the
/// per-test databases.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Environment variable overriding [`DEFAULT_POSTGRES_URL`].
pub const POSTGRES_URL_ENV: &str = "TEST_POSTGRES_URL";

/// A database that exists only for one test.
pub struct TestDb {
    /// Connection pool to the test database.
    pub conn: DatabaseConnection,
    /// URL of the test database, for code under test that connects by itself
    /// (e.g. the worker's settings).
    pub url: String,
    cleanup: Cleanup,
}

/// What [`TestDb::drop_database`] has to undo.
enum Cleanup {
    /// Drop `name` through a connection to the server's admin database.
    Postgres { admin_url: String, name: String },
    /// Delete the database file and SQLite's side files.
    Sqlite { path: PathBuf },
}

impl TestDb {
    /// The backend behind [`TestDb::conn`].
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Applies every migration of the real [`Migrator`].
    ///
    /// # Errors
    ///
    /// Whatever the migrations return; tests usually `.expect()` it.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.conn, None).await
    }

    /// Closes the pool and deletes the database. Best effort: failures are
    /// reported on stderr but do not fail the test, which has already passed
    /// or failed on its own merits.
    pub async fn drop_database(self) {
        // Close first: PostgreSQL refuses to drop a database with open
        // sessions, and SQLite may still hold the file.
        if let Err(e) = self.conn.close().await {
            eprintln!("test db: closing {} failed: {e}", self.url);
        }
        match self.cleanup {
            Cleanup::Postgres { admin_url, name } => {
                let result = async {
                    let admin = connect(&admin_url).await?;
                    // FORCE (PostgreSQL 13+) also ends sessions that code under
                    // test may have opened with its own pool.
                    admin
                        .execute_unprepared(&format!(
                            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                        ))
                        .await?;
                    admin.close().await
                }
                .await;
                if let Err(e) = result {
                    eprintln!("test db: dropping database {name} failed: {e}");
                }
            }
            Cleanup::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    // Side files usually do not exist; that is not an error.
                    let _ = std::fs::remove_file(file);
                }
            }
        }
    }
}

/// Creates an empty PostgreSQL database for one test.
///
/// # Panics
///
/// If the server cannot be reached or the database cannot be created.
pub async fn fresh_postgres() -> TestDb {
    let admin_url =
        std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    // Lowercase because PostgreSQL folds unquoted identifiers, and psql users
    // cleaning up by hand should not need quotes.
    let name = format!("rw_{}", ulid::Ulid::generate().to_string().to_lowercase());

    let admin = connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    // The admin pool is not needed any more; don't hold its connections for
    // the whole test.
    let _ = admin.close().await;

    let url = with_database(&admin_url, &name);
    let conn = connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to new database {name}: {e}"));
    TestDb {
        conn,
        url,
        cleanup: Cleanup::Postgres { admin_url, name },
    }
}

/// Creates an empty SQLite database file for one test.
///
/// A file rather than `:memory:`: an in-memory database exists once per
/// connection, so a pool would hand out several different empty databases.
///
/// # Panics
///
/// If the file cannot be created.
pub async fn fresh_sqlite() -> TestDb {
    let path = std::env::temp_dir().join(format!("rw-test-{}.db", ulid::Ulid::generate()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let conn = connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open SQLite database {url}: {e}"));
    TestDb {
        conn,
        url,
        cleanup: Cleanup::Sqlite { path },
    }
}

/// Connects with settings suited to tests: few connections (many tests run at
/// once against one server) and no per-statement SQL logging.
async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Replaces the database name (the URL path) of a PostgreSQL URL, keeping any
/// query string such as `?sslmode=disable`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_path() {
        let cases = [
            ("postgres://u@h:5432/test", "postgres://u@h:5432/rw_x"),
            ("postgres://u@h:5432", "postgres://u@h:5432/rw_x"),
            (
                "postgres://u@h/test?sslmode=disable",
                "postgres://u@h/rw_x?sslmode=disable",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(with_database(input, "rw_x"), expected, "input: {input}");
        }
    }
}
