//! Candidate dedup: email variants, phone formats, email before phone,
//! simultaneous applications, dummy phones.

use super::*;

tests::both_setups!(
    email_variants_of_one_person_are_one_candidate,
    phone_formats_of_one_person_are_one_candidate,
    an_email_match_beats_an_older_phone_match,
    simultaneous_applications_by_one_person_are_one_candidate,
);

/// Case, whitespace, Gmail dots and +tags, googlemail: one person, one
/// candidate. Other domains keep their dots.
async fn email_variants_of_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let variants = [
        "Jane.Doe@gmail.com",
        "  jane.doe@GMAIL.com\t",
        "janedoe+referral@gmail.com",
        "j.a.n.e.d.o.e@googlemail.com",
        "JaneDoe+x@GoogleMail.com",
        "\u{a0}JANE.DOE@Gmail.Com\u{a0}",
    ];
    let mut ids = Vec::new();
    for (i, email) in variants.iter().enumerate() {
        let a = apply(app, &CareersApplication::new(&format!("J-{i}"), email)).await;
        ids.push(a.candidate_id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(
        cands[0].email_canonical.as_deref(),
        Some("janedoe@gmail.com")
    );
    assert_eq!(cands[0].email_raw.as_deref(), Some(variants[0]));

    // Not Gmail: dots are significant, so these are other people.
    let other = apply(app, &CareersApplication::new("J-9", "jane.doe@example.org")).await;
    let another = apply(app, &CareersApplication::new("J-9", "janedoe@example.org")).await;
    assert_ne!(other.candidate_id, ids[0]);
    assert_ne!(another.candidate_id, other.candidate_id);
    assert_eq!(candidates(db).await.len(), 3);
    assert_eq!(applications(db).await.len(), variants.len() + 2);
    world.cleanup().await;
}

/// Without an email, the phone decides: national format with a region hint
/// and the international spellings are one number, one candidate.
async fn phone_formats_of_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let formats = [
        ("030 1234-5678", Some("DE")),
        ("+49 30 12345678", None),
        ("0049 30 12345678", None),
        ("+49 (0)30 1234 5678", None),
        ("030/12345678", Some("DE")),
        ("+49\u{a0}30\u{a0}12345678", None),
    ];
    let mut ids = Vec::new();
    for (i, (phone, hint)) in formats.iter().enumerate() {
        let a = apply(
            app,
            &CareersApplication::by_phone(&format!("J-{i}"), phone, *hint),
        )
        .await;
        ids.push(a.candidate_id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(cands[0].phone_e164.as_deref(), Some("+493012345678"));
    assert_eq!(cands[0].phone_raw.as_deref(), Some("030 1234-5678"));
    assert_eq!(cands[0].email_canonical, None);

    // One digit off: someone else.
    let other = apply(
        app,
        &CareersApplication::by_phone("J-9", "030 1234-5679", Some("DE")),
    )
    .await;
    assert_ne!(other.candidate_id, ids[0]);
    assert_eq!(candidates(db).await.len(), 2);
    world.cleanup().await;
}

/// Email first, the phone only when no email matches: an application whose
/// email is one candidate's and whose phone is an older candidate's goes to
/// the email's candidate, which had no phone and now has this one.
async fn an_email_match_beats_an_older_phone_match(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let by_phone = apply(
        app,
        &CareersApplication::by_phone("J-1", "+49 30 5550123", None),
    )
    .await;
    let by_email = apply(app, &CareersApplication::new("J-2", "sam.roe@example.org")).await;
    assert_ne!(by_phone.candidate_id, by_email.candidate_id);
    assert!(
        by_phone.candidate_id < by_email.candidate_id,
        "the phone's is older"
    );

    let both = CareersApplication {
        phone: Some("+49 30 5550123".into()),
        ..CareersApplication::new("J-3", "Sam.Roe@example.org")
    };
    let a = apply(app, &both).await;
    assert_eq!(a.candidate_id, by_email.candidate_id, "the email decides");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 2, "{cands:#?}");
    let emailed = cands
        .iter()
        .find(|c| c.id == by_email.candidate_id)
        .expect("the email's candidate");
    assert_eq!(
        emailed.phone_e164.as_deref(),
        Some("+49305550123"),
        "it lacked a phone, so it takes this one"
    );
    world.cleanup().await;
}

/// A national-format number with no region in the payload is read with the
/// region configured for the job, so it matches the same person's
/// international number.
#[tokio::test]
async fn a_jobs_configured_region_reads_national_phone_numbers() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.referrals
            .job_phone_regions
            .insert("J-DE".to_string(), "DE".to_string());
    })
    .await;
    let app = &world.app;
    let db = world.db();
    let first = apply(
        app,
        &CareersApplication::by_phone("J-1", "+49 30 12345678", None),
    )
    .await;
    let second = apply(
        app,
        &CareersApplication::by_phone("J-DE", "030 1234-5678", None),
    )
    .await;
    assert_eq!(first.candidate_id, second.candidate_id);
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    // Without a region anywhere, a national number cannot be read at all.
    let unknown = apply(
        app,
        &CareersApplication::by_phone("J-XX", "030 1234-9999", None),
    )
    .await;
    assert_ne!(unknown.candidate_id, first.candidate_id);
    world.cleanup().await;
}

/// Several submissions by one person arriving at once still make one
/// candidate (capture serialises on the person's keys).
async fn simultaneous_applications_by_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let emails = [
        "Sam.Jones@gmail.com",
        "samjones@gmail.com",
        "sam.jones+a@gmail.com",
        "SAMJONES@googlemail.com",
        " sam.jones@gmail.com ",
        "s.a.m.jones@gmail.com",
        "samjones+b@googlemail.com",
        "Sam.Jones+c@Gmail.com",
    ];
    let apps: Vec<CareersApplication> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| CareersApplication::new(&format!("J-{i}"), e))
        .collect();
    let responses = futures::future::join_all(apps.iter().map(|a| submit(app, a))).await;
    let mut ids = Vec::new();
    for r in responses {
        ids.push(accepted(r).await);
    }
    for a in &ids {
        wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
    }
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(
        cands[0].email_canonical.as_deref(),
        Some("samjones@gmail.com")
    );
    let all = applications(db).await;
    assert_eq!(all.len(), emails.len());
    assert!(all.iter().all(|a| a.candidate_id == cands[0].id));
    world.cleanup().await;
}

/// Placeholder phones (`555-01xx`, `000000`) never match: two people with
/// the same dummy number stay two candidates, and no dummy is stored as a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dummy_phones_never_match() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let dummies = [
        ("+1 202 555 0123", None),
        ("+1 202 555 0123", None),
        ("000000", Some("DE")),
        ("000000", Some("DE")),
        ("123456", Some("DE")),
        ("123456", Some("DE")),
    ];
    let mut ids = Vec::new();
    for (i, (phone, hint)) in dummies.iter().enumerate() {
        let a = apply(
            app,
            &CareersApplication::by_phone(&format!("J-{i}"), phone, *hint),
        )
        .await;
        ids.push(a.candidate_id);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), dummies.len(), "{ids:?}");
    let cands = candidates(db).await;
    assert!(cands.iter().all(|c| c.phone_e164.is_none()), "{cands:#?}");
    let mut raw: Vec<_> = cands.iter().filter_map(|c| c.phone_raw.clone()).collect();
    raw.sort();
    let mut want: Vec<String> = dummies.iter().map(|(p, _)| (*p).to_owned()).collect();
    want.sort();
    assert_eq!(raw, want, "raw values are kept");
    world.cleanup().await;
}
