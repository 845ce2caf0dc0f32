//! One conformance suite for the ATS connectors: every behaviour below is
//! written once against the `Connector` trait and run against a fake of
//! each vendor's API (a real local HTTP server behaving like the vendor:
//! its auth, paging, rate limit and field shapes), like the queue's suite
//! runs against every storage driver.
//!
//! A vendor joins with its `ConnectorFake` implementation
//! (`tests/src/connectors/`) and one `vendor!` line at the bottom. What a
//! vendor cannot do is a declared capability there, and the scenarios
//! assert the declared behaviour (no phone match claimed, a part reported
//! skipped with its reason, an API key that stops working failing
//! permanently where an OAuth token would be refreshed).

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{NaiveDate, Utc};
use jobs::{
    Error,
    connectors::{
        ApplicationState, AttributionPart, CandidateQuery, Connector, PageToken, WriteBack,
        connector::all_pages,
    },
};
use tests::{
    ashby::FakeAshby,
    connectors::{AuthKind, ConnectorFake, NewCandidate, Seeded},
    fixtures::{FakeLever, unique},
    vendors::{
        greenhouse::FakeGreenhouse, smartrecruiters::FakeSmartRecruiters, workable::FakeWorkable,
    },
};

/// The tag every write-back adds.
const TAG: &str = "Employee Referral";

/// Generates the suite's tests for one vendor's fake.
macro_rules! vendor {
    ($module:ident, $fake:ty) => {
        mod $module {
            use super::*;

            scenarios!(
                $fake;
                a_write_back_lands_once_however_often_it_is_retried,
                look_up_by_email_finds_the_candidate_and_its_applications_whatever_the_case,
                a_phone_look_up_finds_them_only_where_the_vendor_can_search_by_phone,
                a_hire_is_reported_only_when_the_vendor_states_it,
                the_start_date_is_read_and_listed_for_reconciliation,
                reconciliation_lists_every_page,
                reconciliation_honours_retry_after_and_stays_within_the_rate_limit,
                a_server_error_is_a_retryable_failure,
                credentials_lost_mid_run_are_refreshed_or_fail_permanently,
            );
        }
    };
}

macro_rules! scenarios {
    ($fake:ty; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario::<$fake>().await
            }
        )*
    };
}

vendor!(greenhouse, FakeGreenhouse);
vendor!(lever, FakeLever);
vendor!(ashby, FakeAshby);
vendor!(workable, FakeWorkable);
vendor!(smartrecruiters, FakeSmartRecruiters);

/// A candidate with a unique address, as they typed it (mixed case).
fn candidate(name: &str) -> NewCandidate {
    let n = unique("");
    NewCandidate {
        email: format!("{name}.{}@Example-Mail.com", &n[n.len() - 8..]),
        phone: "+4930123456789".into(),
        job_id: "job-conf-1".into(),
    }
}

/// The write-back capture would send for `seeded`, credited to the
/// fake's referrer.
fn write_back<F: ConnectorFake>(fake: &F, seeded: &Seeded) -> WriteBack {
    WriteBack {
        ats_candidate_id: seeded.candidate_id.clone(),
        ats_application_id: seeded.application_id.clone(),
        referrer_employee_id: "E-1001".into(),
        referrer_email: Some(fake.referrer().email),
        referrer_ats_user_id: None,
        referral_token: Some("conf-token-7Qx2".into()),
        tag: TAG.into(),
    }
}

fn is_retryable(e: &Error) -> bool {
    matches!(e, Error::Retryable(_) | Error::RetryAfter { .. })
}

/// Every application listed since a minute ago, read the way
/// reconciliation reads: page after page, and after a `RetryAfter` the
/// same page again once the wait is over.
async fn list_all_changes(connector: &Arc<dyn Connector>) -> Vec<ApplicationState> {
    let since = Utc::now() - chrono::Duration::minutes(1);
    let mut all = Vec::new();
    let mut page: Option<PageToken> = None;
    for _ in 0..200 {
        match connector.list_changes(since, page.clone()).await {
            Ok(p) => {
                all.extend(p.items);
                match p.next {
                    Some(next) => page = Some(next),
                    None => return all,
                }
            }
            Err(Error::RetryAfter { after, .. }) => tokio::time::sleep(after).await,
            Err(e) => panic!("listing failed: {e}"),
        }
    }
    panic!("the listing did not end within 200 pages")
}

async fn a_write_back_lands_once_however_often_it_is_retried<F: ConnectorFake>() {
    let fake = F::start().await;
    let caps = F::capabilities();
    let referrer = fake.referrer();
    let seeded = fake.seed(&candidate("ada"));
    let wb = write_back(&fake, &seeded);
    let connector = fake.connector();

    let first = connector.write_attribution(&wb).await.expect("written");
    let mut written = first.written.clone();
    written.sort_by_key(|p| format!("{p:?}"));
    let mut declared = caps.writes.clone();
    declared.sort_by_key(|p| format!("{p:?}"));
    assert_eq!(written, declared, "the parts the vendor lets us write");
    for part in [
        AttributionPart::CustomField,
        AttributionPart::Tag,
        AttributionPart::Source,
        AttributionPart::Referrer,
    ] {
        if caps.writes.contains(&part) {
            continue;
        }
        let reason = first.skipped.iter().find(|(p, _)| *p == part);
        assert!(
            reason.is_some_and(|(_, why)| !why.trim().is_empty()),
            "{part:?} is reported skipped with its reason: {:?}",
            first.skipped
        );
    }

    // The job is retried after it succeeded (its ack was lost): once on
    // a 5xx, then for real, then by another process with a cold cache.
    fake.fail_next(1, 503);
    let err = connector.write_attribution(&wb).await.expect_err("503");
    assert!(is_retryable(&err), "a 5xx is retryable: {err}");
    let again = connector.write_attribution(&wb).await.expect("rewritten");
    for part in &caps.writes {
        // Written again, or skipped because it is already there.
        let accounted = again.written.contains(part)
            || again
                .skipped
                .iter()
                .any(|(p, why)| p == part && !why.trim().is_empty());
        assert!(accounted, "{part:?} in the retry's report: {again:?}");
    }
    let other_process = fake.connector();
    other_process
        .write_attribution(&wb)
        .await
        .expect("rewritten by another process");

    let shown = fake.shown(&seeded);
    if caps.writes.contains(&AttributionPart::Tag) {
        let tagged = shown.tags.iter().filter(|t| *t == TAG).count();
        assert_eq!(tagged, 1, "the tag shows once: {:?}", shown.tags);
    }
    if caps.writes.contains(&AttributionPart::Source) {
        let unique: HashSet<_> = shown.sources.iter().collect();
        assert!(!shown.sources.is_empty(), "a source is shown");
        assert_eq!(unique.len(), shown.sources.len(), "no source twice");
    }
    if caps.writes.contains(&AttributionPart::CustomField) {
        assert_eq!(shown.token, wb.referral_token, "the token is in the field");
    }
    if caps.writes.contains(&AttributionPart::Referrer) {
        assert_eq!(shown.credited_user, Some(referrer.user_id), "credited");
    }
    let writes = fake.writes();
    assert!(writes.tags_created <= 1, "one tag definition: {writes:?}");
    for part in &caps.writes {
        let n = writes.of(*part);
        // Four write-backs: the first, the one answered 503, the retry
        // and the other process's.
        assert!(
            (1..=4).contains(&n),
            "{part:?}: at most one write per write-back, got {n}"
        );
    }
}

async fn look_up_by_email_finds_the_candidate_and_its_applications_whatever_the_case<
    F: ConnectorFake,
>() {
    let fake = F::start().await;
    let wanted = candidate("grace");
    let seeded = fake.seed(&wanted);
    fake.seed(&candidate("someone.else"));
    let connector = fake.connector();

    for typed in [wanted.email.clone(), wanted.email.to_lowercase()] {
        let found = connector
            .find_candidates(&CandidateQuery {
                email: Some(typed.clone()),
                phone: None,
            })
            .await
            .expect("look-up");
        assert_eq!(found.len(), 1, "{typed}: one candidate: {found:?}");
        assert_eq!(found[0].candidate_id, seeded.candidate_id);
        assert!(
            found[0].application_ids.contains(&seeded.application_id),
            "{typed}: with the application: {found:?}"
        );
    }
    let nobody = connector
        .find_candidates(&CandidateQuery {
            email: Some("nobody.here@example-mail.com".into()),
            phone: None,
        })
        .await
        .expect("look-up");
    assert!(nobody.is_empty(), "an unknown address finds no one");
}

async fn a_phone_look_up_finds_them_only_where_the_vendor_can_search_by_phone<F: ConnectorFake>() {
    let fake = F::start().await;
    let wanted = candidate("katherine");
    let seeded = fake.seed(&wanted);
    let connector = fake.connector();
    let by_phone = connector
        .find_candidates(&CandidateQuery {
            email: None,
            phone: Some(wanted.phone.clone()),
        })
        .await;
    if F::capabilities().search_by_phone {
        let found = by_phone.expect("phone look-up");
        assert!(
            found.iter().any(|m| m.candidate_id == seeded.candidate_id),
            "found by phone: {found:?}"
        );
    } else {
        // Declared unable: it must say so or find no one, never guess.
        match by_phone {
            Ok(found) => assert!(found.is_empty(), "no phone search, no match: {found:?}"),
            Err(e) => assert!(matches!(e, Error::Permanent(_)), "permanent: {e}"),
        }
    }
}

async fn a_hire_is_reported_only_when_the_vendor_states_it<F: ConnectorFake>() {
    let fake = F::start().await;
    let hired = fake.seed(&candidate("hired"));
    let looks_hired = fake.seed(&candidate("looks.hired"));
    let connector = fake.connector();

    let before = connector
        .application_state(&hired.application_id)
        .await
        .expect("state");
    assert_ne!(before.status.as_capture_status(), "hired", "not hired yet");

    let starts = NaiveDate::from_ymd_opt(2027, 2, 1).expect("a date");
    fake.mark_hired(&hired, starts);
    fake.mark_hired_in_name_only(&looks_hired);

    let state = connector
        .application_state(&hired.application_id)
        .await
        .expect("state");
    assert_eq!(state.status.as_capture_status(), "hired");
    assert_eq!(
        state.candidate_id.as_deref(),
        Some(hired.candidate_id.as_str())
    );
    let trap = connector
        .application_state(&looks_hired.application_id)
        .await
        .expect("state");
    assert_ne!(
        trap.status.as_capture_status(),
        "hired",
        "a hire only in name is not a hire: {trap:?}"
    );
}

async fn the_start_date_is_read_and_listed_for_reconciliation<F: ConnectorFake>() {
    let fake = F::start().await;
    let seeded = fake.seed(&candidate("dorothy"));
    let starts = NaiveDate::from_ymd_opt(2027, 3, 15).expect("a date");
    fake.mark_hired(&seeded, starts);
    let connector = fake.connector();

    let state = connector
        .application_state(&seeded.application_id)
        .await
        .expect("state");
    if !F::capabilities().reads_start_dates {
        // Declared unable: no date, and none made up from the hire.
        assert_eq!(state.status.as_capture_status(), "hired", "{state:?}");
        assert_eq!(state.start_date, None, "no start date is guessed");
        let since = Utc::now().date_naive() - chrono::Duration::days(1);
        let listed = all_pages(50, |page| connector.list_start_dates(since, page))
            .await
            .expect("start dates");
        assert!(listed.is_empty(), "none listed: {listed:?}");
        let changes = list_all_changes(&connector).await;
        assert!(
            changes.iter().all(|c| c.start_date.is_none()),
            "none in the changes: {changes:?}"
        );
        return;
    }
    assert_eq!(state.start_date, Some(starts), "the accepted offer's date");

    // Reconciliation finds it in the start-date listing or, for vendors
    // whose listing of changes carries it, there; it lists from its
    // look-back, as here.
    let since = Utc::now().date_naive() - chrono::Duration::days(1);
    let listed = all_pages(50, |page| connector.list_start_dates(since, page))
        .await
        .expect("start dates");
    let changes = list_all_changes(&connector).await;
    let found = listed
        .iter()
        .any(|s| s.application_id == seeded.application_id && s.starts_on == starts)
        || changes
            .iter()
            .any(|c| c.application_id == seeded.application_id && c.start_date == Some(starts));
    assert!(found, "the start date is listed: {listed:?}");
}

async fn reconciliation_lists_every_page<F: ConnectorFake>() {
    let fake = F::start().await;
    fake.page_size(2);
    let seeded: Vec<Seeded> = (0..5).map(|_| fake.seed(&candidate("page"))).collect();
    let connector = fake.connector();

    let listed = list_all_changes(&connector).await;
    for s in &seeded {
        let times = listed
            .iter()
            .filter(|a| a.application_id == s.application_id)
            .count();
        assert_eq!(times, 1, "{} listed once across pages", s.application_id);
    }
    assert_eq!(listed.len(), seeded.len(), "nothing else, nothing twice");
}

async fn reconciliation_honours_retry_after_and_stays_within_the_rate_limit<F: ConnectorFake>() {
    let fake = F::start().await;
    fake.page_size(1);
    let seeded: Vec<Seeded> = (0..25).map(|_| fake.seed(&candidate("paced"))).collect();
    fake.enforce_rate_limit();
    fake.throttle_next(1, 1);
    let connector = fake.connector();

    let listed = list_all_changes(&connector).await;
    assert_eq!(listed.len(), seeded.len(), "every application listed");
    let arrivals = fake.arrivals();
    let gap = arrivals[1].duration_since(arrivals[0]);
    assert!(
        gap >= Duration::from_millis(950),
        "nothing is sent within the Retry-After of the 429: the next request came {gap:?} later"
    );
    assert_eq!(
        fake.over_limit(),
        0,
        "the documented rate limit was never exceeded ({} requests)",
        arrivals.len()
    );
}

async fn a_server_error_is_a_retryable_failure<F: ConnectorFake>() {
    let fake = F::start().await;
    let seeded = fake.seed(&candidate("mary"));
    let connector = fake.connector();
    let query = CandidateQuery {
        email: Some(candidate("x").email),
        phone: None,
    };

    for status in [500, 502, 503] {
        fake.fail_next(1, status);
        let err = connector
            .application_state(&seeded.application_id)
            .await
            .expect_err("a 5xx");
        assert!(is_retryable(&err), "{status} on a read is retryable: {err}");
        fake.fail_next(1, status);
        let err = connector.find_candidates(&query).await.expect_err("a 5xx");
        assert!(is_retryable(&err), "{status} on a look-up: {err}");
    }
    connector
        .application_state(&seeded.application_id)
        .await
        .expect("answered once the vendor recovers");
}

async fn credentials_lost_mid_run_are_refreshed_or_fail_permanently<F: ConnectorFake>() {
    let fake = F::start().await;
    let seeded = fake.seed(&candidate("hedy"));
    let connector = fake.connector();
    connector
        .application_state(&seeded.application_id)
        .await
        .expect("state");
    let tokens = fake.tokens_issued();
    let sent = fake.arrivals().len();

    fake.expire_credentials();
    let after = connector.application_state(&seeded.application_id).await;
    match F::capabilities().auth {
        AuthKind::OAuthClientCredentials => {
            after.expect("a new token is minted and the run carries on");
            assert_eq!(fake.tokens_issued(), tokens + 1, "exactly one new token");
        }
        AuthKind::ApiKey => {
            let err = after.expect_err("the key is refused");
            assert!(
                matches!(err, Error::Permanent(ref m) if m.contains("401")),
                "a refused key is permanent, naming the 401: {err}"
            );
            assert_eq!(fake.arrivals().len(), sent + 1, "asked once, not in a loop");
        }
    }
}
