//! Trusting CDS Clients, over real HTTP: the spec's ES384 vector, keys generated with openssl for
//! ES384 and RS384, one negative test per rule, key rotation through a JWKS URL, CORS, and a log
//! capture that proves no token, JWT or patient id is logged.

use crate::common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use common::app::{TestApp, patient_view, prefetch_with, shared, spawn_app};
use common::jwt::{self, BASE, ISS, b64, claims, sign, sign_with, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const DISCOVERY: &str = "/cds-services";
const SERVICE: &str = "/cds-services/trd-patient-view";
const FEEDBACK: &str = "/cds-services/trd-patient-view/feedback";
const ASSESS: &str = "/api/v1/assessments";

async fn app_with(extra_client_toml: &str, env: &[(&str, &str)]) -> TestApp {
    let clients = jwt::clients_file(extra_client_toml);
    let clients = clients.to_str().unwrap().to_string();
    let mut all = vec![
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_TRUSTED_CLIENTS", clients.as_str()),
        ("TRD_CDS_PUBLIC_BASE_URL", BASE),
    ];
    all.extend_from_slice(env);
    spawn_app(&all).await
}

async fn app() -> TestApp {
    app_with("", &[]).await
}

fn pv_body() -> String {
    patient_view("p1", &prefetch_with(&[]))
}

/// Discovery with `token`; returns the status.
async fn discovery_status(app: &TestApp, token: &str) -> u16 {
    app.get_bearer(DISCOVERY, token).await.status().as_u16()
}

/// A 401 has no detail beyond the generic OperationOutcome and `WWW-Authenticate: Bearer`.
async fn assert_401(resp: reqwest::Response) {
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap(),
        "Bearer"
    );
    assert!(
        resp.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resourceType"], "OperationOutcome");
    assert_eq!(v["issue"][0]["code"], "security");
    assert_eq!(
        v["issue"][0]["diagnostics"],
        "authentication required: send a valid CDS Hooks client JWT as Authorization: Bearer <JWT>"
    );
}

#[tokio::test]
async fn spec_es384_vector_is_expired_401() {
    // The spec's token: aud https://cds.example.org/cds-services/some-service, exp in 2015.
    let v: Value = serde_json::from_str(&shared(
        "cds-hooks-spec/spec-examples/jwt-compact-example.json",
    ))
    .unwrap();
    let header = v["authorization_header"].as_str().unwrap();
    let token = header.strip_prefix("Bearer ").unwrap();
    let clients = jwt::clients_file("");
    let app = spawn_app(&[
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_TRUSTED_CLIENTS", clients.to_str().unwrap()),
        ("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org"),
    ])
    .await;
    // The signature is valid (see the unit test http::auth::verify::tests::spec_vector_signature_verifies,
    // which verifies it at a time inside its validity); today it is expired.
    assert_401(
        app.post_json_bearer("/cds-services/some-service", &pv_body(), token)
            .await,
    )
    .await;
}

#[tokio::test]
async fn es384_and_rs384_tokens_open_every_cds_hooks_endpoint_and_the_api() {
    let app = app().await;
    for (which, kid) in [("es384", "es384-1"), ("rs384", "rs384-1")] {
        let r = app
            .get_bearer(DISCOVERY, &sign(which, kid, &claims(DISCOVERY)))
            .await;
        assert_eq!(r.status().as_u16(), 200, "{which} discovery");
        let r = app
            .post_json_bearer(SERVICE, &pv_body(), &sign(which, kid, &claims(SERVICE)))
            .await;
        assert_eq!(r.status().as_u16(), 200, "{which} service");
        let fb = shared("cds-hooks-spec/spec-examples/feedback-accepted.json");
        let r = app
            .post_json_bearer(FEEDBACK, &fb, &sign(which, kid, &claims(FEEDBACK)))
            .await;
        assert_eq!(r.status().as_u16(), 200, "{which} feedback");
        let bundle = std::fs::read_to_string("tests/fixtures/bundle-trd.json").unwrap();
        let r = app
            .post_json_bearer(
                &format!("{ASSESS}?as_of=2026-03-01"),
                &bundle,
                &sign(which, kid, &claims(ASSESS)),
            )
            .await;
        assert_eq!(
            r.status().as_u16(),
            200,
            "{which} assessments (aud has no query)"
        );
        let r = app
            .get_bearer(
                "/api/v1/feedback/summary",
                &sign(which, kid, &claims("/api/v1/feedback/summary")),
            )
            .await;
        assert_eq!(r.status().as_u16(), 200, "{which} summary");
    }
}

#[tokio::test]
async fn no_token_is_401_on_protected_paths_and_open_paths_stay_open() {
    let app = app().await;
    assert_401(app.get(DISCOVERY).await).await;
    assert_401(app.post_json(SERVICE, &pv_body()).await).await;
    assert_401(app.post_json(FEEDBACK, "{}").await).await;
    assert_401(app.post_json(ASSESS, "{}").await).await;
    assert_401(app.get("/api/v1/feedback/summary").await).await;
    // Unknown service ids are not revealed to unauthenticated callers either.
    assert_401(app.post_json("/cds-services/nope", "{}").await).await;
    for open in [
        "/healthz",
        "/readyz",
        "/swagger-ui/",
        "/api-docs/openapi.json",
    ] {
        assert_eq!(app.get(open).await.status().as_u16(), 200, "{open}");
    }
    // Not Bearer.
    let r = app
        .client
        .get(format!("{}{DISCOVERY}", app.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_401(r).await;
}

#[tokio::test]
async fn wrong_audience_is_401() {
    let app = app().await;
    // A token for the service endpoint used on discovery, and one for another host.
    assert_401(app.get_bearer(DISCOVERY, &token(SERVICE)).await).await;
    let mut c = claims(DISCOVERY);
    c["aud"] = json!("https://other.example.org/cds-services");
    assert_401(
        app.get_bearer(DISCOVERY, &sign("es384", "es384-1", &c))
            .await,
    )
    .await;
    // aud as an array containing the URL is fine.
    let mut c = claims(DISCOVERY);
    c["aud"] = json!(["https://x.example", format!("{BASE}{DISCOVERY}")]);
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        200
    );
}

#[tokio::test]
async fn wrong_issuer_is_401() {
    let app = app().await;
    let mut c = claims(DISCOVERY);
    c["iss"] = json!("https://evil.example/");
    assert_401(
        app.get_bearer(DISCOVERY, &sign("es384", "es384-1", &c))
            .await,
    )
    .await;
    // A trusted iss with a kid of the other client's key set.
    let mut c = claims(DISCOVERY);
    c["iss"] = json!("https://fhir-ehr.example.com/");
    assert_401(
        app.get_bearer(DISCOVERY, &sign("es384", "es384-1", &c))
            .await,
    )
    .await;
}

#[tokio::test]
async fn time_claims_are_enforced() {
    let app = app().await;
    let now = jwt::now();
    let cases = [
        (
            "iat in the future",
            json!({"iat": now + 600, "exp": now + 900}),
        ),
        ("expired", json!({"iat": now - 900, "exp": now - 600})),
        ("nbf in the future", json!({"nbf": now + 600})),
        (
            "lifetime over an hour",
            json!({"iat": now, "exp": now + 7200}),
        ),
        ("no exp", json!({"exp": null})),
        ("no iat", json!({"iat": null})),
        ("no jti", json!({"jti": null})),
    ];
    for (what, patch) in cases {
        let mut c = claims(DISCOVERY);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let r = app
            .get_bearer(DISCOVERY, &sign("es384", "es384-1", &c))
            .await;
        assert_eq!(r.status().as_u16(), 401, "{what}");
    }
    // Within the default 60 s skew: accepted.
    let mut c = claims(DISCOVERY);
    c["iat"] = json!(now + 30);
    c["nbf"] = json!(now + 30);
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        200
    );
}

#[tokio::test]
async fn replayed_jti_is_401() {
    let app = app().await;
    let t = token(DISCOVERY);
    assert_eq!(discovery_status(&app, &t).await, 200);
    assert_401(app.get_bearer(DISCOVERY, &t).await).await;
    // Same jti, freshly signed: still a replay.
    let mut c = claims(DISCOVERY);
    let jti = serde_json::from_slice::<Value>(&base64_part(&t, 1)).unwrap()["jti"].clone();
    c["jti"] = jti;
    assert_eq!(
        discovery_status(&app, &sign("rs384", "rs384-1", &c)).await,
        401
    );
}

fn base64_part(token: &str, i: usize) -> Vec<u8> {
    let part = token.split('.').nth(i).unwrap();
    // Decode via the same helper the service uses.
    trd_cds::http::auth::verify::b64url_decode(part).unwrap()
}

#[tokio::test]
async fn alg_none_and_hs256_with_the_public_key_are_401() {
    let app = app().await;
    let payload = b64(claims(DISCOVERY).to_string().as_bytes());
    // alg none, with and without a signature part.
    let h = b64(br#"{"alg":"none","typ":"JWT","kid":"es384-1"}"#);
    assert_401(app.get_bearer(DISCOVERY, &format!("{h}.{payload}.")).await).await;
    assert_401(
        app.get_bearer(DISCOVERY, &format!("{h}.{payload}.c2ln"))
            .await,
    )
    .await;
    // HS256 keyed with the trusted ES384 public key (the classic key-confusion attack).
    let public_pem = std::fs::read(jwt::fixture("es384-public.pem")).unwrap();
    let mut hdr = Header::new(Algorithm::HS256);
    hdr.kid = Some("es384-1".into());
    let forged = jsonwebtoken::encode(
        &hdr,
        &claims(DISCOVERY),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    assert_401(app.get_bearer(DISCOVERY, &forged).await).await;
    // ... and with the JWK Set text as the secret.
    let jwks_text = jwt::jwks(&[("es384-1", "es384")]);
    let forged = jsonwebtoken::encode(
        &hdr,
        &claims(DISCOVERY),
        &EncodingKey::from_secret(jwks_text.as_bytes()),
    )
    .unwrap();
    assert_401(app.get_bearer(DISCOVERY, &forged).await).await;
}

#[tokio::test]
async fn unknown_kid_forged_key_and_tampered_payload_are_401() {
    let app = app().await;
    // Unknown kid (no JWKS URL to refetch from: fail closed).
    assert_401(
        app.get_bearer(DISCOVERY, &sign("es384", "nope", &claims(DISCOVERY)))
            .await,
    )
    .await;
    // The trusted kid, signed by someone else's key.
    assert_401(
        app.get_bearer(
            DISCOVERY,
            &sign("es384-attacker", "es384-1", &claims(DISCOVERY)),
        )
        .await,
    )
    .await;
    // Tampered payload: the signature no longer matches.
    let t = token(SERVICE);
    let mut c: Value = serde_json::from_slice(&base64_part(&t, 1)).unwrap();
    c["aud"] = json!(format!("{BASE}{DISCOVERY}"));
    let parts: Vec<&str> = t.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    assert_401(app.get_bearer(DISCOVERY, &tampered).await).await;
    // The key of the RS384 kid used with an ES384 header.
    assert_401(
        app.get_bearer(DISCOVERY, &sign("es384", "rs384-1", &claims(DISCOVERY)))
            .await,
    )
    .await;
    // Garbage.
    for junk in ["x", "a.b.c", "....", "eyJ9.eyJ9.eyJ9"] {
        assert_401(app.get_bearer(DISCOVERY, junk).await).await;
    }
}

#[tokio::test]
async fn typ_kid_and_crit_headers_are_checked() {
    let app = app().await;
    let mut h = Header::new(Algorithm::ES384);
    h.kid = Some("es384-1".into());
    h.typ = None;
    assert_401(
        app.get_bearer(DISCOVERY, &sign_with(h, "es384", &claims(DISCOVERY)))
            .await,
    )
    .await;
    let h = Header::new(Algorithm::ES384); // no kid
    assert_401(
        app.get_bearer(DISCOVERY, &sign_with(h, "es384", &claims(DISCOVERY)))
            .await,
    )
    .await;
    let mut h = Header::new(Algorithm::ES384);
    h.kid = Some("es384-1".into());
    h.crit = Some(vec!["exp".into()]);
    assert_401(
        app.get_bearer(DISCOVERY, &sign_with(h, "es384", &claims(DISCOVERY)))
            .await,
    )
    .await;
    // A jku that is not allow-listed.
    let mut h = Header::new(Algorithm::ES384);
    h.kid = Some("es384-1".into());
    h.jku = Some("https://evil.example/jwks".into());
    assert_401(
        app.get_bearer(DISCOVERY, &sign_with(h, "es384", &claims(DISCOVERY)))
            .await,
    )
    .await;
}

#[tokio::test]
async fn es256_only_when_configured() {
    let app = app().await;
    assert_eq!(
        discovery_status(&app, &sign("es256", "es256-1", &claims(DISCOVERY))).await,
        401
    );
    let app = app_with("", &[("TRD_CDS_JWT_ALGORITHMS", "ES384,RS384,ES256")]).await;
    assert_eq!(
        discovery_status(&app, &sign("es256", "es256-1", &claims(DISCOVERY))).await,
        200
    );
}

#[tokio::test]
async fn tenant_allow_list() {
    let app = app_with(r#"tenants = ["t-1"]"#, &[]).await;
    let mut c = claims(DISCOVERY);
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        401,
        "no tenant"
    );
    c["tenant"] = json!("t-2");
    c["jti"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        401,
        "other tenant"
    );
    c["tenant"] = json!("t-1");
    c["jti"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        200
    );
}

/// A one-route HTTP server for JWK Sets: serves whatever `body` holds; counts requests.
fn jwks_server(body: Arc<Mutex<String>>, hits: Arc<Mutex<u32>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            *hits.lock().unwrap() += 1;
            let b = body.lock().unwrap().clone();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                b.len()
            );
        }
    });
    url
}

#[tokio::test]
async fn jwks_url_rotation_refetches_on_unknown_kid_with_a_rate_limit() {
    let body = Arc::new(Mutex::new(jwt::jwks(&[("k1", "es384")])));
    let hits = Arc::new(Mutex::new(0));
    let url = jwks_server(body.clone(), hits.clone());
    // A client whose keys are only at the URL.
    let dir = std::env::temp_dir().join(format!("trd-rot-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clients.json");
    std::fs::write(
        &file,
        json!({"client": [{"iss": ISS, "jwks_url": url}]}).to_string(),
    )
    .unwrap();
    let env = |refetch: &'static str| {
        vec![
            ("TRD_CDS_AUTH", "on"),
            ("TRD_CDS_PUBLIC_BASE_URL", BASE),
            ("TRD_CDS_JWKS_MIN_REFETCH_SECS", refetch),
        ]
    };
    let mut e = env("0");
    let f = file.to_str().unwrap().to_string();
    e.push(("TRD_CDS_TRUSTED_CLIENTS", &f));
    let app = spawn_app(&e).await;
    assert_eq!(
        discovery_status(&app, &sign("es384", "k1", &claims(DISCOVERY))).await,
        200
    );
    assert_eq!(
        discovery_status(&app, &sign("es384", "k1", &claims(DISCOVERY))).await,
        200
    );
    assert_eq!(*hits.lock().unwrap(), 1, "cached");
    // Rotation: the EHR now publishes k2 (RS384) only.
    *body.lock().unwrap() = jwt::jwks(&[("k2", "rs384")]);
    assert_eq!(
        discovery_status(&app, &sign("rs384", "k2", &claims(DISCOVERY))).await,
        200
    );
    assert_eq!(*hits.lock().unwrap(), 2, "refetched on the unknown kid");
    // The old key is gone once the set was refetched.
    assert_eq!(
        discovery_status(&app, &sign("es384", "k1", &claims(DISCOVERY))).await,
        401
    );

    // With the default rate limit (60 s), unknown kids do not hammer the EHR.
    *hits.lock().unwrap() = 0;
    let mut e = env("60");
    e.push(("TRD_CDS_TRUSTED_CLIENTS", &f));
    let app = spawn_app(&e).await;
    assert_eq!(
        discovery_status(&app, &sign("rs384", "k2", &claims(DISCOVERY))).await,
        200
    );
    for kid in ["x1", "x2", "x3"] {
        assert_eq!(
            discovery_status(&app, &sign("rs384", kid, &claims(DISCOVERY))).await,
            401
        );
    }
    assert_eq!(
        *hits.lock().unwrap(),
        1,
        "one fetch, no refetch within the interval"
    );
}

#[tokio::test]
async fn jwks_url_down_fails_closed() {
    let dir = std::env::temp_dir().join(format!("trd-down-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clients.toml");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &file,
        format!("[[client]]\niss = \"{ISS}\"\njwks_url = \"http://127.0.0.1:{port}/jwks\"\n"),
    )
    .unwrap();
    let app = spawn_app(&[
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_PUBLIC_BASE_URL", BASE),
        ("TRD_CDS_TRUSTED_CLIENTS", file.to_str().unwrap()),
    ])
    .await;
    assert_401(app.get_bearer(DISCOVERY, &token(DISCOVERY)).await).await;
}

#[tokio::test]
async fn aud_without_public_base_url_is_the_host_invoked() {
    let clients = jwt::clients_file("");
    let app = spawn_app(&[
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_TRUSTED_CLIENTS", clients.to_str().unwrap()),
    ])
    .await;
    let mut c = claims(DISCOVERY);
    let host = app.base.trim_start_matches("http://").to_string();
    c["aud"] = json!(format!("http://{host}{DISCOVERY}"));
    assert_eq!(
        discovery_status(&app, &sign("es384", "es384-1", &c)).await,
        200
    );
    assert_eq!(discovery_status(&app, &token(DISCOVERY)).await, 401);
}

#[tokio::test]
async fn auth_on_without_trusted_clients_does_not_start() {
    let config = trd_cds::config::Config::from_lookup(|k| match k {
        "TRD_CDS_ADDR" => Some("127.0.0.1:0".into()),
        _ => None,
    })
    .unwrap();
    let err = trd_cds::http::Application::build(&config)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("TRD_CDS_TRUSTED_CLIENTS"), "{err}");
}

#[tokio::test]
async fn cors_allow_list() {
    let app = app_with(
        "",
        &[("TRD_CDS_CORS_ORIGINS", "https://sandbox.example.org")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}{SERVICE}", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = preflight("https://sandbox.example.org").await.unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        "https://sandbox.example.org"
    );
    let allow = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allow.contains("authorization") && allow.contains("content-type"),
        "{allow}"
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    let r = preflight("https://evil.example.org").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // The actual request (here a 401) carries the CORS headers so the browser can read it.
    let r = app
        .client
        .get(format!("{}{DISCOVERY}", app.base))
        .header("origin", "https://sandbox.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://sandbox.example.org"
    );
}

/// README "Try it" in a browser: a demo (`TRD_CDS_AUTH=off`, no `TRD_CDS_CORS_ORIGINS`) answers the
/// CDS Hooks sandbox's preflight and call; with auth on the same origin is refused (issue 15).
#[tokio::test]
async fn a_demo_lets_the_sandbox_call_from_a_browser() {
    const SANDBOX: &str = "https://sandbox.cds-hooks.org";
    let preflight = |app: &TestApp| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}{SERVICE}", app.base))
            .header("origin", SANDBOX)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .header("access-control-request-private-network", "true")
            .send()
    };
    let demo = spawn_app(&[("TRD_CDS_AUTH", "off")]).await;
    let r = preflight(&demo).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], SANDBOX);
    // Chromium's Private Network Access preflight (a public page calling localhost).
    assert_eq!(r.headers()["access-control-allow-private-network"], "true");
    let r = demo
        .client
        .post(format!("{}{SERVICE}", demo.base))
        .header("origin", SANDBOX)
        .header("content-type", "application/json")
        .body(pv_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], SANDBOX);
    let secured = app().await;
    let r = preflight(&secured).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn logs_of_full_requests_hold_no_token_jwt_or_patient_id() {
    // The process-wide capture (the app's workers log on other threads).
    common::logs::captured();

    let app = app().await;
    let patient = "patient-7c1e-SECRET";
    let body = patient_view(patient, &prefetch_with(&[]));
    let good = token(SERVICE);
    let r = app.post_json_bearer(SERVICE, &body, &good).await;
    assert_eq!(r.status().as_u16(), 200);
    // Refused: a replay, a wrong audience and a forged token; each reason is logged.
    let r = app.post_json_bearer(SERVICE, &body, &good).await;
    assert_eq!(r.status().as_u16(), 401);
    let wrong = token(DISCOVERY);
    assert_eq!(
        app.post_json_bearer(SERVICE, &body, &wrong)
            .await
            .status()
            .as_u16(),
        401
    );
    let forged = sign("es384-attacker", "es384-1", &claims(SERVICE));
    assert_eq!(
        app.post_json_bearer(SERVICE, &body, &forged)
            .await
            .status()
            .as_u16(),
        401
    );
    let fb = shared("cds-hooks-spec/spec-examples/feedback-accepted.json");
    let fbt = token(FEEDBACK);
    assert_eq!(
        app.post_json_bearer(FEEDBACK, &fb, &fbt)
            .await
            .status()
            .as_u16(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let logs = common::logs::text();
    assert!(
        logs.contains("client JWT refused"),
        "reasons are logged:\n{logs}"
    );
    assert!(logs.contains("replay"), "{logs}");
    for t in [&good, &wrong, &forged, &fbt] {
        for (i, part) in t.split('.').enumerate() {
            assert!(!logs.contains(part), "JWT part {i} in the logs:\n{logs}");
        }
    }
    assert!(
        !logs.contains("eyJ"),
        "something base64-JSON-like (a JWT) in the logs:\n{logs}"
    );
    assert!(!logs.to_ascii_lowercase().contains("bearer ey"), "{logs}");
    assert!(!logs.contains(patient), "patient id in the logs:\n{logs}");
}

/// Added latency of verification: the same discovery call with and without JWT checks (tokens are
/// signed before the clock starts). `cargo test --release --test it auth:: -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn verification_latency() {
    const N: usize = 2000;
    let on = app().await;
    let off = spawn_app(&[]).await;
    for which in ["es384", "rs384"] {
        let kid = format!("{which}-1");
        let tokens: Vec<String> = (0..N)
            .map(|_| sign(which, &kid, &claims(DISCOVERY)))
            .collect();
        // Warm up both.
        for t in tokens.iter().take(50) {
            assert_eq!(discovery_status(&on, t).await, 200);
            assert_eq!(off.get(DISCOVERY).await.status().as_u16(), 200);
        }
        let t0 = std::time::Instant::now();
        for t in tokens.iter().skip(50) {
            assert_eq!(discovery_status(&on, t).await, 200);
        }
        let with = t0.elapsed().as_secs_f64() * 1e6 / (N - 50) as f64;
        let t0 = std::time::Instant::now();
        for _ in 50..N {
            assert_eq!(off.get(DISCOVERY).await.status().as_u16(), 200);
        }
        let without = t0.elapsed().as_secs_f64() * 1e6 / (N - 50) as f64;
        println!(
            "{which}: with JWT {with:.0} µs/request, without {without:.0} µs/request, added {:.0} µs",
            with - without
        );
    }
}

/// With PostgreSQL the replay store is shared: a token used on one replica is refused by another.
#[tokio::test]
async fn replay_store_in_postgres_is_shared_by_replicas() {
    let Some(db) = common::pg::TestDb::create().await else {
        return;
    };
    let clients = jwt::clients_file("");
    let env = [
        ("TRD_CDS_AUTH", "on"),
        ("TRD_CDS_TRUSTED_CLIENTS", clients.to_str().unwrap()),
        ("TRD_CDS_PUBLIC_BASE_URL", BASE),
        ("DATABASE_URL", db.url()),
    ];
    let a = spawn_app(&env).await;
    let b = spawn_app(&env).await;
    let t = token(DISCOVERY);
    assert_eq!(discovery_status(&a, &t).await, 200);
    assert_401(b.get_bearer(DISCOVERY, &t).await).await;
    assert_401(a.get_bearer(DISCOVERY, &t).await).await;
    assert_eq!(discovery_status(&b, &token(DISCOVERY)).await, 200);
}
