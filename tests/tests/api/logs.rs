//! Issue 6: log lines carry job, referral and delivery ids, never emails,
//! names or phone numbers.
//!
//! One test starts the real binary (`serve`, PostgreSQL + Redis) with the
//! most verbose logs (`log.filter` at `debug`, `trace` for our own crates,
//! JSON lines), points it at fake Greenhouse and Lever servers and at
//! verifying receivers for the bonus, status-sync, CRM and alert POSTs, and
//! drives every sample payload of `../shared/payloads/` through it, plus
//! employees, a minted referral link with its click and a careers-site
//! application through that link. When every delivery is processed and
//! every payout and notification sent, the process is stopped with SIGTERM
//! and everything it wrote (stderr and stdout) is searched, case-insensitive,
//! for the personal data the payloads carried: read out of the JSON bodies
//! programmatically (emails, names, phone numbers in their raw, digit-only
//! and E.164 forms via `jobs::identity`), plus what the test itself sent.
//!
//! Needs the binary built first: `cargo build -p worker --bins`.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use chrono::Utc;
use entities::{
    inbox::{self, InboxStatus},
    outbound_message::{self, OutboundState},
    payout::{self, PayoutState},
};
use jobs::identity::{CanonicalEmail, E164};
use queue::JobState;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use tests::{
    app::{TestProcess, delete_redis_prefix, redis_store, setting_var, spawn_process, worker_env},
    db,
    fixtures::{
        self, CAREERS_BASE_URL, CAREERS_SITE_SECRET, CareersApplication, FakeGreenhouse, FakeLever,
        GreenhouseApplication, LEVER_KEY, OTHER_CAREERS_SITE_SECRET, careers_site_headers,
        greenhouse_secret, greenhouse_signature, lever_opportunity, lever_signature_token, payload,
        payload_json, sample, seed_link, signed, time, tokens, unique,
    },
    queue::{redis_url, unique_prefix},
    receiver::{Receiver, Reply},
    vendors::greenhouse as gh,
};

/// The Standard Webhooks secret of every receiver in this test.
const OUTBOUND_SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";

/// How long anything the process does may take.
const WITHIN: Duration = Duration::from_secs(60);

/// Every sample delivery this test sends (the outbound sample and
/// `signatures.json` are not deliveries).
const SAMPLES: [&str; 8] = [
    fixtures::CAREERS_SITE_SAMPLE,
    fixtures::GH_NEW_APPLICATION,
    fixtures::GH_STAGE_CHANGE,
    fixtures::GH_STAGE_CHANGE_HIRED,
    fixtures::GH_HIRE,
    fixtures::GH_MERGE,
    fixtures::LEVER_STAGE_CHANGE,
    fixtures::LEVER_HIRED,
];

/// A second referrer, created through the API, who mints a link.
const LINK_REFERRER: &str = "E-LOGS-7";
const LINK_REFERRER_NAME: &str = "Henrike Wolkenstein";
const LINK_REFERRER_EMAIL: &str = "Henrike.Wolkenstein@acme-example.com";
/// The job of the minted link.
const LINK_JOB: &str = "4019999";

// ---------------------------------------------------------------------------
// The personal data to look for
// ---------------------------------------------------------------------------

/// Keys whose string values are personal wherever they appear.
const PERSONAL_KEYS: [&str; 8] = [
    "email",
    "first_name",
    "last_name",
    "display_name",
    "phone",
    "ip",
    "linkedin_url",
    "user_agent",
];

/// What to search the logs for, collected from JSON bodies.
#[derive(Default)]
struct Personal {
    /// Needles, lower-case.
    needles: BTreeSet<String>,
}

impl Personal {
    fn add(&mut self, text: &str) {
        let t = text.trim();
        if t.chars().count() >= 3 {
            self.needles.insert(t.to_lowercase());
        }
    }

    fn email(&mut self, raw: &str) {
        self.add(raw);
        if let Some((local, _)) = raw.trim().split_once('@') {
            self.add(local);
        }
        if let Some(c) = CanonicalEmail::parse(raw) {
            self.add(c.as_str());
        }
    }

    /// A name: the whole of it, and each part long enough not to be noise
    /// (`José Almeida-Test` gives `almeida` but not `test`).
    fn name(&mut self, raw: &str) {
        self.add(raw);
        for part in raw.split(|c: char| c.is_whitespace() || c == '-') {
            if part.chars().count() >= 5 {
                self.add(part);
            }
        }
    }

    /// A phone: raw, its digits, and its E.164 form (with and without `+`).
    fn phone(&mut self, raw: &str, hints: &[&str]) {
        self.add(raw);
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 8 {
            self.add(&digits);
        }
        if let Some(e164) = E164::parse(raw, hints) {
            self.add(e164.as_str());
            self.add(e164.as_str().trim_start_matches('+'));
        }
    }

    /// Every personal value in `value`: the [`PERSONAL_KEYS`], `emails` and
    /// `phones` lists, `value` of `email_addresses[]` / `phone_numbers[]`,
    /// and `name` of objects that describe a person (they also carry an
    /// email or an employee id; a job's or stage's `name` is no person's).
    fn collect(&mut self, value: &Value, hints: &[&str]) {
        match value {
            Value::Object(map) => {
                let is_person = ["email", "emails", "employee_id", "first_name", "contact"]
                    .iter()
                    .any(|k| map.contains_key(*k));
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("email", Value::String(s)) => self.email(s),
                        ("phone", Value::String(s)) => self.phone(s, hints),
                        ("first_name" | "last_name" | "display_name", Value::String(s)) => {
                            self.name(s);
                        }
                        ("name", Value::String(s)) if is_person => self.name(s),
                        (k, Value::String(s)) if PERSONAL_KEYS.contains(&k) => self.add(s),
                        ("emails" | "email_addresses", Value::Array(items)) => {
                            for item in items {
                                match item {
                                    Value::String(s) => self.email(s),
                                    other => {
                                        if let Some(s) = other["value"].as_str() {
                                            self.email(s);
                                        }
                                    }
                                }
                            }
                        }
                        ("phones" | "phone_numbers", Value::Array(items)) => {
                            for item in items {
                                match item {
                                    Value::String(s) => self.phone(s, hints),
                                    other => {
                                        if let Some(s) = other["value"].as_str() {
                                            self.phone(s, hints);
                                        }
                                    }
                                }
                            }
                        }
                        _ => self.collect(v, hints),
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.collect(item, hints);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Talking to the process
// ---------------------------------------------------------------------------

struct Service {
    base: String,
    client: reqwest::Client,
}

impl Service {
    async fn post(&self, path: &str, headers: &[(String, String)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let response = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn api(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let headers = vec![
            ("authorization".to_owned(), format!("Bearer {token}")),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        self.post(path, &headers, serde_json::to_vec(body).expect("JSON"))
            .await
    }

    /// A careers-site delivery signed now.
    async fn careers_site(&self, body: &[u8]) -> (u16, Value) {
        let mut headers = careers_site_headers(
            CAREERS_SITE_SECRET,
            &unique("msg_"),
            Utc::now().timestamp(),
            body,
        );
        headers.push(("content-type".into(), "application/json".into()));
        self.post("/webhooks/applications", &headers, body.to_vec())
            .await
    }

    /// A Greenhouse delivery signed with the samples' secret.
    async fn greenhouse(&self, body: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(body).expect("JSON");
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("greenhouse-event-id".to_owned(), unique("evt")),
            (
                "signature".to_owned(),
                greenhouse_signature(&greenhouse_secret(), &body),
            ),
        ];
        self.post("/webhooks/greenhouse", &headers, body).await
    }

    /// A sample delivered byte for byte with its recorded headers.
    async fn sample(&self, name: &str) -> (u16, Value) {
        let path = if name.starts_with("greenhouse_") {
            "/webhooks/greenhouse"
        } else {
            "/webhooks/lever"
        };
        self.post(path, &signed(name).headers, payload(name)).await
    }
}

/// The inbox id of a `202`.
fn accepted(what: &str, (status, body): (u16, Value)) -> i64 {
    assert_eq!(status, 202, "{what}: {body}");
    body["inbox_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: no inbox_id in {body}"))
}

/// Polls `check` every 50 ms for at most [`WITHIN`], failing (with the
/// process's log) when the process dies or time runs out.
async fn wait<F, Fut>(process: &mut TestProcess, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let found = process
        .wait_for(WITHIN, || {
            let fut = check();
            async move { fut.await.then_some(()) }
        })
        .await;
    assert!(
        found.is_some(),
        "timed out after {WITHIN:?} waiting for: {what}"
    );
}

/// Waits until the process's stderr satisfies `check`.
async fn wait_in_log(process: &mut TestProcess, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        process.assert_running();
        if check(&process.stderr()) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WITHIN:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_inbox(
    process: &mut TestProcess,
    db: &DatabaseConnection,
    inbox_id: i64,
    status: InboxStatus,
) {
    wait(
        process,
        &format!("inbox row {inbox_id} {status:?}"),
        || async move {
            inbox::Entity::find_by_id(inbox_id)
                .one(db)
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.status == status)
        },
    )
    .await;
}

/// The `listen` address of the "referral-worker starting" line
/// (`"listen": "Some(127.0.0.1:PORT)"`).
fn listen_address(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "referral-worker starting")
        .and_then(|l| l["listen"].as_str().map(str::to_owned))
        .map(|s| {
            s.trim_start_matches("Some(")
                .trim_end_matches(')')
                .to_owned()
        })
}

fn config_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("referral-worker.toml");
    let text = format!(
        r#"
[[api.tokens]]
name = "referral-portal"
token = "{links}"
scopes = ["links"]

[[api.tokens]]
name = "hris-sync"
token = "{employees}"
scopes = ["employees"]

[[api.tokens]]
name = "ops"
token = "{ops}"
scopes = ["ops_read", "ops_admin"]
"#,
        links = tokens::LINKS,
        employees = tokens::EMPLOYEES,
        ops = tokens::OPS,
    );
    std::fs::write(&path, text).expect("write the config file");
    path
}

// ---------------------------------------------------------------------------
// Reading the logs
// ---------------------------------------------------------------------------

/// Whether `field` is set on the event or on one of its spans.
fn has_field(line: &Value, field: &str) -> bool {
    let set = |v: &Value| v.get(field).is_some_and(|f| !f.is_null() && f != "");
    set(line)
        || line.get("fields").is_some_and(set)
        || line.get("span").is_some_and(set)
        || line
            .get("spans")
            .and_then(Value::as_array)
            .is_some_and(|spans| spans.iter().any(set))
}

/// Every string inside `v`, decoded (JSON escapes undone), space-separated.
fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push(' ');
        }
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.iter().for_each(|(k, i)| {
            out.push_str(k);
            out.push(' ');
            strings(i, out);
        }),
        other => {
            out.push_str(&other.to_string());
            out.push(' ');
        }
    }
}

// ---------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------

/// What one run of the service wrote, and what it must not have written.
struct Captured {
    /// Everything on stderr and stdout.
    output: String,
    /// The lines that are JSON, parsed.
    lines: Vec<Value>,
    /// The personal data the service was given.
    personal: Personal,
}

impl Captured {
    /// Lines holding personal data: `needle in: line`.
    fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        for line in self.output.lines().filter(|l| !l.trim().is_empty()) {
            let mut decoded = String::new();
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                strings(&v, &mut decoded);
            }
            let haystack = format!("{line}\n{decoded}").to_lowercase();
            for needle in &self.personal.needles {
                if haystack.contains(needle.as_str()) {
                    leaks.push(format!("{needle:?} in: {line}"));
                }
            }
        }
        leaks
    }

    /// Whether some line carries one of `fields`.
    fn carries(&self, fields: &[&str]) -> bool {
        self.lines
            .iter()
            .any(|l| fields.iter().any(|f| has_field(l, f)))
    }

    /// The lines of our own crates and the fields they carry, for messages.
    fn ours(&self) -> String {
        self.lines
            .iter()
            .filter(|l| {
                l["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("jobs") || t.starts_with("worker"))
            })
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Runs the real binary through every sample payload and more (see the
/// module docs), stops it with SIGTERM and returns what it wrote.
async fn run_the_samples_through_the_service() -> Captured {
    let test_db = db::fresh_postgres().await;
    let prefix = unique_prefix();
    let harvest = FakeGreenhouse::start().await;
    harvest.seed_samples();
    let lever = FakeLever::start().await;
    // The bonus system asks for a pause once: the retry is logged with the job.
    let bonus = Receiver::builder()
        .secret(OUTBOUND_SECRET)
        .reply(Reply::status(503).retry_after("1"))
        .start()
        .await;
    let notify = Receiver::builder().secret(OUTBOUND_SECRET).start().await;
    let slack = Receiver::builder().start().await;

    let config_dir = std::env::temp_dir().join(format!("rw-logs-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&config_dir).expect("config dir");
    let config = config_file(&config_dir);

    let mut env = worker_env(&test_db.url, Some((&redis_url(), &prefix)));
    for (key, value) in [
        // The most verbose logs: everything at debug, our crates at trace.
        ("log.format", "json".to_owned()),
        (
            "log.filter",
            "debug,worker=trace,jobs=trace,entities=trace,migrations=trace".to_owned(),
        ),
        (
            "webhooks.careers_site_secret",
            CAREERS_SITE_SECRET.to_owned(),
        ),
        ("webhooks.greenhouse_secret", greenhouse_secret()),
        ("webhooks.lever_signature_token", lever_signature_token()),
        // The Lever samples were triggered in October 2025.
        ("webhooks.lever_max_age", "3650days".to_owned()),
        ("referrals.careers_base_url", CAREERS_BASE_URL.to_owned()),
        ("ats.greenhouse.base_url", harvest.base_url()),
        ("ats.greenhouse.token_url", harvest.token_url()),
        ("ats.greenhouse.client_id", gh::CLIENT_ID.to_owned()),
        ("ats.greenhouse.client_secret", gh::CLIENT_SECRET.to_owned()),
        ("ats.greenhouse.user_id", gh::USER_ID.to_owned()),
        ("ats.greenhouse.requests_per_window", "3000".to_owned()),
        ("ats.lever.base_url", lever.ats.base_url.clone()),
        ("ats.lever.api_key", LEVER_KEY.to_owned()),
        ("ats.lever.requests_per_second", "100".to_owned()),
        ("queue.retry.base_delay", "100ms".to_owned()),
        ("queue.retry.max_delay", "1s".to_owned()),
        (
            "queue.kinds.process_delivery.base_delay",
            "100ms".to_owned(),
        ),
        ("queue.kinds.process_delivery.max_delay", "250ms".to_owned()),
        ("payouts.destination_url", bonus.url("/bonus")),
        ("payouts.destination_secret", OUTBOUND_SECRET.to_owned()),
        ("payouts.timer_sweep", "500ms".to_owned()),
        ("notifications.status_sync_url", notify.url("/status")),
        (
            "notifications.status_sync_secret",
            OUTBOUND_SECRET.to_owned(),
        ),
        ("notifications.crm_url", notify.url("/crm")),
        ("notifications.crm_secret", OUTBOUND_SECRET.to_owned()),
        ("notifications.alert_webhook_url", slack.url("/alert")),
    ] {
        env.push((setting_var(key), value));
    }
    let config_path = config.to_str().expect("UTF-8 path").to_owned();
    let mut process = spawn_process(&["--config", &config_path, "serve"], env);

    // Where it listens: its start-up line says, once it has migrated.
    wait_in_log(&mut process, "the start-up line", |log| {
        listen_address(log).is_some()
    })
    .await;
    let address = listen_address(&process.stderr()).expect("the listen address");
    let service = Service {
        base: format!("http://{address}"),
        client: tests::app::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("HTTP client"),
    };
    let db = &test_db.conn;
    let hints = ["DE"];
    let mut personal = Personal::default();
    let mut deliveries = 0;

    // Employees: the samples' referrer and one who mints a link.
    let employees = [
        json!({ "employee_id": sample::REFERRER, "email": sample::REFERRER_EMAIL, "name": "Priya Raman", "active": true }),
        json!({ "employee_id": LINK_REFERRER, "email": LINK_REFERRER_EMAIL, "name": LINK_REFERRER_NAME, "active": true }),
    ];
    for e in &employees {
        let (status, body) = service.api("/api/employees", tokens::EMPLOYEES, e).await;
        assert!(
            status == 200 || status == 201,
            "POST /api/employees: {status} {body}"
        );
        personal.collect(e, &hints);
    }
    // The samples' fixed token, which no API call can mint.
    seed_link(
        db,
        sample::TOKEN,
        sample::REFERRER,
        sample::JOB,
        time("2025-08-01T00:00:00Z"),
        Utc::now() + chrono::Duration::days(365),
    )
    .await;

    // Refused deliveries are logged: a forged careers-site sample (401) and
    // one whose date holds an email instead (4xx).
    let careers = payload(fixtures::CAREERS_SITE_SAMPLE);
    let mut headers = careers_site_headers(
        OTHER_CAREERS_SITE_SECRET,
        &unique("msg_"),
        Utc::now().timestamp(),
        &careers,
    );
    headers.push(("content-type".into(), "application/json".into()));
    let (status, body) = service
        .post("/webhooks/applications", &headers, careers.clone())
        .await;
    assert_eq!(status, 401, "{body}");
    let mut bad = payload_json(fixtures::CAREERS_SITE_SAMPLE);
    bad["submitted_at"] = json!("Jose.Almeida+jobs@Example.org");
    let (status, body) = service
        .careers_site(&serde_json::to_vec(&bad).expect("JSON"))
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    deliveries += 2;

    // Every sample, in the order a candidacy produces them.
    for name in SAMPLES {
        personal.collect(&payload_json(name), &hints);
    }
    let id = accepted(
        fixtures::CAREERS_SITE_SAMPLE,
        service.careers_site(&careers).await,
    );
    wait_inbox(&mut process, db, id, InboxStatus::Processed).await;
    for name in [
        fixtures::GH_NEW_APPLICATION,
        fixtures::GH_STAGE_CHANGE,
        fixtures::GH_STAGE_CHANGE_HIRED,
        fixtures::GH_HIRE,
    ] {
        let id = accepted(name, service.sample(name).await);
        wait_inbox(&mut process, db, id, InboxStatus::Processed).await;
    }
    // The merge names a Greenhouse record never seen: ignored.
    let id = accepted(fixtures::GH_MERGE, service.sample(fixtures::GH_MERGE).await);
    wait_inbox(&mut process, db, id, InboxStatus::Ignored).await;
    // Lever: the fake answers the re-fetch with the same person.
    for (name, stage) in [
        (fixtures::LEVER_STAGE_CHANGE, "Offer"),
        (fixtures::LEVER_HIRED, "Hired"),
    ] {
        let opportunity = lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            stage,
            "lever-posting-1",
            time("2025-10-01T08:00:00Z"),
        );
        let opportunity = if stage == "Hired" {
            fixtures::lever_hired(opportunity)
        } else {
            opportunity
        };
        personal.collect(&opportunity, &hints);
        lever.set_opportunity(sample::LEVER_OPPORTUNITY, opportunity);
        let id = accepted(name, service.sample(name).await);
        wait_inbox(&mut process, db, id, InboxStatus::Processed).await;
    }
    deliveries += SAMPLES.len();
    assert_eq!(
        lever
            .ats
            .requests(
                "GET",
                &format!("/v1/opportunities/{}", sample::LEVER_OPPORTUNITY)
            )
            .len(),
        2,
        "one re-fetch per Lever delivery"
    );

    // A stage change before its application: its job fails (logged) and
    // retries until the application arrives.
    let mut other = GreenhouseApplication::new(
        120_460_002,
        90_078_002,
        4_012_345,
        "Bartholomew.Quist@Example.com",
    );
    other.phone = Some("+49 1577 9834521".into());
    let greenhouse = |action: &str, stage: &str| {
        let mut e = other.clone();
        e.action = action.into();
        e.stage = stage.into();
        let mut body = e.json();
        let candidate = &mut body["payload"]["application"]["candidate"];
        candidate["first_name"] = json!("Bartholomew");
        candidate["last_name"] = json!("Quistorp-Lindqvist");
        body
    };
    // Greenhouse stamps the application (`last_activity_at`) before the
    // stage change that follows it; the deliveries arrive the other way.
    let created = greenhouse("new_candidate_application", "Application Review");
    let early = greenhouse("candidate_stage_change", "Phone Screen");
    personal.collect(&early, &hints);
    personal.collect(&created, &hints);
    let early_id = accepted("early stage change", service.greenhouse(&early).await);
    wait_in_log(
        &mut process,
        "the early stage change's job failing",
        |log| log.contains("is not known yet"),
    )
    .await;
    let id = accepted("its application", service.greenhouse(&created).await);
    wait_inbox(&mut process, db, id, InboxStatus::Processed).await;
    wait_inbox(&mut process, db, early_id, InboxStatus::Processed).await;
    deliveries += 2;

    // A minted link, clicked, and a careers-site application through it.
    let (status, link) = service
        .api(
            "/api/referral-links",
            tokens::LINKS,
            &json!({ "employee_id": LINK_REFERRER, "job_id": LINK_JOB }),
        )
        .await;
    assert_eq!(status, 201, "{link}");
    let token = link["token"].as_str().expect("token").to_owned();
    let click = service
        .client
        .get(format!("{}/r/{token}", service.base))
        .send()
        .await
        .expect("GET /r/{token}");
    assert!(click.status().is_redirection(), "{}", click.status());
    let mut application =
        CareersApplication::new(LINK_JOB, " Wiebke.Oltmanns-Haverkamp@Example.net ")
            .referred_by(&token)
            .phone("0152 23433112", Some("DE"))
            .json();
    application["applicant"]["first_name"] = json!("Wiebke");
    application["applicant"]["last_name"] = json!("Oltmanns-Haverkamp");
    personal.collect(&application, &hints);
    let id = accepted(
        "careers-site application through the minted link",
        service
            .careers_site(&serde_json::to_vec(&application).expect("JSON"))
            .await,
    );
    wait_inbox(&mut process, db, id, InboxStatus::Processed).await;
    deliveries += 1;

    // Every inbox row done; payouts and notifications sent; the queue idle.
    wait(
        &mut process,
        "every accepted delivery processed",
        || async {
            let rows = inbox::Entity::find().all(db).await.unwrap_or_default();
            rows.len() == deliveries
                && rows
                    .iter()
                    .filter(|r| r.job_id.is_some())
                    .all(|r| matches!(r.status, InboxStatus::Processed | InboxStatus::Ignored))
        },
    )
    .await;
    wait(&mut process, "payouts delivered", || async {
        let payouts = payout::Entity::find().all(db).await.unwrap_or_default();
        !payouts.is_empty() && payouts.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    wait(&mut process, "notifications delivered", || async {
        let messages = outbound_message::Entity::find()
            .all(db)
            .await
            .unwrap_or_default();
        !messages.is_empty() && messages.iter().all(|m| m.state == OutboundState::Delivered)
    })
    .await;
    let queue = redis_store(&prefix).await;
    wait(&mut process, "the queue idle", || async {
        queue.counts().await.is_ok_and(|c| {
            [JobState::Ready, JobState::Running, JobState::Retrying]
                .iter()
                .all(|s| c.get(*s) == 0)
        })
    })
    .await;
    assert!(bonus.requests().len() >= 2, "the bonus POST was retried");
    assert!(!notify.requests().is_empty());

    // Stop it (SIGTERM: the drain logs too) and read all it wrote.
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status}:\n{}", process.stderr());
    let output = format!("{}\n{}", process.stderr(), process.stdout());
    let lines = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();

    drop(process);
    delete_redis_prefix(&prefix).await;
    test_db.drop_database().await;
    let _ = std::fs::remove_dir_all(&config_dir);
    Captured {
        output,
        lines,
        personal,
    }
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_never_hold_personal_data_and_carry_job_and_referral_ids() {
    let captured = run_the_samples_through_the_service().await;
    let needles = &captured.personal.needles;
    assert!(
        needles.len() > 20,
        "the payloads hold personal data: {needles:?}"
    );
    for needle in [
        "jose.almeida+jobs@example.org",
        "030 1234-5678",
        "+493012345678",
        "priya raman",
        "josé",
        "almeida",
        "okafor",
        "henrike wolkenstein",
        "bartholomew.quist@example.com",
    ] {
        assert!(
            needles.contains(needle),
            "{needle} not collected: {needles:?}"
        );
    }

    let leaks = captured.leaks();
    assert!(
        leaks.is_empty(),
        "personal data in the logs ({} hits):\n{}",
        leaks.len(),
        leaks.join("\n")
    );

    // Ids instead: the failed attempt names its job, the write-back its referral.
    for fields in [&["job_id"][..], &["referral_id"]] {
        assert!(
            captured.carries(fields),
            "no log line carries {}; our lines:\n{}",
            fields.join(" or "),
            captured.ours()
        );
    }
}

/// A stored delivery is logged with its inbox id, and every job runs in a
/// span naming what it acts on (`inbox_id` for `process_delivery`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_carry_delivery_ids() {
    let captured = run_the_samples_through_the_service().await;
    assert!(
        captured.carries(&["inbox_id", "delivery_id"]),
        "no log line carries inbox_id or delivery_id; our lines:\n{}",
        captured.ours()
    );
    // And with the request that brought it: the HTTP span's request id.
    let stored: Vec<&Value> = captured
        .lines
        .iter()
        .filter(|l| l["message"] == "webhook delivery stored")
        .collect();
    assert!(
        !stored.is_empty(),
        "no stored delivery logged:\n{}",
        captured.ours()
    );
    for line in stored {
        assert!(
            has_field(line, "request_id") && has_field(line, "route"),
            "a stored delivery logged without its request: {line}"
        );
    }
}

/// The search itself: it finds the samples' personal data in a log line,
/// JSON-escaped or not, in any case, and leaves id-only lines alone.
#[test]
fn the_search_finds_personal_data_and_nothing_else() {
    let mut personal = Personal::default();
    for name in SAMPLES {
        personal.collect(&payload_json(name), &["DE"]);
    }
    let search = |line: &str| {
        Captured {
            output: line.to_owned(),
            lines: Vec::new(),
            personal: Personal {
                needles: personal.needles.clone(),
            },
        }
        .leaks()
    };
    for line in [
        r#"{"message":"capture","email":"JOSE.ALMEIDA+JOBS@EXAMPLE.ORG"}"#,
        r#"{"message":"candidate Jos\u00e9 matched"}"#,
        r#"{"message":"phone","value":"+493012345678"}"#,
        r#"{"message":"phone","value":"030 1234-5678"}"#,
        r#"{"message":"referrer","who":"Priya Raman"}"#,
        r#"{"message":"recruiter okafor"}"#,
    ] {
        assert!(!search(line).is_empty(), "not found in {line}");
    }
    for line in [
        r#"{"level":"INFO","message":"referral-worker starting","listen":"Some(127.0.0.1:8080)","target":"worker::runtime"}"#,
        r#"{"message":"write-back skipped","referral_id":1,"reason":"no ATS application yet; written back when it arrives"}"#,
        r#"{"message":"job attempt failed; retry scheduled","job_id":"01M82YRFEHZWBJV9TAX3PPP4WB","kind":"process_delivery","error":"application 120450001 is not known yet"}"#,
    ] {
        assert_eq!(search(line), Vec::<String>::new(), "{line}");
    }
}
