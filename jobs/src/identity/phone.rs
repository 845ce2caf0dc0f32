//! [`E164`]: the fallback match key, a phone number in E.164 form,
//! accepted only when valid, personal and not a placeholder. See
//! [`super`] for how the keys are used.

use std::fmt;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::text::{is_blank, is_invisible};

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
