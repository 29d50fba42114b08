//! The optional backends and tools a test variant may need — a PostgreSQL server, an
//! S3-compatible store, `strace`, root — and the one rule for when one is not there: locally the
//! variant is skipped with a note on stderr; under CI (the `CI` variable set, as CI runners and
//! `scripts/test-all.sh`'s callers set it) it fails, so a missing backend never passes silently.
//!
//! Used by the server's integration tests and by the end-to-end tests alike.

/// Whether the tests run under CI: `CI` is set (to anything).
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// The decision for one backend: `found` if it is configured; otherwise a panic naming it and how
/// to provide it under CI, or `None` with a printed note (the caller skips the variant).
pub fn required<T>(what: &str, how: &str, found: Option<T>, under_ci: bool) -> Option<T> {
    if found.is_some() {
        return found;
    }
    if under_ci {
        panic!("{what} is required under CI but not configured: {how}");
    }
    eprintln!("skipped: {what} not configured ({how})");
    None
}

/// A non-empty environment variable.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `ROADSIDE_TEST_PG_URL`: a PostgreSQL server the tests may create databases on.
pub fn postgres_admin_url() -> Option<String> {
    required(
        "PostgreSQL (ROADSIDE_TEST_PG_URL)",
        "scripts/pg-test-server.sh starts one and prints its URL",
        var("ROADSIDE_TEST_PG_URL"),
        under_ci(),
    )
}

/// An S3-compatible store from `ROADSIDE_TEST_S3_*` (only the URL is required: without an
/// endpoint or keys the store's own defaults apply).
#[derive(Clone, Debug)]
pub struct S3Store {
    /// `s3://bucket`: each test puts its objects under a prefix of its own below it.
    pub url: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: Option<String>,
}

impl S3Store {
    /// The server's environment for this store under `prefix` (`ROADSIDE_MEDIA_URL`,
    /// `ROADSIDE_S3_*`).
    pub fn server_env(&self, prefix: &str) -> Vec<(String, String)> {
        let mut env = vec![(
            "ROADSIDE_MEDIA_URL".to_string(),
            format!("{}/{prefix}", self.url),
        )];
        for (name, value) in [
            ("ROADSIDE_S3_ENDPOINT", &self.endpoint),
            ("ROADSIDE_S3_ACCESS_KEY_ID", &self.access_key_id),
            ("ROADSIDE_S3_SECRET_ACCESS_KEY", &self.secret_access_key),
            ("ROADSIDE_S3_REGION", &self.region),
        ] {
            if let Some(v) = value {
                env.push((name.to_string(), v.clone()));
            }
        }
        env
    }
}

/// The S3-compatible test store (`eval "$(scripts/s3-test-server.sh)"` sets its variables).
pub fn s3_store() -> Option<S3Store> {
    let found = var("ROADSIDE_TEST_S3_URL").map(|url| S3Store {
        url: url.trim_end_matches('/').to_string(),
        endpoint: var("ROADSIDE_TEST_S3_ENDPOINT"),
        access_key_id: var("ROADSIDE_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("ROADSIDE_TEST_S3_SECRET_ACCESS_KEY"),
        region: var("ROADSIDE_TEST_S3_REGION"),
    });
    required(
        "an S3-compatible store (ROADSIDE_TEST_S3_URL)",
        "eval \"$(scripts/s3-test-server.sh)\" starts one and sets ROADSIDE_TEST_S3_*",
        found,
        under_ci(),
    )
}

/// A condition a variant needs (a tool installed, running as root): true when `ok`; otherwise the
/// same rule as for a missing backend.
pub fn condition(what: &str, how: &str, ok: bool) -> bool {
    required(what, how, ok.then_some(()), under_ci()).is_some()
}

/// A tool on the PATH that answers `<name> -V`.
pub fn tool(name: &str) -> bool {
    let ok = std::process::Command::new(name)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    condition(name, "scripts/test-all.sh installs it", ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_backend_is_used() {
        assert_eq!(required("x", "y", Some(5), true), Some(5));
        assert_eq!(required("x", "y", Some(5), false), Some(5));
    }

    #[test]
    fn a_missing_backend_is_skipped_outside_ci() {
        assert_eq!(
            required::<String>("PostgreSQL", "start one", None, false),
            None
        );
    }

    #[test]
    #[should_panic(expected = "PostgreSQL is required under CI but not configured: start one")]
    fn a_missing_backend_fails_under_ci() {
        required::<String>("PostgreSQL", "start one", None, true);
    }

    /// Run by [`with_ci_and_no_postgres_url_a_postgres_variant_fails`] in a child process.
    #[test]
    #[ignore = "run in a child process with a chosen environment"]
    fn postgres_variant_probe() {
        if postgres_admin_url().is_some() {
            println!("probe: postgres configured");
        }
    }

    /// The whole path through the environment: the probe variant, run as its own process with
    /// `CI` set and no `ROADSIDE_TEST_PG_URL`, fails with the message; without `CI` it passes.
    #[test]
    fn with_ci_and_no_postgres_url_a_postgres_variant_fails() {
        let probe = |ci: bool| {
            let mut c = std::process::Command::new(std::env::current_exe().expect("test binary"));
            c.args([
                "--exact",
                "backends::tests::postgres_variant_probe",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_remove("ROADSIDE_TEST_PG_URL")
            .env_remove("CI");
            if ci {
                c.env("CI", "true");
            }
            c.output().expect("run the probe")
        };
        let failed = probe(true);
        let text = String::from_utf8_lossy(&failed.stdout).to_string()
            + &String::from_utf8_lossy(&failed.stderr);
        assert!(!failed.status.success(), "{text}");
        assert!(
            text.contains("PostgreSQL (ROADSIDE_TEST_PG_URL) is required under CI"),
            "{text}"
        );
        let skipped = probe(false);
        let text = String::from_utf8_lossy(&skipped.stderr).to_string();
        assert!(skipped.status.success(), "{text}");
        assert!(
            text.contains("skipped: PostgreSQL (ROADSIDE_TEST_PG_URL) not configured"),
            "{text}"
        );
    }
}
