//! `GET /metrics` (issue 6): the Prometheus text exposition after real work
//! (webhooks accepted, repeated and forged; probe jobs that retry, succeed
//! and die; a credited hire written back to a fake Greenhouse, its two
//! bonus tranches POSTed to a verifying receiver, its probation timer
//! firing).
//!
//! The recorder is global to the test process, so event counters are
//! compared with a scrape taken before the work and asserted to have grown
//! by at least what this test did. Scrape-time figures (queue depth,
//! payouts per state) come from this app's own database and queue.

use std::{collections::BTreeMap, time::Duration};

use entities::payout::{self, PayoutState};
use jobs::job::{Job, Probe};
use jobs::payout::rules::{BonusRules, default_rules};
use queue::{JobId, JobState};
use sea_orm::EntityTrait;
use tests::{
    app::{Setup, TestApp},
    destinations::BONUS_SECRET,
    fixtures::{
        CareersApplication, GreenhouseApplication, credited_hire, post_careers_site, post_raw,
        spawn_capture_app, unique, wait_until,
    },
    receiver::Receiver,
};
use worker::config::Secret;

const BONUS_PATH: &str = "/bonus";

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition strictly enough to catch a malformed line:
/// comments are `# HELP name text` or `# TYPE name kind` (each family typed
/// once), every other non-empty line is `name{k="v",...} value` or
/// `name value`, with a valid metric name and a float value.
fn parse(text: &str) -> Vec<Sample> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (what, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("comment without a name: {line:?}"));
            assert!(valid_name(name), "bad metric name in {line:?}");
            match what {
                Some("HELP") => {}
                Some("TYPE") => {
                    let kind = tail.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad type in {line:?}"
                    );
                    assert!(
                        typed.insert(name.to_string(), kind.to_string()).is_none(),
                        "{name} typed twice"
                    );
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut labels = BTreeMap::new();
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                    assert!(valid_name(k), "bad label name in {line:?}");
                    let v = v.strip_suffix('"').unwrap_or(v);
                    assert!(!v.contains('"'), "unexpected quote in {line:?}");
                    labels.insert(k.to_string(), v.to_string());
                }
                (name, labels)
            }
        };
        assert!(valid_name(name), "bad metric name in {line:?}");
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The sum of the samples of `name` whose labels include `labels`
/// (0 when there is none: a counter appears on its first increment).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn has(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> bool {
    samples.iter().any(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics body");
    let samples = parse(&text);
    (text, samples)
}

async fn job_state(app: &TestApp, id: &JobId) -> Option<JobState> {
    app.queue().get(id).await.expect("get job").map(|j| j.state)
}

async fn enqueue_probe(app: &TestApp, probe: Probe) -> JobId {
    let job = Job::Probe(probe)
        .to_new_job(&app.state.retry)
        .expect("probe job");
    app.queue().enqueue(job).await.expect("enqueue").id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_show_jobs_webhooks_outbound_calls_payouts_and_timers() {
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path(BONUS_PATH)
        .start()
        .await;
    let bonus_url = receiver.url(BONUS_PATH);
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        let mut rule = default_rules().rules()[0].clone();
        rule.probation = Duration::from_secs(2);
        s.payouts.rules = BonusRules::new(vec![rule]);
        s.payouts.timer_sweep = Duration::from_millis(300);
        s.payouts.destination_url = bonus_url.clone();
        s.payouts.destination_secret = Secret::new(BONUS_SECRET);
        // 30 per window, one request a second with bursts of 3: the
        // write-back's later calls wait.
        s.ats.greenhouse.requests_per_window = 30;
    })
    .await;
    let app = &world.app;
    let (_, before) = scrape(app).await;

    // Webhooks: three Greenhouse deliveries accepted (application, two hire
    // announcements), one careers-site delivery accepted then repeated,
    // one forged Greenhouse delivery.
    let gh = GreenhouseApplication::new(770_001, 550_001, 4_012_345, "metrics1@example.org");
    credited_hire(app, "E-MET", gh).await;
    let msg = unique("msg_");
    let body = CareersApplication::new("J-MET", "metrics2@example.org").body();
    assert_eq!(post_careers_site(app, &msg, &body).await.status(), 202);
    assert_eq!(post_careers_site(app, &msg, &body).await.status(), 200);
    let forged = post_raw(
        app,
        "/webhooks/greenhouse",
        &[
            ("content-type".into(), "application/json".into()),
            ("greenhouse-event-id".into(), unique("evt")),
            ("signature".into(), format!("sha256 {}", "0".repeat(64))),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(forged.status(), 401);

    // Jobs: one probe fails once then succeeds, one fails permanently.
    let flaky = enqueue_probe(
        app,
        Probe {
            sleep_ms: 5,
            fail_attempts: 1,
            permanent_failure: false,
        },
    )
    .await;
    let doomed = enqueue_probe(
        app,
        Probe {
            sleep_ms: 0,
            fail_attempts: 0,
            permanent_failure: true,
        },
    )
    .await;
    wait_until("the flaky probe succeeds", || async {
        job_state(app, &flaky).await == Some(JobState::Succeeded)
    })
    .await;
    wait_until("the doomed probe is dead", || async {
        job_state(app, &doomed).await == Some(JobState::Dead)
    })
    .await;
    // Payouts: both tranches delivered (the second after the probation
    // timer fired), and the write-back reached Greenhouse.
    let db = world.db();
    wait_until("both tranches delivered", || async {
        let rows = payout::Entity::find().all(db).await.expect("payouts");
        rows.len() == 2 && rows.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    wait_until("the write-back reached Greenhouse", || async {
        world.harvest.seen().len() >= 2
    })
    .await;

    let (text, after) = scrape(app).await;
    let grew = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (b, a) = (value(&before, name, labels), value(&after, name, labels));
        assert!(
            a - b >= by,
            "{name}{labels:?} grew by {} (from {b} to {a}), expected at least {by}\n{text}",
            a - b
        );
    };

    // Webhook intake.
    let webhooks = "referral_worker_webhooks_total";
    grew(
        webhooks,
        &[
            ("source", "greenhouse"),
            ("outcome", "accepted"),
            ("status", "202"),
        ],
        3.0,
    );
    grew(
        webhooks,
        &[
            ("source", "careers_site"),
            ("outcome", "accepted"),
            ("status", "202"),
        ],
        1.0,
    );
    grew(
        webhooks,
        &[
            ("source", "careers_site"),
            ("outcome", "duplicate"),
            ("status", "200"),
        ],
        1.0,
    );
    grew(
        webhooks,
        &[
            ("source", "greenhouse"),
            ("outcome", "rejected"),
            ("status", "401"),
        ],
        1.0,
    );

    // Jobs per kind.
    let probe = [("kind", "probe")];
    grew("referral_worker_jobs_enqueued_total", &probe, 2.0);
    grew("referral_worker_jobs_started_total", &probe, 3.0);
    grew("referral_worker_jobs_succeeded_total", &probe, 1.0);
    grew("referral_worker_jobs_failed_total", &probe, 1.0);
    grew("referral_worker_jobs_dead_total", &probe, 1.0);
    grew("referral_worker_job_duration_seconds_count", &probe, 3.0);
    grew(
        "referral_worker_jobs_enqueued_total",
        &[("kind", "process_delivery")],
        4.0,
    );
    assert!(
        has(
            &after,
            "referral_worker_job_duration_seconds_bucket",
            &[("kind", "probe"), ("le", "+Inf")]
        ),
        "a real histogram with buckets\n{text}"
    );
    assert_eq!(
        value(
            &after,
            "referral_worker_job_duration_seconds_bucket",
            &[("kind", "probe"), ("le", "+Inf")]
        ),
        value(&after, "referral_worker_job_duration_seconds_count", &probe),
    );

    // Outbound calls: the two bonus POSTs, the Greenhouse write-back.
    grew(
        "referral_worker_outbound_requests_total",
        &[
            ("destination", "bonus"),
            ("status", "200"),
            ("error", "none"),
        ],
        2.0,
    );
    grew(
        "referral_worker_outbound_request_duration_seconds_count",
        &[("destination", "bonus")],
        2.0,
    );
    grew(
        "referral_worker_outbound_requests_total",
        &[("destination", "greenhouse")],
        2.0,
    );

    // One destination naming scheme: the names `enable` takes.
    for s in after
        .iter()
        .filter(|s| s.name == "referral_worker_outbound_requests_total")
    {
        let d = s.labels["destination"].as_str();
        assert!(
            [
                "bonus",
                "status_sync",
                "crm",
                "alert",
                "greenhouse",
                "lever"
            ]
            .contains(&d),
            "destination {d:?}"
        );
        let (status, error) = (&s.labels["status"], &s.labels["error"]);
        assert!(
            (status.parse::<u16>().is_ok() && error == "none")
                || (status == "none"
                    && ["timeout", "connect", "transport"].contains(&error.as_str())),
            "status {status:?} with error {error:?}"
        );
    }

    // The HTTP server, by route pattern (never the raw URI) and status.
    let served = "http_server_request_duration_seconds_count";
    grew(
        served,
        &[
            ("method", "POST"),
            ("route", "/webhooks/greenhouse"),
            ("status", "202"),
        ],
        3.0,
    );
    grew(
        served,
        &[
            ("method", "POST"),
            ("route", "/webhooks/greenhouse"),
            ("status", "401"),
        ],
        1.0,
    );
    grew(
        served,
        &[
            ("method", "POST"),
            ("route", "/webhooks/applications"),
            ("status", "200"),
        ],
        1.0,
    );
    grew(
        served,
        &[("method", "GET"), ("route", "/metrics"), ("status", "200")],
        1.0,
    );
    let flaky_url = format!("/api/ops/jobs/{flaky}");
    let r = app
        .client
        .get(app.url(&flaky_url))
        .bearer_auth(tests::fixtures::tokens::OPS)
        .send()
        .await
        .expect("job detail");
    assert_eq!(r.status(), 200);
    assert_eq!(app.get("/no/such/route/42").await.status(), 404);
    let (text, after) = scrape(app).await;
    assert!(
        has(
            &after,
            served,
            &[
                ("method", "GET"),
                ("route", "/api/ops/jobs/{id}"),
                ("status", "200")
            ]
        ),
        "{text}"
    );
    assert!(
        has(
            &after,
            served,
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        "{text}"
    );
    assert!(!text.contains(&flaky_url), "a raw URI became a label");
    assert!(!text.contains("/no/such/route"), "a raw URI became a label");

    // What is running, and the process's own figures.
    assert_eq!(
        value(
            &after,
            "referral_worker_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0,
        "{text}"
    );
    assert!(
        value(&after, "process_resident_memory_bytes", &[]) > 0.0,
        "{text}"
    );
    assert!(
        value(&after, "process_start_time_seconds", &[]) > 0.0,
        "{text}"
    );
    assert!(has(&after, "process_cpu_seconds_total", &[]), "{text}");
    assert!(has(&after, "process_open_fds", &[]), "{text}");

    // The rate limiter made the write-back wait (1 request a second).
    grew("referral_worker_rate_limiter_wait_seconds_count", &[], 1.0);
    grew("referral_worker_rate_limiter_wait_seconds_sum", &[], 0.1);

    // The probation timer fired, and its lag was recorded.
    grew(
        "referral_worker_probation_timer_lag_seconds_count",
        &[],
        1.0,
    );

    // Scrape-time figures of this app.
    assert_eq!(
        value(&after, "referral_worker_payouts", &[("state", "delivered")]),
        2.0
    );
    assert!(has(
        &after,
        "referral_worker_payouts",
        &[("state", "pending")]
    ));
    assert!(value(&after, "referral_worker_queue_jobs", &[("state", "dead")]) >= 1.0);
    assert!(
        value(
            &after,
            "referral_worker_queue_jobs",
            &[("state", "succeeded")]
        ) >= 2.0
    );
    assert!(has(
        &after,
        "referral_worker_queue_oldest_ready_age_seconds",
        &[]
    ));
    // An age per state, empty states included (0).
    for state in [
        "scheduled",
        "ready",
        "running",
        "retrying",
        "succeeded",
        "dead",
        "cancelled",
    ] {
        assert!(
            has(
                &after,
                "referral_worker_queue_oldest_age_seconds",
                &[("state", state)]
            ),
            "an age for {state}"
        );
    }

    // No label carries an id, an email or a URL.
    for s in &after {
        for (k, v) in &s.labels {
            // A route is a pattern: `{id}` stands for the id.
            let extra = if k == "route" { "/{}*" } else { "" };
            assert!(
                v.len() <= 40
                    && v.chars().all(|c| c.is_ascii_alphanumeric()
                        || "_-.+".contains(c)
                        || extra.contains(c)),
                "label {k}={v:?} on {} looks like data, not a category",
                s.name
            );
        }
    }
    assert!(!text.contains("example.org"), "an email leaked");
    assert!(!text.contains("127.0.0.1"), "a URL leaked");

    world.cleanup().await;
}
