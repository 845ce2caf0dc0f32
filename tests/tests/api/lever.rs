//! Lever end to end, against a fake Lever API
//! ([`tests::vendors::lever`]) that pages, throttles and answers like
//! Lever: only the API's state decides (a `candidateHired` proves nothing),
//! the signed offer's start date drives the probation timer, Lever's own
//! referral form credits the employee with the referrer's email, and the
//! referral token is read where the customer puts it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::{
    application::ApplicationStatus,
    inbox::InboxStatus,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::PayoutState,
    referral::{ReferralSource, ReferralState},
};
use jobs::payout::rules::{BonusRules, default_rules};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;
use tests::{
    app::Setup,
    destinations::BONUS_SECRET,
    fixtures::{
        CaptureApp, CareersApplication, accepted, application_by_ats_id, audit_with, lever_body,
        lever_hired, lever_opportunity, mint_link, payouts, post_careers_site, post_lever,
        processed, put_employee, referrals, spawn_capture_app, unique, wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::lever::{HIRED_ELSEWHERE_REASON, archived, offer, referral_form},
};
use worker::config::{Secret, Settings};

const BONUS_PATH: &str = "/bonus";
const POSTING: &str = "lever-posting-e2e";

async fn bonus_receiver() -> Receiver {
    Receiver::builder()
        .secret(BONUS_SECRET)
        .path(BONUS_PATH)
        .start()
        .await
}

/// One bonus rule with `probation`, paid to `receiver`.
fn pay_to(s: &mut Settings, receiver: &Receiver, probation: Duration) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = probation;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.payouts.destination_url = receiver.url(BONUS_PATH);
    s.payouts.destination_secret = Secret::new(BONUS_SECRET);
}

/// A Lever opportunity of `email` for [`POSTING`] at `stage`.
fn opportunity(id: &str, email: &str, stage: &str) -> Value {
    lever_opportunity(
        id,
        &format!("contact-{id}"),
        email,
        stage,
        POSTING,
        Utc::now(),
    )
}

/// Delivers a signed Lever `event` about `opp`; returns the inbox row.
async fn deliver(world: &CaptureApp, event: &str, opp: &str) -> i64 {
    let body = serde_json::to_vec(&lever_body(event, opp)).expect("json");
    accepted(post_lever(&world.app, &body).await).await.inbox_id
}

async fn milestones(db: &DatabaseConnection, application_id: i64) -> Vec<milestone::Model> {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .all(db)
        .await
        .expect("milestones")
}

async fn probation_due(db: &DatabaseConnection, application_id: i64) -> Option<DateTime<Utc>> {
    milestones(db, application_id)
        .await
        .into_iter()
        .find(|m| m.kind == MilestoneKind::ProbationComplete && m.state == MilestoneState::Armed)
        .and_then(|m| m.due_at)
}

/// A careers-site submission for the Lever posting, referred through
/// `E-LEV`'s link, then its Lever opportunity `opp` at Offer: one credited
/// referral on the Lever application, whose id is returned.
async fn referred_lever_candidate(world: &CaptureApp, opp: &str, email: &str) -> i64 {
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-LEV", "lev.referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-LEV", POSTING).await;
    let mut submission = CareersApplication::new(POSTING, email)
        .referred_by(&token)
        .json();
    submission["job"]["ats"] = "lever".into();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;
    world
        .lever
        .set_opportunity(opp, opportunity(opp, email, "Offer"));
    let id = deliver(world, "candidateStageChange", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    let lever = application_by_ats_id(db, opp)
        .await
        .expect("the Lever application");
    let credited = referrals(db).await;
    assert_eq!(credited.len(), 1, "{credited:#?}");
    assert_eq!(credited[0].application_id, Some(lever.id));
    lever.id
}

/// `candidateHired` is an unsigned event name: for an opportunity the API
/// shows active, or archived for a reason whose type is not `hired` (even
/// one labelled "Hired elsewhere"), it is recorded and changes nothing.
/// Once Lever archives it as hired, the same event pays the hire tranche.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_hired_whose_opportunity_is_not_hired_pays_nothing() {
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        pay_to(s, &receiver, Duration::from_secs(30 * 86_400));
    })
    .await;
    let (app, db) = (&world.app, world.db());
    let opp = "opp-unconfirmed-hire";
    let email = "not.hired.yet@example.org";
    let application_id = referred_lever_candidate(&world, opp, email).await;

    // Still in the pipeline, and then archived for a non-hired reason.
    let in_offer = opportunity(opp, email, "Offer");
    let elsewhere = archived(
        opportunity(opp, email, "Hired"),
        HIRED_ELSEWHERE_REASON,
        Utc::now(),
    );
    for state in [in_offer, elsewhere] {
        world.lever.set_opportunity(opp, state);
        let id = deliver(&world, "candidateHired", opp).await;
        wait_inbox(app, id, InboxStatus::Ignored).await;
    }
    let unconfirmed = audit_with(db, "lever.hire_unconfirmed").await;
    assert_eq!(unconfirmed.len(), 2, "{unconfirmed:#?}");
    assert_eq!(unconfirmed[0].data["status"], "active");
    assert_eq!(unconfirmed[1].data["status"], "closed");
    let app_row = application_by_ats_id(db, opp).await.unwrap();
    assert_eq!(app_row.status, ApplicationStatus::Active);
    assert_eq!(app_row.hired_at, None);
    assert!(milestones(db, application_id).await.is_empty());
    assert!(payouts(db).await.is_empty());
    assert!(receiver.requests().is_empty());

    // Lever archives it as hired: now the same event is a hire.
    world
        .lever
        .set_opportunity(opp, lever_hired(opportunity(opp, email, "Hired")));
    let id = deliver(&world, "candidateHired", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    assert_eq!(
        application_by_ats_id(db, opp).await.unwrap().status,
        ApplicationStatus::Hired
    );
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    assert_eq!(receiver.requests().len(), 1, "the hire tranche, once");
    assert_eq!(
        world.lever.ats.requests("GET", "/v1/archive_reasons").len(),
        1,
        "the archive reasons are read once per process"
    );
    world.cleanup().await;
}

/// Any other event re-fetches too, and a hire it finds is a hire whatever
/// the event: the API's state decides, not the event's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stage_change_about_a_hired_opportunity_is_a_hire() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let db = world.db();
    let opp = "opp-hired-by-state";
    world.lever.set_opportunity(
        opp,
        lever_hired(opportunity(opp, "state@example.org", "Hired")),
    );
    let id = deliver(&world, "candidateStageChange", opp).await;
    wait_inbox(&world.app, id, InboxStatus::Processed).await;
    let row = application_by_ats_id(db, opp).await.unwrap();
    assert_eq!(row.status, ApplicationStatus::Hired);
    assert!(audit_with(db, "lever.hire_unconfirmed").await.is_empty());
    world.cleanup().await;
}

/// Lever's offers carry the start date: a hire counts probation from the
/// newest signed offer's `anticipated_start_date`, not from the hire, and
/// a later offer moving it (later, then earlier) moves the timer with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lever_start_date_moves_the_probation_timer() {
    const PROBATION: Duration = Duration::from_secs(90 * 86_400);
    let receiver = bonus_receiver().await;
    let world =
        spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| pay_to(s, &receiver, PROBATION)).await;
    let (app, db) = (&world.app, world.db());
    let opp = "opp-start-date";
    let email = "starts.later@example.org";
    let application_id = referred_lever_candidate(&world, opp, email).await;
    let probation = chrono::Duration::from_std(PROBATION).unwrap();
    let day = |d: i64| {
        (Utc::now() + chrono::Duration::days(d))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    };

    // Hired with a signed offer starting in 14 days (a draft says otherwise).
    world
        .lever
        .set_opportunity(opp, lever_hired(opportunity(opp, email, "Hired")));
    world.lever.set_offers(
        opp,
        vec![
            offer(
                "offer-1",
                "signed",
                Utc::now() - chrono::Duration::days(3),
                day(14),
            ),
            offer("offer-draft", "draft", Utc::now(), day(200)),
        ],
    );
    let id = deliver(&world, "candidateHired", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    let hired = application_by_ats_id(db, opp).await.unwrap();
    assert_eq!(hired.status, ApplicationStatus::Hired);
    assert_eq!(hired.start_date, Some(day(14)));
    assert_eq!(
        probation_due(db, application_id).await,
        Some(day(14) + probation)
    );
    assert_ne!(
        probation_due(db, application_id).await,
        hired.hired_at.map(|h| h + probation),
        "not counted from the hire"
    );

    // The start is postponed: a newer signed offer; any event re-reads it.
    for (n, start) in [(2, day(45)), (3, day(7))] {
        world.lever.set_offers(
            opp,
            vec![
                offer(
                    "offer-1",
                    "signed",
                    Utc::now() - chrono::Duration::days(3),
                    day(14),
                ),
                offer(&format!("offer-{n}"), "signed", Utc::now(), start),
            ],
        );
        let id = deliver(&world, "candidateStageChange", opp).await;
        wait_inbox(app, id, InboxStatus::Processed).await;
        assert_eq!(
            application_by_ats_id(db, opp).await.unwrap().start_date,
            Some(start)
        );
        assert_eq!(
            probation_due(db, application_id).await,
            Some(start + probation)
        );
    }
    let rearmed = audit_with(db, "milestone.probation_rearmed").await;
    assert_eq!(rearmed.len(), 2, "later, then earlier: {rearmed:#?}");
    world.cleanup().await;
}

/// Lever's own referral: an employee submits the candidate through
/// Lever's referral form. The referrer is a Lever user; the employee with
/// that user's email is credited, the write-back is made as the configured
/// `perform_as` user, and the hire pays that employee's tranche.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lever_referral_is_credited_to_the_employee_with_the_referrer_s_email_and_paid_on_hire() {
    const PERFORM_AS: &str = "3c7e8a52-6f0b-4f1e-9d0a-perform00001";
    let receiver = bonus_receiver().await;
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        pay_to(s, &receiver, Duration::from_secs(30 * 86_400));
        s.ats.lever.perform_as = PERFORM_AS.into();
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-OTHER", "someone.else@acme-example.com", true).await;
    put_employee(app, "E-FORM", "Rachel.Referrer@acme-example.com", true).await;
    world.lever.set_user(
        "user-rachel",
        "Rachel Referrer",
        "rachel.referrer@ACME-example.com",
    );
    world
        .lever
        .set_user("user-contractor", "Contractor", "contractor@agency.example");

    let opp = "opp-referral-form";
    let email = "referred.by.form@example.org";
    let referred = |stage: &str| {
        let mut o = opportunity(opp, email, stage);
        o["origin"] = "referred".into();
        o["sources"] = serde_json::json!(["Referral"]);
        o["applications"][0]["type"] = "referral".into();
        o["applications"][0]["user"] = "user-rachel".into();
        o
    };
    world.lever.set_opportunity(opp, referred("New lead"));
    // Two forms: the older one by a Lever user who is no employee of ours.
    world.lever.set_referrals(
        opp,
        vec![
            referral_form(
                "form-1",
                "user-contractor",
                Utc::now() - chrono::Duration::days(2),
            ),
            referral_form(
                "form-2",
                "user-rachel",
                Utc::now() - chrono::Duration::days(1),
            ),
        ],
    );
    let id = deliver(&world, "applicationCreated", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;

    let credited = referrals(db).await;
    assert_eq!(credited.len(), 1, "{credited:#?}");
    assert_eq!(credited[0].employee_id, "E-FORM");
    assert_eq!(credited[0].source, ReferralSource::AtsCredited);
    assert_eq!(credited[0].state, ReferralState::Credited);
    let unmatched = audit_with(db, "attribution.lever_referrer_unmatched").await;
    assert_eq!(unmatched.len(), 1, "{unmatched:#?}");
    assert_eq!(unmatched[0].data["lever_user_id"], "user-contractor");
    assert!(
        !unmatched[0].data.to_string().contains("agency.example"),
        "the audit log holds ids, not emails"
    );

    // Written back to the opportunity as the configured Lever user.
    wait_until("the tag written back", || async {
        world.lever.opportunity(opp).is_some_and(|o| {
            o["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "Employee Referral"))
        })
    })
    .await;
    let writes: Vec<_> = world
        .lever
        .ats
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert!(!writes.is_empty());
    for w in &writes {
        assert_eq!(
            w.query.as_deref(),
            Some(format!("perform_as={PERFORM_AS}").as_str()),
            "{} {}",
            w.method,
            w.path
        );
    }

    // Hired in Lever: the referring employee's hire tranche is paid.
    world
        .lever
        .set_opportunity(opp, lever_hired(referred("Hired")));
    let id = deliver(&world, "candidateHired", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    let paid = payouts(db).await;
    assert!(paid.iter().all(|p| p.referral_id == credited[0].id));
    let bodies: Vec<Value> = receiver.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].to_string().contains("E-FORM"),
        "the bonus names the referrer: {}",
        bodies[0]
    );
    world.cleanup().await;
}

/// The customer puts our referral token in an application question on
/// Lever's own job site (`ats.lever.token_from`): it is read there and
/// credits the link's employee, with no careers-site submission at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_in_a_configured_application_question_credits_the_link_s_employee() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.lever.token_from = vec!["tag:ref-".into(), "question:Referral code".into()];
    })
    .await;
    let (app, db) = (&world.app, world.db());
    put_employee(app, "E-LINK", "link.owner@acme-example.com", true).await;
    let token = mint_link(app, "E-LINK", POSTING).await;
    let opp = "opp-token-question";
    let mut o = opportunity(opp, "asked.for.code@example.org", "New applicant");
    o["applications"][0]["customQuestions"] = serde_json::json!([{
        "id": "form-q", "type": "form", "text": "Application questions",
        "fields": [
            {"type": "text", "text": "Pronouns", "value": "they/them"},
            {"type": "text", "text": "Referral code", "value": format!(" {token} ")},
        ],
    }]);
    world.lever.set_opportunity(opp, o);
    let id = deliver(&world, "applicationCreated", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    let credited = referrals(db).await;
    assert_eq!(credited.len(), 1, "{credited:#?}");
    assert_eq!(credited[0].employee_id, "E-LINK");
    assert_eq!(credited[0].source, ReferralSource::ReferralLink);
    assert_eq!(credited[0].link_token.as_deref(), Some(token.as_str()));
    world.cleanup().await;
}

/// The process dies after an unhire committed and before the milestones
/// caught up: the application says active while the hire milestone is
/// still reached and the probation timer armed. The next event about it
/// (the queue's retry re-reads the opportunity, which is not stale) must
/// cancel them, or the probation tranche is paid for a hire that was undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unhire_whose_milestone_sync_died_is_caught_up_by_the_next_event() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let opp = "opp-unhire-died";
    let email = "unhired.after.crash@example.org";
    let application_id = referred_lever_candidate(&world, opp, email).await;
    world
        .lever
        .set_opportunity(opp, lever_hired(opportunity(opp, email, "Hired")));
    let id = deliver(&world, "candidateHired", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    assert!(probation_due(db, application_id).await.is_some(), "armed");

    // Lever unarchives it; what a kill after the commit leaves: the
    // application active, its milestones as they were.
    world
        .lever
        .set_opportunity(opp, opportunity(opp, email, "Offer"));
    let mut row: entities::application::ActiveModel =
        application_by_ats_id(db, opp).await.unwrap().into();
    row.status = sea_orm::Set(ApplicationStatus::Active);
    sea_orm::ActiveModelTrait::update(row, db).await.unwrap();

    let id = deliver(&world, "candidateStageChange", opp).await;
    wait_inbox(app, id, InboxStatus::Processed).await;
    let states: Vec<(MilestoneKind, MilestoneState)> = milestones(db, application_id)
        .await
        .iter()
        .map(|m| (m.kind, m.state))
        .collect();
    assert!(
        states.contains(&(MilestoneKind::ProbationComplete, MilestoneState::Cancelled)),
        "the probation timer is cancelled: {states:?}"
    );
    assert!(probation_due(db, application_id).await.is_none());
    world.cleanup().await;
}
