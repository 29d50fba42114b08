//! What anyone may send without signing in never makes the server fail: malformed or out-of-range
//! tile paths, proof sizes past what the database stores, odd query strings and paths are refused
//! with a 4xx and the server's JSON error body (`{code, message}`), never a 500. Over real HTTP;
//! SQLite always, PostgreSQL when `ROADSIDE_TEST_PG_URL` is set.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::Value;

/// Leaves in the log the tests run against: one full level-0 tile and a partial one.
const LEAVES: usize = 300;

/// A server whose log holds [`LEAVES`] entries; and one logged entry's hash (hex).
async fn server_with_log(db: Option<String>) -> (TestServer, String) {
    let s = TestServer::start(db).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let entries = chain(&key, None, LEAVES, &TWO_OFFICERS);
    for batch in entries.chunks(100) {
        let (status, body) = s.push(&token, batch).await;
        assert_eq!(status, 200, "{body}");
    }
    let hash = hex::encode(entries[0].hash);
    (s, hash)
}

/// An answer: status, content type, body text.
async fn get(s: &TestServer, path: &str) -> (u16, String, String) {
    let resp = s.http.get(s.url(path)).send().await.expect("request sent");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    (status, content_type, text)
}

/// Why an answer is not a 4xx in the server's error format, if it is not.
fn not_a_json_refusal(status: u16, content_type: &str, text: &str) -> Option<String> {
    if !(400..500).contains(&status) {
        return Some(format!("status {status}: {text}"));
    }
    if !content_type.starts_with("application/json") {
        return Some(format!("content type {content_type:?}: {text}"));
    }
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return Some(format!("not JSON: {text}"));
    };
    let code = body["code"].as_str().unwrap_or("");
    let stable = !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !stable {
        return Some(format!("code not UPPER_SNAKE: {body}"));
    }
    let message = body["message"].as_str().unwrap_or("");
    if !message
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    {
        return Some(format!("message not in Chinese: {body}"));
    }
    if body.as_object().map(|o| o.len()) != Some(2) {
        return Some(format!("body has more than code and message: {body}"));
    }
    None
}

/// `path` answers a 4xx JSON refusal whose code is one of `codes`.
async fn assert_refused(s: &TestServer, path: &str, codes: &[&str]) {
    let (status, content_type, text) = get(s, path).await;
    if let Some(why) = not_a_json_refusal(status, &content_type, &text) {
        panic!("{path}: {why}");
    }
    let body: Value = serde_json::from_str(&text).expect("json");
    assert!(
        codes.contains(&body["code"].as_str().unwrap_or("")),
        "{path}: {status} {body}"
    );
}

async fn tile_paths_out_of_range_are_refused(db: Option<String>) {
    let (s, _) = server_with_log(db).await;
    let invalid = ["TILE_PATH_INVALID"];
    for path in [
        "/log/tile/255/000",
        "/log/tile/64/000",
        "/log/tile/0/000.p/0",
        "/log/tile/entries/000.p/0",
        "/log/tile/0/000.p/256",
        "/log/tile/entries/000.p/4294967296",
        "/log/tile/0/x018/x446/x744/x073/x709/x551/616",
        "/log/tile/01/000",
        "/log/tile/%FF/000",
        "/log/tile/0/%C0%AF",
    ] {
        assert_refused(&s, path, &["TILE_PATH_INVALID", "PATH_INVALID"]).await;
    }
    // Well formed, but no such tile in a log of 300 leaves (nor in any log with fewer than 2^64):
    // not found, never a storage failure.
    let missing = ["TILE_NOT_FOUND"];
    for path in [
        "/log/tile/63/000",
        "/log/tile/8/000",
        "/log/tile/0/x018/x446/x744/x073/x709/x551/615",
        "/log/tile/entries/x018/x446/x744/x073/x709/x551/615",
        "/log/tile/entries/x009/x223/x372/x036/x854/x775/808.p/1",
        "/log/tile/0/001",
        "/log/tile/0/001.p/45",
    ] {
        assert_refused(&s, path, &missing).await;
    }
    assert_refused(&s, "/log/tile/data/000", &invalid).await;
    // And the tiles that exist are still served.
    for path in [
        "/log/tile/0/000",
        "/log/tile/0/001.p/44",
        "/log/tile/entries/000",
        "/log/tile/entries/001.p/44",
        "/log/tile/1/000.p/1",
    ] {
        let (status, _, _) = get(&s, path).await;
        assert_eq!(status, 200, "{path}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tile_paths_out_of_range_are_refused_sqlite() {
    tile_paths_out_of_range_are_refused(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tile_paths_out_of_range_are_refused_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    tile_paths_out_of_range_are_refused(Some(fresh_pg_database(&admin).await)).await;
}

async fn proof_sizes_past_the_database_are_refused(db: Option<String>) {
    let (s, hash) = server_with_log(db).await;
    let huge = [
        1u64 << 63,
        (1u64 << 63) + 1,
        u64::MAX - 1,
        u64::MAX,
        i64::MAX as u64,
    ];
    for size in huge {
        // A tree size is an int64 in the API: past i64::MAX the query itself is refused.
        let past = if size > i64::MAX as u64 {
            "QUERY_INVALID"
        } else {
            "CHECKPOINT_NOT_FOUND"
        };
        assert_refused(
            &s,
            &format!("/api/v1/log/inclusion?hash={hash}&size={size}"),
            &[past],
        )
        .await;
        assert_refused(
            &s,
            &format!("/api/v1/log/consistency?from=1&to={size}"),
            &[past],
        )
        .await;
        assert_refused(
            &s,
            &format!("/api/v1/log/consistency?from={size}"),
            &["RANGE_INVALID"],
        )
        .await;
        assert_refused(
            &s,
            &format!("/api/v1/log/consistency?from={size}&to={size}"),
            &[past],
        )
        .await;
    }
    // Past u64, negative, not a number, unknown parameter: the query itself is refused.
    for query in [
        format!("/api/v1/log/inclusion?hash={hash}&size=18446744073709551616"),
        format!("/api/v1/log/inclusion?hash={hash}&size=-1"),
        format!("/api/v1/log/inclusion?hash={hash}&size=1e3"),
        format!("/api/v1/log/inclusion?hash={hash}&sise=1"),
        "/api/v1/log/inclusion".to_string(),
        "/api/v1/log/consistency?from=99999999999999999999999".to_string(),
        "/api/v1/log/consistency?from=1&to=%FF".to_string(),
        "/api/v1/log/consistency".to_string(),
    ] {
        assert_refused(&s, &query, &["QUERY_INVALID"]).await;
    }
    // The proofs asked within range still verify as before.
    let (status, _, text) = get(&s, &format!("/api/v1/log/inclusion?hash={hash}")).await;
    assert_eq!(status, 200, "{text}");
    let (status, _, text) = get(&s, "/api/v1/log/consistency?from=1").await;
    assert_eq!(status, 200, "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_sizes_past_the_database_are_refused_sqlite() {
    proof_sizes_past_the_database_are_refused(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_sizes_past_the_database_are_refused_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    proof_sizes_past_the_database_are_refused(Some(fresh_pg_database(&admin).await)).await;
}

async fn other_public_paths_refuse_bad_input_in_json(db: Option<String>) {
    let (s, _) = server_with_log(db).await;
    // Paths that are not UTF-8 once decoded, on routes whose handlers take a path parameter;
    // unknown routes; unknown methods.
    for (path, codes) in [
        ("/api/v1/media/%FF%FE", &["PATH_INVALID"][..]),
        (
            "/api/v1/bundles/components/%FF/00",
            &["PATH_INVALID", "TOKEN_MISSING"][..],
        ),
        ("/api/v1/nothing-here", &["ROUTE_NOT_FOUND"][..]),
        ("/log/nothing-here", &["TILE_PATH_INVALID"][..]),
        (
            "/api/v1/history?plate=%FF",
            &["QUERY_INVALID", "TOKEN_MISSING"][..],
        ),
        (
            "/api/v1/bundles/manifest?x=1",
            &["QUERY_INVALID", "TOKEN_MISSING"][..],
        ),
    ] {
        assert_refused(&s, path, codes).await;
    }
    let (status, _, text) = get(&s, "/healthz?anything=1").await;
    assert_eq!(status, 200, "{text}");
    let (status, _, text) = get(&s, "/metrics?anything=%FF").await;
    assert_eq!(status, 200, "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_public_paths_refuse_bad_input_in_json_sqlite() {
    other_public_paths_refuse_bad_input_in_json(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_public_paths_refuse_bad_input_in_json_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    other_public_paths_refuse_bad_input_in_json(Some(fresh_pg_database(&admin).await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_grow_the_metrics() {
    let s = TestServer::start(None).await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("PROBE{i}").as_bytes()).expect("method");
        let resp = s
            .http
            .request(method, s.url("/healthz"))
            .send()
            .await
            .expect("sent");
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    let (_, _, metrics) = get(&s, "/metrics").await;
    assert!(!metrics.contains("PROBE"), "{metrics}");
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
    s.stop().await;
}

// ---- Generated inputs: no path under /log/tile/ and no query of the proofs answers a 5xx. ----

/// A number as a client might write one: small, near the log's size, at the edges of i64 and
/// u64, past u64, negative, or not a number at all.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            (i64::MAX as u64).to_string(),
            (1u64 << 63).to_string(),
            u64::MAX.to_string(),
            "18446744073709551616".to_string(),
            "340282366920938463463374607431768211456".to_string(),
            "-1".to_string(),
            "-9223372036854775808".to_string(),
            "0".to_string(),
            "00".to_string(),
            "1e3".to_string(),
            " 1".to_string(),
            "%FF".to_string(),
            String::new(),
        ]),
        "[0-9a-zA-Z%+.-]{0,24}",
    ]
}

/// A tile index element: well-formed or not.
fn index_element() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..1000).prop_map(|n| format!("{n:03}")),
        (0u32..1000).prop_map(|n| format!("x{n:03}")),
        number_text(),
    ]
}

/// Paths under `/log/tile/`: structured (level or `entries`, index elements, optional `.p/W`)
/// with numbers of every kind, and free text.
fn tile_path() -> impl Strategy<Value = String> {
    let head = prop_oneof![
        Just("entries".to_string()),
        Just("data".to_string()),
        (0u32..300).prop_map(|l| l.to_string()),
        number_text(),
    ];
    let structured = (
        head,
        prop::collection::vec(index_element(), 0..9),
        prop::option::of(number_text()),
    )
        .prop_map(|(head, elements, width)| {
            let mut path = format!("/log/tile/{head}/{}", elements.join("/"));
            if let Some(w) = width {
                path.push_str(&format!(".p/{w}"));
            }
            path
        });
    prop_oneof![
        3 => structured,
        1 => "[0-9a-z./x%-]{0,60}".prop_map(|s| format!("/log/tile/{s}")),
    ]
}

/// Queries of the two proof endpoints, with every kind of number (and the hash of a logged entry,
/// of an entry not logged, or not a hash).
fn proof_query(logged: String) -> impl Strategy<Value = String> {
    let hash = prop_oneof![Just(logged), Just("00".repeat(32)), "[0-9a-fA-F]{0,70}",];
    let inclusion = (hash, prop::option::of(number_text())).prop_map(|(h, size)| match size {
        Some(n) => format!("/api/v1/log/inclusion?hash={h}&size={n}"),
        None => format!("/api/v1/log/inclusion?hash={h}"),
    });
    let consistency =
        (number_text(), prop::option::of(number_text())).prop_map(|(from, to)| match to {
            Some(t) => format!("/api/v1/log/consistency?from={from}&to={t}"),
            None => format!("/api/v1/log/consistency?from={from}"),
        });
    prop_oneof![inclusion, consistency]
}

/// Every generated request answers below 500, and every refusal is in the server's format.
fn no_server_error(db: Option<String>, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (s, logged) = rt.block_on(server_with_log(db));
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = prop_oneof![tile_path(), proof_query(logged)];
    let result = runner.run(&strategy, |path| {
        let (status, content_type, text) = rt.block_on(get(&s, &path));
        if status >= 500 {
            return Err(TestCaseError::fail(format!("{path}: {status} {text}")));
        }
        if status >= 400 {
            if let Some(why) = not_a_json_refusal(status, &content_type, &text) {
                return Err(TestCaseError::fail(format!("{path}: {why}")));
            }
        }
        Ok(())
    });
    rt.block_on(s.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn no_generated_tile_path_or_proof_query_answers_a_server_error_sqlite() {
    no_server_error(None, 2000);
}

#[test]
fn no_generated_tile_path_or_proof_query_answers_a_server_error_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(fresh_pg_database(&admin));
    drop(rt);
    no_server_error(Some(db), 2000);
}
