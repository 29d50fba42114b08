//! The HTTP API over real HTTP on an ephemeral port: enrolment, verified push with receipts, the
//! transparency log endpoints, agency scoping and every kind of bad input. Runs on SQLite always
//! and on PostgreSQL when `ROADSIDE_TEST_PG_URL` is set.

mod common;

use base64::Engine;
use common::*;
use reqwest::Method;
use roadside_core::ledger::{self, EntryKind};
use serde_json::{json, Value};

fn b64d(s: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().expect("base64 string"))
        .expect("base64")
}

/// Check a receipt the way a device does: the checkpoint's signature, then the inclusion proof.
fn check_receipt(verifier_key: &str, entry_hash_hex: &str, receipt: &Value) {
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

async fn suite(db: Option<String>) {
    let s = TestServer::start_with(db, |c| c.body_limit = 512 * 1024).await;

    // Operations.
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, doc) = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    for path in [
        "/healthz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/sessions",
        "/api/v1/me",
        "/api/v1/accounts",
        "/api/v1/agencies",
        "/api/v1/officers",
        "/api/v1/officers/{certificate_no}/revoke",
        "/api/v1/enrolment-codes",
        "/api/v1/devices",
        "/api/v1/devices/enrol",
        "/api/v1/devices/{id}/revoke",
        "/api/v1/sync/push",
        "/api/v1/cases",
        "/api/v1/log/key",
        "/api/v1/log/inclusion",
        "/api/v1/log/consistency",
        "/api/v1/log/rollovers",
        "/log/checkpoint",
        "/log/tile/{path}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    let empty = s
        .http
        .get(s.url("/log/checkpoint"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(roadside_server::tlog::verify_checkpoint(&empty, &s.verifier_key).is_some());

    // Sign-in.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"login": "admin", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("SIGN_IN_FAILED"))
    );
    assert!(body["message"].as_str().is_some_and(|m| m.contains("密码")));
    let admin = s.admin().await;
    let (status, me) = s.call(Method::GET, "/api/v1/me", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["scope"].as_array().map(Vec::len), Some(7), "{me}");
    let (status, _) = s
        .call(Method::GET, "/api/v1/me", Some("not-a-token"), None)
        .await;
    assert_eq!(status, 401);

    // Enrolment: the demo code, then a used code again.
    let code = s.enrolment_code.clone().expect("demo code on first start");
    let key = ledger::DeviceKey::generate();
    let (status, enrolled) = s
        .call(
            Method::POST,
            "/api/v1/devices/enrol",
            None,
            Some(json!({"code": code, "public_key": key.public_hex()})),
        )
        .await;
    assert_eq!(status, 201, "{enrolled}");
    assert_eq!(enrolled["agency"], "632500");
    let device = enrolled["token"].as_str().expect("token").to_string();
    let other = ledger::DeviceKey::generate();
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/devices/enrol",
            None,
            Some(json!({"code": code, "public_key": other.public_hex()})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("ENROLMENT_CODE_USED"))
    );

    // Push three entries: accepted, each with a receipt that verifies.
    let entries = chain(&key, None, 3, &TWO_OFFICERS);
    let (status, answer) = s.push(&device, &entries).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 3, "{answer}");
    for (e, r) in entries
        .iter()
        .zip(answer["results"].as_array().expect("results"))
    {
        assert_eq!(r["status"], "accepted");
        assert_eq!(r["hash"], e.hash_hex());
        check_receipt(&s.verifier_key, &e.hash_hex(), &r["receipt"]);
    }

    // The same batch again: duplicates with the same receipts; nothing changes.
    let (status, again) = s.push(&device, &entries).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicates"], 3);
    for (a, b) in answer["results"]
        .as_array()
        .expect("r")
        .iter()
        .zip(again["results"].as_array().expect("r"))
    {
        assert_eq!(a["receipt"], b["receipt"]);
        assert_eq!(b["status"], "duplicate");
    }
    assert_eq!(again["tree_size"], 3);

    // Not authentic or not in place: a fork (different seq 2), a gap (seq 10), a bad signature at
    // seq 4 and the entry after it (seq 5, a gap while seq 4 is missing). Rejected, nothing stored,
    // no receipt.
    let fork = chain(&key, head_of(&entries[..1]), 1, &["QH6325000101"]);
    let gap = {
        let e = ledger::next_entry(
            &key,
            Some(ledger::Head {
                seq: 9,
                hash: [7; 32],
            }),
            chrono::Utc::now(),
            vec!["QH6325000101".into()],
            EntryKind::RecordCreate,
            Some(uuid::Uuid::now_v7().to_string()),
            json!({}),
        );
        ledger::seal(&e, &key).expect("seal")
    };
    let mut bad_pair = chain(&key, head_of(&entries), 2, &TWO_OFFICERS);
    bad_pair[0].sig[0] ^= 1;
    let (status, answer) = s
        .push(
            &device,
            &[
                fork[0].clone(),
                gap,
                bad_pair[0].clone(),
                bad_pair[1].clone(),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let codes: Vec<_> = answer["results"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r["code"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        codes,
        [
            "CHAIN_FORK",
            "CHAIN_GAP",
            "LEDGER_BAD_SIGNATURE",
            "CHAIN_GAP"
        ]
    );
    for r in answer["results"].as_array().expect("r") {
        assert_eq!(r["status"], "rejected");
        assert!(
            r.get("receipt").is_none(),
            "no receipt when nothing is stored: {r}"
        );
        assert!(
            r["message"].as_str().is_some_and(|m| !m.is_ascii()),
            "Chinese message: {r}"
        );
    }
    assert_eq!(
        (
            answer["rejected"].as_u64(),
            answer["refused"].as_u64(),
            answer["tree_size"].as_u64()
        ),
        (Some(4), Some(0), Some(3)),
        "rejections change nothing: {answer}"
    );

    // Authentic and in place but failing a business check: a case opened under a revoked
    // certificate (it fills seq 4), a record by an officer whose certificate has expired, one by
    // an officer of another agency. Logged and chained, each with a receipt, but refused.
    let refused_case = uuid::Uuid::now_v7().to_string();
    let mut refused = Vec::new();
    let mut head = head_of(&entries);
    for (officers, kind, case) in [
        (
            vec!["QH6325000101", "QH6325000199"],
            EntryKind::CaseOpen,
            refused_case.clone(),
        ),
        (
            vec!["QH6325000188"],
            EntryKind::RecordCreate,
            refused_case.clone(),
        ),
        (
            vec!["QH6325210299"],
            EntryKind::RecordCreate,
            refused_case.clone(),
        ),
    ] {
        let e = ledger::next_entry(
            &key,
            head,
            chrono::Utc::now() - chrono::Duration::minutes(5),
            officers.iter().map(|o| o.to_string()).collect(),
            kind,
            Some(case),
            json!({"reason": "超限运输"}),
        );
        let signed = ledger::seal(&e, &key).expect("seal");
        head = head_of(std::slice::from_ref(&signed));
        refused.push(signed);
    }
    let (status, answer) = s.push(&device, &refused).await;
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("r").clone();
    let codes: Vec<_> = results
        .iter()
        .map(|r| r["code"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        codes,
        [
            "CERTIFICATE_REVOKED",
            "CERTIFICATE_NOT_VALID",
            "CERTIFICATE_UNKNOWN"
        ]
    );
    for (e, r) in refused.iter().zip(&results) {
        assert_eq!(r["status"], "refused", "{r}");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_ascii()), "{r}");
        check_receipt(&s.verifier_key, &e.hash_hex(), &r["receipt"]);
    }
    assert_eq!(
        (
            answer["accepted"].as_u64(),
            answer["refused"].as_u64(),
            answer["rejected"].as_u64(),
            answer["tree_size"].as_u64()
        ),
        (Some(0), Some(3), Some(0), Some(6)),
        "{answer}"
    );
    // Sent again: the same answers, the same receipts, nothing new in the log.
    let (status, again_refused) = s.push(&device, &refused).await;
    assert_eq!(status, 200);
    assert_eq!(again_refused["results"], answer["results"]);
    assert_eq!(
        (
            again_refused["refused"].as_u64(),
            again_refused["tree_size"].as_u64()
        ),
        (Some(3), Some(6))
    );
    // The refused entry's inclusion is public like any other logged entry's.
    let (status, proof) = s
        .call(
            Method::GET,
            &format!("/api/v1/log/inclusion?hash={}", refused[0].hash_hex()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{proof}");
    check_receipt(&s.verifier_key, &refused[0].hash_hex(), &proof);

    // The chain continues after the refused entries.
    let more = chain(&key, head_of(&refused), 300, &TWO_OFFICERS);
    let (status, answer) = s.push(&device, &more).await;
    assert_eq!(
        (status, answer["accepted"].as_u64()),
        (200, Some(300)),
        "{answer}"
    );
    assert_eq!(answer["tree_size"], 306);

    // Tiles, entry bundles, proofs.
    let full = s
        .http
        .get(s.url("/log/tile/0/000"))
        .send()
        .await
        .expect("get");
    assert_eq!(full.status(), 200);
    let full = full.bytes().await.expect("bytes");
    assert_eq!(full.len(), 256 * 32);
    let partial = s
        .http
        .get(s.url("/log/tile/0/001.p/50"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(partial.len(), 50 * 32);
    let level1 = s
        .http
        .get(s.url("/log/tile/1/000.p/1"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(level1.len(), 32);
    let bundle = s
        .http
        .get(s.url("/log/tile/entries/000"))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&bundle[..2], &[0, 32]);
    assert_eq!(hex::encode(&bundle[2..34]), entries[0].hash_hex());
    let (status, body) = s.call(Method::GET, "/log/tile/0/002", None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("TILE_NOT_FOUND"))
    );
    let (status, proof) = s
        .call(
            Method::GET,
            &format!("/api/v1/log/inclusion?hash={}", entries[1].hash_hex()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{proof}");
    check_receipt(&s.verifier_key, &entries[1].hash_hex(), &proof);
    let (status, c) = s
        .call(Method::GET, "/api/v1/log/consistency?from=3", None, None)
        .await;
    assert_eq!(status, 200, "{c}");
    let new = roadside_server::tlog::verify_checkpoint(
        c["checkpoint"].as_str().expect("cp"),
        &s.verifier_key,
    )
    .expect("verifies");
    let old_receipt = &again["results"][0]["receipt"];
    let old = roadside_server::tlog::verify_checkpoint(
        old_receipt["checkpoint"].as_str().expect("cp"),
        &s.verifier_key,
    )
    .expect("verifies");
    let proof: Vec<_> = c["consistency_proof"]
        .as_array()
        .expect("p")
        .iter()
        .map(|h| roadside_server::tlog::TreeHash(b64d(h).try_into().expect("32")))
        .collect();
    roadside_server::tlog::check_tree(&proof, new.size(), *new.hash(), old.size(), *old.hash())
        .expect("consistent");

    // Materialised cases: the accepted case only, not the refused one.
    let (status, cases) = s
        .call(Method::GET, "/api/v1/cases", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(cases.as_array().map(Vec::len), Some(1), "{cases}");
    assert_ne!(cases[0]["id"], refused_case.as_str(), "{cases}");
    assert_eq!(
        (cases[0]["records"].as_u64(), cases[0]["evidence"].as_u64()),
        (Some(1), Some(1)),
        "{cases}"
    );

    // Another agency: an admin of 共和县 sees nothing of 632500 and cannot act on it.
    let (status, body) = s.call(Method::POST, "/api/v1/accounts", Some(&admin), Some(json!({"login": "gonghe-admin", "password": "共和县管理员密码-2026", "agency": "632521", "role": "admin"}))).await;
    assert_eq!(status, 201, "{body}");
    let gonghe = s.sign_in("gonghe-admin", "共和县管理员密码-2026").await;
    let (status, cases) = s
        .call(Method::GET, "/api/v1/cases", Some(&gonghe), None)
        .await;
    assert_eq!((status, cases.as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/enrolment-codes",
            Some(&gonghe),
            Some(json!({"certificate_no": "QH6325000101"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("AGENCY_FORBIDDEN"))
    );
    let device_id = enrolled["device_id"].as_str().expect("id");
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/devices/{device_id}/revoke"),
            Some(&gonghe),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("DEVICE_NOT_FOUND"))
    );
    let (status, officers) = s
        .call(Method::GET, "/api/v1/officers", Some(&gonghe), None)
        .await;
    assert_eq!(status, 200);
    assert!(officers
        .as_array()
        .expect("list")
        .iter()
        .all(|o| o["agency"] == "632521"));
    let (status, body) = s.call(Method::POST, "/api/v1/accounts", Some(&gonghe), Some(json!({"login": "x-admin", "password": "0123456789ab", "agency": "632500", "role": "admin"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("AGENCY_FORBIDDEN"))
    );

    // Bad input.
    let resp = s
        .http
        .post(s.url("/api/v1/sync/push"))
        .bearer_auth(&device)
        .header("content-type", "application/json")
        .body("{\"entries\": [")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["code"],
        "JSON_MALFORMED"
    );
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device),
            Some(json!({"entries": [{"bytes": "x"}]})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("JSON_SCHEMA")));
    let huge = json!({"entries": [{"bytes": "A".repeat(600 * 1024), "sig": ""}]});
    let (status, body) = s
        .call(Method::POST, "/api/v1/sync/push", Some(&device), Some(huge))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BODY_TOO_LARGE"))
    );
    let resp = s
        .http
        .post(s.url("/api/v1/sync/push"))
        .bearer_auth(&device)
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);
    let (status, body) = s.push(&admin, &more[..1]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("DEVICE_TOKEN_INVALID"))
    );
    let (status, body) = s
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("ROUTE_NOT_FOUND"))
    );

    // Revoking the device stops its pushes; nothing is stored.
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/devices/{device_id}/revoke"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let next = chain(&key, head_of(&more), 1, &TWO_OFFICERS);
    let (status, body) = s.push(&device, &next).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("DEVICE_REVOKED"))
    );
    let (_, c) = s
        .call(Method::GET, "/api/v1/log/consistency?from=3", None, None)
        .await;
    assert_eq!(c["to"], 306);

    // Metrics saw all of it.
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("roadside_http_requests_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("roadside_ledger_entries_total{status=\"accepted\"} 303"),
        "{metrics}"
    );
    assert!(
        metrics.contains("roadside_ledger_entries_total{status=\"refused\"} 6"),
        "{metrics}"
    );

    // Sign-out ends the token.
    let (status, _) = s
        .call(Method::DELETE, "/api/v1/sessions", Some(&gonghe), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.call(Method::GET, "/api/v1/me", Some(&gonghe), None).await;
    assert_eq!(status, 401);

    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite() {
    suite(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        eprintln!(
            "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
        );
        return;
    };
    suite(Some(fresh_pg_database(&admin).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_log_and_the_admin_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
    let keys = dir.path().join("keys");
    let first = TestServer::start_with(Some(db.clone()), |c| c.key_dir = Some(keys.clone())).await;
    let password = first.admin_password.clone();
    let key = first.verifier_key.clone();
    first.stop().await;
    let second = TestServer::start_with(Some(db), |c| c.key_dir = Some(keys)).await;
    assert!(second.enrolment_code.is_none(), "demo data is loaded once");
    assert_eq!(second.verifier_key, key, "the log key is kept");
    second.sign_in("admin", &password).await;
    second.stop().await;
}
