//! Tests of `payout/rules.rs`.

use super::*;
use proptest::prelude::*;

fn tranche(name: &str, milestone: Milestone, percent: u8) -> Tranche {
    Tranche {
        name: name.to_owned(),
        milestone,
        percent,
    }
}

fn rule(id: &str, when: RuleMatch) -> BonusRule {
    BonusRule {
        id: id.to_owned(),
        when,
        ..default_rules().0.remove(0)
    }
}

fn job(id: &str, level: Option<&str>, dept: Option<&str>, loc: Option<&str>) -> JobFacts {
    JobFacts {
        job_id: id.to_owned(),
        job_level: level.map(str::to_owned),
        department: dept.map(str::to_owned),
        location: loc.map(str::to_owned),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn tiered() -> BonusRules {
    BonusRules::new(vec![
        rule(
            "special-job",
            RuleMatch {
                job_ids: strings(&["JOB-42"]),
                ..RuleMatch::default()
            },
        ),
        rule(
            "senior-eng-berlin",
            RuleMatch {
                job_levels: strings(&["Senior", "Staff"]),
                departments: strings(&["Engineering"]),
                locations: strings(&["Berlin", "München"]),
                ..RuleMatch::default()
            },
        ),
        rule(
            "senior",
            RuleMatch {
                job_levels: strings(&["senior"]),
                ..RuleMatch::default()
            },
        ),
        rule("catch-all", RuleMatch::default()),
    ])
}

fn selected(rules: &BonusRules, job: &JobFacts) -> Option<String> {
    rules.select(job).map(|r| r.id.clone())
}

#[test]
fn first_matching_rule_wins_in_order() {
    let rules = tiered();
    // Matches "senior-eng-berlin", "senior" and "catch-all": the first wins.
    let j = job("1", Some("senior"), Some("Engineering"), Some("Berlin"));
    assert_eq!(selected(&rules, &j).as_deref(), Some("senior-eng-berlin"));
    // A job id rule placed first beats every tier.
    let j = job(
        "JOB-42",
        Some("senior"),
        Some("Engineering"),
        Some("Berlin"),
    );
    assert_eq!(selected(&rules, &j).as_deref(), Some("special-job"));
    // Wrong location: falls through to the next matching tier.
    let j = job("1", Some("senior"), Some("Engineering"), Some("Paris"));
    assert_eq!(selected(&rules, &j).as_deref(), Some("senior"));
}

#[test]
fn order_is_configuration_order_not_specificity() {
    let mut list = tiered().0;
    list.reverse(); // catch-all now first
    let rules = BonusRules::new(list);
    let j = job(
        "JOB-42",
        Some("senior"),
        Some("Engineering"),
        Some("Berlin"),
    );
    assert_eq!(selected(&rules, &j).as_deref(), Some("catch-all"));
}

#[test]
fn matching_ignores_case_and_outer_whitespace() {
    let rules = tiered();
    let j = job("1", Some("SENIOR"), Some(" engineering "), Some("MÜNCHEN"));
    assert_eq!(selected(&rules, &j).as_deref(), Some("senior-eng-berlin"));
    let j = job("job-42", None, None, None);
    assert_eq!(selected(&rules, &j).as_deref(), Some("special-job"));
}

#[test]
fn catch_all_matches_jobs_with_no_facts() {
    let rules = tiered();
    let j = job("7", None, None, None);
    assert_eq!(selected(&rules, &j).as_deref(), Some("catch-all"));
    assert!(rules.select(&j).is_some_and(|r| r.when.is_any()));
}

#[test]
fn missing_fact_does_not_match_a_constrained_rule() {
    let mut list = tiered().0;
    list.pop(); // no catch-all
    let rules = BonusRules::new(list);
    // Level unknown: "senior" must not apply.
    assert_eq!(
        selected(&rules, &job("1", None, Some("Engineering"), None)),
        None
    );
}

#[test]
fn no_match_is_none() {
    let rules = BonusRules::new(vec![rule(
        "sales",
        RuleMatch {
            departments: strings(&["Sales"]),
            ..RuleMatch::default()
        },
    )]);
    assert_eq!(
        selected(&rules, &job("1", None, Some("Engineering"), None)),
        None
    );
    assert_eq!(
        BonusRules::new(vec![]).select(&job("1", None, None, None)),
        None
    );
}

#[test]
fn default_rules_are_a_valid_catch_all() {
    let rules = default_rules();
    assert_eq!(rules.validate(), Ok(()));
    assert_eq!(rules, BonusRules::default());
    let r = rules
        .select(&job("any", None, None, None))
        .expect("catch-all");
    assert_eq!(r.amount_minor, 100_000);
    assert_eq!(r.currency, "EUR");
    assert_eq!(r.probation, Duration::from_secs(90 * 86_400));
    assert!(r.require_active_referrer);
    assert!(!r.require_approval);
    assert_eq!(
        r.tranche_amounts(),
        vec![
            ("hire".to_owned(), Milestone::Hire, 50_000),
            ("probation".to_owned(), Milestone::ProbationComplete, 50_000),
        ]
    );
}

#[test]
fn validation_names_each_problem_with_its_path() {
    let mut bad = rule("a", RuleMatch::default());
    bad.amount_minor = 0;
    bad.currency = "eur".to_owned();
    bad.probation = Duration::ZERO;
    bad.tranches = vec![
        tranche("hire", Milestone::Hire, 50),
        tranche("hire", Milestone::ProbationComplete, 40),
    ];
    let mut dup = rule("a", RuleMatch::default());
    dup.tranches.clear();
    let mut zero = rule("b", RuleMatch::default());
    zero.tranches = vec![
        tranche("hire", Milestone::Hire, 100),
        tranche("", Milestone::Hire, 0),
    ];
    let problems = BonusRules::new(vec![bad, dup, zero])
        .validate()
        .expect_err("invalid");

    let expected = [
        "payouts.rules[0].amount_minor: must be greater than 0",
        "payouts.rules[0].currency: must be an ISO 4217 code",
        "payouts.rules[0].probation: must be greater than 0",
        "payouts.rules[0].tranches: percents must sum to 100, got 90",
        "payouts.rules[0].tranches[1].name: duplicate tranche name \"hire\"",
        "payouts.rules[1].id: duplicate rule id \"a\"",
        "payouts.rules[1].tranches: at least one tranche is required",
        "payouts.rules[2].tranches[1].name: must not be empty",
        "payouts.rules[2].tranches[1].percent: must be greater than 0",
        "payouts.rules[2].tranches[1].milestone: another tranche",
    ];
    for want in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn validation_checks_currency_shape_and_probation_ceiling() {
    for currency in ["EU", "EURO", "E1R", "ÉUR", ""] {
        let mut r = rule("x", RuleMatch::default());
        r.currency = currency.to_owned();
        let problems = BonusRules::new(vec![r]).validate().expect_err(currency);
        assert!(
            problems[0].starts_with("payouts.rules[0].currency:"),
            "{problems:?}"
        );
    }
    let mut r = rule("x", RuleMatch::default());
    r.probation = Duration::from_secs(11 * 366 * 86_400);
    let problems = BonusRules::new(vec![r]).validate().expect_err("too long");
    assert!(problems[0].starts_with("payouts.rules[0].probation: must be at most"));
}

#[test]
fn split_gives_leftover_cents_to_largest_remainders() {
    let mut r = rule("x", RuleMatch::default());
    r.amount_minor = 100_001; // 1 000.01
    let amounts: Vec<i64> = r.tranche_amounts().into_iter().map(|t| t.2).collect();
    // Equal remainders: the earlier tranche gets the cent.
    assert_eq!(amounts, vec![50_001, 50_000]);

    r.amount_minor = 100;
    r.tranches = vec![
        tranche("a", Milestone::Hire, 33),
        tranche("b", Milestone::ProbationComplete, 67),
    ];
    let amounts: Vec<i64> = r.tranche_amounts().into_iter().map(|t| t.2).collect();
    assert_eq!(amounts, vec![33, 67]);

    r.amount_minor = 10; // exact 3.3 and 6.7: the 0.7 remainder wins
    let amounts: Vec<i64> = r.tranche_amounts().into_iter().map(|t| t.2).collect();
    assert_eq!(amounts, vec![3, 7]);
}

#[test]
fn split_of_unvalidated_rule_does_not_panic() {
    let mut r = rule("x", RuleMatch::default());
    r.tranches = vec![tranche("a", Milestone::Hire, 0)];
    assert_eq!(r.tranche_amounts()[0].2, 0);
    r.tranches = vec![
        tranche("a", Milestone::Hire, 200),
        tranche("b", Milestone::ProbationComplete, 100),
    ];
    r.amount_minor = i64::MAX;
    let sum: i128 = r.tranche_amounts().iter().map(|t| i128::from(t.2)).sum();
    assert_eq!(sum, i128::from(i64::MAX));
}

#[test]
fn probation_due_adds_the_probation_period() {
    let start = DateTime::parse_from_rfc3339("2025-01-15T09:00:00Z")
        .expect("date")
        .with_timezone(&Utc);
    let r = rule("x", RuleMatch::default());
    let due = DateTime::parse_from_rfc3339("2025-04-15T09:00:00Z")
        .expect("date")
        .with_timezone(&Utc);
    assert_eq!(r.probation_due(start), due); // 90 days later

    let mut fast = r.clone();
    fast.probation = Duration::from_secs(5);
    assert_eq!(fast.probation_due(start), start + TimeDelta::seconds(5));

    let mut absurd = r;
    absurd.probation = Duration::MAX;
    assert_eq!(absurd.probation_due(start), DateTime::<Utc>::MAX_UTC);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Config {
    payouts: Payouts,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Payouts {
    rules: BonusRules,
}

const SNIPPET: &str = r#"
    [[payouts.rules]]
    id = "engineering-senior"
    when = { job_levels = ["senior", "staff"], departments = ["Engineering"] }
    amount_minor = 300000
    currency = "EUR"
    probation = "180days"
    require_approval = true
    tranches = [
      { name = "hire", milestone = "hire", percent = 50 },
      { name = "probation", milestone = "probation_complete", percent = 50 },
    ]

    [[payouts.rules]]
    id = "everyone-else"
    amount_minor = 100000
    currency = "USD"
    tranches = [{ name = "probation", milestone = "probation_complete", percent = 100 }]

    [[payouts.rules]]
    id = "test-fast"
    when.job_ids = ["T-1"]
    amount_minor = 1
    currency = "EUR"
    probation = "30s"
    require_active_referrer = false
    tranches = [{ name = "hire", milestone = "hire", percent = 100 }]
"#;

#[test]
fn deserialises_from_toml_with_defaults_and_round_trips() {
    let config: Config = toml::from_str(SNIPPET).expect("parse");
    let rules = &config.payouts.rules;
    assert_eq!(rules.validate(), Ok(()));
    let r = rules.rules();
    assert_eq!(r.len(), 3);

    assert_eq!(r[0].when.job_levels, strings(&["senior", "staff"]));
    assert_eq!(r[0].probation, Duration::from_secs(180 * 86_400));
    assert!(r[0].require_approval);
    assert!(r[0].require_active_referrer, "defaults to true");
    assert_eq!(r[0].tranches[1].milestone, Milestone::ProbationComplete);

    assert!(r[1].when.is_any(), "absent `when` is a catch-all");
    assert_eq!(r[1].probation, Duration::from_secs(90 * 86_400), "default");
    assert!(!r[1].require_approval, "defaults to false");

    assert_eq!(r[2].probation, Duration::from_secs(30));
    assert!(!r[2].require_active_referrer);

    let j = job("X", Some("Staff"), Some("engineering"), None);
    assert_eq!(selected(rules, &j).as_deref(), Some("engineering-senior"));

    let text = toml::to_string(&config).expect("serialise");
    let again: Config = toml::from_str(&text).expect("reparse");
    assert_eq!(again, config, "round trip through:\n{text}");
}

#[test]
fn unknown_keys_are_rejected() {
    // `job_level` (singular) would otherwise silently make a catch-all.
    let snippet = SNIPPET.replacen("job_levels", "job_level", 1);
    let err = toml::from_str::<Config>(&snippet).expect_err("typo");
    assert!(err.to_string().contains("job_level"), "{err}");

    let snippet = SNIPPET.replacen("\"probation_complete\"", "\"probation\"", 1);
    assert!(toml::from_str::<Config>(&snippet).is_err());
}

/// Percent vectors of 1..=6 parts summing to exactly 100, zeros allowed.
fn percents() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..=100, 0..6).prop_map(|mut cuts| {
        // Cut points on 0..=100 give parts that sum to 100 by construction.
        cuts.sort_unstable();
        let mut parts = Vec::with_capacity(cuts.len() + 1);
        let mut previous = 0u8;
        for cut in cuts {
            parts.push(cut - previous);
            previous = cut;
        }
        parts.push(100 - previous);
        parts
    })
}

proptest! {
    #[test]
    fn split_sums_exactly_and_stays_within_one_unit(
        amount in prop_oneof![0i64..1_000, 0i64..=i64::MAX],
        percents in percents(),
    ) {
        let mut r = rule("p", RuleMatch::default());
        r.amount_minor = amount;
        r.tranches = percents
            .iter()
            .enumerate()
            .map(|(i, p)| tranche(&format!("t{i}"), Milestone::Hire, *p))
            .collect();

        let split = r.tranche_amounts();
        prop_assert_eq!(split.len(), percents.len());
        let sum: i128 = split.iter().map(|t| i128::from(t.2)).sum();
        prop_assert_eq!(sum, i128::from(amount));

        for ((name, _, part), (i, p)) in split.iter().zip(percents.iter().enumerate()) {
            prop_assert_eq!(name, &format!("t{i}"));
            prop_assert!(*part >= 0);
            // |part - amount * p / 100| < 1  <=>  |part * 100 - amount * p| < 100
            let diff = i128::from(*part) * 100 - i128::from(amount) * i128::from(*p);
            prop_assert!(diff.abs() < 100, "part {} for {}% of {}", part, p, amount);
        }
        // Deterministic: recomputing months later gives the same split.
        prop_assert_eq!(r.tranche_amounts(), split);
    }
}

fn chosen(rules: &BonusRules, job: &JobFacts) -> String {
    match rules.choose(job) {
        Choice::Rule(r) => format!("rule {}", r.id),
        Choice::NoRule => "no rule".into(),
        Choice::Undecided {
            rule,
            missing,
            fallback,
        } => format!(
            "undecided {} on {missing:?}, fallback {:?}",
            rule.id,
            fallback.map(|r| r.id.as_str())
        ),
    }
}

#[test]
fn a_tier_is_chosen_on_the_facts_the_ats_gives() {
    let rules = tiered();
    let senior = job("1", Some("Senior"), Some("Sales"), Some("Paris"));
    assert_eq!(chosen(&rules, &senior), "rule senior");
    let berlin = job("1", Some("Staff"), Some("Engineering"), Some("Berlin"));
    assert_eq!(chosen(&rules, &berlin), "rule senior-eng-berlin");
    // Known not to be Senior: the catch-all, decided.
    let junior = job("1", Some("Junior"), None, None);
    assert_eq!(chosen(&rules, &junior), "rule catch-all");
}

#[test]
fn a_level_the_ats_does_not_say_leaves_the_tier_undecided_not_the_catch_all() {
    let rules = tiered();
    // `select` would fall through to the catch-all; `choose` refuses to.
    let unknown = job("1", None, Some("Sales"), Some("Paris"));
    assert_eq!(selected(&rules, &unknown).as_deref(), Some("catch-all"));
    assert_eq!(
        chosen(&rules, &unknown),
        "undecided senior on [Level], fallback Some(\"catch-all\")"
    );
    // A rule ruled out by a fact the job has is not undecided by the
    // facts it lacks: "senior-eng-berlin" fails on Paris.
    let nothing = job("1", None, None, None);
    assert_eq!(
        chosen(&rules, &nothing),
        "undecided senior-eng-berlin on [Level, Department, Location], fallback Some(\"catch-all\")"
    );
    // A job id rule decides without any other fact.
    assert_eq!(
        chosen(&rules, &job("JOB-42", None, None, None)),
        "rule special-job"
    );
}

#[test]
fn undecided_without_a_catch_all_has_no_fallback_and_no_match_is_no_rule() {
    let rules = BonusRules::new(vec![rule(
        "eng",
        RuleMatch {
            departments: strings(&["Engineering"]),
            ..RuleMatch::default()
        },
    )]);
    assert_eq!(
        chosen(&rules, &job("1", None, None, None)),
        "undecided eng on [Department], fallback None"
    );
    assert_eq!(
        chosen(&rules, &job("1", None, Some("Sales"), None)),
        "no rule"
    );
}

#[test]
fn the_facts_rules_depend_on_say_whether_the_ats_must_be_asked() {
    assert!(default_rules().facts().is_empty());
    assert_eq!(
        tiered().facts(),
        vec![Fact::Level, Fact::Department, Fact::Location]
    );
}
