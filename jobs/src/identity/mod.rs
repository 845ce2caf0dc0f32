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
//!
//! * [`email`] holds [`CanonicalEmail`];
//! * [`phone`] holds [`E164`];
//! * this file holds [`CandidateKeys`].
//!
//! A leaf: it imports nothing from the crate. Called by capture
//! ([`crate::capture::application`]) to find a candidate, and by the
//! referrer import ([`crate::referral::employees`]) for employees' emails.

pub mod email;
pub mod phone;
mod text;

use serde::{Deserialize, Serialize};

pub use email::CanonicalEmail;
pub use phone::E164;

// Both keys

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
mod tests;
