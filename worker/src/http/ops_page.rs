//! `GET /ops`: the ops page, a small static app over the ops JSON API.
//!
//! One HTML page, one stylesheet and three scripts, embedded in the binary
//! (`ops_page/`), no build step. The page itself is public (it holds no
//! data); everything it shows comes from `/api/ops/...` with the bearer
//! token the operator types in, kept in `sessionStorage` only, so a 401 or
//! 403 is the API's own answer.
//!
//! `app.js` draws the overview: queue counts per state with the oldest
//! age, the stuck list, dead jobs with Retry (reason required), payouts
//! awaiting action with Approve, and a 24-hour chart of succeeded, failed
//! and dead jobs from `GET /api/ops/throughput` (here, over
//! `jobs::ops::history`); it also routes (`#/jobs`, `#/job/ID`, `#/inbox`,
//! `#/workflows`, `#/workflow/ID`) and holds the dialog that asks every
//! action for its reason. `browse.js` draws those views, Sidekiq Web- or
//! River UI-like, over the existing ops API: jobs by state with paging and
//! search by kind, job id or referral id; one job with its attempts,
//! errors, timeline and audited ops actions, with Retry and Cancel; the
//! inbox with Replay; a referral's workflow (referral → application →
//! milestones → payouts with Approve and Hold → messages). `reports.js`
//! draws the Reports view (`#/reports`, `#/reports/RUN`): the scheduled KPI
//! reports and the three-way reconciliation runs, one run's variances with
//! their suggested fixes.
//!
//! Every asset is sent with a strict `Content-Security-Policy` (scripts and
//! styles from this origin only, no inline code; requests to this origin
//! only; no framing), `X-Frame-Options: DENY` and `Cache-Control:
//! no-store`. The script renders every value with `textContent`, never as
//! HTML.

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::{auth::Caller, error::ApiError};
use crate::{config::Scope, state::AppState};

const PAGE_HTML: &str = include_str!("ops_page/index.html");
const APP_JS: &str = include_str!("ops_page/app.js");
const BROWSE_JS: &str = include_str!("ops_page/browse.js");
const REPORTS_JS: &str = include_str!("ops_page/reports.js");
const APP_CSS: &str = include_str!("ops_page/app.css");

/// The policy every asset of the page is served with.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page's routes, merged into the service's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(page))
        .route("/ops/app.js", get(script))
        .route("/ops/browse.js", get(browse_script))
        .route("/ops/reports.js", get(reports_script))
        .route("/ops/app.css", get(stylesheet))
        .route("/api/ops/throughput", get(throughput))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, HeaderValue); 7] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (headers, body).into_response()
}

/// `GET /ops` (public; the data needs a token): the page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE_HTML)
}

/// `GET /ops/app.js`: the page's script.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /ops/browse.js`: the script of the views beyond the overview.
pub async fn browse_script() -> Response {
    asset("text/javascript; charset=utf-8", BROWSE_JS)
}

/// `GET /ops/reports.js`: the script of the Reports view.
pub async fn reports_script() -> Response {
    asset("text/javascript; charset=utf-8", REPORTS_JS)
}

/// `GET /ops/app.css`: the page's stylesheet.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// `GET /api/ops/throughput`'s answer: the tally and how far back the
/// queue keeps finished jobs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ThroughputAnswer {
    #[serde(flatten)]
    throughput: jobs::ops::history::Throughput,
    retention: Retention,
}

/// `queue.retention_succeeded` and `queue.retention_dead`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Retention {
    /// Humantime, e.g. `1day`.
    succeeded: String,
    succeeded_secs: u64,
    /// Humantime, e.g. `30days`.
    dead: String,
    dead_secs: u64,
}

/// `GET /api/ops/throughput?hours=24` (scope `ops_read`): succeeded, failed
/// (retried) and dead jobs per UTC hour over the last `hours` (1..=168,
/// default 24), from the jobs the queue still retains; with the retention,
/// so a reader knows how far back the numbers can go.
#[utoipa::path(get, path = "/api/ops/throughput", tag = "ops",
    summary = "Succeeded, failed (retried) and dead jobs per UTC hour, from the jobs the queue still retains (for the /ops chart)",
    security(("bearer" = ["ops_read"])),
    params(("hours" = Option<u32>, Query, minimum = 1, maximum = 168,
        description = "hours back (24); older than queue.retention_succeeded / retention_dead shows nothing")),
    responses((status = 200, description = "the hourly tally", body = ThroughputAnswer)))]
pub async fn throughput(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<ThroughputAnswer>, ApiError> {
    caller.require(Scope::OpsRead)?;
    let Query(pairs) =
        query.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    let mut hours = None;
    for (name, value) in pairs {
        if name != "hours" {
            return Err(ApiError::BadRequest(format!(
                "{name}: unknown parameter (expected hours)"
            )));
        }
        if hours.is_some() {
            return Err(ApiError::BadRequest("hours: given more than once".into()));
        }
        let n = value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=jobs::ops::history::MAX_HOURS).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "hours: `{value}` is not a number of hours (1..={})",
                    jobs::ops::history::MAX_HOURS
                ))
            })?;
        hours = Some(n);
    }
    let hours = jobs::ops::history::window_hours(hours);
    let t = jobs::ops::history::throughput(&state.queue, hours, chrono::Utc::now()).await?;
    let q = &state.settings.queue;
    Ok(Json(ThroughputAnswer {
        throughput: t,
        retention: Retention {
            succeeded: humantime::format_duration(q.retention_succeeded).to_string(),
            succeeded_secs: q.retention_succeeded.as_secs(),
            dead: humantime::format_duration(q.retention_dead).to_string(),
            dead_secs: q.retention_dead.as_secs(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(PAGE_HTML.contains("src=\"/ops/app.js\""));
        assert!(PAGE_HTML.contains("src=\"/ops/browse.js\""));
        assert!(PAGE_HTML.contains("href=\"/ops/app.css\""));
        // No inline script or style for the policy to block.
        assert!(!PAGE_HTML.contains("<script>"));
        assert!(!PAGE_HTML.contains("<style"));
        assert!(!PAGE_HTML.contains(" style="));
        // No inline event handlers (` onclick=` and the like).
        for (i, _) in PAGE_HTML.match_indices(" on") {
            let rest = &PAGE_HTML[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
            assert!(
                !rest[name_len..].starts_with('='),
                "inline handler near {:?}",
                &PAGE_HTML[i..(i + 20).min(PAGE_HTML.len())]
            );
        }
        assert!(CONTENT_SECURITY_POLICY.contains("connect-src 'self'"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
    }

    #[test]
    fn the_script_never_writes_html() {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!APP_JS.contains(forbidden), "app.js uses {forbidden}");
            assert!(!BROWSE_JS.contains(forbidden), "browse.js uses {forbidden}");
        }
        // Every action goes through the reason dialog, whose reason is sent.
        assert!(APP_JS.contains("A reason is required"));
        assert!(!BROWSE_JS.contains("sessionStorage"));
        assert!(APP_JS.contains("sessionStorage"));
        assert!(!APP_JS.contains("localStorage"));
    }
}
