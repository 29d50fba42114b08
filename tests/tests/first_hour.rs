//! What a newcomer with only the README meets first: the server's start-up banner (on stdout
//! whatever the log level) whose commands work as printed — also after a restart, when the admin
//! password and the demo enrolment code are read from their files in the data directory — and the
//! CLI's argument errors in its JSON error format.

use std::path::Path;
use std::process::{Command, Output};

use roadside_tests::*;
use serde_json::Value;

/// The banner's command that starts on the line containing `start` (with its `\`-continued
/// lines).
fn command_at(banner: &str, start: &str) -> String {
    let mut lines = banner.lines().skip_while(|l| !l.contains(start));
    let mut cmd = String::new();
    for line in lines.by_ref() {
        cmd.push_str(line.trim());
        cmd.push('\n');
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    assert!(!cmd.is_empty(), "no `{start}` in the banner:\n{banner}");
    cmd
}

/// Run shell text as a POSIX shell would when pasted, `roadside` being the CLI binary.
fn sh(text: &str, dir: &Path) -> Output {
    let script = format!(
        "set -e\nroadside() {{ '{}' \"$@\"; }}\n{text}",
        cli_bin().display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_remove("ROADSIDE_DB_KEY")
        .env_remove("ROADSIDE_DATA")
        .env_remove("ROADSIDE_SERVER")
        .output()
        .expect("run sh")
}

fn start_quiet(dir: &Path) -> ServerProcess {
    ServerProcess::start_with(
        dir,
        "127.0.0.1:0",
        &[("RUST_LOG".to_string(), "error".to_string())],
    )
}

#[test]
fn the_banner_is_on_stdout_and_its_commands_work_as_printed_after_a_restart() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start_quiet(data.path());
    let first = server.banner.clone();
    let code_file = data.path().join("demo-enrolment-code.txt");
    let code = std::fs::read_to_string(&code_file).expect("the demo enrolment code is kept");
    let code = code.trim();
    assert!(
        first.contains(&format!("--code={code}")),
        "the banner shows `roadside enrol` with the code:\n{first}"
    );
    assert!(first.contains(&code_file.display().to_string()), "{first}");
    assert!(
        !first.contains("devices/enrol"),
        "no raw curl to enrol:\n{first}"
    );
    assert!(first.contains(&server.url("/api/v1/log/key")), "{first}");
    let (status, key) = call("GET", &server.url("/api/v1/log/key"), None, None);
    assert_eq!(status, 200, "{key}");
    drop(server);

    // After a restart the secrets come from their files, read by the shell where it expands them.
    let server = start_quiet(data.path());
    let banner = server.banner.clone();
    assert!(banner.contains("$(cat '"), "{banner}");
    let work = tempfile::tempdir().expect("tempdir");
    let sign_in = command_at(&banner, "/api/v1/sessions");
    let out = sh(&sign_in, work.path());
    assert!(out.status.success(), "{sign_in}: {out:?}");
    let answer: Value = serde_json::from_slice(&out.stdout).expect("the sign-in answer is JSON");
    assert!(answer["token"].is_string(), "signed in: {answer}");

    let init = command_at(&banner, "roadside --data ./dev init");
    let enrol = command_at(&banner, "roadside --data ./dev enrol");
    assert!(enrol.contains(&server.base), "{enrol}");
    let out = sh(&format!("{init}{enrol}"), work.path());
    assert!(
        out.status.success(),
        "{init}{enrol}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(work.path().join("dev").is_dir());

    // The README's example record validates and opens a case on the demo device.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/record-example.json");
    let out = sh(
        &format!(
            "roadside --data ./dev validate --json '{0}'\nroadside --data ./dev case new --json '{0}'\nroadside --data ./dev demo seed --cases 2",
            example.display()
        ),
        work.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("{\"issues\":[],\"valid\":true}"), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "validate, case new and two seeded cases: {text}"
    );
}

/// Every argument error: one JSON line `{code, message}` on stderr (a stable code, a Chinese
/// message), nothing on stdout, exit status 2; help is not an error.
#[test]
fn argument_errors_are_json_with_a_stable_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        Command::new(cli_bin())
            .args(args)
            .current_dir(dir.path())
            .env_remove("ROADSIDE_DATA")
            .env_remove("ROADSIDE_SERVER")
            .env_remove("ROADSIDE_DURABILITY")
            .output()
            .expect("run roadside")
    };
    for (args, code) in [
        (&["--bogus"][..], "CLI_ARGUMENT_UNKNOWN"),
        (&["nope"][..], "CLI_COMMAND_UNKNOWN"),
        (&["case"][..], "CLI_COMMAND_MISSING"),
        (
            &["enrol", "--server", "http://127.0.0.1:1"][..],
            "CLI_ARGUMENT_MISSING",
        ),
        (
            &["--durability", "sometimes", "status"][..],
            "CLI_ARGUMENT_INVALID",
        ),
        (
            &["demo", "seed", "--cases", "many"][..],
            "CLI_ARGUMENT_INVALID",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(text.lines().count(), 1, "{args:?}: one line: {text}");
        let body: Value = serde_json::from_str(&text).expect("the error is JSON");
        assert_eq!(body["code"], code, "{args:?}: {body}");
        let message = body["message"].as_str().expect("message");
        assert!(
            message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{args:?}: a Chinese message: {message}"
        );
    }
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("enrol"));
}
