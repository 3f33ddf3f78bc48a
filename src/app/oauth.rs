//! SMART App Launch 2.x, EHR launch, as a confidential client: discovery of the EHR's authorization
//! server (`{iss}/.well-known/smart-configuration`), the authorize redirect (PKCE S256, `state`,
//! `aud`, `launch`, the minimum scopes) and the code exchange (HTTP Basic client authentication).
//!
//! The OAuth 2.0 mechanics (PKCE pair, state, authorize URL, token request and response) come from
//! the `oauth2` crate; it is given our pooled reqwest client (its own reqwest feature would add a
//! second reqwest to the build). That client never follows redirects (a redirect could carry the
//! code, the verifier or the client secret elsewhere), is HTTPS-only unless
//! `TRD_CDS_FHIR_ALLOW_HTTP` (local testing), and every request has a timeout.

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::cds_hooks::discovery::PATIENT_VIEW;
use crate::config::SmartAppConfig;
use crate::fhir::client::FhirBase;

/// Largest smart-configuration document or token response read (they are a few hundred bytes).
const MAX_AUTH_BODY_BYTES: usize = 64 * 1024;

/// What the EHR's authorization server publishes (the fields this app uses).
#[derive(Debug, Clone)]
pub struct SmartConfiguration {
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    /// SMART v2 scopes (`patient/Condition.rs`) unless the server says it only knows v1.
    pub scope_version: ScopeVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeVersion {
    V1,
    V2,
}

/// The SMART token response's launch context (the fields this app uses).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SmartTokenFields {
    /// The patient in context: the one the page is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

impl ExtraTokenFields for SmartTokenFields {}

type SmartTokenResponse = StandardTokenResponse<SmartTokenFields, BasicTokenType>;
type SmartClient = Client<
    BasicErrorResponse,
    SmartTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What went wrong talking to the authorization server, in words for the error page (never a
/// URL, a code, a token or the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthServerError(pub String);

/// The redirect to the authorization server and what the callback needs to finish.
pub struct Authorize {
    pub url: Url,
    pub state: String,
    pub pkce_verifier: SecretString,
}

/// Tokens and context from a successful code exchange.
pub struct Granted {
    pub access_token: SecretString,
    pub patient: Option<String>,
    pub expires_in: Option<Duration>,
    pub scope: String,
}

/// The HTTP client for the authorization server (discovery and token requests).
pub fn http_client(allow_http: bool, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .https_only(!allow_http)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("trd-cds/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the SMART HTTP client: {e}"))
}

/// GET `{iss}/.well-known/smart-configuration` (SMART App Launch 2.x §Discovery).
pub async fn discover(
    http: &reqwest::Client,
    iss: &FhirBase,
    allow_http: bool,
) -> Result<SmartConfiguration, AuthServerError> {
    #[derive(Deserialize)]
    struct Doc {
        authorization_endpoint: Option<String>,
        token_endpoint: Option<String>,
        #[serde(default)]
        scopes_supported: Vec<String>,
        #[serde(default)]
        capabilities: Vec<String>,
    }
    let fail = |why: &str| AuthServerError(format!("the EHR's SMART configuration {why}"));
    let url = format!(
        "{}/.well-known/smart-configuration",
        iss.as_str().trim_end_matches('/')
    );
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(&format!("could not be read ({})", transport_words(&e))))?;
    if !resp.status().is_success() {
        return Err(fail(&format!(
            "could not be read (HTTP {})",
            resp.status().as_u16()
        )));
    }
    let body = bounded_body(resp)
        .await
        .map_err(|w| fail(&format!("could not be read ({w})")))?;
    let doc: Doc = serde_json::from_slice(&body)
        .map_err(|_| fail("is not the JSON document SMART defines"))?;
    let endpoint = |v: Option<String>, name: &str| -> Result<Url, AuthServerError> {
        let v = v.ok_or_else(|| fail(&format!("has no {name}")))?;
        checked_endpoint(&v, allow_http).ok_or_else(|| {
            fail(&format!(
                "has a {name} this service will not use (absolute https:// URL without credentials expected)"
            ))
        })
    };
    Ok(SmartConfiguration {
        authorization_endpoint: endpoint(doc.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: endpoint(doc.token_endpoint, "token_endpoint")?,
        scope_version: scope_version(&doc.scopes_supported, &doc.capabilities),
    })
}

/// An endpoint URL the app may send a browser or its client secret to: absolute, `https://`
/// (`http://` only for local testing), with a host, without credentials or fragment.
fn checked_endpoint(s: &str, allow_http: bool) -> Option<Url> {
    let u = Url::parse(s).ok()?;
    let scheme_ok = u.scheme() == "https" || (allow_http && u.scheme() == "http");
    (scheme_ok
        && u.host_str().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.fragment().is_none())
    .then_some(u)
}

/// SMART v2 unless the server says it knows only v1: `permission-v1` without `permission-v2`
/// among its capabilities, or only v1-style (`.read`/`.write`) resource scopes in `scopes_supported`.
pub fn scope_version(scopes_supported: &[String], capabilities: &[String]) -> ScopeVersion {
    let cap = |c: &str| capabilities.iter().any(|x| x == c);
    if cap("permission-v2") {
        return ScopeVersion::V2;
    }
    if cap("permission-v1") {
        return ScopeVersion::V1;
    }
    let resource_scopes: Vec<&str> = scopes_supported
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with("patient/") || s.starts_with("user/") || s.starts_with("system/"))
        .collect();
    let v1 = |s: &&str| s.ends_with(".read") || s.ends_with(".write") || s.ends_with(".*");
    if !resource_scopes.is_empty() && resource_scopes.iter().all(v1) {
        ScopeVersion::V1
    } else {
        ScopeVersion::V2
    }
}

/// The minimum scopes: `launch` (EHR launch context) and read access to exactly the resource types
/// the assessment reads (the patient-view prefetch templates, the one list of them). A read
/// (`Patient/{id}`) gets `.r`, a search `.rs` (v2); v1 has only `.read`.
pub fn scopes(version: ScopeVersion) -> Vec<String> {
    let mut out = vec!["launch".to_string()];
    for t in PATIENT_VIEW.prefetch {
        let (path, _) = t.query.split_once('?').unwrap_or((t.query, ""));
        let (rtype, read) = match path.split_once('/') {
            Some((rtype, _)) => (rtype, true),
            None => (path, false),
        };
        let scope = match (version, read) {
            (ScopeVersion::V1, _) => format!("patient/{rtype}.read"),
            (ScopeVersion::V2, true) => format!("patient/{rtype}.r"),
            (ScopeVersion::V2, false) => format!("patient/{rtype}.rs"),
        };
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out
}

fn client(cfg: &SmartAppConfig, smart: &SmartConfiguration) -> SmartClient {
    Client::new(ClientId::new(cfg.client_id.clone()))
        .set_client_secret(ClientSecret::new(
            cfg.client_secret.expose_secret().to_string(),
        ))
        .set_auth_uri(AuthUrl::from_url(smart.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(smart.token_endpoint.clone()))
        .set_redirect_uri(redirect_uri(cfg))
}

/// `{TRD_CDS_PUBLIC_BASE_URL}/app/callback`, the redirect URI registered with the EHR.
pub fn redirect_uri(cfg: &SmartAppConfig) -> RedirectUrl {
    RedirectUrl::new(format!("{}/app/callback", cfg.public_base_url))
        .expect("TRD_CDS_PUBLIC_BASE_URL is checked to be an absolute URL at start-up")
}

/// The authorize redirect: `response_type=code`, `client_id`, `redirect_uri`, `scope`, a random
/// `state`, `aud` = the FHIR server, `launch`, and a PKCE S256 challenge.
pub fn authorize(
    cfg: &SmartAppConfig,
    smart: &SmartConfiguration,
    iss: &str,
    launch: &str,
) -> Authorize {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client(cfg, smart)
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes(smart.scope_version).into_iter().map(Scope::new))
        .add_extra_param("aud", iss)
        .add_extra_param("launch", launch)
        .set_pkce_challenge(challenge)
        .url();
    Authorize {
        url,
        state: state.secret().clone(),
        pkce_verifier: SecretString::from(verifier.secret().clone()),
    }
}

/// Exchange the code at the token endpoint with the client secret and the PKCE verifier.
pub async fn exchange(
    http: &reqwest::Client,
    cfg: &SmartAppConfig,
    smart: &SmartConfiguration,
    code: &str,
    pkce_verifier: &SecretString,
) -> Result<Granted, AuthServerError> {
    let send = |req: oauth2::HttpRequest| send(http, req);
    let resp = client(cfg, smart)
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(
            pkce_verifier.expose_secret().to_string(),
        ))
        .request_async(&send)
        .await
        .map_err(|e| AuthServerError(token_error_words(&e)))?;
    Ok(Granted {
        access_token: SecretString::from(resp.access_token().secret().clone()),
        patient: resp.extra_fields().patient.clone(),
        expires_in: resp.expires_in(),
        scope: resp
            .scopes()
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    })
}

/// Why the token request failed, for the page: the server's OAuth error code (a fixed vocabulary),
/// never its free text (it may echo the code) nor a URL.
fn token_error_words(e: &RequestTokenError<SendError, BasicErrorResponse>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!(
            "the EHR's authorization server refused the sign-in ({})",
            r.error().as_ref()
        ),
        RequestTokenError::Request(SendError(why)) => {
            format!("the EHR's authorization server could not be reached ({why})")
        }
        RequestTokenError::Parse(_, _) => {
            "the EHR's authorization server answered something that is not a token response".into()
        }
        RequestTokenError::Other(_) => {
            "the EHR's authorization server answered something unexpected".into()
        }
    }
}

/// A transport failure, in words without a URL.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(String);

/// The `oauth2` crate's HTTP call, on our reqwest client; the body is bounded.
async fn send(
    http: &reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, SendError> {
    let req = reqwest::Request::try_from(req)
        .map_err(|_| SendError("the token request could not be built".into()))?;
    let resp = http
        .execute(req)
        .await
        .map_err(|e| SendError(transport_words(&e)))?;
    let status = resp.status();
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    let body = bounded_body(resp).await.map_err(SendError)?;
    let mut out = oauth2::http::Response::builder().status(status.as_u16());
    if let Some(ct) = content_type {
        out = out.header(oauth2::http::header::CONTENT_TYPE, ct.as_bytes());
    }
    out.body(body)
        .map_err(|_| SendError("the token response could not be read".into()))
}

async fn bounded_body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("answer larger than {MAX_AUTH_BODY_BYTES} bytes");
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_AUTH_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_words(&e))? {
        if buf.len() + chunk.len() > MAX_AUTH_BODY_BYTES {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn transport_words(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_redirect() {
        "it answered with a redirect, which is not followed".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scope_version_falls_back_to_v1_only_when_the_server_says_so() {
        assert_eq!(scope_version(&[], &[]), ScopeVersion::V2);
        assert_eq!(
            scope_version(&[], &s(&["permission-v1", "permission-v2"])),
            ScopeVersion::V2
        );
        assert_eq!(
            scope_version(&[], &s(&["launch-ehr", "permission-v1"])),
            ScopeVersion::V1
        );
        assert_eq!(
            scope_version(&s(&["launch", "patient/*.read", "openid"]), &[]),
            ScopeVersion::V1
        );
        assert_eq!(
            scope_version(&s(&["patient/*.read", "patient/*.rs"]), &[]),
            ScopeVersion::V2
        );
    }

    #[test]
    fn scopes_are_the_minimum_for_the_resources_read() {
        let v2 = scopes(ScopeVersion::V2);
        assert_eq!(v2[0], "launch");
        assert!(v2.contains(&"patient/Patient.r".to_string()), "{v2:?}");
        assert!(v2.contains(&"patient/MedicationRequest.rs".to_string()));
        assert!(v2.contains(&"patient/Observation.rs".to_string()));
        assert!(!v2.iter().any(|s| s.contains('*') || s.starts_with("user/")));
        assert_eq!(v2.len(), 1 + PATIENT_VIEW.prefetch.len());
        let v1 = scopes(ScopeVersion::V1);
        assert!(v1.contains(&"patient/Condition.read".to_string()), "{v1:?}");
        assert!(v1[1..].iter().all(|s| s.ends_with(".read")));
    }

    #[test]
    fn endpoints_must_be_https_without_credentials() {
        assert!(checked_endpoint("https://ehr.example.org/oauth/token", false).is_some());
        for bad in [
            "http://ehr.example.org/token",
            "https://u:p@ehr.example.org/token",
            "https://ehr.example.org/token#x",
            "javascript:alert(1)",
            "/token",
        ] {
            assert!(checked_endpoint(bad, false).is_none(), "{bad}");
        }
        assert!(checked_endpoint("http://127.0.0.1:9/token", true).is_some());
    }
}
