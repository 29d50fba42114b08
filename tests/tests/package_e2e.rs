//! Evidence packages end to end: cases captured on a device with evidence files, synced to the real
//! `roadside-server` (SQLite with a local media directory; PostgreSQL with an S3-compatible store),
//! exported by the server over HTTP (`GET /api/v1/cases/{id}/package`) and by the device CLI
//! (`roadside package export`), and checked offline (`roadside verify`). Every single-byte change,
//! removed file or swapped checkpoint fails, naming the file and the check.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use roadside_core::model::EvidenceKind;
use roadside_core::store::EvidenceMeta;
use roadside_core::sync::SyncOptions;
use roadside_tests::cli::Cli;
use roadside_tests::*;
use roadside_verify::package::{self as format, Manifest, ManifestFile};
use roadside_verify::report::Report;
use serde_json::Value;
use sha2::{Digest, Sha256};

const OFFICER: &str = "QH6325000101";

/// A package's files, by path.
type Files = BTreeMap<String, Vec<u8>>;

fn unzip(bytes: &[u8]) -> Files {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut files = Files::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).expect("member");
        let name = f.name().expect("member name").into_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("read member");
        files.insert(name, data);
    }
    files
}

fn rezip(files: &Files) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("start");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

/// The manifest rewritten to match the files, as someone altering a package would.
fn refresh_manifest(files: &mut Files) {
    let old: Manifest = serde_json::from_slice(&files[format::MANIFEST]).expect("manifest parses");
    let listed = files
        .iter()
        .filter(|(p, _)| p.as_str() != format::MANIFEST)
        .map(|(path, data)| ManifestFile {
            path: path.clone(),
            sha256: hex::encode(Sha256::digest(data)),
            size: data.len() as u64,
        })
        .collect();
    let manifest = Manifest {
        files: listed,
        ..old
    };
    files.insert(
        format::MANIFEST.into(),
        roadside_verify::canonical::to_canonical_vec(&manifest).expect("canonical"),
    );
}

fn check(files: &Files) -> Report {
    roadside_verify::package::verify(Cursor::new(rezip(files)), None)
}

fn failed(report: &Report) -> Vec<(String, &'static str)> {
    report
        .failures()
        .map(|c| (c.file.clone(), c.check))
        .collect()
}

fn assert_fails_on(report: &Report, file: &str, check: &str) {
    assert!(!report.ok, "a tampered package verified");
    assert!(
        report
            .failures()
            .any(|c| c.file == file && c.check == check),
        "expected {check} to fail on {file}; failures: {:?}",
        failed(report)
    );
}

fn patient() -> SyncOptions {
    SyncOptions {
        retry_attempts: 60,
        retry_base_ms: 5,
        retry_max_ms: 200,
        request_timeout_secs: 30,
        ..SyncOptions::default()
    }
}

/// Two cases on one device, each with an evidence file (case A's spans several 1 MiB chunks),
/// synced in two rounds so the cases' receipts name different checkpoints.
struct Scene {
    _data: tempfile::TempDir,
    server: ServerProcess,
    dev: Device,
    a: String,
    b: String,
}

fn scene(env: &[(String, String)]) -> Scene {
    let data = tempfile::tempdir().expect("tempdir");
    let server = ServerProcess::start_with(data.path(), "127.0.0.1:0", env);
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    let media = dev.dir.path().join("media");
    std::fs::create_dir_all(&media).expect("media dir");
    let attach = |case: &str, name: &str, size: u64, seed: u64| {
        let path = media.join(name);
        random_file(&path, size, seed);
        dev.store
            .attach_evidence(case, &path, EvidenceKind::Video, &EvidenceMeta::default())
            .expect("attach");
    };
    let a = dev.capture_cases(1).remove(0);
    attach(&a, "a.mp4", (2 << 20) + 12_345, 7);
    let report = sync(&dev.store, &patient()).expect("sync A");
    assert_eq!(report.files_uploaded, 1, "{report:?}");
    let b = dev.capture_cases(1).remove(0);
    attach(&b, "b.jpg", 40_000, 11);
    let report = sync(&dev.store, &patient()).expect("sync B");
    assert_eq!(report.files_uploaded, 1, "{report:?}");
    Scene {
        _data: data,
        server,
        dev,
        a,
        b,
    }
}

fn download(server: &ServerProcess, token: Option<&str>, case: &str) -> (u16, Vec<u8>) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(server.url(&format!("/api/v1/cases/{case}/package")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    if status == 200 {
        assert_eq!(
            resp.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/zip")
        );
    }
    (status, resp.bytes().expect("body").to_vec())
}

/// Everything the tests assert about a scene.
fn exercise(s: &Scene) {
    let token = s.server.admin_token();
    let (status, a_zip) = download(&s.server, Some(&token), &s.a);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&a_zip));
    let (status, b_zip) = download(&s.server, Some(&token), &s.b);
    assert_eq!(status, 200);

    // The package verifies, and holds what the case holds.
    let report = roadside_verify::package::verify(Cursor::new(&a_zip), None);
    assert!(report.ok, "{}", report.to_text(true));
    assert_eq!(report.summary.case.as_deref(), Some(s.a.as_str()));
    assert_eq!(report.summary.entries, 2, "case.open and evidence.add");
    assert_eq!(report.summary.media, 1);
    assert_eq!(report.summary.agency.as_deref(), Some("632500"));
    let files = unzip(&a_zip);
    assert!(files.contains_key(format::INDEX));
    let index = String::from_utf8(files[format::INDEX].clone()).expect("UTF-8 index");
    assert!(
        index.contains("执法记录原文") && index.contains(&s.a),
        "{index}"
    );
    let media: Vec<&String> = files.keys().filter(|p| p.starts_with("media/")).collect();
    assert_eq!(media.len(), 1);
    assert!(media[0].ends_with(".mp4"), "{media:?}");
    // The log's key is the one the server publishes, and a verifier pinning it agrees.
    let (_, key) = call("GET", &s.server.url("/api/v1/log/key"), None, None);
    let published = key["verifier_key"].as_str().expect("verifier key");
    assert!(roadside_verify::package::verify(Cursor::new(&a_zip), Some(published)).ok);
    let other_key = "other.example/log+00000000+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let pinned = roadside_verify::package::verify(Cursor::new(&a_zip), Some(other_key));
    assert_fails_on(&pinned, format::LOG_KEY, "keys.log");

    // The CLI agrees, in Chinese and in JSON, with no server needed.
    let dir = tempfile::tempdir().expect("tempdir");
    let a_path = dir.path().join("a.zip");
    std::fs::write(&a_path, &a_zip).expect("write package");
    let cli = Cli::new(cli_bin(), &dir.path().join("no-store"));
    let out = cli.run(&["verify", a_path.to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("验证通过"), "{text}");
    let out = cli.run(&["verify", "--json", a_path.to_str().expect("path")]);
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(json["ok"], true);

    // Every single byte changed at the start, the middle and the end of every file.
    for (path, data) in &files {
        for at in [0, data.len() / 2, data.len().saturating_sub(1)] {
            let mut changed = files.clone();
            changed.get_mut(path).expect("file")[at] ^= 0x01;
            let report = check(&changed);
            if path == format::MANIFEST {
                assert!(!report.ok, "a changed manifest verified (byte {at})");
            } else {
                assert_fails_on(&report, path, "file.sha256");
            }
        }
    }
    // Every file removed.
    for path in files.keys() {
        let mut fewer = files.clone();
        fewer.remove(path);
        let report = check(&fewer);
        if path == format::MANIFEST {
            assert_fails_on(&report, format::MANIFEST, "manifest.format");
        } else {
            assert_fails_on(&report, path, "file.present");
        }
    }
    // A file added.
    let mut more = files.clone();
    more.insert("media/extra.bin".into(), b"not evidence".to_vec());
    assert_fails_on(&check(&more), "media/extra.bin", "file.listed");

    // Another case's checkpoint swapped in, with the manifest rewritten to match: its size is not
    // its name, and the receipts no longer lead to it.
    let b_files = unzip(&b_zip);
    let (a_cp, b_cp) = (
        files
            .keys()
            .find(|p| p.starts_with("checkpoints/"))
            .expect("A's checkpoint"),
        b_files
            .iter()
            .find(|(p, _)| p.starts_with("checkpoints/"))
            .map(|(_, d)| d.clone())
            .expect("B's checkpoint"),
    );
    assert_ne!(
        files[a_cp], b_cp,
        "the cases were logged at different sizes"
    );
    let mut swapped = files.clone();
    swapped.insert(a_cp.clone(), b_cp.clone());
    assert_fails_on(&check(&swapped), a_cp, "file.sha256");
    refresh_manifest(&mut swapped);
    let report = check(&swapped);
    assert_fails_on(&report, a_cp, "checkpoint.size");
    assert!(
        report.failures().any(|c| c.check == "receipt.inclusion"),
        "{:?}",
        failed(&report)
    );
    // Also under the swapped checkpoint's own name.
    let mut renamed = files.clone();
    let data = renamed.remove(a_cp).expect("checkpoint");
    let b_name = b_files
        .keys()
        .find(|p| p.starts_with("checkpoints/"))
        .expect("B's name");
    renamed.insert(b_name.clone(), b_cp);
    let _ = data;
    refresh_manifest(&mut renamed);
    let report = check(&renamed);
    assert!(!report.ok);
    assert!(
        report.failures().any(|c| c.check == "receipt.inclusion"),
        "{:?}",
        failed(&report)
    );

    // Behind the manifest: a changed byte with the manifest rewritten to match still fails, on the
    // check that the file's own proof makes.
    let entry = files
        .keys()
        .find(|p| p.starts_with("entries/") && p.ends_with(".json"))
        .expect("an entry")
        .clone();
    let mut forged = files.clone();
    let e = forged.get_mut(&entry).expect("entry");
    let at = e.iter().position(|b| *b == b'"').expect("a quote") + 2;
    e[at] ^= 0x01;
    refresh_manifest(&mut forged);
    assert_fails_on(&check(&forged), &entry, "entry.signature");
    let sig = entry.replace(".json", ".sig");
    let mut forged = files.clone();
    let s_bytes = forged.get_mut(&sig).expect("sig");
    s_bytes[5] = if s_bytes[5] == b'0' { b'1' } else { b'0' };
    refresh_manifest(&mut forged);
    assert_fails_on(&check(&forged), &entry, "entry.signature");
    let mut forged = files.clone();
    let m = forged.get_mut(media[0].as_str()).expect("media");
    m[1 << 20] ^= 0x80;
    refresh_manifest(&mut forged);
    let report = check(&forged);
    assert_fails_on(&report, media[0], "media.sha256");
    assert_fails_on(&report, media[0], "media.chunks");
    let receipt = files
        .keys()
        .find(|p| p.starts_with("receipts/"))
        .expect("a receipt")
        .clone();
    let mut forged = files.clone();
    let r: Value = serde_json::from_slice(&forged[&receipt]).expect("receipt JSON");
    let moved = serde_json::json!({
        "inclusion_proof": r["inclusion_proof"],
        "leaf_index": r["leaf_index"].as_u64().expect("leaf") ^ 1,
        "tree_size": r["tree_size"],
    });
    forged.insert(
        receipt.clone(),
        roadside_verify::canonical::to_canonical_vec(&moved).expect("canonical"),
    );
    refresh_manifest(&mut forged);
    assert_fails_on(&check(&forged), &receipt, "receipt.inclusion");

    // A failing package: the CLI exits non-zero and names the file and the check.
    let mut changed = files.clone();
    changed.get_mut(&entry).expect("entry")[3] ^= 0x01;
    let bad = dir.path().join("bad.zip");
    std::fs::write(&bad, rezip(&changed)).expect("write");
    let out = cli.run(&["verify", bad.to_str().expect("path")]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("验证未通过") && text.contains(&entry),
        "{text}"
    );
    let error: Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    assert_eq!(error["code"], "PACKAGE_INVALID");
    let message = error["message"].as_str().expect("message");
    assert!(
        message.contains(&entry) && message.contains("file.sha256"),
        "{message}"
    );

    // Authorised like the case: no session, no package; an unknown case is not found.
    let (status, _) = download(&s.server, None, &s.a);
    assert_eq!(status, 401);
    let (status, body) = download(
        &s.server,
        Some(&token),
        "0190f5a2-7c3e-7b2a-9d4e-0123456789ab",
    );
    assert_eq!(status, 404);
    let body: Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(body["code"], "CASE_NOT_FOUND");

    // The device exports the same case, and its package verifies too.
    let dev_cli = Cli::new(cli_bin(), s.dev.dir.path()).key(&hex::encode(s.dev.key));
    let dev_zip = dir.path().join("device.zip");
    let out = dev_cli.run(&[
        "package",
        "export",
        &s.a,
        "--out",
        dev_zip.to_str().expect("path"),
    ]);
    let answer = roadside_tests::cli::ok(&out);
    assert_eq!(answer["entries"], 2, "{answer}");
    assert_eq!(answer["media"], 1, "{answer}");
    let out = cli.run(&["verify", dev_zip.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dev_files = unzip(&std::fs::read(&dev_zip).expect("read"));
    for path in dev_files
        .keys()
        .filter(|p| p.starts_with("entries/") || p.starts_with("media/"))
    {
        assert_eq!(
            dev_files[path], files[path],
            "{path} differs between device and server"
        );
    }
}

#[test]
fn sqlite_and_local_media_package_verifies_and_every_change_fails() {
    exercise(&scene(&[]));
}

#[test]
fn postgres_and_s3_package_verifies_and_every_change_fails() {
    let Some(url) = backends::postgres_admin_url() else {
        return;
    };
    let Some(s3) = backends::s3_store() else {
        return;
    };
    let name = format!("package_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        drop(client);
        let _ = task.await;
    });
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let mut env = vec![(
        "ROADSIDE_DATABASE_URL".to_string(),
        format!("{base}/{name}"),
    )];
    env.extend(s3.server_env(&name));
    exercise(&scene(&env));
}

/// One package, verified once, then changed by one byte at proptest's choice.
fn fixture() -> &'static Files {
    static FILES: std::sync::OnceLock<(Scene, Files)> = std::sync::OnceLock::new();
    &FILES
        .get_or_init(|| {
            let s = scene(&[]);
            let token = s.server.admin_token();
            let (status, zip) = download(&s.server, Some(&token), &s.a);
            assert_eq!(status, 200);
            let files = unzip(&zip);
            (s, files)
        })
        .1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_flipped_anywhere_fails(file in any::<prop::sample::Index>(), byte in any::<prop::sample::Index>(), bit in 0u8..8) {
        let files = fixture();
        let paths: Vec<&String> = files.keys().collect();
        let path = paths[file.index(paths.len())].clone();
        let mut changed = files.clone();
        let data = changed.get_mut(&path).expect("file");
        let at = byte.index(data.len());
        data[at] ^= 1 << bit;
        let report = check(&changed);
        prop_assert!(!report.ok, "flipping bit {} of byte {} of {} went unnoticed", bit, at, path);
        if path != format::MANIFEST {
            prop_assert!(report.failures().any(|c| c.file == path && c.check == "file.sha256"));
        }
    }
}
