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
//!   migrate [status [--json]]              apply database migrations, or list applied and pending ones
//!   config check                           validate and print the effective config
//!   employees import FILE.csv              import referrers
//!   links create --employee E --job J      mint a referral link
//!   audit verify                           check the audit log's hash chain
//!   export payouts|referrals|audit|reports --from DATE --to DATE [--format csv|json] [--out FILE]
//!   report kpis --from DATE --to DATE [--json]
//!   ops queues|jobs|job|retry|cancel|requeue-dead|stuck|inbox|replay|payouts|approve|hold|resolve|workflow [--json]
//!   retention purge [--dry-run] [--json]
//!   privacy candidate export|erase ID | privacy referrer export|erase EMPLOYEE_ID
//!   golive-check [--base-url URL] [--json] [--timeout 60s] [--allow-missing HOP]...
//!   demo [--data-dir DIR] [--timeout 60s] [--probation 5s]   one referral through a throw-away service
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jobs::finance::{
    DateBound,
    export::{Dataset, Format},
};

use crate::config::{ConfigError, Settings};

mod reconcile;

pub use reconcile::{ImportArgs, ReconcileCommand};

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
    /// Apply pending database migrations and exit (`migrate status`: list
    /// the applied and the pending ones, change nothing).
    Migrate {
        /// `status`; none applies the pending migrations.
        #[command(subcommand)]
        action: Option<MigrateCommand>,
    },
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
    /// Walk one referral through a throw-away service: starts it on SQLite
    /// with the embedded queue (in a temporary directory unless
    /// `--data-dir`), with a fake Greenhouse that signs its webhooks and a
    /// bonus receiver that verifies the signed POSTs, then prints each hop
    /// (link, application, attribution, hire, probation, bonus, audit)
    /// with its time. Ignores the configuration file and environment
    /// (except logging). Exits 1 naming the first hop that failed.
    Demo(DemoArgs),
}

/// `referral-worker demo [--data-dir DIR] [--timeout D] [--probation D]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DemoArgs {
    /// Keep the demo's SQLite database here (created if missing) instead
    /// of a temporary directory that is deleted afterwards.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// How long the whole walk may take before the hop it waits for fails.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// The bonus rule's probation period, compressed from months.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub probation: std::time::Duration,
    /// Give the bonus receiver a different secret than the service signs
    /// with, to see the `bonus` hop fail on the signature check.
    #[arg(long)]
    pub break_bonus_secret: bool,
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
    /// Export payouts, referrals, the audit log, the KPI reports or the
    /// reconciliation variances for HR and finance.
    Export(ExportArgs),
    /// Reports for finance.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Operate the service: queues, jobs, stuck work, the inbox, payouts
    /// and referral workflows (the `/api/ops` API on the command line).
    Ops(OpsArgs),
    /// Reconcile now: compare attributions, milestones, payouts, the queue
    /// and the ATS, record every variance, fix what is safe. Exits 1 when
    /// there is a variance. `reconcile import-platform|import-crm FILE
    /// --period YYYY-MM` imports the referral platform's or the CRM's list
    /// for the three-way reconciliation; `reconcile three-way --period
    /// YYYY-MM` runs it.
    Reconcile {
        /// The three-way reconciliation's imports and run; none runs the
        /// nightly reconciliation now.
        #[command(subcommand)]
        action: Option<ReconcileCommand>,
        /// Record what is found; fix nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Personal-data retention.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Data-subject requests: export or erase one candidate's or one
    /// referrer's personal data (the `/api/privacy` API on the command line).
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Go-live check against a running service: mint a test referral link,
    /// submit a signed test application through the real intake, hire it,
    /// and print each hop (received, attributed, written back, status
    /// synced, milestone, payout sent, audit) with its time and result.
    /// Every hop must be observed: a skipped write-back or an unconfigured
    /// status sync fails unless `--allow-missing HOP`. Exits 1 naming the
    /// first hop that failed.
    GoliveCheck(GoliveArgs),
}

/// `referral-worker golive-check [--base-url URL] [--json]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct GoliveArgs {
    /// The service to check; default `http.public_base_url`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Print the hops as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the service to move the test referral along.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
    /// Let this hop pass when it was skipped or is not configured (it is
    /// reported as missing); without it such a hop fails the check.
    /// Repeatable.
    #[arg(long = "allow-missing", value_name = "HOP", value_enum)]
    pub allow_missing: Vec<MissableHop>,
}

/// The go-live hops that can be skipped or unconfigured rather than fail
/// outright, as `--allow-missing` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MissableHop {
    /// `written back`: the write-back to the ATS was skipped (no ATS
    /// application yet, no ATS API configured).
    #[value(alias = "written back")]
    WrittenBack,
    /// `status synced`: no status-sync or CRM destination is configured.
    #[value(alias = "status synced")]
    StatusSynced,
}

/// `referral-worker privacy ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum PrivacyCommand {
    /// A candidate, by our integer id (`ops workflow` and exports show it).
    Candidate {
        /// Export or erase.
        #[command(subcommand)]
        action: CandidateRequest,
    },
    /// A referrer, by HRIS employee id.
    Referrer {
        /// Export or erase.
        #[command(subcommand)]
        action: ReferrerRequest,
    },
}

/// What to do for a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CandidateRequest {
    /// Print everything held on them (and rows merged with them) as JSON.
    Export {
        /// The candidate's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Erase their personal data (an audited tombstone replaces it;
    /// referrals and payouts stay) and their stored webhook bodies.
    Erase {
        /// The candidate's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What to do for a referrer.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ReferrerRequest {
    /// Print everything held on them as JSON.
    Export {
        /// The HRIS employee id.
        employee_id: String,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Erase their email and name (refused while the HRIS lists them as
    /// active); their HRIS id, referrals and payouts stay.
    Erase {
        /// The HRIS employee id.
        employee_id: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `referral-worker retention ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum RetentionCommand {
    /// Erase personal data older than `retention.purge_after` now (what the
    /// schedule does), or with `--dry-run` list whom it would erase.
    Purge {
        /// Report; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl TaskCommand {
    /// The subcommand as typed, e.g. `"audit verify"`.
    pub fn name(&self) -> &'static str {
        match self {
            TaskCommand::Employees(_) => "employees import",
            TaskCommand::Audit(_) => "audit verify",
            TaskCommand::Export(_) => "export",
            TaskCommand::Report(_) => "report kpis",
            TaskCommand::Ops(_) => "ops",
            TaskCommand::Reconcile { action: None, .. } => "reconcile",
            TaskCommand::Reconcile {
                action: Some(ReconcileCommand::ImportPlatform(_)),
                ..
            } => "reconcile import-platform",
            TaskCommand::Reconcile {
                action: Some(ReconcileCommand::ImportCrm(_)),
                ..
            } => "reconcile import-crm",
            TaskCommand::Reconcile {
                action: Some(ReconcileCommand::ThreeWay { .. }),
                ..
            } => "reconcile three-way",
            TaskCommand::Retention(_) => "retention purge",
            TaskCommand::Privacy(_) => "privacy",
            TaskCommand::GoliveCheck(_) => "golive-check",
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
    /// Which rows: created (payouts, referrals, reports) or occurred
    /// (audit; a run started, for reconciliation) in this period.
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
    /// The scheduled KPI reports sent to the CRM.
    Reports,
    /// The reconciliation runs' variances (nightly and three-way), with
    /// their suggested fixes.
    Reconciliation,
}

impl From<ExportDataset> for Dataset {
    fn from(d: ExportDataset) -> Self {
        match d {
            ExportDataset::Payouts => Dataset::Payouts,
            ExportDataset::Referrals => Dataset::Referrals,
            ExportDataset::Audit => Dataset::Audit,
            ExportDataset::Reports => Dataset::Reports,
            ExportDataset::Reconciliation => Dataset::Reconciliation,
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

/// `referral-worker ops ...`: what `/api/ops` offers, for a shell.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct OpsArgs {
    /// What to see or do.
    #[command(subcommand)]
    pub command: OpsCommand,
    /// Print JSON (what the ops API answers) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A job id as typed: a ULID, else a usage error (exit 2).
fn job_id_arg(text: &str) -> Result<String, String> {
    queue::JobId::parse(text)
        .map(|id| id.to_string())
        .map_err(|_| format!("`{text}` is not a job id (a 26-character ULID)"))
}

/// A state or source name as typed, else a usage error listing the names.
fn name_arg<T>(text: &str) -> Result<T, String>
where
    T: serde::de::DeserializeOwned + serde::Serialize + sea_orm::Iterable,
{
    jobs::ops::parse_name::<T>("value", text).map_err(|e| match e {
        jobs::Error::Invalid { problem, .. } => problem,
        other => other.to_string(),
    })
}

fn job_state_arg(text: &str) -> Result<queue::JobState, String> {
    jobs::ops::parse_job_state("state", text).map_err(|e| match e {
        jobs::Error::Invalid { problem, .. } => problem,
        other => other.to_string(),
    })
}

/// An ops action's `--reason` (required: the audit log records why).
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ReasonArg {
    /// Why (recorded in the audit log with your user name).
    #[arg(long)]
    pub reason: String,
}

/// How ops settle an `outcome_unknown` payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolutionArg {
    /// The bonus system has it: mark it delivered.
    Delivered,
    /// Send it again under the same webhook-id and key.
    Resend,
}

/// `referral-worker ops ...`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum OpsCommand {
    /// Counts per state and the age of the oldest job per state.
    Queues,
    /// Jobs, filtered and paged (`--cursor` takes the `next` printed last).
    Jobs {
        /// Only this state (scheduled, ready, running, retrying, succeeded, dead, cancelled).
        #[arg(long, value_parser = job_state_arg)]
        state: Option<queue::JobState>,
        /// Only this kind (e.g. send_payout).
        #[arg(long)]
        kind: Option<String>,
        /// Only jobs of this referral.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        referral_id: Option<i64>,
        /// Only jobs about the candidate with this ATS candidate id.
        #[arg(long)]
        candidate_ats_id: Option<String>,
        /// Enqueued at or after (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_name = "DATE")]
        from: Option<DateBound>,
        /// Enqueued at or before (YYYY-MM-DD, the whole day, or RFC 3339).
        #[arg(long, value_name = "DATE")]
        to: Option<DateBound>,
        /// Resume after a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// Rows per page (1..=500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One job: attempts, errors, timeline and ops actions.
    Job {
        /// The job id.
        #[arg(value_parser = job_id_arg)]
        id: String,
    },
    /// Run a dead, retrying or cancelled job again now.
    Retry {
        /// The job id.
        #[arg(value_parser = job_id_arg)]
        id: String,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
        /// Say what would happen without doing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Cancel a scheduled, ready or retrying job.
    Cancel {
        /// The job id.
        #[arg(value_parser = job_id_arg)]
        id: String,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
        /// Say what would happen without doing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Retry every dead job of a kind.
    RequeueDead {
        /// The job kind (e.g. send_payout).
        kind: String,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
        /// List and count them without retrying.
        #[arg(long)]
        dry_run: bool,
    },
    /// What is not moving, and why.
    Stuck,
    /// Webhook deliveries, newest first (no bodies).
    Inbox {
        /// Only this source (careers_site, greenhouse, lever, ashby, workable, smartrecruiters, generic).
        #[arg(long, value_parser = name_arg::<entities::inbox::InboxSource>)]
        source: Option<entities::inbox::InboxSource>,
        /// Only this status (received, enqueued, processed, ignored, rejected, failed).
        #[arg(long, value_parser = name_arg::<entities::inbox::InboxStatus>)]
        status: Option<entities::inbox::InboxStatus>,
        /// Resume after this id.
        #[arg(long)]
        cursor: Option<i64>,
        /// Rows per page (1..=500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Store an inbox row's body again as a new delivery and enqueue it.
    Replay {
        /// The inbox row id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
    },
    /// The payout ledger, newest first.
    Payouts {
        /// Only this state (e.g. eligible, outcome_unknown, dead).
        #[arg(long, value_parser = name_arg::<entities::payout::PayoutState>)]
        state: Option<entities::payout::PayoutState>,
        /// Resume after this id.
        #[arg(long)]
        cursor: Option<i64>,
        /// Rows per page (1..=500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Approve a payout awaiting approval, or release a held one.
    Approve {
        /// The payout id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
    },
    /// Freeze an unsent payout.
    Hold {
        /// The payout id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
    },
    /// Settle an outcome_unknown payout.
    Resolve {
        /// The payout id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// delivered or resend.
        #[arg(value_enum)]
        resolution: ResolutionArg,
        /// Why.
        #[command(flatten)]
        reason: ReasonArg,
    },
    /// A referral with its application, milestones, payouts and messages.
    Workflow {
        /// The referral id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        referral_id: i64,
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

/// `referral-worker migrate ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum MigrateCommand {
    /// List every migration this binary knows, applied or pending, without
    /// changing the database (not even creating the migrations table).
    Status {
        /// Print the list as JSON.
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
            Command::Migrate { action: None } => "migrate",
            Command::Migrate { action: Some(_) } => "migrate status",
            Command::Config(ConfigCommand::Check) => "config check",
            Command::Task(task) => task.name(),
            Command::Links(_) => "links create",
            Command::Demo(_) => "demo",
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
            Command::Migrate { .. }
            | Command::Config(_)
            | Command::Task(_)
            | Command::Links(_)
            | Command::Demo(_) => false,
        }
    }
}

impl Cli {
    /// Loads the settings from `--config` (or the default file) and the
    /// environment, then applies the flags that override settings.
    ///
    /// Flags are applied last because they are the most specific thing the
    /// operator said: `--listen` beats `REFERRAL_WORKER__HTTP__LISTEN`.
    /// `demo` reads neither file nor environment: it gets the defaults.
    pub fn load_settings(&self) -> Result<Settings, ConfigError> {
        if let Command::Demo(_) = self.command {
            // The demo builds its service's settings itself, the same on
            // every machine; only its logging comes from here: warnings,
            // so the hop lines stand out (RUST_LOG still wins).
            let mut settings = Settings::default();
            settings.log.filter = "warn".into();
            return Ok(settings);
        }
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
    fn golive_check_parses() {
        let cli = parse(&["golive-check", "--base-url", "http://127.0.0.1:1", "--json"]).unwrap();
        let Command::Task(TaskCommand::GoliveCheck(args)) = &cli.command else {
            panic!("{:?}", cli.command);
        };
        assert_eq!(args.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert!(args.json);
        assert_eq!(args.timeout, std::time::Duration::from_secs(60));
        assert_eq!(cli.command.name(), "golive-check");
        assert!(!cli.command.migrate_on_start());
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
    fn ops_commands_parse_and_bad_ids_are_usage_errors() {
        let cli = parse(&["ops", "queues", "--json"]).unwrap();
        let Command::Task(TaskCommand::Ops(args)) = cli.command else {
            panic!("not ops: {cli:?}");
        };
        assert!(args.json);
        assert_eq!(args.command, OpsCommand::Queues);
        let cli = parse(&[
            "ops",
            "retry",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "--reason",
            "fixed",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!(cli.command.name(), "ops");
        for bad in [
            &["ops", "job", "nope"][..],
            &["ops", "approve", "x", "--reason", "r"],
            &["ops", "approve", "5"],
            &["ops", "payouts", "--state", "paid"],
            &["ops", "resolve", "5", "maybe", "--reason", "r"],
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
        let err = parse(&["ops", "payouts", "--state", "paid"]).unwrap_err();
        assert!(err.to_string().contains("outcome_unknown"), "{err}");
    }

    #[test]
    fn demo_parses_and_ignores_the_config() {
        let cli = parse(&["demo", "--probation", "3s", "--config", "/nowhere.toml"]).unwrap();
        let Command::Demo(args) = &cli.command else {
            panic!("{:?}", cli.command);
        };
        assert_eq!(args.probation, std::time::Duration::from_secs(3));
        assert_eq!(args.timeout, std::time::Duration::from_secs(60));
        assert!(args.data_dir.is_none() && !args.break_bonus_secret);
        assert_eq!(cli.command.name(), "demo");
        assert!(!cli.command.migrate_on_start());
        // The missing file would be an error for any other command.
        let settings = cli.load_settings().expect("the demo's defaults");
        assert_eq!(settings.log.filter, "warn");
        assert!(parse(&["demo", "--probation", "soon"]).is_err());
    }

    #[test]
    fn a_command_is_required() {
        assert!(parse(&[]).is_err());
    }
}
