//! Sign-in throttling over real HTTP: five wrong passwords lock a login, twenty failures lock a
//! client address, a right password during a lock is refused too (429 `SIGN_IN_THROTTLED` with
//! `Retry-After`), success clears the login's count, and `X-Forwarded-For` counts only from a
//! configured trusted proxy. SQLite always, PostgreSQL when `ROADSIDE_TEST_PG_URL` is set.

mod common;

use common::*;
use reqwest::Method;
use roadside_server::throttle::{ACCOUNT_FAILURES, ADDRESS_FAILURES, LOCKOUT};
use serde_json::{json, Value};

/// A sign-in's answer: status, `Retry-After` if any, body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn sign_in(s: &TestServer, login: &str, password: &str, forwarded: Option<&str>) -> Answer {
    let mut req = s
        .http
        .post(s.url("/api/v1/sessions"))
        .json(&json!({"login": login, "password": password}));
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

/// A 401 `SIGN_IN_FAILED`.
fn assert_wrong(a: &Answer) {
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (401, Some("SIGN_IN_FAILED")),
        "{}",
        a.body
    );
}

/// A 429 `SIGN_IN_THROTTLED` whose `Retry-After` is whole seconds within the lockout and whose
/// message names `what` (账号 or 地址).
fn assert_throttled(a: &Answer, what: &str) {
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (429, Some("SIGN_IN_THROTTLED")),
        "{}",
        a.body
    );
    let secs: u64 = a
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    let lockout = LOCKOUT.as_secs();
    assert!((1..=lockout).contains(&secs), "{secs}");
    let message = a.body["message"].as_str().expect("message");
    assert!(message.contains(what), "{message}");
    assert!(message.contains(&format!("{secs} 秒")), "{message}");
}

/// A second account, `clerk`, with password `clerk-password-1`.
async fn add_clerk(s: &TestServer) {
    let admin = s.admin().await;
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/accounts",
            Some(&admin),
            Some(json!({"login": "clerk", "password": "clerk-password-1", "agency": "632500", "role": "supervisor"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn servers() -> Vec<TestServer> {
    let mut out = vec![TestServer::start(None).await];
    if let Some(admin) = pg_admin_url() {
        out.push(TestServer::start(Some(fresh_pg_database(&admin).await)).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_the_account_even_against_the_right_password() {
    for s in servers().await {
        add_clerk(&s).await;
        for _ in 0..ACCOUNT_FAILURES {
            assert_wrong(&sign_in(&s, "admin", "wrong-password", None).await);
        }
        let password = s.admin_password.clone();
        assert_throttled(&sign_in(&s, "admin", &password, None).await, "账号");
        assert_throttled(&sign_in(&s, "admin", "wrong-password", None).await, "账号");
        // Per account: another login from the same address still signs in.
        assert_eq!(
            sign_in(&s, "clerk", "clerk-password-1", None).await.status,
            200
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_does_not_exist_locks_the_same_way() {
    for s in servers().await {
        for _ in 0..ACCOUNT_FAILURES {
            assert_wrong(&sign_in(&s, "nobody", "wrong-password", None).await);
        }
        assert_throttled(&sign_in(&s, "nobody", "wrong-password", None).await, "账号");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_sign_in_clears_the_account_count() {
    for s in servers().await {
        let password = s.admin_password.clone();
        for _ in 0..3 {
            for _ in 0..ACCOUNT_FAILURES - 1 {
                assert_wrong(&sign_in(&s, "admin", "wrong-password", None).await);
            }
            assert_eq!(sign_in(&s, "admin", &password, None).await.status, 200);
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_one_address_lock_every_login_from_it() {
    for s in servers().await {
        // One failure per login: no login reaches its own limit, the address does.
        for i in 0..ADDRESS_FAILURES {
            assert_wrong(&sign_in(&s, &format!("guess{i}"), "wrong-password", None).await);
        }
        let password = s.admin_password.clone();
        assert_throttled(&sign_in(&s, "admin", &password, None).await, "地址");
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_unless_the_proxy_is_trusted() {
    for s in servers().await {
        for i in 0..ADDRESS_FAILURES {
            let forwarded = format!("198.51.100.{i}");
            assert_wrong(
                &sign_in(&s, &format!("guess{i}"), "wrong-password", Some(&forwarded)).await,
            );
        }
        let password = s.admin_password.clone();
        assert_throttled(
            &sign_in(&s, "admin", &password, Some("203.0.113.77")).await,
            "地址",
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_on_its_own() {
    let trust_loopback = |c: &mut roadside_server::config::Config| {
        c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    };
    let mut all = vec![TestServer::start_with(None, trust_loopback).await];
    if let Some(admin) = pg_admin_url() {
        all.push(
            TestServer::start_with(Some(fresh_pg_database(&admin).await), trust_loopback).await,
        );
    }
    for s in all {
        for i in 0..ADDRESS_FAILURES {
            // What a client wrote in front is not believed: only the hop the proxy added.
            let forwarded = format!("10.9.9.{i}, 198.51.100.1");
            assert_wrong(
                &sign_in(&s, &format!("guess{i}"), "wrong-password", Some(&forwarded)).await,
            );
        }
        let password = s.admin_password.clone();
        assert_throttled(
            &sign_in(&s, "admin", &password, Some("198.51.100.1")).await,
            "地址",
        );
        assert_eq!(
            sign_in(&s, "admin", &password, Some("198.51.100.2"))
                .await
                .status,
            200
        );
        s.stop().await;
    }
}
