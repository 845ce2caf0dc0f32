//! Helpers for the fallback write-back's tests (`tests/tests/api/twin_fallback.rs`):
//! an app whose careers-site referrals wait `twin_wait` for their ATS
//! twin, a referred careers-site submission, and the wait's row and audit
//! as the tests read them.

use std::time::Duration;

use entities::twin_wait::{self, TwinWaitState};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;
use worker::config::Settings;

use crate::{
    app::{Setup, TestApp},
    fixtures::{
        Audit, CaptureApp, CareersApplication, audit_with, mint_link, post_careers_site, processed,
        put_employee, spawn_capture_app, unique, wait_until,
    },
};

/// The referrer every scenario's link belongs to.
pub const REFERRER: &str = "E-TWIN";

/// An app wired to the fake Greenhouse and Lever whose careers-site
/// referrals wait `wait` for their twin, then are looked up at most
/// `lookups` times; `configure` changes the rest.
pub async fn spawn_waiting_app(
    setup: Setup,
    wait: Duration,
    lookups: u32,
    configure: impl FnOnce(&mut Settings),
) -> CaptureApp {
    spawn_capture_app(setup, |s| {
        s.ats.twin_wait = wait;
        s.ats.twin_lookups = lookups;
        s.queue.kinds.insert(
            "twin_wait_due".into(),
            worker::config::RetryOverride {
                max_attempts: Some(50),
                base_delay: Some(Duration::from_millis(50)),
                max_delay: Some(Duration::from_millis(250)),
            },
        );
        configure(s);
    })
    .await
}

/// A careers-site submission to `job_id` in `ats` (`greenhouse`, `lever`,
/// or `None` for a job the submission does not place) by `email`, with a
/// fresh link of [`REFERRER`]'s; waits until it is processed and returns
/// the link's token.
pub async fn referred_submission(
    app: &TestApp,
    ats: Option<&str>,
    job_id: &str,
    email: &str,
) -> String {
    put_employee(app, REFERRER, "twin.referrer@acme-example.com", true).await;
    let token = mint_link(app, REFERRER, job_id).await;
    let mut body = CareersApplication::new(job_id, email)
        .referred_by(&token)
        .json();
    body["job"]["ats"] = ats.map_or(Value::Null, |a| Value::String(a.into()));
    let bytes = serde_json::to_vec(&body).expect("serialise");
    processed(app, post_careers_site(app, &unique("msg_"), &bytes).await).await;
    token
}

/// Every fallback wait.
pub async fn waits(db: &DatabaseConnection) -> Vec<twin_wait::Model> {
    twin_wait::Entity::find()
        .all(db)
        .await
        .expect("read twin_waits")
}

/// The only wait, once it is in `state`.
///
/// # Panics
/// Unless exactly one wait reaches `state` in time.
pub async fn wait_for_state(db: &DatabaseConnection, state: TwinWaitState) -> twin_wait::Model {
    wait_until(&format!("the twin wait becomes {state:?}"), || async {
        waits(db).await.iter().any(|w| w.state == state)
    })
    .await;
    let all = waits(db).await;
    assert_eq!(all.len(), 1, "one wait: {all:#?}");
    all.into_iter().next().expect("one wait")
}

/// The `attribution.twin_fallback` events, oldest first.
pub async fn fallback_audits(db: &DatabaseConnection) -> Vec<Audit> {
    audit_with(db, "attribution.twin_fallback").await
}
