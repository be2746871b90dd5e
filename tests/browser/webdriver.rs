//! A small W3C WebDriver client for the browser tests: Debian's
//! `chromedriver` started on a free port, one headless Chromium session,
//! and the handful of commands the tests use (navigate, find, click, type,
//! read, run a script, screenshot, print to PDF).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
}

fn find_program(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
    })
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (Debian's packages, which
    /// `scripts/bootstrap.sh` installs); fails, naming what is missing, when
    /// they are not there.
    pub async fn start() -> Browser {
        let driver = std::env::var("DW_CHROMEDRIVER").ok().or_else(|| find_program(&["chromedriver"])).expect(
            "chromedriver not found: install Debian's chromium and chromium-driver (scripts/bootstrap.sh does), \
             or set DW_CHROMEDRIVER",
        );
        let chromium = std::env::var("DW_CHROMIUM")
            .ok()
            .or_else(|| find_program(&["chromium", "chromium-browser", "google-chrome"]))
            .expect("chromium not found: install Debian's chromium (scripts/bootstrap.sh does), or set DW_CHROMIUM");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {driver}: {e}"));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let status_url = format!("http://127.0.0.1:{port}/status");
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&status_url).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let created: Value = client
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        let browser = Browser { driver: child, base: format!("http://127.0.0.1:{port}/session/{session}"), client };
        // Finding an element waits for it (up to 10 s), as a person would.
        browser.post("/timeouts", json!({"implicit": 10_000, "pageLoad": 60_000, "script": 30_000})).await;
        browser
    }

    /// Marks the page shown, runs `act` (a click, a submit), and waits until
    /// another page has replaced it and finished loading: a click that
    /// navigates may return before the next page is there.
    pub async fn navigating<F: std::future::Future<Output = ()>>(&self, act: F) {
        self.script("window.__dw_before = true; return true").await;
        act.await;
        let started = Instant::now();
        loop {
            let done = self
                .call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": "return window.__dw_before === undefined && document.readyState === 'complete'", "args": []})),
                )
                .await;
            if done == Ok(Value::Bool(true)) {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no new page within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let value: Value = response.json().await.unwrap();
        if ok { Ok(value["value"].clone()) } else { Err(value["value"].clone()) }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Opens `url` and waits for it to load.
    pub async fn go(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// The address shown.
    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element `css` selects (panics, naming it, when none does).
    pub async fn find(&self, css: &str) -> Element<'_> {
        let found = self.post("/element", json!({"using": "css selector", "value": css})).await;
        Element { browser: self, id: found[ELEMENT].as_str().unwrap_or_else(|| panic!("no {css}")).to_owned() }
    }

    /// Every element `css` selects.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.post("/elements", json!({"using": "css selector", "value": css})).await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Element { browser: self, id: e[ELEMENT].as_str().unwrap().to_owned() })
            .collect()
    }

    /// Runs `script` in the page (WebDriver's own channel: the page's CSP
    /// does not apply to it) and returns what it returns.
    pub async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []})).await
    }

    /// The text of an open alert, if the page opened one.
    pub async fn alert(&self) -> Option<String> {
        self.call(reqwest::Method::GET, "/alert/text", None).await.ok().map(|v| v.to_string())
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.get("/screenshot").await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// The page printed to PDF by the browser (WebDriver's print command).
    pub async fn print_pdf(&self) -> Vec<u8> {
        let pdf = self.post("/print", json!({"background": true})).await;
        base64::engine::general_purpose::STANDARD.decode(pdf.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element of the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) {
        self.browser.post(&format!("/element/{}/click", self.id), json!({})).await;
    }

    pub async fn type_text(&self, text: &str) {
        self.browser.post(&format!("/element/{}/value", self.id), json!({"text": text})).await;
    }

    pub async fn text(&self) -> String {
        self.browser.get(&format!("/element/{}/text", self.id)).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.browser.get(&format!("/element/{}/attribute/{name}", self.id)).await.as_str().map(str::to_owned)
    }
}
