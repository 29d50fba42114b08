//! The `roadside` CLI as the tests run it: a process on one data directory, its database key given
//! (or not) through `ROADSIDE_DB_KEY`, nothing else taken from the caller's environment; JSON on
//! stdout when it succeeds, a JSON error on stderr when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// One CLI binary on one data directory.
pub struct Cli {
    bin: PathBuf,
    data: PathBuf,
    key_hex: Option<String>,
}

impl Cli {
    /// `bin` on `data`, without a database key (the CLI then uses its key file).
    pub fn new(bin: impl Into<PathBuf>, data: &Path) -> Cli {
        Cli {
            bin: bin.into(),
            data: data.to_path_buf(),
            key_hex: None,
        }
    }

    /// With `ROADSIDE_DB_KEY` set to `key_hex`.
    pub fn key(mut self, key_hex: &str) -> Cli {
        self.key_hex = Some(key_hex.to_string());
        self
    }

    /// The command for `args`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("ROADSIDE_DATA")
            .env_remove("ROADSIDE_SERVER");
        match &self.key_hex {
            Some(k) => c.env("ROADSIDE_DB_KEY", k),
            None => c.env_remove("ROADSIDE_DB_KEY"),
        };
        c
    }

    /// Run `args` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run roadside")
    }
}

/// A successful run's JSON answer on stdout.
pub fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "roadside failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// A failed run's JSON error on stderr.
pub fn err(out: &Output) -> Value {
    assert!(!out.status.success(), "expected a failure");
    serde_json::from_slice(&out.stderr).expect("stderr is JSON")
}
