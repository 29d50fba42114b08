//! Helpers shared by the server's integration tests: start a real server on an ephemeral port,
//! make signed ledger entries with the real core, give each PostgreSQL test its own database, and
//! generate each test's variants — one per database, and for media one per object store too —
//! with [`backend_tests!`].
#![allow(dead_code, unused_macros)]

pub mod office;

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{Duration, Utc};
use object_store::ObjectStoreExt;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use roadside_core::bundle::{self, HeldBundle, HeldComponent, Manifest, Update};
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_core::rules::{GuidanceRequest, RuleBook};
use roadside_server::config::Config;
use roadside_server::media::Media;
use roadside_server::Server;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// `ROADSIDE_TEST_PG_URL`: a PostgreSQL server the tests may create databases on
/// (`scripts/pg-test-server.sh` starts one and prints it). `None` when it is not set, after a note
/// on stderr: the caller skips its PostgreSQL variant; under CI it panics instead
/// (`roadside_tests::backends`).
pub fn pg_admin_url() -> Option<String> {
    roadside_tests::backends::postgres_admin_url()
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

/// The database a test variant runs on.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite: a file in the server's data directory.
    Sqlite,
    /// The test PostgreSQL server (`ROADSIDE_TEST_PG_URL`); each server gets a fresh database on it.
    Postgres { admin: String },
}

impl Db {
    /// PostgreSQL when configured; otherwise `None` after a note, or a panic under CI.
    pub fn postgres() -> Option<Db> {
        pg_admin_url().map(|admin| Db::Postgres { admin })
    }

    /// A new, empty database for a server: `None` for SQLite (the server makes its file in its own
    /// data directory), a fresh PostgreSQL database's URL otherwise.
    pub async fn new_database(&self) -> Option<String> {
        match self {
            Db::Sqlite => None,
            Db::Postgres { admin } => Some(fresh_pg_database(admin).await),
        }
    }

    /// A new, empty database's URL: a SQLite file in `dir`, or a fresh PostgreSQL database.
    pub async fn new_database_url(&self, dir: &std::path::Path) -> String {
        match self.new_database().await {
            Some(url) => url,
            None => dir.join("roadside.sqlite3").to_string_lossy().into_owned(),
        }
    }

    /// A server on a new database of this kind.
    pub async fn server(&self) -> TestServer {
        TestServer::start(self.new_database().await).await
    }

    /// A server on a new database of this kind, its configuration adjusted by `tweak`.
    pub async fn server_with(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_with(self.new_database().await, tweak).await
    }
}

/// Where a media test's objects are kept.
#[derive(Clone, Debug)]
pub enum Objects {
    /// The server's local media directory.
    Local,
    /// The S3-compatible test store (`ROADSIDE_TEST_S3_*`).
    S3(roadside_tests::backends::S3Store),
}

impl Objects {
    /// The S3-compatible store when configured; otherwise `None` after a note, or a panic under CI.
    pub fn s3() -> Option<Objects> {
        roadside_tests::backends::s3_store().map(Objects::S3)
    }
}

/// Each named test function as one `#[tokio::test]` per backend, in a module of the function's
/// name, so every variant is reported as `<behaviour>::<backend>`:
///
/// - `backend_tests!(db: f, g);` for `async fn f(db: Db)`: `f::sqlite` and `f::postgres`;
/// - `backend_tests!(db, objects: f, g);` for `async fn f(db: Db, objects: Objects)`:
///   `f::sqlite_local`, `f::postgres_local`, `f::sqlite_s3` and `f::postgres_s3`.
///
/// A variant whose backend is not configured is skipped with a note, and fails under CI
/// (`roadside_tests::backends`).
macro_rules! backend_tests {
    (db: $($test:ident),+ $(,)?) => {$(
        mod $test {
            use crate::common::Db;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test(Db::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = Db::postgres() {
                    super::$test(db).await;
                }
            }
        }
    )+};
    (db, objects: $($test:ident),+ $(,)?) => {$(
        mod $test {
            use crate::common::{Db, Objects};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_local() {
                super::$test(Db::Sqlite, Objects::Local).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_local() {
                if let Some(db) = Db::postgres() {
                    super::$test(db, Objects::Local).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_s3() {
                if let Some(objects) = Objects::s3() {
                    super::$test(Db::Sqlite, objects).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() {
                if let (Some(db), Some(objects)) = (Db::postgres(), Objects::s3()) {
                    super::$test(db, objects).await;
                }
            }
        }
    )+};
}

/// Check a receipt the way a device does: the checkpoint's signature, then the inclusion proof.
pub fn check_receipt(verifier_key: &str, entry_hash_hex: &str, receipt: &Value) {
    let cp = roadside_server::tlog::verify_checkpoint(
        receipt["checkpoint"].as_str().expect("note"),
        verifier_key,
    )
    .expect("checkpoint signature verifies");
    let size = receipt["tree_size"].as_u64().expect("size");
    assert_eq!(cp.size(), size);
    let proof: Vec<_> = receipt["inclusion_proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| roadside_server::tlog::TreeHash(b64d(h).try_into().expect("32 bytes")))
        .collect();
    let leaf = roadside_server::tlog::record_hash(&hex::decode(entry_hash_hex).expect("hex"));
    roadside_server::tlog::check_record(
        &proof,
        size,
        *cp.hash(),
        receipt["leaf_index"].as_u64().expect("index"),
        leaf,
    )
    .expect("inclusion proof verifies");
}

/// A base64 string in a JSON answer, decoded.
pub fn b64d(s: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().expect("base64 string"))
        .expect("base64")
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
                Method::POST,
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

    /// A new enrolment code for `certificate_no`, issued by `admin_token`.
    pub async fn enrolment_code_for(&self, admin_token: &str, certificate_no: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/enrolment-codes",
                Some(admin_token),
                Some(json!({"certificate_no": certificate_no})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["code"].as_str().expect("code").to_string()
    }

    /// Issue a code for `certificate_no` and enrol a fresh key with it: (key, device token, device id).
    pub async fn enrol(
        &self,
        admin_token: &str,
        certificate_no: &str,
    ) -> (DeviceKey, String, String) {
        let code = self.enrolment_code_for(admin_token, certificate_no).await;
        let key = DeviceKey::generate();
        let (status, body) = self
            .call(
                Method::POST,
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
            Method::POST,
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

// ---- The HTTP API's tests (`api.rs`): an enrolled device and a log with every kind of answer. ----

/// A device enrolled with a fresh code for the demo officer `QH6325000101` (agency 632500).
pub struct Device {
    pub key: DeviceKey,
    pub token: String,
    pub id: String,
}

impl TestServer {
    /// An administrator token and a newly enrolled device of agency 632500.
    pub async fn admin_and_device(&self) -> (String, Device) {
        let admin = self.admin().await;
        let (key, token, id) = self.enrol(&admin, "QH6325000101").await;
        (admin, Device { key, token, id })
    }
}

/// Entries after `head`, one per `(officers, kind)`, all of one new case: authentic and in place,
/// but each failing the business check its officers make it fail.
pub fn entries_of(
    key: &DeviceKey,
    head: Option<Head>,
    each: &[(&[&str], EntryKind)],
) -> (String, Vec<SignedEntry>) {
    let case = uuid::Uuid::now_v7().to_string();
    let mut head = head;
    let mut out = Vec::new();
    for (officers, kind) in each {
        let e = ledger::next_entry(
            key,
            head,
            Utc::now() - Duration::minutes(5),
            officers.iter().map(|o| o.to_string()).collect(),
            *kind,
            Some(case.clone()),
            json!({"reason": "超限运输"}),
        );
        let signed = ledger::seal(&e, key).expect("seal");
        head = head_of(std::slice::from_ref(&signed));
        out.push(signed);
    }
    (case, out)
}

/// A case opened under a revoked certificate (`QH6325000199`), a record by an officer whose
/// certificate has expired (`QH6325000188`) and one by an officer of another agency
/// (`QH6325210299`): refused as `OFFICER_CERTIFICATE_REVOKED`, `OFFICER_CERTIFICATE_EXPIRED`,
/// `OFFICER_NOT_REGISTERED`.
pub const REFUSED_OFFICERS: [(&[&str], EntryKind); 3] = [
    (&["QH6325000101", "QH6325000199"], EntryKind::CaseOpen),
    (&["QH6325000188"], EntryKind::RecordCreate),
    (&["QH6325210299"], EntryKind::RecordCreate),
];

/// A log holding one device's answers of every kind, pushed in this order: three accepted entries
/// (`entries`, answered `accepted`), the same three again (`again`, all duplicates), three refused
/// entries of another case (`refused_case`), the refused ones again, then 300 more accepted
/// entries (`more`): 306 entries in the log, 303 accepted, 6 refusals counted.
pub struct PopulatedLog {
    pub s: TestServer,
    pub admin: String,
    pub device: Device,
    pub entries: Vec<SignedEntry>,
    pub accepted: Value,
    pub again: Value,
    pub refused_case: String,
    pub refused: Vec<SignedEntry>,
    pub refused_answer: Value,
    pub refused_again: Value,
    pub more: Vec<SignedEntry>,
}

impl PopulatedLog {
    pub async fn on(db: &Db) -> PopulatedLog {
        let s = db.server().await;
        let (admin, device) = s.admin_and_device().await;
        let entries = chain(&device.key, None, 3, &TWO_OFFICERS);
        let (status, accepted) = s.push(&device.token, &entries).await;
        assert_eq!(status, 200, "{accepted}");
        let (status, again) = s.push(&device.token, &entries).await;
        assert_eq!(status, 200, "{again}");
        let (refused_case, refused) = entries_of(&device.key, head_of(&entries), &REFUSED_OFFICERS);
        let (status, refused_answer) = s.push(&device.token, &refused).await;
        assert_eq!(status, 200, "{refused_answer}");
        let (status, refused_again) = s.push(&device.token, &refused).await;
        assert_eq!(status, 200, "{refused_again}");
        let more = chain(&device.key, head_of(&refused), 300, &TWO_OFFICERS);
        let (status, answer) = s.push(&device.token, &more).await;
        assert_eq!(
            (
                status,
                answer["accepted"].as_u64(),
                answer["tree_size"].as_u64()
            ),
            (200, Some(300), Some(306)),
            "{answer}"
        );
        PopulatedLog {
            s,
            admin,
            device,
            entries,
            accepted,
            again,
            refused_case,
            refused,
            refused_answer,
            refused_again,
            more,
        }
    }
}

/// The codes of a push answer's results, in order.
pub fn result_codes(answer: &Value) -> Vec<String> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["code"].as_str().unwrap_or("").to_string())
        .collect()
}

impl TestServer {
    /// GET `path`: (status, body bytes).
    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = self.http.get(self.url(path)).send().await.expect("get");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("bytes").to_vec())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.get_bytes("/metrics").await;
        assert_eq!(status, 200);
        String::from_utf8(body).expect("metrics text")
    }

    /// A second administrator, of 共和县 (632521): its token.
    pub async fn gonghe_admin(&self, admin: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/accounts",
                Some(admin),
                Some(json!({"login": "gonghe-admin", "password": "共和县管理员密码-2026", "agency": "632521", "role": "admin"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        self.sign_in("gonghe-admin", "共和县管理员密码-2026").await
    }
}

// ---- Reference bundles (`bundles.rs`): a device that checks what it fetches as the core does. ----

/// A device as the test drives it: token, agency and the bundle key pinned at enrolment.
pub struct BundleDevice {
    pub token: String,
    pub agency: String,
    pub bundle_key: String,
}

pub async fn enrol_for_bundles(s: &TestServer, admin: &str, certificate_no: &str) -> BundleDevice {
    let code = s.enrolment_code_for(admin, certificate_no).await;
    let key = roadside_core::ledger::DeviceKey::generate();
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/devices/enrol",
            None,
            Some(json!({"code": code, "public_key": key.public_hex()})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let bundle_key = body["bundle_key"].as_str().expect("bundle_key").to_string();
    assert_eq!(bundle_key.len(), 64, "{body}");
    BundleDevice {
        token: body["token"].as_str().expect("token").to_string(),
        agency: body["agency"].as_str().expect("agency").to_string(),
        bundle_key,
    }
}

/// What `GET /api/v1/bundles/manifest` answered.
pub struct Fetched {
    pub status: StatusCode,
    pub etag: Option<String>,
    pub version_header: Option<u64>,
    pub body: Vec<u8>,
}

pub async fn get_manifest(s: &TestServer, token: &str, query: &str, etag: Option<&str>) -> Fetched {
    let mut req = s
        .http
        .get(s.url(&format!("/api/v1/bundles/manifest{query}")))
        .bearer_auth(token);
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    let resp = req.send().await.expect("manifest request");
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let version_header = resp
        .headers()
        .get("roadside-bundle-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.bytes().await.expect("body").to_vec();
    Fetched {
        status,
        etag,
        version_header,
        body,
    }
}

/// Fetch and verify the current manifest the way a device does.
pub async fn pull(
    s: &TestServer,
    dev: &BundleDevice,
    held: Option<&HeldBundle>,
) -> (Manifest, String, Fetched) {
    let f = get_manifest(s, &dev.token, "", None).await;
    assert_eq!(f.status, StatusCode::OK);
    let signed = bundle::SignedManifest::from_envelope(&f.body).expect("envelope");
    let key = bundle::parse_public_key(&dev.bundle_key).expect("pinned key");
    let m = signed
        .verify(&key)
        .expect("manifest verifies with the pinned key");
    let id = signed.id();
    assert_eq!(f.etag.as_deref(), Some(format!("\"{id}\"").as_str()));
    assert_eq!(f.version_header, Some(m.version));
    assert_eq!(
        bundle::check_update(&m, &id, &dev.agency, held).expect("update accepted"),
        if held.is_some_and(|h| h.manifest_id == id) {
            Update::Unchanged
        } else {
            Update::Newer
        }
    );
    (m, id, f)
}

pub async fn get_component(
    s: &TestServer,
    token: &str,
    c: &bundle::Component,
) -> (StatusCode, Vec<u8>) {
    let resp = s
        .http
        .get(s.url(&bundle::component_path(c)))
        .bearer_auth(token)
        .send()
        .await
        .expect("component request");
    let status = resp.status();
    if status == StatusCode::OK {
        assert_eq!(
            resp.headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("private, max-age=31536000, immutable")
        );
    }
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Fetch what the plan says, verifying each component; returns the new component set.
pub async fn fetch_plan(
    s: &TestServer,
    dev: &BundleDevice,
    m: &Manifest,
    held: &BTreeMap<String, Vec<u8>>,
) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let held_list: Vec<HeldComponent> = held
        .iter()
        .map(|(name, b)| HeldComponent {
            name: name.clone(),
            sha256: bundle::sha256_hex(b),
        })
        .collect();
    let plan = bundle::plan_fetch(m, &held_list);
    let mut out = held.clone();
    for name in &plan.drop {
        out.remove(name);
    }
    let mut fetched = Vec::new();
    for c in &plan.fetch {
        let (status, bytes) = get_component(s, &dev.token, c).await;
        assert_eq!(status, StatusCode::OK, "{}", c.name);
        bundle::verify_component(m, &c.name, &bytes).expect("component verifies");
        out.insert(c.name.clone(), bytes);
        fetched.push(c.name.clone());
    }
    (out, fetched)
}

pub fn guidance(book: &RuleBook) -> Value {
    let req: GuidanceRequest = serde_json::from_value(json!({
        "violations": ["CX-43-2"],
        "facts": {"act_date": "2026-05-01", "gross_weight_kg": 52000.0, "axles": 6, "combination": true}
    }))
    .expect("request");
    serde_json::to_value(book.guide(&req).expect("guidance")).expect("json")
}

/// A server, its administrator, a device of 632500 and its first pull: every component fetched
/// and verified.
pub struct BundleSite {
    pub s: TestServer,
    pub admin: String,
    pub dev: BundleDevice,
    pub m1: Manifest,
    pub id1: String,
    pub f1: Fetched,
    pub held1: BTreeMap<String, Vec<u8>>,
    pub fetched1: Vec<String>,
}

impl BundleSite {
    pub async fn on(db: &Db) -> BundleSite {
        let s = db.server().await;
        let admin = s.admin().await;
        let dev = enrol_for_bundles(&s, &admin, "QH6325000101").await;
        let (m1, id1, f1) = pull(&s, &dev, None).await;
        let (held1, fetched1) = fetch_plan(&s, &dev, &m1, &BTreeMap::new()).await;
        BundleSite {
            s,
            admin,
            dev,
            m1,
            id1,
            f1,
            held1,
            fetched1,
        }
    }

    /// Revoke officer `QH6325000102` on 2026-11-29 (a roster change).
    pub async fn revoke_officer(&self) {
        let (status, body) = self
            .s
            .call(
                Method::POST,
                "/api/v1/officers/QH6325000102/revoke",
                Some(&self.admin),
                Some(json!({"on": "2026-11-29"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The second version, after the roster change: its manifest, id, answer and the component
    /// set after fetching what its plan says.
    pub async fn second_version(
        &self,
    ) -> (
        Manifest,
        String,
        Fetched,
        BTreeMap<String, Vec<u8>>,
        Vec<String>,
    ) {
        self.revoke_officer().await;
        let held1 = HeldBundle::of(&self.m1, &self.id1);
        let (m2, id2, f2) = pull(&self.s, &self.dev, Some(&held1)).await;
        let (held2, fetched) = fetch_plan(&self.s, &self.dev, &m2, &self.held1).await;
        (m2, id2, f2, held2, fetched)
    }
}

// ---- Media (`media.rs`): resumable uploads (tus 1.0) by a device that declared its evidence. ----

pub const TUS: &str = "1.0.0";
pub const OFFSET_STREAM: &str = "application/offset+octet-stream";

pub fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn metadata(sha: &str) -> String {
    format!(
        "filename {},sha256 {}",
        b64("现场视频.mp4".as_bytes()),
        b64(sha.as_bytes())
    )
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A device that declares evidence in its ledger.
pub struct MediaDevice {
    pub key: DeviceKey,
    pub token: String,
    pub head: Option<Head>,
    pub case: String,
}

impl MediaDevice {
    pub async fn enrol(s: &TestServer, admin: &str, cert: &str) -> Self {
        let (key, token, _) = s.enrol(admin, cert).await;
        MediaDevice {
            key,
            token,
            head: None,
            case: uuid::Uuid::now_v7().to_string(),
        }
    }

    /// Push (a case opening first, then) one `evidence.add` per file; all must be accepted.
    pub async fn declare(&mut self, s: &TestServer, officers: &[&str], files: &[(&str, u64)]) {
        let mut out = Vec::new();
        let mut kinds = Vec::new();
        if self.head.is_none() {
            kinds.push((
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ));
        }
        for (sha, size) in files {
            kinds.push((
                EntryKind::EvidenceAdd,
                json!({"evidence_id": uuid::Uuid::now_v7().to_string(), "kind": "video", "sha256": sha, "size": size}),
            ));
        }
        for (kind, body) in kinds {
            let entry = ledger::next_entry(
                &self.key,
                self.head,
                Utc::now() - Duration::minutes(5),
                officers.iter().map(|s| s.to_string()).collect(),
                kind,
                Some(self.case.clone()),
                body,
            );
            let signed = ledger::seal(&entry, &self.key).expect("seal");
            self.head = Some(Head {
                seq: entry.seq,
                hash: signed.hash,
            });
            out.push(signed);
        }
        let (status, answer) = s.push(&self.token, &out).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["accepted"].as_u64(),
            Some(out.len() as u64),
            "{answer}"
        );
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn tus(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Resp {
    let mut req = s.http.request(method, s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Resp {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

pub async fn create(s: &TestServer, token: &str, sha: &str, len: u64) -> Resp {
    tus(
        s,
        Method::POST,
        "/api/v1/media",
        Some(token),
        &[
            ("Tus-Resumable", TUS.into()),
            ("Upload-Length", len.to_string()),
            ("Upload-Metadata", metadata(sha)),
        ],
        None,
    )
    .await
}

pub async fn patch(
    s: &TestServer,
    token: &str,
    url: &str,
    offset: u64,
    chunk: &[u8],
    checksum: Option<[u8; 32]>,
) -> Resp {
    let mut h = vec![
        ("Tus-Resumable", TUS.to_string()),
        ("Content-Type", OFFSET_STREAM.to_string()),
        ("Upload-Offset", offset.to_string()),
    ];
    if let Some(c) = checksum {
        h.push(("Upload-Checksum", format!("sha256 {}", b64(&c))));
    }
    tus(s, Method::PATCH, url, Some(token), &h, Some(chunk.to_vec())).await
}

pub async fn head(s: &TestServer, token: &str, url: &str) -> Resp {
    tus(
        s,
        Method::HEAD,
        url,
        Some(token),
        &[("Tus-Resumable", TUS.into())],
        None,
    )
    .await
}

pub fn offset_of(r: &Resp) -> u64 {
    header(&r.headers, "upload-offset")
        .parse()
        .expect("Upload-Offset")
}

pub async fn get_object(s: &TestServer, token: &str, sha: &str) -> (u16, Vec<u8>) {
    let resp = s
        .http
        .get(s.url(&format!("/api/v1/media/{sha}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("bytes").to_vec())
}

/// Whether the object store (not the API) holds `evidence/<sha>`.
pub async fn in_store(config: &Config, sha: &str) -> bool {
    let media = Media::from_config(config).expect("media store");
    media.store.head(&Media::object_key(sha)).await.is_ok()
}

/// A PATCH whose connection is cut after `sent` of the chunk's `declared` bytes.
pub async fn cut_patch(
    s: &TestServer,
    token: &str,
    url: &str,
    offset: u64,
    declared: usize,
    sent: &[u8],
) {
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "PATCH {url} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: {OFFSET_STREAM}\r\nUpload-Offset: {offset}\r\nContent-Length: {declared}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(sent).await.expect("write part of body");
    tcp.flush().await.expect("flush");
    drop(tcp);
}

/// Point a configuration at the objects' store — the S3 store under `prefix`, or the local media
/// directory — with chunks of at most 4 MiB.
pub fn media_config(c: &mut Config, objects: &Objects, prefix: &str) {
    c.media_max_chunk = 4 * 1024 * 1024;
    if let Objects::S3(s3) = objects {
        c.media_url = Some(format!("{}/{prefix}", s3.url));
        c.s3_endpoint = s3.endpoint.clone();
        c.s3_access_key_id = s3.access_key_id.clone();
        c.s3_secret_access_key = s3.secret_access_key.clone();
        c.s3_region = s3.region.clone().unwrap_or_else(|| "us-east-1".into());
    }
}

/// A file of 9 MiB and a bit: more than two chunks of the 4 MiB limit.
pub fn video() -> Vec<u8> {
    bytes_of(9 * 1024 * 1024 + 12_345, 1)
}

/// A server on a database and an object store (S3 under a prefix of its own), its administrator
/// and an enrolled device of 632500.
pub struct MediaSite {
    pub s: TestServer,
    pub objects: Objects,
    pub admin: String,
    pub dev: MediaDevice,
    db_url: Option<String>,
    prefix: String,
    tweak: fn(&mut Config),
}

/// A file the site's device declared, and its upload.
pub struct Upload {
    pub bytes: Vec<u8>,
    pub sha: String,
    pub url: String,
}

impl MediaSite {
    pub async fn on(db: &Db, objects: &Objects) -> MediaSite {
        Self::on_with(db, objects, |_| {}).await
    }

    /// [`MediaSite::on`] with the configuration adjusted by `tweak` (on every start).
    pub async fn on_with(db: &Db, objects: &Objects, tweak: fn(&mut Config)) -> MediaSite {
        let prefix = format!("r{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let db_url = db.new_database().await;
        let (o, p) = (objects.clone(), prefix.clone());
        let s = TestServer::start_with(db_url.clone(), move |c| {
            media_config(c, &o, &p);
            tweak(c);
        })
        .await;
        let admin = s.admin().await;
        let dev = MediaDevice::enrol(&s, &admin, "QH6325000101").await;
        MediaSite {
            s,
            objects: objects.clone(),
            admin,
            dev,
            db_url,
            prefix,
            tweak,
        }
    }

    /// The server's configuration (to look into its object store).
    pub fn config(&self) -> Config {
        let mut c = Config::for_data_dir(self.s.dir.path());
        media_config(&mut c, &self.objects, &self.prefix);
        (self.tweak)(&mut c);
        c
    }

    /// Stop the server and start it again on the same data, database and objects.
    pub async fn restart(self) -> MediaSite {
        let MediaSite {
            s,
            objects,
            admin,
            dev,
            db_url,
            prefix,
            tweak,
        } = self;
        let dir = s.stop_keeping_dir().await;
        let (o, p) = (objects.clone(), prefix.clone());
        let s = TestServer::start_in(dir, db_url.clone(), move |c| {
            media_config(c, &o, &p);
            tweak(c);
        })
        .await;
        MediaSite {
            s,
            objects,
            admin,
            dev,
            db_url,
            prefix,
            tweak,
        }
    }

    /// Declare the [`video`] as evidence of the device's case (no upload yet): its bytes and hash.
    pub async fn declare_video(&mut self) -> (Vec<u8>, String) {
        let video = video();
        let sha = sha_hex(&video);
        self.dev
            .declare(&self.s, &TWO_OFFICERS, &[(&sha, video.len() as u64)])
            .await;
        (video, sha)
    }

    /// Declare `bytes` as evidence of the device's case and create its upload (201, offset 0).
    pub async fn upload_of(&mut self, bytes: Vec<u8>) -> Upload {
        let sha = sha_hex(&bytes);
        self.dev
            .declare(&self.s, &TWO_OFFICERS, &[(&sha, bytes.len() as u64)])
            .await;
        let r = create(&self.s, &self.dev.token, &sha, bytes.len() as u64).await;
        assert_eq!((r.status, offset_of(&r)), (201, 0), "{}", r.body);
        let url = header(&r.headers, "location").to_string();
        Upload { bytes, sha, url }
    }

    /// Send the upload's bytes from `at` on in chunks of up to 4 MiB, each with its checksum and
    /// each answered 204 with the new offset; the last one completes the file.
    pub async fn send_from(&self, upload: &Upload, mut at: usize) {
        while at < upload.bytes.len() {
            let end = (at + 4 * 1024 * 1024).min(upload.bytes.len());
            let chunk = &upload.bytes[at..end];
            let r = patch(
                &self.s,
                &self.dev.token,
                &upload.url,
                at as u64,
                chunk,
                Some(Sha256::digest(chunk).into()),
            )
            .await;
            assert_eq!(r.status, 204, "{}", r.body);
            at = end;
            assert_eq!(offset_of(&r), at as u64);
        }
    }

    /// The upload is where it was: HEAD answers its offset `at`, its length, and no caching.
    pub async fn assert_unchanged(&self, upload: &Upload, at: usize) {
        let r = head(&self.s, &self.dev.token, &upload.url).await;
        assert_eq!(r.status, 200);
        assert_eq!(offset_of(&r), at as u64, "refused chunks change nothing");
        assert_eq!(
            header(&r.headers, "upload-length"),
            upload.bytes.len().to_string()
        );
        assert_eq!(header(&r.headers, "cache-control"), "no-store");
    }

    /// The file is complete: in the object store, and the device reads back exactly its bytes.
    pub async fn assert_stored(&self, upload: &Upload) {
        assert!(in_store(&self.config(), &upload.sha).await);
        let (status, got) = get_object(&self.s, &self.dev.token, &upload.sha).await;
        assert_eq!(status, 200);
        assert!(got == upload.bytes, "stored bytes equal the file");
    }

    /// A device of another agency (共和县, 632521) with a case of its own.
    pub async fn other_agencys_device(&self) -> MediaDevice {
        let mut other = MediaDevice::enrol(&self.s, &self.admin, "QH6325210201").await;
        other.declare(&self.s, &["QH6325210201"], &[]).await;
        other
    }
}
