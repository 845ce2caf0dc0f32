//! The HTTP surface: health, the `/api` for the referral portal and the HRIS
//! sync, referral-link redirects, and webhook intake.
//!
//! Handlers stay thin: parse, authenticate, call into `jobs`, map the
//! result. Errors go through [`error::ApiError`], the one place that decides
//! status codes and JSON bodies. Bodies are read by [`body`] with the
//! configured limit, so axum's own (plain-text) limit is turned off.

pub mod api;
pub mod auth;
pub mod body;
pub mod error;
pub mod finance;
mod health;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod ops_page;
pub mod privacy;
pub mod reconciliation;
pub mod schemas;
pub mod webhooks;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post},
};

use crate::{config::Settings, state::AppState};

/// The routes of a `work` process's ops listener (`http.ops_listen`):
/// metrics and probes, nothing that reaches workflow state.
pub fn ops_router(state: AppState) -> Router {
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(error::not_found)
        .with_state(state);
    observe::layer(router)
}

/// The probes alone: what a listener still answers on a connection over
/// `http.max_connections` (`runtime::limits::connections`).
pub fn probes_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Every route of the service.
pub fn router(state: AppState, _settings: &Settings) -> Router {
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/employees", post(api::upsert_employee))
        .route("/api/referral-links", post(api::create_link))
        .route("/api/referral-links/{token}", delete(api::revoke_link))
        .route(
            "/api/hires/{application}/terminated",
            post(api::hire_terminated),
        )
        .route("/api/payouts/{id}/approve", post(ops::approve_payout))
        .route("/api/payouts/{id}/hold", post(ops::hold_payout))
        .route("/api/payouts/{id}/resolve", post(ops::resolve_payout))
        .route(
            "/api/ops/destinations/{name}/enable",
            post(ops::enable_destination),
        )
        .route("/api/ops/queues", get(ops::queues))
        .route("/api/ops/jobs", get(ops::jobs))
        .route("/api/ops/jobs/requeue-dead", post(ops::requeue_dead))
        .route("/api/ops/jobs/{id}", get(ops::job))
        .route("/api/ops/jobs/{id}/retry", post(ops::retry_job))
        .route("/api/ops/jobs/{id}/cancel", post(ops::cancel_job))
        .route("/api/ops/workflows", get(ops::workflows))
        .route("/api/ops/workflows/{referral_id}", get(ops::workflow))
        .route("/api/ops/stuck", get(ops::stuck))
        .route("/api/ops/inbox", get(ops::inbox))
        .route("/api/ops/inbox/{id}/replay", post(ops::replay_inbox))
        .route("/api/ops/payouts", get(ops::payouts))
        .route("/api/openapi.json", get(openapi::document))
        .route("/r/{token}", get(api::follow_link))
        .route("/webhooks/applications", post(webhooks::careers_site))
        .route("/webhooks/greenhouse", post(webhooks::greenhouse))
        .route("/webhooks/lever", post(webhooks::lever))
        .route("/webhooks/ashby", post(webhooks::ashby))
        .route("/webhooks/workable", post(webhooks::workable))
        .route("/webhooks/smartrecruiters", post(webhooks::smartrecruiters))
        .merge(finance::routes())
        .merge(ops_page::routes())
        .merge(privacy::routes())
        .merge(reconciliation::routes())
        .merge(schemas::router())
        .merge(openapi::viewer())
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    observe::layer(router)
}
