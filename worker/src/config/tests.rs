//! The configuration's tests: loading from every layer, the error
//! messages, validation rules, masking and the shipped example file. Each
//! runs in a figment `Jail` (see [`jailed`]), never in the real environment.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::{Figment, Jail};

use super::mask::mask_url;
use super::*;

/// The example config shipped at the repository root.
const EXAMPLE: &str = include_str!("../../../referral-worker.example.toml");

/// Runs `f` in a figment `Jail`: a fresh temporary working directory and
/// an environment with every variable removed, so the developer's or
/// CI's own `DATABASE_URL` cannot leak into a test. Jails are serialized
/// by a global lock, so environment changes do not race between tests.
pub(super) fn jailed(f: impl FnOnce(&mut Jail) -> figment::Result<()>) {
    Jail::expect_with(|jail| {
        jail.clear_env();
        f(jail)
    });
}

/// The error of a load that must fail, as a figment error so `?` works
/// inside a jail.
pub(super) fn load_err(path: Option<&Path>) -> figment::Result<ConfigError> {
    match Settings::load(path) {
        Ok(settings) => Err(format!("expected an error, loaded {settings:?}").into()),
        Err(err) => Ok(err),
    }
}

pub(super) fn load_ok(path: Option<&Path>) -> figment::Result<Settings> {
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
        "REFERRAL_WORKER__HTTP__OPS_LISTEN",
        "REFERRAL_WORKER__HTTP__SHUTDOWN_DELAY",
        "PORT",
        "DATABASE_URL",
        "DATABASE_URL_FILE",
        "REDIS_URL_FILE",
        "REFERRAL_WORKER__QUEUE__REDIS_CA_FILE",
        "REFERRAL_WORKER__OUTBOUND__CA_FILE",
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
             [sandbox]\ngreenhouse_base_url = \"http://192.168.1.10/v3\"\n"
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
fn lever_perform_as_and_token_places_are_checked() {
    let ok = "[ats.lever]\nperform_as = \"8d49b010-cc6a-4f40-ace5-e86061c677ed\"\n\
              token_from = [\"question:Referral code\", \"source:ref-\", \"tag:ref:\"]\n";
    assert!(problem_keys(ok).is_empty());
    assert_eq!(
        problem_keys("[ats.lever]\nperform_as = \"user 7?x=1\""),
        ["ats.lever.perform_as"]
    );
    let bad = "[ats.lever]\ntoken_from = [\"cookie:ref\", \"tag:\"]";
    assert_eq!(
        problem_keys(bad),
        ["ats.lever.token_from", "ats.lever.token_from"]
    );
    let err = from_toml(bad).unwrap_err().to_string();
    assert!(err.contains("question:<question text>"), "{err}");
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

#[test]
fn harvest_v1_keys_are_refused_naming_the_v3_credential_to_set() {
    for key in ["api_key", "on_behalf_of"] {
        let err = from_toml(&format!("[ats.greenhouse]\n{key} = \"v1-value\"\n")).unwrap_err();
        let problem = &err.problems()[0];
        assert_eq!(problem.key, format!("ats.greenhouse.{key}"));
        for needle in [
            "Harvest v1 is gone",
            "Harvest V3 (OAuth)",
            "ats.greenhouse.client_id",
            "ats.greenhouse.client_secret",
            "ats.greenhouse.user_id",
            "Site Admin",
        ] {
            assert!(problem.message.contains(needle), "{needle}: {problem}");
        }
        assert!(!err.to_string().contains("v1-value"), "{err}");
    }
    let err = from_toml("[ats.greenhouse]\nrequests_per_second = 5\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("ats.greenhouse.requests_per_window"),
        "{err}"
    );
}

#[test]
fn a_harvest_v3_credential_needs_its_client_id_and_a_numeric_user() {
    assert_eq!(
        problem_keys("[ats.greenhouse]\nclient_secret = \"s\"\nuser_id = \"admin\"\n"),
        ["ats.greenhouse.client_id", "ats.greenhouse.user_id"]
    );
    let ok = from_toml(
        "[ats.greenhouse]\nclient_id = \"c\"\nclient_secret = \"s3cr3t-v3\"\nuser_id = \"4410007\"\n",
    )
    .unwrap();
    assert!(!ok.to_masked_toml().contains("s3cr3t-v3"));
    assert!(!format!("{ok:?}").contains("s3cr3t-v3"));
}

#[test]
fn engagement_kinds_and_candidate_fields_parse_and_unknown_ones_are_named() {
    use jobs::referral::engagement::{CandidateField, EngagementEvent};
    let defaults = Settings::default().notifications;
    assert_eq!(defaults.engagement, EngagementEvent::ALL.to_vec());
    assert!(defaults.engagement_candidate_fields.is_empty(), "ids only");
    let s = from_toml(
        "[notifications]\nengagement = [\"credited\", \"stage_changed\"]\n\
         engagement_candidate_fields = [\"first_name\"]\n",
    )
    .expect("valid");
    assert_eq!(
        s.notifications.engagement,
        [EngagementEvent::Credited, EngagementEvent::StageChanged]
    );
    assert_eq!(
        s.notifications.engagement_candidate_fields,
        [CandidateField::FirstName]
    );
    assert_eq!(
        problem_keys("[notifications]\nengagement = [\"credited\", \"hired\"]\n"),
        ["notifications.engagement.1"]
    );
    assert_eq!(
        problem_keys("[notifications]\nengagement_candidate_fields = [\"phone\"]\n"),
        ["notifications.engagement_candidate_fields.0"]
    );
}
