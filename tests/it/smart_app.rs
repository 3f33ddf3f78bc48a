//! The SMART on FHIR app (issue 17) over real HTTP: launch → authorize → callback → token → FHIR
//! fetch → page, driven by a browser-like reqwest client (cookie store, no automatic redirects).
//!
//! The EHR is played by `Ehr` below: a minimal SMART authorization server written in this test to
//! SMART App Launch 2.x / RFC 6749 / RFC 7636 (no SMART authorization server installs from the
//! package registries here): `/.well-known/smart-configuration` under its FHIR base, `/authorize`
//! (checks client, redirect URI, `aud`, the launch context, scopes, PKCE S256 challenge; redirects
//! back with code and state), `/token` (HTTP Basic client authentication, single-use code, redirect
//! URI, PKCE verifier; answers with `patient`), and its FHIR API, which checks the access token it
//! issued and reads from sekmet-fhir (the real FHIR server the other tests use).

use crate::common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::app::{TestApp, spawn_app};
use common::fhir_server::RealFhirServer;
use common::local_server;
use serde_json::json;
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "trd-cds-app";
const CLIENT_SECRET: &str = "app-SECRET-7c41e9";
const LAUNCH: &str = "launch-ctx-42";
/// Every access token the test EHR issues starts with this, so a search finds any leak.
const TOKEN_MARK: &str = "tok-SECRET-";

// ---------------------------------------------------------------------------------------------
// The test EHR: SMART authorization server + FHIR API in front of sekmet-fhir

struct Issued {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    patient: String,
    used: bool,
}

#[derive(Default)]
struct EhrState {
    base: String,
    /// launch → patient id.
    launches: HashMap<String, String>,
    codes: HashMap<String, Issued>,
    tokens: HashMap<String, String>,
    /// Query of every /authorize request.
    authorize_queries: Vec<HashMap<String, String>>,
    /// `error` of every refused token request.
    token_refusals: Vec<String>,
    /// Where the FHIR API reads from: sekmet's base and its own token.
    upstream: Option<(String, String)>,
    /// Advertise this token endpoint instead of our own (a closed port: "down").
    token_endpoint_override: Option<String>,
    /// `capabilities` advertised.
    capabilities: Vec<String>,
}

struct Ehr {
    base: String,
    state: Arc<Mutex<EhrState>>,
    handle: actix_web::dev::ServerHandle,
}

impl Ehr {
    async fn start(patient: &str, upstream: Option<(String, String)>) -> Ehr {
        let (listener, port) = local_server::bind();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(EhrState {
            base: base.clone(),
            launches: HashMap::from([(LAUNCH.to_string(), patient.to_string())]),
            upstream,
            capabilities: vec![
                "launch-ehr".into(),
                "client-confidential-symmetric".into(),
                "permission-v2".into(),
            ],
            ..EhrState::default()
        }));
        let data = web::Data::new(state.clone());
        let handle = local_server::serve(listener, move |cfg| {
            cfg.app_data(data.clone())
                .route(
                    "/fhir/.well-known/smart-configuration",
                    web::get().to(smart_configuration),
                )
                .route("/auth/authorize", web::get().to(authorize))
                .route("/auth/token", web::post().to(token))
                .route("/fhir/{tail:.*}", web::get().to(fhir));
        });
        Ehr {
            base,
            state,
            handle,
        }
    }

    fn iss(&self) -> String {
        format!("{}/fhir", self.base)
    }
}

impl Drop for Ehr {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

type Shared = web::Data<Arc<Mutex<EhrState>>>;

async fn smart_configuration(st: Shared) -> HttpResponse {
    let s = st.lock().unwrap();
    let token = s
        .token_endpoint_override
        .clone()
        .unwrap_or_else(|| format!("{}/auth/token", s.base));
    HttpResponse::Ok().json(json!({
        "issuer": format!("{}/auth", s.base),
        "authorization_endpoint": format!("{}/auth/authorize", s.base),
        "token_endpoint": token,
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "grant_types_supported": ["authorization_code"],
        "scopes_supported": ["launch", "patient/*.rs", "patient/*.read"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": s.capabilities,
    }))
}

fn oauth_error(status: u16, error: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": error}))
}

/// RFC 6749 §4.1.1 + SMART: an EHR-launch authorization request for a registered client.
async fn authorize(req: HttpRequest, st: Shared) -> HttpResponse {
    let q: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let mut s = st.lock().unwrap();
    s.authorize_queries.push(q.clone());
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    // Errors before the redirect URI is trusted are shown here, never redirected (RFC 6749 §4.1.2.1).
    if get("client_id") != CLIENT_ID || !get("redirect_uri").ends_with("/app/callback") {
        return HttpResponse::BadRequest().body("unknown client or redirect_uri");
    }
    let redirect = |params: &[(&str, &str)]| {
        let mut u = url::Url::parse(get("redirect_uri")).unwrap();
        u.query_pairs_mut().extend_pairs(params);
        HttpResponse::Found()
            .insert_header(("Location", u.to_string()))
            .finish()
    };
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    let patient = s.launches.get(get("launch")).cloned();
    let problem = if get("response_type") != "code" {
        Some("unsupported_response_type")
    } else if get("aud") != format!("{}/fhir", s.base)
        || patient.is_none()
        || get("state").len() < 16
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() < 43
    {
        Some("invalid_request")
    } else if !scopes.contains(&"launch") || scopes.iter().any(|s| s.contains('*')) {
        Some("invalid_scope")
    } else {
        None
    };
    if let Some(error) = problem {
        return redirect(&[("error", error), ("state", get("state"))]);
    }
    let code = format!("code-{}", uuid::Uuid::new_v4());
    s.codes.insert(
        code.clone(),
        Issued {
            client_id: CLIENT_ID.into(),
            redirect_uri: get("redirect_uri").into(),
            challenge: get("code_challenge").into(),
            patient: patient.unwrap(),
            used: false,
        },
    );
    redirect(&[("code", &code), ("state", get("state"))])
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.6 and HTTP Basic client authentication (§2.3.1).
async fn token(req: HttpRequest, body: web::Bytes, st: Shared) -> HttpResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let mut s = st.lock().unwrap();
    match exchange(&mut s, basic.as_deref(), &form) {
        Ok(answer) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(answer),
        Err((status, error)) => {
            s.token_refusals.push(error.to_string());
            oauth_error(status, error)
        }
    }
}

fn exchange(
    s: &mut EhrState,
    basic: Option<&str>,
    form: &HashMap<String, String>,
) -> Result<serde_json::Value, (u16, &'static str)> {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    // Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let client_ok = basic
        .and_then(|b| b.split_once(':'))
        .is_some_and(|(id, secret)| decode(id) == CLIENT_ID && decode(secret) == CLIENT_SECRET);
    if !client_ok {
        return Err((401, "invalid_client"));
    }
    if get("grant_type") != "authorization_code" {
        return Err((400, "unsupported_grant_type"));
    }
    let Some(issued) = s.codes.get_mut(get("code")) else {
        return Err((400, "invalid_grant"));
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    let ok = !issued.used
        && issued.client_id == CLIENT_ID
        && issued.redirect_uri == get("redirect_uri")
        && issued.challenge == challenge;
    // A code is used up by its first exchange, successful or not (RFC 6749 §4.1.2).
    issued.used = true;
    if !ok {
        return Err((400, "invalid_grant"));
    }
    let patient = issued.patient.clone();
    let access_token = format!("{TOKEN_MARK}{}", uuid::Uuid::new_v4());
    s.tokens.insert(access_token.clone(), patient.clone());
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "launch patient/Patient.r patient/Condition.rs",
        "patient": patient,
    }))
}

/// The EHR's FHIR API: only with an access token it issued; reads from sekmet.
async fn fhir(req: HttpRequest, st: Shared) -> HttpResponse {
    let (upstream, base) = {
        let s = st.lock().unwrap();
        let bearer = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !s.tokens.contains_key(bearer) {
            return HttpResponse::Unauthorized().finish();
        }
        (s.upstream.clone(), s.base.clone())
    };
    let Some((sekmet, sekmet_token)) = upstream else {
        return HttpResponse::NotFound().finish();
    };
    let tail = req.match_info().get("tail").unwrap_or("");
    let mut url = format!("{sekmet}/{tail}");
    if !req.query_string().is_empty() {
        url = format!("{url}?{}", req.query_string());
    }
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(sekmet_token)
        .header("accept", "application/fhir+json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    // Paging links name sekmet; the EHR's clients see its own base.
    let text = resp
        .text()
        .await
        .unwrap()
        .replace(&sekmet, &format!("{base}/fhir"));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/fhir+json")
        .body(text)
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The service on a port chosen first (its redirect URI must name it), with the app configured.
async fn app_for(iss: &str) -> TestApp {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let public = format!("http://{addr}");
    spawn_app(&[
        ("TRD_CDS_ADDR", addr.as_str()),
        ("TRD_CDS_PUBLIC_BASE_URL", public.as_str()),
        ("TRD_CDS_SMART_CLIENT_ID", CLIENT_ID),
        ("TRD_CDS_SMART_CLIENT_SECRET", CLIENT_SECRET),
        ("TRD_CDS_FHIR_ALLOWED_SERVERS", iss),
        ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
        ("TRD_CDS_FHIR_DEADLINE_MS", "20000"),
        ("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", "10000"),
    ])
    .await
}

/// A browser: keeps cookies, follows no redirect by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on {}", resp.status()))
        .to_str()
        .unwrap()
        .to_string()
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn launch_url(app: &TestApp, iss: &str) -> String {
    let mut u = url::Url::parse(&format!("{}/app/launch", app.base)).unwrap();
    u.query_pairs_mut()
        .append_pair("iss", iss)
        .append_pair("launch", LAUNCH);
    u.to_string()
}

/// Launch, then authorize at the EHR: the callback URL the EHR sends the browser back to.
async fn launch_and_authorize(b: &reqwest::Client, app: &TestApp, iss: &str) -> String {
    let resp = b.get(launch_url(app, iss)).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/app/", "Max-Age="] {
        assert!(cookies[0].contains(attr), "{attr} in {cookies:?}");
    }
    let authorize = location(&resp);
    let resp = b.get(&authorize).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    let callback = location(&resp);
    assert!(
        callback.starts_with(&format!("{}/app/callback?", app.base)),
        "{callback}"
    );
    callback
}

/// An error page: HTML (not JSON, not a 500), with the status and words expected.
async fn error_page(resp: reqwest::Response, status: u16, words: &str) -> String {
    assert_eq!(resp.status().as_u16(), status);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let body = resp.text().await.unwrap();
    assert!(body.contains(words), "{words:?} not in {body}");
    assert!(!body.contains(TOKEN_MARK) && !body.contains(CLIENT_SECRET));
    body
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn the_full_launch_shows_the_assessment_page() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bundle-trd.json"
    )
    .to_string();
    let sekmet_token = format!("{TOKEN_MARK}sekmet");
    let t2 = sekmet_token.clone();
    let Some(sekmet) =
        tokio::task::spawn_blocking(move || RealFhirServer::start(Some(&t2), &[fixture]))
            .await
            .unwrap()
    else {
        return;
    };
    let patient = sekmet.patient("bundle-trd.json").to_string();
    let ehr = Ehr::start(&patient, Some((sekmet.base.clone(), sekmet_token))).await;
    let app = app_for(&ehr.iss()).await;
    let b = browser();

    let callback = launch_and_authorize(&b, &app, &ehr.iss()).await;
    {
        let s = ehr.state.lock().unwrap();
        let q = &s.authorize_queries[0];
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["redirect_uri"], format!("{}/app/callback", app.base));
        assert_eq!(q["aud"], ehr.iss());
        assert_eq!(q["launch"], LAUNCH);
        assert_eq!(q["code_challenge_method"], "S256");
        let scopes: Vec<&str> = q["scope"].split(' ').collect();
        assert!(scopes.contains(&"launch"), "{scopes:?}");
        assert!(
            scopes.contains(&"patient/MedicationStatement.rs"),
            "{scopes:?}"
        );
        assert!(!scopes.contains(&"offline_access"), "minimum scopes");
    }
    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(location(&resp), "/app/view");
    let cookies = set_cookies(&resp);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("trd_app_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
    assert!(
        !session.contains(TOKEN_MARK),
        "the token stays on the server"
    );

    let resp = b
        .get(format!("{}/app/view", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none';") && csp.contains("style-src 'sha256-"),
        "{csp}"
    );
    assert!(!csp.contains("script") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(h["cache-control"], "no-store");
    let page = resp.text().await.unwrap();
    if let Ok(out) = std::env::var("TRD_CDS_APP_PAGE_OUT") {
        std::fs::write(&out, &page).unwrap();
    }
    for words in [
        "Treatment-resistant depression",
        "Status: <span class=\"status-met\">met</span>",
        "sertraline",
        "escitalopram",
        "venlafaxine",
        "Staging",
        "Next steps",
        "Data issues",
    ] {
        assert!(page.contains(words), "{words:?} not in the page:\n{page}");
    }
    assert!(!page.contains("<script"), "no JavaScript");
    assert!(!page.contains(TOKEN_MARK));
    // The same session serves a reload; the callback cannot be replayed.
    let again = b
        .get(format!("{}/app/view", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    error_page(b.get(&callback).send().await.unwrap(), 400, "not valid").await;
}

#[tokio::test]
async fn a_wrong_or_foreign_state_is_refused() {
    let ehr = Ehr::start("p1", None).await;
    let app = app_for(&ehr.iss()).await;
    let b = browser();
    let resp = b
        .get(format!(
            "{}/app/callback?code=code-x&state=not-a-state-we-issued",
            app.base
        ))
        .send()
        .await
        .unwrap();
    error_page(resp, 400, "not valid").await;
    // A real state, but the callback comes from a browser that did not launch (login CSRF).
    let callback = launch_and_authorize(&b, &app, &ehr.iss()).await;
    let other = browser();
    error_page(
        other.get(&callback).send().await.unwrap(),
        400,
        "another browser",
    )
    .await;
    assert!(
        ehr.state.lock().unwrap().token_refusals.is_empty(),
        "no token request was made"
    );
    // Without a session there is no page.
    error_page(
        b.get(format!("{}/app/view", app.base))
            .send()
            .await
            .unwrap(),
        401,
        "No open session",
    )
    .await;
}

#[tokio::test]
async fn a_reused_code_is_refused_by_the_token_endpoint() {
    let ehr = Ehr::start("p1", None).await;
    let app = app_for(&ehr.iss()).await;
    let b = browser();
    let first = launch_and_authorize(&b, &app, &ehr.iss()).await;
    let resp = b.get(&first).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    // A second launch gives a fresh state; the old code is sent with it.
    let second = launch_and_authorize(&b, &app, &ehr.iss()).await;
    let old_code = url::Url::parse(&first)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut replay = url::Url::parse(&second).unwrap();
    let state = replay
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    replay
        .query_pairs_mut()
        .clear()
        .append_pair("code", &old_code)
        .append_pair("state", &state);
    let body = error_page(
        b.get(replay.as_str()).send().await.unwrap(),
        502,
        "refused the sign-in (invalid_grant)",
    )
    .await;
    assert!(!body.contains(&old_code), "the code is not echoed");
    assert_eq!(ehr.state.lock().unwrap().token_refusals, ["invalid_grant"]);
}

#[tokio::test]
async fn an_iss_not_on_the_allow_list_is_refused_before_any_request() {
    let ehr = Ehr::start("p1", None).await;
    let app = app_for(&ehr.iss()).await;
    let b = browser();
    for iss in [
        "http://127.0.0.1:1/fhir".to_string(),
        format!("{}/fhir2", ehr.base),
        "https://evil.example/fhir".to_string(),
    ] {
        let resp = b.get(launch_url(&app, &iss)).send().await.unwrap();
        assert!(set_cookies(&resp).is_empty());
        error_page(resp, 403, "not connected to this service").await;
    }
    let resp = b
        .get(format!("{}/app/launch?launch=x", app.base))
        .send()
        .await
        .unwrap();
    error_page(resp, 400, "It has no iss").await;
    assert!(ehr.state.lock().unwrap().authorize_queries.is_empty());
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_gives_a_clear_page() {
    let ehr = Ehr::start("p1", None).await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/auth/token",
            l.local_addr().unwrap().port()
        )
    };
    ehr.state.lock().unwrap().token_endpoint_override = Some(closed);
    let app = app_for(&ehr.iss()).await;
    let b = browser();
    let callback = launch_and_authorize(&b, &app, &ehr.iss()).await;
    error_page(
        b.get(&callback).send().await.unwrap(),
        502,
        "could not be reached (cannot connect)",
    )
    .await;
}

#[tokio::test]
async fn a_v1_only_server_gets_v1_scopes_and_the_app_is_404_when_not_configured() {
    let ehr = Ehr::start("p1", None).await;
    ehr.state.lock().unwrap().capabilities = vec!["launch-ehr".into(), "permission-v1".into()];
    let app = app_for(&ehr.iss()).await;
    launch_and_authorize(&browser(), &app, &ehr.iss()).await;
    let q = ehr.state.lock().unwrap().authorize_queries[0].clone();
    assert!(q["scope"].contains("patient/Condition.read"), "{q:?}");
    assert!(!q["scope"].contains(".rs"), "{q:?}");

    let plain = spawn_app(&[]).await;
    let resp = plain
        .get(&format!("/app/launch?iss={}&launch=x", ehr.iss()))
        .await;
    assert_eq!(resp.status(), 404);
}

/// The door from the card: with the app configured, the patient-view TRD card links the launch URL
/// as a `smart` link carrying no `appContext` (the EHR supplies the patient through the launch);
/// without it, no smart link.
#[tokio::test]
async fn the_trd_card_links_the_app_with_nothing_identifying() {
    let smart_links = |cards: &serde_json::Value| -> Vec<serde_json::Value> {
        cards["cards"]
            .as_array()
            .expect("cards")
            .iter()
            .flat_map(|c| c["links"].as_array().cloned().unwrap_or_default())
            .filter(|l| l["type"] == "smart")
            .collect()
    };
    // The README's fixture: a patient who meets the criteria (a TRD card).
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/patient-view-trd.json"
    ))
    .unwrap();

    let app = app_for("https://ehr.example.org/fhir").await;
    let r = app.post_json("/cds-services/trd-patient-view", &body).await;
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let links = smart_links(&v);
    assert_eq!(links.len(), 1, "one smart link: {v}");
    let url = links[0]["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/app/launch", app.base));
    assert!(links[0].get("appContext").is_none(), "{}", links[0]);

    let plain = spawn_app(&[]).await;
    let r = plain
        .post_json("/cds-services/trd-patient-view", &body)
        .await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(smart_links(&v).is_empty(), "{v}");
}
