//! The attribution rules, as a pure function over facts already loaded.
//!
//! Kept free of I/O so every rule is a unit test; [`crate::capture`] loads
//! the facts, calls [`decide`] and stores what it says, including losers
//! with their reason (finance and HR must see every competing claim).
//!
//! The rules, in the order they are checked:
//! 1. an unknown referrer earns nothing (`ineligible`);
//! 2. an inactive referrer earns nothing (`ineligible`);
//! 3. self-referral (the referrer's email is the candidate's) earns nothing;
//! 4. a candidate who applied *without* a referral within the prior-applicant
//!    window before this referral earns nobody credit;
//! 5. the same employee claiming the same candidate for the same job again
//!    is a duplicate;
//! 6. first referral wins within the ownership window, per candidate and
//!    job: a later claim by someone else `lost`; an *earlier* claim
//!    (deliveries arrive out of order) takes over and the later credited
//!    ones are demoted.
//!
//! Referrals are one per (referrer, candidate, application): a referral of
//! the same candidate for another job is decided on its own (the credits
//! [`CandidateFacts`] holds are those for the claim's job) and paid when
//! that application is hired.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Windows that shape attribution (from `[referrals]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How long a first referral owns the candidate.
    pub ownership_window: Duration,
    /// How far back an unreferred application blocks credit.
    pub prior_applicant_window: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            ownership_window: Duration::days(365),
            prior_applicant_window: Duration::days(180),
        }
    }
}

/// Who claims the referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// HRIS id.
    pub employee_id: String,
    /// Canonical work email.
    pub email_canonical: String,
    /// Still employed.
    pub active: bool,
}

/// A credited referral already on record for the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingCredit {
    /// The referral row.
    pub referral_id: i64,
    /// Its referrer.
    pub employee_id: String,
    /// When it was made.
    pub referred_at: DateTime<Utc>,
}

/// What is known about the candidate when a claim is decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidateFacts {
    /// The candidate's canonical email.
    pub email_canonical: Option<String>,
    /// When the candidate's *other* applications without any referral were made.
    pub unreferred_applications: Vec<DateTime<Utc>>,
    /// Credited referrals already on record for the same job (those for
    /// other jobs are other referrals and do not compete).
    pub credits: Vec<ExistingCredit>,
}

/// The decision on one claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// Earns credit; the listed credited referrals lose it (this claim is
    /// earlier than them within the window).
    Credited {
        /// Referral ids to demote to `lost`.
        demote: Vec<i64>,
    },
    /// Recorded, loses to an earlier referral.
    Lost(String),
    /// Recorded, can never earn credit.
    Ineligible(String),
    /// Already on record for this employee and job: nothing new to store.
    Duplicate,
}

/// Decides one claim by `referrer` (None: unknown employee `claimed_by`)
/// made at `referred_at`.
pub fn decide(
    claimed_by: &str,
    referrer: Option<&Referrer>,
    referred_at: DateTime<Utc>,
    candidate: &CandidateFacts,
    rules: &Rules,
) -> Verdict {
    let Some(referrer) = referrer else {
        return Verdict::Ineligible(format!("unknown referrer: no employee {claimed_by}"));
    };
    if !referrer.active {
        return Verdict::Ineligible("referrer is not an active employee".into());
    }
    if candidate.email_canonical.as_deref() == Some(referrer.email_canonical.as_str()) {
        return Verdict::Ineligible("self-referral: the candidate is the referrer".into());
    }
    if let Some(prior) = candidate
        .unreferred_applications
        .iter()
        .filter(|at| **at < referred_at && referred_at - **at <= rules.prior_applicant_window)
        .min()
    {
        return Verdict::Ineligible(format!(
            "prior applicant: applied without a referral on {} (within the prior-applicant window)",
            prior.date_naive()
        ));
    }
    if candidate
        .credits
        .iter()
        .any(|c| c.employee_id == referrer.employee_id)
    {
        return Verdict::Duplicate;
    }
    let in_window = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).abs() <= rules.ownership_window;
    if let Some(owner) = candidate
        .credits
        .iter()
        .filter(|c| c.referred_at <= referred_at && in_window(referred_at, c.referred_at))
        .min_by_key(|c| c.referred_at)
    {
        return Verdict::Lost(format!(
            "first referral wins: employee {} referred this candidate on {}",
            owner.employee_id,
            owner.referred_at.date_naive()
        ));
    }
    let demote = candidate
        .credits
        .iter()
        .filter(|c| c.referred_at > referred_at && in_window(referred_at, c.referred_at))
        .map(|c| c.referral_id)
        .collect();
    Verdict::Credited { demote }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + n * 86_400, 0).expect("valid")
    }

    fn alice() -> Referrer {
        Referrer {
            employee_id: "E1".into(),
            email_canonical: "alice@acme.example".into(),
            active: true,
        }
    }

    fn credit(id: i64, who: &str, at: DateTime<Utc>) -> ExistingCredit {
        ExistingCredit {
            referral_id: id,
            employee_id: who.into(),
            referred_at: at,
        }
    }

    #[test]
    fn a_first_valid_referral_is_credited() {
        let v = decide(
            "E1",
            Some(&alice()),
            day(0),
            &CandidateFacts::default(),
            &Rules::default(),
        );
        assert_eq!(v, Verdict::Credited { demote: vec![] });
    }

    #[test]
    fn unknown_and_inactive_referrers_are_ineligible() {
        let facts = CandidateFacts::default();
        assert!(
            matches!(decide("E9", None, day(0), &facts, &Rules::default()), Verdict::Ineligible(r) if r.contains("E9"))
        );
        let gone = Referrer {
            active: false,
            ..alice()
        };
        assert!(
            matches!(decide("E1", Some(&gone), day(0), &facts, &Rules::default()), Verdict::Ineligible(r) if r.contains("active"))
        );
    }

    #[test]
    fn self_referral_is_ineligible() {
        let facts = CandidateFacts {
            email_canonical: Some("alice@acme.example".into()),
            ..Default::default()
        };
        assert!(
            matches!(decide("E1", Some(&alice()), day(0), &facts, &Rules::default()), Verdict::Ineligible(r) if r.contains("self"))
        );
    }

    #[test]
    fn a_recent_unreferred_application_blocks_credit_but_an_old_one_does_not() {
        let recent = CandidateFacts {
            unreferred_applications: vec![day(-30)],
            ..Default::default()
        };
        assert!(
            matches!(decide("E1", Some(&alice()), day(0), &recent, &Rules::default()), Verdict::Ineligible(r) if r.contains("prior applicant"))
        );
        let old = CandidateFacts {
            unreferred_applications: vec![day(-400)],
            ..Default::default()
        };
        assert_eq!(
            decide("E1", Some(&alice()), day(0), &old, &Rules::default()),
            Verdict::Credited { demote: vec![] }
        );
    }

    #[test]
    fn first_referral_wins_within_the_window() {
        let facts = CandidateFacts {
            credits: vec![credit(7, "E2", day(-10))],
            ..Default::default()
        };
        assert!(
            matches!(decide("E1", Some(&alice()), day(0), &facts, &Rules::default()), Verdict::Lost(r) if r.contains("E2"))
        );
        let expired = CandidateFacts {
            credits: vec![credit(7, "E2", day(-400))],
            ..Default::default()
        };
        assert_eq!(
            decide("E1", Some(&alice()), day(0), &expired, &Rules::default()),
            Verdict::Credited { demote: vec![] }
        );
    }

    #[test]
    fn an_earlier_claim_arriving_late_takes_over() {
        let facts = CandidateFacts {
            credits: vec![credit(7, "E2", day(5))],
            ..Default::default()
        };
        assert_eq!(
            decide("E1", Some(&alice()), day(0), &facts, &Rules::default()),
            Verdict::Credited { demote: vec![7] }
        );
    }

    #[test]
    fn the_same_referrer_again_is_a_duplicate() {
        let facts = CandidateFacts {
            credits: vec![credit(7, "E1", day(-1))],
            ..Default::default()
        };
        assert_eq!(
            decide("E1", Some(&alice()), day(0), &facts, &Rules::default()),
            Verdict::Duplicate
        );
    }
}
