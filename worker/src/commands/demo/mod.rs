//! `referral-worker demo`: one referral walked through a throw-away
//! service, so a newcomer sees the whole workflow with one command.
//!
//! The service is the real one ([`Application`], role `All`: HTTP, workers
//! and schedules) on the embedded default (SQLite and the embedded queue)
//! in a temporary directory, or `--data-dir`. Around it, in the same
//! process: a fake Greenhouse that signs its webhooks (`greenhouse.rs`),
//! and a bonus system that verifies the signed bonus POSTs
//! (`receiver.rs`), each configured with secrets generated for the run.
//! `hops.rs` then drives the referral over the service's public HTTP API
//! only (through the go-live check's client), as the portal, the careers
//! site, Greenhouse and ops would, and the real jobs move it along: link →
//! application → attribution → hire → probation (compressed to
//! `--probation`) → bonus → audit. Each hop is printed as it is judged;
//! the first that fails, or is not reached by `--timeout`, ends the run
//! with exit 1 naming it.
//!
//! The configuration file and the environment are not read (`Cli`
//! hands this command the defaults, logging at `warn`): the demo runs the
//! same on every machine.

mod greenhouse;
mod hops;
mod receiver;

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use self::{hops::walk, receiver::BonusReceiver};
use super::golive::service::Golive;
use crate::{
    cli::DemoArgs,
    config::{ApiToken, Scope, Secret, SecretUrl, Settings},
    runtime::{Application, Role},
};

/// The secrets and the API token generated for one run.
struct Secrets {
    careers_site: String,
    greenhouse: String,
    bonus: String,
    api_token: String,
}

impl Secrets {
    fn generate() -> Self {
        Self {
            careers_site: jobs::outbound::webhook::new_secret(),
            greenhouse: jobs::referral::links::new_token(),
            bonus: jobs::outbound::webhook::new_secret(),
            api_token: jobs::referral::links::new_token(),
        }
    }
}

/// `referral-worker demo`.
///
/// # Errors
/// The service failing to start; the first hop that failed, named.
pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let dir = DataDir::new(args.data_dir.as_deref())?;
    let result = run(&args, &dir).await;
    dir.remove();
    result
}

async fn run(args: &DemoArgs, dir: &DataDir) -> anyhow::Result<()> {
    let secrets = Secrets::generate();
    // The receiver's own copy of the secret; `--break-bonus-secret` gives
    // it another one, so every bonus POST fails its signature check.
    let receiver_secret = if args.break_bonus_secret {
        jobs::outbound::webhook::new_secret()
    } else {
        secrets.bonus.clone()
    };
    let receiver = BonusReceiver::start(&receiver_secret)
        .await
        .context("starting the demo's bonus receiver")?;
    let database_url = format!("sqlite://{}?mode=rwc", dir.database().display());
    let settings = settings(&database_url, &secrets, &receiver.url(), args.probation)?;
    let app = Application::build(settings, Role::All, true)
        .await
        .context("starting the service")?;
    let address = app
        .local_addr()
        .context("the service has no HTTP address")?;
    let db = app.state().db.clone();
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(app.run_until(shutdown.clone()));

    let base = format!("http://{address}");
    println!("referral-worker demo");
    println!("  database        {database_url} (queue embedded in it)");
    println!("  service         {base}");
    println!("  fake Greenhouse signs its webhooks to {base}/webhooks/greenhouse");
    println!("  bonus receiver  {}", receiver.url());
    println!(
        "  probation       {} (compressed)",
        humantime::format_duration(args.probation)
    );
    println!();
    let client = Golive {
        client: jobs::outbound::service_client::ServiceClient::new(&base, Duration::from_secs(15))?,
        links: secrets.api_token.clone(),
        employees: secrets.api_token.clone(),
        ops: secrets.api_token.clone(),
        secret: secrets.careers_site.clone(),
        deadline: tokio::time::Instant::now() + args.timeout,
    };
    let walked = walk(&client, &secrets.greenhouse, &receiver, &db, args.timeout).await;

    shutdown.cancel();
    let stopped = service.await.context("the service task")?;
    match (walked, stopped) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e.context("stopping the service")),
        (Ok(()), Ok(())) => {
            println!();
            println!("demo: every hop passed");
            if let DataDir::Kept(path) = dir {
                println!("  the database stays in {}", path.display());
            }
            Ok(())
        }
    }
}

/// The service's settings for the run: the defaults, SQLite at
/// `database_url` with the embedded queue, HTTP on a free port of
/// 127.0.0.1, the generated secrets and token, one bonus rule (the default
/// one, 50 % at hire and 50 % after `probation`), bonus POSTs to the
/// receiver.
fn settings(
    database_url: &str,
    secrets: &Secrets,
    receiver_url: &str,
    probation: Duration,
) -> anyhow::Result<Settings> {
    let mut s = Settings::default();
    s.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    s.http.shutdown_delay = Duration::ZERO;
    s.database.url = SecretUrl::new(database_url);
    s.queue.poll_interval = Duration::from_millis(100);
    s.queue.shutdown_timeout = Duration::from_secs(5);
    s.api.tokens = vec![ApiToken {
        name: "demo".into(),
        token: Secret::new(&secrets.api_token),
        scopes: vec![Scope::Links, Scope::Employees, Scope::OpsRead],
    }];
    s.webhooks.careers_site_secret = Secret::new(&secrets.careers_site);
    s.webhooks.greenhouse_secret = Secret::new(&secrets.greenhouse);
    let mut rule = jobs::payout::rules::default_rules().rules()[0].clone();
    rule.probation = probation;
    s.payouts.rules = jobs::payout::rules::BonusRules::new(vec![rule]);
    s.payouts.destination_url = receiver_url.to_owned();
    s.payouts.destination_secret = Secret::new(&secrets.bonus);
    // The receiver listens on 127.0.0.1, which the SSRF guard refuses
    // unless told otherwise.
    s.outbound.allow_private_networks = true;
    s.validate()
        .context("the demo's settings (--probation out of range?)")?;
    Ok(s)
}

/// Where the demo's database lives.
enum DataDir {
    /// A temporary directory of its own, deleted at the end.
    Temporary(PathBuf),
    /// `--data-dir`, kept.
    Kept(PathBuf),
}

impl DataDir {
    fn new(given: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let dir = match given {
            Some(path) => Self::Kept(std::path::absolute(path)?),
            None => Self::Temporary(std::env::temp_dir().join(format!(
                "referral-worker-demo-{}",
                ulid::Ulid::generate().to_string().to_lowercase()
            ))),
        };
        std::fs::create_dir_all(dir.path())
            .with_context(|| format!("creating {}", dir.path().display()))?;
        Ok(dir)
    }

    fn path(&self) -> &std::path::Path {
        match self {
            Self::Temporary(p) | Self::Kept(p) => p,
        }
    }

    fn database(&self) -> PathBuf {
        self.path().join("referral-worker-demo.db")
    }

    /// Deletes a temporary directory (best effort); keeps `--data-dir`.
    fn remove(&self) {
        if let Self::Temporary(path) = self {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}
