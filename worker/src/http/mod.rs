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
pub mod ops;
pub mod webhooks;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post},
};

use crate::{config::Settings, runtime::AppState};

/// Every route of the service.
pub fn router(state: AppState, _settings: &Settings) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
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
        .route("/api/ops/jobs/{id}", get(ops::job))
        .route("/r/{token}", get(api::follow_link))
        .route("/webhooks/applications", post(webhooks::careers_site))
        .route("/webhooks/greenhouse", post(webhooks::greenhouse))
        .route("/webhooks/lever", post(webhooks::lever))
        .merge(finance::routes())
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}
