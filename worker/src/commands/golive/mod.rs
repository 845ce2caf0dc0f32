//! `golive-check [--base-url URL] [--json] [--timeout D] [--allow-missing
//! HOP]...`: drives a test referral through a running service, over its
//! public HTTP API only, and prints each hop (`received` … `audit`) with
//! when it happened and what was seen; exits 1 naming the first hop that
//! failed. A hop passes only when observed: a skipped write-back or an
//! unconfigured status sync fails unless `--allow-missing` names it.
//!
//! `service.rs` talks to the service (signed deliveries, the ops API and
//! the audit export, polled until settled); `hops.rs` runs the steps and
//! judges each hop; this file checks the settings, runs the hops and
//! reports.

mod hops;
pub(super) mod service;

use anyhow::bail;

use self::{
    hops::{GOLIVE_HOPS, Hop, golive_hops},
    service::Golive,
};
use crate::{
    cli::GoliveArgs,
    config::{Scope, Settings},
};

/// `golive-check [--base-url URL] [--json] [--timeout D]`: drives a test
/// referral through a running service and prints each hop.
///
/// # Errors
/// Missing tokens or secret; the first hop that failed.
pub(super) async fn golive_check(args: GoliveArgs, settings: &Settings) -> anyhow::Result<()> {
    let base = args
        .base_url
        .clone()
        .unwrap_or_else(|| settings.http.public_base_url.clone());
    let run = connect(settings, &base, &args)?;
    let started = chrono::Utc::now();
    let mut hops: Vec<Hop> = Vec::new();
    let (referral_id, outcome) =
        match golive_hops(&run, started, &args.allow_missing, &mut hops).await {
            Ok(id) => (id, None),
            Err(e) => (None, Some(e)),
        };
    complete(&mut hops, outcome.as_ref());
    let failed = hops.iter().find(|h| !h.ok).cloned();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": failed.is_none(),
                "base_url": base,
                "referral_id": referral_id,
                "hops": hops,
            }))?
        );
    } else {
        println!("go-live check against {base}");
        for h in &hops {
            println!(
                "  {:<14} {:<4} {:<25} {}",
                h.hop,
                if h.ok { "ok" } else { "FAIL" },
                h.at.as_deref().unwrap_or("-"),
                h.result
            );
        }
    }
    match failed {
        None => Ok(()),
        Some(h) => bail!("go-live check failed at hop `{}`: {}", h.hop, h.result),
    }
}

/// The run against `base` with the tokens and the signing secret from the
/// settings.
///
/// # Errors
/// No token with one of the scopes links, employees and ops_read; no
/// `webhooks.careers_site_secret`; a base URL the client refuses.
fn connect(settings: &Settings, base: &str, args: &GoliveArgs) -> anyhow::Result<Golive> {
    let token = |scope: Scope| {
        settings
            .api
            .tokens
            .iter()
            .find(|t| t.scopes.contains(&scope))
            .map(|t| t.token.expose().to_owned())
    };
    let (links, employees, ops) = (
        token(Scope::Links),
        token(Scope::Employees),
        token(Scope::OpsRead),
    );
    let missing: Vec<&str> = [
        ("links", &links),
        ("employees", &employees),
        ("ops_read", &ops),
    ]
    .into_iter()
    .filter(|(_, t)| t.is_none())
    .map(|(s, _)| s)
    .collect();
    let (Some(links), Some(employees), Some(ops)) = (links, employees, ops) else {
        bail!(
            "golive-check needs API tokens in [[api.tokens]] with the scopes links, employees and \
             ops_read (one token may hold all three); none has: {}",
            missing.join(", ")
        );
    };
    let secret = settings.webhooks.careers_site_secret.expose().to_owned();
    if secret.is_empty() {
        bail!(
            "golive-check signs its test application with webhooks.careers_site_secret, which is not set"
        );
    }
    Ok(Golive {
        client: jobs::outbound::service_client::ServiceClient::new(
            base,
            std::time::Duration::from_secs(15),
        )?,
        links,
        employees,
        ops,
        secret,
        deadline: tokio::time::Instant::now() + args.timeout,
    })
}

/// Fills in the hops not judged: a step that could not run (`outcome`)
/// fails its hop; the rest were not reached.
fn complete(hops: &mut Vec<Hop>, outcome: Option<&anyhow::Error>) {
    if let Some(e) = outcome {
        let next = GOLIVE_HOPS[hops.len().min(GOLIVE_HOPS.len() - 1)];
        if hops.len() < GOLIVE_HOPS.len() {
            hops.push(Hop {
                hop: next,
                ok: false,
                at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                result: format!("{e:#}"),
            });
        }
    }
    for name in GOLIVE_HOPS.iter().skip(hops.len()) {
        hops.push(Hop {
            hop: name,
            ok: false,
            at: None,
            result: "not reached".into(),
        });
    }
}
