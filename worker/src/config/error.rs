//! [`ConfigError`], the one error type of the configuration, and the
//! [`Problem`]s it lists: each tied to the key it is about and to where the
//! bad value came from ([`Origin`]). Built by `layers` (figment's own errors,
//! rewritten to lead with the key) and by `validate`; printed by `main`.

use std::fmt;
use std::path::PathBuf;

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
    /// A problem with `key`, its origin not yet known (`layers` fills it in).
    pub(super) fn new(key: &str, message: &str) -> Problem {
        Problem {
            key: key.to_owned(),
            message: message.to_owned(),
            origin: None,
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
