//! Layering: defaults, then the TOML file, then `DATABASE_URL` /
//! `REDIS_URL` / `PORT`, then `REFERRAL_WORKER__SECTION__KEY` variables (see
//! the [module docs](super) for the order and why), each secret also as a
//! `*_FILE` variable naming a file that holds it. Owns [`Settings::load`],
//! [`Settings::figment`] and [`Settings::from_figment`], the environment
//! providers, and the translation of figment's errors into [`Problem`]s that
//! name the key and the variable or file the value came from.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::error::{ConfigError, Origin, Problem};
use super::mask::SECRET_KEYS;
use super::settings::Settings;

/// The file read from the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "referral-worker.toml";

/// Prefix of the per-key environment variables. The double underscore also
/// separates nesting levels, so `REFERRAL_WORKER__QUEUE__LEASE` is
/// `queue.lease`; a single underscore stays part of a key name
/// (`REFERRAL_WORKER__QUEUE__REDIS_URL` is `queue.redis_url`).
pub const ENV_PREFIX: &str = "REFERRAL_WORKER__";

/// The separator between nesting levels in environment variable names.
const ENV_SEPARATOR: &str = "__";

/// Metadata name shared by the environment layers; [`Problem`] uses it to
/// say "from environment variable X" instead of "in file Y".
const ENV_METADATA_NAME: &str = "environment variable";

/// The suffix of a variable that names a file holding a secret
/// (`DATABASE_URL_FILE`, `REFERRAL_WORKER__WEBHOOKS__GREENHOUSE_SECRET_FILE`).
const FILE_SUFFIX: &str = "_FILE";

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
        Ok(figment
            .merge(ConventionalEnv)
            .merge(PrefixedEnv::new())
            .merge(PrefixedSecretFiles))
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
}

impl Origin {
    /// The origin of the value at `key`, described by its provider's
    /// metadata.
    pub(super) fn from_metadata(md: &Metadata, key: &str) -> Origin {
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

impl Problem {
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
                if let Some(instead) = super::validate::retired_key(&path.join(".")) {
                    format!("no longer read: {instead}")
                } else if expected.is_empty() {
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

/// The `REFERRAL_WORKER__SECTION__KEY` layer: figment's `Env`, with metadata
/// that names the real variable in error messages. The `*_FILE` variants of
/// secret keys are left to [`PrefixedSecretFiles`].
struct PrefixedEnv(Env);

impl PrefixedEnv {
    fn new() -> PrefixedEnv {
        PrefixedEnv(
            Env::prefixed(ENV_PREFIX)
                .split(ENV_SEPARATOR)
                .filter(|key| secret_behind_file_key(key.as_str()).is_none()),
        )
    }
}

impl Provider for PrefixedEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME).interpolater(|_profile, keys| prefixed_var(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0.data()
    }
}

/// `queue.lease` as a variable: `REFERRAL_WORKER__QUEUE__LEASE`.
fn prefixed_var(keys: &[&str]) -> String {
    format!(
        "{ENV_PREFIX}{}",
        keys.join(ENV_SEPARATOR).to_ascii_uppercase()
    )
}

/// The secret key a `…_file` key stands for (`webhooks.greenhouse_secret_file`
/// → `webhooks.greenhouse_secret`), if it is one of [`SECRET_KEYS`].
fn secret_behind_file_key(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let stem = key.strip_suffix(&FILE_SUFFIX.to_ascii_lowercase())?;
    SECRET_KEYS.iter().copied().find(|k| *k == stem)
}

/// The `REFERRAL_WORKER__SECTION__KEY_FILE` layer, for secret keys only:
/// the named file's content is the value (one trailing newline removed).
/// Setting both a key and its `_FILE` variant is an error: which one wins
/// would be a guess.
struct PrefixedSecretFiles;

impl Provider for PrefixedSecretFiles {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME)
            .interpolater(|_profile, keys| format!("{}{FILE_SUFFIX}", prefixed_var(keys)))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (name, path) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let upper = name.to_ascii_uppercase();
            let Some(rest) = upper.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some(secret) = secret_behind_file_key(&rest.replace(ENV_SEPARATOR, ".")) else {
                continue;
            };
            let direct = &name[..name.len() - FILE_SUFFIX.len()];
            if std::env::var_os(direct).is_some() {
                return Err(format!("set {direct} or {name}, not both").into());
            }
            let value = read_secret_file(name, &path).map_err(figment::Error::from)?;
            let keys: Vec<&str> = secret.split('.').collect();
            insert_nested(&mut dict, &keys, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at `keys` (`["ats", "lever", "api_key"]`) in `dict`.
fn insert_nested(dict: &mut Dict, keys: &[&str], value: String) {
    match keys {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), Value::from(value));
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// The secret in the file `path`, which variable `var` names: its content
/// with one trailing newline removed (editors and `echo` add one). An
/// unreadable or empty file is an error naming the variable and the path.
fn read_secret_file(var: &str, path: &std::ffi::OsStr) -> Result<String, String> {
    let shown = Path::new(path).display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{var}: cannot read {shown}: {e}"))?;
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.trim().is_empty() {
        return Err(format!("{var}: {shown} is empty"));
    }
    Ok(value.to_owned())
}

/// The conventional variables layer: `DATABASE_URL`, `REDIS_URL` (or
/// `DATABASE_URL_FILE` / `REDIS_URL_FILE` naming a file that holds the URL)
/// and `PORT`, which platforms and `docker compose` files already set.
/// `PORT=N` means listen on `0.0.0.0:N`: a platform that sets it routes to
/// the container's interfaces, not its loopback. Written by hand rather
/// than with `Env::raw().only(..)` because it skips empty values (see the
/// module docs) and because these are always strings, never parsed as TOML
/// values.
struct ConventionalEnv;

impl ConventionalEnv {
    /// (variable, section, key, whether `{variable}_FILE` may hold it) for
    /// each conventional variable.
    const VARS: [(&'static str, &'static str, &'static str, bool); 3] = [
        ("DATABASE_URL", "database", "url", true),
        ("REDIS_URL", "queue", "redis_url", true),
        ("PORT", "http", "listen", false),
    ];

    /// The value of `var`, or of the file `{var}_FILE` names when `file`
    /// allows it; `None` when neither is set (an empty `var` counts as
    /// unset).
    fn value(var: &str, file: bool) -> Result<Option<String>, String> {
        let direct = match std::env::var(var) {
            Ok(value) if value.trim().is_empty() => None,
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!("{var} is not valid UTF-8"));
            }
        };
        let file_var = format!("{var}{FILE_SUFFIX}");
        let path = if file {
            std::env::var_os(&file_var).filter(|p| !p.is_empty())
        } else {
            None
        };
        match (direct, path) {
            (Some(_), Some(_)) => Err(format!("set {var} or {file_var}, not both")),
            (Some(value), None) => Ok(Some(value)),
            (None, Some(path)) => read_secret_file(&file_var, &path).map(Some),
            (None, None) => Ok(None),
        }
    }
}

impl Provider for ConventionalEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_METADATA_NAME).interpolater(|_profile, keys| {
            ConventionalEnv::VARS
                .iter()
                .find(|(_, section, key, _)| keys == [*section, *key])
                .map(|(var, _, _, file)| {
                    let file_var = format!("{var}{FILE_SUFFIX}");
                    if *file && std::env::var_os(&file_var).is_some() {
                        file_var
                    } else {
                        (*var).to_owned()
                    }
                })
                .unwrap_or_else(|| keys.join("."))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (var, section, key, file) in ConventionalEnv::VARS {
            let Some(value) = ConventionalEnv::value(var, file).map_err(figment::Error::from)?
            else {
                continue;
            };
            let value = if var == "PORT" {
                format!("0.0.0.0:{}", value.trim())
            } else {
                value
            };
            insert_nested(&mut dict, &[section, key], value);
        }
        Ok(Profile::Default.collect(dict))
    }
}
