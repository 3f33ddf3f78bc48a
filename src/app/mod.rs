//! The SMART on FHIR app served by the service (SMART App Launch 2.x, EHR launch, confidential
//! client): the clinician opens it from the TRD card's `smart` link; it signs in with the EHR,
//! fetches the patient's resources with the same FHIR client as the hooks (allow-list, deadline,
//! page and byte caps), assesses through `pipeline`, and renders one HTML page (no JavaScript).
//!
//! ```text
//! GET /app/launch?iss&launch ─▶ iss allow-listed? ─▶ {iss}/.well-known/smart-configuration
//!       ─▶ pending login (state → PKCE verifier, endpoints; login cookie binds the browser)
//!       ─▶ 302 authorization_endpoint?response_type=code&client_id&redirect_uri&scope&state&aud&launch&code_challenge
//! GET /app/callback?code&state ─▶ pending login taken (single use, expires, same browser)
//!       ─▶ token_endpoint (client secret, PKCE verifier) ─▶ session (token, patient) + session cookie
//!       ─▶ 303 /app/view
//! GET /app/view ─▶ session ─▶ fetch (http::prefetch::gather_with) ─▶ assess ─▶ page
//! ```
//!
//! Tokens stay on the server (`sessions`); the browser holds only random ids in HttpOnly,
//! SameSite=Lax cookies (Secure when the public URL is https). URLs carry nothing identifying
//! beyond what the EHR's own launch puts there (`iss`, the opaque `launch`). The routes answer 404
//! unless `TRD_CDS_SMART_CLIENT_ID` is set. Threats and answers: `docs/security.md` ("SMART app").

pub mod oauth;
pub mod page;
pub mod sessions;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use secrecy::ExposeSecret;
use time::OffsetDateTime;

use crate::cds_hooks::card::Link;
use crate::cds_hooks::discovery::PATIENT_VIEW;
use crate::cds_hooks::request::{CdsRequest, FhirAuthorization};
use crate::clinical::Assessment;
use crate::config::{Config, SmartAppConfig};
use crate::http::AppState;
use crate::http::errors::ApiError;
use crate::pipeline;
use oauth::Granted;
use sessions::{Expiring, PendingLogin, Session};

/// How long a launch may wait for its callback (the clinician signs in at the EHR meanwhile).
const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// Longest session, whatever the access token's lifetime (the page is re-fetched on reload).
const SESSION_MAX: Duration = Duration::from_secs(30 * 60);
/// Most pending logins and sessions held (per replica); beyond, new launches are refused (503).
const MAX_ENTRIES: usize = 10_000;
const LOGIN_COOKIE: &str = "trd_app_login";
const SESSION_COOKIE: &str = "trd_app_session";

/// The app's state (app data only when configured).
pub struct SmartApp {
    cfg: SmartAppConfig,
    http: reqwest::Client,
    allow_http: bool,
    discovery_timeout: Duration,
    secure_cookies: bool,
    pending: Expiring<Arc<PendingLogin>>,
    sessions: Expiring<Arc<Session>>,
}

impl SmartApp {
    /// `None` when the app is not configured.
    pub fn from_config(config: &Config) -> Result<Option<SmartApp>, String> {
        let Some(cfg) = config.smart.clone() else {
            return Ok(None);
        };
        let timeout = Duration::from_millis(config.fhir.request_timeout_ms);
        Ok(Some(SmartApp {
            secure_cookies: cfg.public_base_url.starts_with("https://"),
            http: oauth::http_client(config.fhir.allow_http, timeout)?,
            allow_http: config.fhir.allow_http,
            discovery_timeout: Duration::from_millis(config.fhir.deadline_ms),
            cfg,
            pending: Expiring::new(MAX_ENTRIES),
            sessions: Expiring::new(MAX_ENTRIES),
        }))
    }
}

/// The TRD card's link to this app (`type: "smart"`): the launch URL, and no `appContext` (nothing
/// identifying travels in it; the EHR supplies the patient through the launch). `None` when the
/// app is not configured. The cards call this (wired at merge).
pub fn card_link(config: &Config) -> Option<Link> {
    let smart = config.smart.as_ref()?;
    Link::smart(
        "Open the treatment history timeline",
        format!("{}/app/launch", smart.public_base_url),
        None,
    )
    .ok()
}

/// The timeline picture for the page (inline SVG, the one renderer of issue 17; it scales to the
/// page width through its viewBox).
fn timeline_svg(a: &Assessment) -> String {
    crate::timeline::render_svg(a, &crate::timeline::TimelineOptions::default())
}

/// The app's routes (registered always; they answer 404 when the app is not configured).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/launch", web::get().to(launch))
        .route("/app/callback", web::get().to(callback))
        .route("/app/view", web::get().to(view));
}

/// An error page: status, a title, what happened and what to do, in the service's own words.
#[derive(Debug)]
struct PageError {
    status: StatusCode,
    title: &'static str,
    what: String,
    todo: &'static str,
}

const LAUNCH_AGAIN: &str = "Open the app again from the patient's chart in the EHR.";

fn page_error(status: StatusCode, title: &'static str, what: impl Into<String>) -> PageError {
    PageError {
        status,
        title,
        what: what.into(),
        todo: LAUNCH_AGAIN,
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.title)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        html(
            self.status,
            page::error_page(self.title, &self.what, self.todo),
        )
    }
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, page::csp()))
        .body(body)
}

fn not_configured() -> actix_web::Error {
    ApiError::not_found("no such endpoint; see GET /cds-services and /swagger-ui/").into()
}

fn query(req: &HttpRequest) -> Result<HashMap<String, String>, PageError> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| {
            page_error(
                StatusCode::BAD_REQUEST,
                "The link is not valid",
                "Its query string cannot be read.",
            )
        })
}

fn required<'q>(
    q: &'q HashMap<String, String>,
    name: &str,
    meaning: &str,
) -> Result<&'q str, PageError> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            page_error(
                StatusCode::BAD_REQUEST,
                "The link is not valid",
                format!("It has no {name} ({meaning})."),
            )
        })
}

/// A cookie the browser sends back only to `/app/`, never to scripts (HttpOnly), not on
/// cross-site sub-requests (SameSite=Lax), only over HTTPS when the service is served over HTTPS.
fn set_cookie(app: &SmartApp, name: &str, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/app/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `GET /app/launch?iss&launch`: the EHR launch.
async fn launch(
    req: HttpRequest,
    state: web::Data<AppState>,
    app: Option<web::Data<SmartApp>>,
) -> Result<HttpResponse, actix_web::Error> {
    let app = app.ok_or_else(not_configured)?;
    Ok(start_login(&req, &state, &app).await?)
}

async fn start_login(
    req: &HttpRequest,
    state: &AppState,
    app: &SmartApp,
) -> Result<HttpResponse, PageError> {
    let q = query(req)?;
    let iss = required(&q, "iss", "the EHR's FHIR server")?;
    let launch = required(&q, "launch", "the EHR's launch context")?;
    let base = state.fhir.check_server(iss, None).map_err(|_| {
        tracing::warn!(outcome = "iss-refused", "SMART launch refused");
        page_error(
            StatusCode::FORBIDDEN,
            "This EHR is not connected to this service",
            "The launch names a FHIR server that is not on this service's list of servers it may connect to.",
        )
    })?;
    let unreachable = |why: String| {
        tracing::warn!(outcome = "discovery-failed", "SMART launch failed");
        page_error(
            StatusCode::BAD_GATEWAY,
            "The EHR's sign-in service could not be found",
            why,
        )
    };
    let smart = tokio::time::timeout(
        app.discovery_timeout,
        oauth::discover(&app.http, &base, app.allow_http),
    )
    .await
    .map_err(|_| unreachable("The EHR's SMART configuration did not arrive in time.".into()))?
    .map_err(|e| unreachable(e.0))?;
    let authorize = oauth::authorize(&app.cfg, &smart, iss, launch);
    let binding = sessions::random_id();
    let pending = PendingLogin {
        iss: base.as_str().trim_end_matches('/').to_string(),
        smart,
        pkce_verifier: authorize.pkce_verifier,
        browser_binding: binding.clone(),
    };
    app.pending
        .insert(authorize.state, Arc::new(pending), LOGIN_TTL)
        .map_err(|_| busy())?;
    tracing::info!(outcome = "redirected", "SMART launch");
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, authorize.url.as_str()))
        .insert_header((
            header::SET_COOKIE,
            set_cookie(app, LOGIN_COOKIE, &binding, LOGIN_TTL),
        ))
        .finish())
}

fn busy() -> PageError {
    PageError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        title: "The service is busy",
        what: "Too many sign-ins are in progress.".into(),
        todo: "Try again in a minute.",
    }
}

/// `GET /app/callback?code&state` (or `?error&state`): the authorization server's answer.
async fn callback(
    req: HttpRequest,
    app: Option<web::Data<SmartApp>>,
) -> Result<HttpResponse, actix_web::Error> {
    let app = app.ok_or_else(not_configured)?;
    Ok(finish_login(&req, &app).await?)
}

async fn finish_login(req: &HttpRequest, app: &SmartApp) -> Result<HttpResponse, PageError> {
    let q = query(req)?;
    let state = required(&q, "state", "the sign-in's state")?;
    // Taken, not read: a state works once, whatever happens next.
    let pending = app.pending.take(state).ok_or_else(|| {
        tracing::warn!(outcome = "unknown-state", "SMART callback refused");
        page_error(
            StatusCode::BAD_REQUEST,
            "This sign-in is not valid",
            "It has expired, was already used, or was not started here.",
        )
    })?;
    if cookie(req, LOGIN_COOKIE).as_deref() != Some(pending.browser_binding.as_str()) {
        tracing::warn!(outcome = "other-browser", "SMART callback refused");
        return Err(page_error(
            StatusCode::BAD_REQUEST,
            "This sign-in is not valid",
            "It was started in another browser or window.",
        ));
    }
    if let Some(error) = q.get("error") {
        tracing::info!(outcome = "not-authorised", "SMART callback");
        return Err(page_error(
            StatusCode::FORBIDDEN,
            "The EHR did not authorise the app",
            format!("The EHR's sign-in answered: {}.", oauth_error_words(error)),
        ));
    }
    let code = required(&q, "code", "the authorization code")?;
    let granted = oauth::exchange(
        &app.http,
        &app.cfg,
        &pending.smart,
        code,
        &pending.pkce_verifier,
    )
    .await
    .map_err(|e| {
        tracing::warn!(outcome = "token-failed", "SMART callback failed");
        page_error(StatusCode::BAD_GATEWAY, "Sign-in with the EHR failed", e.0)
    })?;
    let session = session_of(&pending, granted, &app.cfg)?;
    let ttl = Duration::from_secs(session.expires_in_secs).min(SESSION_MAX);
    let id = sessions::random_id();
    app.sessions
        .insert(id.clone(), Arc::new(session), ttl)
        .map_err(|_| busy())?;
    tracing::info!(outcome = "signed-in", "SMART callback");
    // A redirect, so that the page's URL carries no code and a reload does not replay it.
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/app/view"))
        .append_header((
            header::SET_COOKIE,
            set_cookie(app, LOGIN_COOKIE, "", Duration::ZERO),
        ))
        .append_header((
            header::SET_COOKIE,
            set_cookie(app, SESSION_COOKIE, &id, ttl),
        ))
        .finish())
}

/// The RFC 6749 §4.1.2.1 error codes in words; anything else is not echoed.
fn oauth_error_words(code: &str) -> &'static str {
    match code {
        "access_denied" => "access was denied",
        "invalid_scope" => "the requested access is not available",
        "unauthorized_client" => "this app is not authorised for this EHR",
        "invalid_request" => "the sign-in request was not valid",
        "unsupported_response_type" => "the sign-in type is not supported",
        "server_error" | "temporarily_unavailable" => "the sign-in service had a problem",
        _ => "an error",
    }
}

/// The session of a successful exchange; the token must name the patient in context.
fn session_of(
    pending: &PendingLogin,
    granted: Granted,
    cfg: &SmartAppConfig,
) -> Result<Session, PageError> {
    let patient = granted.patient.filter(|p| is_fhir_id(p)).ok_or_else(|| {
        tracing::warn!(outcome = "no-patient", "SMART callback failed");
        page_error(
            StatusCode::BAD_GATEWAY,
            "The EHR did not say which patient to show",
            "The sign-in succeeded but its answer names no patient in context.",
        )
    })?;
    Ok(Session {
        iss: pending.iss.clone(),
        access_token: granted.access_token,
        patient,
        scope: granted.scope,
        client_id: cfg.client_id.clone(),
        expires_in_secs: granted
            .expires_in
            .unwrap_or(SESSION_MAX)
            .min(SESSION_MAX)
            .as_secs(),
    })
}

/// A FHIR resource id: `[A-Za-z0-9\-\.]{1,64}`.
fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `GET /app/view`: the page of the signed-in session's patient.
async fn view(
    req: HttpRequest,
    state: web::Data<AppState>,
    app: Option<web::Data<SmartApp>>,
) -> Result<HttpResponse, actix_web::Error> {
    let app = app.ok_or_else(not_configured)?;
    Ok(render_view(&req, &state, &app).await?)
}

async fn render_view(
    req: &HttpRequest,
    state: &AppState,
    app: &SmartApp,
) -> Result<HttpResponse, PageError> {
    let session = cookie(req, SESSION_COOKIE)
        .and_then(|id| app.sessions.get(&id))
        .ok_or_else(|| {
            page_error(
                StatusCode::UNAUTHORIZED,
                "No open session",
                "The session has ended or was never opened.",
            )
        })?;
    let context =
        serde_json::value::RawValue::from_string("{}".into()).map_err(|_| internal_error())?;
    let request = CdsRequest {
        hook: PATIENT_VIEW.hook.to_string(),
        hook_instance: uuid::Uuid::new_v4().to_string(),
        fhir_server: Some(session.iss.clone()),
        fhir_authorization: Some(FhirAuthorization {
            access_token: session.access_token.expose_secret().to_string(),
            token_type: "Bearer".into(),
            expires_in: session.expires_in_secs,
            scope: session.scope.clone(),
            subject: session.client_id.clone(),
            patient: Some(session.patient.clone()),
        }),
        context,
        prefetch: None,
        extension: None,
    };
    // The hooks' own gathering: same allow-list, deadline, page and byte caps, data issues.
    let gathered = crate::http::prefetch::gather_with(
        &state.fhir,
        None,
        &PATIENT_VIEW,
        &request,
        &[("patientId", &session.patient)],
    )
    .await
    .map_err(|e| {
        tracing::warn!(outcome = "fetch-failed", "SMART app page");
        let why: Vec<String> = e.issues.iter().map(|i| i.diagnostics.clone()).collect();
        page_error(
            StatusCode::BAD_GATEWAY,
            "The patient's records could not be read from the EHR",
            why.join(" "),
        )
    })?;
    let docs = gathered.documents();
    let patient = format!("Patient/{}", session.patient);
    let as_of = OffsetDateTime::now_utc().date();
    let computed = catch_unwind(AssertUnwindSafe(|| {
        pipeline::assess_for_patient(
            &docs,
            &patient,
            Some(&session.iss),
            &gathered.notes,
            &state.kb,
            &state.site,
            as_of,
        )
    }));
    let assessment = match computed {
        Ok(Ok(Some((_, a)))) => a,
        Ok(Ok(None)) => {
            return Err(page_error(
                StatusCode::BAD_GATEWAY,
                "The EHR's answer cannot be used",
                "It holds records of a patient other than the one in context; nothing was assessed.",
            ));
        }
        Ok(Err(e)) => {
            return Err(page_error(
                StatusCode::BAD_GATEWAY,
                "The EHR's answer cannot be used",
                format!("A FHIR document could not be read: {e}"),
            ));
        }
        Err(_) => return Err(internal_error()),
    };
    tracing::info!(outcome = "rendered", status = ?assessment.status, "SMART app page");
    let body = tracing::info_span!("render")
        .in_scope(|| page::assessment_page(&assessment, &state.kb, &timeline_svg(&assessment)));
    Ok(html(StatusCode::OK, body))
}

fn internal_error() -> PageError {
    PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Internal error",
        what:
            "The assessment could not be computed; the request id identifies it in the service log."
                .into(),
        todo: "Try again; if it happens again, tell the service's operators.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_ids_are_fhir_ids() {
        assert!(is_fhir_id("p-1.a"));
        for bad in ["", "p/1", "p 1", "p?x", &"a".repeat(65)] {
            assert!(!is_fhir_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_card_link_is_a_smart_link_without_context() {
        let mut m = HashMap::new();
        assert!(card_link(&Config::from_lookup(|k| m.get(k).cloned()).unwrap()).is_none());
        for (k, v) in [
            ("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org"),
            ("TRD_CDS_SMART_CLIENT_ID", "trd-app"),
            ("TRD_CDS_SMART_CLIENT_SECRET", "s3cret-value"),
        ] {
            m.insert(k.to_string(), v.to_string());
        }
        let link = card_link(&Config::from_lookup(|k| m.get(k).cloned()).unwrap()).unwrap();
        let v = serde_json::to_value(&link).unwrap();
        assert_eq!(v["type"], "smart");
        assert_eq!(v["url"], "https://cds.example.org/app/launch");
        assert!(v.get("appContext").is_none(), "{v}");
    }

    #[test]
    fn only_known_oauth_errors_are_put_into_words() {
        assert_eq!(oauth_error_words("access_denied"), "access was denied");
        assert_eq!(oauth_error_words("<script>"), "an error");
    }
}
