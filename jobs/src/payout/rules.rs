//! Bonus rules: which bonus a hire earns, in which tranches, and when.
//!
//! A referral bonus is not one number. Programmes pay different amounts by job
//! level, department or location, and usually split the bonus into tranches
//! (for example 50 % at hire and 50 % once the hire completes probation), each
//! paid only while the referrer is still employed and, optionally, only after
//! someone approves it. This module is the *pure* description of that policy:
//! it reads no database, calls no HRIS and sends nothing. Payout creation asks
//! it three questions and writes the answers into the ledger:
//!
//! 1. Which rule applies to this job? [`BonusRules::choose`], first match
//!    wins; a rule that depends on a fact the ATS does not say (a level
//!    it leaves empty) makes the choice undecided, and the payouts wait for
//!    a human instead of paying a later rule's amount.
//! 2. How much is each tranche? [`BonusRule::tranche_amounts`], which always
//!    adds up to the rule's total to the minor unit.
//! 3. When does probation end? [`BonusRule::probation_due`].
//!
//! # Configuration
//!
//! The types deserialise with serde so the service configuration can embed
//! them as an array of tables. Durations are [humantime] strings (`"90days"`,
//! `"30s"` in tests):
//!
//! ```toml
//! [[payouts.rules]]
//! id = "engineering-senior"
//! when = { job_levels = ["senior", "staff"], departments = ["Engineering"] }
//! amount_minor = 300000          # 3 000.00 EUR, in cents: never a float
//! currency = "EUR"
//! probation = "180days"
//! require_approval = true
//! tranches = [
//!   { name = "hire", milestone = "hire", percent = 50 },
//!   { name = "probation", milestone = "probation_complete", percent = 50 },
//! ]
//!
//! [[payouts.rules]]
//! id = "everyone-else"           # no `when`: matches every job
//! amount_minor = 100000
//! currency = "EUR"
//! tranches = [{ name = "probation", milestone = "probation_complete", percent = 100 }]
//! ```
//!
//! Order matters: put specific rules first and a catch-all last. Deserialising
//! checks only the shape; call [`BonusRules::validate`] at start-up to reject a
//! configuration that would pay wrong amounts (percents that do not add up,
//! duplicate tranche names, a zero probation, ...) before any payout is made.
//!
//! [humantime]: https://docs.rs/humantime

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// The milestone a tranche waits for.
///
/// This is the ledger's own [`MilestoneKind`](entities::milestone::MilestoneKind)
/// (serialised `"hire"` / `"probation_complete"`) rather than a copy of it: a
/// rule's tranche and the milestone row that triggers it must name the same
/// thing, and one type makes a mismatch impossible instead of merely unlikely.
pub use entities::milestone::MilestoneKind as Milestone;

/// Where validation messages say the rules live in the configuration file.
const CONFIG_PATH: &str = "payouts.rules";

/// Probation longer than this is almost certainly a typo (`"90y"` for
/// `"90d"`); it would also park a timer far beyond any retention policy.
const MAX_PROBATION: Duration = Duration::from_secs(10 * 366 * 24 * 60 * 60);

/// The default probation period: 90 days, the most common in the programmes
/// surveyed (see `docs/ats-and-referrals.md`, section 3.2).
const DEFAULT_PROBATION: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The facts about a job that rules can match on.
///
/// They come from the ATS: the application's webhook where it sends them
/// (Greenhouse's departments and offices), and the job as the ATS's API
/// states it ([`crate::payout::job_facts`], cached per job). A missing fact
/// (`None`) never matches a rule that constrains it: a rule for `senior`
/// jobs must not pay a job whose level is unknown. It does match a rule that
/// leaves that fact unconstrained. And a rule that constrains a missing fact
/// leaves the choice undecided ([`BonusRules::choose`]) rather than letting
/// a later rule pay as if the fact were known to differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFacts {
    /// The ATS job id.
    pub job_id: String,
    /// Job level or grade, e.g. `senior`.
    pub job_level: Option<String>,
    /// Department or employee group, e.g. `Engineering`.
    pub department: Option<String>,
    /// Office or country, e.g. `Berlin`.
    pub location: Option<String>,
}

impl From<&entities::application::Model> for JobFacts {
    fn from(app: &entities::application::Model) -> Self {
        Self {
            job_id: app.job_id.clone(),
            job_level: app.job_level.clone(),
            department: app.department.clone(),
            location: app.location.clone(),
        }
    }
}

/// The conditions under which a rule applies.
///
/// Each list constrains one fact of the job; an empty (or absent) list means
/// "any". A job matches when, for every non-empty list, its fact is one of the
/// listed values. Comparison ignores case and surrounding whitespace, because
/// the same department arrives as `Engineering` from one ATS and `engineering `
/// from a spreadsheet-fed job mapping, and a silent mismatch there means a
/// referrer is paid the wrong tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
// Unknown keys are an error: a typo such as `job_level` for `job_levels` would
// otherwise be ignored and turn a narrow rule into a catch-all.
#[serde(default, deny_unknown_fields)]
pub struct RuleMatch {
    /// Job levels this rule applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub job_levels: Vec<String>,
    /// Departments (or employee groups) this rule applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    /// Locations this rule applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    /// Individual ATS job ids this rule applies to (e.g. a hard-to-fill role
    /// with a special bonus).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub job_ids: Vec<String>,
}

impl RuleMatch {
    /// Whether `job` satisfies every constraint of this match.
    pub fn matches(&self, job: &JobFacts) -> bool {
        one_of(&self.job_ids, Some(job.job_id.as_str()))
            && one_of(&self.job_levels, job.job_level.as_deref())
            && one_of(&self.departments, job.department.as_deref())
            && one_of(&self.locations, job.location.as_deref())
    }

    /// Whether `job` satisfies this match, as far as its facts tell:
    /// [`Fit::No`] as soon as a fact the job has is not listed;
    /// [`Fit::Unknown`] (naming the facts) when every fact it has fits but
    /// a constrained one is missing, i.e. the ATS does not say.
    pub fn fit(&self, job: &JobFacts) -> Fit {
        if !one_of(&self.job_ids, Some(job.job_id.as_str())) {
            return Fit::No;
        }
        let mut missing = Vec::new();
        for (fact, allowed, value) in [
            (Fact::Level, &self.job_levels, job.job_level.as_deref()),
            (
                Fact::Department,
                &self.departments,
                job.department.as_deref(),
            ),
            (Fact::Location, &self.locations, job.location.as_deref()),
        ] {
            match value {
                _ if allowed.is_empty() => {}
                None => missing.push(fact),
                Some(_) if !one_of(allowed, value) => return Fit::No,
                Some(_) => {}
            }
        }
        if missing.is_empty() {
            Fit::Yes
        } else {
            Fit::Unknown(missing)
        }
    }

    /// The job facts this match constrains (an ATS must say them).
    pub fn facts(&self) -> Vec<Fact> {
        [
            (Fact::Level, &self.job_levels),
            (Fact::Department, &self.departments),
            (Fact::Location, &self.locations),
        ]
        .into_iter()
        .filter(|(_, allowed)| !allowed.is_empty())
        .map(|(fact, _)| fact)
        .collect()
    }

    /// Whether the match constrains nothing, i.e. the rule is a catch-all.
    pub fn is_any(&self) -> bool {
        self.job_levels.is_empty()
            && self.departments.is_empty()
            && self.locations.is_empty()
            && self.job_ids.is_empty()
    }
}

/// A fact of a job that a rule can depend on and only the ATS can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The job's level.
    Level,
    /// The job's department.
    Department,
    /// The job's office or location.
    Location,
}

impl Fact {
    /// The fact in words, for reasons shown to ops.
    pub fn name(self) -> &'static str {
        match self {
            Fact::Level => "level",
            Fact::Department => "department",
            Fact::Location => "office/location",
        }
    }
}

/// Whether a rule applies to a job, as far as the job's known facts tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// It applies.
    Yes,
    /// It does not.
    No,
    /// It would, depending on these facts, which the job does not have.
    Unknown(Vec<Fact>),
}

/// Which rule prices a job ([`BonusRules::choose`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<'a> {
    /// This rule, decided on facts the job has.
    Rule(&'a BonusRule),
    /// No rule covers the job: it earns no bonus.
    NoRule,
    /// Undecided: `rule`, tried before any that applies, depends on
    /// `missing` facts the ATS does not say. `fallback` is the first rule
    /// that applies on what is known (what [`BonusRules::select`] picks),
    /// if any. Never paid without a human: the payouts wait for approval.
    Undecided {
        /// The first rule that could not be decided.
        rule: &'a BonusRule,
        /// The facts it needs that the job lacks.
        missing: Vec<Fact>,
        /// The first rule that applies on what is known.
        fallback: Option<&'a BonusRule>,
    },
}

/// `allowed` empty means "any value, even none"; otherwise `value` must be
/// present and equal to one of `allowed`, ignoring case and outer whitespace.
fn one_of(allowed: &[String], value: Option<&str>) -> bool {
    if allowed.is_empty() {
        return true;
    }
    value.is_some_and(|v| allowed.iter().any(|a| same_text(a, v)))
}

/// Case-insensitive (full Unicode lowercasing, so `MÜNCHEN` equals `münchen`)
/// and whitespace-trimmed equality, without allocating.
fn same_text(a: &str, b: &str) -> bool {
    a.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .eq(b.trim().chars().flat_map(char::to_lowercase))
}

/// One part of a bonus, paid when its milestone is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tranche {
    /// The tranche's name, e.g. `hire` or `probation`. It is the `tranche`
    /// column of the payout ledger, whose unique `(referral_id, tranche)` index
    /// is what stops a tranche being paid twice, so it must be unique within
    /// a rule and should never be renamed once payouts exist.
    pub name: String,
    /// The milestone that makes this tranche payable.
    pub milestone: Milestone,
    /// This tranche's share of the rule's `amount_minor`, in percent. The
    /// tranches of a rule add up to 100.
    pub percent: u8,
}

/// One tier of the bonus schedule: the jobs it covers, the amount and how it
/// is paid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BonusRule {
    /// A stable name for the rule, unique among the rules; recorded with each
    /// payout so that "why was this amount paid" has an answer.
    pub id: String,
    /// Which jobs the rule covers. Absent: every job.
    #[serde(default)]
    pub when: RuleMatch,
    /// The whole bonus in the currency's minor unit (cents for EUR), split
    /// across the tranches. Integer minor units because money is never a float.
    pub amount_minor: i64,
    /// ISO 4217 code, three uppercase letters, e.g. `EUR`.
    pub currency: String,
    /// How the bonus is split, and the milestone each part waits for.
    pub tranches: Vec<Tranche>,
    /// Probation period: a `probation_complete` milestone falls due this long
    /// after the hire's start date. Humantime in configuration (`"90days"`,
    /// `"6months"`, `"30s"` in tests); defaults to 90 days.
    #[serde(with = "humantime_serde", default = "default_probation")]
    pub probation: Duration,
    /// Pay a tranche only if the referrer is still employed when it falls due
    /// (checked against the HRIS at each tranche). Defaults to `true`, the
    /// common policy; when it fails the payout becomes ineligible.
    #[serde(default = "default_true")]
    pub require_active_referrer: bool,
    /// Hold eligible payouts until someone approves them before sending.
    /// Defaults to `false` (approved automatically).
    #[serde(default)]
    pub require_approval: bool,
}

fn default_probation() -> Duration {
    DEFAULT_PROBATION
}

fn default_true() -> bool {
    true
}

impl BonusRule {
    /// Splits [`amount_minor`](Self::amount_minor) across the tranches, in
    /// minor units, in tranche order: `(tranche name, milestone, amount)`.
    ///
    /// The parts **always add up exactly to `amount_minor`**. Finance
    /// reconciles the ledger against the configured bonus to the cent, so
    /// 1 000.01 EUR split 50/50 must become 500.01 + 500.00, not 500.00 twice
    /// (a cent lost) or 500.01 twice (a cent invented). Rounding each share on
    /// its own cannot guarantee that; the largest-remainder method does:
    ///
    /// 1. every tranche gets the floor of its exact share
    ///    `amount_minor * percent / 100`;
    /// 2. the few minor units left over (fewer than the number of tranches) go
    ///    one each to the tranches with the largest fractional remainders,
    ///    earlier tranches winning ties.
    ///
    /// So each part is within one minor unit of its exact share and none is
    /// negative when the amount is not. The result depends only on the rule,
    /// which matters because tranches are created months apart: the probation
    /// tranche recomputes the split and must land on the same numbers the
    /// hire tranche did.
    ///
    /// On a rule that fails [`BonusRules::validate`] this still never panics:
    /// shares are taken of the actual percent total rather than 100 (so the
    /// parts still add up), and if every percent is zero every part is zero.
    pub fn tranche_amounts(&self) -> Vec<(String, Milestone, i64)> {
        let amount = i128::from(self.amount_minor);
        let total: i128 = self.tranches.iter().map(|t| i128::from(t.percent)).sum();
        if total == 0 {
            return self
                .tranches
                .iter()
                .map(|t| (t.name.clone(), t.milestone, 0))
                .collect();
        }

        // i128 because amount * percent can exceed i64 for large amounts;
        // Euclidean division so the floor (and a non-negative remainder) holds
        // for negative amounts of an unvalidated rule too.
        let mut parts: Vec<i128> = Vec::with_capacity(self.tranches.len());
        let mut remainders: Vec<(usize, i128)> = Vec::with_capacity(self.tranches.len());
        for (index, tranche) in self.tranches.iter().enumerate() {
            let exact = amount * i128::from(tranche.percent);
            parts.push(exact.div_euclid(total));
            remainders.push((index, exact.rem_euclid(total)));
        }

        let leftover = amount - parts.iter().sum::<i128>();
        // Largest remainder first; `sort_by_key` is stable, so equal
        // remainders keep tranche order and the split is deterministic.
        remainders.sort_by_key(|&(_, remainder)| std::cmp::Reverse(remainder));
        for &(index, _) in remainders.iter().take(leftover as usize) {
            parts[index] += 1;
        }

        self.tranches
            .iter()
            .zip(parts)
            .map(|(t, part)| {
                // Each part lies between 0 and `amount` (or `amount` and 0), so it fits.
                (t.name.clone(), t.milestone, part as i64)
            })
            .collect()
    }

    /// When probation ends for a hire who started at `start`: the moment the
    /// `probation_complete` milestone falls due and its timer should fire.
    ///
    /// Saturates at the latest representable time instead of panicking if the
    /// sum overflows, which only an unvalidated rule can cause.
    pub fn probation_due(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        TimeDelta::from_std(self.probation)
            .ok()
            .and_then(|delta| start.checked_add_signed(delta))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// This rule's problems, each prefixed with its configuration path.
    fn problems(&self, index: usize, out: &mut Vec<String>) {
        let at = format!("{CONFIG_PATH}[{index}]");

        if self.id.trim().is_empty() {
            out.push(format!("{at}.id: must not be empty"));
        }
        if self.amount_minor <= 0 {
            out.push(format!(
                "{at}.amount_minor: must be greater than 0, got {}",
                self.amount_minor
            ));
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            out.push(format!(
                "{at}.currency: must be an ISO 4217 code of 3 uppercase letters, got {:?}",
                self.currency
            ));
        }
        if self.probation.is_zero() {
            // A zero probation would pay the probation tranche at the start
            // date, which is never what a programme means.
            out.push(format!("{at}.probation: must be greater than 0"));
        } else if self.probation > MAX_PROBATION {
            out.push(format!(
                "{at}.probation: must be at most 10 years, got {}",
                humantime_serde::re::humantime::format_duration(self.probation)
            ));
        }

        if self.tranches.is_empty() {
            out.push(format!("{at}.tranches: at least one tranche is required"));
            return;
        }
        let sum: u32 = self.tranches.iter().map(|t| u32::from(t.percent)).sum();
        if sum != 100 {
            out.push(format!(
                "{at}.tranches: percents must sum to 100, got {sum}"
            ));
        }
        for (j, tranche) in self.tranches.iter().enumerate() {
            let tat = format!("{at}.tranches[{j}]");
            if tranche.name.trim().is_empty() {
                out.push(format!("{tat}.name: must not be empty"));
            } else if self.tranches[..j].iter().any(|t| t.name == tranche.name) {
                out.push(format!(
                    "{tat}.name: duplicate tranche name {:?} (the ledger allows one payout per referral and tranche)",
                    tranche.name
                ));
            }
            if tranche.percent == 0 {
                // A 0 % tranche would create ledger rows and bonus POSTs for
                // nothing; leave the tranche out instead.
                out.push(format!("{tat}.percent: must be greater than 0"));
            }
            if self.tranches[..j]
                .iter()
                .any(|t| t.milestone == tranche.milestone)
            {
                // Milestones are unique per application and the outbound
                // idempotency key is `{referral_id}:{milestone}`, so two
                // tranches on one milestone would collide at the receiver.
                out.push(format!(
                    "{tat}.milestone: another tranche of this rule already waits for {:?}",
                    tranche.milestone
                ));
            }
        }
    }
}

/// The ordered bonus schedule: the rules in configuration order.
///
/// Deserialises from (and serialises to) a plain array of rules, so it can sit
/// directly under `[[payouts.rules]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BonusRules(Vec<BonusRule>);

impl BonusRules {
    /// Wraps rules in the order they should be tried. Call
    /// [`validate`](Self::validate) before using them for payouts.
    pub fn new(rules: Vec<BonusRule>) -> Self {
        Self(rules)
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[BonusRule] {
        &self.0
    }

    /// Checks everything that deserialising cannot: returns every problem at
    /// once (not just the first), each naming its configuration path, e.g.
    /// `payouts.rules[0].tranches: percents must sum to 100, got 90`, so an
    /// operator can fix the file in one go. Run it at start-up and refuse to
    /// start on `Err`; a bad rule found at payout time would mean a wrong or
    /// missing bonus.
    ///
    /// Checked: unique, non-empty rule ids; `amount_minor > 0`; currency of
    /// three uppercase letters; a probation greater than zero (and at most 10
    /// years); at least one tranche; percents summing to 100, each above zero;
    /// unique, non-empty tranche names and at most one tranche per milestone
    /// within a rule.
    ///
    /// An empty list is valid: no job earns a bonus.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (index, rule) in self.0.iter().enumerate() {
            if !rule.id.trim().is_empty() && self.0[..index].iter().any(|r| r.id == rule.id) {
                problems.push(format!(
                    "{CONFIG_PATH}[{index}].id: duplicate rule id {:?}",
                    rule.id
                ));
            }
            rule.problems(index, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The rule that applies to `job`: the **first** rule, in configuration
    /// order, whose [`when`](BonusRule::when) matches. `None` means the job
    /// earns no bonus (no rule, not even a catch-all, covers it).
    ///
    /// First match (not best match) keeps the outcome predictable from reading
    /// the file top to bottom: specific tiers first, a catch-all last.
    pub fn select(&self, job: &JobFacts) -> Option<&BonusRule> {
        self.0.iter().find(|rule| rule.when.matches(job))
    }
}

impl BonusRules {
    /// The rule that prices `job`, or why none can be chosen: like
    /// [`select`](Self::select), first match wins, but a rule that depends
    /// on a fact the job lacks (the ATS does not say its level, say) and
    /// comes before the first that applies makes the choice
    /// [`Choice::Undecided`] instead of silently falling through to a
    /// later rule (a catch-all): a Senior job whose level is unknown must
    /// not be paid the catch-all amount as if it were known not to be
    /// Senior.
    pub fn choose(&self, job: &JobFacts) -> Choice<'_> {
        for (index, rule) in self.0.iter().enumerate() {
            match rule.when.fit(job) {
                Fit::Yes => return Choice::Rule(rule),
                Fit::No => {}
                Fit::Unknown(missing) => {
                    let fallback = self.0[index + 1..].iter().find(|r| r.when.matches(job));
                    return Choice::Undecided {
                        rule,
                        missing,
                        fallback,
                    };
                }
            }
        }
        Choice::NoRule
    }

    /// The job facts any rule depends on: when empty, no job needs to be
    /// read from its ATS to be priced.
    pub fn facts(&self) -> Vec<Fact> {
        let mut all: Vec<Fact> = Vec::new();
        for fact in self.0.iter().flat_map(|r| r.when.facts()) {
            if !all.contains(&fact) {
                all.push(fact);
            }
        }
        all
    }
}

impl From<Vec<BonusRule>> for BonusRules {
    fn from(rules: Vec<BonusRule>) -> Self {
        Self(rules)
    }
}

impl Default for BonusRules {
    /// [`default_rules`].
    fn default() -> Self {
        default_rules()
    }
}

/// A single catch-all rule: 1 000.00 EUR (`100000` minor units), 50 % at hire
/// and 50 % at probation completion after 90 days, referrer must still be
/// employed, no manual approval.
///
/// This exists so a development setup works out of the box and the tests have
/// a baseline. It is **not** anyone's bonus policy: real deployments configure
/// their own `[[payouts.rules]]` with their amounts, currency and tiers.
pub fn default_rules() -> BonusRules {
    BonusRules(vec![BonusRule {
        id: "default".to_owned(),
        when: RuleMatch::default(),
        amount_minor: 100_000,
        currency: "EUR".to_owned(),
        tranches: vec![
            Tranche {
                name: "hire".to_owned(),
                milestone: Milestone::Hire,
                percent: 50,
            },
            Tranche {
                name: "probation".to_owned(),
                milestone: Milestone::ProbationComplete,
                percent: 50,
            },
        ],
        probation: DEFAULT_PROBATION,
        require_active_referrer: true,
        require_approval: false,
    }])
}

#[cfg(test)]
mod tests;
