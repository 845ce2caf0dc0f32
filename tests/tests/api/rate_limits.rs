//! The bonus destination's rate limit with several worker processes.
//!
//! The limiter is per process (governor, in memory), so the fleet's budget
//! is split: each of N processes is configured with
//! `payouts.destination_requests_per_second` = budget / N (see the README,
//! "Rate limits with several workers"). This test runs two real worker
//! processes on one PostgreSQL and one Redis against one receiver and checks
//! what the receiver saw: in any window of T seconds, at most N × (burst +
//! rate × T) requests (governor's GCRA allows a burst of `rate` at once).
//! Only upper bounds on the *rate* are asserted, never how fast the test
//! finishes.

use std::time::{Duration, Instant};

use entities::payout::{self, PayoutState};
use sea_orm::EntityTrait;
use tests::{
    app::{Setup, TestApp, setting_var, spawn_process, worker_env},
    destinations::BONUS_SECRET,
    fixtures::{
        GreenhouseApplication, post_greenhouse, processed, put_employee, spawn_capture_app, unique,
        wait_until,
    },
    queue::redis_url,
    receiver::Receiver,
};

const PAYOUTS: usize = 12;
const RATE: usize = 2;
const PROCESSES: usize = 2;

async fn hire(app: &TestApp, n: u64) {
    let gh = GreenhouseApplication::new(
        770_000 + n,
        440_000 + n,
        4_012_345,
        &format!("limited{n}@example.org"),
    )
    .credited_to("E-RATE");
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    let mut e = gh.clone();
    e.action = "hire_candidate".into();
    e.status = "hired".into();
    processed(app, post_greenhouse(app, &unique("evt"), &e.body()).await).await;
}

/// Most requests seen in any window of `window` starting at a request.
fn busiest(arrivals: &[Instant], window: Duration) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t < *start + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_worker_processes_keep_to_the_split_budget_of_one_destination() {
    // Hires made with no destination configured: the payouts wait, eligible.
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |_| {}).await;
    put_employee(&world.app, "E-RATE", "rate@acme-example.com", true).await;
    for n in 0..PAYOUTS as u64 {
        hire(&world.app, n).await;
    }
    let db = world.db().clone();
    let eligible = payout::Entity::find().all(&db).await.expect("payouts");
    assert_eq!(
        eligible
            .iter()
            .filter(|p| p.state == PayoutState::Eligible)
            .count(),
        PAYOUTS
    );
    let mut world = world;
    world.app.stop().await.expect("stop the in-process app");

    let receiver = Receiver::builder().secret(BONUS_SECRET).start().await;
    let database_url = world.app.db.as_ref().expect("db").url.clone();
    let prefix = world.app.redis_prefix.clone().expect("prefix");
    let mut env = worker_env(&database_url, Some((&redis_url(), &prefix)));
    for (key, value) in [
        ("payouts.destination_url", receiver.url("/bonus")),
        ("payouts.destination_secret", BONUS_SECRET.to_string()),
        ("payouts.destination_requests_per_second", RATE.to_string()),
        ("payouts.timer_sweep", "200ms".to_string()),
    ] {
        env.push((setting_var(key), value));
    }
    let mut workers: Vec<_> = (0..PROCESSES)
        .map(|_| spawn_process(&["work", "--no-migrate"], env.clone()))
        .collect();

    wait_until("every payout delivered", || async {
        payout::Entity::find()
            .all(&db)
            .await
            .expect("payouts")
            .iter()
            .filter(|p| p.state == PayoutState::Delivered)
            .count()
            == PAYOUTS
    })
    .await;
    for w in &mut workers {
        w.assert_running();
    }
    let arrivals: Vec<Instant> = receiver.requests().iter().map(|r| r.at).collect();
    assert_eq!(arrivals.len(), PAYOUTS, "each payout sent once");
    for secs in [1u64, 2] {
        let limit = PROCESSES * (RATE + RATE * secs as usize);
        let seen = busiest(&arrivals, Duration::from_secs(secs));
        assert!(
            seen <= limit,
            "{seen} requests within {secs}s; two processes at {RATE}/s allow {limit}"
        );
    }
    drop(workers);
    world.cleanup().await;
}
