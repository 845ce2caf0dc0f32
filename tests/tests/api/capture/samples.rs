//! Every recorded sample payload, end to end.

use super::*;

tests::both_setups!(every_sample_payload_end_to_end,);

/// All eight sample payloads, delivered byte for byte in the order a real
/// candidacy produces them: the careers-site submission with the sample's
/// token, the Greenhouse application it becomes, Offer, Hired (twice, as a
/// stage change and as hire_candidate), a merge, and the same person's
/// Lever opportunity moving to Offer and being hired.
async fn every_sample_payload_end_to_end(setup: Setup) {
    let world = spawn_capture_app(setup, |s| {
        // The Lever samples were triggered in October 2025.
        s.webhooks.lever_max_age = fixtures::LEVER_SAMPLE_MAX_AGE;
    })
    .await;
    // Greenhouse has the application, and the referrer as a user with a
    // referrer record (created in its UI).
    world.harvest.seed_samples();
    let gh_fake = &world.harvest.harvest;
    gh_fake.user(4_410_042, sample::REFERRER_EMAIL);
    gh_fake.referrer(5_501, Some(4_410_042));
    let app = &world.app;
    let db = world.db();
    put_employee(app, sample::REFERRER, sample::REFERRER_EMAIL, true).await;
    seed_link(
        db,
        sample::TOKEN,
        sample::REFERRER,
        sample::JOB,
        time("2025-08-01T00:00:00Z"),
        Utc::now() + days(365),
    )
    .await;
    let mut delivered: Vec<(&str, i64)> = Vec::new();

    // 1. The careers site: a candidate and a credited referral on the submission.
    let careers = payload(fixtures::CAREERS_SITE_SAMPLE);
    let id = processed(app, post_careers_site(app, "msg_sample_1", &careers).await).await;
    delivered.push((fixtures::CAREERS_SITE_SAMPLE, id));
    let submission = application_by_ats_id(db, sample::SUBMISSION)
        .await
        .expect("the submission");
    assert_eq!(submission.ats, Ats::CareersSite);
    assert_eq!(submission.job_id, sample::JOB);
    let r = only_referral(db, sample::SUBMISSION).await;
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.source, ReferralSource::ReferralLink);
    assert_eq!(r.employee_id, sample::REFERRER);
    assert_eq!(r.link_token.as_deref(), Some(sample::TOKEN));
    assert_eq!(r.referred_at, time("2025-09-02T10:15:29.512Z"));

    // 2. Greenhouse's application: the same person, the referral moves to it.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_NEW_APPLICATION).await,
    )
    .await;
    delivered.push((fixtures::GH_NEW_APPLICATION, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .expect("the Greenhouse application");
    assert_eq!(gh.ats, Ats::Greenhouse);
    assert_eq!(gh.candidate_id, submission.candidate_id);
    assert_eq!(gh.job_id, sample::JOB);
    assert_eq!(gh.stage.as_deref(), Some("Application Review"));
    let all = referrals(db).await;
    assert_eq!(all.len(), 1, "one referral, credited once: {all:#?}");
    assert_eq!(all[0].id, r.id);
    assert_eq!(all[0].application_id, Some(gh.id));
    assert_eq!(all[0].state, ReferralState::Credited);
    let moved = audit_with(db, "attribution.moved_to_ats_application").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].data["from_application_id"], submission.id);
    assert_eq!(moved[0].data["to_application_id"], gh.id);

    // The write-back reached Harvest: token custom field, then the tag.
    wait_until("attribution.written_back", || async {
        audit_with(db, "attribution.written_back")
            .await
            .iter()
            .any(|a| a.subject_id == r.id.to_string() && a.data["ats"] == "greenhouse")
    })
    .await;
    let patches = world.harvest.requests(
        "PATCH",
        &format!("/v3/applications/{}", sample::GH_APPLICATION),
    );
    assert!(!patches.is_empty(), "{:?}", world.harvest.summary());
    for p in &patches {
        // The employee's Greenhouse user 4410042 stands for referrer 5501:
        // v3 credits the referrer record, not the user.
        assert_eq!(
            p.json(),
            json!({ "custom_fields": [{ "name_key": "referral_token", "value": sample::TOKEN }],
                    "referrer_id": 5501 })
        );
    }
    let stored = world
        .harvest
        .harvest
        .record("applications", GH_APPLICATION_ID)
        .expect("the application");
    assert_eq!(
        stored["custom_fields"]["referral_token"]["value"],
        sample::TOKEN
    );
    assert_eq!(stored["referrer_id"], 5501);
    assert_eq!(
        world.harvest.harvest.tags_of(GH_CANDIDATE_ID),
        ["Employee Referral"]
    );
    assert_v3_auth(&world.harvest);

    // 3. Offer.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_STAGE_CHANGE).await,
    )
    .await;
    delivered.push((fixtures::GH_STAGE_CHANGE, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.stage.as_deref(), Some("Offer"));
    assert_eq!(gh.status, ApplicationStatus::Active);
    assert_eq!(gh.hired_at, None);

    // 4. Hired, as a stage change.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_STAGE_CHANGE_HIRED).await,
    )
    .await;
    delivered.push((fixtures::GH_STAGE_CHANGE_HIRED, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.stage.as_deref(), Some("Hired"));
    assert_eq!(gh.status, ApplicationStatus::Hired);
    let hired_at = time("2025-10-24T09:30:02Z");
    assert_eq!(gh.hired_at, Some(hired_at));

    // 5. hire_candidate: the same hire again; the first hire time stands.
    let id = processed(app, post_greenhouse_sample(app, fixtures::GH_HIRE).await).await;
    delivered.push((fixtures::GH_HIRE, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.status, ApplicationStatus::Hired);
    assert_eq!(gh.hired_at, Some(hired_at));
    assert_eq!(
        gh.start_date,
        Some(time("2025-12-01T00:00:00Z")),
        "offer.starts_at is the start date"
    );

    // 6. The merge names a Greenhouse record (90077555) we never saw: there
    //    is nothing of ours to re-point, so it is recorded as ignored.
    let a = accepted(post_greenhouse_sample(app, fixtures::GH_MERGE).await).await;
    wait_inbox(app, a.inbox_id, InboxStatus::Ignored).await;
    delivered.push((fixtures::GH_MERGE, a.inbox_id));

    // 7. Lever: the body only names the opportunity; its facts come from the API.
    world.lever.set_opportunity(
        sample::LEVER_OPPORTUNITY,
        fixtures::lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            "Offer",
            "lever-posting-1",
            time("2025-10-01T08:00:00Z"),
        ),
    );
    let id = processed(
        app,
        post_lever_sample(app, fixtures::LEVER_STAGE_CHANGE).await,
    )
    .await;
    delivered.push((fixtures::LEVER_STAGE_CHANGE, id));
    let lever = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .expect("the Lever application");
    assert_eq!(lever.ats, Ats::Lever);
    assert_eq!(lever.candidate_id, submission.candidate_id);
    assert_eq!(lever.stage.as_deref(), Some("Offer"));
    assert_eq!(lever.status, ApplicationStatus::Active);

    // 8. Lever hired.
    world.lever.set_opportunity(
        sample::LEVER_OPPORTUNITY,
        fixtures::lever_hired(fixtures::lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            "Hired",
            "lever-posting-1",
            time("2025-10-01T08:00:00Z"),
        )),
    );
    let id = processed(app, post_lever_sample(app, fixtures::LEVER_HIRED).await).await;
    delivered.push((fixtures::LEVER_HIRED, id));
    let lever = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .unwrap();
    assert_eq!(lever.status, ApplicationStatus::Hired);
    assert_eq!(lever.stage.as_deref(), Some("Hired"));
    let fetches = world.lever.ats.requests(
        "GET",
        &format!("/v1/opportunities/{}", sample::LEVER_OPPORTUNITY),
    );
    assert_eq!(fetches.len(), 2, "one re-fetch per Lever delivery");
    for f in &fetches {
        assert_eq!(f.query.as_deref(), Some("expand=applications&expand=stage"));
        assert_eq!(f.header("authorization"), Some(basic(LEVER_KEY).as_str()));
    }

    // One person: one candidate, raw values beside the canonical ones.
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    let c = &cands[0];
    assert_eq!(c.email_raw.as_deref(), Some(sample::CAREERS_EMAIL_RAW));
    assert_eq!(c.email_canonical.as_deref(), Some(sample::EMAIL_CANONICAL));
    assert_eq!(c.phone_raw.as_deref(), Some("030 1234-5678"));
    assert_eq!(c.phone_e164.as_deref(), Some(sample::PHONE_E164));
    assert_eq!(applications(db).await.len(), 3);
    let mut ats_ids: Vec<(Ats, String)> = candidate_ats_ids(db)
        .await
        .into_iter()
        .map(|m| {
            assert_eq!(m.candidate_id, c.id);
            (m.ats, m.ats_candidate_id)
        })
        .collect();
    ats_ids.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        ats_ids,
        vec![
            (Ats::Greenhouse, sample::GH_CANDIDATE.to_owned()),
            (Ats::Lever, sample::LEVER_CONTACT.to_owned()),
        ]
    );

    // Every delivery has its inbox row with the exact bytes and its job.
    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), 8);
    for (name, id) in &delivered {
        let row = rows.iter().find(|r| r.id == *id).expect("inbox row");
        let want = if *name == fixtures::GH_MERGE {
            InboxStatus::Ignored
        } else {
            InboxStatus::Processed
        };
        assert_eq!(row.status, want, "{name}");
        assert_eq!(
            row.raw_body.as_deref(),
            Some(payload(name).as_slice()),
            "{name}"
        );
        assert_eq!(row.verification, Verification::Verified, "{name}");
        assert!(row.job_id.is_some(), "{name}");
        assert_eq!(row.error, None, "{name}");
    }

    // The audit log holds ids and reasons, never personal data.
    let events = audit(db).await;
    assert!(events.len() >= 5, "{events:#?}");
    let personal = [
        "jose",
        "josé",
        "almeida",
        "example.org",
        "priya",
        "raman",
        "acme-example.com",
        "okafor",
        "12345678",
        "1234-5678",
        "1234 5678",
        "203.0.113.47",
    ];
    for e in &events {
        let text = e.data.to_string().to_lowercase();
        for p in personal {
            assert!(!text.contains(p), "audit {} holds {p:?}: {text}", e.action);
        }
    }
    world.cleanup().await;
}
