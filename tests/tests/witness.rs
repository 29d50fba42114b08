//! The log's witnesses, against a witness nobody here wrote: `litewitness` of the Go module
//! `filippo.io/torchwood` (C2SP tlog-witness), unmodified, at the version
//! `scripts/witness-tools.sh` pins, with a fresh Ed25519 key in its own ssh-agent and the log's
//! key registered with `witnessctl`. The real server submits its checkpoints to it; the real core's
//! sync client checks them against the witness policy of its agency's signed bundle.
//!
//! - Cosignatures are collected from the witness, verified, stored and served on the checkpoint,
//!   which a verifier that knows only the log key still reads.
//! - A device whose bundle requires 1 witness refuses a checkpoint without a cosignature
//!   (`CHECKPOINT_NOT_WITNESSED`, nothing pushed) and accepts the cosigned one once the witness is
//!   back.
//! - A checkpoint published while the witness was away is submitted by the server after a restart
//!   (the submission state is the database's).
//! - A second server with the same log key and origin but other entries (a rewritten log) is
//!   refused by the witness, and reports it (`WITNESS_SPLIT_VIEW` at `/api/v1/log/witnesses` and
//!   in `roadside_witness_alarms`).
//!
//! The tools come from `ROADSIDE_LITEWITNESS_DIR` (`eval "$(scripts/witness-tools.sh)"`); without
//! them the tests are skipped locally and fail under CI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use roadside_core::sync::SyncOptions;
use roadside_core::witness::{self, WitnessKey, WitnessPolicy};
use roadside_tests::{call, enrol, sync, Device, ServerProcess};
use serde_json::Value;

const OFFICER: &str = "QH6325000101";
const ORIGIN: &str = "roadside.test/witnessed-log";
const WITNESS: &str = "witness.test/litewitness";

/// The directory holding `litewitness` and `witnessctl`, or `None` (the test is skipped locally).
fn tools() -> Option<PathBuf> {
    let found = std::env::var_os("ROADSIDE_LITEWITNESS_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("litewitness").is_file() && d.join("witnessctl").is_file());
    roadside_tests::backends::required(
        "litewitness (ROADSIDE_LITEWITNESS_DIR)",
        "eval \"$(scripts/witness-tools.sh)\"",
        found,
        roadside_tests::backends::under_ci(),
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A litewitness with its own key (in its own ssh-agent) and database.
struct LiteWitness {
    tools: PathBuf,
    dir: tempfile::TempDir,
    agent: Child,
    process: Option<Child>,
    fingerprint: String,
    port: u16,
    /// Its cosignature/v1 verifier key.
    vkey: String,
}

impl LiteWitness {
    fn new(tools: &Path) -> LiteWitness {
        // Short paths: a Unix socket's path is at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("lw")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let key = dir.path().join("key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f"])
            .arg(&key));
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
        let blob = base64::engine::general_purpose::STANDARD
            .decode(public.split_whitespace().nth(1).expect("key blob"))
            .expect("base64 blob");
        // The blob ends with the 32-byte Ed25519 public key.
        let raw: [u8; 32] = blob[blob.len() - 32..].try_into().expect("32 bytes");
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&raw).expect("Ed25519 key");
        let vkey = witness::verifier_key(WITNESS, &verifying);
        let fingerprint = run(Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(key.with_extension("pub")))
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string();
        let sock = dir.path().join("s");
        let agent = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        wait_until("ssh-agent's socket", Duration::from_secs(10), || {
            sock.exists()
        });
        run(Command::new("ssh-add")
            .env("SSH_AUTH_SOCK", &sock)
            .arg(&key)
            .stderr(Stdio::null()));
        LiteWitness {
            tools: tools.to_path_buf(),
            dir,
            agent,
            process: None,
            fingerprint,
            port: free_port(),
            vkey,
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("litewitness.db")
    }

    /// Register a log (origin and signed-note verifier key) with `witnessctl`.
    fn add_log(&self, origin: &str, log_vkey: &str) {
        run(Command::new(self.tools.join("witnessctl"))
            .arg("add-log")
            .arg("-db")
            .arg(self.db())
            .args(["-origin", origin]));
        run(Command::new(self.tools.join("witnessctl"))
            .arg("add-key")
            .arg("-db")
            .arg(self.db())
            .args(["-origin", origin, "-key", log_vkey]));
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's `ROADSIDE_WITNESSES` setting for this witness.
    fn setting(&self) -> String {
        format!("{} {}", self.vkey, self.url())
    }

    fn start(&mut self) {
        let child = Command::new(self.tools.join("litewitness"))
            .arg("-db")
            .arg(self.db())
            .args(["-name", WITNESS, "-key", &self.fingerprint])
            .arg("-ssh-agent")
            .arg(self.dir.path().join("s"))
            .args(["-listen", &format!("127.0.0.1:{}", self.port)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("litewitness");
        self.process = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait_until("litewitness to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Drop for LiteWitness {
    fn drop(&mut self) {
        self.stop();
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

/// A log key shared by the servers of a test: (private, verifier).
fn log_key() -> (String, String) {
    signed_note::generate_key(&mut rand_core::OsRng, ORIGIN)
}

fn start_server(data: &Path, skey: &str, lw: &LiteWitness) -> ServerProcess {
    ServerProcess::start_with(
        data,
        "127.0.0.1:0",
        &[
            ("ROADSIDE_LOG_ORIGIN".to_string(), ORIGIN.to_string()),
            ("ROADSIDE_LOG_KEY".to_string(), skey.to_string()),
            ("ROADSIDE_WITNESSES".to_string(), lw.setting()),
            ("ROADSIDE_WITNESS_QUORUM".to_string(), "1".to_string()),
            ("ROADSIDE_AUDIT_INTERVAL_SECS".to_string(), "0".to_string()),
        ],
    )
}

fn checkpoint(server: &ServerProcess) -> String {
    reqwest::blocking::get(server.url("/log/checkpoint"))
        .expect("checkpoint")
        .text()
        .expect("text")
}

fn witnesses(server: &ServerProcess) -> Value {
    let (status, body) = call("GET", &server.url("/api/v1/log/witnesses"), None, None);
    assert_eq!(status, 200, "{body}");
    body
}

fn metrics(server: &ServerProcess) -> String {
    reqwest::blocking::get(server.url("/metrics"))
        .expect("metrics")
        .text()
        .expect("text")
}

fn policy(lw: &LiteWitness) -> WitnessPolicy {
    WitnessPolicy::new(1, &[WitnessKey::parse(&lw.vkey).expect("witness key")]).expect("policy")
}

/// Whether the newest checkpoint served carries the witness's valid cosignature.
fn cosigned(server: &ServerProcess, lw: &LiteWitness) -> bool {
    witness::check_policy(&checkpoint(server), &policy(lw)).is_ok()
}

fn quick() -> SyncOptions {
    SyncOptions {
        retry_attempts: 3,
        retry_base_ms: 5,
        retry_max_ms: 100,
        request_timeout_secs: 30,
        upload_media: false,
        ..SyncOptions::default()
    }
}

#[test]
fn cosignatures_of_a_real_witness_are_collected_served_and_required_by_devices() {
    let Some(tools) = tools() else { return };
    let (skey, vkey) = log_key();
    let mut lw = LiteWitness::new(&tools);
    lw.add_log(ORIGIN, &vkey);
    lw.start();
    let data = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(data.path(), &skey, &lw);

    // The first sync pushes three cases and pulls the bundle, whose policy requires the witness.
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    dev.capture_cases(3);
    sync(&dev.store, &quick()).expect("first sync");
    assert_eq!(server.log_size(), 3);

    // The server submitted the checkpoint to the witness in the background and serves it cosigned.
    wait_until("the witness's cosignature", Duration::from_secs(60), || {
        cosigned(&server, &lw)
    });
    let note = checkpoint(&server);
    assert!(note.starts_with(&format!("{ORIGIN}\n3\n")), "{note}");
    assert!(note.contains(&format!("\u{2014} {WITNESS} ")), "{note}");
    // A verifier that knows only the log key (signed_note, like Go's sumdb/note) still reads it:
    // the witness's line is an unknown signature, ignored.
    let parsed = signed_note::Note::from_bytes(note.as_bytes()).expect("signed note");
    let log_verifier = signed_note::StandardVerifier::new(&vkey).expect("log key");
    let (verified, unverified) = parsed
        .verify(&signed_note::VerifierList::new(vec![Box::new(
            log_verifier,
        )]))
        .expect("log signature");
    assert_eq!((verified.len(), unverified.len()), (1, 1));
    let status = witnesses(&server);
    assert_eq!(status["quorum"], 1);
    assert_eq!(status["witnesses"][0]["name"], WITNESS);
    assert_eq!(status["witnesses"][0]["cosigned_size"], 3);
    assert_eq!(status["alarms"], Value::Array(Vec::new()));
    let m = metrics(&server);
    assert!(
        m.contains(&format!(
            "roadside_witness_cosignatures_total{{witness=\"{WITNESS}\"}}"
        )),
        "{m}"
    );
    assert!(m.contains("roadside_witness_alarms 0"), "{m}");

    // With the policy held, the device accepts the cosigned checkpoint, and pushes more.
    dev.capture_cases(2);
    sync(&dev.store, &quick()).expect("sync with a cosigned checkpoint");
    assert_eq!(dev.store.outbox_len().expect("outbox"), 0);
    wait_until("the cosignature of size 5", Duration::from_secs(60), || {
        cosigned(&server, &lw) && server.log_size() == 5
    });

    // The witness goes away; the next push makes a checkpoint nobody cosigned.
    lw.stop();
    dev.capture_cases(1);
    sync(&dev.store, &quick()).expect("the checkpoint at the start was cosigned");
    assert_eq!(server.log_size(), 6);
    assert!(!cosigned(&server, &lw));
    dev.capture_cases(1);
    let err = sync(&dev.store, &quick()).expect_err("an unwitnessed checkpoint");
    assert_eq!(err.code(), "CHECKPOINT_NOT_WITNESSED", "{err:?}");
    assert!(err.message().contains(WITNESS), "{}", err.message());
    // Nothing was pushed, nothing dropped.
    assert_eq!(dev.store.outbox_len().expect("outbox"), 1);
    assert_eq!(server.log_size(), 6);
    let status = roadside_core::sync::status(&dev.store).expect("status");
    assert!(status
        .last_error
        .expect("last error")
        .starts_with("CHECKPOINT_NOT_WITNESSED"));

    // The witness is back: the server's retries reach it, and the device accepts again.
    lw.start();
    wait_until(
        "the cosignature of size 6",
        Duration::from_secs(360),
        || cosigned(&server, &lw),
    );
    sync(&dev.store, &quick()).expect("sync once the witness cosigned");
    assert_eq!(dev.store.outbox_len().expect("outbox"), 0);
    assert_eq!(server.log_size(), 7);

    // A checkpoint published while the witness is away, then the server killed: the restarted
    // server submits it from what its database holds.
    lw.stop();
    dev.capture_cases(1);
    sync(&dev.store, &quick()).expect("push while the witness is away");
    assert_eq!(server.log_size(), 8);
    assert!(!cosigned(&server, &lw));
    server.kill();
    lw.start();
    let restarted = start_server(data.path(), &skey, &lw);
    wait_until(
        "the restarted server's catch-up",
        Duration::from_secs(60),
        || cosigned(&restarted, &lw),
    );
    assert_eq!(restarted.log_size(), 8);
    assert_eq!(witnesses(&restarted)["witnesses"][0]["cosigned_size"], 8);
}

#[test]
fn a_server_that_rewrote_its_log_is_refused_by_the_witness_and_reports_it() {
    let Some(tools) = tools() else { return };
    let (skey, vkey) = log_key();
    let mut lw = LiteWitness::new(&tools);
    lw.add_log(ORIGIN, &vkey);
    lw.start();

    // The honest log: three entries, cosigned.
    let data_a = tempfile::tempdir().expect("tempdir");
    let honest = start_server(data_a.path(), &skey, &lw);
    let dev_a = Device::new();
    enrol(&dev_a.store, &honest.base, &honest.enrolment_code(OFFICER));
    dev_a.capture_cases(3);
    sync(&dev_a.store, &quick()).expect("sync with the honest server");
    wait_until(
        "the honest checkpoint's cosignature",
        Duration::from_secs(60),
        || cosigned(&honest, &lw),
    );

    // Another database under the same log key and origin: a tree of the same size with other
    // entries, as a log rewritten behind the witness's back would be.
    let data_b = tempfile::tempdir().expect("tempdir");
    let rewritten = start_server(data_b.path(), &skey, &lw);
    let dev_b = Device::new();
    enrol(
        &dev_b.store,
        &rewritten.base,
        &rewritten.enrolment_code(OFFICER),
    );
    dev_b.capture_cases(3);
    sync(&dev_b.store, &quick()).expect("sync with the other server");
    assert_eq!(rewritten.log_size(), 3);
    assert_ne!(
        checkpoint(&honest).lines().nth(2),
        checkpoint(&rewritten).lines().nth(2),
        "two different trees of the same size"
    );

    // The witness refuses it (409 with size 3, then 422 on the proof from 3): the server reports
    // a split view and asks that witness no more.
    wait_until("the split-view alarm", Duration::from_secs(60), || {
        witnesses(&rewritten)["alarms"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let status = witnesses(&rewritten);
    let alarm = &status["alarms"][0];
    assert_eq!(alarm["code"], "WITNESS_SPLIT_VIEW", "{status}");
    assert_eq!(alarm["witness"], WITNESS);
    assert_eq!(alarm["size"], 3);
    assert_eq!(alarm["witness_size"], 3);
    assert!(
        alarm["checkpoint"]
            .as_str()
            .is_some_and(|c| c.starts_with(&format!("{ORIGIN}\n3\n"))),
        "{alarm}"
    );
    assert!(alarm["message"]
        .as_str()
        .is_some_and(|m| m.contains("分叉视图")));
    assert_eq!(status["witnesses"][0]["halted"], true);
    assert!(status["witnesses"][0]["last_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("WITNESS_SPLIT_VIEW")));
    assert!(metrics(&rewritten).contains("roadside_witness_alarms 1"));
    assert!(!cosigned(&rewritten, &lw));

    // Its devices, whose bundle requires the witness, refuse its checkpoint.
    let err = sync(&dev_b.store, &quick()).expect_err("unwitnessed log");
    assert_eq!(err.code(), "CHECKPOINT_NOT_WITNESSED", "{err:?}");

    // The honest server saw no alarm, and its checkpoint stays cosigned.
    let fine = witnesses(&honest);
    assert_eq!(fine["alarms"], Value::Array(Vec::new()), "{fine}");
    assert!(cosigned(&honest, &lw));
    sync(&dev_a.store, &quick()).expect("the honest log is still accepted");
}
