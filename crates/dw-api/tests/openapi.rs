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
    let router = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/mod.rs")).unwrap();
    let mut described = 0;
    for line in router.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let path = line.trim_start_matches(".route(\"").split('"').next().unwrap();
        if path.starts_with("/docs") || path == "/openapi.json" {
            continue;
        }
        let item = &spec["paths"][path];
        assert!(item.is_object(), "{path} is served but not described");
        for method in ["get", "post", "patch", "delete"] {
            let served = line.contains(&format!("{method}(")) || line.contains(&format!(".{method}("));
            assert_eq!(
                served,
                item[method].is_object(),
                "{method} {path}: served {served}, described {}",
                item[method].is_object()
            );
        }
        if path.starts_with("/v1/") {
            for method in item.as_object().unwrap().values() {
                assert_eq!(method["security"][0]["bearer"], serde_json::json!([]), "{path} asks for a key");
                assert!(method["responses"]["401"].is_object() && method["responses"]["403"].is_object(), "{path}");
            }
        }
        described += 1;
    }
    assert!(described >= 20, "{described}");
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
