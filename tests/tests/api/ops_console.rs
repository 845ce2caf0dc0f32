//! The `/ops` page's views beyond the overview, as an operator uses them
//! in headless Chromium (`tests::browser`): jobs browsed by state and paged,
//! searched by kind, referral id and job id; a dead job opened (attempts,
//! errors, timeline) and retried with a typed reason, which the page shows
//! back from the audit log; an inbox row replayed with a reason; a
//! referral's workflow from referral to payouts. Hostile values in the data
//! (a delivery id and a stage name that are HTML) are shown as text. The
//! Reports view: scheduled KPI reports and three-way reconciliation runs
//! with their variances and suggested fixes.

use std::collections::BTreeSet;

use fantoccini::{Client, Locator};
use queue::JobState;
use serde_json::Value;
use tests::{
    app::Setup,
    browser::{click, eval, in_browser, sign_in_to_ops, text_of, wait_for, wait_text},
    fixtures::{
        GreenhouseApplication, audit_with, credited_hire, dead_jobs_one_fixable, enqueue_once,
        instant_probe, post_greenhouse, processed, referrals, spawn_capture_app, tokens,
        wait_job_state,
    },
};

/// HTML where text belongs: the page must show it, not build it.
const HOSTILE: &str = "<img src=x onerror=\"window.__pwned=1\">";
/// The reasons the operator types.
const RETRY_REASON: &str = "outbox row restored, see INC-42";
const REPLAY_REASON: &str = "capture fixed, re-run it (INC-43)";
/// The message the dying `deliver_message` job names.
const MESSAGE_ID: i64 = 9_002;
/// Probes that succeed: more than one page (25) of succeeded jobs.
const PROBES: usize = 30;

/// What the scenario set up.
struct World {
    referral_id: i64,
    fixable: String,
    hopeless: String,
    probes: Vec<String>,
    hostile_row: i64,
    replayable_row: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_browses_searches_acts_with_a_reason_and_follows_a_workflow() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &capture.app;
    let db = &app.state.db;

    // A referral hired through Greenhouse, then moved to a stage whose name
    // is HTML, under a delivery id that is HTML.
    let application = GreenhouseApplication::new(990_700, 660_700, 4_012_345, "ops@example.org");
    let gh = credited_hire(app, "E-OPS", application).await;
    let mut moved = gh.clone();
    moved.action = "candidate_stage_change".into();
    moved.status = "hired".into();
    moved.stage = HOSTILE.into();
    let hostile_row = processed(app, post_greenhouse(app, HOSTILE, &moved.body()).await).await;
    let referral_id = referrals(db).await.first().expect("the referral").id;

    let mut probes = Vec::new();
    for _ in 0..PROBES {
        probes.push(enqueue_once(app, instant_probe(false)).await);
    }
    let (fixable, hopeless) = dead_jobs_one_fixable(app, MESSAGE_ID).await;
    for id in &probes {
        wait_job_state(app, id, JobState::Succeeded).await;
    }

    // A processed Greenhouse delivery to replay (one of the hire's).
    let inbox: Value = app
        .client
        .get(app.url("/api/ops/inbox?source=greenhouse&status=processed"))
        .bearer_auth(tokens::OPS)
        .send()
        .await
        .expect("inbox")
        .json()
        .await
        .expect("JSON");
    let replayable_row = inbox["items"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .filter_map(|r| r["id"].as_i64())
                .find(|id| *id != hostile_row)
        })
        .expect("a processed Greenhouse delivery");

    let world = World {
        referral_id,
        fixable,
        hopeless,
        probes,
        hostile_row,
        replayable_row,
    };
    in_browser(|c| async move {
        sign_in_to_ops(&c, &app.url(""), tokens::OPS).await;
        jobs_by_state_and_paged(&c, &world).await;
        searched(&c, &world).await;
        retried_with_a_reason(&c, &world).await;
        replayed_with_a_reason(&c, &world).await;
        the_workflow(&c, &world).await;
        assert_eq!(
            eval(&c, "return window.__pwned === undefined;").await,
            Value::Bool(true),
            "hostile markup ran"
        );
        let retried = audit_with(db, "job.retried").await;
        assert_eq!(retried.len(), 1, "{retried:?}");
        assert_eq!(retried[0].subject_id, world.fixable);
        assert_eq!(retried[0].actor, "api:ops");
        assert_eq!(retried[0].data["reason"], RETRY_REASON);
        let replayed = audit_with(db, "inbox.replayed").await;
        assert_eq!(replayed.len(), 1, "{replayed:?}");
        assert_eq!(replayed[0].subject_id, world.replayable_row.to_string());
        assert_eq!(replayed[0].data["reason"], REPLAY_REASON);
    })
    .await;
    capture.cleanup().await;
}

/// The job ids listed, in order.
async fn listed_jobs(c: &Client) -> Vec<String> {
    let ids = eval(
        c,
        "return [...document.querySelectorAll('#jobs-table tbody tr')].map(r => r.dataset.jobId);",
    )
    .await;
    serde_json::from_value(ids).expect("ids")
}

/// Waits until the listed jobs satisfy `ok`; returns them.
async fn wait_jobs(c: &Client, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + tests::browser::PAGE_WAIT;
    loop {
        let ids = listed_jobs(c).await;
        if ok(&ids) {
            return ids;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; listed: {ids:?}; filter {:?}, error {:?}",
            text_of(c, "#jobs-filter").await,
            text_of(c, "#jobs-error").await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn jobs_by_state_and_paged(c: &Client, w: &World) {
    click(c, "#tabs a[data-view=\"jobs\"]").await;
    wait_for(c, "#view-jobs:not([hidden])").await;
    wait_text(
        c,
        "#job-states a[data-state=\"dead\"]",
        "the dead count",
        |t| t == "dead 2",
    )
    .await;
    click(c, "#job-states a[data-state=\"dead\"]").await;
    let dead = wait_jobs(c, "the two dead jobs", |ids| ids.len() == 2).await;
    let expected: BTreeSet<&str> = [w.fixable.as_str(), w.hopeless.as_str()].into();
    assert_eq!(
        dead.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    let states = eval(
        c,
        "return [...document.querySelectorAll('#jobs-table tbody td.state')].map(e => e.textContent);",
    )
    .await;
    assert_eq!(states, serde_json::json!(["dead", "dead"]));

    // Succeeded jobs are more than a page: walk every page, each job once.
    click(c, "#job-states a[data-state=\"succeeded\"]").await;
    let first = wait_jobs(c, "a full first page", |ids| {
        ids.len() == 25 && !ids.iter().any(|i| dead.contains(i))
    })
    .await;
    let mut seen: Vec<String> = first.clone();
    let mut page = first.clone();
    loop {
        let next = c
            .find(Locator::Css("#jobs-next"))
            .await
            .expect("next button");
        if !next.is_enabled().await.expect("enabled?") {
            break;
        }
        next.click().await.expect("click next");
        let before = page.clone();
        page = wait_jobs(c, "the next page", |ids| {
            !ids.is_empty() && ids.first() != before.first()
        })
        .await;
        seen.extend(page.iter().cloned());
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a job listed twice: {seen:?}");
    for probe in &w.probes {
        assert!(seen.contains(probe), "probe {probe} on no page");
    }
    click(c, "#jobs-first").await;
    wait_jobs(c, "the first page again", |ids| ids == first.as_slice()).await;
}

async fn search(c: &Client, by: &str, text: &str) {
    c.find(Locator::Css("#job-search-by"))
        .await
        .expect("search by")
        .select_by_value(by)
        .await
        .expect("select");
    let field = c
        .find(Locator::Css("#job-search-text"))
        .await
        .expect("search text");
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
    click(c, "#job-search-go").await;
}

async fn searched(c: &Client, w: &World) {
    // By kind, within the dead ones.
    click(c, "#job-states a[data-state=\"dead\"]").await;
    wait_text(c, "#jobs-filter", "the dead filter", |t| {
        t.contains("state dead")
    })
    .await;
    wait_jobs(c, "the dead jobs", |ids| ids.len() == 2).await;
    search(c, "kind", "probe").await;
    wait_jobs(c, "the dead probe alone", |ids| ids == [w.hopeless.clone()]).await;
    let filter = text_of(c, "#jobs-filter").await;
    assert!(
        filter.contains("state dead") && filter.contains("kind probe"),
        "{filter}"
    );

    // By referral: its jobs, in every state, and nothing else.
    click(c, "#job-states a[data-state=\"all\"]").await;
    wait_text(c, "#jobs-filter", "every state", |t| {
        t.contains("every state")
    })
    .await;
    search(c, "referral_id", &w.referral_id.to_string()).await;
    wait_for(
        c,
        &format!(
            "#jobs-table[data-query=\"limit=25&referral_id={}\"]",
            w.referral_id
        ),
    )
    .await;
    let listed = listed_jobs(c).await;
    assert!(
        !listed.is_empty() && !listed.contains(&w.hopeless),
        "{listed:?}"
    );
    let kinds: Vec<String> = serde_json::from_value(
        eval(
            c,
            "return [...document.querySelectorAll('#jobs-table tbody td.kind')].map(e => e.textContent);",
        )
        .await,
    )
    .expect("kinds");
    assert!(kinds.iter().any(|k| k == "probation_due"), "{kinds:?}");
    for kind in &kinds {
        assert!(
            [
                "process_delivery",
                "write_back_referral",
                "probation_due",
                "send_payout",
                "deliver_message"
            ]
            .contains(&kind.as_str()),
            "{kind} is not a job of the referral: {kinds:?}"
        );
    }

    // By job id: the job itself.
    search(c, "id", &w.fixable).await;
    wait_for(c, "#view-job:not([hidden])").await;
    wait_text(c, "#job-id", "the job's id", |t| t == w.fixable).await;
}

async fn retried_with_a_reason(c: &Client, w: &World) {
    wait_text(c, "#job-state", "the dead state", |t| t == "dead").await;
    let kind = text_of(c, "#job-fields tr[data-field=\"kind\"] td").await;
    assert_eq!(kind, "deliver_message");
    let error = wait_text(
        c,
        "#job-errors tr[data-attempt=\"1\"]",
        "attempt 1's error",
        |t| !t.is_empty(),
    )
    .await;
    assert!(
        error.contains(&format!("outbound message {MESSAGE_ID} does not exist")),
        "{error}"
    );
    let timeline = text_of(c, "#job-timeline tbody").await;
    assert!(!timeline.is_empty(), "no timeline");
    assert!(
        text_of(c, "#job-payload")
            .await
            .contains(&MESSAGE_ID.to_string()),
        "the payload names the message"
    );
    let cancel = c.find(Locator::Css("#job-cancel")).await.expect("cancel");
    assert!(
        !cancel.is_enabled().await.expect("enabled?"),
        "a dead job cannot be cancelled"
    );

    // Retry asks for a reason and refuses none.
    click(c, "#job-retry").await;
    wait_for(c, "#reason-dialog[open]").await;
    click(c, "#reason-confirm").await;
    wait_text(c, "#reason-error", "the refusal of an empty reason", |t| {
        t.contains("reason is required")
    })
    .await;
    c.find(Locator::Css("#reason-text"))
        .await
        .expect("reason field")
        .send_keys(RETRY_REASON)
        .await
        .expect("type");
    click(c, "#reason-confirm").await;
    let status = wait_text(c, "#status", "the retry's confirmation", |t| {
        t.contains("retried")
    })
    .await;
    assert!(
        status.contains(&w.fixable)
            && status.contains("dead → ready")
            && status.contains(RETRY_REASON),
        "{status}"
    );
    // The page follows the job to its end, and shows the action with its
    // reason, as the audit log has it.
    wait_text(c, "#job-state", "the retried job to succeed", |t| {
        t == "succeeded"
    })
    .await;
    wait_text(
        c,
        "#job-audit tr[data-action=\"job.retried\"] td.reason-text",
        "the reason",
        |t| t == RETRY_REASON,
    )
    .await;
    let who = text_of(c, "#job-audit tr[data-action=\"job.retried\"]").await;
    assert!(who.contains("api:ops"), "{who}");
}

async fn replayed_with_a_reason(c: &Client, w: &World) {
    click(c, "#tabs a[data-view=\"inbox\"]").await;
    let hostile = format!(
        "#inbox-table tr[data-inbox-id=\"{}\"] td.delivery-id",
        w.hostile_row
    );
    wait_text(c, &hostile, "the hostile delivery id, as text", |t| {
        t == HOSTILE
    })
    .await;
    assert_eq!(
        eval(
            c,
            "return document.querySelectorAll('#view-inbox img').length;"
        )
        .await,
        Value::from(0),
        "markup from the data was built"
    );
    let row = format!("#inbox-table tr[data-inbox-id=\"{}\"]", w.replayable_row);
    click(c, &format!("{row} button.replay")).await;
    wait_for(c, "#reason-dialog[open]").await;
    c.find(Locator::Css("#reason-text"))
        .await
        .expect("reason field")
        .send_keys(REPLAY_REASON)
        .await
        .expect("type");
    click(c, "#reason-confirm").await;
    let status = wait_text(c, "#status", "the replay's confirmation", |t| {
        t.contains("replayed as row")
    })
    .await;
    assert!(
        status.contains(&format!("Inbox row {} replayed", w.replayable_row))
            && status.contains(REPLAY_REASON),
        "{status}"
    );
    // The new delivery is listed, and is processed like the first.
    let new_row: i64 = status
        .split("replayed as row ")
        .nth(1)
        .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no new row id in {status:?}"));
    wait_for(c, &format!("#inbox-table tr[data-inbox-id=\"{new_row}\"]")).await;
}

async fn the_workflow(c: &Client, w: &World) {
    click(c, "#tabs a[data-view=\"workflows\"]").await;
    let row = format!(
        "#workflows-table tr[data-referral-id=\"{}\"]",
        w.referral_id
    );
    wait_text(c, &format!("{row} td.employee"), "the referrer", |t| {
        t == "E-OPS"
    })
    .await;
    click(c, &format!("{row} a.workflow-link")).await;
    wait_for(c, "#view-workflow:not([hidden])").await;
    wait_text(c, "#wf-state", "the referral's state", |t| t == "credited").await;
    assert_eq!(
        text_of(c, "#wf-referral tr[data-field=\"referrer\"] td").await,
        "E-OPS"
    );
    assert_eq!(
        text_of(c, "#wf-application tr[data-field=\"ATS\"] td").await,
        "greenhouse"
    );
    assert_eq!(
        text_of(c, "#wf-application tr[data-field=\"stage\"] td").await,
        HOSTILE,
        "the hostile stage is shown as text"
    );
    assert_eq!(
        eval(
            c,
            "return document.querySelectorAll('#view-workflow img').length;"
        )
        .await,
        Value::from(0)
    );
    wait_text(
        c,
        "#wf-milestones tr[data-kind=\"hire\"] td.state",
        "the hire",
        |t| t == "reached",
    )
    .await;
    let probation = text_of(c, "#wf-milestones tr[data-kind=\"probation_complete\"]").await;
    assert!(
        probation.contains("armed") && probation.contains("scheduled"),
        "the probation armed, its timer job scheduled: {probation}"
    );
    let payouts = eval(
        c,
        "return document.querySelectorAll('#wf-payouts tbody tr').length;",
    )
    .await;
    assert_eq!(payouts, Value::from(2), "both tranches");
    // From the workflow to its jobs.
    click(c, "#wf-jobs").await;
    wait_for(c, "#view-jobs:not([hidden])").await;
    wait_for(
        c,
        &format!(
            "#jobs-table[data-query=\"limit=25&referral_id={}\"]",
            w.referral_id
        ),
    )
    .await;
    assert!(!listed_jobs(c).await.is_empty(), "the referral has jobs");
    let filter = text_of(c, "#jobs-filter").await;
    assert!(
        filter.contains(&format!("referral {}", w.referral_id)),
        "{filter}"
    );
}

/// The Reports view: the scheduled KPI reports and the three-way
/// reconciliation runs, one run's variances with their suggested fixes; a
/// platform id that is HTML is shown as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_reads_the_kpi_reports_and_a_three_way_run_with_its_fixes() {
    let capture = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.reconciliation.schedule = String::new();
        s.reconciliation.three_way_schedule = String::new();
    })
    .await;
    let app = &capture.app;
    let ctx = &app.state.jobs;
    let month = tests::three_way::this_month();
    let period = jobs::maintenance::three_way::imports::Month::parse(&month)
        .and_then(|m| m.period())
        .expect("this month");
    let report_id = jobs::finance::report::run(ctx, "manual:ops-page-report", period)
        .await
        .expect("a report")
        .expect("made");
    let (status, body) = tests::three_way::import_json(
        app,
        "platform",
        &month,
        serde_json::json!([{ "platform_referral_id": HOSTILE, "employee_id": "E-GHOST",
                             "referred_on": tests::three_way::today() }]),
    )
    .await;
    assert!(status.is_success(), "{body}");
    let run = jobs::maintenance::three_way::run(ctx, "manual:ops-page-3way", period, "ops:test")
        .await
        .expect("a run")
        .expect("recorded");

    in_browser(|c| async move {
        sign_in_to_ops(&c, &app.url(""), tokens::OPS).await;
        click(&c, "#tabs a[data-view=\"reports\"]").await;
        wait_for(&c, "#view-reports:not([hidden])").await;
        wait_text(
            &c,
            &format!("#reports-kpi-table tr[data-report-id=\"{report_id}\"] td"),
            "the KPI report",
            |t| t == report_id.to_string(),
        )
        .await;
        let link = format!(
            "#reports-runs-table tr[data-run-id=\"{}\"] a.run-link",
            run.run_id
        );
        wait_for(&c, &link).await;
        let by_kind = text_of(
            &c,
            &format!("#reports-runs-table tr[data-run-id=\"{}\"]", run.run_id),
        )
        .await;
        assert!(
            by_kind.contains("platform_referral_unknown: 1"),
            "{by_kind}"
        );
        click(&c, &link).await;
        let row = "#reports-variances-table tr[data-kind=\"platform_referral_unknown\"]";
        wait_for(&c, row).await;
        let cells = eval(
            &c,
            &format!("return [...document.querySelectorAll('{row} td')].map(e => e.textContent);"),
        )
        .await;
        assert_eq!(cells[2], Value::String(HOSTILE.into()), "{cells}");
        assert!(
            cells[3]
                .as_str()
                .is_some_and(|f| f.contains("no record of the platform's referral")),
            "{cells}"
        );
        wait_for(
            &c,
            "#reports-variances-table tr[data-kind=\"import_missing\"]",
        )
        .await;
        assert_eq!(
            eval(&c, "return window.__pwned === undefined;").await,
            Value::Bool(true),
            "hostile markup ran"
        );
    })
    .await;
    capture.cleanup().await;
}
