//! T1, T2: the probation timer against an unhire and a termination (P1).

use super::*;

/// T1 (P1a). An unhire's sync and the probation timer both read the
/// probation as armed. Unfixed, the timer overwrites the cancellation with
/// `Reached` (and can release the tranche the unhire just cancelled): a
/// bonus for an undone hire, and a log saying both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn unhire_racing_probation_timer_never_pays() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let hires = hires(&ctx, 0, ITERATIONS).await;
    for (i, h) in hires.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "milestones", "id", h.probation.id).await;
        let (unhired, fired) = race(
            holder,
            unhire(ctx.clone(), h.application_id),
            timer(ctx.clone(), h.clone()),
        )
        .await;
        unhired.expect("the unhire's sync");
        fired.expect("the probation timer");
    }

    let db = &ctx.db;
    let log = audit(db).await;
    for h in &hires {
        let probation = milestone_row(db, h.probation.id).await;
        let ends = terminal_events(&log, h.probation.id);
        assert_eq!(
            ends.len(),
            1,
            "application {}: the probation ends once, not both cancelled and completed: {ends:#?}",
            h.application_id
        );
        let expected = match ends[0].action.as_str() {
            "milestone.cancelled" => MilestoneState::Cancelled,
            _ => MilestoneState::Reached,
        };
        assert_eq!(
            probation.state, expected,
            "application {}: the probation's state is what its one terminal event says",
            h.application_id
        );
        let hire = milestone::Entity::find()
            .filter(milestone::Column::ApplicationId.eq(h.application_id))
            .filter(milestone::Column::Kind.eq(MilestoneKind::Hire))
            .one(db)
            .await
            .expect("read milestones")
            .expect("a hire milestone");
        assert_eq!(hire.state, MilestoneState::Cancelled, "the hire is undone");
        if probation.state == MilestoneState::Reached {
            // Only a timer that completed before the unhire may leave it
            // reached (the unhire then cancels what it released).
            let unhired_at = terminal_events(&log, hire.id)[0];
            let pos = |e: &Audit| log.iter().position(|x| std::ptr::eq(x, e));
            assert!(
                pos(ends[0]) < pos(unhired_at),
                "application {}: probation completed after the hire was undone",
                h.application_id
            );
        }
        for p in [&h.hire_payout, &h.probation_payout] {
            let p = payout_row(db, p.id).await;
            assert_eq!(
                p.state,
                PayoutState::Cancelled,
                "application {}: tranche {} of an undone hire must not be paid: {:?}",
                h.application_id,
                p.tranche,
                payout_actions(&log, p.id)
            );
        }
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T2 (P1b). A termination and the probation timer: either the probation
/// completed first (reached, tranche eligible) or the termination did
/// (cancelled, tranche cancelled); never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn termination_racing_probation_timer_is_all_or_nothing() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let hires = hires(&ctx, 0, ITERATIONS).await;
    for (i, h) in hires.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "milestones", "id", h.probation.id).await;
        let c = ctx.clone();
        let application_id = h.application_id;
        let (terminated, fired) = race(
            holder,
            async move { jobs::milestones::terminate(&c, application_id, "left the company").await },
            timer(ctx.clone(), h.clone()),
        )
        .await;
        terminated.expect("the termination");
        fired.expect("the probation timer");
    }

    let db = &ctx.db;
    let log = audit(db).await;
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for h in &hires {
        let probation = milestone_row(db, h.probation.id).await.state;
        let tranche = payout_row(db, h.probation_payout.id).await.state;
        let outcome = match (probation, tranche) {
            (MilestoneState::Reached, PayoutState::Eligible) => "completed",
            (MilestoneState::Cancelled, PayoutState::Cancelled) => "terminated",
            mix => panic!(
                "application {}: probation {:?} with its tranche {:?}; events {:?}",
                h.application_id,
                mix.0,
                mix.1,
                terminal_events(&log, h.probation.id)
            ),
        };
        *outcomes.entry(outcome).or_default() += 1;
        assert_eq!(
            terminal_events(&log, h.probation.id).len(),
            1,
            "application {}: the probation ends once",
            h.application_id
        );
        assert_eq!(
            payout_row(db, h.hire_payout.id).await.state,
            PayoutState::Eligible,
            "the hire tranche was earned at the hire"
        );
    }
    eprintln!("termination vs timer: {outcomes:?}");
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T3 (P1d). The referral of a hire becomes known (a redelivery credits
/// it) just as the probation timer fires. Unfixed, the timer completes the
/// probation as unattributed while the attribution's sync creates a pending
/// probation tranche that nobody releases: reconciliation's
/// `TrancheNotReleased`, back again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn late_attribution_racing_timer_releases_tranche() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let db = &ctx.db;
    referrer(db, "E-LATE").await;
    // Hires nobody is credited for yet.
    let mut unattributed = Vec::new();
    for n in 0..ITERATIONS {
        let mut ev = greenhouse_event(n);
        ev.email = Some(format!("late{n}@example.org"));
        ev.status = Some("hired".into());
        let captured = jobs::capture::capture_application(&ctx, &ev)
            .await
            .expect("capture the hire");
        let probation = milestone::Entity::find()
            .filter(milestone::Column::ApplicationId.eq(captured.application_id))
            .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
            .one(db)
            .await
            .expect("read milestones")
            .expect("a probation milestone");
        assert_eq!(probation.referral_id, None);
        unattributed.push((ev, probation));
    }
    let last_due = unattributed
        .iter()
        .filter_map(|(_, m)| m.due_at)
        .max()
        .expect("due times");
    if let Ok(wait) = (last_due - Utc::now()).to_std() {
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
    }

    for (i, (ev, probation)) in unattributed.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "milestones", "id", probation.id).await;
        let mut credited = ev.clone();
        credited.credited_employee_id = Some("E-LATE".into());
        let (c1, c2) = (ctx.clone(), ctx.clone());
        let (id, due) = (
            probation.id,
            probation.due_at.expect("due").timestamp_millis(),
        );
        let (attributed, fired) = race(
            holder,
            async move { jobs::capture::capture_application(&c1, &credited).await },
            async move { jobs::milestones::probation_due(&c2, id, due).await },
        )
        .await;
        attributed.expect("the late attribution");
        fired.expect("the probation timer");
    }

    let report = jobs::maintenance::reconcile::run(&ctx, "manual:race-test", true, OPS)
        .await
        .expect("a dry run")
        .expect("a run");
    let stuck: Vec<_> = report
        .variances
        .iter()
        .filter(|v| v.kind == VarianceKind::TrancheNotReleased)
        .collect();
    assert!(stuck.is_empty(), "tranches left pending: {stuck:#?}");
    let log = audit(db).await;
    for (_, probation) in &unattributed {
        let m = milestone_row(db, probation.id).await;
        assert_eq!(
            m.state,
            MilestoneState::Reached,
            "milestone {}: the timer fired for it, yet it is not reached (re-armed by a stale sync?)",
            m.id
        );
        assert!(m.referral_id.is_some(), "attributed");
        assert_eq!(terminal_events(&log, m.id).len(), 1, "completed once");
        let tranche = payout::Entity::find()
            .filter(payout::Column::ReferralId.eq(m.referral_id.expect("a referral")))
            .filter(payout::Column::Tranche.eq("probation"))
            .one(db)
            .await
            .expect("read payouts")
            .expect("a probation tranche");
        assert_eq!(
            tranche.state,
            PayoutState::Eligible,
            "milestone {}: reached, so its tranche is released",
            m.id
        );
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T4 (P1c). The start date moves (the probation is re-armed for later)
/// just as the timer fires for the old due time. Either the timer came
/// first (reached at the old time, tranche released, nothing re-armed) or
/// the re-arm did (armed for the new time, tranche pending, no
/// completion); never reached after the re-arm, never re-armed after the
/// tranche was released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn rearm_racing_timer_completes_once_or_moves() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let hires = hires(&ctx, 0, ITERATIONS).await;
    let start = Utc::now() + chrono::Duration::days(30);
    for (i, h) in hires.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "milestones", "id", h.probation.id).await;
        let c = ctx.clone();
        let application_id = h.application_id;
        let (rearmed, fired) = race(
            holder,
            async move {
                // The offer's new start date, committed by capture; then
                // its sync.
                application::Entity::update_many()
                    .set(application::ActiveModel {
                        start_date: Set(Some(start)),
                        updated_at: Set(Utc::now()),
                        ..Default::default()
                    })
                    .filter(application::Column::Id.eq(application_id))
                    .exec(&c.db)
                    .await?;
                jobs::milestones::sync_application(&c, application_id).await
            },
            timer(ctx.clone(), h.clone()),
        )
        .await;
        rearmed.expect("the re-arm");
        fired.expect("the probation timer");
    }

    let db = &ctx.db;
    let log = audit(db).await;
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for h in &hires {
        let m = milestone_row(db, h.probation.id).await;
        let tranche = payout_row(db, h.probation_payout.id).await.state;
        let of_it = |action: &str| {
            log.iter()
                .filter(|e| e.action == action && e.data["milestone_id"].as_i64() == Some(m.id))
                .count()
        };
        let (completed, moved) = (
            of_it("milestone.probation_completed"),
            of_it("milestone.probation_rearmed"),
        );
        let what = format!(
            "milestone {}: {:?} due {:?}, tranche {tranche:?}, {completed} completed, {moved} re-armed",
            m.id, m.state, m.due_at
        );
        match m.state {
            MilestoneState::Reached => {
                assert_eq!((completed, moved), (1, 0), "{what}");
                assert_eq!(m.occurred_at, h.probation.due_at, "{what}");
                assert_eq!(tranche, PayoutState::Eligible, "{what}");
                *outcomes.entry("completed").or_default() += 1;
            }
            MilestoneState::Armed => {
                assert_eq!((completed, moved), (0, 1), "{what}");
                assert!(m.due_at > Some(start), "{what}");
                assert_eq!(tranche, PayoutState::Pending, "{what}");
                *outcomes.entry("re-armed").or_default() += 1;
            }
            _ => panic!("{what}"),
        }
    }
    eprintln!("re-arm vs timer: {outcomes:?}");
    assert_chain_intact(db).await;
    app.cleanup().await;
}
