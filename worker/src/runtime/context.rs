//! The job context from the settings: capture rules, the bonus destination,
//! the notification clients, reconciliation windows and the ATS clients
//! that have API keys, each routed or recorded per `[sandbox]`.
//!
//! Built once per process by `connect::app_state` (and by tests that need a
//! context of their own); every job attempt and every request handler that
//! changes workflow state then shares it, clients and rate limiters
//! included.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use anyhow::Context as _;
use governor::Quota;
use jobs::{
    connectors::{
        Connector,
        ashby::{AshbyClient, AshbyConfig},
        greenhouse::{GreenhouseClient, GreenhouseConfig},
        lever::{LeverClient, LeverConfig},
        smartrecruiters::{SmartRecruitersClient, SmartRecruitersConfig},
        workable::{WorkableClient, WorkableConfig, base_url_for},
    },
    context::{CaptureSettings, JobContext},
    outbound::http::HttpOptions,
    outbound::sandbox::{Recorder, Sandbox},
    outbound::webhook::{Destination, OutboundClient, OutboundOptions},
    referral::attribution::Rules,
};

use crate::{config::Settings, state::AppState};

/// The job context from the settings: capture rules and the ATS clients
/// that have API keys.
///
/// # Errors
/// An ATS section that cannot make a client (a bad base URL, a Greenhouse
/// key without an On-Behalf-Of user).
pub fn job_context(settings: &Settings, state: &AppState) -> anyhow::Result<JobContext> {
    let mut ctx = JobContext::new(
        state.db.clone(),
        state.queue.clone(),
        state.retry.clone(),
        capture_settings(settings)?,
    );
    ctx.payouts.rules = settings.payouts.rules.clone();
    ctx.payouts.job_facts_ttl = settings.payouts.job_facts_ttl;
    let sb = &settings.sandbox;
    let recorder = sb.enabled.then(|| Recorder::new(state.db.clone()));
    ctx.sandbox.enabled = sb.enabled;
    ctx.sandbox.recorder = recorder.clone();
    let transport = Transport::from_settings(settings)?;
    ctx.payouts.destination = bonus_destination(settings, &transport, &recorder)?;
    ctx.notifications = notifications(settings, &transport, &recorder)?;
    let rc = &settings.reconciliation;
    ctx.reconcile = jobs::context::ReconcileSettings {
        delivery_window: chrono::Duration::from_std(rc.delivery_window)
            .context("reconciliation.delivery_window is too long")?,
        ats_lookback: chrono::Duration::from_std(rc.ats_lookback)
            .context("reconciliation.ats_lookback is too long")?,
        max_ats_pages: rc.max_ats_pages,
    };
    ctx.reports = jobs::finance::report::ReportSettings {
        program_costs: settings.reports.program_costs.clone(),
    };
    if let Some(c) = greenhouse(settings, &transport, &mut ctx.sandbox)? {
        ctx.connectors.insert(c);
    }
    if let Some(c) = lever(settings, &transport, &mut ctx.sandbox)? {
        ctx.connectors.insert(c);
    }
    if let Some(c) = ashby(settings, &transport)? {
        ctx.connectors.insert(c);
    }
    if let Some(c) = workable(settings, &transport)? {
        ctx.connectors.insert(c);
    }
    if let Some(c) = smartrecruiters(settings, &transport)? {
        ctx.connectors.insert(c);
    }
    Ok(ctx)
}

/// `[outbound]` as every outbound client's transport takes it, the CA
/// bundle read once, the proxy parsed once.
struct Transport {
    allow_private_networks: bool,
    ca_pem: Option<String>,
    proxy: Option<jobs::outbound::http::ProxyUrl>,
}

impl Transport {
    /// Reads `outbound.ca_file` when set.
    fn from_settings(settings: &Settings) -> anyhow::Result<Transport> {
        let o = &settings.outbound;
        let ca_pem = if o.ca_file.is_empty() {
            None
        } else {
            let pem = std::fs::read_to_string(&o.ca_file)
                .with_context(|| format!("outbound.ca_file: reading {}", o.ca_file))?;
            Some(pem)
        };
        let proxy = if o.proxy.is_empty() {
            None
        } else {
            let url = url::Url::parse(o.proxy.expose_secret())
                .map_err(|e| anyhow::anyhow!("outbound.proxy: not a URL: {e}"))?;
            Some(jobs::outbound::http::ProxyUrl(url))
        };
        Ok(Transport {
            allow_private_networks: o.allow_private_networks,
            ca_pem,
            proxy,
        })
    }

    /// Sets the SSRF guard, the extra CAs and the proxy on `http`.
    fn apply(&self, http: &mut HttpOptions) {
        http.allow_private_networks = self.allow_private_networks;
        http.ca_pem.clone_from(&self.ca_pem);
        http.proxy.clone_from(&self.proxy);
    }
}

/// `[referrals]`, `[milestones]` and the fallback write-back's `[ats]` keys
/// as capture reads them.
fn capture_settings(settings: &Settings) -> anyhow::Result<CaptureSettings> {
    let r = &settings.referrals;
    Ok(CaptureSettings {
        rules: Rules {
            ownership_window: chrono::Duration::from_std(r.ownership_window)
                .context("referrals.ownership_window is too long")?,
            prior_applicant_window: chrono::Duration::from_std(r.prior_applicant_window)
                .context("referrals.prior_applicant_window is too long")?,
        },
        default_phone_region: Some(r.default_phone_region.clone()).filter(|s| !s.is_empty()),
        job_phone_regions: r
            .job_phone_regions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ats_tag: r.ats_tag.clone(),
        hire_stages: settings
            .milestones
            .hire_stages
            .iter()
            .map(|(ats, stages)| {
                (
                    ats.trim().to_lowercase(),
                    stages.iter().map(|s| s.trim().to_lowercase()).collect(),
                )
            })
            .collect(),
        start_date_field: settings.milestones.start_date_field.clone(),
        twin_wait: Some(settings.ats.twin_wait).filter(|w| !w.is_zero()),
        twin_lookups: settings.ats.twin_lookups,
    })
}

/// The bonus POST's client, when `payouts.destination_url` (or, in sandbox
/// mode, `sandbox.bonus_url`) is set.
fn bonus_destination(
    settings: &Settings,
    transport: &Transport,
    recorder: &Option<Recorder>,
) -> anyhow::Result<Option<Arc<OutboundClient>>> {
    let p = &settings.payouts;
    let sb = &settings.sandbox;
    // In sandbox mode: the sandbox URL when given, else the real one,
    // recorded instead of called (`record` is then the recorder).
    let (bonus_url, bonus_record) = sandboxed(recorder, &sb.bonus_url, &p.destination_url);
    if bonus_url.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(bonus_url).context(if bonus_record.is_none() && sb.enabled {
        "sandbox.bonus_url"
    } else {
        "payouts.destination_url"
    })?;
    let rps = NonZeroU32::new(p.destination_requests_per_second).unwrap_or(NonZeroU32::MIN);
    let mut destination = Destination::new(
        jobs::outbox::BONUS_DESTINATION,
        url,
        p.destination_secret.expose(),
        rps,
    );
    destination.idempotent = p.destination_idempotent;
    let client = OutboundClient::with_options(
        destination,
        &outbound_options(transport, p.destination_timeout),
    )
    .map_err(|e| anyhow::anyhow!("payouts.destination: {e}"))?;
    Ok(Some(Arc::new(match bonus_record {
        Some(r) => client.record_only(r),
        None => client,
    })))
}

/// The Greenhouse Harvest v3 client, when `ats.greenhouse.client_secret`
/// is set.
fn greenhouse(
    settings: &Settings,
    transport: &Transport,
    sandbox: &mut Sandbox,
) -> anyhow::Result<Option<Arc<dyn Connector>>> {
    let gh = &settings.ats.greenhouse;
    if gh.client_secret.is_empty() {
        return Ok(None);
    }
    let sb = &settings.sandbox;
    let mut config = GreenhouseConfig::new(
        gh.client_id.clone(),
        gh.client_secret.expose(),
        gh.user_id.clone(),
    );
    config.base_url = url::Url::parse(&gh.base_url).context("ats.greenhouse.base_url")?;
    config.token_url = url::Url::parse(&gh.token_url).context("ats.greenhouse.token_url")?;
    if sb.enabled {
        if sb.greenhouse_base_url.is_empty() {
            sandbox.greenhouse = Some(config.base_url.clone());
        } else {
            config.base_url =
                url::Url::parse(&sb.greenhouse_base_url).context("sandbox.greenhouse_base_url")?;
        }
    }
    config.token_field_key = Some(gh.token_field.clone());
    config.job_level_field = Some(gh.job_level_field.clone());
    config.referral_source_id = Some(gh.source_id.clone());
    transport.apply(&mut config.http);
    if let Some(n) = NonZeroU32::new(gh.requests_per_window) {
        config.quota = jobs::connectors::greenhouse::harvest::window_quota(n);
    }
    Ok(Some(Arc::new(
        GreenhouseClient::new(config).map_err(|e| anyhow::anyhow!("ats.greenhouse: {e}"))?,
    )))
}

/// The Lever client, when `ats.lever.api_key` is set.
fn lever(
    settings: &Settings,
    transport: &Transport,
    sandbox: &mut Sandbox,
) -> anyhow::Result<Option<Arc<dyn Connector>>> {
    let lv = &settings.ats.lever;
    if lv.api_key.is_empty() {
        return Ok(None);
    }
    let sb = &settings.sandbox;
    let mut config = LeverConfig::new(lv.api_key.expose());
    config.base_url = url::Url::parse(&lv.base_url).context("ats.lever.base_url")?;
    config.perform_as = Some(lv.perform_as.clone()).filter(|u| !u.trim().is_empty());
    config.token_from = lv
        .token_from
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()
        .context("ats.lever.token_from")?;
    if sb.enabled {
        if sb.lever_base_url.is_empty() {
            // Write-backs are recorded; re-fetches (reads) still go to
            // Lever, or nothing could be captured from its webhooks.
            sandbox.lever = Some(config.base_url.clone());
        } else {
            config.base_url =
                url::Url::parse(&sb.lever_base_url).context("sandbox.lever_base_url")?;
        }
    }
    transport.apply(&mut config.http);
    if let Some(n) = NonZeroU32::new(lv.requests_per_second) {
        config.quota = Quota::per_second(n)
            .allow_burst(NonZeroU32::new(n.get().saturating_mul(2)).unwrap_or(n));
    }
    Ok(Some(Arc::new(
        LeverClient::new(config).map_err(|e| anyhow::anyhow!("ats.lever: {e}"))?,
    )))
}

/// The Ashby client, when `ats.ashby.api_key` is set. Sandbox mode has no
/// Ashby base URL of its own yet: point `ats.ashby.base_url` at a sandbox.
fn ashby(settings: &Settings, transport: &Transport) -> anyhow::Result<Option<Arc<dyn Connector>>> {
    let a = &settings.ats.ashby;
    if a.api_key.is_empty() {
        return Ok(None);
    }
    let mut config = AshbyConfig::new(a.api_key.expose());
    config.base_url = url::Url::parse(&a.base_url).context("ats.ashby.base_url")?;
    transport.apply(&mut config.http);
    if let Some(n) = NonZeroU32::new(a.requests_per_second) {
        config.quota = Quota::per_second(n);
    }
    Ok(Some(Arc::new(
        AshbyClient::new(config).map_err(|e| anyhow::anyhow!("ats.ashby: {e}"))?,
    )))
}

/// The Workable client, when `ats.workable.token` is set. Like Ashby, no
/// sandbox URL of its own: point `ats.workable.base_url` at a sandbox.
fn workable(
    settings: &Settings,
    transport: &Transport,
) -> anyhow::Result<Option<Arc<dyn Connector>>> {
    let w = &settings.ats.workable;
    if w.token.is_empty() {
        return Ok(None);
    }
    let base_url = match w.base_url.trim() {
        "" => url::Url::parse(&base_url_for(&w.subdomain)).context("ats.workable.subdomain")?,
        url => url::Url::parse(url).context("ats.workable.base_url")?,
    };
    let mut config = WorkableConfig::new(base_url, w.token.expose());
    config.custom_attribute_key = w.custom_attribute_key.clone();
    config.token_tag_prefix = w.token_tag_prefix.clone();
    transport.apply(&mut config.http);
    Ok(Some(Arc::new(
        WorkableClient::new(config).map_err(|e| anyhow::anyhow!("ats.workable: {e}"))?,
    )))
}

/// The SmartRecruiters client, when `ats.smartrecruiters.api_key` is set.
/// No sandbox URL of its own: point `ats.smartrecruiters.base_url` at one.
fn smartrecruiters(
    settings: &Settings,
    transport: &Transport,
) -> anyhow::Result<Option<Arc<dyn Connector>>> {
    let s = &settings.ats.smartrecruiters;
    if s.api_key.is_empty() {
        return Ok(None);
    }
    let base_url = url::Url::parse(s.base_url.trim()).context("ats.smartrecruiters.base_url")?;
    let mut config = SmartRecruitersConfig::new(base_url, s.api_key.expose());
    config.token_property_id = s.token_property_id.clone();
    config.referral_source_type_id = s.referral_source_type_id.clone();
    config.referral_source_subtype_id = s.referral_source_subtype_id.clone();
    config.token_tag_prefix = s.token_tag_prefix.clone();
    transport.apply(&mut config.http);
    Ok(Some(Arc::new(SmartRecruitersClient::new(config).map_err(
        |e| anyhow::anyhow!("ats.smartrecruiters: {e}"),
    )?)))
}

/// Where one outbound client goes in sandbox mode: `(url, recorder)`.
/// Sandbox off (`recorder` is `None`): the real URL, sent. Sandbox on: the
/// sandbox URL when given, sent; else the real URL with the recorder, so
/// its calls are recorded instead of sent. An empty URL means no client.
fn sandboxed<'a>(
    recorder: &Option<Recorder>,
    sandbox_url: &'a str,
    real_url: &'a str,
) -> (&'a str, Option<Recorder>) {
    match recorder {
        None => (real_url, None),
        Some(_) if !sandbox_url.is_empty() => (sandbox_url, None),
        Some(r) => (real_url, Some(r.clone())),
    }
}

/// The status-sync, CRM and alert clients of `[notifications]` (sandboxed
/// per `[sandbox]` when `recorder` is set).
fn notifications(
    settings: &Settings,
    transport: &Transport,
    recorder: &Option<Recorder>,
) -> anyhow::Result<jobs::context::Notifications> {
    let n = &settings.notifications;
    let sb = &settings.sandbox;
    let rps = NonZeroU32::new(n.requests_per_second).unwrap_or(NonZeroU32::MIN);
    let options = outbound_options(transport, n.timeout);
    let finish = |client: OutboundClient, record: Option<Recorder>| match record {
        Some(r) => Arc::new(client.record_only(r)),
        None => Arc::new(client),
    };
    let signed = |name: &str,
                  sandbox_url: &str,
                  url: &str,
                  secret: &str|
     -> anyhow::Result<Option<Arc<OutboundClient>>> {
        let (url, record) = sandboxed(recorder, sandbox_url, url);
        if url.is_empty() {
            return Ok(None);
        }
        let key = if recorder.is_some() && record.is_none() {
            format!("sandbox.{name}_url")
        } else {
            format!("notifications.{name}_url")
        };
        let url = url::Url::parse(url).with_context(|| key.clone())?;
        let client =
            OutboundClient::with_options(Destination::new(name, url, secret, rps), &options)
                .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
        Ok(Some(finish(client, record)))
    };
    let (alert_url, alert_record) = sandboxed(
        recorder,
        sb.alert_webhook_url.expose(),
        n.alert_webhook_url.expose(),
    );
    let alert = if alert_url.is_empty() {
        None
    } else {
        // The URL is the credential: never put it in an error.
        let url = url::Url::parse(alert_url)
            .map_err(|_| anyhow::anyhow!("notifications.alert_webhook_url is not a URL"))?;
        let client = OutboundClient::with_options(Destination::slack("alert", url, rps), &options)
            .map_err(|e| anyhow::anyhow!("notifications.alert_webhook_url: {e}"))?;
        Some(finish(client, alert_record))
    };
    Ok(jobs::context::Notifications {
        status_sync: signed(
            "status_sync",
            &sb.status_sync_url,
            &n.status_sync_url,
            n.status_sync_secret.expose(),
        )?,
        crm: signed("crm", &sb.crm_url, &n.crm_url, n.crm_secret.expose())?,
        alert,
        notify_rejections: n.notify_rejections,
        engagement: jobs::referral::engagement::Engagement {
            events: n.engagement.clone(),
            candidate_fields: n.engagement_candidate_fields.clone(),
        },
        public_base_url: settings.http.public_base_url.clone(),
    })
}

/// Outbound transport options for a request timeout: the connect timeout
/// stays strictly shorter (see `jobs::outbound::webhook`).
fn outbound_options(transport: &Transport, timeout: Duration) -> OutboundOptions {
    let mut options = OutboundOptions::default();
    transport.apply(&mut options.http);
    options.http.timeout = timeout;
    options.http.connect_timeout = options.http.connect_timeout.min(timeout / 2);
    options
}
