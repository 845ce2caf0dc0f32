//! T6: two deliveries reaching one candidate by different keys (P3a).

use super::*;

/// T6 (P3a). A candidate known by email E and phone P; one delivery carries
/// only E, another only P, for the same job, credited to different
/// employees. Their capture keys are disjoint, so only the candidate row
/// lock keeps them from both deciding "no earlier referral": exactly one
/// referral is credited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn two_deliveries_one_candidate_one_credit() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    referrer(db, "E-ONE").await;
    referrer(db, "E-TWO").await;
    let mut candidates = Vec::new();
    for i in 0..ITERATIONS {
        let email = format!("twice{i}@example.org");
        let phone = format!("+49 30 {}", 4_812_637 + i * 13);
        let c = known_candidate(db, &email, &phone).await;

        let mut by_email = greenhouse_event(2 * i);
        by_email.email = Some(email);
        by_email.credited_employee_id = Some("E-ONE".into());
        let mut by_phone = greenhouse_event(2 * i + 1);
        by_phone.phone = Some(phone);
        by_phone.credited_employee_id = Some("E-TWO".into());

        let (first, second) = capture_both(&app, i, c.id, by_email, by_phone).await;
        assert_eq!(first.candidate_id, c.id, "found by its email");
        assert_eq!(second.candidate_id, c.id, "found by its phone");
        candidates.push(c.id);
    }

    let referrals = all::<referral::Entity>(db).await;
    for id in candidates {
        let of: Vec<_> = referrals.iter().filter(|r| r.candidate_id == id).collect();
        assert_eq!(of.len(), 2, "candidate {id}: both claims recorded");
        let credited = of
            .iter()
            .filter(|r| r.state == ReferralState::Credited)
            .count();
        assert_eq!(
            credited, 1,
            "candidate {id}: first referral wins, exactly one credit: {of:#?}"
        );
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T6b (P3a, a new candidate). The first two deliveries of one Greenhouse
/// candidate, for different jobs, one carrying only an email and the other
/// only a phone, are captured at once. No capture key covers the ATS
/// candidate id and there is no row to lock yet, so both can find nobody
/// and create a candidate. Whichever maps the ATS id second must not keep
/// its own: it rolls back and, retried as its job would be, finds the
/// person by the ATS id. One person, one candidate, both applications on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn first_deliveries_of_one_ats_candidate_at_once_make_one_candidate() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    let mut retried = 0;
    let mut people = Vec::new();
    for i in 0..ITERATIONS {
        let gh = format!("{}", 880_000 + i);
        let mut by_email = greenhouse_event(2 * i);
        by_email.ats_candidate_id = Some(gh.clone());
        by_email.email = Some(format!("first{i}@example.org"));
        let mut by_phone = greenhouse_event(2 * i + 1);
        by_phone.ats_candidate_id = Some(gh.clone());
        by_phone.phone = Some(format!("+49 30 {}", 6_021_417 + i * 19));
        by_phone.job_id = "4077777".into();
        let (a, b) = race(
            None,
            capture_until_done(ctx.clone(), by_email),
            capture_until_done(ctx.clone(), by_phone),
        )
        .await;
        let ((a, ra), (b, rb)) = (a, b);
        retried += ra + rb;
        assert_eq!(
            a.candidate_id, b.candidate_id,
            "Greenhouse candidate {gh}: one person, one candidate"
        );
        people.push(a.candidate_id);
    }
    eprintln!("first deliveries at once: {retried} retries over {ITERATIONS} pairs");

    let candidates = all::<candidate::Entity>(db).await;
    assert_eq!(
        candidates.len(),
        people.len(),
        "no candidate besides the {} people: {candidates:#?}",
        people.len()
    );
    let applications = all::<application::Entity>(db).await;
    for id in people {
        let of = applications.iter().filter(|a| a.candidate_id == id).count();
        assert_eq!(of, 2, "candidate {id}: both applications");
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// Captures `ev` as its `process_delivery` job would be run: again after a
/// retryable failure (a capture that lost a race rolls back and asks for
/// one). Returns the capture and how many retries it took.
pub(super) async fn capture_until_done(
    ctx: Arc<JobContext>,
    ev: ApplicationEvent,
) -> (jobs::capture::Captured, u64) {
    let mut retries = 0;
    loop {
        match jobs::capture::capture_application(&ctx, &ev).await {
            Ok(captured) => return (captured, retries),
            Err(jobs::Error::Retryable(why)) if retries < 5 => {
                eprintln!("retrying a capture: {why}");
                retries += 1;
            }
            Err(e) => panic!("the capture of {}: {e}", ev.ats_application_id),
        }
    }
}

/// T7b (P3c). A careers-site submission carrying a referral link and its
/// ATS twin (the same person's Greenhouse application to the same job) are
/// captured at once. They reach the candidate through different keys (the
/// submission its email, the ATS application its phone), so only the
/// candidate's row lock orders them. Unfixed, each misses the other's
/// uncommitted application: the submission finds no ATS application to
/// move its referral to, the ATS capture no submission to adopt from, and
/// the referral stays on the submission. Fixed, whichever commits second
/// sees the first, and the referral ends on the ATS application.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn submission_and_ats_twin_at_once_the_referral_ends_on_the_ats_application() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    referrer(db, "E-LINK").await;
    let mut twins = Vec::new();
    for i in 0..ITERATIONS {
        let email = format!("twin{i}@example.org");
        let phone = format!("+49 30 {}", 5_812_637 + i * 13);
        let c = known_candidate(db, &email, &phone).await;
        let link = jobs::referral::links::mint(
            db,
            OPS,
            "E-LINK",
            JOB,
            Duration::from_secs(86_400),
            "https://careers.acme-example.com",
        )
        .await
        .expect("mint");

        let mut submission = greenhouse_event(i);
        submission.source = Source::CareersSite;
        submission.event = "application.submitted".into();
        submission.ats = Ats::CareersSite;
        submission.ats_candidate_id = None;
        submission.ats_application_id = format!("sub_twin_{i}");
        submission.email = Some(email);
        submission.referral_token = Some(link.token.clone());
        let mut twin = greenhouse_event(i);
        twin.phone = Some(phone);

        let (sub, ats) = capture_both(&app, i, c.id, submission, twin).await;
        assert_eq!(sub.candidate_id, c.id, "the submission found by its email");
        assert_eq!(
            ats.candidate_id, c.id,
            "the ATS application found by its phone"
        );
        twins.push((c.id, ats.application_id));
    }

    let referrals = all::<referral::Entity>(db).await;
    for (candidate_id, ats_application_id) in twins {
        let of: Vec<_> = referrals
            .iter()
            .filter(|r| r.candidate_id == candidate_id)
            .collect();
        assert_eq!(
            of.len(),
            1,
            "candidate {candidate_id}: one referral: {of:#?}"
        );
        assert_eq!(
            of[0].application_id,
            Some(ats_application_id),
            "candidate {candidate_id}: the referral ends on the ATS application: {of:#?}"
        );
        assert_eq!(of[0].state, ReferralState::Credited, "{of:#?}");
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// Stores a verified Greenhouse delivery of `body` in the inbox, as intake
/// does before it enqueues `process_delivery`; returns the row's id.
pub(super) async fn greenhouse_delivery(db: &DatabaseConnection, body: Value) -> i64 {
    inbox::ActiveModel {
        source: Set(InboxSource::Greenhouse),
        delivery_id: Set(ulid::Ulid::generate().to_string()),
        event: Set(body["action"].as_str().map(str::to_owned)),
        received_at: Set(Utc::now()),
        raw_body: Set(Some(body.to_string().into_bytes())),
        verification: Set(inbox::Verification::Verified),
        status: Set(InboxStatus::Enqueued),
        job_id: Set(None),
        error: Set(None),
        http_status: Set(202),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("store a delivery")
    .id
}

/// Processes inbox row `id` as the `process_delivery` job does.
pub(super) async fn process(ctx: Arc<JobContext>, id: i64) -> jobs::Result<()> {
    jobs::capture::process_delivery(&ctx, id, 1).await.map(drop)
}

/// T7 (P3b). Greenhouse merges candidate L into S while a new application
/// of L is captured. Unfixed, capture attaches the application (and its
/// referral) to L after the merge moved everything else to S. Fixed, no
/// application or referral is left on a merged-away candidate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn merge_racing_capture_leaves_nothing_on_the_merged_away_candidate() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    referrer(db, "E-MERGE").await;
    for i in 0..ITERATIONS {
        let (loser_gh, survivor_gh) = (800_000 + 2 * i, 800_001 + 2 * i);
        let mut loser = greenhouse_event(3 * i);
        loser.ats_candidate_id = Some(loser_gh.to_string());
        loser.email = Some(format!("loser{i}@example.org"));
        let mut survivor = greenhouse_event(3 * i + 1);
        survivor.ats_candidate_id = Some(survivor_gh.to_string());
        survivor.email = Some(format!("survivor{i}@example.org"));
        let loser_id = jobs::capture::capture_application(&ctx, &loser)
            .await
            .expect("capture the loser")
            .candidate_id;
        jobs::capture::capture_application(&ctx, &survivor)
            .await
            .expect("capture the survivor");

        let mut again = greenhouse_event(3 * i + 2);
        again.ats_candidate_id = Some(loser_gh.to_string());
        again.email = loser.email.clone();
        again.job_id = "4077777".into();
        again.credited_employee_id = Some("E-MERGE".into());
        let merge = greenhouse_delivery(
            db,
            serde_json::json!({ "action": "merge_candidate", "payload": { "person": {
                "id": loser_gh, "new_candidate_id": survivor_gh } } }),
        )
        .await;
        let holder = hold(i, &app.db.conn, "candidates", "id", loser_id).await;
        let c = ctx.clone();
        let (merged, captured) = race(holder, process(ctx.clone(), merge), async move {
            jobs::capture::capture_application(&c, &again).await
        })
        .await;
        merged.expect("the merge");
        captured.expect("the capture");
    }

    let merged: Vec<i64> = all::<candidate::Entity>(db)
        .await
        .into_iter()
        .filter(|c| c.merged_into_id.is_some())
        .map(|c| c.id)
        .collect();
    assert_eq!(merged.len(), ITERATIONS as usize, "every merge applied");
    let stranded_apps: Vec<_> = all::<application::Entity>(db)
        .await
        .into_iter()
        .filter(|a| merged.contains(&a.candidate_id))
        .collect();
    let stranded_refs: Vec<_> = all::<referral::Entity>(db)
        .await
        .into_iter()
        .filter(|r| merged.contains(&r.candidate_id))
        .collect();
    assert!(
        stranded_apps.is_empty() && stranded_refs.is_empty(),
        "left on merged-away candidates: {stranded_apps:#?} {stranded_refs:#?}"
    );
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T8 (P3d). Greenhouse anonymises a candidate while a new application of
/// theirs (reaching them by their ATS id, with a phone we did not have) is
/// captured. Unfixed, capture fills the phone in after the erasure.
/// Fixed, an anonymised candidate holds no personal data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn anonymize_racing_capture_never_refills_personal_data() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    for i in 0..ITERATIONS {
        let gh = 850_000 + i;
        let mut first = greenhouse_event(2 * i);
        first.ats_candidate_id = Some(gh.to_string());
        first.email = Some(format!("erase{i}@example.org"));
        let id = jobs::capture::capture_application(&ctx, &first)
            .await
            .expect("capture the candidate")
            .candidate_id;

        let mut again = greenhouse_event(2 * i + 1);
        again.ats_candidate_id = Some(gh.to_string());
        again.email = first.email.clone();
        again.phone = Some(format!("+49 30 {}", 2_718_281 + i * 31));
        again.job_id = "4088888".into();
        let erase = greenhouse_delivery(
            db,
            serde_json::json!({ "action": "candidate_anonymized",
                "payload": { "candidate_id": gh, "anonymized_fields": ["full_name"] } }),
        )
        .await;
        let holder = hold(i, &app.db.conn, "candidates", "id", id).await;
        let c = ctx.clone();
        let (erased, captured) = race(holder, process(ctx.clone(), erase), async move {
            jobs::capture::capture_application(&c, &again).await
        })
        .await;
        erased.expect("the anonymisation");
        captured.expect("the capture");
    }

    let anonymised: Vec<_> = all::<candidate::Entity>(db)
        .await
        .into_iter()
        .filter(|c| c.anonymized_at.is_some())
        .collect();
    assert_eq!(
        anonymised.len(),
        ITERATIONS as usize,
        "every erasure applied"
    );
    for c in anonymised {
        assert!(
            c.email_raw.is_none()
                && c.email_canonical.is_none()
                && c.phone_raw.is_none()
                && c.phone_e164.is_none(),
            "candidate {}: personal data after the erasure: {c:#?}",
            c.id
        );
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T8, the retention-purge half (P3d). A candidate rejected long ago, due
/// for the retention purge, applies again (a new active application that
/// reaches them by their Greenhouse id, with a phone we did not have) just
/// as the purge runs. The purge's keys (their email, their old application,
/// their Greenhouse id) and the capture's (the new application, the new
/// phone) are disjoint, so only the candidate's row lock orders the two.
/// Unfixed, the purge decides on the candidate as it was before the capture
/// and erases it after the capture committed: a live candidacy erased, the
/// phone it brought with it gone. Fixed, one came first: either the capture
/// (the purge, deciding again under the lock, sees the active application
/// and keeps the candidate whole, new phone included) or the purge (the
/// capture then finds the candidate erased, attaches the application to it
/// and fills nothing back in).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn retention_purge_racing_capture_never_erases_a_live_candidacy() {
    const RETENTION: Duration = Duration::from_secs(30 * 86_400);
    const PURGED: &str = "retention.candidate_purged";
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    let long_ago = Utc::now() - chrono::Duration::days(60);
    let mut raced = Vec::new();
    for i in 0..ITERATIONS {
        let gh = 870_000 + i;
        let email = format!("lapsed{i}@example.org");
        let mut first = greenhouse_event(2 * i);
        first.ats_candidate_id = Some(gh.to_string());
        first.email = Some(email.clone());
        first.status = Some("rejected".into());
        let id = jobs::capture::capture_application(&ctx, &first)
            .await
            .expect("capture the candidate")
            .candidate_id;
        backdate(db, id, long_ago).await;
        // Every earlier candidate is erased or applying again by now.
        let due = jobs::maintenance::retention::purge(&ctx, RETENTION, true, OPS)
            .await
            .expect("a dry run");
        assert_eq!(due.candidates, [id], "the one candidate due for the purge");

        // No email: it would share the purge's `cand:email:` key.
        let mut again = greenhouse_event(2 * i + 1);
        again.ats_candidate_id = Some(gh.to_string());
        let phone = format!("+49 30 {}", 3_141_592 + i * 37);
        again.phone = Some(phone.clone());
        again.job_id = "4066666".into();
        let holder = hold(i, &app.db.conn, "candidates", "id", id).await;
        let (c1, c2) = (ctx.clone(), ctx.clone());
        let (purged, captured) = race(
            holder,
            async move { jobs::maintenance::retention::purge(&c1, RETENTION, false, OPS).await },
            async move { jobs::capture::capture_application(&c2, &again).await },
        )
        .await;
        let purged = purged.expect("the purge");
        let captured = captured.expect("the capture");
        assert!(
            purged.candidates.is_empty() || purged.candidates == [id],
            "candidate {id}: purged {:?}",
            purged.candidates
        );
        assert_eq!(captured.candidate_id, id, "found by its Greenhouse id");
        let phone = E164::parse(&phone, &[])
            .expect("a phone")
            .as_str()
            .to_owned();
        raced.push((id, email, phone, captured.application_id));
    }

    let candidates = all::<candidate::Entity>(db).await;
    let applications = all::<application::Entity>(db).await;
    let purges: Vec<audit_event::Model> = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq(PURGED))
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await
        .expect("read the log");
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for (id, email, phone, application_id) in raced {
        let c = candidates
            .iter()
            .find(|c| c.id == id)
            .expect("the candidate");
        let a = applications
            .iter()
            .find(|a| a.id == application_id)
            .expect("the new application");
        assert_eq!(
            (a.candidate_id, a.status),
            (id, ApplicationStatus::Active),
            "candidate {id}: the new application is theirs and live: {a:#?}"
        );
        let erased: Vec<_> = purges
            .iter()
            .filter(|e| e.subject_id == id.to_string())
            .collect();
        match c.anonymized_at {
            None => {
                assert!(erased.is_empty(), "candidate {id}: {erased:#?}");
                assert_eq!(
                    (c.email_canonical.as_deref(), c.phone_e164.as_deref()),
                    (Some(email.as_str()), Some(phone.as_str())),
                    "candidate {id}: kept, with the phone the capture brought: {c:#?}"
                );
                *outcomes.entry("capture first, kept").or_default() += 1;
            }
            Some(_) => {
                assert_eq!(erased.len(), 1, "candidate {id}: purged once: {erased:#?}");
                assert!(
                    c.email_raw.is_none()
                        && c.email_canonical.is_none()
                        && c.phone_raw.is_none()
                        && c.phone_e164.is_none()
                        && c.first_name.is_empty()
                        && c.last_name.is_none(),
                    "candidate {id}: personal data after the purge: {c:#?}"
                );
                // The purge's event is stamped as it commits, the
                // application before the capture commits: a live
                // application stamped first was on record when the purge
                // erased its candidate.
                assert!(
                    erased[0].occurred_at < a.updated_at,
                    "candidate {id}: purged at {} with an active application on record since {}",
                    erased[0].occurred_at,
                    a.updated_at
                );
                *outcomes.entry("purge first, erased").or_default() += 1;
            }
        }
    }
    eprintln!("retention purge vs capture: {outcomes:?}");
    assert_chain_intact(db).await;
    app.cleanup().await;
}
