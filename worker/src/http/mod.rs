//! The HTTP surface: health now; intake and the ops API join as they land.
//!
//! Handlers stay thin: parse, call into `jobs`, map the result. Errors go
//! through [`error::ApiError`], the one place that decides status codes and
//! JSON bodies.

pub mod error;
mod health;

use axum::{Router, routing::get};

use crate::{config::Settings, runtime::AppState};

/// Every route of the service.
pub fn router(state: AppState, _settings: &Settings) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(error::not_found)
        .with_state(state)
}
