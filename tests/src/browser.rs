//! A real browser for the back office's end-to-end tests: Debian's `chromium`, headless, driven
//! through WebDriver by Debian's `chromedriver` (package `chromium-driver`) with `fantoccini`.
//!
//! [`Browser::start`] starts chromedriver on a port of its own choosing, opens a chromium session
//! in Chinese (`zh-CN`) in a 1366×768 window with a fresh profile in a temporary directory, and hands back
//! a blocking handle: the tests stay plain `#[test]` functions like the other end-to-end tests.
//! Every wait is bounded ([`Browser::set_timeout`]); a helper that fails panics with what it was
//! doing and the page it was on. Dropping the handle ends the session, chromedriver and every
//! chromium process it started; a test that panics leaves a screenshot of the page behind.
//!
//! Without chromium or chromedriver the same rule holds as for a missing backend
//! ([`crate::backends`]): skipped locally, a failure under CI.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The office's reference screen: a 1366×768 laptop.
pub const DESKTOP: (u32, u32) = (1366, 768);
/// A tablet held in landscape.
pub const TABLET_LANDSCAPE: (u32, u32) = (1024, 768);
/// A tablet held in portrait.
pub const TABLET_PORTRAIT: (u32, u32) = (768, 1024);

/// How long a helper waits for an element, a text or a page before it fails, unless
/// [`Browser::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a bounded wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// How long chromedriver may take to say on which port it listens.
const DRIVER_START: Duration = Duration::from_secs(30);

/// How long opening the WebDriver session (starting chromium) may take.
const SESSION_START: Duration = Duration::from_secs(60);

/// How long ending the session may take before chromedriver's process group is killed anyway.
const SESSION_END: Duration = Duration::from_secs(10);

/// How long dropping the handle waits for the killed processes to be gone.
const PROCESSES_GONE: Duration = Duration::from_secs(10);

/// A headless chromium under chromedriver, with a WebDriver session open on it.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    profile: tempfile::TempDir,
    timeout: Duration,
}

/// An executable: the first `name` on the `PATH`, else `fallback` when it exists.
fn find_executable(name: &str, fallback: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    });
    on_path.or_else(|| {
        let p = PathBuf::from(fallback);
        is_executable(&p).then_some(p)
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where screenshots go: `<target dir>/screenshots`, the target directory being
/// `CARGO_TARGET_DIR` when it is an absolute path, else the one the running test binary was built
/// into (`<target>/<profile>/deps/<test>`).
pub fn screenshots_dir() -> PathBuf {
    target_dir().join("screenshots")
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir;
        }
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A screenshot's name is a file name of letters, digits, `-`, `_` and `.`, so it cannot leave
/// the screenshots directory.
fn check_screenshot_name(name: &str) {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    assert!(
        ok,
        "screenshot name `{name}`: use letters, digits, '-', '_' and '.' only"
    );
}

/// `s` as a CSS string in double quotes.
fn css_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\a "),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as an XPath 1.0 string literal (which has no escapes: a text with both quote kinds is
/// spelled with `concat`).
fn xpath_string(s: &str) -> String {
    if !s.contains('\'') {
        return format!("'{s}'");
    }
    if !s.contains('"') {
        return format!("\"{s}\"");
    }
    let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

/// Whitespace collapsed as XPath's `normalize-space` does.
fn normalize_space(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The XPath of every button and link whose visible text (or a button input's value) is `text`.
fn clickable_with_text(text: &str) -> String {
    let t = xpath_string(&normalize_space(text));
    format!(
        "//button[normalize-space(.)={t}] | //a[normalize-space(.)={t}] \
         | //*[@role='button' and normalize-space(.)={t}] \
         | //input[(@type='submit' or @type='button' or @type='reset') and normalize-space(@value)={t}]"
    )
}

impl Browser {
    /// Start chromedriver and a headless chromium session at [`DESKTOP`] size; `None` (with a note
    /// on stderr) when chromium or chromedriver is not installed and the tests do not run under
    /// CI, a panic when they do.
    pub fn start() -> Option<Browser> {
        let chromium = find_executable("chromium", "/usr/bin/chromium");
        let driver = find_executable("chromedriver", "/usr/bin/chromedriver");
        let found = match (chromium, driver) {
            (Some(c), Some(d)) => Some((c, d)),
            _ => None,
        };
        let (chromium, driver) = crate::backends::required(
            "chromium and chromedriver",
            "scripts/test-all.sh installs them (Debian packages chromium, chromium-driver)",
            found,
            crate::backends::under_ci(),
        )?;
        Some(Self::start_with(&chromium, &driver))
    }

    fn start_with(chromium: &Path, driver_bin: &Path) -> Browser {
        // Port 0: chromedriver picks a free port itself and prints it, so no other process can
        // take it between a probe and the start. Its own process group lets the whole tree
        // (chromedriver, chromium and chromium's helpers) be ended at once.
        // Chromium on Linux takes its own language (its messages, e.g. a required field's) from
        // the environment, not from `--lang`; chromium inherits chromedriver's.
        let mut driver = Command::new(driver_bin)
            .args(["--port=0", "--log-level=WARNING"])
            .env("LANGUAGE", "zh_CN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver_bin.display()));
        let stdout = driver.stdout.take().expect("chromedriver stdout");
        let stderr = driver.stderr.take().expect("chromedriver stderr");
        let log = std::env::var_os("ROADSIDE_TEST_BROWSER_LOG").is_some();
        // Both pipes are drained for chromedriver's whole life (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if log {
                    eprintln!("[chromedriver] {line}");
                }
            }
        });
        let (tx, rx) = mpsc::channel::<u16>();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if log {
                    eprintln!("[chromedriver stdout] {line}");
                }
                if sent {
                    continue;
                }
                // "ChromeDriver was started successfully on port 46085."
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    if let Ok(port) = rest.trim_end_matches('.').trim().parse() {
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
            }
        });
        let port = match rx.recv_timeout(DRIVER_START) {
            Ok(port) => port,
            Err(_) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "chromedriver did not say on which port it listens within {DRIVER_START:?} \
                     (ROADSIDE_TEST_BROWSER_LOG=1 shows its output)"
                );
            }
        };

        let profile = tempfile::Builder::new()
            .prefix("roadside-chromium-")
            .tempdir()
            .expect("chromium profile directory");
        let mut args = vec![
            "--headless".to_string(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            "--force-device-scale-factor=1".to_string(),
            "--hide-scrollbars".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            "--lang=zh-CN".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-features=Translate".to_string(),
        ];
        // Chromium's sandbox refuses to run as root.
        if rustix::process::geteuid().is_root() {
            args.push("--no-sandbox".to_string());
        }
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".to_string(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": chromium.display().to_string(),
                "args": args,
                // The Accept-Language the pages see, besides the UI language `--lang` sets.
                "prefs": {"intl": {"accept_languages": "zh-CN,zh"}},
            }),
        );

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut browser = Browser {
            rt,
            client: None,
            driver,
            profile,
            timeout: DEFAULT_TIMEOUT,
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        let connected = browser.rt.block_on(async {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities);
            tokio::time::timeout(SESSION_START, builder.connect(&webdriver)).await
        });
        let client = match connected {
            Ok(Ok(client)) => client,
            // `browser` is dropped on the way out: chromedriver's process group ends.
            Ok(Err(e)) => panic!("open a chromium session through chromedriver: {e}"),
            Err(_) => panic!("chromium did not start within {SESSION_START:?}"),
        };
        browser.client = Some(client);
        browser.run("set the session's timeouts", |c| async move {
            c.update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(DEFAULT_TIMEOUT * 2),
                Some(Duration::ZERO),
            ))
            .await
        });
        browser.resize(DESKTOP.0, DESKTOP.1);
        browser
    }

    /// The WebDriver client, for what the helpers do not cover (with [`Browser::block_on`]).
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("browser session")
    }

    /// Run a future on the browser's runtime, e.g. a `fantoccini` call on [`Browser::client`].
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// How long every later wait may take (elements, texts, clicks).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The browser's profile directory (the `--user-data-dir` of this session's chromium).
    pub fn profile_dir(&self) -> &Path {
        self.profile.path()
    }

    /// Run one WebDriver step, panicking with `what` and the page on failure.
    fn run<T, F, Fut>(&self, what: &str, step: F) -> T
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let client = self.client().clone();
        match self.rt.block_on(step(client)) {
            Ok(v) => v,
            Err(e) => panic!("{what} (on {}): {e}", self.url_or_unknown()),
        }
    }

    fn url_or_unknown(&self) -> String {
        let client = self.client().clone();
        self.rt
            .block_on(async move { client.current_url().await })
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "an unknown page".to_string())
    }

    /// Open `url` and wait for it to load.
    pub fn goto(&self, url: &str) {
        let url = url.to_string();
        self.run(
            &format!("open {url}"),
            |c| async move { c.goto(&url).await },
        );
    }

    /// The address of the page shown.
    pub fn url(&self) -> String {
        self.run("read the page's address", |c| async move {
            c.current_url().await.map(|u| u.to_string())
        })
    }

    /// The page's title.
    pub fn title(&self) -> String {
        self.run("read the page's title", |c| async move { c.title().await })
    }

    /// The page's visible text (the body's rendered text, as a person reads it).
    pub fn text(&self) -> String {
        self.run(
            "read the page's text",
            |c| async move { body_text(&c).await },
        )
    }

    /// Wait until the page's visible text contains `text`; the page's text is in the panic
    /// message when it never does.
    pub fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + self.timeout;
        loop {
            let client = self.client().clone();
            let seen = self.rt.block_on(async move { body_text(&client).await });
            if seen.as_deref().is_ok_and(|t| t.contains(text)) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the text `{text}` did not appear within {:?} on {}; the page says:\n{}",
                    self.timeout,
                    self.url_or_unknown(),
                    seen.unwrap_or_default()
                );
            }
            self.rt.block_on(async { tokio::time::sleep(POLL).await });
        }
    }

    /// Wait until an element matches the CSS `selector`, and return it.
    pub fn wait_for(&self, selector: &str) -> Element {
        let timeout = self.timeout;
        self.run(
            &format!("wait up to {timeout:?} for `{selector}`"),
            |c| async move {
                c.wait()
                    .at_most(timeout)
                    .every(POLL)
                    .for_element(Locator::Css(selector))
                    .await
            },
        )
    }

    /// Whether an element matches the CSS `selector` now (no waiting).
    pub fn exists(&self, selector: &str) -> bool {
        self.run(&format!("look for `{selector}`"), |c| async move {
            Ok(!c.find_all(Locator::Css(selector)).await?.is_empty())
        })
    }

    /// Type `value` into the form field named `name` (an `input` or `textarea`, cleared first;
    /// for a `select`, the option whose label is `value`).
    pub fn fill(&self, name: &str, value: &str) {
        let field = self.wait_for(&format!("[name={}]", css_string(name)));
        let value = value.to_string();
        self.run(&format!("fill the field `{name}`"), |_| async move {
            if field.tag_name().await?.eq_ignore_ascii_case("select") {
                field.select_by_label(&value).await
            } else {
                field.clear().await?;
                field.send_keys(&value).await
            }
        });
    }

    /// Click the element the CSS `selector` matches (waiting for it).
    pub fn click(&self, selector: &str) {
        let element = self.wait_for(selector);
        self.run(&format!("click `{selector}`"), |_| async move {
            element.click().await
        });
    }

    /// Click the one visible button or link whose text (or a button input's value) is `text`,
    /// whitespace collapsed. More than one such element is a failure: name it with
    /// [`Browser::click`] instead.
    pub fn click_text(&self, text: &str) {
        let xpath = clickable_with_text(text);
        let deadline = Instant::now() + self.timeout;
        loop {
            let client = self.client().clone();
            let xp = xpath.clone();
            let visible = self.rt.block_on(async move {
                let mut visible = Vec::new();
                for e in client.find_all(Locator::XPath(&xp)).await? {
                    if e.is_displayed().await? {
                        visible.push(e);
                    }
                }
                Ok::<_, fantoccini::error::CmdError>(visible)
            });
            let visible = visible.unwrap_or_else(|e| {
                panic!(
                    "look for a button or link `{text}` (on {}): {e}",
                    self.url_or_unknown()
                )
            });
            match visible.len() {
                1 => {
                    let element = visible.into_iter().next().expect("one element");
                    self.run(&format!("click `{text}`"), |_| async move {
                        element.click().await
                    });
                    return;
                }
                0 if Instant::now() < deadline => {
                    self.rt.block_on(async { tokio::time::sleep(POLL).await })
                }
                0 => panic!(
                    "no visible button or link `{text}` within {:?} on {}; the page says:\n{}",
                    self.timeout,
                    self.url_or_unknown(),
                    self.text()
                ),
                n => panic!(
                    "{n} visible buttons or links `{text}` on {}: click one by its CSS selector",
                    self.url_or_unknown()
                ),
            }
        }
    }

    /// Resize the window to `width`×`height` CSS pixels (e.g. [`TABLET_PORTRAIT`]). As on a real
    /// screen, the page's viewport ([`Browser::viewport`]) is what the browser's frame leaves of
    /// the window: the full width, somewhat less height.
    pub fn resize(&self, width: u32, height: u32) {
        self.run(&format!("resize to {width}×{height}"), |c| async move {
            c.set_window_size(width, height).await
        });
    }

    /// The viewport's size in CSS pixels (`innerWidth`×`innerHeight`).
    pub fn viewport(&self) -> (u64, u64) {
        let size = self.run("read the viewport's size", |c| async move {
            c.execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await
        });
        let get = |i: usize| size.get(i).and_then(|v| v.as_u64()).unwrap_or(0);
        (get(0), get(1))
    }

    /// Save the page as `<target>/screenshots/<name>.png` (see [`screenshots_dir`]) and return the
    /// file's path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        check_screenshot_name(name);
        let png = self.run(&format!("take the screenshot `{name}`"), |c| async move {
            c.screenshot().await
        });
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// On a failing test: the page as `failed-<test name>.png`, for a person to look at.
    fn screenshot_of_failure(&self) {
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let name: String = format!("failed-{test}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let Some(client) = self.client.clone() else {
            return;
        };
        let shot = self
            .rt
            .block_on(async move { tokio::time::timeout(SESSION_END, client.screenshot()).await });
        if let Ok(Ok(png)) = shot {
            let dir = screenshots_dir();
            if std::fs::create_dir_all(&dir).is_ok() {
                let path = dir.join(format!("{name}.png"));
                if std::fs::write(&path, png).is_ok() {
                    eprintln!("the page at the failure: {}", path.display());
                }
            }
        }
    }
}

/// The body's rendered text.
async fn body_text(client: &Client) -> Result<String, fantoccini::error::CmdError> {
    client.find(Locator::Css("body")).await?.text().await
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.screenshot_of_failure();
        }
        // Ending the session makes chromedriver quit chromium cleanly; whatever is left of the
        // process group (chromedriver, or a chromium that did not quit) is then killed.
        if let Some(client) = self.client.take() {
            let _ = self
                .rt
                .block_on(async move { tokio::time::timeout(SESSION_END, client.close()).await });
        }
        let group = rustix::process::Pid::from_child(&self.driver);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium's processes are not our children: wait (bounded) until none is left, so the
        // profile directory is removed after them and no chromium outlives the test.
        let deadline = Instant::now() + PROCESSES_GONE;
        while Instant::now() < deadline && !processes_using(self.profile.path()).is_empty() {
            std::thread::sleep(POLL);
        }
    }
}

/// The live processes whose command line names `dir` (chromium's, through `--user-data-dir`).
/// Zombies, whose command line is empty, do not count.
pub fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_strings_of_every_quote_kind() {
        assert_eq!(xpath_string("登录"), "'登录'");
        assert_eq!(xpath_string("it's"), "\"it's\"");
        assert_eq!(xpath_string(r#"a'b"c"#), r#"concat('a', "'", 'b"c')"#);
    }

    #[test]
    fn css_strings_escape_quotes_and_backslashes() {
        assert_eq!(css_string("login"), "\"login\"");
        assert_eq!(css_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn button_text_is_matched_with_whitespace_collapsed() {
        assert_eq!(normalize_space("  新建\n  人员 "), "新建 人员");
        assert!(clickable_with_text(" 登录 ").contains("'登录'"));
    }

    #[test]
    #[should_panic(expected = "use letters, digits")]
    fn a_screenshot_name_cannot_leave_the_directory() {
        check_screenshot_name("../escape");
    }
}
