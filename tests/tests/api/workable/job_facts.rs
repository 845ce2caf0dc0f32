//! Bonus tiers on Workable jobs: the job is read from
//! `GET /jobs/:shortcode` (its `department`, its location's `city`) when a
//! rule depends on them, once per job, and chooses the tier as Greenhouse,
//! Lever and Ashby jobs do; a job Workable does not have (404) leaves the
//! tier undecided, so its payouts wait for approval with the reason
//! instead of being paid the catch-all amount.

use std::time::Duration;

use entities::{inbox::InboxStatus, payout::PayoutState};
use jobs::payout::rules::{BonusRule, BonusRules, RuleMatch, default_rules};
use sea_orm::DatabaseConnection;
use tests::{
    app::{Setup, TestApp},
    destinations::BONUS_SECRET,
    fixtures::{
        application_by_ats_id, mint_link, payouts, put_employee, referrals, spawn_capture_app,
        wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::workable::{FakeWorkable, TOKEN_TAG_PREFIX, WorkableCandidate, post_workable, stored},
};
use worker::config::Settings;

use super::workable_at;

/// A day: only the hire tranches are paid during the test.
const PROBATION: Duration = Duration::from_secs(24 * 3600);

fn tier(id: &str, when: RuleMatch, amount_minor: i64) -> BonusRule {
    let mut rule = default_rules().rules()[0].clone();
    rule.id = id.into();
    rule.when = when;
    rule.amount_minor = amount_minor;
    rule.probation = PROBATION;
    rule
}

/// Engineering 2 000.00, Munich 1 500.00, everyone else 1 000.00 (EUR),
/// half at hire.
fn tiered(s: &mut Settings) {
    s.payouts.rules = BonusRules::new(vec![
        tier(
            "engineering",
            RuleMatch {
                departments: vec!["Engineering".into()],
                ..RuleMatch::default()
            },
            200_000,
        ),
        tier(
            "munich",
            RuleMatch {
                locations: vec!["Munich".into()],
                ..RuleMatch::default()
            },
            150_000,
        ),
        tier("everyone-else", RuleMatch::default(), 100_000),
    ]);
}

/// Candidate `id` (a person of their own: own email, phone
/// `+49301234567{n}`), referred through a link for `job`, hired as the
/// Workable API states it. Returns our application id.
async fn referred_and_hired(app: &TestApp, fake: &FakeWorkable, id: &str, job: &str, n: u8) -> i64 {
    let token = mint_link(app, "E-TIER", job).await;
    let mut candidate = WorkableCandidate::new(id, job, &format!("{id}@example.org"));
    candidate.phone = format!("+49301234567{n}");
    candidate.tags = vec![format!("{TOKEN_TAG_PREFIX}{token}")];
    fake.put_candidate(&candidate);
    let created = stored(post_workable(app, &candidate.delivery("candidate_created")).await).await;
    wait_inbox(app, created, InboxStatus::Processed).await;
    fake.edit_candidate(id, |c| {
        c["stage"] = "hired".into();
        c["stage_kind"] = "hired".into();
        c["hired_at"] = chrono::Utc::now().to_rfc3339().into();
    });
    let moved = stored(post_workable(app, &candidate.delivery("candidate_moved")).await).await;
    wait_inbox(app, moved, InboxStatus::Processed).await;
    application_by_ats_id(&app.state.db, id)
        .await
        .expect("the application")
        .id
}

/// The hire tranche of the referral on application `application_id`.
async fn hire_tranche(
    db: &DatabaseConnection,
    application_id: i64,
) -> Option<entities::payout::Model> {
    let referral = referrals(db)
        .await
        .into_iter()
        .find(|r| r.application_id == Some(application_id))?;
    payouts(db)
        .await
        .into_iter()
        .find(|p| p.referral_id == referral.id && p.tranche == "hire")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workable_jobs_department_and_city_choose_the_tier_and_a_job_it_lacks_waits_for_approval()
{
    let fake = FakeWorkable::start().await;
    fake.put_job("ENG001", "Engineering", "Berlin");
    fake.put_job("OPS001", "Operations", "Munich");
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let (base, bonus) = (fake.ats.base_url.clone(), receiver.url("/bonus"));
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        workable_at(s, &base, &bonus, PROBATION);
        tiered(s);
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-TIER", "tier.referrer@acme-example.com", true).await;

    let eng = referred_and_hired(app, &fake, "wk-eng", "ENG001", 1).await;
    let ops = referred_and_hired(app, &fake, "wk-ops", "OPS001", 2).await;
    let unknown = referred_and_hired(app, &fake, "wk-unknown", "GONE001", 3).await;

    for (application_id, rule, amount) in [(eng, "engineering", 100_000), (ops, "munich", 75_000)] {
        wait_until("the hire tranche delivered", || async {
            hire_tranche(db, application_id)
                .await
                .is_some_and(|p| p.state == PayoutState::Delivered)
        })
        .await;
        let p = hire_tranche(db, application_id)
            .await
            .expect("hire tranche");
        assert_eq!(p.rule_id.as_deref(), Some(rule), "{p:?}");
        assert_eq!(p.amount_minor, amount, "{p:?}");
        assert!(!p.needs_approval, "{p:?}");
    }
    let stored = application_by_ats_id(db, "wk-ops").await.expect("stored");
    assert_eq!(stored.department.as_deref(), Some("Operations"));
    assert_eq!(stored.location.as_deref(), Some("Munich"));
    assert_eq!(stored.job_level, None, "Workable's job has no level");

    // A job Workable does not have: nothing known, so no tier is chosen.
    wait_until("the unknown job's hire tranche made", || async {
        hire_tranche(db, unknown).await.is_some()
    })
    .await;
    let waiting = hire_tranche(db, unknown).await.expect("hire tranche");
    assert!(waiting.needs_approval, "{waiting:?}");
    assert_eq!(waiting.state, PayoutState::Eligible, "{waiting:?}");
    let reason = waiting.reason.clone().unwrap_or_default();
    assert!(reason.contains("GONE001"), "{reason}");
    assert!(reason.contains("department"), "{reason}");

    let reads = |code: &str| {
        fake.ats
            .seen()
            .iter()
            .filter(|s| s.method == "GET" && s.path.ends_with(&format!("/jobs/{code}")))
            .count()
    };
    assert_eq!(reads("ENG001"), 1, "each job is read once and cached");
    assert_eq!(reads("OPS001"), 1);
    assert_eq!(receiver.requests().len(), 2, "two hire tranches, once each");
    world.cleanup().await;
}
