//! The HTTP API over real HTTP on an ephemeral port: enrolment, verified push with receipts, the
//! transparency log endpoints, agency scoping and every kind of bad input, one behaviour a test.
//! Each runs on SQLite and on PostgreSQL (`backend_tests!`; PostgreSQL needs
//! `ROADSIDE_TEST_PG_URL`).

#[macro_use]
mod common;

use common::*;
use reqwest::Method;
use roadside_core::ledger::{self, EntryKind};
use serde_json::{json, Value};

backend_tests!(db:
    health_check_answers_ok,
    openapi_describes_every_route,
    an_empty_log_has_a_signed_checkpoint,
    a_wrong_password_is_refused_in_chinese,
    the_demo_administrator_sees_all_seven_agencies,
    an_unknown_token_is_unauthorised,
    an_enrolment_code_enrols_one_device_only,
    accepted_entries_get_receipts_that_verify,
    a_batch_sent_again_gets_the_same_receipts_and_changes_nothing,
    forged_or_misplaced_entries_are_rejected_without_a_receipt,
    entries_failing_a_business_check_are_logged_and_refused_with_a_receipt,
    refused_entries_sent_again_get_the_same_answers,
    a_refused_entrys_inclusion_is_public,
    the_chain_continues_after_refused_entries,
    full_and_partial_tiles_are_served,
    the_entry_bundle_holds_the_entries,
    a_tile_past_the_log_is_not_found,
    an_accepted_entrys_inclusion_proof_verifies,
    a_consistency_proof_links_an_old_receipt_to_the_newest_checkpoint,
    cases_list_the_accepted_case_not_the_refused_one,
    another_agencys_administrator_sees_no_cases,
    another_agencys_administrator_cannot_issue_enrolment_codes_here,
    another_agencys_administrator_cannot_revoke_a_device_here,
    another_agencys_administrator_sees_only_its_officers,
    another_agencys_administrator_cannot_create_accounts_here,
    malformed_json_is_refused,
    json_of_the_wrong_shape_is_refused,
    a_body_over_the_limit_is_refused,
    a_body_that_is_not_json_is_refused,
    an_account_token_cannot_push,
    an_unknown_route_is_not_found,
    a_revoked_device_cannot_push_and_nothing_is_stored,
    metrics_count_requests_and_entries_by_outcome,
    sign_out_ends_the_token,
);

async fn health_check_answers_ok(db: Db) {
    let s = db.server().await;
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    s.stop().await;
}

async fn openapi_describes_every_route(db: Db) {
    let s = db.server().await;
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
    s.stop().await;
}

async fn an_empty_log_has_a_signed_checkpoint(db: Db) {
    let s = db.server().await;
    let (status, empty) = s.get_bytes("/log/checkpoint").await;
    assert_eq!(status, 200);
    let empty = String::from_utf8(empty).expect("text");
    assert!(roadside_server::tlog::verify_checkpoint(&empty, &s.verifier_key).is_some());
    s.stop().await;
}

async fn a_wrong_password_is_refused_in_chinese(db: Db) {
    let s = db.server().await;
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
    s.stop().await;
}

async fn the_demo_administrator_sees_all_seven_agencies(db: Db) {
    let s = db.server().await;
    let admin = s.admin().await;
    let (status, me) = s.call(Method::GET, "/api/v1/me", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(me["scope"].as_array().map(Vec::len), Some(7), "{me}");
    s.stop().await;
}

async fn an_unknown_token_is_unauthorised(db: Db) {
    let s = db.server().await;
    let (status, _) = s
        .call(Method::GET, "/api/v1/me", Some("not-a-token"), None)
        .await;
    assert_eq!(status, 401);
    s.stop().await;
}

/// The demo code printed on first start enrols a device of 632500; used again, it is refused.
async fn an_enrolment_code_enrols_one_device_only(db: Db) {
    let s = db.server().await;
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
    assert!(enrolled["token"].as_str().is_some(), "{enrolled}");
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
    s.stop().await;
}

async fn accepted_entries_get_receipts_that_verify(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 3, &TWO_OFFICERS);
    let (status, answer) = s.push(&dev.token, &entries).await;
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
    s.stop().await;
}

async fn a_batch_sent_again_gets_the_same_receipts_and_changes_nothing(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 3, &TWO_OFFICERS);
    let (_, answer) = s.push(&dev.token, &entries).await;
    let (status, again) = s.push(&dev.token, &entries).await;
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
    s.stop().await;
}

/// Not authentic or not in place: a fork (a different seq 2), a gap (seq 10), a bad signature at
/// seq 4 and the entry after it (seq 5, a gap while seq 4 is missing). Rejected, nothing stored,
/// no receipt.
async fn forged_or_misplaced_entries_are_rejected_without_a_receipt(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let key = &dev.key;
    let entries = chain(key, None, 3, &TWO_OFFICERS);
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!(status, 200, "{answer}");
    let fork = chain(key, head_of(&entries[..1]), 1, &["QH6325000101"]);
    let gap = {
        let e = ledger::next_entry(
            key,
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
        ledger::seal(&e, key).expect("seal")
    };
    let mut bad_pair = chain(key, head_of(&entries), 2, &TWO_OFFICERS);
    bad_pair[0].sig[0] ^= 1;
    let (status, answer) = s
        .push(
            &dev.token,
            &[
                fork[0].clone(),
                gap,
                bad_pair[0].clone(),
                bad_pair[1].clone(),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        result_codes(&answer),
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
    s.stop().await;
}

/// Authentic and in place but failing a business check: a case opened under a revoked
/// certificate, a record by an officer whose certificate has expired, one by an officer of another
/// agency. Logged and chained, each with a receipt, but refused.
async fn entries_failing_a_business_check_are_logged_and_refused_with_a_receipt(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 3, &TWO_OFFICERS);
    s.push(&dev.token, &entries).await;
    let (_, refused) = entries_of(&dev.key, head_of(&entries), &REFUSED_OFFICERS);
    let (status, answer) = s.push(&dev.token, &refused).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        result_codes(&answer),
        [
            "OFFICER_CERTIFICATE_REVOKED",
            "OFFICER_CERTIFICATE_EXPIRED",
            "OFFICER_NOT_REGISTERED"
        ]
    );
    for (e, r) in refused.iter().zip(answer["results"].as_array().expect("r")) {
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
    s.stop().await;
}

async fn refused_entries_sent_again_get_the_same_answers(db: Db) {
    let log = PopulatedLog::on(&db).await;
    assert_eq!(log.refused_again["results"], log.refused_answer["results"]);
    assert_eq!(
        (
            log.refused_again["refused"].as_u64(),
            log.refused_again["tree_size"].as_u64()
        ),
        (Some(3), Some(6)),
        "nothing new in the log"
    );
    log.s.stop().await;
}

/// A refused entry's inclusion is public like any other logged entry's.
async fn a_refused_entrys_inclusion_is_public(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let hash = log.refused[0].hash_hex();
    let (status, proof) = s
        .call(
            Method::GET,
            &format!("/api/v1/log/inclusion?hash={hash}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{proof}");
    check_receipt(&s.verifier_key, &hash, &proof);
    log.s.stop().await;
}

async fn the_chain_continues_after_refused_entries(db: Db) {
    // `PopulatedLog::on` pushes 300 entries after the refused ones and checks all are accepted.
    let log = PopulatedLog::on(&db).await;
    let (_, c) = log
        .s
        .call(Method::GET, "/api/v1/log/consistency?from=3", None, None)
        .await;
    assert_eq!(c["to"], 306);
    log.s.stop().await;
}

async fn full_and_partial_tiles_are_served(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let (status, full) = s.get_bytes("/log/tile/0/000").await;
    assert_eq!((status, full.len()), (200, 256 * 32));
    let (_, partial) = s.get_bytes("/log/tile/0/001.p/50").await;
    assert_eq!(partial.len(), 50 * 32);
    let (_, level1) = s.get_bytes("/log/tile/1/000.p/1").await;
    assert_eq!(level1.len(), 32);
    log.s.stop().await;
}

async fn the_entry_bundle_holds_the_entries(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let (_, bundle) = log.s.get_bytes("/log/tile/entries/000").await;
    assert_eq!(&bundle[..2], &[0, 32]);
    assert_eq!(hex::encode(&bundle[2..34]), log.entries[0].hash_hex());
    log.s.stop().await;
}

async fn a_tile_past_the_log_is_not_found(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let (status, body) = log.s.call(Method::GET, "/log/tile/0/002", None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("TILE_NOT_FOUND"))
    );
    log.s.stop().await;
}

async fn an_accepted_entrys_inclusion_proof_verifies(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let hash = log.entries[1].hash_hex();
    let (status, proof) = s
        .call(
            Method::GET,
            &format!("/api/v1/log/inclusion?hash={hash}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{proof}");
    check_receipt(&s.verifier_key, &hash, &proof);
    log.s.stop().await;
}

async fn a_consistency_proof_links_an_old_receipt_to_the_newest_checkpoint(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let (status, c) = s
        .call(Method::GET, "/api/v1/log/consistency?from=3", None, None)
        .await;
    assert_eq!(status, 200, "{c}");
    let new = roadside_server::tlog::verify_checkpoint(
        c["checkpoint"].as_str().expect("cp"),
        &s.verifier_key,
    )
    .expect("verifies");
    let old_receipt = &log.again["results"][0]["receipt"];
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
    log.s.stop().await;
}

/// Materialised cases: the accepted case only, not the refused one.
async fn cases_list_the_accepted_case_not_the_refused_one(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let (status, cases) = log
        .s
        .call(Method::GET, "/api/v1/cases", Some(&log.admin), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(cases.as_array().map(Vec::len), Some(1), "{cases}");
    assert_ne!(cases[0]["id"], log.refused_case.as_str(), "{cases}");
    assert_eq!(
        (cases[0]["records"].as_u64(), cases[0]["evidence"].as_u64()),
        (Some(1), Some(1)),
        "{cases}"
    );
    log.s.stop().await;
}

/// An administrator of 共和县 sees nothing of 632500 (whose device has pushed a case).
async fn another_agencys_administrator_sees_no_cases(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let gonghe = s.gonghe_admin(&log.admin).await;
    let (status, cases) = s
        .call(Method::GET, "/api/v1/cases", Some(&gonghe), None)
        .await;
    assert_eq!((status, cases.as_array().map(Vec::len)), (200, Some(0)));
    log.s.stop().await;
}

async fn another_agencys_administrator_cannot_issue_enrolment_codes_here(db: Db) {
    let s = db.server().await;
    let gonghe = s.gonghe_admin(&s.admin().await).await;
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
    s.stop().await;
}

async fn another_agencys_administrator_cannot_revoke_a_device_here(db: Db) {
    let s = db.server().await;
    let (admin, dev) = s.admin_and_device().await;
    let gonghe = s.gonghe_admin(&admin).await;
    let (status, body) = s
        .call(
            Method::POST,
            &format!("/api/v1/devices/{}/revoke", dev.id),
            Some(&gonghe),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("DEVICE_NOT_FOUND"))
    );
    s.stop().await;
}

async fn another_agencys_administrator_sees_only_its_officers(db: Db) {
    let s = db.server().await;
    let gonghe = s.gonghe_admin(&s.admin().await).await;
    let (status, officers) = s
        .call(Method::GET, "/api/v1/officers", Some(&gonghe), None)
        .await;
    assert_eq!(status, 200);
    assert!(officers
        .as_array()
        .expect("list")
        .iter()
        .all(|o| o["agency"] == "632521"));
    s.stop().await;
}

async fn another_agencys_administrator_cannot_create_accounts_here(db: Db) {
    let s = db.server().await;
    let gonghe = s.gonghe_admin(&s.admin().await).await;
    let (status, body) = s.call(Method::POST, "/api/v1/accounts", Some(&gonghe), Some(json!({"login": "x-admin", "password": "0123456789ab", "agency": "632500", "role": "admin"}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("AGENCY_FORBIDDEN"))
    );
    s.stop().await;
}

async fn malformed_json_is_refused(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let resp = s
        .http
        .post(s.url("/api/v1/sync/push"))
        .bearer_auth(&dev.token)
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
    s.stop().await;
}

async fn json_of_the_wrong_shape_is_refused(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&dev.token),
            Some(json!({"entries": [{"bytes": "x"}]})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("JSON_SCHEMA")));
    s.stop().await;
}

async fn a_body_over_the_limit_is_refused(db: Db) {
    let s = db.server_with(|c| c.body_limit = 512 * 1024).await;
    let (_, dev) = s.admin_and_device().await;
    let huge = json!({"entries": [{"bytes": "A".repeat(600 * 1024), "sig": ""}]});
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&dev.token),
            Some(huge),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BODY_TOO_LARGE"))
    );
    s.stop().await;
}

async fn a_body_that_is_not_json_is_refused(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let resp = s
        .http
        .post(s.url("/api/v1/sync/push"))
        .bearer_auth(&dev.token)
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);
    s.stop().await;
}

async fn an_account_token_cannot_push(db: Db) {
    let s = db.server().await;
    let (admin, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 1, &TWO_OFFICERS);
    let (status, body) = s.push(&admin, &entries).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("DEVICE_TOKEN_INVALID"))
    );
    s.stop().await;
}

async fn an_unknown_route_is_not_found(db: Db) {
    let s = db.server().await;
    let (status, body) = s
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("ROUTE_NOT_FOUND"))
    );
    s.stop().await;
}

async fn a_revoked_device_cannot_push_and_nothing_is_stored(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let s = &log.s;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/api/v1/devices/{}/revoke", log.device.id),
            Some(&log.admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let next = chain(&log.device.key, head_of(&log.more), 1, &TWO_OFFICERS);
    let (status, body) = s.push(&log.device.token, &next).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("DEVICE_REVOKED"))
    );
    let (_, c) = s
        .call(Method::GET, "/api/v1/log/consistency?from=3", None, None)
        .await;
    assert_eq!(c["to"], 306);
    log.s.stop().await;
}

/// Requests are counted; entries by outcome: duplicates are not counted again as accepted, each
/// refusal is (the refused entries were sent twice).
async fn metrics_count_requests_and_entries_by_outcome(db: Db) {
    let log = PopulatedLog::on(&db).await;
    let metrics = log.s.metrics().await;
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
    log.s.stop().await;
}

async fn sign_out_ends_the_token(db: Db) {
    let s = db.server().await;
    let gonghe = s.gonghe_admin(&s.admin().await).await;
    let (status, _) = s.call(Method::GET, "/api/v1/me", Some(&gonghe), None).await;
    assert_eq!(status, 200);
    let (status, _) = s
        .call(Method::DELETE, "/api/v1/sessions", Some(&gonghe), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.call(Method::GET, "/api/v1/me", Some(&gonghe), None).await;
    assert_eq!(status, 401);
    s.stop().await;
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
