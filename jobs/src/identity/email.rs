//! [`CanonicalEmail`]: the primary match key, an email address trimmed,
//! NFC-normalised, lowercased, with the provider rules known to be safe
//! (Gmail's dots and `+tags`, sub-addressing at a few large providers).
//! See [`super`] for how the keys are used.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::text::{is_blank, is_invisible};

/// The domains whose mailboxes ignore dots in the local part and treat `+tag`
/// as sub-addressing. Reference §4: "Gmail / googlemail.com only: remove dots
/// in the local part; treat googlemail.com as gmail.com."
const GMAIL: &str = "gmail.com";
const GOOGLEMAIL: &str = "googlemail.com";

/// Domains where `+tag` is sub-addressing, so `jane+jobs@` and `jane@` reach
/// the same mailbox. Reference §4: "Strip `+tag` for providers known to
/// support sub-addressing (Gmail, Outlook/Hotmail, Yahoo, Fastmail, iCloud,
/// Proton)." Gmail is handled separately above because it also drops dots.
///
/// The reference names providers, not domains; this list is the providers'
/// own consumer domains. It is an allow-list on purpose: a domain missing here
/// only costs a missed link, while a wrong entry would merge two people. Dots
/// are *not* touched for these (reference: `john.smith@outlook.com` and
/// `johnsmith@outlook.com` are different accounts), and neither is Yahoo's
/// `-` disposable-address separator, which the reference does not list.
/// Stripping `+` cannot merge two Yahoo users, since Yahoo user names cannot
/// contain `+`. Google Workspace custom domains behave like Gmail but are not
/// recognisable without an MX lookup, so (as the reference advises) we do not
/// guess.
const PLUS_TAG_DOMAINS: &[&str] = &[
    // Outlook / Hotmail (Microsoft consumer mail)
    "outlook.com",
    "outlook.de",
    "outlook.fr",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.de",
    "hotmail.es",
    "hotmail.fr",
    "hotmail.it",
    "live.com",
    "live.co.uk",
    "live.de",
    "live.fr",
    "msn.com",
    // Yahoo
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.de",
    "yahoo.es",
    "yahoo.fr",
    "yahoo.it",
    "yahoo.ca",
    "yahoo.com.au",
    "ymail.com",
    "rocketmail.com",
    // Fastmail
    "fastmail.com",
    "fastmail.fm",
    // iCloud
    "icloud.com",
    "me.com",
    "mac.com",
    // Proton
    "proton.me",
    "protonmail.com",
    "protonmail.ch",
    "pm.me",
];

/// RFC 5321 limits: 64 octets of local part, 254 for the whole path.
const MAX_LOCAL_BYTES: usize = 64;
const MAX_EMAIL_BYTES: usize = 254;
const MAX_LABEL_BYTES: usize = 63;

/// An email address reduced to a deduplication key.
///
/// Two raw addresses that reach the same mailbox (as far as we can tell
/// without asking the mail server) have equal `CanonicalEmail`s. The key is
/// lowercased everywhere, including the local part: RFC 5321 says local parts
/// are case-sensitive, but no provider that matters treats them so, which
/// makes lowercase a safe *match key*. It is not a safe address to send to;
/// keep the raw address for that.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanonicalEmail(String);

impl CanonicalEmail {
    /// Canonicalises `raw`, or returns `None` when it is not an email address.
    ///
    /// Steps, in order: trim whitespace (Unicode whitespace such as
    /// non-breaking spaces, and zero-width characters that come along with
    /// copy and paste), NFC, lowercase, a syntax check, then the provider
    /// rules (Gmail dots and `+tag`, `googlemail.com` → `gmail.com`, `+tag` on
    /// the providers in the reference's list).
    ///
    /// "Not an email" means: no `@`, more than one `@`, an empty part,
    /// whitespace or control characters inside, a leading, trailing or doubled
    /// dot in the local part, a display name or angle brackets (`Jane
    /// <jane@example.com>`), a domain without a dot, an IP-address domain, or
    /// a provider address that is empty once the `+tag` is removed
    /// (`+jobs@gmail.com`). `None` means "no email key", never "no candidate".
    ///
    /// Parsing is idempotent: parsing [`as_str`](Self::as_str) again gives the
    /// same key.
    pub fn parse(raw: &str) -> Option<CanonicalEmail> {
        let trimmed = raw.trim_matches(is_blank);
        // NFC before lowercasing so that case mapping sees composed
        // characters (`É` rather than `E` + U+0301), and NFC again after,
        // because case mapping can leave a string that is no longer in NFC.
        // Without the second pass the result would not be a fixed point.
        //
        // Lowercasing is per character, not `str::to_lowercase`: the latter
        // turns a word-final `Σ` into `ς` but leaves a typed `σ` alone, so
        // `ΑΣ` and `ασ` would get different keys. Folding `ς` into `σ` too
        // is what Unicode case folding does for caseless matching.
        let folded: String = trimmed
            .nfc()
            .flat_map(char::to_lowercase)
            .map(|c| if c == 'ς' { 'σ' } else { c })
            .nfc()
            .collect();
        if folded.len() > MAX_EMAIL_BYTES {
            return None;
        }
        let (local, domain) = folded.split_once('@')?;
        if !is_valid_local(local) || !is_valid_domain(domain) {
            return None;
        }

        let (local, domain) = apply_provider_rules(local, domain);
        // Re-check after the rules: `jane.+x@outlook.com` becomes `jane.`,
        // which is no address, and returning it would make `parse` disagree
        // with itself on its own output.
        if !is_valid_local(&local) {
            return None;
        }
        Some(CanonicalEmail(format!("{local}@{domain}")))
    }

    /// The canonical form, e.g. `johnsmith@gmail.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, e.g. `gmail.com`.
    pub fn domain(&self) -> &str {
        // Invariant of `parse`: exactly one `@`.
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for CanonicalEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CanonicalEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Gmail: drop the `+tag` and every dot, and fold `googlemail.com` into
/// `gmail.com` (they are one mailbox namespace). Plus-addressing providers:
/// drop the `+tag` only. Everyone else: unchanged.
fn apply_provider_rules(local: &str, domain: &str) -> (String, String) {
    let without_tag = || local.split_once('+').map_or(local, |(head, _)| head);
    if domain == GMAIL || domain == GOOGLEMAIL {
        (without_tag().replace('.', ""), GMAIL.to_owned())
    } else if PLUS_TAG_DOMAINS.contains(&domain) {
        (without_tag().to_owned(), domain.to_owned())
    } else {
        (local.to_owned(), domain.to_owned())
    }
}

/// An unquoted (dot-atom) local part. Quoted local parts (`"a b"@x`) are legal
/// but nobody applies for a job with one, and accepting them would make the
/// `@` split ambiguous. Non-ASCII is allowed (RFC 6531 addresses such as
/// `josé@example.com`).
fn is_valid_local(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_BYTES
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            !(c.is_whitespace()
                || c.is_control()
                || is_invisible(c)
                || matches!(
                    c,
                    '"' | '(' | ')' | ',' | ':' | ';' | '<' | '>' | '@' | '[' | '\\' | ']'
                ))
        })
}

/// A host name with at least two labels. Unicode labels are allowed and kept
/// as written (we do not convert to punycode; the reference asks only for
/// lowercasing). IP literals (`[127.0.0.1]`) and bare IPs are rejected: no
/// candidate has one, and a numeric TLD is the cheap tell.
fn is_valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_BYTES
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || is_combining_mark(c))
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}
