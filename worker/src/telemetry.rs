//! Process-wide logging: installs the `tracing` subscriber.
//!
//! `main` calls [`init`] once, right after the settings are loaded and
//! before anything that logs is started. Every other module just uses the
//! `tracing` macros and never touches the subscriber.
//!
//! Logs go to stderr, leaving stdout to commands whose output is the point
//! (`config check` prints TOML there). The format follows `log.format`: JSON
//! lines for log collectors, human-readable lines for people, and by default
//! (`auto`) whichever fits depending on whether stderr is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// The variable that, when set, replaces `log.filter`; the name every
/// `tracing` user already knows.
const FILTER_ENV: &str = "RUST_LOG";

/// Installs the global subscriber described by `settings`.
///
/// The filter is `RUST_LOG` if it is set and non-empty, else `log.filter`.
/// An unparsable `RUST_LOG` does not stop the process: `log.filter` is used
/// and a warning says why, because a typo in a debugging variable should not
/// take a worker down.
///
/// Calling it again is harmless: the first subscriber stays and later calls
/// do nothing (tests and embedding code may have installed one already).
pub fn init(settings: &LogSettings) {
    let (filter, rust_log_error) = build_filter(settings, std::env::var(FILTER_ENV).ok());
    let stderr_is_terminal = std::io::stderr().is_terminal();

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if settings.format.is_human(stderr_is_terminal) {
        // Colours only on a terminal: escape codes in a file are noise.
        builder.with_ansi(stderr_is_terminal).try_init()
    } else {
        builder
            .json()
            // Event fields at the top level of each object (`"job_id": ..`
            // next to `"message"`), which is what log search indexes expect.
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    };

    // The only failure is "a global subscriber is already set": keep it.
    if installed.is_ok()
        && let Some(error) = rust_log_error
    {
        tracing::warn!(
            %error,
            fallback = %settings.filter,
            "ignoring unparsable {FILTER_ENV}; using log.filter"
        );
    }
}

/// Chooses the filter. Separate from [`init`] and given the `RUST_LOG` value
/// as an argument so it can be tested without touching the environment.
///
/// Returns the filter and, if `RUST_LOG` was set but invalid, the reason.
fn build_filter(settings: &LogSettings, rust_log: Option<String>) -> (EnvFilter, Option<String>) {
    let mut rust_log_error = None;
    if let Some(directives) = rust_log.filter(|value| !value.trim().is_empty()) {
        match EnvFilter::try_new(&directives) {
            Ok(filter) => return (filter, None),
            Err(err) => rust_log_error = Some(format!("{FILTER_ENV}={directives:?}: {err}")),
        }
    }
    // `log.filter` was validated when the settings were loaded; the fallback
    // covers settings built by hand.
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    (filter, rust_log_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(filter: &str) -> LogSettings {
        LogSettings {
            filter: filter.to_owned(),
            ..LogSettings::default()
        }
    }

    #[test]
    fn rust_log_wins_over_settings() {
        let (filter, error) = build_filter(&settings("info"), Some("debug".to_owned()));
        assert_eq!(filter.to_string(), "debug");
        assert!(error.is_none());
    }

    #[test]
    fn settings_filter_is_used_without_rust_log() {
        let (filter, error) = build_filter(&settings("warn,worker=trace"), None);
        assert!(filter.to_string().contains("worker=trace"), "{filter}");
        assert!(error.is_none());
    }

    #[test]
    fn empty_rust_log_is_ignored() {
        let (filter, error) = build_filter(&settings("warn"), Some(" ".to_owned()));
        assert_eq!(filter.to_string(), "warn");
        assert!(error.is_none());
    }

    #[test]
    fn bad_rust_log_falls_back_and_says_why() {
        let (filter, error) = build_filter(&settings("warn"), Some("info,[[".to_owned()));
        assert_eq!(filter.to_string(), "warn");
        assert!(error.is_some_and(|e| e.contains("RUST_LOG")));
    }

    #[test]
    fn init_twice_is_harmless() {
        init(&settings("off"));
        init(&settings("off"));
    }
}
