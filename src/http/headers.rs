//! Response headers a security review of a PHI API expects, on every answer (errors, 401s and the
//! docs page included). Why each one: `docs/security.md` ("Response headers").
//!
//! - `Cache-Control: no-store`: answers carry patient data (cards, assessments) or say something
//!   about it; no browser, proxy or CDN may keep a copy.
//! - `X-Content-Type-Options: nosniff`: a JSON answer that reflects input is never run as HTML/script.
//! - `Content-Security-Policy`: `default-src 'none'` for everything but HTML (a JSON answer opened
//!   in a browser can load nothing); the API docs page (the only HTML) gets a policy that lets
//!   Swagger UI run from this origin and nothing else. Both forbid framing.
//! - `X-Frame-Options: DENY`: framing refused for browsers that predate `frame-ancestors`.
//! - `Referrer-Policy: no-referrer`: a link followed from the docs page never carries our URL.
//! - `Strict-Transport-Security`: only when `TRD_CDS_PUBLIC_BASE_URL` is `https://` (the service
//!   itself speaks HTTP behind the TLS terminator; browsers ignore the header over plain HTTP).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// Every response but HTML: a JSON (or JS, CSS, image) answer is never a document that may load
/// or frame anything.
pub const CSP_API: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The API docs page (Swagger UI, served from this origin): its own scripts, styles (Swagger UI sets
/// inline styles), images (inline SVG icons as data: URLs) and the OpenAPI document; nothing else.
pub const CSP_DOCS: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const HSTS: &str = "max-age=31536000";

/// Whether to send `Strict-Transport-Security` (app data).
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityHeaders {
    pub hsts: bool,
}

impl SecurityHeaders {
    pub fn new(public_base_url: Option<&str>) -> SecurityHeaders {
        SecurityHeaders {
            hsts: public_base_url.is_some_and(|u| u.starts_with("https://")),
        }
    }

    /// Set the headers on `h` (overwriting any a handler set).
    pub fn apply(&self, h: &mut HeaderMap) {
        let html = h
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        // An HTML page that set its own deny-by-default policy (the SMART app's page: its inline
        // style by hash, no script) keeps it; any other policy is replaced.
        let own_strict_policy = html
            && h.get(header::CONTENT_SECURITY_POLICY)
                .is_some_and(|v| v.as_bytes().starts_with(b"default-src 'none';"));
        let set = |h: &mut HeaderMap, k: HeaderName, v: &'static str| {
            h.insert(k, HeaderValue::from_static(v));
        };
        set(h, header::CACHE_CONTROL, "no-store");
        set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        if !own_strict_policy {
            let csp = if html { CSP_DOCS } else { CSP_API };
            set(h, header::CONTENT_SECURITY_POLICY, csp);
        }
        set(h, header::X_FRAME_OPTIONS, "DENY");
        set(h, header::REFERRER_POLICY, "no-referrer");
        if self.hsts {
            set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
    }
}

/// Middleware (outermost but the request span): the headers above on every response.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let settings = req
        .app_data::<web::Data<SecurityHeaders>>()
        .map(|s| *s.get_ref())
        .unwrap_or_default();
    let mut res = next.call(req).await?;
    settings.apply(res.headers_mut());
    Ok(res)
}
