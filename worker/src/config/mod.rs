//! Typed settings for the whole process.
//!
//! This module owns the shape of the configuration, how it is layered
//! together from several sources, how it is checked, and how it is printed
//! without leaking secrets. `main` calls [`Settings::load`] (through
//! `cli::Cli::load_settings`) once at start-up; everything after that
//! receives plain, already-validated structs and never looks at files or
//! environment variables again.
//!
//! # Files
//!
//! | file | owns |
//! |---|---|
//! | `settings.rs` | [`Settings`] and the process's sections: `[http]`, `[database]`, `[queue]`, `[log]` |
//! | `workflow.rs` | the workflow's sections: `[api]`, `[webhooks]`, `[referrals]`, `[ats.*]`, `[payouts]`, `[milestones]`, `[notifications]`, `[reconciliation]`, `[retention]`, `[sandbox]`, `[outbound]` |
//! | `formats.rs` | how durations and string-like values are read and written |
//! | `layers.rs` | the layers below, [`Settings::load`], [`Settings::from_figment`] |
//! | `validate.rs` | [`Settings::validate`]: ranges, URLs, rules across keys |
//! | `mask.rs` | [`SecretUrl`], [`Secret`], the masked TOML behind [`Settings::to_masked_toml`] |
//! | `error.rs` | [`ConfigError`], [`Problem`], [`Origin`] |
//! | `tests.rs` | the tests of all of the above but the deployment layers |
//! | `tests_deploy.rs` | the tests of `PORT`, the `*_FILE` variables and the keys deployments add (`http.ops_listen`, the CA files) |
//!
//! Every public type is re-exported here: callers write
//! `worker::config::Settings`, never the file it lives in.
//!
//! # Layers
//!
//! Settings are assembled with [figment] from these layers, each overriding
//! the one before it:
//!
//! 1. **Defaults**, written in the `Default` impls of the section types and
//!    applied by serde (`#[serde(default)]`) for every key that no other
//!    layer sets. With no file and no environment the worker runs
//!    "embedded": SQLite in the working directory, the queue in the same
//!    database.
//! 2. **A TOML file**: the one named by `--config PATH` (which must exist), or
//!    else `referral-worker.toml` in the working directory if there is one.
//! 3. **`DATABASE_URL`, `REDIS_URL` and `PORT`**, the conventional variables
//!    that platforms and `docker compose` files already set. Empty values are
//!    ignored, so that `REDIS_URL=${REDIS_URL}` with nothing behind it does not
//!    silently switch a Redis-backed deployment to the embedded queue.
//!    `PORT=N` sets `http.listen` to `0.0.0.0:N`. `DATABASE_URL_FILE` and
//!    `REDIS_URL_FILE` name a file holding the URL instead.
//! 4. **`REFERRAL_WORKER__SECTION__KEY` variables**, one per key, a double
//!    underscore between levels: `REFERRAL_WORKER__QUEUE__LEASE=1m`,
//!    `REFERRAL_WORKER__QUEUE__RETRY__MAX_ATTEMPTS=10`,
//!    `REFERRAL_WORKER__QUEUE__KINDS__SEND_EMAIL__MAX_ATTEMPTS=3`. These are
//!    the most specific way to say something, so they win over everything,
//!    `DATABASE_URL` included. Names are case-insensitive and become lower
//!    case keys, so a per-kind override for a kind whose name has upper case
//!    letters or dots can only be written in the file. Each secret key
//!    (`mask::SECRET_KEYS`) may instead be given as
//!    `REFERRAL_WORKER__SECTION__KEY_FILE`, naming a file that holds it
//!    (Docker secrets, systemd credentials); one trailing newline is
//!    dropped, and setting a variable and its `_FILE` twin is an error.
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

mod error;
mod formats;
mod layers;
mod mask;
mod reports;
mod settings;
mod validate;
mod workflow;

#[cfg(test)]
// `Jail` closures must return `figment::Result`, whose error is large; that is
// figment's API and only costs a few bytes of stack in tests.
#[allow(clippy::result_large_err)]
mod tests;
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests_deploy;

pub use error::{ConfigError, Origin, Problem};
pub use layers::{DEFAULT_CONFIG_FILE, ENV_PREFIX};
pub use mask::{Secret, SecretUrl};
pub use reports::ReportsSettings;
pub use settings::{
    DatabaseSettings, HttpSettings, LogFormat, LogSettings, QueueSettings, RetryOverride,
    RetryPolicySettings, Settings,
};
pub use workflow::{
    ApiSettings, ApiToken, AshbySettings, AtsSettings, GreenhouseSettings, LeverSettings,
    MilestoneSettings, NotificationSettings, OutboundSettings, PayoutsSettings,
    ReconciliationSettings, ReferralSettings, RetentionSettings, SandboxSettings, Scope,
    SmartRecruitersSettings, WebhookSettings, WorkableSettings,
};
