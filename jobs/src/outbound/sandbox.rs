//! Sandbox mode: outbound calls that are recorded instead of sent.
//!
//! # Record only
//!
//! With `[sandbox] enabled = true`, the worker builds every outbound client
//! against its sandbox URL when one is configured. A destination without a
//! sandbox URL is made *record only*:
//!
//! * an [`OutboundClient`](super::webhook::OutboundClient) with a
//!   [`Recorder`] (bonus POST, status sync, CRM, alerts) sends nothing: it
//!   appends a `sandbox.recorded` audit event and answers
//!   [`SendOutcome::Delivered`](super::webhook::SendOutcome::Delivered), so
//!   the ledger and the outbox move on as if the receiver had said 200;
//! * an ATS write-back ([`Sandbox::greenhouse`], [`Sandbox::lever`]) is
//!   recorded the same way and then skipped
//!   (`attribution.write_back_skipped`).
//!
//! The event's data is the destination's name, the method, the URL without
//! its query (an alert webhook's URL is its credential, so only its origin
//! is kept), and the message id and type: never the body, so no personal
//! data reaches the log.
//!
//! The worker builds the [`Recorder`] and the [`Sandbox`] part of the job
//! context (`worker/src/runtime/context.rs`); the webhook sender
//! ([`super::webhook`]) and the write-back job
//! ([`crate::capture::write_back`]) consult them.

use entities::states::Ats;
use sea_orm::DatabaseConnection;
use serde_json::json;
use url::Url;

use crate::{
    db::{audit::AuditEntry, begin_locked},
    error::Result,
};

/// The audit action of a call recorded instead of sent.
pub const RECORDED: &str = "sandbox.recorded";

/// Writes what a record-only destination would have sent to the audit log.
#[derive(Clone)]
pub struct Recorder {
    db: DatabaseConnection,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

/// One call that was not made.
#[derive(Debug, Clone)]
pub struct Recorded<'a> {
    /// The destination's configured name (`bonus`, `status_sync`,
    /// `crm`, `alert`, `greenhouse`, `lever`).
    pub destination: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// Where it would have gone, as written to the log (see [`loggable_url`]).
    pub url: String,
    /// The message's id (`webhook-id`), or the write-back's key.
    pub message_id: &'a str,
    /// The message's type (`referral.milestone_reached`, `ats.write_back`).
    pub message_type: &'a str,
    /// What the audit event is about (`message`, `referral`).
    pub subject_type: &'a str,
    /// Its id.
    pub subject_id: String,
}

impl Recorder {
    /// A recorder writing to `db`'s audit log.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Appends a `sandbox.recorded` event in a transaction of its own.
    /// Never call it while holding a [`begin_locked`] transaction.
    ///
    /// # Errors
    /// Database errors.
    pub async fn record(&self, call: Recorded<'_>) -> Result<i64> {
        let tx = begin_locked(&self.db, &[]).await?;
        tx.audit(AuditEntry::system(
            RECORDED,
            call.subject_type,
            &call.subject_id,
            json!({
                "destination": call.destination,
                "method": call.method,
                "url": call.url,
                "message_id": call.message_id,
                "message_type": call.message_type,
            }),
        ));
        let id = tx.commit_audited().await?[0];
        tracing::info!(
            destination = call.destination,
            message_id = call.message_id,
            message_type = call.message_type,
            "sandbox: recorded, not sent"
        );
        Ok(id)
    }
}

/// `url` as the audit log keeps it: without query, fragment or user info;
/// for an unsigned (Slack-compatible) destination, whose URL *is* the
/// credential, only the origin.
pub fn loggable_url(url: &Url, signed: bool) -> String {
    if !signed {
        return format!("{}/[redacted]", url.origin().ascii_serialization());
    }
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    // Only fails for URLs that cannot have credentials, which have none.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The sandbox part of the job context.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// `[sandbox] enabled`.
    pub enabled: bool,
    /// Writes record-only calls to the audit log (set when enabled).
    pub recorder: Option<Recorder>,
    /// Greenhouse write-back is record only: the real base URL, recorded
    /// (not called).
    pub greenhouse: Option<Url>,
    /// Lever write-back is record only: the real base URL.
    pub lever: Option<Url>,
}

impl Sandbox {
    /// Records an ATS write-back instead of making it, when that ATS is
    /// record only. Returns whether it was recorded (the caller then skips
    /// the write-back).
    ///
    /// # Errors
    /// Database errors.
    pub async fn record_write_back(
        &self,
        ats: Ats,
        referral_id: i64,
        ats_application_id: &str,
    ) -> Result<bool> {
        let (name, base, method, path) = match ats {
            Ats::Greenhouse => (
                "greenhouse",
                &self.greenhouse,
                "PATCH",
                format!("applications/{ats_application_id}"),
            ),
            Ats::Lever => (
                "lever",
                &self.lever,
                "POST",
                format!("opportunities/{ats_application_id}/addTags"),
            ),
            _ => return Ok(false),
        };
        let (Some(base), Some(recorder)) = (base, &self.recorder) else {
            return Ok(false);
        };
        let mut url = base.clone();
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        let url = url.join(&path).unwrap_or_else(|_| base.clone());
        recorder
            .record(Recorded {
                destination: name,
                method,
                url: loggable_url(&url, true),
                message_id: &format!("writeback:{referral_id}"),
                message_type: "ats.write_back",
                subject_type: "referral",
                subject_id: referral_id.to_string(),
            })
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loggable_urls_carry_no_credentials() {
        let u = Url::parse("https://user:pw@bonus.example/hooks/x?token=abc#frag").unwrap();
        assert_eq!(loggable_url(&u, true), "https://bonus.example/hooks/x");
        let slack = Url::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap();
        let logged = loggable_url(&slack, false);
        assert!(!logged.contains("secret"), "{logged}");
        assert!(logged.starts_with("https://hooks.slack.com"), "{logged}");
    }
}
