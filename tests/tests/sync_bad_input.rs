//! Bad answers from the network: garbage, a truncated answer, a checkpoint signed by another key, a
//! clock far off, a bundle with a bad signature. Each gives a clear error code, leaves the outbox
//! intact, and a later sync against the real server succeeds.
//!
//! The device is enrolled through a proxy with the real server; the proxy is then pointed at a fake.

use base64::Engine;
use roadside_core::sync::{self, SyncOptions};
use roadside_tests::proxy::{FaultProxy, Faults};
use roadside_tests::*;

const OFFICER: &str = "QH6325000101";

fn quick() -> SyncOptions {
    SyncOptions {
        retry_attempts: 2,
        retry_base_ms: 5,
        retry_max_ms: 20,
        request_timeout_secs: 10,
        ..SyncOptions::default()
    }
}

struct Setup {
    _data: tempfile::TempDir,
    server: ServerProcess,
    proxy: FaultProxy,
    dev: Device,
}

fn setup(records: usize) -> Setup {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(data.path(), "127.0.0.1:0");
    let proxy = FaultProxy::start(server.addr, Faults::none(), 5);
    let dev = Device::new();
    enrol(&dev.store, &proxy.base(), &server.enrolment_code(OFFICER));
    dev.capture_cases(records);
    Setup {
        _data: data,
        server,
        proxy,
        dev,
    }
}

impl Setup {
    /// Point the proxy at a fake, sync, expect `code`; the outbox is intact; then the real server
    /// takes everything.
    fn expect_failure(
        &self,
        fake: std::net::SocketAddr,
        codes: &[&str],
    ) -> roadside_core::RoadsideError {
        let before = self.dev.store.outbox_len().unwrap();
        self.proxy.set_upstream(fake);
        let err = sync(&self.dev.store, &quick()).expect_err("the sync fails");
        assert!(codes.contains(&err.code()), "{err:?}");
        assert!(!err.message().is_empty());
        assert_eq!(
            self.dev.store.outbox_len().unwrap(),
            before,
            "outbox intact"
        );
        let status = sync::status(&self.dev.store).unwrap();
        assert!(status
            .last_error
            .as_deref()
            .unwrap()
            .starts_with(err.code()));
        assert!(status.log_alarms.is_empty());

        self.proxy.set_upstream(self.server.addr);
        let report = sync(&self.dev.store, &quick()).expect("retry later works");
        assert_eq!(report.outbox_left, 0);
        assert!(sync::status(&self.dev.store).unwrap().last_error.is_none());
        err
    }

    /// The real server's current checkpoint, for a fake to serve (an older one would be a log
    /// that shrank: `LOG_ROLLED_BACK`).
    fn note_answer(&self, date: Option<String>) -> Vec<u8> {
        let note = reqwest::blocking::get(self.server.url("/log/checkpoint"))
            .unwrap()
            .text()
            .unwrap();
        let mut headers = vec![("content-type", "text/plain".to_string())];
        if let Some(d) = date {
            headers.push(("date", d));
        }
        http_response("200 OK", &headers, note.as_bytes())
    }
}

#[test]
fn garbage_answers_are_a_clear_error_and_nothing_is_lost() {
    let s = setup(3);
    let fake = fake_server(|_, _| http_response("200 OK", &[], b"<html>not json</html>"));
    s.expect_failure(fake, &["CHECKPOINT_MALFORMED"]);

    // The checkpoint is fine, the push answer is garbage.
    s.dev.capture_cases(2);
    let note = s.note_answer(None);
    let fake = fake_server(move |_, path| {
        if path == "/log/checkpoint" {
            note.clone()
        } else {
            http_response("200 OK", &[], b"{\"results\": 12")
        }
    });
    s.expect_failure(fake, &["SERVER_ANSWER_INVALID"]);
}

#[test]
fn a_truncated_answer_is_retried_then_reported() {
    let s = setup(3);
    let note = s.note_answer(None);
    let fake = fake_server(move |_, path| {
        if path == "/log/checkpoint" {
            note.clone()
        } else {
            // Announces 5000 bytes, sends 40, closes.
            b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\ncontent-type: application/json\r\n\r\n{\"results\":[{\"hash\":\"00\",\"status\":\"acc"
                .to_vec()
        }
    });
    s.expect_failure(fake, &["NETWORK_TRUNCATED", "NETWORK_FAILED"]);
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let s = setup(3);
    let (skey, _) = signed_note::generate_key(&mut rand_core::OsRng, "roadside.local/log");
    let signer = signed_note::StandardSigner::new(&skey).unwrap();
    let cp =
        tlog_tiles::Checkpoint::new("roadside.local/log", 0, tlog_tiles::EMPTY_HASH, "").unwrap();
    let mut note = signed_note::Note::new(&cp.to_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let forged = note.to_bytes();
    let fake = fake_server(move |_, _| http_response("200 OK", &[], &forged));
    s.expect_failure(fake, &["CHECKPOINT_SIGNATURE"]);
}

#[test]
fn a_clock_far_off_is_recorded_and_warned() {
    let s = setup(2);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc2822();
    let note = s.note_answer(Some(future.replace("+0000", "GMT")));
    let fake = fake_server(move |_, path| {
        if path == "/log/checkpoint" {
            note.clone()
        } else {
            http_response(
                "503 Service Unavailable",
                &[("retry-after", "0".into())],
                b"{\"code\":\"OVERLOADED\",\"message\":\"busy\"}",
            )
        }
    });
    s.proxy.set_upstream(fake);
    let err = sync(&s.dev.store, &quick()).expect_err("server unavailable");
    assert_eq!(err.code(), "SERVER_UNAVAILABLE", "{err:?}");
    let status = sync::status(&s.dev.store).unwrap();
    let offset = status.clock_offset_secs.expect("offset recorded");
    assert!((3500..=3700).contains(&offset), "{offset}");
    assert!(status.clock_warning);
    assert_eq!(status.outbox_len, 2);
    // Against the real server the warning clears.
    s.proxy.set_upstream(s.server.addr);
    let report = sync(&s.dev.store, &quick()).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(!sync::status(&s.dev.store).unwrap().clock_warning);
}

#[test]
fn a_bundle_with_a_bad_signature_is_refused_and_kept_out() {
    let s = setup(0);
    let config = s.dev.store.sync_config().unwrap().unwrap();
    assert!(config.bundle_key.is_some(), "enrolment pins the bundle key");
    // The real manifest, its signature altered.
    let envelope: serde_json::Value = reqwest::blocking::Client::new()
        .get(s.server.url("/api/v1/bundles/manifest"))
        .bearer_auth(&config.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut sig = b64.decode(envelope["signature"].as_str().unwrap()).unwrap();
    sig[0] ^= 1;
    let bad = serde_json::json!({"manifest": envelope["manifest"], "signature": b64.encode(sig)})
        .to_string();
    let note = s.note_answer(None);
    let fake = fake_server(move |_, path| {
        if path == "/log/checkpoint" {
            note.clone()
        } else {
            http_response(
                "200 OK",
                &[("content-type", "application/json".into())],
                bad.as_bytes(),
            )
        }
    });
    s.proxy.set_upstream(fake);
    let err = sync(&s.dev.store, &quick()).expect_err("bad signature refused");
    println!("{}: {}", err.code(), err.message());
    assert!(err.code().contains("SIGNATURE"), "{err:?}");
    assert!(s.dev.store.bundle_components().unwrap().is_empty());

    // The real bundle verifies and is kept; the next sync fetches nothing.
    s.proxy.set_upstream(s.server.addr);
    let report = sync(&s.dev.store, &quick()).unwrap();
    assert!(report.bundle_version.is_some());
    assert!(report.bundle_components_fetched > 0);
    let again = sync(&s.dev.store, &quick()).unwrap();
    assert_eq!(again.bundle_components_fetched, 0);
    assert!(s.dev.dir.path().join("reference").exists());
}
