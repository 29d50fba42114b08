//! tus 1.0 conformance with clients nobody here wrote: stock `tuspy` (PyPI) and `tus-js-client`
//! (npm), unmodified, at the versions `scripts/tus-clients.sh` pins, upload evidence to a real
//! server over HTTP: a whole upload, a client killed mid-upload that resumes from its stored URL, a
//! client that lost its URL while the server still has its unfinished upload, the checksum
//! extension (tuspy's sha1), termination, and a file the server already holds.
//!
//! The clients live under `ROADSIDE_TUS_CLIENTS` (`eval "$(scripts/tus-clients.sh)"`); without it a
//! variant is skipped locally and fails under CI. Each test on SQLite and PostgreSQL
//! (`ROADSIDE_TEST_PG_URL`), media in the local directory.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;
use reqwest::Method;
use tokio::io::{AsyncBufReadExt, BufReader};

backend_tests!(db:
    both_clients_upload_a_declared_file,
    a_client_killed_mid_upload_resumes_from_its_stored_url,
    a_client_that_lost_its_url_continues_the_servers_unfinished_upload,
    tuspys_sha1_checksums_are_checked,
    tus_js_client_terminates_its_upload,
    a_file_the_server_already_holds_completes_at_once,
);

/// The stock clients' installation, or `None` (the variant is skipped locally).
fn clients() -> Option<PathBuf> {
    let found = std::env::var_os("ROADSIDE_TUS_CLIENTS")
        .map(PathBuf::from)
        .filter(|d| {
            d.join("venv/bin/python").exists() && d.join("node/node_modules/tus-js-client").exists()
        });
    roadside_tests::backends::required(
        "the stock tus clients (ROADSIDE_TUS_CLIENTS)",
        "eval \"$(scripts/tus-clients.sh)\"",
        found,
        roadside_tests::backends::under_ci(),
    )
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Tuspy,
    TusJs,
}

const BOTH: [Client; 2] = [Client::Tuspy, Client::TusJs];

/// A file on disk, declared as evidence by the site's device.
struct File {
    path: PathBuf,
    bytes: Vec<u8>,
    sha: String,
    _dir: tempfile::TempDir,
}

async fn declared_file(m: &mut MediaSite, len: usize, seed: u8) -> File {
    let bytes = bytes_of(len, seed);
    let sha = sha_hex(&bytes);
    m.dev
        .declare(&m.s, &TWO_OFFICERS, &[(&sha, len as u64)])
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evidence.mp4");
    std::fs::write(&path, &bytes).expect("write the file");
    File {
        path,
        bytes,
        sha,
        _dir: dir,
    }
}

/// The command that runs `client` on `file` with extra arguments.
fn command(
    tools: &Path,
    client: Client,
    m: &MediaSite,
    file: &File,
    extra: &[String],
) -> tokio::process::Command {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tus_clients");
    let mut c = match client {
        Client::Tuspy => {
            // Options first, then `--`: a token may start with `-`, which argparse would take
            // for an option.
            let mut c = tokio::process::Command::new(tools.join("venv/bin/python"));
            c.arg(scripts.join("tuspy_client.py")).args(extra).arg("--");
            c
        }
        Client::TusJs => {
            let mut c = tokio::process::Command::new("node");
            c.arg(scripts.join("tus_js_client.js"))
                .env("NODE_PATH", tools.join("node/node_modules"));
            c
        }
    };
    c.arg(m.s.url("/api/v1/media"))
        .arg(&m.dev.token)
        .arg(&file.path)
        .arg(&file.sha);
    if matches!(client, Client::TusJs) {
        // Positional by place, the options after them.
        c.args(extra);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Run a client to its end: its exit status and its output lines.
async fn run(
    tools: &Path,
    client: Client,
    m: &MediaSite,
    file: &File,
    extra: &[String],
) -> (bool, Vec<String>) {
    let out = command(tools, client, m, file, extra)
        .output()
        .await
        .expect("run the client");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    eprintln!(
        "{client:?} {extra:?}: {lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), lines)
}

/// Run a client until it says `stalled` (after `at` bytes are acknowledged), then kill it.
async fn run_and_kill(
    tools: &Path,
    client: Client,
    m: &MediaSite,
    file: &File,
    store: &Path,
    at: usize,
) {
    let mut extra = args(&["--store", &store.display().to_string()]);
    extra.extend(args(&["--chunk", "1048576", "--stall-at", &at.to_string()]));
    if matches!(client, Client::Tuspy) {
        extra.extend(args(&["--retries", "2"]));
    }
    let mut child = command(tools, client, m, file, &extra)
        .spawn()
        .expect("start the client");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next_line().await.expect("read the client") {
            Some(l) if l.starts_with("stalled") => break,
            Some(l) => seen.push(l),
            None => panic!("{client:?} ended before it stalled: {seen:?}"),
        }
    }
    child.kill().await.expect("kill the client");
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

/// Media bytes the server has recorded so far (its metric).
async fn bytes_received(m: &MediaSite) -> u64 {
    m.s.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("roadside_media_upload_bytes_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn assert_stored(m: &MediaSite, file: &File) {
    let (status, got) = get_object(&m.s, &m.dev.token, &file.sha).await;
    assert_eq!(status, 200, "the server holds {}", file.sha);
    assert!(got == file.bytes, "the stored bytes equal the file");
}

/// Each client uploads a declared file in 1 MiB chunks; the server stores exactly its bytes.
async fn both_clients_upload_a_declared_file(db: Db) {
    let Some(tools) = clients() else { return };
    for (i, client) in BOTH.into_iter().enumerate() {
        let mut m = MediaSite::on(&db, &Objects::Local).await;
        let file = declared_file(&mut m, 3 * 1024 * 1024 + 4321, 10 + i as u8).await;
        let (ok, lines) = run(&tools, client, &m, &file, &args(&["--chunk", "1048576"])).await;
        assert!(ok, "{client:?}: {lines:?}");
        assert!(last(&lines).starts_with("done "), "{client:?}: {lines:?}");
        assert_stored(&m, &file).await;
        assert_eq!(
            bytes_received(&m).await,
            file.bytes.len() as u64,
            "{client:?} sent each byte once"
        );
        m.s.stop().await;
    }
}

/// A client killed after 2 MiB of 5 is started again: it finds its URL in its store, asks the
/// offset and sends only the rest.
async fn a_client_killed_mid_upload_resumes_from_its_stored_url(db: Db) {
    let Some(tools) = clients() else { return };
    for (i, client) in BOTH.into_iter().enumerate() {
        let mut m = MediaSite::on(&db, &Objects::Local).await;
        let file = declared_file(&mut m, 5 * 1024 * 1024 + 17, 20 + i as u8).await;
        let store = tempfile::tempdir().expect("tempdir");
        let store = store.path().join("urls.json");
        run_and_kill(&tools, client, &m, &file, &store, 2 * 1024 * 1024).await;
        let sent_before = bytes_received(&m).await;
        assert_eq!(
            sent_before,
            2 * 1024 * 1024,
            "{client:?} was killed after 2 MiB"
        );
        let mut extra = args(&[
            "--store",
            &store.display().to_string(),
            "--chunk",
            "1048576",
        ]);
        if matches!(client, Client::Tuspy) {
            extra.extend(args(&["--retries", "2"]));
        }
        let (ok, lines) = run(&tools, client, &m, &file, &extra).await;
        assert!(ok, "{client:?}: {lines:?}");
        assert!(
            lines[0].starts_with("resumed "),
            "{client:?} resumed: {lines:?}"
        );
        assert!(last(&lines).starts_with("done "), "{client:?}: {lines:?}");
        assert_stored(&m, &file).await;
        assert_eq!(
            bytes_received(&m).await,
            file.bytes.len() as u64,
            "{client:?} never sent a byte twice"
        );
        m.s.stop().await;
    }
}

/// A client killed after 2 MiB, started again without its URL store: creation answers 201 with
/// the server's unfinished upload; the client's first PATCH (from 0) gets 409 with the server's
/// offset, and its stock retry asks the offset (HEAD) and continues from there.
async fn a_client_that_lost_its_url_continues_the_servers_unfinished_upload(db: Db) {
    let Some(tools) = clients() else { return };
    for (i, client) in BOTH.into_iter().enumerate() {
        let mut m = MediaSite::on(&db, &Objects::Local).await;
        let file = declared_file(&mut m, 5 * 1024 * 1024 + 99, 30 + i as u8).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("urls.json");
        run_and_kill(&tools, client, &m, &file, &store, 2 * 1024 * 1024).await;
        let lost = dir.path().join("new-urls.json");
        let mut extra = args(&["--store", &lost.display().to_string(), "--chunk", "1048576"]);
        if matches!(client, Client::Tuspy) {
            extra.extend(args(&["--retries", "2"]));
        }
        let (ok, lines) = run(&tools, client, &m, &file, &extra).await;
        assert!(ok, "{client:?}: {lines:?}");
        assert!(
            !lines[0].starts_with("resumed "),
            "{client:?} had no URL: {lines:?}"
        );
        assert!(last(&lines).starts_with("done "), "{client:?}: {lines:?}");
        assert_stored(&m, &file).await;
        // The 409 refused the first resent chunk before its bytes were kept: only the rest was
        // recorded, so the server holds each byte once.
        assert_eq!(
            bytes_received(&m).await,
            file.bytes.len() as u64,
            "{client:?}: the server kept each byte once"
        );
        m.s.stop().await;
    }
}

/// tuspy's checksum mode (Upload-Checksum: sha1, the algorithm the extension requires) uploads
/// the file, each chunk checked.
async fn tuspys_sha1_checksums_are_checked(db: Db) {
    let Some(tools) = clients() else { return };
    let mut m = MediaSite::on(&db, &Objects::Local).await;
    let opts = tus(&m.s, Method::OPTIONS, "/api/v1/media", None, &[], None).await;
    assert!(header(&opts.headers, "tus-checksum-algorithm")
        .split(',')
        .any(|a| a == "sha1"));
    let file = declared_file(&mut m, 2 * 1024 * 1024 + 5, 40).await;
    let (ok, lines) = run(
        &tools,
        Client::Tuspy,
        &m,
        &file,
        &args(&["--chunk", "524288", "--checksum"]),
    )
    .await;
    assert!(ok, "{lines:?}");
    assert!(last(&lines).starts_with("done "), "{lines:?}");
    assert_stored(&m, &file).await;
    m.s.stop().await;
}

/// tus-js-client aborts with termination after 1 MiB: the upload and its bytes are gone (HEAD
/// 404) and nothing is stored.
async fn tus_js_client_terminates_its_upload(db: Db) {
    let Some(tools) = clients() else { return };
    let mut m = MediaSite::on(&db, &Objects::Local).await;
    let file = declared_file(&mut m, 3 * 1024 * 1024, 50).await;
    let (ok, lines) = run(
        &tools,
        Client::TusJs,
        &m,
        &file,
        &args(&["--chunk", "1048576", "--terminate-at", "1048576"]),
    )
    .await;
    assert!(ok, "{lines:?}");
    let url = last(&lines)
        .strip_prefix(&format!("terminated {}", m.s.url("")))
        .unwrap_or_else(|| panic!("terminated: {lines:?}"))
        .to_string();
    let r = tus(
        &m.s,
        Method::HEAD,
        &url,
        Some(&m.dev.token),
        &[("Tus-Resumable", TUS.into())],
        None,
    )
    .await;
    assert_eq!(r.status, 404, "the terminated upload is gone");
    let (status, _) = get_object(&m.s, &m.dev.token, &file.sha).await;
    assert_eq!(status, 404, "nothing is stored");
    m.s.stop().await;
}

/// A file the server already holds: creation answers 201 with the complete upload; each client
/// learns the offset (= length) and reports success without sending the file again.
async fn a_file_the_server_already_holds_completes_at_once(db: Db) {
    let Some(tools) = clients() else { return };
    let mut m = MediaSite::on(&db, &Objects::Local).await;
    let file = declared_file(&mut m, 2 * 1024 * 1024 + 1, 60).await;
    let (ok, lines) = run(
        &tools,
        Client::TusJs,
        &m,
        &file,
        &args(&["--chunk", "1048576"]),
    )
    .await;
    assert!(ok && last(&lines).starts_with("done "), "{lines:?}");
    let once = bytes_received(&m).await;
    assert_eq!(once, file.bytes.len() as u64);
    for client in BOTH {
        let mut extra = args(&["--chunk", "1048576"]);
        if matches!(client, Client::Tuspy) {
            extra.extend(args(&["--retries", "2"]));
        }
        let (ok, lines) = run(&tools, client, &m, &file, &extra).await;
        assert!(ok, "{client:?}: {lines:?}");
        let done = last(&lines);
        assert_eq!(
            done,
            format!(
                "done {} {}",
                m.s.url(&format!("/api/v1/media/uploads/{}", file.sha)),
                file.bytes.len()
            ),
            "{client:?}: {lines:?}"
        );
        assert_eq!(
            bytes_received(&m).await,
            once,
            "{client:?} sent nothing again"
        );
    }
    assert_stored(&m, &file).await;
    m.s.stop().await;
}
