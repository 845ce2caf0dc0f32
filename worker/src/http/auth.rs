//! Who may call `/api/...`: bearer tokens from `[api.tokens]`, each with
//! scopes.
//!
//! No `Authorization` header answers 401; a token we do not know, or one
//! without the scope a route needs, answers 403. Tokens are compared as
//! SHA-256 digests in constant time, so neither the content nor the length of
//! a configured token leaks through timing, and they are never logged (the
//! caller is known by the token's *name*).

use axum::{
    extract::FromRequestParts,
    http::{header::AUTHORIZATION, request::Parts},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::{config::Scope, runtime::AppState};

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, used as the audit actor `api:<name>`.
    pub name: String,
    scopes: Vec<Scope>,
}

impl Caller {
    /// The audit actor for this caller.
    pub fn actor(&self) -> String {
        format!("api:{}", self.name)
    }

    /// Requires `scope`.
    ///
    /// # Errors
    /// 403 naming the missing scope.
    pub fn require(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.scopes.contains(&scope) {
            Ok(self)
        } else {
            let name = serde_json::to_value(scope)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Err(ApiError::Forbidden(format!(
                "this token lacks the {name} scope"
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let presented = header
            .to_str()
            .ok()
            .and_then(|h| {
                // The scheme is case-insensitive (RFC 7235 section 2.1).
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be `Bearer <token>`".into())
            })?;
        let digest = Sha256::digest(presented.as_bytes());
        // Check every configured token, without stopping early, so the time
        // taken does not depend on which one (if any) matched.
        let mut found = None;
        for t in &state.settings.api.tokens {
            let theirs = Sha256::digest(t.token.expose().as_bytes());
            if bool::from(digest.as_slice().ct_eq(theirs.as_slice())) {
                found = Some(t);
            }
        }
        match found {
            Some(t) => Ok(Caller {
                name: t.name.clone(),
                scopes: t.scopes.clone(),
            }),
            None => Err(ApiError::Forbidden("unknown token".into())),
        }
    }
}
