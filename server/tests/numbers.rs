//! Document number leases (`POST /api/v1/numbers/lease`), on SQLite and PostgreSQL: blocks follow
//! each other per agency and year, carry the agency's prefix and printed name, never overlap when
//! devices (and, on PostgreSQL, two server processes) ask at once, and a year whose serials are all
//! leased answers `NUMBERS_EXHAUSTED`.

#[macro_use]
mod common;

use chrono::Datelike;
use common::{Db, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const DEMO_NAME: &str = "海南藏族自治州交通运输综合行政执法局";

async fn lease(s: &TestServer, token: &str, body: Value) -> (u16, Value) {
    s.call(
        Method::POST,
        "/api/v1/numbers/lease",
        Some(token),
        Some(body),
    )
    .await
}

fn range(block: &Value) -> (u64, u64) {
    (
        block["first"].as_u64().expect("first"),
        block["last"].as_u64().expect("last"),
    )
}

fn this_year() -> i64 {
    i64::from(roadside_core::day::agency_today().year())
}

backend_tests!(db:
    blocks_follow_each_other_per_agency_with_its_prefix,
    the_year_is_this_one_or_the_next,
    concurrent_leases_never_overlap,
    a_year_runs_out_with_a_clear_code,
);

async fn blocks_follow_each_other_per_agency_with_its_prefix(db: Db) {
    let s = db
        .server_with(|c| c.doc_prefixes = vec!["632500=青海南交执".into()])
        .await;
    let admin = s.admin().await;
    let (_, token, _) = s.enrol(&admin, "QH6325000101").await;
    let (status, first) = lease(&s, &token, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"agency": "632500", "year": this_year(), "first": 1, "last": 100,
               "prefix": "青海南交执", "agency_name": DEMO_NAME})
    );
    // The answer is the core's own type, and passes its check.
    let block: roadside_core::steps::NumberBlock =
        serde_json::from_value(first.clone()).expect("the core's NumberBlock");
    block.check().expect("a valid block");
    let (status, second) = lease(&s, &token, json!({"year": this_year()})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(range(&second), (101, 200));

    // Another agency counts from 1, and prints its name when it has no prefix.
    let (_, other, _) = s.enrol(&admin, "QH6325210201").await;
    let (status, theirs) = lease(&s, &other, json!({})).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["agency"], "632521");
    assert_eq!(range(&theirs), (1, 100));
    assert_eq!(theirs["prefix"], "共和县交通运输综合行政执法大队");
    assert_eq!(theirs["agency_name"], "共和县交通运输综合行政执法大队");

    // Without a device token: no numbers.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/numbers/lease",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = lease(&s, &token, json!({"year": 2026, "size": 5})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("JSON_SCHEMA")));

    // The agencies list shows the prefix set at start.
    let (_, agencies) = s
        .call(Method::GET, "/api/v1/agencies", Some(&admin), None)
        .await;
    let mine = agencies
        .as_array()
        .expect("agencies")
        .iter()
        .find(|a| a["code"] == "632500")
        .expect("632500");
    assert_eq!(mine["doc_prefix"], "青海南交执");
    s.stop().await;
}

async fn the_year_is_this_one_or_the_next(db: Db) {
    let s = db.server().await;
    let admin = s.admin().await;
    let (_, token, _) = s.enrol(&admin, "QH6325000101").await;
    let (status, next) = lease(&s, &token, json!({"year": this_year() + 1})).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(
        (next["year"].as_i64(), range(&next)),
        (Some(this_year() + 1), (1, 100))
    );
    // The next year's serials do not use up this year's.
    let (_, now) = lease(&s, &token, json!({})).await;
    assert_eq!(range(&now), (1, 100));
    for year in [this_year() - 1, this_year() + 2] {
        let (status, body) = lease(&s, &token, json!({ "year": year })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["code"], "NUMBER_YEAR_INVALID");
    }
    s.stop().await;
}

/// Two devices ask 12 times each, all at once (on PostgreSQL through two server processes on one
/// database): every block is distinct, none overlaps another, and together they are exactly
/// serials 1..=24×size.
async fn concurrent_leases_never_overlap(db: Db) {
    const EACH: usize = 12;
    let url = db.new_database().await;
    let a = TestServer::start_with(url.clone(), |c| c.number_block_size = 7).await;
    let b = match &url {
        Some(url) => Some(
            a.replica(Some(url.clone()), |c| c.number_block_size = 7)
                .await,
        ),
        None => None,
    };
    let admin = a.admin().await;
    let (_, one, _) = a.enrol(&admin, "QH6325000101").await;
    let (_, two, _) = a.enrol(&admin, "QH6325000102").await;
    let second = b.as_ref().unwrap_or(&a);
    let asks = (0..EACH).flat_map(|_| [lease(&a, &one, json!({})), lease(second, &two, json!({}))]);
    let answers: Vec<(u16, Value)> = futures_util::future::join_all(asks).await;
    let mut blocks: Vec<(u64, u64)> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            range(body)
        })
        .collect();
    blocks.sort_unstable();
    let mut next = 1;
    for (first, last) in &blocks {
        assert_eq!(*first, next, "blocks {blocks:?} leave a gap or overlap");
        assert_eq!(last - first + 1, 7);
        next = last + 1;
    }
    assert_eq!(next - 1, (2 * EACH * 7) as u64);
    if let Some(b) = b {
        b.stop().await;
    }
    a.stop().await;
}

async fn a_year_runs_out_with_a_clear_code(db: Db) {
    let s = db.server_with(|c| c.number_block_size = 4000).await;
    let admin = s.admin().await;
    let (_, token, _) = s.enrol(&admin, "QH6325000101").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let (status, body) = lease(&s, &token, json!({})).await;
        assert_eq!(status, 200, "{body}");
        got.push(range(&body));
    }
    // The last block is what is left of the year.
    assert_eq!(got, vec![(1, 4000), (4001, 8000), (8001, 9999)]);
    let (status, body) = lease(&s, &token, json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "NUMBERS_EXHAUSTED");
    s.stop().await;
}
