//! The OpenAPI document is valid OpenAPI 3.1 and matches the router (the endpoints test
//! checks that every documented operation answers).

use serde_json::Value;
use std::collections::BTreeSet;

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../fixtures/openapi-3.1.schema.json")).expect("schema");
    jsonschema::validator_for(&schema).expect("the OpenAPI 3.1 schema compiles")
}

fn problems(doc: &Value) -> Vec<String> {
    validator()
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = chronos_server::openapi_json();
    assert_eq!(doc["openapi"], "3.1.0");
    let errors = problems(&doc);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    // The validator does reject broken documents.
    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!problems(&broken).is_empty());
    let mut broken = doc.clone();
    broken["paths"]["/healthz"]["get"]["responses"] = Value::String("none".into());
    assert!(!problems(&broken).is_empty());
}

#[test]
fn every_path_declares_its_parameters_and_a_unique_operation_id() {
    let doc = chronos_server::openapi_json();
    let mut ids = BTreeSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    // Four collection prefixes × nineteen operations, the tiered fetch, signed links, four
    // system endpoints, three analytics endpoints, two tenant erasure endpoints.
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        operations,
        4 * 19 + 1 + 1 + 4 + 3 + 2,
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, item) in paths {
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(String::from)
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().expect("operationId").to_string();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, in_path, "{method} {path}");
            if path.starts_with("/v1/") && !path.starts_with("/v1/blobs/") {
                for status in ["400", "401", "404", "503"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
        }
    }
}

/// The TypeScript client's types are generated from a checked-in copy of the document.
/// Regenerate with `cargo run -p chronos -- openapi > clients/typescript/openapi.json`
/// (then `npm run generate` in `clients/typescript`).
#[test]
fn the_typescript_clients_copy_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../clients/typescript/openapi.json");
    let copy: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the copy")).expect("JSON");
    assert!(
        copy == chronos_server::openapi_json(),
        "{} is stale: regenerate it",
        path.display()
    );
}
