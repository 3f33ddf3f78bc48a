//! CORS for browser-based CDS Clients (e.g. the CDS Hooks sandbox): an origin allow-list
//! (`TRD_CDS_CORS_ORIGINS`), `Authorization` and `Content-Type` allowed, never credentials (the JWT
//! travels in a header, not a cookie), so `*` is never combined with `Allow-Credentials`.
//! A preflight from an origin not on the list gets no CORS headers (the browser then refuses).
//! An allowed origin's preflight asking for Private Network Access (Chromium, a public page calling
//! localhost: the sandbox against a local demo) is granted it.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

/// Allowed origins (app data). Empty = CORS off.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
    any: bool,
}

const ALLOW_METHODS: &str = "GET, POST, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";
const EXPOSE_HEADERS: &str = "X-Request-Id, WWW-Authenticate";
const MAX_AGE: &str = "600";
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";
const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";

impl Cors {
    pub fn new(origins: &[String]) -> Cors {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.iter().filter(|o| *o != "*").cloned().collect(),
        }
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        if self.any {
            return Some(HeaderValue::from_static("*"));
        }
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }
}

fn set(res: &mut HttpResponse<impl MessageBody>, name: HeaderName, value: HeaderValue) {
    res.headers_mut().insert(name, value);
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let allowed = req
        .app_data::<web::Data<Cors>>()
        .zip(req.headers().get(header::ORIGIN))
        .and_then(|(c, o)| c.allow(o.to_str().ok()?));
    let Some(allow_origin) = allowed else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut res = HttpResponse::NoContent().finish();
        set(&mut res, header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        set(
            &mut res,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        set(
            &mut res,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        set(
            &mut res,
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        set(&mut res, header::VARY, HeaderValue::from_static("Origin"));
        // Private Network Access: Chromium asks before a public page (the sandbox) calls a
        // service on localhost or a private address; an allowed origin may.
        if req
            .headers()
            .get(REQUEST_PRIVATE_NETWORK)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
        {
            set(
                &mut res,
                HeaderName::from_static(ALLOW_PRIVATE_NETWORK),
                HeaderValue::from_static("true"),
            );
        }
        let (http, _) = req.into_parts();
        return Ok(ServiceResponse::new(http, res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    Ok(res.map_into_left_body())
}
