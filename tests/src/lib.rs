//! End-to-end test helpers: the real `roadside-server` binary as a child process on an ephemeral
//! port, its administrator API, a device (the real core's store), a fault-injecting TCP proxy and
//! a real browser (headless chromium through chromedriver) for the back office.

pub mod backends;
pub mod browser;
pub mod cli;
pub mod proxy;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use roadside_core::store::{Durability, Store};
use serde_json::{json, Value};

/// The server binary: `ROADSIDE_SERVER_BIN`, else `target/<profile>/roadside-server` next to the
/// test binary (built with `cargo build -p roadside-server` when missing).
pub fn server_bin() -> PathBuf {
    workspace_bin("ROADSIDE_SERVER_BIN", "roadside-server", "roadside-server")
}

/// The CLI binary: `ROADSIDE_CLI_BIN`, else `target/<profile>/roadside` next to the test binary
/// (built with `cargo build -p roadside-cli` when missing).
pub fn cli_bin() -> PathBuf {
    workspace_bin("ROADSIDE_CLI_BIN", "roadside-cli", "roadside")
}

fn workspace_bin(env: &str, package: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir")
        .to_path_buf();
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", name]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building {name} failed");
    }
    bin
}

/// A running server process.
pub struct ServerProcess {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    /// Everything the server printed on stdout up to and including its start-up banner.
    pub banner: String,
    child: Child,
}

impl ServerProcess {
    /// Start the server on `data_dir` listening on `listen` (`127.0.0.1:0` for an ephemeral port);
    /// waits for its "server ready" line.
    pub fn start(data_dir: &Path, listen: &str) -> ServerProcess {
        Self::start_with(data_dir, listen, &[])
    }

    /// [`ServerProcess::start`] with extra environment (a database URL, an S3 store, a crash
    /// point).
    pub fn start_with(data_dir: &Path, listen: &str, env: &[(String, String)]) -> ServerProcess {
        let mut child = Command::new(server_bin())
            .env("ROADSIDE_LISTEN", listen)
            .env("ROADSIDE_DATA_DIR", data_dir)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn,roadside_server=info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start roadside-server");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::env::var_os("ROADSIDE_TEST_SERVER_LOG").is_some();
        // Keep draining both pipes for the server's whole life (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if log {
                    eprintln!("[server] {line}");
                }
            }
        });
        // The banner, on stdout whatever the log level, ends with the OpenAPI line.
        let (tx, rx) = mpsc::channel::<(String, String)>();
        std::thread::spawn(move || {
            let mut banner = String::new();
            let mut base = None;
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if log {
                    eprintln!("[server stdout] {line}");
                }
                if sent {
                    continue;
                }
                banner.push_str(&line);
                banner.push('\n');
                if let Some(i) = line.find("server ready: ") {
                    let rest = &line[i + "server ready: ".len()..];
                    base = Some(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                if let (Some(b), true) = (&base, line.contains("OpenAPI: ")) {
                    let _ = tx.send((b.clone(), std::mem::take(&mut banner)));
                    sent = true;
                }
            }
        });
        let (base, banner) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("roadside-server did not print its banner");
            }
        };
        let addr = base
            .trim_start_matches("http://")
            .parse()
            .expect("address in banner");
        ServerProcess {
            base,
            addr,
            data_dir: data_dir.to_path_buf(),
            banner,
            child,
        }
    }

    /// Wait up to `timeout` for the process to end by itself (e.g. at a crash point).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id (to attach a tracer).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown, requests in flight are cut.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn admin_password(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-password.txt"))
            .expect("admin password file")
            .trim()
            .to_string()
    }

    /// Sign in as the demo administrator.
    pub fn admin_token(&self) -> String {
        let (status, body) = call(
            "POST",
            &self.url("/api/v1/sessions"),
            None,
            Some(json!({"login": "admin", "password": self.admin_password()})),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// A back-office page as `login` sees it after signing in with `password` through the sign-in
    /// form (the session cookie, as a browser keeps it): (status, HTML).
    pub fn office_page(&self, login: &str, password: &str, path: &str) -> (u16, String) {
        let client = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_gzip()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let signed = client
            .post(self.url("/login"))
            .form(&[("login", login), ("password", password), ("next", "/")])
            .send()
            .expect("sign-in");
        assert_eq!(signed.status().as_u16(), 303, "sign-in of {login}");
        let cookie = signed
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_string();
        let page = client
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .expect("page");
        let status = page.status().as_u16();
        (status, page.text().unwrap_or_default())
    }

    /// A fresh enrolment code for an officer of the demo roster.
    pub fn enrolment_code(&self, certificate_no: &str) -> String {
        let token = self.admin_token();
        let (status, body) = call(
            "POST",
            &self.url("/api/v1/enrolment-codes"),
            Some(&token),
            Some(json!({"certificate_no": certificate_no})),
        );
        assert_eq!(status, 201, "{body}");
        body["code"].as_str().expect("code").to_string()
    }

    /// The log's size as the server's newest checkpoint says.
    pub fn log_size(&self) -> u64 {
        let text = reqwest::blocking::get(self.url("/log/checkpoint"))
            .expect("checkpoint")
            .text()
            .expect("text");
        text.lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("size line")
    }

    /// The server's SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("roadside.sqlite3")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking JSON call: (status, body or Null).
pub fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A device: the real core's encrypted store in a temporary directory, with the demo roster.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub key: [u8; 32],
    pub store: Store,
}

impl Device {
    pub fn new() -> Device {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        let store = Store::open(dir.path(), &key, Durability::Normal).expect("open store");
        store
            .import_roster(&roadside_core::demo::roster())
            .expect("roster");
        Device { dir, key, store }
    }

    /// Open cases, `records` in all (each a `case.open` entry), timed a little in the past.
    pub fn capture_cases(&self, records: usize) -> Vec<String> {
        let start = chrono::Utc::now() - chrono::Duration::hours(3);
        (0..records)
            .map(|i| {
                let record = roadside_core::demo::on_site_record(
                    start + chrono::Duration::milliseconds(i as i64 * 200),
                );
                self.store.create_case(&record).expect("create case").id
            })
            .collect()
    }
}

impl Default for Device {
    fn default() -> Self {
        Self::new()
    }
}

/// A file of `size` pseudo-random bytes (xorshift; fast, incompressible enough for loopback).
pub fn random_file(path: &Path, size: u64, seed: u64) {
    let mut f =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    let mut x = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for w in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    f.flush().expect("flush");
}

/// Run a sync on the core's runtime and wait for it.
pub fn sync(
    store: &Store,
    options: &roadside_core::sync::SyncOptions,
) -> roadside_core::Result<roadside_core::sync::SyncReport> {
    roadside_core::sync::runtime()
        .expect("runtime")
        .block_on(roadside_core::sync::sync(store, options, None))
}

/// Enrol a device with the server at `base` (possibly through a proxy).
pub fn enrol(store: &Store, base: &str, code: &str) -> roadside_core::sync::Enrolment {
    roadside_core::sync::runtime()
        .expect("runtime")
        .block_on(roadside_core::sync::enrol(store, base, code, "测试终端"))
        .expect("enrol")
}

/// A fake server answering every request with whatever `answer(method, path)` returns (raw HTTP
/// response bytes, connection closed after it): garbage, truncated answers, forged checkpoints.
pub fn fake_server(
    answer: impl Fn(&str, &str) -> Vec<u8> + Send + Sync + 'static,
) -> std::net::SocketAddr {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake");
    let addr = listener.local_addr().expect("addr");
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let mut first = text.lines().next().unwrap_or("").split_whitespace();
                let method = first.next().unwrap_or("").to_string();
                let path = first.next().unwrap_or("").to_string();
                let len: usize = text
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = conn.read_exact(&mut body);
                let _ = conn.write_all(&answer(&method, &path));
                let _ = conn.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

/// A raw HTTP response with a body.
pub fn http_response(status: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}
