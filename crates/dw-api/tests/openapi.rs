//! The OpenAPI description: the committed `docs/openapi.json` is exactly the
//! generated one (re-write it with `DW_UPDATE_OPENAPI=1`), and every route
//! the router serves is described.

use std::path::Path;

fn committed() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn the_committed_description_is_the_generated_one() {
    let generated = dw_api::openapi::openapi_json() + "\n";
    if std::env::var_os("DW_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/openapi.json differs from the description the code generates; re-write it with \
         DW_UPDATE_OPENAPI=1 cargo test -p dw-api --test openapi"
    );
}

#[test]
fn every_route_is_described_with_its_methods() {
    let spec: serde_json::Value = serde_json::from_str(&dw_api::openapi::openapi_json()).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    // The router's own table: every route but the description's pages is
    // described, a key asked for (with its 401 and 403) exactly where one is needed.
    let mut routed = std::collections::BTreeSet::new();
    for route in dw_api::routes() {
        if route.path.starts_with("/docs") || route.path == "/openapi.json" || route.via == dw_api::Via::Session {
            continue;
        }
        let method = route.method.as_str().to_lowercase();
        routed.insert((route.path.to_owned(), method.clone()));
        let operation = &spec["paths"][route.path][&method];
        assert!(operation.is_object(), "{method} {} is served but not described", route.path);
        let keyed = route.access != dw_api::Access::Public;
        let asks = operation["security"][0]["bearer"] == serde_json::json!([]);
        assert_eq!(asks, keyed, "{method} {}: needs a key {keyed}, described {asks}", route.path);
        if keyed {
            let responses = &operation["responses"];
            assert!(responses["401"].is_object() && responses["403"].is_object(), "{method} {}", route.path);
        }
    }
    let described: std::collections::BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(|m| (path.clone(), m.clone())))
        .collect();
    let unrouted: Vec<_> = described.difference(&routed).collect();
    assert!(unrouted.is_empty(), "described but not routed: {unrouted:?}");
    assert!(routed.len() >= 30, "{}", routed.len());
    let mut ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().map(|m| m["operationId"].as_str().unwrap()))
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "operation ids are unique");
}
