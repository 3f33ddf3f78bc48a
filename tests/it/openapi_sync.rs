//! `openapi/openapi.json` must equal what the code generates. Regenerate after an API change:
//! `UPDATE_OPENAPI=1 cargo test --test it openapi_sync::` (or `cargo run -- print-openapi > openapi/openapi.json`).

#[test]
fn openapi_file_is_in_sync() {
    let generated = trd_cds::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{}\n", generated.trim_end()))
            .expect("write openapi/openapi.json");
        return;
    }
    let on_disk = std::fs::read_to_string(path).expect(
        "openapi/openapi.json is missing; run UPDATE_OPENAPI=1 cargo test --test it openapi_sync::",
    );
    assert!(
        on_disk.trim_end() == generated.trim_end(),
        "openapi/openapi.json is stale; regenerate with: UPDATE_OPENAPI=1 cargo test --test it openapi_sync::"
    );
}

#[test]
fn openapi_documents_every_endpoint_and_error_shape() {
    let v: serde_json::Value = serde_json::from_str(&trd_cds::openapi_json()).unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/cds-services", "get"),
        ("/cds-services/{id}", "post"),
        ("/cds-services/{id}/feedback", "post"),
        ("/api/v1/assessments", "post"),
        ("/api/v1/feedback/summary", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/how-it-decides", "get"),
        ("/metrics", "get"),
    ] {
        let op = &v["paths"][path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        assert!(
            op["description"].as_str().is_some_and(|d| !d.is_empty())
                || op["summary"].as_str().is_some(),
            "{method} {path} has no description"
        );
    }
    for schema in [
        "CdsRequest",
        "CdsResponse",
        "Card",
        "Assessment",
        "OperationOutcome",
        "FeedbackRequest",
        "FeedbackSummary",
    ] {
        assert!(
            v["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}
