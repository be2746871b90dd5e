//! The Grafana dashboard in `docs/` charts only metrics the service emits:
//! every `distillwatch_*` name its queries use (histogram suffixes aside)
//! is recorded somewhere in the crates' sources.

use std::path::Path;

fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_metric_the_dashboard_charts_is_emitted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/grafana-dashboard.json")).unwrap()).unwrap();
    let mut code = String::new();
    sources(&root.join("crates"), &mut code);
    let mut charted = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(start) = rest.find("distillwatch_") {
                let name: String =
                    rest[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[start + name.len()..];
                let name = name.strip_suffix("_bucket").unwrap_or(&name).to_owned();
                charted.push(name);
            }
        }
    }
    assert!(charted.len() >= 15, "{charted:?}");
    for name in &charted {
        assert!(code.contains(&format!("\"{name}\"")), "the dashboard charts {name}, which no crate records");
    }
}
