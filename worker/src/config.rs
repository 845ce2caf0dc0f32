//! Typed settings for the whole process.
//!
//! This module owns the shape of the configuration (the `[http]`, `[database]`,
//! `[queue]` and `[log]` tables), how it is layered together from several
//! sources, how it is checked, and how it is printed without leaking secrets.
//! `main` calls [`Settings::load`] (through `cli::Cli::load_settings`) once at
//! start-up; everything after that receives plain, already-validated structs
//! and never looks at files or environment variables again.
//!
//! # Layers
//!
//! Settings are assembled with [figment] from these layers, each overriding
//! the one before it:
//!
//! 1. **Defaults**, written in the `Default` impls below and applied by serde
//!    (`#[serde(default)]`) for every key that no other layer sets. With no
//!    file and no environment the worker runs "embedded": SQLite in the
//!    working directory, the queue in the same database.
//! 2. **A TOML file**: the one named by `--config PATH` (which must exist), or
//!    else `referral-worker.toml` in the working directory if there is one.
//! 3. **`DATABASE_URL` and `REDIS_URL`**, the conventional variables that
//!    platforms and `docker compose` files already set. Empty values are
//!    ignored, so that `REDIS_URL=${REDIS_URL}` with nothing behind it does not
//!    silently switch a Redis-backed deployment to the embedded queue.
//! 4. **`REFERRAL_WORKER__SECTION__KEY` variables**, one per key, a double
//!    underscore between levels: `REFERRAL_WORKER__QUEUE__LEASE=1m`,
//!    `REFERRAL_WORKER__QUEUE__RETRY__MAX_ATTEMPTS=10`,
//!    `REFERRAL_WORKER__QUEUE__KINDS__SEND_EMAIL__MAX_ATTEMPTS=3`. These are
//!    the most specific way to say something, so they win over everything,
//!    `DATABASE_URL` included. Names are case-insensitive and become lower
//!    case keys, so a per-kind override for a kind whose name has upper case
//!    letters or dots can only be written in the file.
//!
//! # Errors
//!
//! Everything that can be wrong is reported as a [`ConfigError`] whose
//! message names the key and where the bad value came from, for example
//! `queue.lease: invalid duration "abc": expected number at 0 (from
//! environment variable REFERRAL_WORKER__QUEUE__LEASE)`. Unknown keys are
//! errors too, because a misspelt key that is silently ignored is a setting
//! that silently does not apply.
//!
//! # Secrets
//!
//! Connection URLs may carry passwords, so they are held in a [`SecretUrl`]
//! whose `Debug`, `Display` and `Serialize` all print the password as `***`.
//! The only way to the real string is [`SecretUrl::expose_secret`], which is
//! easy to grep for. Secrets that are not URLs (API tokens, webhook signing
//! keys) should use [`secrecy::SecretString`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "referral-worker.toml";

/// Prefix of the per-key environment variables. The double underscore also
/// separates nesting levels, so `REFERRAL_WORKER__QUEUE__LEASE` is
/// `queue.lease`; a single underscore stays part of a key name
/// (`REFERRAL_WORKER__QUEUE__REDIS_URL` is `queue.redis_url`).
pub const ENV_PREFIX: &str = "REFERRAL_WORKER__";

/// The separator between nesting levels in environment variable names.
const ENV_SEPARATOR: &str = "__";

/// Metadata name shared by both environment layers; [`Problem`] uses it to
/// say "from environment variable X" instead of "in file Y".
const ENV_METADATA_NAME: &str = "environment variable";

/// Everything the process can be told, after layering and validation.
///
/// Build it with [`Settings::load`] in the binary or [`Settings::from_figment`]
/// in tests. A value of this type has passed [`Settings::validate`], unless it
/// was built by hand or with `Default` (the defaults are valid; a test checks).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The HTTP server: webhook intake and the operations API.
    pub http: HttpSettings,
    /// The database holding referrals, payouts and (in embedded mode) jobs.
    pub database: DatabaseSettings,
    /// The durable job queue and the workers that drain it.
    pub queue: QueueSettings,
    /// Log output.
    pub log: LogSettings,
    /// Who may call `/api/...`.
    pub api: ApiSettings,
    /// Secrets that authenticate inbound webhooks.
    pub webhooks: WebhookSettings,
    /// Referral links and attribution rules.
    pub referrals: ReferralSettings,
    /// ATS API clients used for write-back and re-fetching.
    pub ats: AtsSettings,
    /// Bonus rules and milestone timers.
    pub payouts: PayoutsSettings,
    /// Milestone detection: which ATS stages mean "hired", where the start
    /// date is.
    pub milestones: MilestoneSettings,
    /// Signed notifications besides the bonus POST: status sync, CRM, alerts.
    pub notifications: NotificationSettings,
    /// The scheduled reconciliation.
    pub reconciliation: ReconciliationSettings,
    /// The scheduled purge of personal data.
    pub retention: RetentionSettings,
    /// Sandbox mode: every outbound call goes to a sandbox URL or is
    /// recorded in the audit log without being sent.
    pub sandbox: SandboxSettings,
    /// What every outbound HTTP call may reach.
    pub outbound: OutboundSettings,
}

/// `[outbound]`: the SSRF guard on every outbound call (ATS APIs, the
/// bonus destination, status sync, CRM, alerts, sandbox URLs). Redirects are
/// never followed. Unless `allow_private_networks`, a configured URL whose
/// host is a private, loopback, link-local or reserved address is refused
/// by `config check` and at start, and a host name is connected to only
/// through its public addresses (see `jobs::outbound::net_guard`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Let outbound calls reach private networks and loopback: for an
    /// on-premise receiver or local development. Default false.
    pub allow_private_networks: bool,
}

/// `[sandbox]`: a deployment that must not reach real systems (staging, a
/// go-live rehearsal). When `enabled`, each outbound client is built
/// against its sandbox URL if one is given; otherwise its calls are
/// recorded in the audit log (`sandbox.recorded`: destination, method, URL
/// without query, message id and type) and answered as delivered, and ATS
/// write-backs are recorded and skipped. Signed destinations keep their
/// configured secrets. Ignored when `enabled` is false.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Route or record every outbound call.
    pub enabled: bool,
    /// Sandbox for the bonus POST (instead of `payouts.destination_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub bonus_url: String,
    /// Sandbox for status syncs (instead of `notifications.status_sync_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub status_sync_url: String,
    /// Sandbox for CRM hand-offs (instead of `notifications.crm_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub crm_url: String,
    /// Sandbox alert webhook (instead of `notifications.alert_webhook_url`);
    /// masked like the real one.
    pub alert_webhook_url: Secret,
    /// Sandbox Greenhouse Harvest base URL (instead of `ats.greenhouse.base_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub greenhouse_base_url: String,
    /// Sandbox Lever API base URL (instead of `ats.lever.base_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub lever_base_url: String,
}

/// `[reconciliation]`: when it runs and what counts as late.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconciliationSettings {
    /// Cron expression with seconds (`sec min hour day month weekday`);
    /// empty turns the schedule off (`referral-worker reconcile` still
    /// works). Every worker process watches it; each tick runs once.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub time_zone: String,
    /// How long a payout may stay sendable before it is a variance.
    #[serde(with = "duration")]
    pub delivery_window: Duration,
    /// How far back the ATS is asked for applications that moved.
    #[serde(with = "duration")]
    pub ats_lookback: Duration,
}

impl Default for ReconciliationSettings {
    fn default() -> Self {
        ReconciliationSettings {
            schedule: "0 0 3 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
            delivery_window: Duration::from_secs(24 * 3600),
            ats_lookback: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// `[retention]`: when personal data of candidates who were not hired is
/// erased.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Erase the personal data of candidates whose applications were all
    /// rejected or withdrawn this long ago, and raw inbox bodies this old.
    #[serde(with = "duration")]
    pub purge_after: Duration,
    /// Cron expression with seconds; empty turns the schedule off.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub time_zone: String,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            purge_after: Duration::from_secs(365 * 24 * 3600),
            schedule: "0 30 3 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
        }
    }
}

/// `[milestones]`: how events become milestones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MilestoneSettings {
    /// Stage names that mean "hired", per ATS (`greenhouse`, `lever`,
    /// `careers_site`, `generic`), compared case-insensitively. An
    /// application moved into one of them is hired even when the event
    /// carries no `hired` status. Empty: only the ATS's own hired status
    /// (Greenhouse `hired`, Lever `candidateHired`) counts.
    pub hire_stages: std::collections::BTreeMap<String, Vec<String>>,
    /// The field of a careers-site / generic `application.status_changed`
    /// event's `application` object holding the start date
    /// (`YYYY-MM-DD` or RFC 3339). Default `start_date`.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub start_date_field: String,
}

/// `[notifications]`: where status syncs, CRM hand-offs and alerts go.
/// Each URL is optional; an empty one sends nothing of that kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// The referral platform: every milestone and payout state change is
    /// POSTed here (Standard Webhooks, `referral.status_changed`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub status_sync_url: String,
    /// `whsec_` secret status syncs are signed with.
    pub status_sync_secret: Secret,
    /// Also tell the referral platform when a hire is undone by a
    /// rejection (off by default: referrers are not told about rejections).
    pub notify_rejections: bool,
    /// The CRM: a confirmed hire with its attribution is POSTed here
    /// (`referral.hire_confirmed`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub crm_url: String,
    /// `whsec_` secret CRM hand-offs are signed with.
    pub crm_secret: Secret,
    /// A Slack-compatible incoming webhook (`{"text": ...}`) for alerts:
    /// dead or failed payouts, a destination disabled by a 410. The URL is
    /// the credential, so it is kept secret.
    pub alert_webhook_url: Secret,
    /// Requests per second to each of these destinations, per process.
    pub requests_per_second: u32,
    /// How long one notification POST may take.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for MilestoneSettings {
    fn default() -> Self {
        MilestoneSettings {
            hire_stages: std::collections::BTreeMap::new(),
            start_date_field: jobs::connectors::careers_site::DEFAULT_START_DATE_FIELD.to_owned(),
        }
    }
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            status_sync_url: String::new(),
            status_sync_secret: Secret::default(),
            notify_rejections: false,
            crm_url: String::new(),
            crm_secret: Secret::default(),
            alert_webhook_url: Secret::default(),
            requests_per_second: 10,
            timeout: Duration::from_secs(15),
        }
    }
}

/// `[payouts]`: bonus rules and the probation timers' safety net.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayoutsSettings {
    /// `[[payouts.rules]]`: tiers, tranches and probation periods; the first
    /// rule matching a job applies. Default: one catch-all rule (see
    /// `jobs::payout::rules::default_rules`).
    pub rules: jobs::payout::rules::BonusRules,
    /// How often each worker re-enqueues armed probation timers missing
    /// from the queue (after a Redis wipe).
    #[serde(with = "duration")]
    pub timer_sweep: Duration,
    /// Where bonus events are POSTed (the referral program system); empty
    /// keeps eligible payouts waiting, visible to ops.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub destination_url: String,
    /// Standard Webhooks secret (`whsec_...`) the bonus events are signed with.
    pub destination_secret: Secret,
    /// Whether the receiver dedupes on webhook-id / Idempotency-Key (the
    /// Standard Webhooks default). If not, a send whose outcome is unknown
    /// is never repeated automatically (`outcome_unknown`, for ops).
    pub destination_idempotent: bool,
    /// Bonus POSTs per second, per process.
    pub destination_requests_per_second: u32,
    /// How long one bonus POST may take, answer included (Standard Webhooks
    /// suggests 15–30 s). A POST that times out after it was sent has an
    /// unknown outcome: resent only to an idempotent destination.
    #[serde(with = "duration")]
    pub destination_timeout: Duration,
    /// Delays between attempts of a bonus POST and of every notification:
    /// one attempt, then one retry per entry, then dead (and an alert).
    /// Default Standard Webhooks' schedule: 5s, 5m, 30m, 2h, 5h, 10h, 14h,
    /// 20h, 24h. A `[queue.kinds.send_payout]` section, when present, wins.
    #[serde(with = "durations")]
    pub retry_schedule: Vec<Duration>,
}

impl Default for PayoutsSettings {
    fn default() -> Self {
        PayoutsSettings {
            rules: jobs::payout::rules::default_rules(),
            timer_sweep: Duration::from_secs(60),
            destination_url: String::new(),
            destination_secret: Secret::default(),
            destination_idempotent: true,
            destination_requests_per_second: 10,
            destination_timeout: Duration::from_secs(15),
            retry_schedule: jobs::queue::RetryPolicy::webhook_schedule(),
        }
    }
}

/// `[http]`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to bind. `--listen` on `serve` and `web` overrides it.
    pub listen: SocketAddr,
    /// Largest inbound request body accepted, in bytes. Webhook payloads are
    /// small; a limit keeps one bad sender from buffering megabytes per
    /// request in memory.
    pub body_limit: usize,
    /// How the outside world reaches this service, used to build absolute
    /// links (for example in notification e-mails). It is not derived from
    /// `listen` because behind a proxy the two differ.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub public_base_url: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            body_limit: 1024 * 1024,
            public_base_url: "http://127.0.0.1:8080".to_owned(),
        }
    }
}

/// `[database]`: the relational store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`. `DATABASE_URL` overrides it.
    pub url: SecretUrl,
    /// Upper bound on the connection pool.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            // `mode=rwc` lets SQLite create the file on first start, which is
            // what "just run the binary" needs.
            url: SecretUrl::new("sqlite://referral-worker.db?mode=rwc"),
            max_connections: 10,
        }
    }
}

/// `[queue]`: the job queue and the workers of this process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Redis to keep the queue in. Empty means the embedded queue, kept in
    /// the database. `REDIS_URL` overrides it.
    pub redis_url: SecretUrl,
    /// Prefix of every Redis key this service writes. Braces are not allowed
    /// because Redis Cluster reads `{...}` as a hash tag, and the queue
    /// decides itself how keys are grouped into slots.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub prefix: String,
    /// Name of the queue this process works on.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub name: String,
    /// Most jobs in flight at once in this process.
    pub concurrency: usize,
    /// Most jobs leased in one round trip to the queue.
    pub fetch_batch: usize,
    /// How long a job stays leased to a worker without a heartbeat. A worker
    /// that dies loses its jobs to others after at most this long.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// How often a worker renews the leases of its running jobs. Less than
    /// half the lease, so that one late or lost renewal does not lose a job.
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    /// How often to look for work when no wake-up notification arrives.
    #[serde(with = "duration")]
    pub poll_interval: Duration,
    /// Jobs started per second by this process; 0 means no limit. See
    /// [`QueueSettings::rate_limit_per_second`].
    pub rate_limit: u32,
    /// Time one attempt of a job may take before it is failed (and retried).
    #[serde(with = "duration")]
    pub job_timeout: Duration,
    /// On SIGTERM, how long running jobs get to finish before the process
    /// exits anyway; their leases then expire and other workers retry them.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// How long succeeded jobs stay inspectable before they are deleted.
    #[serde(with = "duration")]
    pub retention_succeeded: Duration,
    /// How long dead jobs (out of attempts) stay inspectable.
    #[serde(with = "duration")]
    pub retention_dead: Duration,
    /// `[queue.retry]`: the retry policy of every job kind without an
    /// override.
    pub retry: RetryPolicySettings,
    /// `[queue.kinds.<kind>]`: per-kind changes to `retry`. Use
    /// [`QueueSettings::retry_for`] rather than reading this directly.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, RetryOverride>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            redis_url: SecretUrl::new(""),
            prefix: "referral-worker".to_owned(),
            name: "default".to_owned(),
            concurrency: 64,
            fetch_batch: 256,
            lease: Duration::from_secs(20),
            heartbeat: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            rate_limit: 0,
            job_timeout: Duration::from_secs(5 * 60),
            shutdown_timeout: Duration::from_secs(30),
            retention_succeeded: Duration::from_secs(24 * 60 * 60),
            retention_dead: Duration::from_secs(30 * 24 * 60 * 60),
            retry: RetryPolicySettings::default(),
            kinds: BTreeMap::new(),
        }
    }
}

impl QueueSettings {
    /// Whether the queue lives in Redis (`true`) or in the database.
    pub fn uses_redis(&self) -> bool {
        !self.redis_url.is_empty()
    }

    /// The retry policy for jobs of `kind`: `[queue.retry]` with whatever
    /// `[queue.kinds.<kind>]` sets laid over it. Kinds without an override
    /// get the default policy.
    pub fn retry_for(&self, kind: &str) -> RetryPolicySettings {
        match self.kinds.get(kind) {
            Some(over) => over.apply_to(&self.retry),
            None => self.retry.clone(),
        }
    }

    /// `rate_limit` in the form rate limiters want: `None` for "unlimited",
    /// so the 0 sentinel never reaches code that would divide by it.
    pub fn rate_limit_per_second(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.rate_limit)
    }
}

/// `[queue.retry]`: when and how often a failed job is tried again.
///
/// The delay before attempt *n* grows from `base_delay` and is capped at
/// `max_delay`; after `max_attempts` attempts the job is dead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicySettings {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Delay before the first retry.
    #[serde(with = "duration")]
    pub base_delay: Duration,
    /// Upper bound on any single delay.
    #[serde(with = "duration")]
    pub max_delay: Duration,
}

impl Default for RetryPolicySettings {
    fn default() -> Self {
        RetryPolicySettings {
            // 25 attempts with a 5s base and a 24h cap spread retries over a
            // few days: long enough to ride out a partner's outage.
            max_attempts: 25,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// `[queue.kinds.<kind>]`: the keys of [`RetryPolicySettings`], each optional;
/// the ones left out are taken from `[queue.retry]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryOverride {
    /// Replaces `queue.retry.max_attempts` for this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Replaces `queue.retry.base_delay` for this kind.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub base_delay: Option<Duration>,
    /// Replaces `queue.retry.max_delay` for this kind.
    #[serde(with = "duration::option", skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<Duration>,
}

impl RetryOverride {
    /// `base` with the keys this override sets replaced.
    pub fn apply_to(&self, base: &RetryPolicySettings) -> RetryPolicySettings {
        RetryPolicySettings {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            base_delay: self.base_delay.unwrap_or(base.base_delay),
            max_delay: self.max_delay.unwrap_or(base.max_delay),
        }
    }
}

/// `[log]`: what is logged and how it looks. Read by `telemetry::init`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `info,worker=debug`.
    /// `RUST_LOG`, when set, is used instead.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Auto,
            filter: "info".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `pretty` on a terminal, `json` otherwise: a developer running the
    /// binary by hand reads it, a log collector in production parses it.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

impl LogFormat {
    /// Whether to write human-readable lines, given whether the output is a
    /// terminal. Kept apart from the terminal check so it can be tested.
    pub fn is_human(self, output_is_terminal: bool) -> bool {
        match self {
            LogFormat::Auto => output_is_terminal,
            LogFormat::Json => false,
            LogFormat::Pretty => true,
        }
    }
}

impl Settings {
    /// Loads and validates the settings: defaults, then the config file, then
    /// the environment (see the [module docs](self) for the order).
    ///
    /// `path` is the `--config` argument. When given, the file must exist.
    /// When `None`, [`DEFAULT_CONFIG_FILE`] in the working directory is read
    /// if it exists, and pure defaults are used if it does not.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        Settings::from_figment(Settings::figment(path)?)
    }

    /// The layered sources [`Settings::load`] reads, before extraction.
    ///
    /// Exposed so that a caller (or a test) can add a layer of its own on
    /// top, e.g. `Settings::figment(None)?.merge(("queue.concurrency", 1))`.
    pub fn figment(path: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::new();
        match path {
            Some(path) => {
                // figment treats a missing file as an empty one, which is
                // right for the optional default file and wrong for a file
                // the operator named: a typo in `--config` must not quietly
                // start the worker on defaults.
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_file() => {}
                    Ok(_) => {
                        return Err(ConfigError::NotAFile {
                            path: path.to_owned(),
                        });
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        return Err(ConfigError::FileNotFound {
                            path: path.to_owned(),
                        });
                    }
                    Err(source) => {
                        return Err(ConfigError::FileUnreadable {
                            path: path.to_owned(),
                            source,
                        });
                    }
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                // `file_exact`, not `file`: `Toml::file` would also search
                // parent directories, and a config picked up from `..` is a
                // surprise nobody wants in production.
                if Path::new(DEFAULT_CONFIG_FILE).is_file() {
                    figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
                }
            }
        }
        Ok(figment.merge(ConventionalEnv).merge(PrefixedEnv::new()))
    }

    /// Extracts and validates settings from any figment. Tests use this with
    /// in-memory providers; [`Settings::load`] uses it with the real layers.
    pub fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(|err| {
            ConfigError::Invalid(err.into_iter().map(Problem::from_figment).collect())
        })?;
        match settings.validate() {
            Ok(()) => Ok(settings),
            Err(ConfigError::Invalid(mut problems)) => {
                // `validate` only sees values, not where they came from; the
                // figment still knows, and "from environment variable X"
                // saves the operator a search through their deployment.
                for problem in &mut problems {
                    if problem.origin.is_none() {
                        problem.origin = figment
                            .find_metadata(&problem.key)
                            .map(|md| Origin::from_metadata(md, &problem.key));
                    }
                }
                Err(ConfigError::Invalid(problems))
            }
            Err(other) => Err(other),
        }
    }

    /// Checks what serde cannot: ranges, non-empty strings, URL schemes and
    /// rules that involve more than one key. Reports every problem found,
    /// not just the first, so that one run of `config check` lists them all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(Problem::new(key, message));
            }
        };

        let http = &self.http;
        check(http.body_limit > 0, "http.body_limit", "must be at least 1");
        if let Err(message) = check_public_base_url(&http.public_base_url) {
            check(false, "http.public_base_url", &message);
        }

        validate_referral_settings(self, &mut check);
        // Lever signs `token + triggeredAt` with no separator, so digits can
        // move from one to the other under the same signature; that shifts
        // triggeredAt by 15 years or more, which only the age check refuses.
        check(
            !self.webhooks.lever_max_age.is_zero()
                && self.webhooks.lever_max_age <= Duration::from_secs(3650 * 24 * 60 * 60),
            "webhooks.lever_max_age",
            "must be between 1s and 3650days (a re-cut delivery is 15 years or more off)",
        );

        let db = &self.database;
        check(
            db.max_connections >= 1,
            "database.max_connections",
            "must be at least 1",
        );
        if let Err(message) = db.url.check_scheme(&["sqlite", "postgres", "postgresql"]) {
            check(false, "database.url", &message);
        }

        let q = &self.queue;
        if q.uses_redis()
            && let Err(message) =
                q.redis_url
                    .check_scheme(&["redis", "rediss", "redis+unix", "unix"])
        {
            check(false, "queue.redis_url", &message);
        }
        for (key, value) in [("queue.prefix", &q.prefix), ("queue.name", &q.name)] {
            check(!value.is_empty(), key, "must not be empty");
            check(
                !value.contains(['{', '}']),
                key,
                "must not contain `{` or `}` (Redis Cluster reads them as a hash tag)",
            );
        }
        check(
            q.concurrency >= 1,
            "queue.concurrency",
            "must be at least 1",
        );
        check(
            (1..=10_000).contains(&q.fetch_batch),
            "queue.fetch_batch",
            "must be between 1 and 10000",
        );
        for (key, value) in [
            ("queue.lease", q.lease),
            ("queue.heartbeat", q.heartbeat),
            ("queue.poll_interval", q.poll_interval),
            ("queue.job_timeout", q.job_timeout),
        ] {
            check(!value.is_zero(), key, "must be longer than 0s");
        }
        // Strictly less than half: with renewals every `lease / 2` a single
        // late heartbeat would already let the lease lapse.
        check(
            q.heartbeat < q.lease / 2,
            "queue.heartbeat",
            &format!(
                "must be less than half of queue.lease ({} / 2), so one late renewal does not lose the job",
                humantime::format_duration(q.lease)
            ),
        );
        check_retry(&mut check, "queue.retry", &q.retry);
        for (kind, over) in &q.kinds {
            check_retry(
                &mut check,
                &format!("queue.kinds.{kind}"),
                &over.apply_to(&q.retry),
            );
        }

        let log = &self.log;
        if log.filter.trim().is_empty() {
            check(
                false,
                "log.filter",
                "must not be empty (use \"off\" to disable logging)",
            );
        } else if let Err(err) = tracing_subscriber::EnvFilter::try_new(&log.filter) {
            check(
                false,
                "log.filter",
                &format!("invalid filter directive: {err}"),
            );
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The effective settings as TOML, with every secret masked. This is what
    /// `referral-worker config check` prints. The output is itself a valid
    /// config file (masked passwords aside).
    pub fn to_masked_toml(&self) -> String {
        // `SecretUrl` serializes to its masked form, so plain serialization
        // is already safe; there is no unmasked path to forget to avoid.
        match toml::to_string(self) {
            Ok(body) => {
                format!("# Effective referral-worker configuration (secrets masked).\n{body}")
            }
            // Every field is a string, number, table or map with string keys,
            // so this cannot happen; still, a diagnostics command should say
            // what went wrong rather than panic.
            Err(err) => format!("# could not render the configuration as TOML: {err}\n"),
        }
    }
}

/// Validation of one retry policy, shared by `[queue.retry]` and each
/// merged `[queue.kinds.<kind>]`.
fn check_retry(
    check: &mut impl FnMut(bool, &str, &str),
    table: &str,
    policy: &RetryPolicySettings,
) {
    check(
        policy.max_attempts >= 1,
        &format!("{table}.max_attempts"),
        "must be at least 1",
    );
    check(
        policy.max_delay >= policy.base_delay,
        &format!("{table}.max_delay"),
        &format!(
            "must not be less than base_delay ({})",
            humantime::format_duration(policy.base_delay)
        ),
    );
}

/// [`check_public_base_url`] plus the SSRF guard: a URL of an outbound call
/// must not name a private address unless `outbound.allow_private_networks`.
fn check_outbound_url(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = check_public_base_url(raw)?;
    match jobs::outbound::net_guard::inward_address(&url) {
        Some(ip) if !allow_private => Err(jobs::outbound::net_guard::inward_message(ip)),
        _ => Ok(()),
    }
}

fn check_public_base_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|err| format!("not a valid URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http:// or https:// URL, not {}://",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    Ok(url)
}

/// Why the settings could not be loaded. The one error type of this crate's
/// configuration; `main` prints it and exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a path that does not exist.
    #[error("config file {} does not exist", .path.display())]
    FileNotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// `--config` named a directory or something else that is not a file.
    #[error("config file {} is not a regular file", .path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
    },
    /// `--config` named a path that could not be inspected.
    #[error("config file {}: {source}", .path.display())]
    FileUnreadable {
        /// The path as given.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The sources were read but what they say is wrong: a syntax error, an
    /// unknown key, a value of the wrong type, or a failed validation rule.
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The individual problems, when the error is [`ConfigError::Invalid`].
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

/// One thing wrong with the configuration, tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path such as `queue.lease`; empty when the problem is not
    /// about one key (a TOML syntax error, say).
    pub key: String,
    /// What is wrong, without the key.
    pub message: String,
    /// Where the offending value came from, when known.
    pub origin: Option<Origin>,
}

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config file.
    File(PathBuf),
    /// An environment variable, by its real name (`REDIS_URL`,
    /// `REFERRAL_WORKER__QUEUE__LEASE`).
    Env(String),
    /// Any other figment provider, by its name (tests use in-memory ones).
    Other(String),
}

impl Origin {
    /// The origin of the value at `key`, described by its provider's
    /// metadata.
    fn from_metadata(md: &Metadata, key: &str) -> Origin {
        if let Some(Source::File(path)) = &md.source {
            return Origin::File(path.clone());
        }
        if md.name == ENV_METADATA_NAME {
            let keys: Vec<&str> = key.split('.').collect();
            return Origin::Env(md.interpolate(&Profile::Default, &keys));
        }
        Origin::Other(md.name.to_string())
    }
}

impl fmt::Display for Origin {
    /// Written to follow a key: `queue.lease: ... (in FILE)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "in {}", path.display()),
            Origin::Env(var) => write!(f, "from environment variable {var}"),
            Origin::Other(name) => write!(f, "from {name}"),
        }
    }
}

impl Problem {
    fn new(key: &str, message: &str) -> Problem {
        Problem {
            key: key.to_owned(),
            message: message.to_owned(),
            origin: None,
        }
    }

    /// Rewrites one figment error so that it leads with the key. figment's
    /// own wording puts the key last and, for environment variables, spells
    /// it `QUEUE.LEASE`, which is neither the key nor the variable.
    fn from_figment(err: figment::Error) -> Problem {
        use figment::error::Kind;

        let mut path = err.path.clone();
        let message = match &err.kind {
            Kind::UnknownField(field, expected) => {
                // figment's path already ends in the unknown field; make
                // sure of it rather than rely on it, the key is the point.
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                if expected.is_empty() {
                    "unknown key".to_owned()
                } else {
                    format!("unknown key (expected one of: {})", expected.join(", "))
                }
            }
            Kind::UnknownVariant(found, expected) => {
                format!(
                    "unknown value `{found}` (expected one of: {})",
                    expected.join(", ")
                )
            }
            Kind::InvalidType(found, expected) => format!("expected {expected}, found {found}"),
            Kind::InvalidValue(found, expected) => format!("expected {expected}, found {found}"),
            // TOML syntax errors end in a newline after their snippet.
            other => other.to_string().trim_end().to_owned(),
        };
        let key = path.join(".");
        let origin = err
            .metadata
            .as_ref()
            .map(|md| Origin::from_metadata(md, &key));
        Problem {
            key,
            message,
            origin,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.key.is_empty(), &self.origin) {
            // Without a key (a syntax error), the file is the subject.
            (true, Some(Origin::File(path))) => write!(f, "{}: {}", path.display(), self.message),
            (true, Some(origin)) => write!(f, "{} ({origin})", self.message),
            (true, None) => f.write_str(&self.message),
            (false, Some(origin)) => write!(f, "{}: {} ({origin})", self.key, self.message),
            (false, None) => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Formats the problems of [`ConfigError::Invalid`]: a lone problem on one
/// line, several as an indented list under a count.
struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("invalid configuration"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} configuration problems:", many.len())?;
                for problem in many {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// The `REFERRAL_WORKER__SECTION__KEY` layer: figment's `Env`, with metadata
/// that names the real variable in error messages.
struct PrefixedEnv(Env);

impl PrefixedEnv {
    fn new() -> PrefixedEnv {
        PrefixedEnv(Env::prefixed(ENV_PREFIX).split(ENV_SEPARATOR))
    }
}

impl Provider for PrefixedEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME).interpolater(|_profile, keys| {
            format!(
                "{ENV_PREFIX}{}",
                keys.join(ENV_SEPARATOR).to_ascii_uppercase()
            )
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0.data()
    }
}

/// The `DATABASE_URL` / `REDIS_URL` layer. Written by hand rather than with
/// `Env::raw().only(..)` because it skips empty values (see the module docs)
/// and because these two are always strings, never parsed as TOML values.
struct ConventionalEnv;

impl ConventionalEnv {
    /// (variable, section, key) for each conventional variable.
    const VARS: [(&'static str, &'static str, &'static str); 2] = [
        ("DATABASE_URL", "database", "url"),
        ("REDIS_URL", "queue", "redis_url"),
    ];
}

impl Provider for ConventionalEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME).interpolater(|_profile, keys| {
            ConventionalEnv::VARS
                .iter()
                .find(|(_, section, key)| keys == [*section, *key])
                .map(|(var, _, _)| (*var).to_owned())
                .unwrap_or_else(|| keys.join("."))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (var, section, key) in ConventionalEnv::VARS {
            let value = match std::env::var(var) {
                Ok(value) if value.trim().is_empty() => continue,
                Ok(value) => value,
                Err(std::env::VarError::NotPresent) => continue,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("{var} is not valid UTF-8").into());
                }
            };
            let table = Dict::from([(key.to_owned(), Value::from(value))]);
            dict.insert(section.to_owned(), Value::from(table));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// A connection URL that may contain a password.
///
/// `Debug`, `Display` and `Serialize` print it with the password (and any
/// password-like query parameter) replaced by `***`:
/// `postgres://app:***@db.internal/referrals`. Call
/// [`SecretUrl::expose_secret`] only where the URL is handed to a client
/// library. The string is kept in a [`SecretString`] so that it is also
/// wiped from memory when dropped.
#[derive(Clone)]
pub struct SecretUrl(SecretString);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(SecretString::from(url.into()))
    }

    /// The full URL, password included. For connecting, never for printing.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the URL is the empty string (meaning "not configured").
    pub fn is_empty(&self) -> bool {
        self.expose_secret().trim().is_empty()
    }

    /// The URL with its secrets replaced by `***`, safe to log.
    pub fn masked(&self) -> String {
        mask_url(self.expose_secret())
    }

    /// The URL's scheme, if it has the `scheme:` shape.
    pub fn scheme(&self) -> Option<&str> {
        let raw = self.expose_secret();
        let (scheme, _) = raw.split_once(':')?;
        let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        valid.then_some(scheme)
    }

    /// `Ok` if the scheme is one of `allowed`. The error message never
    /// contains the URL itself.
    fn check_scheme(&self, allowed: &[&str]) -> Result<(), String> {
        let list = allowed
            .iter()
            .map(|s| format!("{s}://"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.scheme() {
            _ if self.is_empty() => Err(format!("must not be empty (expected one of {list})")),
            Some(scheme) if allowed.iter().any(|a| a.eq_ignore_ascii_case(scheme)) => Ok(()),
            Some(scheme) => Err(format!(
                "unsupported scheme {scheme}:// (expected one of {list})"
            )),
            None => Err(format!("not a URL (expected one of {list})")),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.masked())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for SecretUrl {
    /// Serializes the *masked* form, on purpose: the only reason to
    /// serialize settings is to show them to a person.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretUrl, D::Error> {
        string_like::deserialize(deserializer).map(SecretUrl::new)
    }
}

/// Query parameters whose values are treated as secrets. `sslpassword` and
/// friends are covered by the substring match.
const SECRET_QUERY_HINTS: [&str; 4] = ["password", "secret", "token", "pass"];

/// Replaces the password of `scheme://user:password@host/...` and the values
/// of password-like query parameters with `***`, leaving the rest as
/// written (no normalisation, so the output is recognisable).
///
/// Passwords are not always percent-encoded the way they should be, so the
/// parsing here is deliberately suspicious rather than RFC-exact, and when in
/// doubt it masks more:
///
/// - everything before the *last* `@` is user info, so an unencoded `@`, `/`,
///   `?` or `#` in a password cannot push part of it into the visible host;
/// - the query is masked last, over the whole result, so a `password=`
///   parameter is caught even when an `@` later in the query made the first
///   step misread where the user info ends.
fn mask_url(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        // Not `scheme://` shaped (`sqlite::memory:`, a typo...). Such a
        // string has no standard place for a password, so show it only if it
        // has nothing that looks like credentials.
        let lower = raw.to_ascii_lowercase();
        let suspicious =
            raw.contains('@') || SECRET_QUERY_HINTS.iter().any(|hint| lower.contains(hint));
        return if suspicious {
            "***".to_owned()
        } else {
            raw.to_owned()
        };
    };
    let after_scheme = scheme_end + "://".len();
    let rest = &raw[after_scheme..];

    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..after_scheme]);
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&rest[at..]);
        }
        None => out.push_str(rest),
    }

    match out.split_once('?') {
        Some((before, query)) => format!("{before}?{}", mask_query(query)),
        None => out,
    }
}

/// Masks the values of password-like parameters in a query string. A `#`
/// is not treated as the start of a fragment: connection URLs have no use
/// for fragments, and an unencoded `#` inside a password value must not
/// leave the rest of the value visible.
fn mask_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _value))
                if SECRET_QUERY_HINTS
                    .iter()
                    .any(|hint| name.to_ascii_lowercase().contains(hint)) =>
            {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Durations as humantime strings ("30s", "5m", "90days").
///
/// Serialization is `humantime_serde`'s. Deserialization is our own so the
/// error says what was wrong: `humantime_serde` reports only "expected a
/// duration", while this keeps humantime's reason (`invalid duration "abc":
/// expected number at 0`) and explains a bare number, which is what an
/// environment variable like `..._LEASE=30` turns into.
/// A secret value from config (an API token, a webhook secret). Prints and
/// serializes as `***` (or empty when unset), so `config check` and logs can
/// never show it; [`Secret::expose`] is for the one place that uses it.
#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(SecretString::from(value.into()))
    }

    /// The value, for verifying a signature or building a request header.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether it is unset.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() {
            "Secret(\"\")"
        } else {
            "Secret(***)"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_empty() { "" } else { "***" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        string_like::deserialize(deserializer).map(Secret::new)
    }
}

/// What an API token may do. Each caller gets only the scopes it needs: the
/// referral portal `links`, the HRIS sync `employees`, ops `ops_read` or
/// `ops_admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Mint and revoke referral links.
    Links,
    /// Create and import employees (referrers).
    Employees,
    /// Report hires and terminations.
    Hires,
    /// Read the ops API.
    OpsRead,
    /// Act through the ops API (retry, cancel, replay, approve).
    OpsAdmin,
}

/// One bearer token accepted by `/api/...`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it (`referral-portal`, `hris-sync`, `ops-alice`): the actor
    /// recorded in audit events. Never the token itself.
    pub name: String,
    /// The token. Compared in constant time, never logged.
    pub token: Secret,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// `[api]`: bearer tokens for `/api/...`. With no tokens, every `/api` call
/// is refused: there is no anonymous access.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// `[[api.tokens]]` entries.
    pub tokens: Vec<ApiToken>,
}

/// `[webhooks]`: how inbound webhooks are authenticated. A source whose
/// secret is empty refuses every delivery (401): an unconfigured secret must
/// never mean "unsigned is fine".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Standard Webhooks secret (`whsec_...`) our careers site signs with.
    pub careers_site_secret: Secret,
    /// Greenhouse webhook secret key (HMAC-SHA256 over the body).
    pub greenhouse_secret: Secret,
    /// Lever signature token (HMAC-SHA256 over `token + triggeredAt`).
    pub lever_signature_token: Secret,
    /// Oldest Lever `triggeredAt` accepted. Lever retries for a while, so
    /// this must be longer than its retry span to accept honest retries.
    #[serde(with = "duration")]
    pub lever_max_age: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            careers_site_secret: Secret::default(),
            greenhouse_secret: Secret::default(),
            lever_signature_token: Secret::default(),
            lever_max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// `[referrals]`: links and attribution rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferralSettings {
    /// Base of share URLs: `{careers_base_url}/jobs/{job_id}?ref={token}`.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub careers_base_url: String,
    /// How long a new link stays valid unless the request says otherwise.
    #[serde(with = "duration")]
    pub link_ttl: Duration,
    /// The first valid referral of a candidate owns them for this long;
    /// later referrals by others lose.
    #[serde(with = "duration")]
    pub ownership_window: Duration,
    /// A candidate who applied without a referral this recently earns no
    /// referral credit.
    #[serde(with = "duration")]
    pub prior_applicant_window: Duration,
    /// Region used to read national-format phone numbers when neither the
    /// payload nor the job says (ISO 3166 alpha-2, e.g. `DE`); empty = none.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub default_phone_region: String,
    /// Tag written to the candidate in the ATS when a referral is credited.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub ats_tag: String,
    /// Phone region per ATS job id (`"4012345" = "DE"`), used when the
    /// payload gives none and before `default_phone_region`.
    pub job_phone_regions: BTreeMap<String, String>,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        ReferralSettings {
            careers_base_url: "https://careers.example.com".to_owned(),
            link_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            ownership_window: Duration::from_secs(365 * 24 * 60 * 60),
            prior_applicant_window: Duration::from_secs(180 * 24 * 60 * 60),
            default_phone_region: String::new(),
            ats_tag: "Employee Referral".to_owned(),
            job_phone_regions: BTreeMap::new(),
        }
    }
}

/// `[ats.greenhouse]`: the Harvest API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GreenhouseSettings {
    /// Harvest base URL.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// Harvest API key; empty disables write-back to Greenhouse.
    pub api_key: Secret,
    /// Greenhouse user id sent as `On-Behalf-Of` (Harvest requires one for writes).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub on_behalf_of: String,
    /// Immutable key of the application custom field holding our token.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub token_field: String,
    /// Requests per second to this account.
    pub requests_per_second: u32,
}

impl Default for GreenhouseSettings {
    fn default() -> Self {
        GreenhouseSettings {
            base_url: "https://harvest.greenhouse.io/v1".to_owned(),
            api_key: Secret::default(),
            on_behalf_of: String::new(),
            token_field: "referral_token".to_owned(),
            requests_per_second: 5,
        }
    }
}

/// `[ats.lever]`: the Lever API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeverSettings {
    /// API base URL.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// API key; empty disables Lever calls.
    pub api_key: Secret,
    /// Requests per second (Lever allows 10 steady).
    pub requests_per_second: u32,
}

impl Default for LeverSettings {
    fn default() -> Self {
        LeverSettings {
            base_url: "https://api.lever.co/v1".to_owned(),
            api_key: Secret::default(),
            requests_per_second: 10,
        }
    }
}

/// `[ats]`: ATS API clients.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtsSettings {
    /// Greenhouse Harvest.
    pub greenhouse: GreenhouseSettings,
    /// Lever.
    pub lever: LeverSettings,
}

fn validate_referral_settings(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    if let Err(problems) = settings.payouts.rules.validate() {
        for problem in problems {
            let (key, message) = problem
                .split_once(": ")
                .unwrap_or(("payouts.rules", &problem));
            check(false, key, message);
        }
    }
    check(
        !settings.payouts.timer_sweep.is_zero(),
        "payouts.timer_sweep",
        "must be longer than 0s",
    );
    if !settings.payouts.destination_url.is_empty() {
        if let Err(message) = check_outbound_url(&settings.payouts.destination_url, private) {
            check(false, "payouts.destination_url", &message);
        }
        check(
            !settings.payouts.destination_secret.is_empty(),
            "payouts.destination_secret",
            "must be set when payouts.destination_url is",
        );
    }
    check(
        !settings.payouts.retry_schedule.is_empty() && settings.payouts.retry_schedule.len() < 100,
        "payouts.retry_schedule",
        "must list between 1 and 99 delays",
    );
    for (key, schedule, zone) in [
        (
            "reconciliation",
            &settings.reconciliation.schedule,
            &settings.reconciliation.time_zone,
        ),
        (
            "retention",
            &settings.retention.schedule,
            &settings.retention.time_zone,
        ),
    ] {
        if schedule.trim().is_empty() {
            continue;
        }
        if let Err(jobs::Error::Invalid { field, problem }) =
            jobs::maintenance::schedule::CronSchedule::new(key, schedule, zone)
        {
            check(false, &format!("{key}.{field}"), &problem);
        }
    }
    check(
        settings.retention.purge_after >= Duration::from_secs(24 * 3600),
        "retention.purge_after",
        "must be at least 1 day",
    );
    check(
        !settings.reconciliation.delivery_window.is_zero(),
        "reconciliation.delivery_window",
        "must be longer than 0s",
    );
    check(
        !settings.milestones.start_date_field.trim().is_empty(),
        "milestones.start_date_field",
        "must name a field",
    );
    for (ats, stages) in &settings.milestones.hire_stages {
        check(
            ["greenhouse", "lever", "careers_site", "generic"].contains(&ats.as_str()),
            &format!("milestones.hire_stages.{ats}"),
            "unknown ATS; one of greenhouse, lever, careers_site, generic",
        );
        check(
            stages.iter().all(|s| !s.trim().is_empty()),
            &format!("milestones.hire_stages.{ats}"),
            "stage names must not be empty",
        );
    }
    let n = &settings.notifications;
    for (key, url, secret) in [
        (
            "notifications.status_sync_url",
            &n.status_sync_url,
            &n.status_sync_secret,
        ),
        ("notifications.crm_url", &n.crm_url, &n.crm_secret),
    ] {
        if url.is_empty() {
            continue;
        }
        if let Err(message) = check_outbound_url(url, private) {
            check(false, key, &message);
        }
        let secret_key = key.replace("_url", "_secret");
        if secret.is_empty() {
            check(false, &secret_key, &format!("must be set when {key} is"));
        } else if let Err(e) = jobs::connectors::careers_site::validate_secret(secret.expose()) {
            check(false, &secret_key, &e.to_string());
        }
    }
    if !n.alert_webhook_url.is_empty()
        && let Err(message) = check_outbound_url(n.alert_webhook_url.expose(), private)
    {
        // The URL is the credential: name the problem, not the value.
        check(
            false,
            "notifications.alert_webhook_url",
            &message.replace(n.alert_webhook_url.expose(), "[redacted]"),
        );
    }
    check(
        n.requests_per_second >= 1,
        "notifications.requests_per_second",
        "must be at least 1",
    );
    check(
        n.timeout >= Duration::from_millis(100),
        "notifications.timeout",
        "must be at least 100ms",
    );
    check(
        settings.payouts.destination_timeout >= Duration::from_millis(100),
        "payouts.destination_timeout",
        "must be at least 100ms",
    );
    check(
        settings.payouts.destination_requests_per_second >= 1,
        "payouts.destination_requests_per_second",
        "must be at least 1",
    );
    let mut names = std::collections::HashSet::new();
    for (i, t) in settings.api.tokens.iter().enumerate() {
        let key = format!("api.tokens[{i}]");
        check(
            !t.name.trim().is_empty(),
            &format!("{key}.name"),
            "must not be empty",
        );
        check(
            names.insert(t.name.clone()),
            &format!("{key}.name"),
            "must be unique",
        );
        check(
            t.token.expose().len() >= 16,
            &format!("{key}.token"),
            "must be at least 16 characters",
        );
        check(
            !t.scopes.is_empty(),
            &format!("{key}.scopes"),
            "must name at least one scope",
        );
    }
    let r = &settings.referrals;
    if let Err(message) = check_public_base_url(&r.careers_base_url) {
        check(false, "referrals.careers_base_url", &message);
    }
    check(
        !r.link_ttl.is_zero(),
        "referrals.link_ttl",
        "must be longer than 0s",
    );
    for (job, region) in &r.job_phone_regions {
        check(
            region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase()),
            &format!("referrals.job_phone_regions.{job}"),
            "must be an ISO 3166 alpha-2 code such as DE",
        );
    }
    check(
        r.default_phone_region.is_empty()
            || (r.default_phone_region.len() == 2
                && r.default_phone_region
                    .chars()
                    .all(|c| c.is_ascii_uppercase())),
        "referrals.default_phone_region",
        "must be an ISO 3166 alpha-2 code such as DE, or empty",
    );
    for (key, url) in [
        ("ats.greenhouse.base_url", &settings.ats.greenhouse.base_url),
        ("ats.lever.base_url", &settings.ats.lever.base_url),
    ] {
        if let Err(message) = check_outbound_url(url, private) {
            check(false, key, &message);
        }
    }
    check(
        settings.ats.greenhouse.requests_per_second >= 1,
        "ats.greenhouse.requests_per_second",
        "must be at least 1",
    );
    check(
        settings.ats.lever.requests_per_second >= 1,
        "ats.lever.requests_per_second",
        "must be at least 1",
    );
    validate_sandbox(settings, check);
}

fn validate_sandbox(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    let sb = &settings.sandbox;
    for (key, url) in [
        ("sandbox.bonus_url", &sb.bonus_url),
        ("sandbox.status_sync_url", &sb.status_sync_url),
        ("sandbox.crm_url", &sb.crm_url),
        ("sandbox.greenhouse_base_url", &sb.greenhouse_base_url),
        ("sandbox.lever_base_url", &sb.lever_base_url),
    ] {
        if !url.is_empty()
            && let Err(message) = check_outbound_url(url, private)
        {
            check(false, key, &message);
        }
    }
    if !sb.alert_webhook_url.is_empty()
        && let Err(message) = check_outbound_url(sb.alert_webhook_url.expose(), private)
    {
        check(
            false,
            "sandbox.alert_webhook_url",
            &message.replace(sb.alert_webhook_url.expose(), "[redacted]"),
        );
    }
    // A sandbox receiver verifies signatures like the real one: the
    // configured secret signs for it.
    let n = &settings.notifications;
    for (key, url, secret_key, secret) in [
        (
            "sandbox.bonus_url",
            &sb.bonus_url,
            "payouts.destination_secret",
            &settings.payouts.destination_secret,
        ),
        (
            "sandbox.status_sync_url",
            &sb.status_sync_url,
            "notifications.status_sync_secret",
            &n.status_sync_secret,
        ),
        (
            "sandbox.crm_url",
            &sb.crm_url,
            "notifications.crm_secret",
            &n.crm_secret,
        ),
    ] {
        if !url.is_empty() {
            check(
                !secret.is_empty(),
                key,
                &format!("needs {secret_key}: the sandbox is signed with it"),
            );
        }
    }
}

/// A list of humantime durations (`["5s", "5m"]`).
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
        value
            .iter()
            .map(|d| humantime_serde::Serde::from(*d))
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        let raw: Vec<humantime_serde::Serde<Duration>> = Vec::deserialize(deserializer)?;
        Ok(raw.into_iter().map(|d| d.into_inner()).collect())
    }
}

mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        humantime_serde::serialize(value, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30s\", \"5m\" or \"90days\"")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            humantime::parse_duration(value.trim())
                .map_err(|err| E::custom(format_args!("invalid duration {value:?}: {err}")))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }
    }

    /// The same for `Option<Duration>` fields, which are always
    /// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            value: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::serialize(value, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// Strings that also accept a bare number or boolean.
///
/// figment parses environment variable values as TOML-like values, so
/// `REFERRAL_WORKER__QUEUE__NAME=2024` arrives as the integer 2024 and a
/// plain `String` field would reject it. Floats are refused rather than
/// converted, because `1.0` would come back as `1`.
mod string_like {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(StringLike)
    }

    struct StringLike;

    impl Visitor<'_> for StringLike {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }

        fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
            Ok(value.to_string())
        }
    }
}

#[cfg(test)]
// `Jail` closures must return `figment::Result`, whose error is large; that is
// figment's API and only costs a few bytes of stack in tests.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    /// The example config shipped at the repository root.
    const EXAMPLE: &str = include_str!("../../referral-worker.example.toml");

    /// Runs `f` in a figment `Jail`: a fresh temporary working directory and
    /// an environment with every variable removed, so the developer's or
    /// CI's own `DATABASE_URL` cannot leak into a test. Jails are serialized
    /// by a global lock, so environment changes do not race between tests.
    fn jailed(f: impl FnOnce(&mut Jail) -> figment::Result<()>) {
        Jail::expect_with(|jail| {
            jail.clear_env();
            f(jail)
        });
    }

    /// The error of a load that must fail, as a figment error so `?` works
    /// inside a jail.
    fn load_err(path: Option<&Path>) -> figment::Result<ConfigError> {
        match Settings::load(path) {
            Ok(settings) => Err(format!("expected an error, loaded {settings:?}").into()),
            Err(err) => Ok(err),
        }
    }

    fn load_ok(path: Option<&Path>) -> figment::Result<Settings> {
        Settings::load(path).map_err(|err| figment::Error::from(err.to_string()))
    }

    #[test]
    fn defaults_load_with_no_file_and_no_env() {
        jailed(|_| {
            let s = load_ok(None)?;
            assert_eq!(
                s.http.listen,
                "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
            );
            assert_eq!(s.http.body_limit, 1_048_576);
            assert_eq!(s.http.public_base_url, "http://127.0.0.1:8080");
            assert_eq!(
                s.database.url.expose_secret(),
                "sqlite://referral-worker.db?mode=rwc"
            );
            assert_eq!(s.database.max_connections, 10);
            assert!(!s.queue.uses_redis());
            assert_eq!(s.queue.prefix, "referral-worker");
            assert_eq!(s.queue.name, "default");
            assert_eq!(s.queue.concurrency, 64);
            assert_eq!(s.queue.fetch_batch, 256);
            assert_eq!(s.queue.lease, Duration::from_secs(20));
            assert_eq!(s.queue.heartbeat, Duration::from_secs(5));
            assert_eq!(s.queue.poll_interval, Duration::from_secs(1));
            assert_eq!(s.queue.rate_limit_per_second(), None);
            assert_eq!(s.queue.job_timeout, Duration::from_secs(300));
            assert_eq!(s.queue.shutdown_timeout, Duration::from_secs(30));
            assert_eq!(s.queue.retention_succeeded, Duration::from_secs(86_400));
            assert_eq!(s.queue.retention_dead, Duration::from_secs(30 * 86_400));
            assert_eq!(s.queue.retry, RetryPolicySettings::default());
            assert_eq!(s.log.format, LogFormat::Auto);
            assert_eq!(s.log.filter, "info");
            Ok(())
        });
    }

    #[test]
    fn default_settings_are_valid() {
        let result = Settings::default().validate();
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn default_file_in_working_directory_is_read() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue]\nconcurrency = 7\n")?;
            assert_eq!(load_ok(None)?.queue.concurrency, 7);
            Ok(())
        });
    }

    #[test]
    fn default_file_is_not_searched_for_in_parent_directories() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue]\nconcurrency = 7\n")?;
            jail.change_dir(jail.create_dir("sub")?)?;
            assert_eq!(load_ok(None)?.queue.concurrency, 64);
            Ok(())
        });
    }

    #[test]
    fn file_values_apply() {
        jailed(|jail| {
            jail.create_file(
                "custom.toml",
                r#"
                [http]
                listen = "0.0.0.0:9000"
                public_base_url = "https://referrals.example.com"

                [database]
                url = "postgres://app:pw@db/referrals"
                max_connections = 20

                [queue]
                redis_url = "redis://cache:6379/0"
                lease = "2m"
                heartbeat = "10s"
                rate_limit = 50
                retention_dead = "90days"

                [queue.retry]
                max_attempts = 10

                [queue.kinds.send_email]
                max_attempts = 3
                max_delay = "1h"

                [log]
                format = "json"
                filter = "info,worker=debug"
                "#,
            )?;
            let s = load_ok(Some(Path::new("custom.toml")))?;
            assert_eq!(s.http.listen.port(), 9000);
            assert_eq!(s.http.public_base_url, "https://referrals.example.com");
            assert_eq!(
                s.database.url.expose_secret(),
                "postgres://app:pw@db/referrals"
            );
            assert_eq!(s.database.max_connections, 20);
            assert!(s.queue.uses_redis());
            assert_eq!(s.queue.lease, Duration::from_secs(120));
            assert_eq!(s.queue.heartbeat, Duration::from_secs(10));
            assert_eq!(s.queue.rate_limit_per_second(), NonZeroU32::new(50));
            assert_eq!(s.queue.retention_dead, Duration::from_secs(90 * 86_400));
            // Keys not in the file keep their defaults.
            assert_eq!(s.queue.concurrency, 64);
            assert_eq!(s.queue.retry.max_attempts, 10);
            assert_eq!(s.queue.retry.base_delay, Duration::from_secs(5));
            assert_eq!(
                s.queue.retry_for("send_email"),
                RetryPolicySettings {
                    max_attempts: 3,
                    base_delay: Duration::from_secs(5),
                    max_delay: Duration::from_secs(3600),
                }
            );
            assert_eq!(s.queue.retry_for("no_such_kind"), s.queue.retry);
            assert_eq!(s.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_an_error() {
        jailed(|_| {
            let err = load_err(Some(Path::new("nope.toml")))?;
            assert!(matches!(err, ConfigError::FileNotFound { .. }), "{err:?}");
            assert!(err.to_string().contains("nope.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn directory_as_config_file_is_an_error() {
        jailed(|jail| {
            let dir = jail.create_dir("conf.d")?;
            let err = load_err(Some(&dir))?;
            assert!(matches!(err, ConfigError::NotAFile { .. }), "{err:?}");
            Ok(())
        });
    }

    #[test]
    fn env_overrides_file() {
        jailed(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                r#"
                [database]
                url = "sqlite://from-file.db"
                [queue]
                concurrency = 8
                redis_url = "redis://from-file"
                "#,
            )?;
            jail.set_env("REFERRAL_WORKER__QUEUE__CONCURRENCY", "16");
            jail.set_env("DATABASE_URL", "postgres://env-db/referrals");
            jail.set_env("REDIS_URL", "redis://env-redis:6379");
            let s = load_ok(None)?;
            assert_eq!(s.queue.concurrency, 16);
            assert_eq!(
                s.database.url.expose_secret(),
                "postgres://env-db/referrals"
            );
            assert_eq!(s.queue.redis_url.expose_secret(), "redis://env-redis:6379");
            Ok(())
        });
    }

    #[test]
    fn prefixed_env_reaches_every_level() {
        jailed(|jail| {
            jail.set_env("REFERRAL_WORKER__HTTP__LISTEN", "0.0.0.0:9090");
            jail.set_env("REFERRAL_WORKER__QUEUE__LEASE", "1m");
            jail.set_env("REFERRAL_WORKER__QUEUE__RETRY__MAX_ATTEMPTS", "4");
            jail.set_env(
                "REFERRAL_WORKER__QUEUE__KINDS__SEND_EMAIL__BASE_DELAY",
                "1s",
            );
            jail.set_env("REFERRAL_WORKER__QUEUE__NAME", "2024");
            jail.set_env("REFERRAL_WORKER__LOG__FORMAT", "pretty");
            let s = load_ok(None)?;
            assert_eq!(s.http.listen, "0.0.0.0:9090".parse::<SocketAddr>().unwrap());
            assert_eq!(s.queue.lease, Duration::from_secs(60));
            assert_eq!(s.queue.retry.max_attempts, 4);
            assert_eq!(
                s.queue.retry_for("send_email").base_delay,
                Duration::from_secs(1)
            );
            assert_eq!(s.queue.retry_for("send_email").max_attempts, 4);
            // A number-looking value still makes a string key.
            assert_eq!(s.queue.name, "2024");
            assert_eq!(s.log.format, LogFormat::Pretty);
            Ok(())
        });
    }

    #[test]
    fn ipv6_listen_address_from_env() {
        jailed(|jail| {
            jail.set_env("REFERRAL_WORKER__HTTP__LISTEN", "[::]:8080");
            assert_eq!(
                load_ok(None)?.http.listen,
                "[::]:8080".parse::<SocketAddr>().unwrap()
            );
            Ok(())
        });
    }

    #[test]
    fn prefixed_env_wins_over_conventional_env() {
        jailed(|jail| {
            jail.set_env("DATABASE_URL", "postgres://conventional/db");
            jail.set_env("REFERRAL_WORKER__DATABASE__URL", "postgres://specific/db");
            let s = load_ok(None)?;
            assert_eq!(s.database.url.expose_secret(), "postgres://specific/db");
            Ok(())
        });
    }

    #[test]
    fn empty_conventional_env_is_ignored() {
        jailed(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[queue]\nredis_url = \"redis://file\"\n",
            )?;
            jail.set_env("REDIS_URL", "");
            jail.set_env("DATABASE_URL", "  ");
            let s = load_ok(None)?;
            assert_eq!(s.queue.redis_url.expose_secret(), "redis://file");
            assert!(s.database.url.expose_secret().starts_with("sqlite://"));
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_an_error_naming_the_key() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue]\nconcurrensy = 8\n")?;
            let err = load_err(None)?;
            let message = err.to_string();
            assert_eq!(err.problems()[0].key, "queue.concurrensy", "{message}");
            assert!(
                message.starts_with("queue.concurrensy: unknown key"),
                "{message}"
            );
            assert!(message.contains(DEFAULT_CONFIG_FILE), "{message}");
            Ok(())
        });
    }

    #[test]
    fn unknown_section_is_an_error() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[metrics]\nenabled = true\n")?;
            let err = load_err(None)?;
            assert_eq!(err.problems()[0].key, "metrics", "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_env_names_the_variable() {
        jailed(|jail| {
            jail.set_env("REFERRAL_WORKER__QUEUE__LEASSE", "1m");
            let err = load_err(None)?;
            let message = err.to_string();
            assert_eq!(err.problems()[0].key, "queue.leasse", "{message}");
            assert!(
                message.contains("REFERRAL_WORKER__QUEUE__LEASSE"),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_kind_override_is_an_error() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue.kinds.x]\nmax_attempt = 2\n")?;
            let err = load_err(None)?;
            assert_eq!(err.problems()[0].key, "queue.kinds.x.max_attempt", "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_duration_names_the_key() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue]\nlease = \"abc\"\n")?;
            let message = load_err(None)?.to_string();
            assert!(
                message.starts_with(r#"queue.lease: invalid duration "abc""#),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_duration_from_env_names_key_and_variable() {
        jailed(|jail| {
            jail.set_env("REFERRAL_WORKER__QUEUE__LEASE", "30");
            let message = load_err(None)?.to_string();
            assert!(
                message.starts_with("queue.lease: invalid duration 30"),
                "{message}"
            );
            assert!(
                message.contains("REFERRAL_WORKER__QUEUE__LEASE"),
                "{message}"
            );
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_the_key() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue]\nconcurrency = \"lots\"\n")?;
            let err = load_err(None)?;
            assert_eq!(err.problems()[0].key, "queue.concurrency", "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_log_format_names_the_key() {
        jailed(|jail| {
            jail.set_env("REFERRAL_WORKER__LOG__FORMAT", "xml");
            let err = load_err(None)?;
            assert_eq!(err.problems()[0].key, "log.format", "{err}");
            assert!(err.to_string().contains("pretty"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn toml_syntax_error_names_the_file() {
        jailed(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[queue\n")?;
            let message = load_err(None)?.to_string();
            assert!(message.contains(DEFAULT_CONFIG_FILE), "{message}");
            Ok(())
        });
    }

    #[test]
    fn heartbeat_must_be_under_half_the_lease() {
        jailed(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[queue]\nlease = \"10s\"\nheartbeat = \"5s\"\n",
            )?;
            let err = load_err(None)?;
            assert_eq!(err.problems()[0].key, "queue.heartbeat", "{err}");
            // The origin comes back from the figment after validation.
            assert!(err.to_string().contains(DEFAULT_CONFIG_FILE), "{err}");
            Ok(())
        });
    }

    /// Builds a figment from an in-memory TOML snippet, without any of the
    /// real layers, for the pure validation tests.
    fn from_toml(toml: &str) -> Result<Settings, ConfigError> {
        Settings::from_figment(Figment::from(Toml::string(toml)))
    }

    fn problem_keys(toml: &str) -> Vec<String> {
        match from_toml(toml) {
            Ok(_) => Vec::new(),
            Err(err) => err.problems().iter().map(|p| p.key.clone()).collect(),
        }
    }

    #[test]
    fn range_rules() {
        assert_eq!(
            problem_keys("[queue]\nconcurrency = 0"),
            ["queue.concurrency"]
        );
        assert_eq!(
            problem_keys("[queue]\nfetch_batch = 0"),
            ["queue.fetch_batch"]
        );
        assert_eq!(
            problem_keys("[queue]\nfetch_batch = 10001"),
            ["queue.fetch_batch"]
        );
        assert!(problem_keys("[queue]\nfetch_batch = 10000").is_empty());
        assert_eq!(problem_keys("[http]\nbody_limit = 0"), ["http.body_limit"]);
        assert_eq!(
            problem_keys("[database]\nmax_connections = 0"),
            ["database.max_connections"]
        );
        assert_eq!(
            problem_keys("[queue.retry]\nmax_attempts = 0"),
            ["queue.retry.max_attempts"]
        );
        assert_eq!(
            problem_keys("[queue.kinds.slow]\nbase_delay = \"2days\""),
            ["queue.kinds.slow.max_delay"]
        );
        assert_eq!(
            problem_keys("[queue]\npoll_interval = \"0s\""),
            ["queue.poll_interval"]
        );
    }

    #[test]
    fn prefix_and_name_rules() {
        assert_eq!(problem_keys("[queue]\nprefix = \"\""), ["queue.prefix"]);
        assert_eq!(problem_keys("[queue]\nprefix = \"{rw}\""), ["queue.prefix"]);
        assert_eq!(problem_keys("[queue]\nname = \"a}b\""), ["queue.name"]);
    }

    #[test]
    fn url_rules() {
        assert_eq!(
            problem_keys("[database]\nurl = \"mysql://x/y\""),
            ["database.url"]
        );
        assert_eq!(problem_keys("[database]\nurl = \"\""), ["database.url"]);
        assert!(problem_keys("[database]\nurl = \"postgresql://u@h/db\"").is_empty());
        assert!(problem_keys("[database]\nurl = \"sqlite::memory:\"").is_empty());
        assert_eq!(
            problem_keys("[queue]\nredis_url = \"http://x\""),
            ["queue.redis_url"]
        );
        assert!(problem_keys("[queue]\nredis_url = \"rediss://h:6380\"").is_empty());
        assert_eq!(
            problem_keys("[http]\npublic_base_url = \"ftp://x\""),
            ["http.public_base_url"]
        );
        assert_eq!(
            problem_keys("[http]\npublic_base_url = \"not a url\""),
            ["http.public_base_url"]
        );
    }

    #[test]
    fn scheme_errors_do_not_echo_the_url() {
        let err = from_toml("[database]\nurl = \"mysql://u:hunter2@h/db\"").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn log_filter_rules() {
        assert_eq!(problem_keys("[log]\nfilter = \"\""), ["log.filter"]);
        assert_eq!(problem_keys("[log]\nfilter = \"info,[[\""), ["log.filter"]);
        assert!(problem_keys("[log]\nfilter = \"warn,worker=trace\"").is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = from_toml("[queue]\nconcurrency = 0\nfetch_batch = 0").unwrap_err();
        assert_eq!(err.problems().len(), 2);
        assert!(
            err.to_string().starts_with("2 configuration problems:"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_masked_in_debug_and_toml() {
        jailed(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:hunter2@h/db");
            jail.set_env("REDIS_URL", "redis://:s3cret@h");
            let s = load_ok(None)?;
            // Sanity: the real values did arrive.
            assert!(s.database.url.expose_secret().contains("hunter2"));
            assert!(s.queue.redis_url.expose_secret().contains("s3cret"));

            let debug = format!("{s:?}");
            let toml = s.to_masked_toml();
            for output in [&debug, &toml] {
                assert!(!output.contains("hunter2"), "{output}");
                assert!(!output.contains("s3cret"), "{output}");
            }
            assert!(toml.contains("postgres://u:***@h/db"), "{toml}");
            assert!(toml.contains("redis://:***@h"), "{toml}");
            assert_eq!(s.database.url.to_string(), "postgres://u:***@h/db");
            Ok(())
        });
    }

    #[test]
    fn mask_url_cases() {
        let cases = [
            ("postgres://u:hunter2@h/db", "postgres://u:***@h/db"),
            ("redis://:s3cret@h", "redis://:***@h"),
            ("redis://h:6379/0", "redis://h:6379/0"),
            ("postgres://user@h/db", "postgres://user@h/db"),
            (
                "sqlite://referral-worker.db?mode=rwc",
                "sqlite://referral-worker.db?mode=rwc",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
            // Unencoded `@` and `/` in the password still mask it whole.
            ("postgres://u:p@ss/w@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?user=u&password=pw&sslmode=require",
                "postgres://h/db?user=u&password=***&sslmode=require",
            ),
            ("postgres://u:p#w@h/db", "postgres://u:***@h/db"),
            ("postgres://u:p?w@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?password=x&opt=a:b@c",
                "postgres://h/db?password=***&opt=a:***@c",
            ),
            (
                "postgres://h/db?sslpassword=x#y",
                "postgres://h/db?sslpassword=***",
            ),
            ("u:pw@h", "***"),
            ("", ""),
        ];
        for (raw, masked) in cases {
            assert_eq!(mask_url(raw), masked, "masking {raw:?}");
        }
    }

    #[test]
    fn masked_toml_is_itself_a_valid_config() {
        let s = from_toml(
            "[queue.kinds.send_email]\nmax_attempts = 3\n[queue]\nretention_dead = \"90days\"",
        )
        .unwrap();
        let printed = s.to_masked_toml();
        let reparsed = from_toml(&printed).unwrap();
        assert_eq!(reparsed.to_masked_toml(), printed);
        assert_eq!(reparsed.queue.retry_for("send_email").max_attempts, 3);
    }

    #[test]
    fn example_file_parses_and_validates() {
        let example = from_toml(EXAMPLE);
        assert!(example.is_ok(), "{}", example.unwrap_err());
    }

    #[test]
    fn example_file_documents_the_real_defaults() {
        // Every key in the example is set to its default, so loading it must
        // give exactly what loading nothing gives. If a default changes in
        // code, this fails until the example says the same.
        let example = from_toml(EXAMPLE).unwrap();
        let defaults = Settings::from_figment(Figment::new()).unwrap();
        assert_eq!(example.to_masked_toml(), defaults.to_masked_toml());
    }

    #[test]
    fn example_file_mentions_every_env_var() {
        for var in [
            "REFERRAL_WORKER__HTTP__LISTEN",
            "REFERRAL_WORKER__HTTP__BODY_LIMIT",
            "REFERRAL_WORKER__HTTP__PUBLIC_BASE_URL",
            "DATABASE_URL",
            "REFERRAL_WORKER__DATABASE__MAX_CONNECTIONS",
            "REDIS_URL",
            "REFERRAL_WORKER__QUEUE__PREFIX",
            "REFERRAL_WORKER__QUEUE__NAME",
            "REFERRAL_WORKER__QUEUE__CONCURRENCY",
            "REFERRAL_WORKER__QUEUE__FETCH_BATCH",
            "REFERRAL_WORKER__QUEUE__LEASE",
            "REFERRAL_WORKER__QUEUE__HEARTBEAT",
            "REFERRAL_WORKER__QUEUE__POLL_INTERVAL",
            "REFERRAL_WORKER__QUEUE__RATE_LIMIT",
            "REFERRAL_WORKER__QUEUE__JOB_TIMEOUT",
            "REFERRAL_WORKER__QUEUE__SHUTDOWN_TIMEOUT",
            "REFERRAL_WORKER__QUEUE__RETENTION_SUCCEEDED",
            "REFERRAL_WORKER__QUEUE__RETENTION_DEAD",
            "REFERRAL_WORKER__QUEUE__RETRY__MAX_ATTEMPTS",
            "REFERRAL_WORKER__QUEUE__RETRY__BASE_DELAY",
            "REFERRAL_WORKER__QUEUE__RETRY__MAX_DELAY",
            "REFERRAL_WORKER__LOG__FORMAT",
            "REFERRAL_WORKER__LOG__FILTER",
            "REFERRAL_WORKER__SANDBOX__ENABLED",
            "REFERRAL_WORKER__SANDBOX__BONUS_URL",
            "RUST_LOG",
        ] {
            assert!(EXAMPLE.contains(var), "example does not mention {var}");
        }
    }

    #[test]
    fn outbound_urls_pointing_inward_are_refused_unless_allowed() {
        const SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";
        let inward = format!(
            "[payouts]\ndestination_url = \"http://169.254.169.254/latest\"\n\
             destination_secret = \"{SECRET}\"\n\
             [notifications]\ncrm_url = \"http://10.0.0.5:6379/\"\ncrm_secret = \"{SECRET}\"\n\
             alert_webhook_url = \"http://[::1]/hooks/T0/secretpart\"\n\
             [ats.lever]\nbase_url = \"http://localhost:8080/v1\"\n\
             [sandbox]\ngreenhouse_base_url = \"http://192.168.1.10/v1\"\n"
        );
        assert_eq!(
            problem_keys(&inward),
            [
                "payouts.destination_url",
                "notifications.crm_url",
                "notifications.alert_webhook_url",
                "ats.lever.base_url",
                "sandbox.greenhouse_base_url",
            ]
        );
        let err = from_toml(&inward).unwrap_err();
        assert!(
            err.to_string().contains("outbound.allow_private_networks"),
            "the problem names the setting that allows it: {err}"
        );
        assert!(!err.to_string().contains("secretpart"), "{err}");
        let allowed = format!("{inward}[outbound]\nallow_private_networks = true\n");
        assert!(problem_keys(&allowed).is_empty());
        // Host names are checked when connecting, not here.
        assert!(
            problem_keys(&format!(
                "[payouts]\ndestination_url = \"https://bonus.example.com/hook\"\n\
                 destination_secret = \"{SECRET}\"\n"
            ))
            .is_empty()
        );
    }

    #[test]
    fn lever_max_age_is_bounded() {
        assert!(problem_keys("[webhooks]\nlever_max_age = \"3650days\"").is_empty());
        for too in ["3651days", "20years", "0s"] {
            assert_eq!(
                problem_keys(&format!("[webhooks]\nlever_max_age = \"{too}\"")),
                ["webhooks.lever_max_age"],
                "{too}"
            );
        }
    }

    #[test]
    fn sandbox_rules() {
        assert!(problem_keys("[sandbox]\nenabled = true").is_empty());
        assert_eq!(
            problem_keys("[sandbox]\ngreenhouse_base_url = \"ftp://x\""),
            ["sandbox.greenhouse_base_url"]
        );
        assert_eq!(
            problem_keys("[sandbox]\nbonus_url = \"http://sandbox.example/bonus\""),
            ["sandbox.bonus_url"],
            "a sandbox bonus URL needs the destination secret"
        );
        assert!(
            problem_keys(
                "[payouts]\ndestination_secret = \"whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=\"\n\
                 [sandbox]\nbonus_url = \"http://sandbox.example/bonus\""
            )
            .is_empty()
        );
        let err =
            from_toml("[sandbox]\nalert_webhook_url = \"nope://hooks/T0/secretpart\"").unwrap_err();
        assert_eq!(err.problems()[0].key, "sandbox.alert_webhook_url");
        assert!(!err.to_string().contains("secretpart"), "{err}");
        let s = from_toml("[sandbox]\nalert_webhook_url = \"https://hooks.example/T0/secretpart\"")
            .unwrap();
        assert!(!s.to_masked_toml().contains("secretpart"));
    }

    #[test]
    fn log_format_resolution() {
        assert!(LogFormat::Auto.is_human(true));
        assert!(!LogFormat::Auto.is_human(false));
        assert!(LogFormat::Pretty.is_human(false));
        assert!(!LogFormat::Json.is_human(true));
    }
}
