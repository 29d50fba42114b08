//! The OpenAPI document (`GET /api/v1/openapi.json`) against the server that serves it: every
//! route the router holds is described, every described operation is answered by a handler (not by
//! the "no such route" fallback, not with 405), no route answers a method it does not describe, and
//! the operations described as needing a token are the ones that refuse a request without one.
//!
//! The routes are read from the router itself, so a route added without a description (a plain
//! `.route(...)` anywhere in the router's construction) fails this test. The back office's pages
//! (`roadside_server::office`) are HTML, not API, and are left out.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use roadside_server::config::Config;
use roadside_server::Server;
use serde_json::Value;

/// The methods a route might answer (axum answers HEAD with the GET handler when HEAD has none of
/// its own, as HTTP allows, so HEAD is only probed where GET is not described).
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The paths of the router's routes, as registered (axum syntax: `{param}`, `{*rest}`).
///
/// axum has no API that lists a router's routes; its `Debug` output names each one
/// (`RouteId(n): "/path"`) under `path_router`, before the `fallback_router` (whose internal
/// paths are not routes). If that output changes, this fails rather than finding no routes.
fn registered_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    let start = text
        .find("path_router")
        .expect("axum's Router Debug output names its path_router");
    let end = text
        .find("fallback_router")
        .expect("axum's Router Debug output names its fallback_router");
    let routes = &text[start..end];
    let mut paths = BTreeSet::new();
    let mut rest = routes;
    while let Some(at) = rest.find("RouteId(") {
        rest = &rest[at..];
        let Some(open) = rest.find(": \"") else { break };
        let after = &rest[open + 3..];
        let close = after.find('"').expect("closing quote");
        paths.insert(after[..close].to_string());
        rest = &after[close..];
    }
    assert!(
        paths.len() > 10,
        "read too few routes from axum's Debug output: {paths:?}"
    );
    paths
}

/// Whether a described path (OpenAPI syntax) is served by a route (axum syntax): fixed segments
/// equal, `{param}` takes one segment, `{*rest}` takes every remaining segment (at least one).
fn serves(route: &str, described: &str) -> bool {
    let mut r = route.split('/').peekable();
    let mut d = described.split('/');
    loop {
        match (r.next(), d.next()) {
            (None, None) => return true,
            (Some(seg), Some(_)) if seg.starts_with("{*") => return true,
            (Some(seg), Some(_)) if seg.starts_with('{') => continue,
            (Some(seg), Some(other)) if seg == other => continue,
            _ => return false,
        }
    }
}

/// The route that serves `described`: the one with the most fixed segments among those that
/// match (as axum prefers fixed segments to parameters).
fn route_for<'a>(routes: &'a BTreeSet<String>, described: &str) -> Option<&'a String> {
    routes
        .iter()
        .filter(|r| serves(r, described))
        .max_by_key(|r| r.split('/').filter(|s| !s.starts_with('{')).count())
}

/// A URL path for a described path: each `{param}` filled with a placeholder.
fn concrete(described: &str) -> String {
    described
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "0f0f0f0f-0000-4000-8000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_described_and_every_described_route_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::prepare(Config::for_data_dir(dir.path()))
        .await
        .expect("server starts");
    let mut routes = registered_paths(&roadside_server::routes::router(server.state.clone()));
    // The back office's pages are HTML for a browser, not API: its own router lists them, and
    // none of them lies under the API's or the log's paths.
    let pages =
        registered_paths(&roadside_server::office::routes().with_state(server.state.clone()));
    for page in &pages {
        assert!(
            !page.starts_with("/api/") && !page.starts_with("/log/") && page != "/healthz",
            "office page {page} among the API's paths"
        );
        assert!(routes.remove(page), "office page {page} is not served");
    }
    let base = server.base_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let doc: Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("the document is JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");

    // Described (route, method) pairs, each with a URL that reaches it and whether it is described
    // as needing a token.
    let mut described: BTreeMap<&String, BTreeMap<String, (String, bool)>> = BTreeMap::new();
    for (path, item) in paths {
        let route = route_for(&routes, path)
            .unwrap_or_else(|| panic!("{path} is described but no route serves it"));
        let operations = item
            .as_object()
            .expect("path item")
            .iter()
            .filter(|(k, _)| *k != "parameters");
        for (m, operation) in operations {
            let m = m.to_ascii_uppercase();
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            let previous = described
                .entry(route)
                .or_default()
                .insert(m.clone(), (concrete(path), secured));
            assert!(
                previous.is_none(),
                "{m} {route} is described under two paths"
            );
        }
    }
    let undescribed: Vec<_> = routes
        .iter()
        .filter(|r| !described.contains_key(r))
        .collect();
    assert!(
        undescribed.is_empty(),
        "routes without a description: {undescribed:?}"
    );

    for (route, methods) in &described {
        let (url, _) = methods.values().next().expect("one method at least");
        for method in METHODS {
            // With the tus header, so that a tus request gets as far as its token check.
            let resp = http
                .request(
                    Method::from_bytes(method.as_bytes()).expect("method"),
                    format!("{base}{url}"),
                )
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await
                .expect("request sent");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if let Some((_, secured)) = methods.get(method) {
                assert_eq!(
                    status == 401,
                    *secured,
                    "{method} {url} ({route}) answers {status} {body} without a token, but is described as {}",
                    if *secured { "needing one" } else { "open" }
                );
                assert_ne!(
                    status, 405,
                    "{method} {url} ({route}) is described but refused"
                );
                // An answer to HEAD has no body to name the fallback's code; the described HEADs
                // refuse a request without token or tus header before looking anything up.
                let routed = if method == "HEAD" {
                    status != 404
                } else {
                    body["code"] != "ROUTE_NOT_FOUND"
                };
                assert!(
                    routed,
                    "{method} {url} ({route}) is described but not routed: {status} {body}"
                );
            } else if !(method == "HEAD" && methods.contains_key("GET")) {
                assert_eq!(
                    status, 405,
                    "{method} {url} ({route}) is answered ({status} {body}) but not described"
                );
            }
        }
    }

    let _ = stop.send(());
    serving.await.expect("server task").expect("served");
}
