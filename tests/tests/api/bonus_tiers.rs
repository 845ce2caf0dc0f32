//! Bonus rules that see the job, and one referral per application, end to
//! end against the fake Lever ([`tests::vendors::lever`]), whose postings
//! carry Lever's `categories` (level, department, location):
//!
//! * a tiered schedule pays a Senior posting the Senior amount and an
//!   Engineering posting the Engineering amount, the posting read once;
//! * a posting whose level Lever does not say (or that Lever cannot find)
//!   is never paid the catch-all amount silently: its payouts wait for
//!   approval with the reason, which ops see;
//! * a referrer who left before the hire earns an `ineligible` payout,
//!   with the reason;
//! * the same employee referring the same candidate for a second job
//!   gets a second referral, paid once for its own hire, while the first
//!   job's referral is left alone.

use std::time::Duration;

use chrono::Utc;
use entities::{
    inbox::InboxStatus,
    payout::{self, PayoutState},
    referral::ReferralState,
};
use jobs::payout::rules::{BonusRule, BonusRules, RuleMatch, default_rules};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{
    app::Setup,
    destinations::BONUS_SECRET,
    fixtures::{
        CaptureApp, CareersApplication, accepted, api_post, application_by_ats_id, lever_body,
        lever_hired, lever_opportunity, mint_link, payouts, post_careers_site, post_lever,
        processed, put_employee, referrals, spawn_capture_app, tokens, unique, wait_inbox,
        wait_until,
    },
    receiver::Receiver,
};
use worker::config::{Secret, Settings};

tests::both_setups!(
    a_senior_posting_pays_the_senior_tier_and_an_engineering_one_the_engineering_tier,
    a_level_lever_does_not_say_waits_for_approval_with_the_reason_not_the_catch_all,
    an_ex_employee_referrer_earns_ineligible_payouts_with_the_reason,
    a_second_job_referral_is_paid_once_for_its_own_hire,
);

const BONUS_PATH: &str = "/bonus";

/// A rule of the default shape (50 % at hire, 50 % after `probation`).
fn tier(id: &str, when: RuleMatch, amount_minor: i64, probation: Duration) -> BonusRule {
    let mut rule = default_rules().rules()[0].clone();
    rule.id = id.into();
    rule.when = when;
    rule.amount_minor = amount_minor;
    rule.probation = probation;
    rule
}

/// Senior 3 000.00, Engineering 2 000.00, everyone else 1 000.00 (EUR).
fn tiered(probation: Duration) -> BonusRules {
    BonusRules::new(vec![
        tier(
            "senior",
            RuleMatch {
                job_levels: vec!["Senior".into()],
                ..RuleMatch::default()
            },
            300_000,
            probation,
        ),
        tier(
            "engineering",
            RuleMatch {
                departments: vec!["Engineering".into()],
                ..RuleMatch::default()
            },
            200_000,
            probation,
        ),
        tier("everyone-else", RuleMatch::default(), 100_000, probation),
    ])
}

fn pay_to(s: &mut Settings, receiver: &Receiver, rules: BonusRules) {
    s.payouts.rules = rules;
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.payouts.destination_url = receiver.url(BONUS_PATH);
    s.payouts.destination_secret = Secret::new(BONUS_SECRET);
}

async fn bonus_receiver() -> Receiver {
    Receiver::builder()
        .secret(BONUS_SECRET)
        .path(BONUS_PATH)
        .start()
        .await
}

/// One Lever candidacy: contact, opportunity, posting, email.
struct Candidacy<'a> {
    contact: &'a str,
    opp: &'a str,
    posting: &'a str,
    email: &'a str,
}

impl Candidacy<'_> {
    fn opportunity(&self, stage: &str) -> Value {
        lever_opportunity(
            self.opp,
            self.contact,
            self.email,
            stage,
            self.posting,
            Utc::now(),
        )
    }
}

/// Delivers a signed Lever `event` about `opp` and waits until processed.
async fn deliver(world: &CaptureApp, event: &str, opp: &str) {
    let body = serde_json::to_vec(&lever_body(event, opp)).expect("json");
    let id = accepted(post_lever(&world.app, &body).await).await.inbox_id;
    wait_inbox(&world.app, id, InboxStatus::Processed).await;
}

/// `referrer` refers the candidacy through a link for its posting (a
/// careers-site submission), then Lever's opportunity arrives at Offer:
/// the referral lands on the Lever application. Returns that
/// application's id.
async fn referred(world: &CaptureApp, referrer: &str, c: &Candidacy<'_>) -> i64 {
    let app = &world.app;
    let token = mint_link(app, referrer, c.posting).await;
    let mut submission = CareersApplication::new(c.posting, c.email)
        .referred_by(&token)
        .json();
    submission["job"]["ats"] = "lever".into();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;
    world.lever.set_opportunity(c.opp, c.opportunity("Offer"));
    deliver(world, "candidateStageChange", c.opp).await;
    application_by_ats_id(world.db(), c.opp)
        .await
        .expect("the Lever application")
        .id
}

/// Lever archives the opportunity as hired and says so.
async fn hire(world: &CaptureApp, c: &Candidacy<'_>) {
    world
        .lever
        .set_opportunity(c.opp, lever_hired(c.opportunity("Hired")));
    deliver(world, "candidateHired", c.opp).await;
}

/// The payouts of the referral on application `application_id`.
async fn payouts_of(db: &DatabaseConnection, application_id: i64) -> Vec<payout::Model> {
    let referral_ids: Vec<i64> = referrals(db)
        .await
        .into_iter()
        .filter(|r| r.application_id == Some(application_id))
        .map(|r| r.id)
        .collect();
    payouts(db)
        .await
        .into_iter()
        .filter(|p| referral_ids.contains(&p.referral_id))
        .collect()
}

async fn hire_tranche(db: &DatabaseConnection, application_id: i64) -> Option<payout::Model> {
    payouts_of(db, application_id)
        .await
        .into_iter()
        .find(|p| p.tranche == "hire")
}

async fn a_senior_posting_pays_the_senior_tier_and_an_engineering_one_the_engineering_tier(
    setup: Setup,
) {
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(setup, |s| {
        pay_to(s, &receiver, tiered(Duration::from_secs(30 * 86_400)));
    })
    .await;
    let db = world.db();
    put_employee(&world.app, "E-TIER", "tier.referrer@acme-example.com", true).await;
    world.lever.set_posting(
        "posting-senior",
        Some("Senior"),
        Some("Sales"),
        Some("Paris"),
    );
    world.lever.set_posting(
        "posting-eng",
        Some("Mid"),
        Some("Engineering"),
        Some("Berlin"),
    );
    let senior = Candidacy {
        contact: "contact-senior",
        opp: "opp-senior",
        posting: "posting-senior",
        email: "senior.hire@example.org",
    };
    let eng = Candidacy {
        contact: "contact-eng",
        opp: "opp-eng",
        posting: "posting-eng",
        email: "eng.hire@example.org",
    };
    let senior_app = referred(&world, "E-TIER", &senior).await;
    let eng_app = referred(&world, "E-TIER", &eng).await;
    hire(&world, &senior).await;
    hire(&world, &eng).await;
    // Lever fans a hire out; the second sync reads the cached posting.
    deliver(&world, "candidateStageChange", senior.opp).await;

    for (application_id, rule, amount) in [
        (senior_app, "senior", 150_000),
        (eng_app, "engineering", 100_000),
    ] {
        wait_until("the hire tranche delivered", || async {
            hire_tranche(db, application_id)
                .await
                .is_some_and(|p| p.state == PayoutState::Delivered)
        })
        .await;
        let rows = payouts_of(db, application_id).await;
        assert_eq!(rows.len(), 2, "{rows:#?}");
        for p in &rows {
            assert_eq!(p.rule_id.as_deref(), Some(rule), "{p:?}");
            assert_eq!(p.amount_minor, amount, "{p:?}");
            assert!(!p.needs_approval, "{p:?}");
        }
    }
    let stored = application_by_ats_id(db, senior.opp).await.unwrap();
    assert_eq!(stored.job_level.as_deref(), Some("Senior"));
    assert_eq!(stored.department.as_deref(), Some("Sales"));
    assert_eq!(stored.location.as_deref(), Some("Paris"));
    assert_eq!(
        world
            .lever
            .ats
            .requests("GET", "/v1/postings/posting-senior")
            .len(),
        1,
        "the posting is read once and cached"
    );
    assert_eq!(receiver.requests().len(), 2, "two hire tranches, once each");
    world.cleanup().await;
}

async fn a_level_lever_does_not_say_waits_for_approval_with_the_reason_not_the_catch_all(
    setup: Setup,
) {
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(setup, |s| {
        pay_to(s, &receiver, tiered(Duration::from_secs(30 * 86_400)));
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-UNK", "unknown.level@acme-example.com", true).await;
    // No level category, and a department no tier names: only the level
    // could make it Senior, and Lever does not say it.
    world
        .lever
        .set_posting("posting-nolevel", None, Some("Sales"), Some("Paris"));
    let no_level = Candidacy {
        contact: "contact-nolevel",
        opp: "opp-nolevel",
        posting: "posting-nolevel",
        email: "no.level@example.org",
    };
    // A posting Lever does not have (404): the read fails for good.
    let gone = Candidacy {
        contact: "contact-gone",
        opp: "opp-gone",
        posting: "posting-gone",
        email: "gone.posting@example.org",
    };
    let no_level_app = referred(&world, "E-UNK", &no_level).await;
    let gone_app = referred(&world, "E-UNK", &gone).await;
    hire(&world, &no_level).await;
    hire(&world, &gone).await;

    for (application_id, cause) in [(no_level_app, None), (gone_app, Some("failed"))] {
        wait_until("the payouts made", || async {
            payouts_of(db, application_id).await.len() == 2
        })
        .await;
        for p in payouts_of(db, application_id).await {
            assert!(p.needs_approval, "{p:?}");
            assert!(
                matches!(p.state, PayoutState::Eligible | PayoutState::Pending),
                "{p:?}"
            );
            let reason = p.reason.clone().unwrap_or_default();
            assert!(reason.contains("level"), "{reason}");
            assert!(reason.contains("\"senior\""), "{reason}");
            if let Some(cause) = cause {
                assert!(reason.contains(cause), "{reason}");
            }
            // Priced by the catch-all, but only with a human's approval.
            assert_eq!(p.rule_id.as_deref(), Some("everyone-else"));
            assert_eq!(p.amount_minor, 50_000);
        }
    }

    // Ops see why: the stuck finder names it, with the reason.
    let waiting = hire_tranche(db, no_level_app).await.expect("hire tranche");
    let stuck: Value = app
        .client
        .get(app.url("/api/ops/stuck"))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("stuck")
        .json()
        .await
        .expect("json");
    let item = stuck["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["kind"] == "payout_awaiting_approval" && i["ids"]["payout_id"] == waiting.id)
        .unwrap_or_else(|| panic!("not listed: {stuck}"));
    assert!(
        item["reason"]
            .as_str()
            .is_some_and(|r| r.contains("tier undecided")),
        "{item}"
    );
    assert!(receiver.requests().is_empty(), "nothing paid on a guess");

    // Approved by ops, it is paid, once.
    let approved = api_post(
        app,
        &format!("/api/payouts/{}/approve", waiting.id),
        tokens::OPS,
        json!({ "reason": "checked: the role is mid-level" }),
    )
    .await;
    assert_eq!(approved.status(), reqwest::StatusCode::OK);
    wait_until("the approved hire tranche delivered", || async {
        hire_tranche(db, no_level_app)
            .await
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;
    assert_eq!(receiver.requests().len(), 1);
    world.cleanup().await;
}

async fn an_ex_employee_referrer_earns_ineligible_payouts_with_the_reason(setup: Setup) {
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(setup, |s| {
        pay_to(s, &receiver, tiered(Duration::from_secs(2)));
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-LEFT", "leaving.referrer@acme-example.com", true).await;
    world
        .lever
        .set_posting("posting-left", Some("Senior"), None, None);
    let c = Candidacy {
        contact: "contact-left",
        opp: "opp-left",
        posting: "posting-left",
        email: "hired.after.referrer.left@example.org",
    };
    let application_id = referred(&world, "E-LEFT", &c).await;
    assert_eq!(referrals(db).await[0].state, ReferralState::Credited);
    // The referrer leaves (the HRIS says inactive), then the hire comes.
    put_employee(app, "E-LEFT", "leaving.referrer@acme-example.com", false).await;
    hire(&world, &c).await;

    wait_until("both tranches ineligible", || async {
        let rows = payouts_of(db, application_id).await;
        rows.len() == 2 && rows.iter().all(|p| p.state == PayoutState::Ineligible)
    })
    .await;
    for p in payouts_of(db, application_id).await {
        assert_eq!(
            p.reason.as_deref(),
            Some("referrer is no longer an active employee"),
            "{p:?}"
        );
        assert_eq!(p.rule_id.as_deref(), Some("senior"));
    }
    assert!(receiver.requests().is_empty(), "an ex-employee is not paid");
    world.cleanup().await;
}

async fn a_second_job_referral_is_paid_once_for_its_own_hire(setup: Setup) {
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(setup, |s| {
        pay_to(s, &receiver, tiered(Duration::from_secs(30 * 86_400)));
    })
    .await;
    let db = world.db();
    put_employee(
        &world.app,
        "E-TWICE",
        "twice.referrer@acme-example.com",
        true,
    )
    .await;
    world
        .lever
        .set_posting("posting-first", Some("Junior"), Some("Sales"), None);
    world
        .lever
        .set_posting("posting-second", Some("Senior"), Some("Sales"), None);
    // One person (one Lever contact), referred by the same employee for
    // two postings, one after the other.
    let first = Candidacy {
        contact: "contact-twice",
        opp: "opp-first-job",
        posting: "posting-first",
        email: "referred.twice@example.org",
    };
    let second = Candidacy {
        opp: "opp-second-job",
        posting: "posting-second",
        ..first
    };
    let first_app = referred(&world, "E-TWICE", &first).await;
    let second_app = referred(&world, "E-TWICE", &second).await;

    let rows = referrals(db).await;
    assert_eq!(rows.len(), 2, "one referral per application: {rows:#?}");
    for application_id in [first_app, second_app] {
        let r = rows
            .iter()
            .find(|r| r.application_id == Some(application_id))
            .unwrap_or_else(|| panic!("no referral on {application_id}: {rows:#?}"));
        assert_eq!(r.state, ReferralState::Credited, "{r:?}");
        assert_eq!(r.employee_id, "E-TWICE");
    }
    assert_eq!(rows[0].candidate_id, rows[1].candidate_id, "one person");

    // The second job hires: its referral is paid, the first's is untouched.
    hire(&world, &second).await;
    wait_until("the second job's hire tranche delivered", || async {
        hire_tranche(db, second_app)
            .await
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let paid = hire_tranche(db, second_app).await.unwrap();
    assert_eq!(paid.rule_id.as_deref(), Some("senior"));
    assert!(payouts_of(db, first_app).await.is_empty());
    let first_referral = referrals(db)
        .await
        .into_iter()
        .find(|r| r.application_id == Some(first_app))
        .unwrap();
    assert_eq!(first_referral.state, ReferralState::Credited);

    // A re-delivered hire pays nothing more.
    deliver(&world, "candidateHired", second.opp).await;
    // Then the first job hires too (the person took both roles' offers in
    // turn): its own referral is paid, on its own tier.
    hire(&world, &first).await;
    wait_until("the first job's hire tranche delivered", || async {
        hire_tranche(db, first_app)
            .await
            .is_some_and(|p| p.state == PayoutState::Delivered)
    })
    .await;
    assert_eq!(
        hire_tranche(db, first_app)
            .await
            .unwrap()
            .rule_id
            .as_deref(),
        Some("everyone-else")
    );
    let keys: Vec<String> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 2, "each hire tranche once: {keys:?}");
    assert_ne!(keys[0], keys[1]);
    world.cleanup().await;
}
