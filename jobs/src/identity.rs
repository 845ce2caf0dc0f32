//! Candidate identity: canonical emails and phone numbers for deduplication.
//!
//! A referral is only worth something if it is credited to the right person,
//! and the ATSs do not help much: Greenhouse auto-merge merges *identical*
//! emails only, and skips candidates from the Candidate Ingestion API
//! (reference `ats-and-referrals.md` §0.6 and §4). So `JOHN.SMITH@gmail.com`,
//! `johnsmith+jobs@googlemail.com` and `john.smith@gmail.com` are three
//! candidates to the ATS but one person to us. This module turns raw contact
//! data into *match keys* that make that visible.
//!
//! # The keys
//!
//! * [`CanonicalEmail`] is the primary key. Parsing trims (Unicode whitespace
//!   too), applies Unicode NFC, lowercases, and then applies provider rules
//!   that are known to be safe: Gmail ignores dots and `+tags`, and a handful
//!   of large providers treat `+tag` as sub-addressing. Every other domain is
//!   left alone, because guessing wrong merges two different people.
//! * [`E164`] is the fallback key: a phone number in E.164 form
//!   (`+4930123456789`), accepted only when [`phonenumber`] says it is a
//!   valid number and it is not a placeholder such as `123456`, `000000` or a
//!   `555-01xx` film number (see [`E164::is_dummy`]).
//! * [`CandidateKeys`] bundles both for one candidate.
//!
//! # How to use them
//!
//! The keys are for *matching only*. Store the raw address next to the key,
//! display and send to the raw one, and search the ATS with the raw address
//! (ATS search is exact), optionally also with the canonical one. When keys
//! say two ATS records are one person, propose a merge to a recruiter instead
//! of merging automatically: ATS merges cannot be undone (§4, "Pitfall").
//!
//! Match on email first. Use the phone only when no email matches, and ideally
//! confirm it with the name: phones are shared (family landlines, office
//! switchboards) far more often than mailboxes. This module only builds the
//! keys; applying that policy is the caller's job.
//!
//! ```
//! use jobs::identity::{CandidateKeys, CanonicalEmail, E164};
//!
//! let a = CanonicalEmail::parse(" John.Smith+jobs@GoogleMail.com ").unwrap();
//! assert_eq!(a.as_str(), "johnsmith@gmail.com");
//!
//! // Region hints in order: payload country, job office country, config default.
//! let p = E164::parse("030 1234-5678", &["DE", "US"]).unwrap();
//! assert_eq!(p.as_str(), "+493012345678");
//! assert!(E164::parse("123456", &["DE"]).is_none());
//!
//! let keys = CandidateKeys::from_raw(Some("not an email"), Some("+1 415 555 2671"), &[]);
//! assert!(keys.email.is_none());
//! assert_eq!(keys.phone.unwrap().as_str(), "+14155552671");
//! ```
//!
//! # Serialization
//!
//! Both key types serialize transparently as their string. Deserializing
//! trusts the string and does *not* re-run `parse`: keys are stored in rows
//! and job payloads, and a key written yesterday must still load after a
//! provider list or the phone metadata changes today. Anything that did not
//! come from this module (a webhook field, a form) must go through `parse`.

use std::fmt;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

// ---------------------------------------------------------------------------
// Email
// ---------------------------------------------------------------------------

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

/// Characters to trim at the ends: Unicode whitespace (which includes U+00A0
/// NO-BREAK SPACE) plus the invisible format characters that spreadsheets and
/// web forms leave behind but `char::is_whitespace` does not cover.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// Zero-width space, non-joiner, joiner, word joiner, byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
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

// ---------------------------------------------------------------------------
// Phone
// ---------------------------------------------------------------------------

/// National significant numbers shorter than this are placeholders ("911",
/// "12345"), not personal numbers. Six rather than seven because Andorra, the
/// Faroe Islands and Greenland have six-digit national numbers; the six-digit
/// dummies the reference mentions (`123456`) are caught by the sequence rule.
const MIN_NATIONAL_DIGITS: usize = 6;

/// A national number ending in this many copies of one digit is a filled-in
/// placeholder (`+49 30 00000000`), even if the area code in front is real.
const MAX_TRAILING_REPEAT: usize = 7;

/// E.164 allows 15 digits; national forms add a trunk prefix and some
/// countries (Germany) have longer numbers. phonenumber's own ceiling for the
/// national number is 17. Anything longer is two numbers run together or junk.
const MAX_DIGITS: usize = 17;

/// A phone number in E.164 form (`+4930123456789`): the fallback match key.
///
/// Only numbers that [`phonenumber`] considers valid, that are not
/// placeholders, and that are not shared-by-design (toll-free, premium-rate,
/// shared-cost, company "UAN" and voicemail numbers) become keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Parses `raw` into E.164, or `None` when it is not a usable key.
    ///
    /// `region_hints` are ISO 3166 alpha-2 codes (`"DE"`, `"us"`; `"UK"` is
    /// read as `"GB"`), in the order the reference recommends: the
    /// application's country, the job office's country, the company default.
    /// Unknown codes are skipped.
    ///
    /// 1. Pre-clean (the phonenumber crate misparses mixed separators, `00`
    ///    prefixes and dots; reference §4 issues #83, #47, #29, #82): strip a
    ///    `tel:` prefix and any extension (`ext. 12`, `x12`, `#12`, `;ext=12`),
    ///    drop a `(0)` trunk prefix after a country code, drop separators
    ///    (spaces of any kind, `-`, `.`, `/`, parentheses), turn a leading
    ///    `00` into `+`. Letters anywhere else reject the input: vanity
    ///    numbers (`1-800-FLOWERS`) are never personal, and text such as
    ///    "n/a" or "ask for Tom" is not a number.
    /// 2. A number with `+` is parsed as international; the hints do not
    ///    matter for it. A number without `+` is tried with each hint in
    ///    order, and the first interpretation that phonenumber calls *valid*
    ///    is the number. With no usable hint a national number gives `None`:
    ///    the reference says not to match phones without a plausible region.
    /// 3. That number is rejected if it is a placeholder
    ///    ([`is_dummy`](Self::is_dummy)) or a shared-by-design type.
    ///
    /// Never panics, whatever the input.
    pub fn parse(raw: &str, region_hints: &[&str]) -> Option<E164> {
        let dialable = Dialable::clean(raw)?;
        if is_placeholder_digits(&dialable.digits) {
            return None;
        }
        let number = interpret(&dialable, region_hints)?;
        if !number.is_valid() || !is_personal_type(&number) || is_placeholder_number(&number) {
            return None;
        }
        Some(E164(number.format().mode(Mode::E164).to_string()))
    }

    /// Whether `raw` is a placeholder that must never be used as a key, even
    /// if phonenumber would accept it.
    ///
    /// Placeholders (reference §4: "Never treat dummy values (e.g. "911",
    /// "123456" …) as keys"; the other rules generalise those examples):
    /// * too short: fewer than six digits in the national number (`911`);
    /// * one digit repeated (`000000`, `+49 1111111111`), or a national
    ///   number ending in seven or more of one digit (`+49 30 00000000`);
    /// * a straight run up or down, wrapping 9→0 (`123456`, `1234567890`,
    ///   `+1 234 567 8901`, `9876543210`);
    /// * the North American `555-0100`…`555-0199` range reserved for fiction
    ///   (`+1 555-0100`, `(201) 555-0123`), which phonenumber calls valid.
    ///
    /// `false` does not mean usable: text, invalid numbers and national
    /// numbers without a region are not "dummies" but still give `None` from
    /// [`parse`](Self::parse). `parse` never accepts an input for which this
    /// returns `true`. Shared landlines cannot be recognised from the digits;
    /// a caller that sees one number on many unrelated candidates should stop
    /// using it as a key.
    pub fn is_dummy(raw: &str, region_hints: &[&str]) -> bool {
        let Some(dialable) = Dialable::clean(raw) else {
            return false;
        };
        is_placeholder_digits(&dialable.digits)
            || interpret(&dialable, region_hints).is_some_and(|n| is_placeholder_number(&n))
    }

    /// The E.164 form, e.g. `+4930123456789`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A raw phone string reduced to what a phone would dial: an optional `+`
/// and digits. Handing phonenumber only this shape sidesteps its separator
/// bugs and keeps adversarial input away from its parser.
struct Dialable {
    international: bool,
    digits: String,
}

impl Dialable {
    fn clean(raw: &str) -> Option<Dialable> {
        // NFKC turns full-width digits and plus signs (from CJK input methods)
        // into ASCII, and odd spaces into plain ones.
        let normalized: String = raw.nfkc().collect();
        let mut s = normalized.trim_matches(is_blank);
        if let Some(rest) = strip_prefix_ignore_ascii_case(s, "tel:") {
            s = rest;
        }
        let s = cut_extension(s).trim_matches(is_blank);

        // "+49 (0)30 …": the (0) is the trunk prefix, dialled only inside the
        // country. Remove it literally rather than trusting phonenumber to
        // strip a national prefix, which it only does for countries whose
        // metadata has one.
        let s = if s.starts_with('+') || s.starts_with("00") {
            s.replace("(0)", "")
        } else {
            s.to_owned()
        };

        let mut international = false;
        let mut digits = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '0'..='9' => digits.push(c),
                // A plus is only meaningful before the first digit.
                '+' if digits.is_empty() && !international => international = true,
                c if is_separator(c) => {}
                _ => return None,
            }
        }
        // "0049 30 …" is how Europeans write "+49 30 …". Without this, a
        // number parsed with a US hint would read the 00 as part of the
        // national number (rust-phonenumber #29).
        if !international && digits.starts_with("00") {
            digits.drain(..2);
            international = true;
        }
        if digits.is_empty() || digits.len() > MAX_DIGITS {
            return None;
        }
        Some(Dialable {
            international,
            digits,
        })
    }

    fn as_input(&self) -> String {
        if self.international {
            format!("+{}", self.digits)
        } else {
            self.digits.clone()
        }
    }
}

fn strip_prefix_ignore_ascii_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Everything from the first extension marker on: `ext`, `ext.`,
/// `extension`, `x`, `#`, and the `;` / `,` that start `tel:` parameters
/// (`;ext=12`, `;phone-context=…`) or dial pauses. The extension reaches a
/// desk behind a switchboard; the person is the same either way, and the
/// switchboard number is what E.164 can express.
fn cut_extension(s: &str) -> &str {
    // ASCII lowercasing keeps byte offsets, so an index into `lower` is an
    // index into `s`.
    let lower = s.to_ascii_lowercase();
    let cut = ["ext", "x", "#", ";", ","]
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min()
        .unwrap_or(s.len());
    &s[..cut]
}

/// Characters people put between digits.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || is_invisible(c)
        || matches!(
            c,
            '-' | '.' | '/' | '(' | ')' | '\u{00AD}' | '\u{2010}'..='\u{2015}' | '\u{2212}'
        )
}

/// ISO 3166 alpha-2 code to a phonenumber region. "UK" is not ISO but is what
/// people type for the United Kingdom, and it would otherwise silently
/// disable the hint.
fn region(hint: &str) -> Option<Id> {
    let code = hint.trim().to_ascii_uppercase();
    let code = if code == "UK" { "GB".to_owned() } else { code };
    code.parse().ok()
}

/// The number `dialable` denotes: the international reading for `+…`,
/// otherwise the first region hint under which it is valid. If no reading is
/// valid, the first reading at all (so [`E164::is_dummy`] can still inspect
/// it); callers check validity.
///
/// Stopping at the first valid reading matters for dummies: if `(201)
/// 555-0123` is a US film number under the first hint, we must not go on to
/// accept it as some German number under the next one.
fn interpret(dialable: &Dialable, region_hints: &[&str]) -> Option<PhoneNumber> {
    let input = dialable.as_input();
    let regions: Vec<Option<Id>> = if dialable.international {
        vec![None]
    } else {
        region_hints
            .iter()
            .filter_map(|h| region(h))
            .map(Some)
            .collect()
    };
    let mut first = None;
    for region in regions {
        // parse() only checks shape; validity is a separate question
        // (reference §4: "Parsing does not validate").
        let Ok(number) = phonenumber::parse(region, &input) else {
            continue;
        };
        if number.is_valid() {
            return Some(number);
        }
        first.get_or_insert(number);
    }
    first
}

/// Numbers that reach a company or a service rather than a person are shared
/// by design, which is what the reference warns about with "shared
/// landlines". `Unknown` passes: phonenumber 0.3.10 classifies numbers with a
/// significant leading zero (Italy's `+39 06 …`) as `Unknown` even when
/// `is_valid` says yes, so `Unknown` here means "could not classify", not
/// "not a phone".
fn is_personal_type(number: &PhoneNumber) -> bool {
    !matches!(
        number.number_type(&DATABASE),
        Type::TollFree
            | Type::PremiumRate
            | Type::SharedCost
            | Type::Uan
            | Type::Voicemail
            | Type::Emergency
            | Type::ShortCode
            | Type::StandardRate
            | Type::Carrier
            | Type::NoInternational
    )
}

fn is_placeholder_number(number: &PhoneNumber) -> bool {
    // Display includes significant leading zeros (Italy).
    let national = number.national().to_string();
    national.len() < MIN_NATIONAL_DIGITS
        || is_placeholder_digits(&national)
        || is_nanp_fiction(number.code().value(), &national)
}

/// Rules that need no country: too short, one digit repeated, a long run of
/// one digit at the end, or a straight sequence.
fn is_placeholder_digits(digits: &str) -> bool {
    let d = digits.as_bytes();
    let Some(&last) = d.last() else {
        return true;
    };
    let trailing_repeat = d.iter().rev().take_while(|&&b| b == last).count();
    d.len() < MIN_NATIONAL_DIGITS
        || trailing_repeat == d.len()
        || trailing_repeat >= MAX_TRAILING_REPEAT
        || is_straight_run(d, 1)
        || is_straight_run(d, 9)
}

/// Every digit is the previous one plus `step` (mod 10): step 1 is
/// `1234567890`, step 9 is `9876543210`.
fn is_straight_run(digits: &[u8], step: u8) -> bool {
    digits
        .windows(2)
        .all(|w| (w[0] - b'0' + step) % 10 == w[1] - b'0')
}

/// North American numbers `NXX-555-0100` to `NXX-555-0199` are reserved for
/// fiction and never assigned, but phonenumber validates them. Checked on the
/// last seven digits so that a 7-digit `555-01xx` (no area code) counts too.
fn is_nanp_fiction(country_code: u16, national: &str) -> bool {
    country_code == 1 && national.len() >= 7 && national[national.len() - 7..].starts_with("55501")
}

// ---------------------------------------------------------------------------
// Both keys
// ---------------------------------------------------------------------------

/// The deduplication keys of one candidate.
///
/// Match policy (reference §4): the email is the primary key; the phone is a
/// fallback, used only when no candidate matches by email, and best confirmed
/// by name. Both are computed here whenever possible; which one to consult
/// when is the caller's decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CandidateKeys {
    /// The primary key, if the candidate gave a usable email address.
    pub email: Option<CanonicalEmail>,
    /// The fallback key, if the candidate gave a usable phone number.
    pub phone: Option<E164>,
}

impl CandidateKeys {
    /// Builds the keys from raw contact fields. `region_hints` go to
    /// [`E164::parse`]: payload country, job office country, config default.
    pub fn from_raw(
        email: Option<&str>,
        phone: Option<&str>,
        region_hints: &[&str],
    ) -> CandidateKeys {
        CandidateKeys {
            email: email.and_then(CanonicalEmail::parse),
            phone: phone.and_then(|p| E164::parse(p, region_hints)),
        }
    }

    /// Whether there is nothing to match this candidate on.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn email(raw: &str) -> Option<String> {
        CanonicalEmail::parse(raw).map(|e| e.as_str().to_owned())
    }

    fn phone(raw: &str, hints: &[&str]) -> Option<String> {
        E164::parse(raw, hints).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn email_canonical_forms() {
        let cases: &[(&str, &str, &str)] = &[
            // (why, raw, canonical)
            ("case", "Jane.Doe@Example.COM", "jane.doe@example.com"),
            ("spaces", "  jane@example.com \t\n", "jane@example.com"),
            ("nbsp", "\u{a0}jane@example.com\u{a0}", "jane@example.com"),
            ("em space", "\u{2003}jane@example.com", "jane@example.com"),
            (
                "zero-width",
                "\u{feff}jane@example.com\u{200b}",
                "jane@example.com",
            ),
            ("NFC José", "jos\u{e9}@example.com", "jos\u{e9}@example.com"),
            (
                "NFD José",
                "jose\u{301}@example.com",
                "jos\u{e9}@example.com",
            ),
            (
                "NFD JOSÉ",
                "JOSE\u{301}@EXAMPLE.COM",
                "jos\u{e9}@example.com",
            ),
            ("unicode domain", "anna@Bücher.DE", "anna@bücher.de"),
            (
                "gmail dots",
                "j.o.h.n.smith@gmail.com",
                "johnsmith@gmail.com",
            ),
            (
                "gmail tag",
                "John.Smith+jobs@Gmail.com",
                "johnsmith@gmail.com",
            ),
            ("gmail tags", "john+a+b@gmail.com", "john@gmail.com"),
            (
                "googlemail",
                "JohnSmith@GoogleMail.com",
                "johnsmith@gmail.com",
            ),
            (
                "googlemail tag",
                "john.smith+x@googlemail.com",
                "johnsmith@gmail.com",
            ),
            (
                "outlook",
                "john.smith+jobs@outlook.com",
                "john.smith@outlook.com",
            ),
            ("hotmail", "john+jobs@hotmail.com", "john@hotmail.com"),
            ("live", "john+jobs@live.com", "john@live.com"),
            ("yahoo plus", "john+jobs@yahoo.com", "john@yahoo.com"),
            (
                "yahoo dash kept",
                "john-jobs@yahoo.com",
                "john-jobs@yahoo.com",
            ),
            ("fastmail", "john+jobs@fastmail.com", "john@fastmail.com"),
            ("icloud", "john+jobs@icloud.com", "john@icloud.com"),
            ("me.com", "john+jobs@me.com", "john@me.com"),
            ("mac.com", "john+jobs@mac.com", "john@mac.com"),
            ("proton", "john+jobs@protonmail.com", "john@protonmail.com"),
            ("proton.me", "john+jobs@proton.me", "john@proton.me"),
            (
                "outlook dots kept",
                "j.smith@outlook.com",
                "j.smith@outlook.com",
            ),
            (
                "other: tag kept",
                "john.smith+jobs@example.com",
                "john.smith+jobs@example.com",
            ),
            (
                "other: dots kept",
                "john.smith@company.de",
                "john.smith@company.de",
            ),
            (
                "subdomain is not gmail",
                "j.s+x@mail.gmail.com",
                "j.s+x@mail.gmail.com",
            ),
            (
                "lookalike is not gmail",
                "j.s+x@gmail.com.evil.org",
                "j.s+x@gmail.com.evil.org",
            ),
            (
                "capital sharp s",
                "STRAẞE@example.com",
                "straße@example.com",
            ),
        ];
        for (why, raw, want) in cases {
            assert_eq!(email(raw).as_deref(), Some(*want), "{why}: {raw:?}");
        }
    }

    #[test]
    fn nfc_and_nfd_jose_are_one_key() {
        let nfc = CanonicalEmail::parse("Jos\u{e9}@example.com");
        let nfd = CanonicalEmail::parse("Jose\u{301}@example.com");
        assert!(nfc.is_some());
        assert_eq!(nfc, nfd);
    }

    #[test]
    fn not_emails() {
        let cases = [
            "",
            "   ",
            "\u{a0}",
            "not an email",
            "jane",
            "@example.com",
            "jane@",
            "jane@@example.com",
            "jane@doe@example.com",
            "jane@example",
            "jane@.example.com",
            "jane@example..com",
            "jane@example.com.",
            "jane@-example.com",
            "jane@exa_mple.com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "ja ne@example.com",
            "jane@exa mple.com",
            "ja\u{200b}ne@example.com",
            "ja\tne@example.com",
            "<jane@example.com>",
            "Jane Doe <jane@example.com>",
            "jane@example.com, john@example.com",
            "jane@[127.0.0.1]",
            "jane@127.0.0.1",
            "\"jane doe\"@example.com",
            "+jobs@gmail.com",
            "...@gmail.com",
            "+jobs@outlook.com",
            "jane.+jobs@outlook.com",
        ];
        for raw in cases {
            assert_eq!(email(raw), None, "{raw:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(email(&long_local), None);
    }

    #[test]
    fn email_domain_accessor() {
        let e = CanonicalEmail::parse("x+y@GoogleMail.com").unwrap();
        assert_eq!(e.domain(), "gmail.com");
    }

    #[test]
    fn phone_formats() {
        let cases: &[(&str, &str, &[&str], Option<&str>)] = &[
            // (why, raw, hints, E.164)
            (
                "national + hint",
                "030 1234-5678",
                &["DE"],
                Some("+493012345678"),
            ),
            (
                "(0) trunk prefix",
                "+49 (0)30 1234 5678",
                &[],
                Some("+493012345678"),
            ),
            ("00 prefix", "0049 30 12345678", &[], Some("+493012345678")),
            (
                "00 prefix, other hint",
                "0049 30 123456789",
                &["US"],
                Some("+4930123456789"),
            ),
            (
                "00 + (0)",
                "0049 (0)30 123456789",
                &[],
                Some("+4930123456789"),
            ),
            (
                "US national",
                "(415) 555-2671",
                &["US"],
                Some("+14155552671"),
            ),
            (
                "US with 1",
                "1 (415) 555-2671",
                &["US"],
                Some("+14155552671"),
            ),
            ("hint case", "(415) 555-2671", &["us"], Some("+14155552671")),
            (
                "bad hint skipped",
                "(415) 555-2671",
                &["XX", "", "US"],
                Some("+14155552671"),
            ),
            ("no region", "(415) 555-2671", &[], None),
            ("only bad hints", "030 12345678", &["ZZ"], None),
            ("UK alias", "020 7946 0123", &["UK"], Some("+442079460123")),
            (
                "+ ignores hints",
                "+49 30 12345678",
                &["US"],
                Some("+493012345678"),
            ),
            (
                "#83 mixed separators",
                "+1 650-253-0000",
                &[],
                Some("+16502530000"),
            ),
            ("#47", "+1 520-878-2491", &[], Some("+15208782491")),
            ("#82 dots", "+687 24.12.34", &[], Some("+687241234")),
            ("dots", "+1.650.253.0000", &[], Some("+16502530000")),
            ("slash", "030/12345678", &["DE"], Some("+493012345678")),
            (
                "nbsp",
                "+49\u{a0}30\u{a0}12345678",
                &[],
                Some("+493012345678"),
            ),
            (
                "en dash",
                "030 \u{2013} 12345678",
                &["DE"],
                Some("+493012345678"),
            ),
            (
                "full width",
                "＋４９ ３０ １２３４５６７８",
                &[],
                Some("+493012345678"),
            ),
            ("padded", "  +49 30 12345678  ", &[], Some("+493012345678")),
            (
                "tel: uri",
                "tel:+49-30-1234-5678",
                &[],
                Some("+493012345678"),
            ),
            (
                "tel: ext",
                "TEL:+49-30-12345678;ext=99",
                &[],
                Some("+493012345678"),
            ),
            (
                "ext.",
                "030 12345678 ext. 12",
                &["DE"],
                Some("+493012345678"),
            ),
            ("Ext", "030 12345678 Ext 12", &["DE"], Some("+493012345678")),
            (
                "extension",
                "+1 415 555 2671 extension 7",
                &[],
                Some("+14155552671"),
            ),
            ("x", "+1 (415) 555-2671 x12", &[], Some("+14155552671")),
            (
                "X no space",
                "+1 (415) 555-2671X12",
                &[],
                Some("+14155552671"),
            ),
            ("#", "+1 415 555 2671 #3", &[], Some("+14155552671")),
            ("comma", "+1 415 555 2671,,3", &[], Some("+14155552671")),
            ("italy zero", "+39 06 1234 5678", &[], Some("+390612345678")),
            (
                "italy mobile",
                "+39 312 345 6789",
                &[],
                Some("+393123456789"),
            ),
            ("andorra 6 digits", "712 345", &["AD"], Some("+376712345")),
            (
                "DE mobile",
                "0151 12345678",
                &["DE"],
                Some("+4915112345678"),
            ),
            ("letters", "1-800-FLOWERS", &["US"], None),
            ("words", "call me", &["DE"], None),
            ("n/a", "n/a", &["DE"], None),
            ("mixed", "030 12345678 (mobile)", &["DE"], None),
            ("empty", "", &["DE"], None),
            ("blank", " \u{a0} ", &["DE"], None),
            ("just plus", "+", &[], None),
            ("plus inside", "030+12345678", &["DE"], None),
            ("two numbers", "030 12345678 / 0151 12345678", &["DE"], None),
            ("invalid", "+49 1", &[], None),
            ("unknown cc", "+999 1234567", &[], None),
            ("US not valid", "(123) 456-7891", &["US"], None),
            ("toll-free", "+1 800 275 2273", &[], None),
            ("DE toll-free", "0800 3301000", &["DE"], None),
            ("premium", "+49 900 12345678", &[], None),
            ("shared cost", "+49 180 12345678", &[], None),
        ];
        for (why, raw, hints, want) in cases {
            assert_eq!(
                phone(raw, hints).as_deref(),
                *want,
                "{why}: {raw:?} {hints:?}"
            );
        }
    }

    #[test]
    fn region_hints_are_tried_in_order() {
        // Valid both as a Californian number and in Schwarzenbek (04155): the
        // first hint that gives a valid number wins.
        assert_eq!(
            phone("4155552671", &["US", "DE"]).as_deref(),
            Some("+14155552671")
        );
        assert_eq!(
            phone("4155552671", &["DE", "US"]).as_deref(),
            Some("+494155552671")
        );
        // Invalid under the first hint, so the second one is tried.
        assert_eq!(
            phone("030 12345678", &["US", "DE"]).as_deref(),
            Some("+493012345678")
        );
    }

    #[test]
    fn dummies_are_never_keys() {
        let cases: &[(&str, &[&str])] = &[
            ("000000", &["DE"]),
            ("0000000000", &["US"]),
            ("1111111111", &["US"]),
            ("+49 1111111111", &[]),
            ("1234567890", &["US"]),
            ("1234567890", &["DE"]),
            ("0123456789", &["DE"]),
            ("+1 234 567 8901", &[]),
            ("9876543210", &["US"]),
            ("911", &["US"]),
            ("112", &["DE"]),
            ("123456", &["DE"]),
            ("12345", &["US"]),
            ("+1 555-0100", &[]),
            ("+1 (201) 555-0123", &[]),
            ("(415) 555-0199", &["US"]),
            ("+49 30 00000000", &[]),
            ("+49 151 11111111", &[]),
        ];
        for (raw, hints) in cases {
            assert!(E164::is_dummy(raw, hints), "is_dummy {raw:?} {hints:?}");
            assert_eq!(phone(raw, hints), None, "parse {raw:?} {hints:?}");
        }
        // Close to the fiction range but outside it.
        assert!(!E164::is_dummy("(415) 555-0200", &["US"]));
        assert!(!E164::is_dummy("(415) 555-2671", &["US"]));
        // A dummy under the first valid reading is not rescued by a later hint.
        assert_eq!(phone("(201) 555-0123", &["US", "DE"]), None);
        // Not a number at all is not a "dummy".
        assert!(!E164::is_dummy("call me", &["US"]));
    }

    #[test]
    fn candidate_keys() {
        let keys = CandidateKeys::from_raw(
            Some(" Jane.Doe+ref@GMAIL.com "),
            Some("030 1234-5678"),
            &["DE"],
        );
        assert_eq!(keys.email.as_ref().unwrap().as_str(), "janedoe@gmail.com");
        assert_eq!(keys.phone.as_ref().unwrap().as_str(), "+493012345678");
        assert!(!keys.is_empty());

        let none = CandidateKeys::from_raw(Some("n/a"), Some("123456"), &["DE"]);
        assert!(none.is_empty());
        assert_eq!(none, CandidateKeys::default());
        assert!(CandidateKeys::from_raw(None, None, &[]).is_empty());
    }

    #[test]
    fn serde_is_transparent() {
        let keys = CandidateKeys::from_raw(Some("A@B.de"), Some("+49 30 12345678"), &[]);
        let json = serde_json::to_string(&keys).unwrap();
        assert_eq!(json, r#"{"email":"a@b.de","phone":"+493012345678"}"#);
        let back: CandidateKeys = serde_json::from_str(&json).unwrap();
        assert_eq!(back, keys);
    }

    /// Local parts and domains with upper case, non-ASCII and the characters
    /// the provider rules act on.
    fn email_like() -> impl Strategy<Value = String> {
        let local = "[A-Za-z0-9ÉéÜüßẞİΣ._+-]{1,20}";
        let domain = prop_oneof![
            Just("gmail.com".to_owned()),
            Just("GoogleMail.com".to_owned()),
            Just("outlook.com".to_owned()),
            Just("Yahoo.com".to_owned()),
            "[A-Za-z0-9ÄäÉ-]{1,12}\\.(com|DE|org|xn--p1ai)",
        ];
        (local, domain).prop_map(|(l, d)| format!("{l}@{d}"))
    }

    fn blank() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just(' '),
                Just('\t'),
                Just('\n'),
                Just('\u{a0}'),
                Just('\u{2003}'),
                Just('\u{feff}'),
            ],
            0..4,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    /// `c` in upper or lower case. Characters whose upper case is a different
    /// string, not a different case (`ß` → `SS`), are left alone: that is a
    /// spelling change, not a case change.
    fn recase(c: char, upper: bool) -> String {
        let lower: String = c.to_lowercase().collect();
        let up: String = c.to_uppercase().collect();
        if !upper {
            lower
        } else if up.chars().flat_map(char::to_lowercase).collect::<String>() == lower {
            up
        } else {
            c.to_string()
        }
    }

    /// Mostly plausible numbers (so that many parse), plus noise.
    fn phone_like() -> impl Strategy<Value = String> {
        let prefix = proptest::sample::select(vec![
            "", "0", "1 ", "+1 ", "+49 ", "+49 (0)", "0049 ", "+39 0", "+44 ", "+376 ", "tel:+64 ",
        ]);
        let body = proptest::collection::vec(("[0-9]{1,4}", "[ ./-]?"), 1..5).prop_map(|parts| {
            parts
                .into_iter()
                .map(|(d, sep)| d + &sep)
                .collect::<String>()
        });
        let extension = proptest::sample::select(vec!["", " x12", " ext. 3", ";ext=9"]);
        prop_oneof![
            3 => (prefix, body, extension).prop_map(|(p, b, e)| format!("{p}{b}{e}")),
            1 => "[+0-9 ()./x#-]{0,24}",
        ]
    }

    const HINTS: &[&str] = &["DE", "US", "GB", "IT", "AD", "NZ", "FR"];

    proptest! {
        #[test]
        fn email_parse_never_panics(raw in any::<String>()) {
            let _ = CanonicalEmail::parse(&raw);
        }

        #[test]
        fn email_canonicalisation_is_idempotent(raw in prop_oneof![any::<String>(), email_like()]) {
            if let Some(key) = CanonicalEmail::parse(&raw) {
                prop_assert_eq!(CanonicalEmail::parse(key.as_str()), Some(key.clone()));
            }
        }

        #[test]
        fn email_case_and_whitespace_do_not_matter(
            addr in email_like(),
            upper in proptest::collection::vec(any::<bool>(), 40),
            before in blank(),
            after in blank(),
        ) {
            let recased: String = addr
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &up)| recase(c, up))
                .collect();
            let padded = format!("{before}{recased}{after}");
            prop_assert_eq!(
                CanonicalEmail::parse(&addr),
                CanonicalEmail::parse(&padded),
                "{:?} vs {:?}", addr, padded
            );
        }

        #[test]
        fn phone_parse_never_panics(raw in any::<String>(), hint in proptest::sample::select(HINTS)) {
            let _ = E164::parse(&raw, &[hint]);
            let _ = E164::is_dummy(&raw, &[hint]);
        }

        #[test]
        fn phone_canonicalisation_is_idempotent(
            raw in phone_like(),
            hints in proptest::sample::subsequence(HINTS.to_vec(), 0..3),
        ) {
            if let Some(key) = E164::parse(&raw, &hints) {
                prop_assert!(key.as_str().starts_with('+'));
                prop_assert!(!E164::is_dummy(&raw, &hints));
                // The E.164 form needs no hint, and any hint leaves it alone.
                prop_assert_eq!(E164::parse(key.as_str(), &[]), Some(key.clone()));
                prop_assert_eq!(E164::parse(key.as_str(), &["US"]), Some(key.clone()));
            }
        }
    }
}
