//! Compressed requests and answers (RFC 9110 content codings, RFC 7694 Accept-Encoding in answers)
//! over real HTTP: a gzip push is accepted like a plain one, a gzip answer is smaller and the same
//! JSON, an unknown coding and a corrupt body are refused in the server's error format, and a
//! small body that decompresses past the limit (a gzip bomb) is refused with nothing stored.

#[macro_use]
mod common;

use std::io::Write;

use common::*;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;

backend_tests!(db:
    a_gzip_push_is_accepted_and_every_answer_says_gzip_is_accepted,
    json_answers_come_gzip_compressed_when_asked,
    an_unknown_coding_and_a_corrupt_body_are_refused_in_json,
    a_gzip_bomb_is_refused_by_the_decompressed_size,
);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

async fn post_raw(
    s: &TestServer,
    token: &str,
    body: Vec<u8>,
    coding: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = s
        .http
        .post(s.url("/api/v1/sync/push"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("content-encoding", coding)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    (status, headers, v)
}

async fn a_gzip_push_is_accepted_and_every_answer_says_gzip_is_accepted(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 3, &TWO_OFFICERS);
    let plain = serde_json::to_vec(&push_body(&entries)).expect("json");
    let packed = gzip(&plain);
    assert!(packed.len() < plain.len());
    let (status, headers, answer) = post_raw(&s, &dev.token, packed, "gzip").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 3, "{answer}");
    for (e, r) in entries
        .iter()
        .zip(answer["results"].as_array().expect("results"))
    {
        check_receipt(&s.verifier_key, &e.hash_hex(), &r["receipt"]);
    }
    assert_eq!(headers["accept-encoding"], "gzip");
    // Sent again uncompressed: the same entries, duplicates.
    let (status, again) = s.push(&dev.token, &entries).await;
    assert_eq!((status, again["duplicates"].as_u64()), (200, Some(3)));
    s.stop().await;
}

async fn json_answers_come_gzip_compressed_when_asked(db: Db) {
    let s = db.server().await;
    let (admin, _) = s.admin_and_device().await;
    // A client that does not decompress by itself (whatever features the workspace build gives
    // reqwest), to see the coding on the wire.
    let raw = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("client");
    let get = |coding: &'static str| {
        raw.get(s.url("/api/v1/openapi.json"))
            .bearer_auth(&admin)
            .header("accept-encoding", coding)
            .send()
    };
    let plain = get("identity").await.expect("send");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.expect("body");
    let packed = get("gzip").await.expect("send");
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let packed = packed.bytes().await.expect("body");
    assert!(
        packed.len() * 3 < plain.len(),
        "{} vs {}",
        packed.len(),
        plain.len()
    );
    let mut d = flate2::read::GzDecoder::new(&packed[..]);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut out).expect("gunzip");
    assert_eq!(out, plain);
    s.stop().await;
}

async fn an_unknown_coding_and_a_corrupt_body_are_refused_in_json(db: Db) {
    let s = db.server().await;
    let (_, dev) = s.admin_and_device().await;
    let entries = chain(&dev.key, None, 1, &TWO_OFFICERS);
    let plain = serde_json::to_vec(&push_body(&entries)).expect("json");
    let (status, _, body) = post_raw(&s, &dev.token, plain.clone(), "br").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("CONTENT_ENCODING_UNSUPPORTED"))
    );
    // Says gzip but is not.
    let (status, _, body) = post_raw(&s, &dev.token, plain, "gzip").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    s.stop().await;
}

async fn a_gzip_bomb_is_refused_by_the_decompressed_size(db: Db) {
    let s = db.server_with(|c| c.body_limit = 512 * 1024).await;
    let (_, dev) = s.admin_and_device().await;
    // 8 MiB of JSON whitespace inside a valid push: a few KiB compressed.
    let mut bomb = b"{\"entries\": [".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 8 << 20));
    bomb.extend(b"{\"bytes\": \"\", \"sig\": \"\"}]}");
    let packed = gzip(&bomb);
    assert!(packed.len() < 64 * 1024, "{}", packed.len());
    let (status, _, body) = post_raw(&s, &dev.token, packed, "gzip").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("BODY_TOO_LARGE")),
        "{body}"
    );
    // Nothing was stored: the device's first entry is still accepted as the first.
    let entries = chain(&dev.key, None, 1, &TWO_OFFICERS);
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!((status, answer["accepted"].as_u64()), (200, Some(1)));
    s.stop().await;
}
