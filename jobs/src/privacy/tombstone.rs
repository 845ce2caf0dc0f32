//! The tombstone an erasure leaves: a small JSON record of which personal
//! fields of which row were erased, when and why. It is stored on the row
//! in place of the data (`erasure_tombstone`), and the erasure's audit
//! event records its SHA-256, so anyone holding the audit log can prove
//! that the row was erased and when, and that the tombstone was not
//! changed afterwards. It holds no personal data itself.
//!
//! Every erasure path seals one: a data-subject request ([`super`]),
//! Greenhouse's `candidate_anonymized` and the retention purge (both
//! through `crate::capture::erasure::erase_personal_data`).

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::json;

use crate::db::audit::sha256_hex;

/// A sealed tombstone: the text stored on the row and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    /// The JSON text stored in the row's `erasure_tombstone`.
    pub text: String,
    /// Hex SHA-256 of `text`, recorded in the erasure's audit event.
    pub sha256: String,
}

/// Seals the tombstone of `fields` of `subject_type` `subject_id`, erased
/// at `at` because of `cause` (the audit action that records it, such as
/// `privacy.candidate_erased`). `serde_json` sorts object keys, so the
/// same tombstone always has the same text and hash.
pub fn seal(
    subject_type: &str,
    subject_id: &str,
    fields: &[&str],
    cause: &str,
    at: DateTime<Utc>,
) -> Tombstone {
    let text = json!({
        "subject_type": subject_type,
        "subject_id": subject_id,
        "erased_fields": fields,
        "cause": cause,
        "erased_at": at.trunc_subsecs(6).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
    .to_string();
    let sha256 = sha256_hex(&text);
    Tombstone { text, sha256 }
}

/// Whether `stored` (a row's `erasure_tombstone`) is the tombstone whose
/// hash an audit event recorded.
pub fn matches(stored: &str, recorded_sha256: &str) -> bool {
    sha256_hex(stored) == recorded_sha256
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_erasure_seals_the_same_text_and_hash() {
        let at = Utc::now();
        let a = seal("candidate", "7", &["email"], "privacy.candidate_erased", at);
        let b = seal("candidate", "7", &["email"], "privacy.candidate_erased", at);
        assert_eq!(a, b);
        assert!(matches(&a.text, &a.sha256));
    }

    #[test]
    fn a_changed_tombstone_no_longer_matches_its_recorded_hash() {
        let t = seal(
            "employee",
            "E1",
            &["name"],
            "privacy.referrer_erased",
            Utc::now(),
        );
        let edited = t.text.replace("E1", "E2");
        assert!(!matches(&edited, &t.sha256));
    }
}
