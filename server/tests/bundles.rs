//! Reference bundles over real HTTP on an ephemeral port, checked with the core's verification
//! (what a device does): the manifest verifies with the key pinned at enrolment, components
//! verify by hash, a rules engine loaded from them gives the bundled engine's guidance; a roster
//! change makes a new version where only the roster changes; 304 when unchanged; each agency sees
//! its own bundle; tampering is detected. One behaviour a test, each on SQLite and on PostgreSQL
//! (`backend_tests!`; PostgreSQL needs `ROADSIDE_TEST_PG_URL`).

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::*;
use reqwest::{header, Method, StatusCode};
use roadside_core::bundle::{self, code, HeldBundle, ROSTER};
use roadside_core::rules::RuleBook;
use serde_json::{json, Value};

backend_tests!(db:
    the_first_pull_verifies_and_gives_the_bundled_guidance,
    the_first_pull_holds_only_the_agencys_roster,
    an_unchanged_bundle_answers_304_to_its_etag,
    an_unchanged_bundle_answers_304_to_its_version,
    a_since_that_is_not_a_number_is_refused,
    a_component_answers_304_to_its_own_hash,
    a_roster_change_publishes_a_version_where_only_the_roster_changed,
    an_old_component_stays_fetchable,
    the_same_roster_change_again_publishes_nothing,
    a_device_refuses_an_older_manifest,
    a_component_changed_in_transit_is_detected,
    a_manifest_changed_in_transit_is_refused,
    each_agency_has_its_own_key_and_roster,
    adding_an_officer_changes_only_that_agencys_bundle,
    bad_component_paths_are_refused,
    the_manifest_needs_a_device_token,
    the_bundle_routes_are_documented,
    concurrent_publishers_agree_on_one_new_version,
);

async fn the_first_pull_verifies_and_gives_the_bundled_guidance(db: Db) {
    // `BundleSite::on` pulls and verifies the manifest and every component as a device does.
    let b = BundleSite::on(&db).await;
    assert_eq!(b.dev.agency, "632500");
    assert_eq!(b.m1.agency, "632500");
    assert_eq!(b.m1.key, b.dev.bundle_key);
    assert_eq!(
        b.m1.version, 1,
        "published once at start, nothing changed since"
    );
    assert_eq!(
        b.m1.components.len(),
        roadside_core::rules::bundled::FILES.len() + 1
    );
    assert_eq!(b.fetched1.len(), b.m1.components.len());
    let loaded = bundle::load_bundle(&b.m1, &b.held1).expect("bundle loads");
    assert_eq!(
        guidance(&loaded.rules),
        guidance(&RuleBook::bundled().expect("bundled"))
    );
    b.s.stop().await;
}

async fn the_first_pull_holds_only_the_agencys_roster(db: Db) {
    let b = BundleSite::on(&db).await;
    let loaded = bundle::load_bundle(&b.m1, &b.held1).expect("bundle loads");
    let officer = loaded.roster.officer("QH6325000102").expect("in roster");
    assert_eq!(officer.revoked_on, None);
    assert!(loaded.roster.officers.iter().all(|o| o.agency == "632500"));
    assert!(loaded.roster.officer("QH6325210201").is_none());
    b.s.stop().await;
}

async fn an_unchanged_bundle_answers_304_to_its_etag(db: Db) {
    let b = BundleSite::on(&db).await;
    let etag1 = b.f1.etag.clone().expect("etag");
    let f = get_manifest(&b.s, &b.dev.token, "", Some(&etag1)).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    assert!(f.body.is_empty());
    let f = get_manifest(&b.s, &b.dev.token, "", Some(&format!("W/{etag1}, \"x\""))).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    b.s.stop().await;
}

/// 304 to the version held; a stale `since` gets the manifest.
async fn an_unchanged_bundle_answers_304_to_its_version(db: Db) {
    let b = BundleSite::on(&db).await;
    let f = get_manifest(&b.s, &b.dev.token, "?since=1", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    let f = get_manifest(&b.s, &b.dev.token, "?since=0", None).await;
    assert_eq!(f.status, StatusCode::OK);
    b.s.stop().await;
}

async fn a_since_that_is_not_a_number_is_refused(db: Db) {
    let b = BundleSite::on(&db).await;
    let f = get_manifest(&b.s, &b.dev.token, "?since=abc", None).await;
    assert_eq!(f.status, StatusCode::BAD_REQUEST);
    let err: Value = serde_json::from_slice(&f.body).expect("error body");
    assert_eq!(err["code"], "QUERY_INVALID");
    b.s.stop().await;
}

async fn a_component_answers_304_to_its_own_hash(db: Db) {
    let b = BundleSite::on(&db).await;
    let c = b.m1.component("policy.toml").expect("policy");
    let resp =
        b.s.http
            .get(b.s.url(&bundle::component_path(c)))
            .bearer_auth(&b.dev.token)
            .header(header::IF_NONE_MATCH, format!("\"{}\"", c.sha256))
            .send()
            .await
            .expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    b.s.stop().await;
}

/// Revoking an officer makes version 2, where only the roster changed: the held ETag is no longer
/// current, and only the roster is downloaded again.
async fn a_roster_change_publishes_a_version_where_only_the_roster_changed(db: Db) {
    let b = BundleSite::on(&db).await;
    b.revoke_officer().await;
    let etag1 = b.f1.etag.clone().expect("etag");
    let f = get_manifest(&b.s, &b.dev.token, "", Some(&etag1)).await;
    assert_eq!(
        f.status,
        StatusCode::OK,
        "the held ETag is no longer current"
    );
    let (m2, _, _) = pull(&b.s, &b.dev, Some(&HeldBundle::of(&b.m1, &b.id1))).await;
    assert_eq!(m2.version, 2);
    assert_eq!(
        m2.changed_since(1)
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [ROSTER]
    );
    let (held2, fetched) = fetch_plan(&b.s, &b.dev, &m2, &b.held1).await;
    assert_eq!(fetched, [ROSTER], "only the roster is downloaded again");
    let loaded2 = bundle::load_bundle(&m2, &held2).expect("bundle v2 loads");
    assert_eq!(
        loaded2
            .roster
            .officer("QH6325000102")
            .and_then(|o| o.revoked_on),
        roadside_core::day::parse_day("2026-11-29")
    );
    b.s.stop().await;
}

/// The old roster stays fetchable after a new version (content-addressed, immutable).
async fn an_old_component_stays_fetchable(db: Db) {
    let b = BundleSite::on(&db).await;
    b.second_version().await;
    let old_roster = b.m1.component(ROSTER).expect("roster v1");
    assert_eq!(
        get_component(&b.s, &b.dev.token, old_roster).await.0,
        StatusCode::OK
    );
    b.s.stop().await;
}

async fn the_same_roster_change_again_publishes_nothing(db: Db) {
    let b = BundleSite::on(&db).await;
    b.second_version().await;
    b.revoke_officer().await;
    let f = get_manifest(&b.s, &b.dev.token, "?since=2", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    b.s.stop().await;
}

/// A server offering the older manifest again is refused by the device (rollback).
async fn a_device_refuses_an_older_manifest(db: Db) {
    let b = BundleSite::on(&db).await;
    let (m2, id2, _, _, _) = b.second_version().await;
    let old = bundle::SignedManifest::from_envelope(&b.f1.body).expect("envelope");
    let key = bundle::parse_public_key(&b.dev.bundle_key).expect("key");
    let old_m = old.verify(&key).expect("old manifest still verifies");
    let held2 = HeldBundle::of(&m2, &id2);
    let e = bundle::check_update(&old_m, &old.id(), "632500", Some(&held2)).unwrap_err();
    assert_eq!(e.code(), code::VERSION_ROLLBACK);
    b.s.stop().await;
}

async fn a_component_changed_in_transit_is_detected(db: Db) {
    let b = BundleSite::on(&db).await;
    let (m2, _, _, held2, _) = b.second_version().await;
    let mut policy = held2["policy.toml"].clone();
    let i = policy
        .iter()
        .position(|b| b.is_ascii_digit())
        .expect("a digit");
    policy[i] = if policy[i] == b'9' {
        b'8'
    } else {
        policy[i] + 1
    };
    let e = bundle::verify_component(&m2, "policy.toml", &policy).unwrap_err();
    assert_eq!(e.code(), code::COMPONENT_HASH_MISMATCH);
    let mut tampered = held2.clone();
    tampered.insert("policy.toml".into(), policy);
    assert_eq!(
        bundle::load_bundle(&m2, &tampered).unwrap_err().code(),
        code::COMPONENT_HASH_MISMATCH
    );
    b.s.stop().await;
}

async fn a_manifest_changed_in_transit_is_refused(db: Db) {
    let b = BundleSite::on(&db).await;
    let (_, _, f2, _, _) = b.second_version().await;
    let key = bundle::parse_public_key(&b.dev.bundle_key).expect("key");
    let mut env: Value = serde_json::from_slice(&f2.body).expect("envelope json");
    let text = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            env["manifest"].as_str().expect("manifest"),
        )
        .expect("b64"),
    )
    .expect("utf8");
    let forged = text.replace("\"version\":2", "\"version\":9");
    assert_ne!(forged, text);
    env["manifest"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, forged).into();
    let forged = bundle::SignedManifest::from_envelope(env.to_string().as_bytes()).expect("env");
    assert_eq!(
        forged.verify(&key).unwrap_err().code(),
        code::SIGNATURE_INVALID
    );
    b.s.stop().await;
}

/// Another agency: its own key, its own roster, no access to this agency's roster.
async fn each_agency_has_its_own_key_and_roster(db: Db) {
    let b = BundleSite::on(&db).await;
    let key = bundle::parse_public_key(&b.dev.bundle_key).expect("key");
    let county = enrol_for_bundles(&b.s, &b.admin, "QH6325210201").await;
    assert_eq!(county.agency, "632521");
    assert_ne!(county.bundle_key, b.dev.bundle_key);
    let (mc, _, fc) = pull(&b.s, &county, None).await;
    assert_eq!(mc.agency, "632521");
    let other = bundle::SignedManifest::from_envelope(&fc.body).expect("env");
    assert_eq!(
        other.verify(&key).unwrap_err().code(),
        code::SIGNATURE_INVALID,
        "632500's pinned key refuses 632521's bundle"
    );
    let (county_held, _) = fetch_plan(&b.s, &county, &mc, &BTreeMap::new()).await;
    let county_loaded = bundle::load_bundle(&mc, &county_held).expect("county bundle");
    assert!(county_loaded
        .roster
        .officers
        .iter()
        .all(|o| o.agency == "632521"));
    assert!(county_loaded.roster.officer("QH6325210201").is_some());
    let (status, _) = get_component(&b.s, &county.token, b.m1.component(ROSTER).expect("r")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another agency's roster");
    b.s.stop().await;
}

async fn adding_an_officer_changes_only_that_agencys_bundle(db: Db) {
    let b = BundleSite::on(&db).await;
    let county = enrol_for_bundles(&b.s, &b.admin, "QH6325210201").await;
    let (mc, _, _) = pull(&b.s, &county, None).await;
    let (status, body) =
        b.s.call(
            Method::POST,
            "/api/v1/officers",
            Some(&b.admin),
            Some(json!({
                "certificate_no": "QH6325210202", "name": "韩德明", "agency": "632521",
                "role": "officer", "valid_from": "2025-01-01", "valid_to": "2031-12-31"
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (mc2, _, _) = pull(&b.s, &county, None).await;
    assert_eq!(mc2.version, mc.version + 1);
    let f = get_manifest(&b.s, &b.dev.token, "?since=1", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED, "632500 unchanged");
    b.s.stop().await;
}

async fn bad_component_paths_are_refused(db: Db) {
    let b = BundleSite::on(&db).await;
    let (status, body) =
        b.s.call(
            Method::GET,
            &format!("/api/v1/bundles/components/policy.toml/{}", "AB".repeat(32)),
            Some(&b.dev.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("BUNDLE_COMPONENT_PATH_INVALID"))
    );
    let (status, body) =
        b.s.call(
            Method::GET,
            &format!("/api/v1/bundles/components/policy.toml/{}", "ab".repeat(32)),
            Some(&b.dev.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("BUNDLE_COMPONENT_NOT_FOUND"))
    );
    b.s.stop().await;
}

async fn the_manifest_needs_a_device_token(db: Db) {
    let b = BundleSite::on(&db).await;
    let (status, _) =
        b.s.call(Method::GET, "/api/v1/bundles/manifest", None, None)
            .await;
    assert_eq!(status, 401);
    let (status, body) =
        b.s.call(
            Method::GET,
            "/api/v1/bundles/manifest",
            Some(&b.admin),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("DEVICE_TOKEN_INVALID")),
        "an account token is not a device token"
    );
    b.s.stop().await;
}

async fn the_bundle_routes_are_documented(db: Db) {
    let s = db.server().await;
    let (_, doc) = s
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    for path in [
        "/api/v1/bundles/manifest",
        "/api/v1/bundles/components/{name}/{sha256}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    s.stop().await;
}

/// A restart publishes nothing new (same key, same version, same manifest bytes); a reference
/// file placed in `<data-dir>/reference/` is published as a new version with only that file
/// changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_bundle_and_publishes_a_changed_reference_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db.sqlite3").to_string_lossy().into_owned();
    let keys = dir.path().join("keys");
    let first = TestServer::start_with(Some(db.clone()), |c| c.key_dir = Some(keys.clone())).await;
    let admin = first.admin().await;
    let dev = enrol_for_bundles(&first, &admin, "QH6325000101").await;
    let (m1, id1, _) = pull(&first, &dev, None).await;
    first.stop().await;

    let second = TestServer::start_with(Some(db.clone()), |c| c.key_dir = Some(keys.clone())).await;
    let (m, id, _) = pull(&second, &dev, Some(&HeldBundle::of(&m1, &id1))).await;
    assert_eq!((m.version, &id), (m1.version, &id1), "nothing changed");
    second.stop().await;

    // A clerk's edit of the policy, dropped into the third server's data directory.
    let policy = roadside_core::rules::bundled::FILES
        .iter()
        .find(|(p, _)| *p == "policy.toml")
        .map(|(_, t)| t.to_string())
        .expect("policy");
    let edited = format!("# 本机构修订：说明文字\n{policy}");
    assert_ne!(edited, policy);
    let third = TestServer::start_with(Some(db), |c| {
        c.key_dir = Some(keys.clone());
        let refdir = c.data_dir.join("reference");
        std::fs::create_dir_all(&refdir).expect("mkdir");
        std::fs::write(refdir.join("policy.toml"), &edited).expect("write");
    })
    .await;
    let (m3, _, _) = pull(&third, &dev, Some(&HeldBundle::of(&m1, &id1))).await;
    assert_eq!(m3.version, m1.version + 1);
    assert_eq!(
        m3.changed_since(m1.version)
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["policy.toml"]
    );
    let (status, bytes) =
        get_component(&third, &dev.token, m3.component("policy.toml").expect("p")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, edited.as_bytes());
    third.stop().await;
}

/// Two publishers on one database (two replicas: separate storage handles and bundlers), asked at
/// once after a roster change, agree on one new version signed with one key.
async fn concurrent_publishers_agree_on_one_new_version(db: Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db.new_database_url(dir.path()).await;
    use roadside_server::bundles::Bundler;
    use roadside_server::keys::KeyDir;
    use std::sync::Arc;
    let stores = [
        roadside_server::storage::open(&url).await.expect("open"),
        roadside_server::storage::open(&url).await.expect("open"),
    ];
    for a in roadside_server::bootstrap::demo_agencies() {
        stores[0].upsert_agency(&a).await.expect("agency");
    }
    let mut roster = roadside_core::demo::roster();
    for o in &roster {
        stores[0].put_officer(o).await.expect("officer");
    }
    // Both replicas on one key directory (two processes on one host may share it).
    let key_dir = tempfile::tempdir().expect("tempdir");
    let keys = [
        Arc::new(KeyDir::open(&key_dir.path().join("keys")).expect("key dir")),
        Arc::new(KeyDir::open(&key_dir.path().join("keys")).expect("key dir")),
    ];
    let bundlers = [
        Arc::new(
            Bundler::from_files(bundle::bundled_reference(), keys[0].clone())
                .expect("the bundled reference is valid"),
        ),
        Arc::new(
            Bundler::from_files(bundle::bundled_reference(), keys[1].clone())
                .expect("the bundled reference is valid"),
        ),
    ];
    let first = bundlers[0]
        .current(&stores[0], "632500")
        .await
        .expect("publish");
    assert_eq!(first.version, 1);
    let key0 = bundlers[0]
        .public_key_hex(&stores[0], "632500")
        .await
        .expect("key");
    let key1 = bundlers[1]
        .public_key_hex(&stores[1], "632500")
        .await
        .expect("key");
    assert_eq!(key0, key1, "one agency key for every replica");

    roster[1].revoked_on = roadside_core::day::parse_day("2026-11-29");
    stores[1].put_officer(&roster[1]).await.expect("revoke");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (b, s) = (bundlers[i % 2].clone(), stores[i % 2].clone());
        tasks.push(tokio::spawn(async move { b.current(&s, "632500").await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let p = t.await.expect("join").expect("publish");
        assert_eq!(p.version, 2);
        ids.insert(p.id);
    }
    assert_eq!(ids.len(), 1, "one manifest for version 2");
    let latest = stores[0]
        .latest_bundle("632500")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(latest.version, 2);
    let key = bundle::parse_public_key(&key0).expect("key");
    let m = bundle::verify_manifest(&latest.manifest, &latest.signature, &key).expect("verifies");
    assert_eq!(
        m.changed_since(1)
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [ROSTER]
    );
}
