//! Reference bundles over real HTTP on an ephemeral port, checked with the core's verification
//! (what a device does): the manifest verifies with the key pinned at enrolment, components
//! verify by hash, a rules engine loaded from them gives the bundled engine's guidance; a roster
//! change makes a new version where only the roster changes; 304 when unchanged; each agency sees
//! its own bundle; tampering is detected. Runs on SQLite always and on PostgreSQL when
//! `ROADSIDE_TEST_PG_URL` is set.

mod common;

use std::collections::BTreeMap;

use common::*;
use reqwest::{header, Method, StatusCode};
use roadside_core::bundle::{self, code, HeldBundle, HeldComponent, Manifest, Update, ROSTER};
use roadside_core::rules::{GuidanceRequest, RuleBook};
use serde_json::{json, Value};

/// A device as the test drives it: token, agency and the bundle key pinned at enrolment.
struct Dev {
    token: String,
    agency: String,
    bundle_key: String,
}

async fn enrol(s: &TestServer, admin: &str, certificate_no: &str) -> Dev {
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/enrolment-codes",
            Some(admin),
            Some(json!({"certificate_no": certificate_no})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = roadside_core::ledger::DeviceKey::generate();
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/devices/enrol",
            None,
            Some(json!({"code": body["code"], "public_key": key.public_hex()})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let bundle_key = body["bundle_key"].as_str().expect("bundle_key").to_string();
    assert_eq!(bundle_key.len(), 64, "{body}");
    Dev {
        token: body["token"].as_str().expect("token").to_string(),
        agency: body["agency"].as_str().expect("agency").to_string(),
        bundle_key,
    }
}

/// What `GET /api/v1/bundles/manifest` answered.
struct Fetched {
    status: StatusCode,
    etag: Option<String>,
    version_header: Option<u64>,
    body: Vec<u8>,
}

async fn get_manifest(s: &TestServer, token: &str, query: &str, etag: Option<&str>) -> Fetched {
    let mut req = s
        .http
        .get(s.url(&format!("/api/v1/bundles/manifest{query}")))
        .bearer_auth(token);
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    let resp = req.send().await.expect("manifest request");
    let status = resp.status();
    let etag = resp
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let version_header = resp
        .headers()
        .get("roadside-bundle-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.bytes().await.expect("body").to_vec();
    Fetched {
        status,
        etag,
        version_header,
        body,
    }
}

/// Fetch and verify the current manifest the way a device does.
async fn pull(s: &TestServer, dev: &Dev, held: Option<&HeldBundle>) -> (Manifest, String, Fetched) {
    let f = get_manifest(s, &dev.token, "", None).await;
    assert_eq!(f.status, StatusCode::OK);
    let signed = bundle::SignedManifest::from_envelope(&f.body).expect("envelope");
    let key = bundle::parse_public_key(&dev.bundle_key).expect("pinned key");
    let m = signed
        .verify(&key)
        .expect("manifest verifies with the pinned key");
    let id = signed.id();
    assert_eq!(f.etag.as_deref(), Some(format!("\"{id}\"").as_str()));
    assert_eq!(f.version_header, Some(m.version));
    assert_eq!(
        bundle::check_update(&m, &id, &dev.agency, held).expect("update accepted"),
        if held.is_some_and(|h| h.manifest_id == id) {
            Update::Unchanged
        } else {
            Update::Newer
        }
    );
    (m, id, f)
}

async fn get_component(
    s: &TestServer,
    token: &str,
    c: &bundle::Component,
) -> (StatusCode, Vec<u8>) {
    let resp = s
        .http
        .get(s.url(&bundle::component_path(c)))
        .bearer_auth(token)
        .send()
        .await
        .expect("component request");
    let status = resp.status();
    if status == StatusCode::OK {
        assert_eq!(
            resp.headers()
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("private, max-age=31536000, immutable")
        );
    }
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Fetch what the plan says, verifying each component; returns the new component set.
async fn fetch_plan(
    s: &TestServer,
    dev: &Dev,
    m: &Manifest,
    held: &BTreeMap<String, Vec<u8>>,
) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let held_list: Vec<HeldComponent> = held
        .iter()
        .map(|(name, b)| HeldComponent {
            name: name.clone(),
            sha256: bundle::sha256_hex(b),
        })
        .collect();
    let plan = bundle::plan_fetch(m, &held_list);
    let mut out = held.clone();
    for name in &plan.drop {
        out.remove(name);
    }
    let mut fetched = Vec::new();
    for c in &plan.fetch {
        let (status, bytes) = get_component(s, &dev.token, c).await;
        assert_eq!(status, StatusCode::OK, "{}", c.name);
        bundle::verify_component(m, &c.name, &bytes).expect("component verifies");
        out.insert(c.name.clone(), bytes);
        fetched.push(c.name.clone());
    }
    (out, fetched)
}

fn guidance(book: &RuleBook) -> Value {
    let req: GuidanceRequest = serde_json::from_value(json!({
        "violations": ["CX-43-2"],
        "facts": {"act_date": "2026-05-01", "gross_weight_kg": 52000.0, "axles": 6, "combination": true}
    }))
    .expect("request");
    serde_json::to_value(book.guide(&req).expect("guidance")).expect("json")
}

async fn suite(db: Option<String>) {
    let s = TestServer::start(db).await;
    let admin = s.admin().await;
    let dev = enrol(&s, &admin, "QH6325000101").await;
    assert_eq!(dev.agency, "632500");

    // First pull: every component, verified; the engine built from them answers as the bundled one.
    let (m1, id1, f1) = pull(&s, &dev, None).await;
    assert_eq!(m1.agency, "632500");
    assert_eq!(m1.key, dev.bundle_key);
    assert_eq!(
        m1.version, 1,
        "published once at start, nothing changed since"
    );
    assert_eq!(
        m1.components.len(),
        roadside_core::rules::bundled::FILES.len() + 1
    );
    let (held, fetched) = fetch_plan(&s, &dev, &m1, &BTreeMap::new()).await;
    assert_eq!(fetched.len(), m1.components.len());
    let loaded = bundle::load_bundle(&m1, &held).expect("bundle loads");
    assert_eq!(
        guidance(&loaded.rules),
        guidance(&RuleBook::bundled().expect("bundled"))
    );
    let officer = loaded.roster.officer("QH6325000102").expect("in roster");
    assert_eq!(officer.revoked_on, None);
    assert!(loaded.roster.officers.iter().all(|o| o.agency == "632500"));
    assert!(loaded.roster.officer("QH6325210201").is_none());

    // Unchanged: 304 by ETag and by version; a stale `since` gets the manifest.
    let etag1 = f1.etag.clone().expect("etag");
    let f = get_manifest(&s, &dev.token, "", Some(&etag1)).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    assert!(f.body.is_empty());
    let f = get_manifest(&s, &dev.token, "", Some(&format!("W/{etag1}, \"x\""))).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    let f = get_manifest(&s, &dev.token, "?since=1", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);
    let f = get_manifest(&s, &dev.token, "?since=0", None).await;
    assert_eq!(f.status, StatusCode::OK);
    let f = get_manifest(&s, &dev.token, "?since=abc", None).await;
    assert_eq!(f.status, StatusCode::BAD_REQUEST);
    let err: Value = serde_json::from_slice(&f.body).expect("error body");
    assert_eq!(err["code"], "QUERY_INVALID");
    // Components answer 304 to their own hash.
    let c = m1.component("policy.toml").expect("policy");
    let resp = s
        .http
        .get(s.url(&bundle::component_path(c)))
        .bearer_auth(&dev.token)
        .header(header::IF_NONE_MATCH, format!("\"{}\"", c.sha256))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Revoke an officer: a new version where only the roster changed.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/officers/QH6325000102/revoke",
            Some(&admin),
            Some(json!({"on": "2026-11-29"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let held1 = HeldBundle::of(&m1, &id1);
    let f = get_manifest(&s, &dev.token, "", Some(&etag1)).await;
    assert_eq!(
        f.status,
        StatusCode::OK,
        "the held ETag is no longer current"
    );
    let (m2, id2, f2) = pull(&s, &dev, Some(&held1)).await;
    assert_eq!(m2.version, 2);
    assert_eq!(
        m2.changed_since(1)
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [ROSTER]
    );
    let (held2, fetched) = fetch_plan(&s, &dev, &m2, &held).await;
    assert_eq!(fetched, [ROSTER], "only the roster is downloaded again");
    let loaded2 = bundle::load_bundle(&m2, &held2).expect("bundle v2 loads");
    assert_eq!(
        loaded2
            .roster
            .officer("QH6325000102")
            .and_then(|o| o.revoked_on),
        roadside_core::day::parse_day("2026-11-29")
    );
    // The old roster stays fetchable (content-addressed, immutable).
    let old_roster = m1.component(ROSTER).expect("roster v1");
    assert_eq!(
        get_component(&s, &dev.token, old_roster).await.0,
        StatusCode::OK
    );

    // The same change again changes nothing: no new version.
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/officers/QH6325000102/revoke",
            Some(&admin),
            Some(json!({"on": "2026-11-29"})),
        )
        .await;
    assert_eq!(status, 200);
    let f = get_manifest(&s, &dev.token, "?since=2", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED);

    // A server offering the older manifest again is refused by the device (rollback).
    let old = bundle::SignedManifest::from_envelope(&f1.body).expect("envelope");
    let key = bundle::parse_public_key(&dev.bundle_key).expect("key");
    let old_m = old.verify(&key).expect("old manifest still verifies");
    let held2b = HeldBundle::of(&m2, &id2);
    let e = bundle::check_update(&old_m, &old.id(), "632500", Some(&held2b)).unwrap_err();
    assert_eq!(e.code(), code::VERSION_ROLLBACK);

    // Tampering is detected: a component changed in transit, a manifest changed in transit.
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

    // Another agency: its own key, its own roster, no access to this agency's roster.
    let county = enrol(&s, &admin, "QH6325210201").await;
    assert_eq!(county.agency, "632521");
    assert_ne!(county.bundle_key, dev.bundle_key);
    let (mc, _, fc) = pull(&s, &county, None).await;
    assert_eq!(mc.agency, "632521");
    let other = bundle::SignedManifest::from_envelope(&fc.body).expect("env");
    assert_eq!(
        other.verify(&key).unwrap_err().code(),
        code::SIGNATURE_INVALID,
        "632500's pinned key refuses 632521's bundle"
    );
    let (county_held, _) = fetch_plan(&s, &county, &mc, &BTreeMap::new()).await;
    let county_loaded = bundle::load_bundle(&mc, &county_held).expect("county bundle");
    assert!(county_loaded
        .roster
        .officers
        .iter()
        .all(|o| o.agency == "632521"));
    assert!(county_loaded.roster.officer("QH6325210201").is_some());
    let (status, _) = get_component(&s, &county.token, m2.component(ROSTER).expect("r")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another agency's roster");
    // Adding an officer to the county changes the county's bundle only.
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/officers",
            Some(&admin),
            Some(json!({
                "certificate_no": "QH6325210202", "name": "韩德明", "agency": "632521",
                "role": "officer", "valid_from": "2025-01-01", "valid_to": "2031-12-31"
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (mc2, _, _) = pull(&s, &county, None).await;
    assert_eq!(mc2.version, mc.version + 1);
    let f = get_manifest(&s, &dev.token, "?since=2", None).await;
    assert_eq!(f.status, StatusCode::NOT_MODIFIED, "632500 unchanged");

    // Bad requests.
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/api/v1/bundles/components/policy.toml/{}", "AB".repeat(32)),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("BUNDLE_COMPONENT_PATH_INVALID"))
    );
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/api/v1/bundles/components/policy.toml/{}", "ab".repeat(32)),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("BUNDLE_COMPONENT_NOT_FOUND"))
    );
    let (status, _) = s
        .call(Method::GET, "/api/v1/bundles/manifest", None, None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = s
        .call(Method::GET, "/api/v1/bundles/manifest", Some(&admin), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("DEVICE_TOKEN_INVALID")),
        "an account token is not a device token"
    );

    // Documented.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_on_sqlite() {
    suite(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        eprintln!(
            "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
        );
        return;
    };
    suite(Some(fresh_pg_database(&admin).await)).await;
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
    let dev = enrol(&first, &admin, "QH6325000101").await;
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
async fn concurrent_publishers(url: String) {
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
        Arc::new(Bundler::from_files(
            bundle::bundled_reference(),
            keys[0].clone(),
        )),
        Arc::new(Bundler::from_files(
            bundle::bundled_reference(),
            keys[1].clone(),
        )),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    concurrent_publishers(dir.path().join("db.sqlite3").to_string_lossy().into_owned()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_postgres() {
    let Some(admin) = pg_admin_url() else {
        eprintln!(
            "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
        );
        return;
    };
    concurrent_publishers(fresh_pg_database(&admin).await).await;
}
