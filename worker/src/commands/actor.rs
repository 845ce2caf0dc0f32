//! Who a CLI action is recorded as in the audit log: `cli:$USER`. Used by
//! every command that changes data.

/// The actor recorded in audit events for CLI actions.
pub(super) fn actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
