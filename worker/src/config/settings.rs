//! The shape of the configuration, part one: [`Settings`] (the whole file)
//! and the process's own sections, `[http]`, `[database]`, `[queue]` (with
//! its retry policies) and `[log]`. The sections of the referral workflow
//! are in `workflow`. Defaults live in the `Default` impls here and are
//! applied by serde to every key no layer sets.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::formats::{duration, string_like};
use super::mask::{SecretUrl, masked_toml};
use super::workflow::{
    ApiSettings, AtsSettings, MilestoneSettings, NotificationSettings, OutboundSettings,
    PayoutsSettings, ReconciliationSettings, ReferralSettings, RetentionSettings, SandboxSettings,
    WebhookSettings,
};

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
    /// The scheduled KPI report and the programme's costs.
    pub reports: super::reports::ReportsSettings,
    /// Sandbox mode: every outbound call goes to a sandbox URL or is
    /// recorded in the audit log without being sent.
    pub sandbox: SandboxSettings,
    /// What every outbound HTTP call may reach.
    pub outbound: OutboundSettings,
}

impl Settings {
    /// The effective settings as TOML, with every secret masked. This is what
    /// `referral-worker config check` prints. The output is itself a valid
    /// config file (masked passwords aside).
    pub fn to_masked_toml(&self) -> String {
        masked_toml(self)
    }
}

/// `[http]`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to bind. `--listen` on `serve` and `web` overrides it, and
    /// so does `PORT` (as `0.0.0.0:$PORT`, see `layers`).
    pub listen: SocketAddr,
    /// Where a `work` process serves `/metrics`, `/healthz` and `/readyz`
    /// (it has no other HTTP listener). Unset: none. `serve` and `web`
    /// ignore it: their listener already serves these routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_listen: Option<SocketAddr>,
    /// After SIGTERM, how long the HTTP listener keeps answering (`/readyz`
    /// with 503) before it stops accepting connections, so that a load
    /// balancer sees the process leave before its connections are refused.
    /// Jobs drain meanwhile; a `work` process's ops listener answers until
    /// its jobs have drained, whatever this says.
    #[serde(with = "duration")]
    pub shutdown_delay: Duration,
    /// Largest inbound request body accepted, in bytes. Webhook payloads are
    /// small; a limit keeps one bad sender from buffering megabytes per
    /// request in memory.
    pub body_limit: usize,
    /// How the outside world reaches this service, used to build absolute
    /// links (for example in notification e-mails). It is not derived from
    /// `listen` because behind a proxy the two differ.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub public_base_url: String,
    /// Longest time a client may take to send a request's headers. hyper's
    /// timer starts as soon as a connection waits for a request, so this is
    /// also how long a kept-alive connection may sit idle between requests.
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// Longest pause while a request body arrives (between two chunks).
    #[serde(with = "duration")]
    pub body_timeout: Duration,
    /// Longest time from a request's headers to its response's headers,
    /// body reading included; past it the answer is 408. A streamed
    /// response body (an export) is not cut by it.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Most connections served at once. Past it, a connection is answered
    /// only on `/healthz` and `/readyz` (anything else gets 503 and
    /// `Connection: close`), in a small overflow pool whose oldest
    /// connection makes room for a new one; nothing piles up.
    pub max_connections: usize,
    /// Refused requests (answered 400, 401, 403, 404, 405, 408, 413,
    /// 415 or 422) allowed per source IP address and minute, in a burst as large;
    /// past it, that address gets 429 with `Retry-After` on everything but
    /// the probes and `/metrics`, without the request reaching a handler (so
    /// a flood of unsigned webhooks writes no more rejected inbox rows).
    /// 0 turns it off. Behind a reverse proxy, list it in
    /// `trusted_proxies`, or every client counts as the proxy's address.
    pub refused_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed, by exact
    /// address. A request from one of them is counted against the
    /// right-most address in `X-Forwarded-For` that is not itself a trusted
    /// proxy, so a proxy in front does not make every client one address.
    /// Empty (the default): the TCP peer counts, the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            ops_listen: None,
            shutdown_delay: Duration::from_secs(5),
            body_limit: 1024 * 1024,
            public_base_url: "http://127.0.0.1:8080".to_owned(),
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
            refused_per_minute: 120,
            trusted_proxies: Vec::new(),
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
    /// A PEM file of the CA(s) that sign a `rediss://` server's certificate
    /// (a private or self-signed CA), trusted instead of the system's
    /// roots. Empty: the system's roots.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub redis_ca_file: String,
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
            redis_ca_file: String::new(),
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
