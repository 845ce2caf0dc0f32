//! Assertions shared by the decode targets.
//!
//! Every check here restates something the decoders in `jobs::intake`
//! guarantee by construction (see `signature::json`): a required id
//! (`req_id`) is a non-blank string, an optional id (`id`) and a
//! `non_blank` value are `None` rather than blank. Raw free-text fields
//! (names, locations, stage names read with `str`) are passed through as
//! sent and are deliberately not checked.

#![allow(dead_code)] // Each target uses a different subset.

/// A required id or other non-blank value.
#[track_caller]
pub fn non_blank(what: &str, value: &str) {
    assert!(
        !value.trim().is_empty(),
        "{what} must be non-blank, got {value:?}"
    );
}

/// An optional id or `non_blank` value: absent, or non-blank.
#[track_caller]
pub fn opt_non_blank(what: &str, value: Option<&str>) {
    if let Some(value) = value {
        non_blank(what, value);
    }
}
