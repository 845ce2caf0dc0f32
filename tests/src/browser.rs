//! Headless Chromium driven through chromedriver (WebDriver,
//! `fantoccini`), for the tests of the `/ops` page and `/api/docs`:
//! [`browser_binaries`] (or a failure saying how to install them),
//! [`Driver`] (chromedriver on a free port, killed with its browsers on
//! drop), [`open_browser`], and waits on what the page shows
//! ([`wait_text`], [`wait_for`], [`text_of`]).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `scripts/test` installs them when missing), or
//! `OPS_E2E_CHROMIUM` / `OPS_E2E_CHROMEDRIVER`. Without them a test fails
//! saying so: it is never skipped silently.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// How long the page gets for anything to show up.
pub const PAGE_WAIT: Duration = Duration::from_secs(45);

fn binary(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The browser and its driver, or a failure saying how to install them.
pub fn browser_binaries() -> (PathBuf, PathBuf) {
    let chromium = binary("OPS_E2E_CHROMIUM", "/usr/bin/chromium");
    let driver = binary("OPS_E2E_CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &driver]
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "the /ops end-to-end test needs headless Chromium and chromedriver, and {} is missing: \
         install them with `apt-get install -y chromium chromium-driver` (.ci/run does this), \
         or point OPS_E2E_CHROMIUM / OPS_E2E_CHROMEDRIVER at them",
        missing.join(" and ")
    );
    (chromium, driver)
}

/// chromedriver on a free port, in its own process group so that the
/// browsers it started go with it.
pub struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    pub async fn start(path: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!(
            "chromedriver-{port}-{}.log",
            ulid::Ulid::generate()
        ));
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(path)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = crate::app::client_builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {} within 20 s; its log: {}",
                driver.url,
                driver.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        text[text.floor_char_boundary(start)..].to_string()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group is chromedriver and what it started (the browser).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium.display().to_string(),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
                "--window-size=1280,1200",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "no browser session from chromedriver: {e}; its log: {}",
                driver.log_text()
            )
        })
}

/// `textContent` of the first element matching `css` (empty when there is
/// none), so hidden elements read too.
pub async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e
            .prop("textContent")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Waits until the text of `css` satisfies `ok`; returns it.
pub async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PAGE_WAIT;
    loop {
        let text = text_of(c, css).await;
        if ok(&text) {
            return text;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {PAGE_WAIT:?} waiting for {what} (`{css}` reads {text:?}); \
                 page status {:?}, sign-in error {:?}",
                text_of(c, "#status").await,
                text_of(c, "#signin-error").await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `css` matches something.
pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("`{css}` never appeared: {e}"))
}

/// Opens a browser session, runs `scenario` in it, closes the browser and
/// chromedriver (also when the scenario panics), then re-raises a panic.
pub async fn in_browser<F, Fut>(scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt as _;
    let (chromium, chromedriver) = browser_binaries();
    let driver = Driver::start(&chromedriver).await;
    let browser = open_browser(&driver, &chromium).await;
    let outcome = std::panic::AssertUnwindSafe(scenario(browser.clone()))
        .catch_unwind()
        .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Opens `/ops` at `base` and signs in with `token`; waits for the
/// dashboard.
pub async fn sign_in_to_ops(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/ops")).await.expect("open /ops");
    let field = wait_for(c, "#token").await;
    field.send_keys(token).await.expect("type the token");
    c.find(Locator::Css("#signin-button"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("click sign in");
    wait_for(c, "#dashboard:not([hidden])").await;
}

/// Clicks the first element matching `css`, once it is there.
pub async fn click(c: &Client, css: &str) {
    wait_for(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
}

/// Evaluates `script` (a `return …` statement) in the page.
pub async fn eval(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
}
