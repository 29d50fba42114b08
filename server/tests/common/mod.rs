//! Helpers shared by the server's integration tests: start a real server on an ephemeral port,
//! make signed ledger entries with the real core, and give each PostgreSQL test its own database.
#![allow(dead_code)]

use base64::Engine;
use chrono::{Duration, Utc};
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_server::config::Config;
use roadside_server::Server;
use serde_json::{json, Value};

/// `ROADSIDE_TEST_PG_URL`: a PostgreSQL server the tests may create databases on
/// (`scripts/pg-test-server.sh` starts one and prints it).
pub fn pg_admin_url() -> Option<String> {
    std::env::var("ROADSIDE_TEST_PG_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A new, empty database on the test PostgreSQL server; its URL.
pub async fn fresh_pg_database(admin_url: &str) -> String {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to ROADSIDE_TEST_PG_URL");
    tokio::spawn(conn);
    let name = format!("roadside_test_{}", uuid::Uuid::now_v7().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    format!("{root}/{name}{query}")
}

pub struct TestServer {
    pub base: String,
    pub admin_password: String,
    pub enrolment_code: Option<String>,
    pub verifier_key: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Start a server on `database_url` (None: SQLite in a temporary directory).
    pub async fn start(database_url: Option<String>) -> Self {
        Self::start_with(database_url, |_| {}).await
    }

    pub async fn start_with(database_url: Option<String>, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, database_url, tweak).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send JSON, answer (status, body as JSON or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({"login": login, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_string()
    }

    pub async fn admin(&self) -> String {
        let password = self.admin_password.clone();
        self.sign_in("admin", &password).await
    }

    /// Issue a code for `certificate_no` and enrol a fresh key with it: (key, device token, device id).
    pub async fn enrol(
        &self,
        admin_token: &str,
        certificate_no: &str,
    ) -> (DeviceKey, String, String) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/enrolment-codes",
                Some(admin_token),
                Some(json!({"certificate_no": certificate_no})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let code = body["code"].as_str().expect("code").to_string();
        let key = DeviceKey::generate();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/devices/enrol",
                None,
                Some(json!({"code": code, "public_key": key.public_hex(), "name": "测试终端"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            key,
            body["token"].as_str().expect("token").to_string(),
            body["device_id"].as_str().expect("id").to_string(),
        )
    }

    pub async fn push(&self, token: &str, entries: &[SignedEntry]) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/api/v1/sync/push",
            Some(token),
            Some(push_body(entries)),
        )
        .await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

pub fn push_body(entries: &[SignedEntry]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({"entries": entries.iter().map(|e| json!({"bytes": b64.encode(&e.bytes), "sig": b64.encode(e.sig)})).collect::<Vec<_>>()})
}

/// A device's chain: `n` entries after `head`, one case opened first, signed by `key`.
pub fn chain(key: &DeviceKey, head: Option<Head>, n: usize, officers: &[&str]) -> Vec<SignedEntry> {
    let case = uuid::Uuid::now_v7().to_string();
    let mut head = head;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (kind, body) = match (head.is_none(), i % 3) {
            (true, _) => (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ),
            (false, 1) => (
                EntryKind::EvidenceAdd,
                json!({"sha256": "ab".repeat(32), "size": 1024 + i, "type": "video"}),
            ),
            _ => (
                EntryKind::RecordCreate,
                json!({"record": {"situation": format!("第 {i} 条笔录")}}),
            ),
        };
        let entry = ledger::next_entry(
            key,
            head,
            Utc::now() - Duration::minutes(5),
            officers.iter().map(|s| s.to_string()).collect(),
            kind,
            Some(case.clone()),
            body,
        );
        let signed = ledger::seal(&entry, key).expect("seal");
        head = Some(Head {
            seq: entry.seq,
            hash: signed.hash,
        });
        out.push(signed);
    }
    out
}

pub fn head_of(entries: &[SignedEntry]) -> Option<Head> {
    let last = entries.last()?;
    let entry = last.entry().ok()?;
    Some(Head {
        seq: entry.seq,
        hash: last.hash,
    })
}

pub const TWO_OFFICERS: [&str; 2] = ["QH6325000101", "QH6325000102"];

// ---- Media tests (`media.rs`): a server on a kept directory, so it can be restarted. ----

impl TestServer {
    /// Start a server on an existing data directory (and database), e.g. to restart one.
    pub async fn start_in(
        dir: tempfile::TempDir,
        database_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_data_dir(dir.path());
        config.database_url = database_url;
        tweak(&mut config);
        let server = Server::prepare(config).await.expect("server starts");
        let base = server.base_url();
        let admin_password = match &server.seeded.admin_password {
            Some(p) => p.clone(),
            None => std::fs::read_to_string(dir.path().join("admin-password.txt"))
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let enrolment_code = server.seeded.enrolment_code.clone();
        let verifier_key = server.state.signer.verifier_key().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        });
        TestServer {
            base,
            admin_password,
            enrolment_code,
            verifier_key,
            http: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// The server's key directory (the default, `<data-dir>/keys`).
    pub fn key_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("keys")
    }

    /// Another replica on `database_url` (its own data directory) provisioned with this server's
    /// key directory, as every replica on one database must be.
    pub async fn replica(
        &self,
        database_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let keys = self.key_dir();
        Self::start_with(database_url, move |c| {
            c.key_dir = Some(keys);
            tweak(c);
        })
        .await
    }

    /// Stop the server and hand back its data directory (to start it again).
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}
