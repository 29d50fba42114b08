//! `roadside enrol`, `roadside sync`, `roadside status` against the real server binary.

use std::path::Path;
use std::process::Output;

use roadside_tests::cli::{ok, Cli};
use roadside_tests::ServerProcess;
use serde_json::Value;

const KEY_HEX: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn roadside(data: &Path, args: &[&str]) -> Output {
    Cli::new(env!("CARGO_BIN_EXE_roadside"), data)
        .key(KEY_HEX)
        .run(args)
}

#[test]
fn enrol_sync_status() {
    let server_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(server_dir.path(), "127.0.0.1:0");
    let dev = tempfile::tempdir().unwrap();
    ok(&roadside(dev.path(), &["init", "--demo-roster"]));

    // Not enrolled yet: status says so, sync refuses with a code.
    let status = ok(&roadside(dev.path(), &["status"]));
    assert!(status["enrolment"].is_null());
    let out = roadside(dev.path(), &["sync", "--quiet"]);
    assert!(!out.status.success());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "NOT_ENROLLED");

    // A code that begins with `-` is read as the code, not as an option:
    // the server answers about the code, the CLI does not refuse the argument.
    let hyphen = roadside(
        dev.path(),
        &[
            "enrol",
            "--server",
            &server.base,
            "--code",
            "-Inotacode00000000",
        ],
    );
    assert!(!hyphen.status.success());
    let err: Value = serde_json::from_slice(&hyphen.stderr).unwrap();
    assert_ne!(err["code"], "CLI_ARGUMENT_UNKNOWN", "{err}");

    let code = server.enrolment_code("QH6325000101");
    let enrolled = ok(&roadside(
        dev.path(),
        &["enrol", "--server", &server.base, "--code", &code],
    ));
    assert_eq!(enrolled["agency"], "632500");
    let again = roadside(
        dev.path(),
        &["enrol", "--server", &server.base, "--code", &code],
    );
    let err: Value = serde_json::from_slice(&again.stderr).unwrap();
    assert_eq!(err["code"], "ALREADY_ENROLLED");

    // One JSON line per case.
    let seeded = roadside(dev.path(), &["demo", "seed", "--cases", "25"]);
    assert!(seeded.status.success());
    assert_eq!(String::from_utf8_lossy(&seeded.stdout).lines().count(), 25);
    assert_eq!(ok(&roadside(dev.path(), &["status"]))["outbox_len"], 25);
    let report = ok(&roadside(dev.path(), &["sync", "--batch-size", "10"]));
    assert_eq!(report["receipts"], 25, "{report}");
    assert_eq!(report["outbox_left"], 0);
    let status = ok(&roadside(dev.path(), &["status"]));
    assert_eq!(status["outbox_len"], 0);
    assert_eq!(status["receipts"], 25);
    assert_eq!(status["last_checkpoint_size"], 25);
    assert!(status["last_sync_at"].is_string());
    assert!(status["last_error"].is_null());
}
