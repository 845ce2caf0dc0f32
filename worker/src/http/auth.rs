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
use crate::{config::Scope, state::AppState};

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

#[cfg(test)]
mod tests {
    //! Properties of the bearer-token check, run through the real extractor.
    //!
    //! `proptest` is not a dev-dependency of this crate, so the cases come
    //! from a seeded generator: every run checks the same cases, and a
    //! failure message names the case.

    use std::sync::Arc;

    use axum::http::Request;
    use jobs::context::JobContext;
    use queue::{QueueStore, Retention, RetryPolicies, SqlStore};
    use sea_orm::DatabaseConnection;

    use super::*;
    use crate::config::{ApiToken, Secret, Settings};

    const CASES: u64 = 256;

    /// SplitMix64.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `0..n` (`n` is small, so the bias is nil).
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        fn between(&mut self, low: usize, high: usize) -> usize {
            low + self.below(high - low + 1)
        }

        /// A visible-ASCII character: what a header value can carry
        /// besides spaces and tabs.
        fn visible(&mut self) -> char {
            char::from(b'!' + u8::try_from(self.below(94)).unwrap())
        }

        /// A visible-ASCII string of `len` characters.
        fn text(&mut self, len: usize) -> String {
            (0..len).map(|_| self.visible()).collect()
        }

        /// A token as configured: 16 (the minimum) to 64 visible chars.
        fn token(&mut self) -> String {
            let len = self.between(16, 64);
            self.text(len)
        }

        /// `spaces` and tabs, `0..=max` of them.
        fn blanks(&mut self, max: usize) -> String {
            let n = self.below(max + 1);
            (0..n)
                .map(|_| if self.below(2) == 0 { ' ' } else { '\t' })
                .collect()
        }

        /// `bearer` with each letter's case chosen at random.
        fn bearer(&mut self) -> String {
            "bearer"
                .chars()
                .map(|c| {
                    if self.below(2) == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        }
    }

    /// The state of a process configured with `tokens` as `(name, token)`.
    fn state_with(tokens: &[(String, String)]) -> AppState {
        let mut settings = Settings::default();
        settings.api.tokens = tokens
            .iter()
            .map(|(name, token)| ApiToken {
                name: name.clone(),
                token: Secret::new(token.clone()),
                scopes: vec![Scope::OpsRead],
            })
            .collect();
        // Nothing here is connected: the extractor reads only the settings.
        let db = DatabaseConnection::default();
        let queue = QueueStore::Sql(SqlStore::new(db.clone(), "auth-test", Retention::default()));
        let retry = RetryPolicies::default();
        AppState {
            jobs: Arc::new(JobContext::new(
                db.clone(),
                queue.clone(),
                retry.clone(),
                Default::default(),
            )),
            inbox: jobs::intake::inbox::InboxWriter::direct(db.clone()),
            db,
            queue,
            retry,
            settings: Arc::new(settings),
            stopping: Default::default(),
        }
    }

    /// Runs the extractor on a request with this `Authorization` header.
    fn authenticate(state: &AppState, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let mut request = Request::builder();
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        futures::executor::block_on(Caller::from_request_parts(&mut parts, state))
    }

    /// `count` distinct configured tokens named `t0`, `t1`, ...
    fn configured(g: &mut Gen, count: usize) -> Vec<(String, String)> {
        let mut tokens: Vec<(String, String)> = Vec::new();
        while tokens.len() < count {
            let token = g.token();
            if tokens.iter().all(|(_, t)| *t != token) {
                tokens.push((format!("t{}", tokens.len()), token));
            }
        }
        tokens
    }

    /// Strings close to `token` but not equal to it: every proper prefix
    /// and suffix, an extra character at either end, each character
    /// replaced by another, one letter in the other case, and unrelated
    /// strings.
    fn near_misses(g: &mut Gen, token: &str) -> Vec<String> {
        let chars: Vec<char> = token.chars().collect();
        let mut out = Vec::new();
        for i in 1..chars.len() {
            out.push(chars[..i].iter().collect());
            out.push(chars[i..].iter().collect());
        }
        out.push(format!("{token}{}", g.visible()));
        out.push(format!("{}{token}", g.visible()));
        out.push(format!("{token}{}", g.text(40)));
        out.push(format!("{token} {token}"));
        for (i, &old) in chars.iter().enumerate() {
            let mut changed = chars.clone();
            changed[i] = loop {
                let new = g.visible();
                if new != old {
                    break new;
                }
            };
            out.push(changed.into_iter().collect());
        }
        let letters: Vec<usize> = (0..chars.len())
            .filter(|&i| chars[i].is_ascii_alphabetic())
            .collect();
        if !letters.is_empty() {
            let i = letters[g.below(letters.len())];
            let mut changed = chars.clone();
            changed[i] = if changed[i].is_ascii_uppercase() {
                changed[i].to_ascii_lowercase()
            } else {
                changed[i].to_ascii_uppercase()
            };
            out.push(changed.into_iter().collect());
        }
        for _ in 0..8 {
            let len = g.between(1, 80);
            out.push(g.text(len));
        }
        out
    }

    #[test]
    fn only_an_exact_configured_token_is_accepted() {
        let mut g = Gen(0x5EED_0001);
        for case in 0..CASES {
            let count = g.between(1, 4);
            let tokens = configured(&mut g, count);
            let state = state_with(&tokens);
            for (name, token) in &tokens {
                let caller = authenticate(&state, Some(&format!("Bearer {token}")))
                    .unwrap_or_else(|e| panic!("case {case}: {token:?} refused: {e}"));
                assert_eq!(&caller.name, name, "case {case}");
                for miss in near_misses(&mut g, token) {
                    if tokens.iter().any(|(_, t)| *t == miss) {
                        continue;
                    }
                    let result = authenticate(&state, Some(&format!("Bearer {miss}")));
                    assert!(
                        matches!(&result, Err(ApiError::Forbidden(m)) if m == "unknown token"),
                        "case {case}: {miss:?} (configured {token:?}) gave {result:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_blanks_around_the_token_are_ignored() {
        let mut g = Gen(0x5EED_0002);
        for case in 0..CASES {
            let count = g.between(1, 3);
            let tokens = configured(&mut g, count);
            let state = state_with(&tokens);
            let (name, token) = &tokens[g.below(tokens.len())];
            let header = format!("{} {}{token}{}", g.bearer(), g.blanks(3), g.blanks(3));
            let caller = authenticate(&state, Some(&header))
                .unwrap_or_else(|e| panic!("case {case}: {header:?} refused: {e}"));
            assert_eq!(&caller.name, name, "case {case}: {header:?}");
        }
    }

    #[test]
    fn a_missing_empty_or_non_bearer_authorization_is_unauthorized() {
        let mut g = Gen(0x5EED_0003);
        let tokens = configured(&mut g, 2);
        let state = state_with(&tokens);
        let token = &tokens[0].1;
        assert!(matches!(
            authenticate(&state, None),
            Err(ApiError::Unauthorized(_))
        ));
        for case in 0..CASES {
            let scheme = loop {
                let len = g.between(1, 12);
                let scheme: String = (0..len)
                    .map(|_| char::from(b'a' + u8::try_from(g.below(26)).unwrap()))
                    .collect();
                if !scheme.eq_ignore_ascii_case("bearer") {
                    break scheme;
                }
            };
            for header in [
                format!("{scheme} {token}"),
                format!("{}{token}", g.bearer()),
                format!("{} {}", g.bearer(), g.blanks(4)),
                g.bearer(),
                token.clone(),
            ] {
                let result = authenticate(&state, Some(&header));
                assert!(
                    matches!(result, Err(ApiError::Unauthorized(_))),
                    "case {case}: {header:?} gave {result:?}"
                );
            }
        }
    }

    #[test]
    fn with_no_configured_tokens_nothing_is_accepted() {
        let mut g = Gen(0x5EED_0004);
        let state = state_with(&[]);
        for case in 0..CASES {
            let len = g.between(1, 80);
            let presented = g.text(len);
            let result = authenticate(&state, Some(&format!("Bearer {presented}")));
            assert!(
                matches!(&result, Err(ApiError::Forbidden(m)) if m == "unknown token"),
                "case {case}: {presented:?} gave {result:?}"
            );
        }
    }
}
