//! Black-box tests of the HTTP API: the real app on a random port, real HTTP.

use crate::common;

use common::app::{patient_view, prefetch_with, searchset, shared, spawn_app};
use serde_json::Value;

async fn outcome(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/fhir+json"), "content type {ct}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resourceType"], "OperationOutcome", "{v}");
    assert!(!v["issue"][0]["diagnostics"].as_str().unwrap().is_empty());
    v
}

#[tokio::test]
async fn discovery_lists_patient_view_with_the_contract_prefetch() {
    let app = spawn_app(&[]).await;
    let resp = app.get("/cds-services").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let services = v["services"].as_array().unwrap();
    let ids: Vec<&str> = services.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["trd-patient-view", "trd-order-select", "trd-order-sign"],
        "never advertise a service without its logic"
    );
    for (s, hook) in services[1..].iter().zip(["order-select", "order-sign"]) {
        assert_eq!(s["hook"], hook);
        assert_eq!(
            s["prefetch"], services[0]["prefetch"],
            "same history as patient-view"
        );
    }
    let s = &services[0];
    assert_eq!(s["id"], "trd-patient-view");
    assert_eq!(s["hook"], "patient-view");
    assert!(s["title"].as_str().is_some() && s["description"].as_str().is_some());
    let p = s["prefetch"].as_object().unwrap();
    assert_eq!(p.len(), 7);
    assert_eq!(p["patient"], "Patient/{{context.patientId}}");
    for (k, t) in [
        ("conditions", "Condition"),
        ("medicationStatements", "MedicationStatement"),
        ("medicationRequests", "MedicationRequest"),
        ("medicationDispenses", "MedicationDispense"),
        ("procedures", "Procedure"),
    ] {
        assert_eq!(p[k], format!("{t}?patient={{{{context.patientId}}}}"));
    }
    assert_eq!(
        p["observations"],
        "Observation?patient={{context.patientId}}&code=http://loinc.org|44261-6,http://loinc.org|89204-2,http://loinc.org|44260-8"
    );
}

#[tokio::test]
async fn unknown_service_and_route_are_404_operation_outcomes() {
    let app = spawn_app(&[]).await;
    let v = outcome(
        app.post_json(
            "/cds-services/nope",
            &patient_view("p1", &prefetch_with(&[])),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "id");
    outcome(app.get("/no/such/path").await, 404).await;
    outcome(
        app.post_json("/cds-services/nope/feedback", r#"{"feedback":[]}"#)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_get_400_naming_the_field() {
    let app = spawn_app(&[]).await;
    let pv = "/cds-services/trd-patient-view";
    let v = outcome(app.post_json(pv, "{not json").await, 400).await;
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
    let v = outcome(
        app.post_json(
            pv,
            r#"{"hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":{}}"#,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "hook");
    let v = outcome(
        app.post_json(
            pv,
            r#"{"hook":"patient-view","hookInstance":"not-a-uuid","context":{}}"#,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "hookInstance");
    let body = patient_view("p1", &prefetch_with(&[])).replace("patient-view\"", "order-sign\"");
    let v = outcome(app.post_json(pv, &body).await, 400).await;
    assert_eq!(v["issue"][0]["expression"][0], "hook");
    let body =
        patient_view("p1", &prefetch_with(&[])).replace(r#""patientId":"p1""#, r#""patient":"p1""#);
    let v = outcome(app.post_json(pv, &body).await, 400).await;
    assert_eq!(v["issue"][0]["expression"][0], "context.patientId");
    let v = outcome(
        app.post_json(
            pv,
            &patient_view("p1", &prefetch_with(&[("conditions", "[1,2]")])),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "prefetch.conditions");
    let v = outcome(app.post_json(pv, "[]").await, 400).await;
    assert_eq!(v["issue"][0]["expression"][0], "$");
}

#[tokio::test]
async fn wrong_content_type_is_415_and_oversize_is_413() {
    let app = spawn_app(&[("TRD_CDS_MAX_BODY_BYTES", "2048")]).await;
    let resp = app
        .client
        .post(format!("{}/cds-services/trd-patient-view", app.base))
        .header("content-type", "text/plain")
        .body(patient_view("p1", &prefetch_with(&[])))
        .send()
        .await
        .unwrap();
    let v = outcome(resp, 415).await;
    assert_eq!(v["issue"][0]["expression"][0], "Content-Type");
    let big = patient_view(
        "p1",
        &prefetch_with(&[(
            "patient",
            &format!(
                r#"{{"resourceType":"Patient","id":"p1","text":{{"div":"{}"}}}}"#,
                "x".repeat(4000)
            ),
        )]),
    );
    outcome(
        app.post_json("/cds-services/trd-patient-view", &big).await,
        413,
    )
    .await;
}

#[tokio::test]
async fn missing_or_failed_prefetch_is_412_naming_every_key() {
    let app = spawn_app(&[]).await;
    let pv = "/cds-services/trd-patient-view";
    // The official example sends only a key of its own: every required key is unsatisfied.
    let v = outcome(
        app.post_json(
            pv,
            &shared("cds-hooks-spec/spec-examples/request-patient-view.json"),
        )
        .await,
        412,
    )
    .await;
    let exprs: Vec<&str> = v["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["expression"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        exprs,
        [
            "prefetch.conditions",
            "prefetch.medicationStatements",
            "prefetch.medicationRequests",
            "prefetch.medicationDispenses",
            "prefetch.procedures",
            "prefetch.observations"
        ]
    );
    // An OperationOutcome in place of a Bundle means the EHR's prefetch failed.
    let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"timeout","diagnostics":"upstream timeout"}]}"#;
    let v = outcome(
        app.post_json(
            pv,
            &patient_view("p1", &prefetch_with(&[("medicationRequests", oo)])),
        )
        .await,
        412,
    )
    .await;
    assert_eq!(v["issue"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["issue"][0]["expression"][0],
        "prefetch.medicationRequests"
    );
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("upstream timeout")
    );
    // `patient` is not required.
    let mut body: Value = serde_json::from_str(&patient_view("p1", &prefetch_with(&[]))).unwrap();
    body["prefetch"].as_object_mut().unwrap().remove("patient");
    assert_eq!(app.post_json(pv, &body.to_string()).await.status(), 200);
}

#[tokio::test]
async fn null_prefetch_means_no_data_and_gets_no_cards() {
    let app = spawn_app(&[]).await;
    let resp = app
        .post_json(
            "/cds-services/trd-patient-view",
            &patient_view("p1", &prefetch_with(&[])),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-request-id").is_some());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"cards": []}));
}

#[tokio::test]
async fn official_request_with_extension_is_handled() {
    let app = spawn_app(&[]).await;
    // Its prefetch is not ours: 412 (documented), never a 5xx.
    let body = shared("cds-hooks-spec/spec-examples/request-with-extension.json");
    let status = app
        .post_json("/cds-services/trd-patient-view", &body)
        .await
        .status()
        .as_u16();
    assert!(matches!(status, 400 | 412), "status {status}");
}

#[tokio::test]
async fn feedback_is_validated_stored_and_idempotent() {
    let app = spawn_app(&[]).await;
    let fb = "/cds-services/trd-patient-view/feedback";
    let body = shared("cds-hooks-spec/spec-examples/feedback-overridden-with-reason.json");
    let r = app.post_json(fb, &body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["stored"].as_u64(),
            v["duplicates"].as_u64(),
            v["unmatched"].as_u64()
        ),
        (Some(1), Some(0), Some(1))
    );
    let v: Value = app.post_json(fb, &body).await.json().await.unwrap();
    assert_eq!(
        (v["stored"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    let v = outcome(app.post_json(fb, r#"{"feedback":[{"card":"c","outcome":"accepted","outcomeTimestamp":"2021-12-11T10:05:31Z"}]}"#).await, 400).await;
    assert_eq!(
        v["issue"][0]["expression"][0],
        "feedback[0].acceptedSuggestions"
    );
    outcome(app.post_json(fb, r#"{"feedback":"x"}"#).await, 400).await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app(&[]).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let v: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["store"], "memory");
    assert!(v["knowledge_base"].as_str().is_some());
}

#[tokio::test]
async fn docs_are_served_offline() {
    let app = spawn_app(&[]).await;
    let r = app.get("/swagger-ui/").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    let v: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(v["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(v["paths"]["/cds-services/{id}"]["post"].is_object());
}

#[tokio::test]
async fn assessment_api_validates_its_input() {
    let app = spawn_app(&[]).await;
    let v = outcome(
        app.post_json(
            "/api/v1/assessments",
            r#"{"resourceType":"Patient","id":"p"}"#,
        )
        .await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "resourceType");
    let v = outcome(
        app.post_json("/api/v1/assessments?as_of=2026-02-30", &searchset(&[]))
            .await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "as_of");
    let r = app
        .post_json("/api/v1/assessments?as_of=2026-03-01", &searchset(&[]))
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["as_of"], "2026-03-01");
    assert_eq!(v["status"], "not-applicable");
}

#[tokio::test]
async fn feedback_summary_counts_what_was_shown_and_done() {
    let app = spawn_app(&[]).await;
    let r = app
        .get("/api/v1/feedback/summary?from=2020-01-01&to=2030-01-01")
        .await;
    assert_eq!(r.status(), 200);
    let v = outcome(
        app.get("/api/v1/feedback/summary?from=yesterday").await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "from");
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app(&[]).await;
    let r = app
        .client
        .delete(format!("{}/cds-services", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_string())
            .as_deref(),
        Some("GET")
    );
    let v = outcome(r, 405).await;
    assert!(
        v["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("use GET")
    );
    let r = app.get("/cds-services/trd-patient-view").await;
    outcome(r, 405).await;
    let r = app.get("/Patient/12345").await;
    let v = outcome(r, 404).await;
    assert!(
        !v.to_string().contains("12345"),
        "a raw path is never echoed"
    );
}

#[tokio::test]
async fn resources_of_another_patient_are_refused() {
    let app = spawn_app(&[]).await;
    let cond = r#"{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/someone-else"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"F33.1"}]}}"#;
    let body = patient_view("p1", &prefetch_with(&[("conditions", &searchset(&[cond]))]));
    let v = outcome(
        app.post_json("/cds-services/trd-patient-view", &body).await,
        400,
    )
    .await;
    assert_eq!(v["issue"][0]["expression"][0], "prefetch");
    assert!(
        !v.to_string().contains("someone-else"),
        "never echo the other patient's id"
    );
    let mine = cond.replace("someone-else", "p1");
    let body = patient_view(
        "p1",
        &prefetch_with(&[("conditions", &searchset(&[&mine]))]),
    );
    assert_eq!(
        app.post_json("/cds-services/trd-patient-view", &body)
            .await
            .status(),
        200
    );
    let two = searchset(&[cond, &mine]);
    let v = outcome(app.post_json("/api/v1/assessments", &two).await, 400).await;
    assert_eq!(v["issue"][0]["expression"][0], "entry");
}
