//! The first-offence history query (`GET /api/v1/history`) over real HTTP: a device pushes a case
//! for a plate, the query finds it; another plate and another agency's device find nothing; a bad
//! plate is a 400 with its code. Runs on SQLite always and on PostgreSQL when
//! `ROADSIDE_TEST_PG_URL` is set.

mod common;

use chrono::{Duration, Utc};
use common::*;
use reqwest::Method;
use roadside_core::ledger::{self, DeviceKey, EntryKind};
use serde_json::{json, Value};

/// Push one `case.open` entry (the device's first) naming `plate` and `party_id`; its case id.
async fn open_case(s: &TestServer, key: &DeviceKey, token: &str, plate: &str) -> String {
    let case = uuid::Uuid::now_v7().to_string();
    let entry = ledger::next_entry(
        key,
        None,
        Utc::now() - Duration::minutes(5),
        TWO_OFFICERS.iter().map(|s| s.to_string()).collect(),
        EntryKind::CaseOpen,
        Some(case.clone()),
        json!({
            "reason": "超限运输",
            "record": {
                "vehicle": {"plate": plate, "vehicle_type": "重型半挂牵引车"},
                "party": {"type": "organisation", "name": "某某物流有限公司", "uscc": "9144030071526726XG"}
            }
        }),
    );
    let signed = ledger::seal(&entry, key).expect("seal");
    let (status, body) = s.push(token, &[signed]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    case
}

async fn history(s: &TestServer, token: &str, query: &str) -> (u16, Value) {
    s.call(
        Method::GET,
        &format!("/api/v1/history?{query}"),
        Some(token),
        None,
    )
    .await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn suite(database_url: Option<String>) {
    let s = TestServer::start(database_url).await;
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let case = open_case(&s, &key, &token, "青E12345").await;

    // The device itself: one prior case for the plate (written with a lower-case letter here).
    let (status, body) = history(&s, &token, &format!("plate={}", enc("青e12345"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plate"], "青E12345", "{body}");
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["prior_cases"][0]["case"], case.as_str(), "{body}");
    assert_eq!(body["prior_cases"][0]["status"], "draft", "{body}");
    assert!(body["prior_cases"][0]["opened_at"].is_string(), "{body}");
    assert!(body["checked_at"].is_string(), "{body}");
    // The server counts the year back from the agency's day (UTC+8), not from the UTC date.
    let year_ago = (roadside_core::day::agency_today() - Duration::days(365)).to_string();
    assert_eq!(body["since"], year_ago.as_str(), "{body}");

    // An account token of the same agency sees it too; so does a party-id query.
    let (status, body) = history(&s, &admin, &format!("plate={}", enc("青E12345"))).await;
    assert_eq!((status, body["count"].clone()), (200, json!(1)), "{body}");
    let (status, body) = history(&s, &token, "party_id=9144030071526726XG").await;
    assert_eq!((status, body["count"].clone()), (200, json!(1)), "{body}");

    // Another plate: nothing.
    let (status, body) = history(&s, &token, &format!("plate={}", enc("青E54321"))).await;
    assert_eq!((status, body["count"].clone()), (200, json!(0)), "{body}");
    assert_eq!(body["prior_cases"], json!([]), "{body}");

    // A lookback that starts after the case: nothing.
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive().to_string();
    let (status, body) = history(
        &s,
        &token,
        &format!("plate={}&since={tomorrow}", enc("青E12345")),
    )
    .await;
    assert_eq!((status, body["count"].clone()), (200, json!(0)), "{body}");

    // Another agency's device (a county bureau below the prefecture): nothing.
    let (_, county_token, _) = s.enrol(&admin, "QH6325210201").await;
    let (status, body) = history(&s, &county_token, &format!("plate={}", enc("青E12345"))).await;
    assert_eq!((status, body["count"].clone()), (200, json!(0)), "{body}");

    // Bad input: a clear 400 with a code and a Chinese message.
    let (status, body) = history(&s, &token, &format!("plate={}", enc("青E1234"))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "PLATE_LENGTH", "{body}");
    assert!(body["message"].as_str().unwrap().contains("号牌"), "{body}");
    let (status, body) = history(&s, &token, "").await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("HISTORY_QUERY_EMPTY"))
    );
    let (status, body) = history(
        &s,
        &token,
        &format!("plate={}&since=2024-13-01", enc("青E12345")),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("SINCE_INVALID"))
    );
    let (status, body) = history(&s, &token, "party_id=123").await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("PARTY_ID_INVALID"))
    );

    // No token: refused.
    let (status, _) = s
        .call(Method::GET, "/api/v1/history?plate=x", None, None)
        .await;
    assert_eq!(status, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_on_sqlite() {
    suite(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    suite(Some(fresh_pg_database(&admin).await)).await;
}
