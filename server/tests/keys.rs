//! Key custody: the log key and the agencies' bundle keys live in 0600 files of a 0700 key
//! directory, never in the database; readable keys stop the server; a database from an earlier
//! version has its keys moved out, unchanged; a replica without the key files refuses to start
//! instead of forking the log's identity. The data directory, the SQLite files and the generated
//! admin password are the server's alone. Storage-dependent tests run on SQLite and PostgreSQL.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use roadside_server::config::Config;
use roadside_server::error::ApiError;
use roadside_server::keys::{BUNDLE_PUBLIC_KEY, LOG_PUBLIC_KEY};
use roadside_server::{bootstrap, storage, Server};

const ORIGIN: &str = "roadside.local/log";
const LOG_KEY_FILE: &str = "log-roadside.local_2flog.key";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Start must fail: the error it fails with.
async fn refused(config: Config) -> ApiError {
    match Server::prepare(config).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e,
    }
}

fn config_on(data_dir: &Path, db: &str) -> Config {
    let mut c = Config::for_data_dir(data_dir);
    c.database_url = Some(db.to_string());
    c
}

fn bundle_key_file(agency: &str) -> String {
    format!("bundle-{agency}.key")
}

/// A fresh SQLite database URL in `dir`, or a fresh PostgreSQL database.
async fn database(backend: &str, dir: &Path) -> String {
    match backend {
        "sqlite" => dir.join("roadside.sqlite3").to_string_lossy().into_owned(),
        _ => fresh_pg_database(&pg_admin_url().expect("ROADSIDE_TEST_PG_URL")).await,
    }
}

fn postgres_or_skip() -> bool {
    pg_admin_url().is_some()
}

/// A first start in a data directory that does not exist yet: every directory it makes is 0700,
/// every key file, the SQLite files and the admin password 0600; the database records the public
/// halves only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_makes_private_directories_and_key_files() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("roadside-server-data");
    let s = TestServer::start_in(tempfile::tempdir().expect("tempdir"), None, |c| {
        c.data_dir = data.clone();
    })
    .await;
    let admin = s.admin().await;
    s.enrol(&admin, "QH6325000101").await;

    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("media")), 0o700, "media directory");
    let keys = data.join("keys");
    assert_eq!(mode(&keys), 0o700, "key directory");
    assert_eq!(mode(&keys.join(LOG_KEY_FILE)), 0o600);
    for agency in bootstrap::demo_agencies() {
        assert_eq!(
            mode(&keys.join(bundle_key_file(&agency.code))),
            0o600,
            "{}",
            agency.code
        );
    }
    for file in [
        "roadside.sqlite3",
        "roadside.sqlite3-wal",
        "roadside.sqlite3-shm",
        "admin-password.txt",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    s.stop().await;

    let store = storage::open(&data.join("roadside.sqlite3").to_string_lossy())
        .await
        .expect("open");
    let log_key = std::fs::read_to_string(keys.join(LOG_KEY_FILE)).expect("log key");
    assert!(log_key.starts_with("PRIVATE+KEY+roadside.local/log+"));
    let settings = store.settings_with_prefix("").await.expect("settings");
    assert!(
        settings.iter().all(|(_, v)| !v.contains(log_key.trim())),
        "the log's private key is not in the database"
    );
    assert!(store
        .setting(&format!("{LOG_PUBLIC_KEY}{ORIGIN}"))
        .await
        .expect("read")
        .is_some());
    for agency in bootstrap::demo_agencies() {
        let seed = std::fs::read_to_string(keys.join(bundle_key_file(&agency.code))).expect("seed");
        assert_eq!(seed.trim().len(), 64);
        assert!(settings.iter().all(|(_, v)| !v.contains(seed.trim())));
        assert!(store
            .setting(&format!("{BUNDLE_PUBLIC_KEY}{}", agency.code))
            .await
            .expect("read")
            .is_some());
    }
}

/// A key file or key directory others can read stops the start, naming the path, the mode and the
/// chmod that fixes it; once fixed, the server starts with the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_keys_are_refused_with_the_fix() {
    let s = TestServer::start(None).await;
    let verifier = s.verifier_key.clone();
    let dir = s.stop_keeping_dir().await;
    let keys = dir.path().join("keys");
    let config = || Config::for_data_dir(dir.path());

    let log_key = keys.join(LOG_KEY_FILE);
    chmod(&log_key, 0o644);
    let e = refused(config()).await;
    assert_eq!(e.code, "KEY_FILE_MODE", "{e}");
    assert!(e.message.contains(&log_key.display().to_string()), "{e}");
    assert!(e.message.contains("0644"), "{e}");
    assert!(
        e.message
            .contains(&format!("chmod 600 '{}'", log_key.display())),
        "{e}"
    );
    chmod(&log_key, 0o600);

    let bundle_key = keys.join(bundle_key_file("632521"));
    chmod(&bundle_key, 0o640);
    let e = refused(config()).await;
    assert_eq!(e.code, "KEY_FILE_MODE", "{e}");
    assert!(e.message.contains("0640"), "{e}");
    chmod(&bundle_key, 0o600);

    chmod(&keys, 0o755);
    let e = refused(config()).await;
    assert_eq!(e.code, "KEY_DIR_MODE", "{e}");
    assert!(e.message.contains("0755"), "{e}");
    assert!(
        e.message
            .contains(&format!("chmod 700 '{}'", keys.display())),
        "{e}"
    );
    chmod(&keys, 0o700);

    // A symbolic link in the key directory is not a key file.
    let link = keys.join("bundle-extra.key");
    std::os::unix::fs::symlink(&log_key, &link).expect("symlink");
    assert_eq!(refused(config()).await.code, "KEY_FILE_INVALID");
    std::fs::remove_file(&link).expect("rm");

    let s = TestServer::start_in(dir, None, |_| {}).await;
    assert_eq!(s.verifier_key, verifier, "same log key after the fix");
    s.stop().await;
}

/// A key file owned by another user is refused (needs root to make one; skipped otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_of_another_user_is_refused() {
    if !roadside_tests::backends::condition(
        "running as root",
        "only root may make a file owned by another user",
        own_uid() == 0,
    ) {
        return;
    }
    let s = TestServer::start(None).await;
    let dir = s.stop_keeping_dir().await;
    let log_key = dir.path().join("keys").join(LOG_KEY_FILE);
    std::os::unix::fs::chown(&log_key, Some(65534), Some(65534)).expect("chown");
    let e = refused(Config::for_data_dir(dir.path())).await;
    assert_eq!(e.code, "KEY_FILE_OWNER", "{e}");
    assert!(e.message.contains("65534"), "{e}");
    assert!(e.message.contains("chown 0 '"), "{e}");
}

/// The user this test runs as: the owner of a file it makes.
fn own_uid() -> u32 {
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .map_or(u32::MAX, |m| m.uid())
}

/// Rewrite a database the way an earlier version kept it: the private keys in the settings table
/// (`log_key:<origin>`, `bundle_key:<agency>`), no public-key records, no key directory. Answers
/// (log private key, bundle seeds by agency).
async fn make_legacy(db: &str, keys: &Path) -> (String, Vec<(String, String)>) {
    let store = storage::open(db).await.expect("open");
    let log_key = std::fs::read_to_string(keys.join(LOG_KEY_FILE))
        .expect("log key")
        .trim()
        .to_string();
    let mut seeds = Vec::new();
    for agency in bootstrap::demo_agencies() {
        let seed = std::fs::read_to_string(keys.join(bundle_key_file(&agency.code)))
            .expect("seed")
            .trim()
            .to_string();
        seeds.push((agency.code, seed));
    }
    let mut public = store
        .settings_with_prefix(LOG_PUBLIC_KEY)
        .await
        .expect("read");
    public.extend(
        store
            .settings_with_prefix(BUNDLE_PUBLIC_KEY)
            .await
            .expect("read"),
    );
    assert_eq!(public.len(), 1 + seeds.len());
    store.erase_settings(&public).await.expect("erase");
    store
        .setting_or_insert(&format!("log_key:{ORIGIN}"), &log_key)
        .await
        .expect("legacy log key");
    for (agency, seed) in &seeds {
        store
            .setting_or_insert(&format!("bundle_key:{agency}"), seed)
            .await
            .expect("legacy bundle key");
    }
    drop(store);
    std::fs::remove_dir_all(keys).expect("rm keys");
    (log_key, seeds)
}

/// An upgraded server on a database that holds the keys (with a log, devices and bundles already
/// made with them) moves them to 0600 files, erases them from the database and goes on signing
/// with the same keys: old receipts' key verifies new checkpoints, devices keep their pinned
/// bundle key.
async fn upgrade_moves_keys_out(backend: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = database(backend, tmp.path()).await;
    let s = TestServer::start(Some(db.clone())).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let first = chain(&key, None, 5, &TWO_OFFICERS);
    let (status, body) = s.push(&token, &first).await;
    assert_eq!(status, 200, "{body}");
    let verifier = s.verifier_key.clone();
    let pinned = enrolment_bundle_key(&s, &admin).await;
    let dir = s.stop_keeping_dir().await;

    let keys = dir.path().join("keys");
    let (log_key, seeds) = make_legacy(&db, &keys).await;
    if backend == "sqlite" {
        assert!(
            raw_sqlite_contains(&db, &log_key),
            "the legacy database holds the key (the scan below finds it)"
        );
    }

    let s = TestServer::start_in(dir, Some(db.clone()), |_| {}).await;
    assert_eq!(s.verifier_key, verifier, "the same log key");
    assert_eq!(
        std::fs::read_to_string(keys.join(LOG_KEY_FILE))
            .expect("log key file")
            .trim(),
        log_key
    );
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join(LOG_KEY_FILE)), 0o600);
    for (agency, seed) in &seeds {
        let file = keys.join(bundle_key_file(agency));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).expect("seed").trim(),
            seed,
            "{agency}"
        );
    }
    let admin = s.admin().await;
    assert_eq!(
        enrolment_bundle_key(&s, &admin).await,
        pinned,
        "devices keep their pinned bundle key"
    );
    let more = chain(&key, head_of(&first), 3, &TWO_OFFICERS);
    let (status, body) = s.push(&token, &more).await;
    assert_eq!(status, 200, "{body}");
    let note = s
        .http
        .get(s.url("/log/checkpoint"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let cp = roadside_server::tlog::verify_checkpoint(&note, &verifier)
        .expect("the new checkpoint verifies with the key devices pinned");
    assert_eq!(cp.size(), 8);
    s.stop().await;

    let store = storage::open(&db).await.expect("open");
    for prefix in ["log_key:", "bundle_key:"] {
        assert!(store
            .settings_with_prefix(prefix)
            .await
            .expect("read")
            .is_empty());
    }
    let settings = store.settings_with_prefix("").await.expect("settings");
    for (name, value) in &settings {
        assert!(!value.contains(&log_key), "{name} holds the log key");
        for (agency, seed) in &seeds {
            assert!(!value.contains(seed), "{name} holds {agency}'s bundle key");
        }
    }
    drop(store);
    if backend == "sqlite" {
        assert!(
            !raw_sqlite_contains(&db, &log_key),
            "no copy of the log key left in the database files"
        );
        for (agency, seed) in &seeds {
            assert!(
                !raw_sqlite_contains(&db, seed),
                "no copy of {agency}'s bundle key left in the database files"
            );
        }
    }
}

/// Whether the SQLite database file or its WAL holds `needle`'s bytes anywhere.
fn raw_sqlite_contains(db: &str, needle: &str) -> bool {
    [db.to_string(), format!("{db}-wal")].iter().any(|file| {
        std::fs::read(file)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

/// The bundle key a newly enrolled device of 632500 pins.
async fn enrolment_bundle_key(s: &TestServer, admin: &str) -> String {
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/v1/enrolment-codes",
            Some(admin),
            Some(serde_json::json!({"certificate_no": "QH6325000102"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = roadside_core::ledger::DeviceKey::generate();
    let (status, body) = s
        .call(
            reqwest::Method::POST,
            "/api/v1/devices/enrol",
            None,
            Some(serde_json::json!({"code": body["code"], "public_key": key.public_hex()})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["agency"], "632500");
    body["bundle_key"].as_str().expect("bundle_key").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_moves_keys_out_on_sqlite() {
    upgrade_moves_keys_out("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_moves_keys_out_on_postgres() {
    if postgres_or_skip() {
        upgrade_moves_keys_out("postgres").await;
    }
}

fn copy_key(from: &Path, to: &Path, name: &str) {
    std::fs::create_dir_all(to).expect("mkdir");
    chmod(to, 0o700);
    std::fs::copy(from.join(name), to.join(name)).expect("copy");
    chmod(&to.join(name), 0o600);
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A second replica on the database with no key files refuses to start and makes no key; with
/// only the log key it refuses for the missing bundle keys; with another log key it refuses the
/// mismatch; provisioned with the first replica's key files it starts and signs as the same log.
async fn replica_needs_the_key_files(backend: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = database(backend, tmp.path()).await;
    let a = TestServer::start(Some(db.clone())).await;
    let a_keys = a.key_dir();

    let b_dir = tempfile::tempdir().expect("tempdir");
    let b_keys = b_dir.path().join("keys");
    let e = refused(config_on(b_dir.path(), &db)).await;
    assert_eq!(e.code, "LOG_KEY_MISSING", "{e}");
    assert!(
        e.message
            .contains(&b_keys.join(LOG_KEY_FILE).display().to_string()),
        "{e}"
    );
    assert!(key_files(&b_keys).is_empty(), "no key was made");

    // The log key through the setting, but another one than the log's.
    let (other, _) = roadside_server::tlog::LogSigner::generate_key(ORIGIN);
    let mut config = config_on(b_dir.path(), &db);
    config.log_key = Some(other);
    assert_eq!(refused(config).await.code, "LOG_KEY_MISMATCH");

    // A log key file of another key.
    let c = TestServer::start(None).await;
    copy_key(&c.key_dir(), &b_keys, LOG_KEY_FILE);
    c.stop().await;
    let e = refused(config_on(b_dir.path(), &db)).await;
    assert_eq!(e.code, "LOG_KEY_MISMATCH", "{e}");
    std::fs::remove_file(b_keys.join(LOG_KEY_FILE)).expect("rm");

    // The right log key, no bundle keys.
    copy_key(&a_keys, &b_keys, LOG_KEY_FILE);
    let e = refused(config_on(b_dir.path(), &db)).await;
    assert_eq!(e.code, "BUNDLE_KEY_MISSING", "{e}");
    assert_eq!(key_files(&b_keys).len(), 1, "no bundle key was made");

    for agency in bootstrap::demo_agencies() {
        copy_key(&a_keys, &b_keys, &bundle_key_file(&agency.code));
    }
    let b = TestServer::start_in(b_dir, Some(db), |_| {}).await;
    assert_eq!(b.verifier_key, a.verifier_key, "one log identity");
    let admin = a.admin().await;
    assert_eq!(
        enrolment_bundle_key(&a, &admin).await,
        enrolment_bundle_key(&b, &admin).await
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_needs_the_key_files_on_sqlite() {
    replica_needs_the_key_files("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_needs_the_key_files_on_postgres() {
    if postgres_or_skip() {
        replica_needs_the_key_files("postgres").await;
    }
}

/// A key file that already holds another key than the database's stops the move out of the
/// database, with both left as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_key_file_stops_the_move() {
    let s = TestServer::start(None).await;
    let dir = s.stop_keeping_dir().await;
    let db = dir
        .path()
        .join("roadside.sqlite3")
        .to_string_lossy()
        .into_owned();
    let keys = dir.path().join("keys");
    let (log_key, _) = make_legacy(&db, &keys).await;
    let (other, _) = roadside_server::tlog::LogSigner::generate_key(ORIGIN);
    std::fs::create_dir_all(&keys).expect("mkdir");
    chmod(&keys, 0o700);
    std::fs::write(keys.join(LOG_KEY_FILE), format!("{other}\n")).expect("write");
    chmod(&keys.join(LOG_KEY_FILE), 0o600);
    let e = refused(Config::for_data_dir(dir.path())).await;
    assert_eq!(e.code, "KEY_MIGRATION_CONFLICT", "{e}");
    let store = storage::open(&db).await.expect("open");
    assert_eq!(
        store
            .setting(&format!("log_key:{ORIGIN}"))
            .await
            .expect("read")
            .as_deref(),
        Some(log_key.as_str()),
        "the database's key is kept"
    );
}
