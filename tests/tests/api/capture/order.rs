//! Out of order, merges, deletions, anonymisation.

use super::*;

tests::both_setups!(a_stage_change_before_its_application_waits_for_it,);

/// A stage change delivered before its application fails retryably ("not
/// known yet") until the application arrives, and is then applied.
async fn a_stage_change_before_its_application_waits_for_it(setup: Setup) {
    let world = spawn_capture_app(setup, |s| {
        s.queue.kinds.insert(
            "process_delivery".into(),
            RetryOverride {
                max_attempts: Some(100),
                base_delay: Some(Duration::from_millis(100)),
                max_delay: Some(Duration::from_millis(200)),
            },
        );
    })
    .await;
    let app = &world.app;
    let db = world.db();
    // Greenhouse stamps the application before the stage change that
    // follows it (`last_activity_at`); their deliveries arrive the other
    // way round.
    let mut application = GreenhouseApplication::new(70_020, 80_020, 90_020, "early@example.org");
    application.last_activity_at = Some(fixtures::event_time());
    let mut change = application.clone();
    change.stage = "Offer".into();
    change.last_activity_at = Some(fixtures::event_time());
    let early = accepted(
        post_greenhouse(
            app,
            "ev-early-stage",
            &greenhouse_event(&change, "candidate_stage_change"),
        )
        .await,
    )
    .await;
    wait_until(
        "the stage change failed twice waiting for its application",
        || async {
            job(app, &early.job_id).await.is_some_and(|j| {
                j.errors
                    .iter()
                    .filter(|e| e.error.contains("not known yet"))
                    .count()
                    >= 2
            })
        },
    )
    .await;
    let row = inbox_rows(db)
        .await
        .into_iter()
        .find(|r| r.id == early.inbox_id)
        .unwrap();
    assert_eq!(row.status, InboxStatus::Enqueued, "waiting, not failed");
    assert!(applications(db).await.is_empty());

    application.action = "new_candidate_application".into();
    processed(
        app,
        post_greenhouse(app, "ev-late-application", &application.body()).await,
    )
    .await;
    wait_inbox(app, early.inbox_id, InboxStatus::Processed).await;
    let a = application_by_ats_id(db, "70020").await.unwrap();
    assert_eq!(a.stage.as_deref(), Some("Offer"));
    let j = job(app, &early.job_id).await.expect("the job");
    assert_eq!(j.state, JobState::Succeeded);
    assert!(j.attempts >= 3, "{j:#?}");
    assert_eq!(applications(db).await.len(), 1);
    world.cleanup().await;
}

/// Greenhouse merged candidate 501 into 502: our two candidates become one
/// record, the referral follows the survivor, and later events about 501
/// land on the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merge_candidate_moves_attributions_to_the_survivor() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "merger@acme-example.com", true).await;
    let body = GreenhouseApplication::new(601, 501, 7001, "first.record@example.org")
        .credited_to("E-1")
        .body();
    processed(app, post_greenhouse(app, "ev-merge-a", &body).await).await;
    let body = GreenhouseApplication::new(602, 502, 7002, "second.record@example.org").body();
    processed(app, post_greenhouse(app, "ev-merge-b", &body).await).await;
    let loser = application_by_ats_id(db, "601").await.unwrap().candidate_id;
    let survivor = application_by_ats_id(db, "602").await.unwrap().candidate_id;
    assert_ne!(loser, survivor);

    let merge = serde_json::to_vec(&json!({
        "action": "merge_candidate",
        "payload": { "person": { "id": 501, "new_candidate_id": 502 } }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-merge", &merge).await).await;
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].candidate_id, survivor);
    assert_eq!(refs[0].state, ReferralState::Credited);
    assert_eq!(
        application_by_ats_id(db, "601").await.unwrap().candidate_id,
        survivor
    );
    let merged = candidates(db)
        .await
        .into_iter()
        .find(|c| c.id == loser)
        .unwrap();
    assert_eq!(merged.merged_into_id, Some(survivor));
    let events = audit_with(db, "candidate.merged").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, loser.to_string());
    assert_eq!(events[0].data["into_candidate_id"], survivor);
    assert_eq!(events[0].data["referrals_moved"], 1);

    // A later application under the old Greenhouse id joins the survivor.
    let body = GreenhouseApplication::new(603, 501, 7003, "first.record@example.org").body();
    processed(app, post_greenhouse(app, "ev-merge-later", &body).await).await;
    assert_eq!(
        application_by_ats_id(db, "603").await.unwrap().candidate_id,
        survivor
    );
    world.cleanup().await;
}

/// Greenhouse deleted the referred application: the referral moves to the
/// candidate's other application for the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_application_moves_attributions_to_the_surviving_application() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "deleter@acme-example.com", true).await;
    let body = GreenhouseApplication::new(811, 511, 7101, "twice@example.org")
        .credited_to("E-1")
        .body();
    processed(app, post_greenhouse(app, "ev-del-a", &body).await).await;
    let body = GreenhouseApplication::new(812, 511, 7101, "twice@example.org").body();
    processed(app, post_greenhouse(app, "ev-del-b", &body).await).await;
    let deleted = application_by_ats_id(db, "811").await.unwrap();
    let surviving = application_by_ats_id(db, "812").await.unwrap();
    let r = only_referral(db, "811").await;

    let delete = serde_json::to_vec(&json!({
        "action": "delete_application",
        "payload": { "application": { "id": 811, "candidate_id": 511, "job_id": 7101 } }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-delete", &delete).await).await;
    let moved = referrals(db).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].id, r.id);
    assert_eq!(moved[0].application_id, Some(surviving.id));
    assert_eq!(moved[0].state, ReferralState::Credited);
    assert_eq!(
        application_by_ats_id(db, "811").await.unwrap().status,
        ApplicationStatus::Deleted
    );
    let events = audit_with(db, "attribution.application_deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, r.id.to_string());
    assert_eq!(events[0].data["deleted_application_id"], deleted.id);
    assert_eq!(events[0].data["moved_to_application_id"], surviving.id);
    world.cleanup().await;
}

/// `candidate_anonymized` erases the candidate's personal data in our copy;
/// the pseudonymous referral stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn candidate_anonymized_erases_personal_data_and_keeps_referrals() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "keeper@acme-example.com", true).await;
    let mut a =
        GreenhouseApplication::new(901, 521, 7201, "Forget.Me@Example.org").credited_to("E-1");
    a.phone = Some("+49 30 9876 5432".into());
    processed(app, post_greenhouse(app, "ev-anon-a", &a.body()).await).await;
    let before = candidates(db).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].phone_e164.as_deref(), Some("+493098765432"));
    let r = only_referral(db, "901").await;

    let anonymize = serde_json::to_vec(&json!({
        "action": "candidate_anonymized",
        "payload": { "candidate_id": 521 }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-anon", &anonymize).await).await;
    let c = candidates(db).await.remove(0);
    assert_eq!(c.email_raw, None);
    assert_eq!(c.email_canonical, None);
    assert_eq!(c.phone_raw, None);
    assert_eq!(c.phone_e164, None);
    assert_eq!(c.first_name, "");
    assert_eq!(c.last_name, None);
    assert!(c.anonymized_at.is_some());
    let kept = referrals(db).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, r.id);
    assert_eq!(kept[0].candidate_id, c.id);
    assert_eq!(kept[0].employee_id, "E-1");
    assert_eq!(kept[0].state, ReferralState::Credited);
    let events = audit_with(db, "candidate.anonymized").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, c.id.to_string());
    let tombstone = c.erasure_tombstone.as_deref().expect("a tombstone");
    assert_eq!(
        events[0].data["tombstone_sha256"],
        jobs::db::audit::sha256_hex(tombstone),
        "the audit event records the hash of the tombstone on the row"
    );

    // A later application of the same ATS candidate, with the old email
    // and phone: it joins the erased record and brings nothing back.
    let mut again = GreenhouseApplication::new(902, 521, 7202, "Forget.Me@Example.org");
    again.phone = Some("+49 30 9876 5432".into());
    processed(app, post_greenhouse(app, "ev-anon-b", &again.body()).await).await;
    let after = candidates(db).await;
    assert_eq!(after.len(), 1, "no second record");
    assert_eq!(after[0].id, c.id);
    assert_eq!(after[0].email_canonical, None, "the erasure holds");
    assert_eq!(after[0].phone_e164, None);
    assert_eq!(after[0].email_raw, None);
    world.cleanup().await;
}
