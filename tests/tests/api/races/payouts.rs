//! T5, T5b: payouts against an unhire's cancellation (P2).

use super::*;

/// T5 (P2a). A send and an unhire both read the hire tranche as eligible.
/// Unfixed, the send's `sending` lands over the cancellation (or the
/// cancellation over `sending`, and the send's outcome over that): money
/// sent for an undone hire. Fixed, exactly one of them wins, cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn send_racing_unhire_pays_only_an_uncancelled_tranche() {
    let bonus = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let app = world(|s| {
        s.payouts.destination_url = bonus.url("/bonus");
        s.payouts.destination_secret = Secret::new(BONUS_SECRET);
    })
    .await;
    let ctx = ctx(&app);
    let hires = hires(&ctx, 0, ITERATIONS).await;
    for (i, h) in hires.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "payouts", "id", h.hire_payout.id).await;
        let c = ctx.clone();
        let payout_id = h.hire_payout.id;
        let (sent, unhired) = race(
            holder,
            async move { jobs::payout::send::send(&c, payout_id, 1).await },
            unhire(ctx.clone(), h.application_id),
        )
        .await;
        sent.expect("the send");
        unhired.expect("the unhire's sync");
    }

    let db = &ctx.db;
    let log = audit(db).await;
    let received = bonus.count_by_idempotency_key();
    let mut outcomes = BTreeMap::<&str, usize>::new();
    for h in &hires {
        let p = payout_row(db, h.hire_payout.id).await;
        let got = received.get(&p.idempotency_key).copied().unwrap_or(0);
        let actions = payout_actions(&log, p.id);
        match p.state {
            PayoutState::Delivered => {
                assert_eq!(got, 1, "payout {}: delivered once", p.id);
                assert!(
                    !actions.contains(&"payout.cancelled"),
                    "payout {}: paid, yet cancelled on record: {actions:?}",
                    p.id
                );
                *outcomes.entry("paid").or_default() += 1;
            }
            PayoutState::Cancelled => {
                assert_eq!(
                    got, 0,
                    "payout {}: cancelled, yet the receiver got it",
                    p.id
                );
                assert!(
                    !actions.contains(&"payout.attempt"),
                    "payout {}: cancelled, yet attempted: {actions:?}",
                    p.id
                );
                *outcomes.entry("cancelled").or_default() += 1;
            }
            other => panic!("payout {}: ended {other:?}: {actions:?}", p.id),
        }
    }
    eprintln!("send vs unhire: {outcomes:?}");
    assert_chain_intact(db).await;
    app.cleanup().await;
}

/// T5b (P2b). Ops hold or approve a tranche while an unhire cancels it:
/// whichever comes first, the tranche ends cancelled; a cancelled payout is
/// never held or approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
pub(super) async fn hold_or_approve_racing_cancel_never_revives_a_cancelled_payout() {
    let app = world(|_| {}).await;
    let ctx = ctx(&app);
    let hires = hires(&ctx, 0, ITERATIONS).await;
    for (i, h) in hires.iter().enumerate() {
        let holder = hold(i as u64, &app.db.conn, "payouts", "id", h.hire_payout.id).await;
        let c = ctx.clone();
        let payout_id = h.hire_payout.id;
        let approve = i % 4 >= 2;
        let (ops, unhired) = race(
            holder,
            async move {
                if approve {
                    jobs::payout::approval::approve(&c, payout_id, OPS, "checked").await
                } else {
                    jobs::payout::approval::hold(&c, payout_id, OPS, "disputed").await
                }
            },
            unhire(ctx.clone(), h.application_id),
        )
        .await;
        match ops {
            Ok(_) | Err(jobs::Error::InvalidState { .. }) => {}
            Err(e) => panic!("ops on payout {payout_id}: {e}"),
        }
        unhired.expect("the unhire's sync");
    }

    let db = &ctx.db;
    let log = audit(db).await;
    for h in &hires {
        let p = payout_row(db, h.hire_payout.id).await;
        let actions = payout_actions(&log, p.id);
        assert_eq!(
            p.state,
            PayoutState::Cancelled,
            "payout {}: {actions:?}",
            p.id
        );
        if let Some(cancelled) = actions.iter().position(|a| *a == "payout.cancelled") {
            assert!(
                !actions[cancelled..]
                    .iter()
                    .any(|a| matches!(*a, "payout.held" | "payout.approved")),
                "payout {}: held or approved after its cancellation: {actions:?}",
                p.id
            );
        }
    }
    assert_chain_intact(db).await;
    app.cleanup().await;
}
