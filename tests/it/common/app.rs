//! Start the real application on a random loopback port (black-box tests over HTTP).

#![allow(dead_code)]

use std::collections::HashMap;

use trd_cds::config::Config;
use trd_cds::http::Application;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
}

/// Start the app with default settings plus `env` overrides (e.g. `("TRD_CDS_MAX_BODY_BYTES", "2048")`).
pub async fn spawn_app(env: &[(&str, &str)]) -> TestApp {
    let mut m: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    m.entry("TRD_CDS_ADDR".into())
        .or_insert_with(|| "127.0.0.1:0".into());
    m.entry("TRD_CDS_WORKERS".into())
        .or_insert_with(|| "1".into());
    // Client JWTs are checked only by the tests that ask for it (tests/it/auth.rs: `TRD_CDS_AUTH=on`).
    m.entry("TRD_CDS_AUTH".into())
        .or_insert_with(|| "off".into());
    let config = Config::from_lookup(|k| m.get(k).cloned()).expect("test config");
    let app = Application::build(&config).await.expect("app starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request sent")
    }
    /// POST JSON with `Authorization: Bearer <token>`.
    pub async fn post_json_bearer(&self, path: &str, body: &str, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .expect("request sent")
    }
    /// GET with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("request sent")
    }
}

/// A file of the third-party test data in `tests/data/` (see its README); panics when missing.
pub fn shared(rel: &str) -> String {
    let p = format!("{}/tests/data/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A patient-view request with the given prefetch object (JSON text).
pub fn patient_view(patient: &str, prefetch: &str) -> String {
    format!(
        r#"{{"hook":"patient-view","hookInstance":"{}","context":{{"userId":"Practitioner/u1","patientId":"{patient}"}},"prefetch":{prefetch}}}"#,
        uuid::Uuid::new_v4()
    )
}

/// Every patient-view prefetch key set to `null` (known empty), with `overrides` merged in.
pub fn prefetch_with(overrides: &[(&str, &str)]) -> String {
    let keys = [
        "patient",
        "conditions",
        "medicationStatements",
        "medicationRequests",
        "medicationDispenses",
        "procedures",
        "observations",
    ];
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = overrides
                .iter()
                .find(|(o, _)| o == k)
                .map_or("null", |(_, v)| v);
            format!("\"{k}\":{v}")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A searchset Bundle around resource JSON texts.
pub fn searchset(resources: &[&str]) -> String {
    let entries: Vec<String> = resources
        .iter()
        .map(|r| format!("{{\"resource\":{r}}}"))
        .collect();
    format!(
        r#"{{"resourceType":"Bundle","type":"searchset","entry":[{}]}}"#,
        entries.join(",")
    )
}
