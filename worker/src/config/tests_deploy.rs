//! The configuration's deployment layers: `PORT`, the `*_FILE` variables
//! for secrets, and the keys deployments add (`http.ops_listen`,
//! `queue.redis_ca_file`, `outbound.ca_file`). Each test runs in a figment
//! `Jail` (a temporary working directory and an emptied environment).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use figment::Figment;
use figment::providers::Serialized;

use super::mask::SECRET_KEYS;
use super::tests::{jailed, load_err, load_ok};
use super::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

#[test]
fn port_listens_on_every_interface() {
    jailed(|jail| {
        jail.set_env("PORT", "9000");
        assert_eq!(load_ok(None)?.http.listen, addr("0.0.0.0:9000"));
        Ok(())
    });
}

#[test]
fn the_prefixed_listen_variable_wins_over_port() {
    jailed(|jail| {
        jail.set_env("PORT", "9000");
        jail.set_env("REFERRAL_WORKER__HTTP__LISTEN", "127.0.0.1:7000");
        assert_eq!(load_ok(None)?.http.listen, addr("127.0.0.1:7000"));
        Ok(())
    });
}

#[test]
fn a_port_that_is_not_a_number_names_port() {
    jailed(|jail| {
        jail.set_env("PORT", "http");
        let err = load_err(None)?.to_string();
        assert!(err.contains("http.listen"), "{err}");
        assert!(err.contains("environment variable PORT"), "{err}");
        Ok(())
    });
}

#[test]
fn database_url_file_is_read_without_its_trailing_newline() {
    jailed(|jail| {
        jail.create_file("db-url", "postgres://app:hunter2@db/referrals\n")?;
        jail.set_env("DATABASE_URL_FILE", "db-url");
        jail.create_file("redis-url", "rediss://:s3cret@cache:6380\r\n")?;
        jail.set_env("REDIS_URL_FILE", "redis-url");
        let s = load_ok(None)?;
        assert_eq!(
            s.database.url.expose_secret(),
            "postgres://app:hunter2@db/referrals"
        );
        assert_eq!(
            s.queue.redis_url.expose_secret(),
            "rediss://:s3cret@cache:6380"
        );
        let printed = s.to_masked_toml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
        Ok(())
    });
}

#[test]
fn a_variable_and_its_file_twin_together_are_an_error() {
    jailed(|jail| {
        jail.create_file("db-url", "postgres://db/referrals")?;
        jail.set_env("DATABASE_URL_FILE", "db-url");
        jail.set_env("DATABASE_URL", "postgres://other/referrals");
        let err = load_err(None)?.to_string();
        assert!(
            err.contains("set DATABASE_URL or DATABASE_URL_FILE, not both"),
            "{err}"
        );
        Ok(())
    });
    jailed(|jail| {
        jail.create_file("gh", "whsec")?;
        jail.set_env("REFERRAL_WORKER__WEBHOOKS__GREENHOUSE_SECRET_FILE", "gh");
        jail.set_env("REFERRAL_WORKER__WEBHOOKS__GREENHOUSE_SECRET", "other");
        let err = load_err(None)?.to_string();
        assert!(err.contains("not both"), "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_or_empty_secret_file_names_the_variable_and_the_path() {
    jailed(|jail| {
        jail.set_env("DATABASE_URL_FILE", "/run/secrets/absent");
        let err = load_err(None)?.to_string();
        assert!(err.contains("DATABASE_URL_FILE"), "{err}");
        assert!(err.contains("/run/secrets/absent"), "{err}");
        Ok(())
    });
    jailed(|jail| {
        jail.create_file("empty", "\n")?;
        jail.set_env("REFERRAL_WORKER__ATS__LEVER__API_KEY_FILE", "empty");
        let err = load_err(None)?.to_string();
        assert!(
            err.contains("REFERRAL_WORKER__ATS__LEVER__API_KEY_FILE: empty is empty"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn every_secret_key_has_a_file_variable_and_stays_masked() {
    jailed(|jail| {
        // A Greenhouse client secret comes with its client id and user.
        jail.set_env("REFERRAL_WORKER__ATS__GREENHOUSE__CLIENT_ID", "gh-client");
        jail.set_env("REFERRAL_WORKER__ATS__GREENHOUSE__USER_ID", "4410007");
        // A Workable token comes with its account's subdomain.
        jail.set_env("REFERRAL_WORKER__ATS__WORKABLE__SUBDOMAIN", "acme");
        let mut whsec = Vec::new();
        for (i, key) in SECRET_KEYS.iter().enumerate() {
            let file = format!("secret-{i}");
            // URL-shaped, in the scheme the key accepts; the password is
            // what must never be printed. A Standard Webhooks secret is
            // validated on load, so it is one (and must not be printed).
            let scheme = match *key {
                "database.url" => "postgres",
                "queue.redis_url" => "redis",
                "webhooks.careers_site_secret" => {
                    let secret = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE".to_string();
                    jail.create_file(&file, &format!("{secret}\n"))?;
                    whsec.push(secret);
                    let var = format!("{ENV_PREFIX}{}_FILE", key.replace('.', "__").to_uppercase());
                    jail.set_env(var, &file);
                    continue;
                }
                _ => "https",
            };
            jail.create_file(&file, &format!("{scheme}://u:pw-{i}-x@h.example/{i}\n"))?;
            let var = format!("{ENV_PREFIX}{}_FILE", key.replace('.', "__").to_uppercase());
            jail.set_env(var, &file);
        }
        let s = load_ok(None)?;
        let gh = SECRET_KEYS
            .iter()
            .position(|k| *k == "webhooks.greenhouse_secret")
            .ok_or("webhooks.greenhouse_secret is listed")?;
        assert_eq!(
            s.webhooks.greenhouse_secret.expose(),
            format!("https://u:pw-{gh}-x@h.example/{gh}")
        );
        assert!(s.ats.lever.api_key.expose().starts_with("https://u:pw-"));
        let printed = s.to_masked_toml();
        for i in 0..SECRET_KEYS.len() {
            assert!(!printed.contains(&format!("pw-{i}-x")), "{printed}");
        }
        for secret in whsec {
            assert!(!printed.contains(&secret[6..]), "{printed}");
        }
        Ok(())
    });
}

#[test]
fn a_file_variable_of_a_key_that_is_not_secret_is_not_read() {
    // `outbound.ca_file` is a key of its own that ends in `_file`: its
    // variable sets the path, it does not read the file.
    jailed(|jail| {
        jail.set_env(
            "REFERRAL_WORKER__OUTBOUND__CA_FILE",
            "/etc/ssl/private-ca.pem",
        );
        assert_eq!(load_ok(None)?.outbound.ca_file, "/etc/ssl/private-ca.pem");
        Ok(())
    });
    // And a `_FILE` variant of a plain key is an unknown key, named.
    jailed(|jail| {
        jail.create_file("prefix", "x")?;
        jail.set_env("REFERRAL_WORKER__QUEUE__PREFIX_FILE", "prefix");
        let err = load_err(None)?.to_string();
        assert!(err.contains("queue.prefix_file"), "{err}");
        Ok(())
    });
}

/// [`SECRET_KEYS`] must name every key that `config check` masks, or a
/// secret would have no `_FILE` variable. Each string-valued key of the
/// defaults is set, alone, to a URL with a password; the keys whose
/// password the masked output hides are the secret ones.
#[test]
fn the_secret_key_list_names_every_masked_key() {
    let defaults = toml::Value::try_from(Settings::default()).expect("defaults as TOML");
    let mut string_keys = Vec::new();
    collect_string_keys(&defaults, String::new(), &mut string_keys);
    assert!(string_keys.len() > SECRET_KEYS.len(), "{string_keys:?}");
    let sentinel = "postgres://u:sentinel-pw@h/db";
    let masked: BTreeSet<String> = string_keys
        .into_iter()
        .filter(|key| {
            let figment = Figment::from(Serialized::defaults(Settings::default()))
                .merge(Serialized::default(key, sentinel));
            match figment.extract::<Settings>() {
                Ok(settings) => !settings.to_masked_toml().contains("sentinel-pw"),
                // Not a plain string (an address, a duration): not a secret.
                Err(_) => false,
            }
        })
        .collect();
    let listed: BTreeSet<String> = SECRET_KEYS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(masked, listed);
}

fn collect_string_keys(value: &toml::Value, path: String, out: &mut Vec<String>) {
    match value {
        toml::Value::String(_) => out.push(path),
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let next = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_string_keys(inner, next, out);
            }
        }
        _ => {}
    }
}

#[test]
fn ops_listen_is_off_by_default_and_must_differ_from_listen() {
    jailed(|jail| {
        assert_eq!(load_ok(None)?.http.ops_listen, None);
        jail.set_env("REFERRAL_WORKER__HTTP__OPS_LISTEN", "0.0.0.0:9090");
        assert_eq!(load_ok(None)?.http.ops_listen, Some(addr("0.0.0.0:9090")));
        jail.set_env("REFERRAL_WORKER__HTTP__LISTEN", "0.0.0.0:9090");
        let err = load_err(None)?.to_string();
        assert!(err.contains("http.ops_listen: must differ"), "{err}");
        Ok(())
    });
}

#[test]
fn a_redis_ca_file_needs_a_rediss_url() {
    jailed(|jail| {
        jail.set_env("REDIS_URL", "redis://cache:6379");
        jail.set_env("REFERRAL_WORKER__QUEUE__REDIS_CA_FILE", "/etc/redis-ca.pem");
        let err = load_err(None)?.to_string();
        assert!(
            err.contains("queue.redis_ca_file: is only used with a rediss://"),
            "{err}"
        );
        jail.set_env("REDIS_URL", "rediss://cache:6380");
        assert_eq!(load_ok(None)?.queue.redis_ca_file, "/etc/redis-ca.pem");
        Ok(())
    });
}
