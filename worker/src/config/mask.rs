//! Masking: the secret-holding value types ([`SecretUrl`] for connection
//! URLs, [`Secret`] for tokens and signing keys), whose `Debug`, `Display`
//! and `Serialize` never show the secret, and the masked TOML that
//! `config check` prints (through `Settings::to_masked_toml`).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::formats::string_like;

/// Every secret key one environment variable can set: the [`SecretUrl`]
/// and [`Secret`] fields outside lists (`api.tokens` live in the file).
/// `layers` reads a `*_FILE` variant of each, for secrets handed over as
/// files (Docker secrets, systemd credentials); a test checks that the
/// list names every masked key.
pub(super) const SECRET_KEYS: [&str; 20] = [
    "database.url",
    "queue.redis_url",
    "webhooks.careers_site_secret",
    "webhooks.greenhouse_secret",
    "webhooks.lever_signature_token",
    "ats.greenhouse.client_secret",
    "ats.lever.api_key",
    "ats.ashby.webhook_secret",
    "ats.ashby.api_key",
    "ats.workable.token",
    "ats.workable.webhook_secret",
    "ats.smartrecruiters.api_key",
    "ats.smartrecruiters.webhook_secret",
    "ats.smartrecruiters.webhook_secret_previous",
    "payouts.destination_secret",
    "notifications.status_sync_secret",
    "notifications.crm_secret",
    "notifications.alert_webhook_url",
    "sandbox.alert_webhook_url",
    "outbound.proxy",
];

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
    pub(super) fn check_scheme(&self, allowed: &[&str]) -> Result<(), String> {
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

/// The empty URL: "not configured".
impl Default for SecretUrl {
    fn default() -> SecretUrl {
        SecretUrl::new("")
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
pub(super) fn mask_url(raw: &str) -> String {
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

/// `settings` as TOML, with every secret masked: what
/// [`Settings::to_masked_toml`] prints.
pub(super) fn masked_toml(settings: &impl Serialize) -> String {
    // `SecretUrl` and `Secret` serialize to their masked form, so plain
    // serialization is already safe; there is no unmasked path to forget to
    // avoid.
    match toml::to_string(settings) {
        Ok(body) => format!("# Effective referral-worker configuration (secrets masked).\n{body}"),
        // Every field is a string, number, table or map with string keys,
        // so this cannot happen; still, a diagnostics command should say
        // what went wrong rather than panic.
        Err(err) => format!("# could not render the configuration as TOML: {err}\n"),
    }
}
