//! Attribution rules: first referral wins, ownership window, prior
//! applicants, self-referral, inactive employees.

use super::*;

tests::both_setups!(first_referral_wins_and_the_second_referrer_loses,);

/// Two employees refer the same person for the same job: the first wins,
/// the second is kept as `lost` with the reason naming the winner. The
/// window is per candidate and job: the loser's referral of the same
/// person for another job is credited.
async fn first_referral_wins_and_the_second_referrer_loses(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "first@acme-example.com", true).await;
    put_employee(app, "E-2", "second@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let first = apply(
        app,
        &CareersApplication::new("J-1", "wanted@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(2)),
    )
    .await;
    let second = apply(
        app,
        &CareersApplication::new("J-1", "Wanted@Example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(first.candidate_id, second.candidate_id);
    let winner = only_referral(db, &first.ats_application_id).await;
    assert_eq!(winner.state, ReferralState::Credited);
    assert_eq!(winner.employee_id, "E-1");
    let loser = only_referral(db, &second.ats_application_id).await;
    assert_eq!(loser.state, ReferralState::Lost);
    assert_eq!(loser.employee_id, "E-2");
    let reason = loser.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("first referral wins") && reason.contains("E-1"),
        "{reason}"
    );
    let lost = audit_with(db, "attribution.lost").await;
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].subject_id, loser.id.to_string());
    assert!(audit_with(db, "attribution.superseded").await.is_empty());
    assert_eq!(referrals(db).await.len(), 2);

    let t3 = mint_link(app, "E-2", "J-2").await;
    let other_job = apply(
        app,
        &CareersApplication::new("J-2", "wanted@example.org").referred_by(&t3),
    )
    .await;
    assert_eq!(other_job.candidate_id, first.candidate_id);
    let own = only_referral(db, &other_job.ats_application_id).await;
    assert_eq!(own.state, ReferralState::Credited, "{:?}", own.reason);
    assert_eq!(own.employee_id, "E-2");
    assert_eq!(
        only_referral(db, &first.ats_application_id).await.state,
        ReferralState::Credited,
        "the first job's referral is untouched"
    );
    world.cleanup().await;
}

/// Deliveries arrive out of order: an earlier referral (for the same job)
/// processed later takes the credit, and the one credited before it is
/// demoted with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_referral_processed_later_takes_over() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "early@acme-example.com", true).await;
    put_employee(app, "E-2", "late@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let later = apply(
        app,
        &CareersApplication::new("J-1", "late.arrival@example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(
        only_referral(db, &later.ats_application_id).await.state,
        ReferralState::Credited
    );
    let earlier = apply(
        app,
        &CareersApplication::new("J-1", "late.arrival@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(3)),
    )
    .await;
    let winner = only_referral(db, &earlier.ats_application_id).await;
    assert_eq!(winner.state, ReferralState::Credited);
    assert_eq!(winner.employee_id, "E-1");
    let demoted = only_referral(db, &later.ats_application_id).await;
    assert_eq!(demoted.state, ReferralState::Lost);
    let reason = demoted.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("superseded by earlier referral"),
        "{reason}"
    );
    let superseded = audit_with(db, "attribution.superseded").await;
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0].subject_id, demoted.id.to_string());
    assert_eq!(superseded[0].data["by_referral_id"], winner.id);
    world.cleanup().await;
}

/// Ownership lasts a year: a referral after that window is credited again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_referral_after_the_ownership_window_is_credited_again() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "old@acme-example.com", true).await;
    put_employee(app, "E-2", "new@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let old = apply(
        app,
        &CareersApplication::new("J-1", "returner@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(400)),
    )
    .await;
    let new = apply(
        app,
        &CareersApplication::new("J-1", "returner@example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(old.candidate_id, new.candidate_id);
    let first = only_referral(db, &old.ats_application_id).await;
    let second = only_referral(db, &new.ats_application_id).await;
    assert_eq!(first.state, ReferralState::Credited);
    assert_eq!(second.state, ReferralState::Credited, "{:?}", second.reason);
    assert_eq!(second.employee_id, "E-2");
    assert_eq!(audit_with(db, "attribution.credited").await.len(), 2);
    world.cleanup().await;
}

/// Someone who applied without a referral within the prior-applicant
/// window (180 days) earns nobody credit; longer ago, they do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prior_applicant_earns_no_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-1", "J-2").await;

    apply(
        app,
        &CareersApplication::new("J-1", "recent@example.org").at(Utc::now() - days(30)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-2", "recent@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("prior applicant"), "{reason}");
    let ineligible = audit_with(db, "attribution.ineligible").await;
    assert_eq!(ineligible.len(), 1);
    assert_eq!(ineligible[0].subject_id, r.id.to_string());

    apply(
        app,
        &CareersApplication::new("J-1", "long.ago@example.org").at(Utc::now() - days(200)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-2", "long.ago@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Credited, "{:?}", r.reason);
    world.cleanup().await;
}

/// The same job counts too: an unreferred application to J-1 a month ago
/// blocks credit for a referral to J-1 now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_unreferred_application_to_the_same_job_blocks_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-1", "J-1").await;
    let before = apply(
        app,
        &CareersApplication::new("J-1", "again@example.org").at(Utc::now() - days(30)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-1", "again@example.org").referred_by(&token),
    )
    .await;
    assert_eq!(before.candidate_id, referred.candidate_id);
    assert_ne!(before.id, referred.id);
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("prior applicant"), "{reason}");
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    world.cleanup().await;
}

/// An employee referring themself is recorded but ineligible.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_referral_is_ineligible() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-7", "ada.lovelace@acme-example.com", true).await;
    let token = mint_link(app, "E-7", "J-7").await;
    let a = apply(
        app,
        &CareersApplication::new("J-7", " Ada.Lovelace@ACME-example.com ").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    assert_eq!(r.employee_id, "E-7");
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("self-referral"), "{reason}");
    assert_eq!(audit_with(db, "attribution.ineligible").await.len(), 1);
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    world.cleanup().await;
}

/// A referral by an employee who has left, or by an employee id nobody
/// knows (Greenhouse's `credited_to`), is recorded but earns nothing and is
/// not written back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_inactive_employee_earns_no_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-8", "leaver@acme-example.com", true).await;
    let token = mint_link(app, "E-8", "J-8").await;
    put_employee(app, "E-8", "leaver@acme-example.com", false).await;
    let a = apply(
        app,
        &CareersApplication::new("J-8", "friend.of.leaver@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("not an active employee"), "{reason}");

    let body = GreenhouseApplication::new(70_008, 80_008, 90_008, "stranger@example.org")
        .credited_to("E-404")
        .body();
    processed(
        app,
        post_greenhouse(app, "ev-unknown-referrer", &body).await,
    )
    .await;
    let r = only_referral(db, "70008").await;
    assert_eq!(r.state, ReferralState::Ineligible);
    assert_eq!(r.source, ReferralSource::AtsCredited);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("unknown referrer") && reason.contains("E-404"),
        "{reason}"
    );

    assert_eq!(audit_with(db, "attribution.ineligible").await.len(), 2);
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        world.harvest.seen().is_empty(),
        "nothing to write back: {:?}",
        world.harvest.summary()
    );
    world.cleanup().await;
}
