//! The command line: which mode the process runs in, and the few settings
//! that make sense as flags.
//!
//! `main` parses a [`Cli`], calls [`Cli::load_settings`] to get validated
//! [`Settings`] with the flags applied, and hands the [`Command`] to the
//! runtime. Everything else about the process is configured in the config
//! file or the environment (see `config`), not here: flags are for what
//! differs between two processes started from the same deployment, such as
//! `serve` on one port and `web` on another.
//!
//! ```text
//! referral-worker [--config PATH] <command>
//!   serve [--listen ADDR] [--no-migrate]   HTTP + workers + schedules in one process
//!   work [--no-migrate]                    workers (and schedules) only
//!   web  [--listen ADDR] [--no-migrate]    HTTP only
//!   migrate                                apply database migrations
//!   config check                           validate and print the effective config
//!   employees import FILE.csv              import referrers
//!   links create --employee E --job J      mint a referral link
//!   audit verify                           check the audit log's hash chain
//!   export payouts|referrals|audit --from DATE --to DATE [--format csv|json] [--out FILE]
//!   report kpis --from DATE --to DATE [--json]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jobs::finance::{
    DateBound,
    export::{Dataset, Format},
};

use crate::config::{ConfigError, Settings};

/// Turns an employee-referral program into bonus payouts: takes referral
/// events over HTTP and works them through a durable job queue.
#[derive(Debug, Clone, Parser)]
#[command(name = "referral-worker", version, propagate_version = true)]
pub struct Cli {
    /// Config file to read. Without it, `referral-worker.toml` in the working
    /// directory is read if present, else the built-in defaults are used.
    /// Environment variables (`REFERRAL_WORKER__SECTION__KEY`, `DATABASE_URL`,
    /// `REDIS_URL`) override the file either way.
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "PATH",
        env = "REFERRAL_WORKER_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The mode the process runs in.
///
/// The three long-running modes share one binary so a small deployment runs
/// `serve` and a large one scales `web` and `work` separately, with the same
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP server, the job workers and the schedules in one process.
    Serve {
        /// Address to listen on; overrides `http.listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Do not apply pending database migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run the job workers (and schedules) only, no HTTP server.
    Work {
        /// Do not apply pending database migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run the HTTP server only; jobs it enqueues are worked by `work`
    /// processes.
    Web {
        /// Address to listen on; overrides `http.listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Do not apply pending database migrations at start-up.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The one-shot tasks on the data (`employees import`, `audit verify`,
    /// `export`, `report kpis`, `reconcile`), each a top-level subcommand
    /// (flattened); `commands::task` dispatches them.
    #[command(flatten)]
    Task(TaskCommand),
    /// Manage referral links.
    #[command(subcommand)]
    Links(LinksCommand),
}

/// The one-shot tasks on the data that `commands::task` runs.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TaskCommand {
    /// Manage referrers.
    #[command(subcommand)]
    Employees(EmployeesCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Export payouts, referrals or the audit log for HR and finance.
    Export(ExportArgs),
    /// Reports for finance.
    #[command(subcommand)]
    Report(ReportCommand),
}

impl TaskCommand {
    /// The subcommand as typed, e.g. `"audit verify"`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskCommand::Employees(_) => "employees import",
            TaskCommand::Audit(_) => "audit verify",
            TaskCommand::Export(_) => "export",
            TaskCommand::Report(_) => "report kpis",
        }
    }
}

/// `referral-worker audit ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum AuditCommand {
    /// Walk the audit log's hash chain in id order. Prints `OK: N events
    /// verified`, or the first row that does not fit (and what is wrong
    /// with it) and exits 1.
    Verify,
}

/// A period, both ends included: a day `YYYY-MM-DD` (UTC) or an RFC 3339
/// timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct PeriodArgs {
    /// First day or instant included.
    #[arg(long, value_name = "DATE")]
    pub from: DateBound,
    /// Last day or instant included.
    #[arg(long, value_name = "DATE")]
    pub to: DateBound,
}

/// `referral-worker export DATASET ...`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub dataset: ExportDataset,
    /// Which rows: created (payouts, referrals) or occurred (audit) in this period.
    #[command(flatten)]
    pub period: PeriodArgs,
    /// Output encoding.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write to this file (replaced only once the export is complete)
    /// instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Include records marked as test data.
    #[arg(long)]
    pub include_test: bool,
}

/// The datasets `export` knows, as clap lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportDataset {
    /// The payout ledger.
    Payouts,
    /// Every attribution claim.
    Referrals,
    /// The audit log with its hash chain.
    Audit,
}

impl From<ExportDataset> for Dataset {
    fn from(d: ExportDataset) -> Self {
        match d {
            ExportDataset::Payouts => Dataset::Payouts,
            ExportDataset::Referrals => Dataset::Referrals,
            ExportDataset::Audit => Dataset::Audit,
        }
    }
}

/// The encodings `export` writes, as clap lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON array.
    Json,
}

impl From<ExportFormat> for Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => Format::Csv,
            ExportFormat::Json => Format::Json,
        }
    }
}

/// `referral-worker report ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ReportCommand {
    /// Referral conversion, time to hire, payouts delivered by month and
    /// currency, and the top referrers, for a period. Test records are left out.
    Kpis {
        /// The period.
        #[command(flatten)]
        period: PeriodArgs,
        /// Print JSON (as `GET /api/reports/kpis` answers) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `referral-worker employees ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum EmployeesCommand {
    /// Import an HRIS export (CSV with columns employee_id, email, name,
    /// active). Each row is created or updated on its own; bad rows are
    /// reported by line number and skipped. Exits 1 if any row was bad.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

/// `referral-worker links ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum LinksCommand {
    /// Mint a referral link and print its token and share URL.
    Create {
        /// The referrer's HRIS employee id.
        #[arg(long)]
        employee: String,
        /// The ATS job id being shared.
        #[arg(long)]
        job: String,
        /// Validity, e.g. "30days" (default: referrals.link_ttl).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `referral-worker config ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it as TOML, secrets masked.
    /// Exits with status 2 if it is invalid.
    Check,
}

impl Command {
    /// The subcommand as typed, e.g. `"serve"` or `"config check"`, for
    /// log lines and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Serve { .. } => "serve",
            Command::Work { .. } => "work",
            Command::Web { .. } => "web",
            Command::Migrate => "migrate",
            Command::Config(ConfigCommand::Check) => "config check",
            Command::Task(task) => task.name(),
            Command::Links(_) => "links create",
        }
    }

    /// The `--listen` address, for the modes that serve HTTP.
    pub fn listen(&self) -> Option<SocketAddr> {
        match self {
            Command::Serve { listen, .. } | Command::Web { listen, .. } => *listen,
            _ => None,
        }
    }

    /// Whether the mode should apply pending migrations before starting:
    /// true for the long-running modes unless `--no-migrate` was given.
    /// (`migrate` itself does nothing else, so the question does not arise.)
    pub fn migrate_on_start(&self) -> bool {
        match self {
            Command::Serve { no_migrate, .. }
            | Command::Work { no_migrate }
            | Command::Web { no_migrate, .. } => !no_migrate,
            Command::Migrate | Command::Config(_) | Command::Task(_) | Command::Links(_) => false,
        }
    }
}

impl Cli {
    /// Loads the settings from `--config` (or the default file) and the
    /// environment, then applies the flags that override settings.
    ///
    /// Flags are applied last because they are the most specific thing the
    /// operator said: `--listen` beats `REFERRAL_WORKER__HTTP__LISTEN`.
    pub fn load_settings(&self) -> Result<Settings, ConfigError> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(listen) = self.command.listen() {
            settings.http.listen = listen;
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("referral-worker").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_with_flags() {
        let cli = parse(&["serve", "--listen", "0.0.0.0:9000", "--no-migrate"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Serve {
                listen: Some("0.0.0.0:9000".parse().unwrap()),
                no_migrate: true,
            }
        );
        assert!(!cli.command.migrate_on_start());
        assert_eq!(cli.command.listen().map(|a| a.port()), Some(9000));
    }

    #[test]
    fn config_is_global() {
        let before = parse(&["--config", "a.toml", "work"]).unwrap();
        let after = parse(&["work", "--config", "a.toml"]).unwrap();
        assert_eq!(before.config, Some(PathBuf::from("a.toml")));
        assert_eq!(after.config, Some(PathBuf::from("a.toml")));
        assert!(after.command.migrate_on_start());
    }

    #[test]
    fn config_check() {
        let cli = parse(&["config", "check"]).unwrap();
        assert_eq!(cli.command, Command::Config(ConfigCommand::Check));
        assert_eq!(cli.command.name(), "config check");
    }

    #[test]
    fn work_has_no_listen_flag() {
        assert!(parse(&["work", "--listen", "0.0.0.0:1"]).is_err());
    }

    #[test]
    fn bad_listen_address_is_a_usage_error() {
        let err = parse(&["web", "--listen", "nowhere"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn finance_commands_are_top_level() {
        let cli = parse(&["audit", "verify"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Task(TaskCommand::Audit(AuditCommand::Verify))
        );
        assert!(!cli.command.migrate_on_start());
        let cli = parse(&[
            "export",
            "payouts",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31T12:00:00Z",
            "--format",
            "json",
            "--include-test",
        ])
        .unwrap();
        let Command::Task(TaskCommand::Export(args)) = cli.command else {
            panic!("not an export: {cli:?}");
        };
        assert_eq!(args.dataset, ExportDataset::Payouts);
        assert_eq!(args.format, ExportFormat::Json);
        assert!(args.include_test && args.out.is_none());
        assert!(matches!(args.period.to, DateBound::Instant(_)));
        let cli = parse(&["employees", "import", "hr.csv"]).unwrap();
        assert_eq!(cli.command.name(), "employees import");
    }

    #[test]
    fn a_malformed_date_is_a_usage_error() {
        let err = parse(&[
            "report",
            "kpis",
            "--from",
            "yesterday",
            "--to",
            "2026-01-31",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--from"), "{err}");
    }

    #[test]
    fn an_unknown_dataset_is_a_usage_error() {
        assert!(
            parse(&[
                "export",
                "salaries",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02"
            ])
            .is_err()
        );
    }

    #[test]
    fn a_command_is_required() {
        assert!(parse(&[]).is_err());
    }
}
