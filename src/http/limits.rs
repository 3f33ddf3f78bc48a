//! Limits on hostile input, before any parsing: header size (431), request time (503), and for
//! JSON bodies size (413, `TRD_CDS_MAX_BODY_BYTES`), nesting depth (400), number of `prefetch` keys
//! and of Bundle `entry` elements (413). The body check runs after authentication, so an
//! unauthenticated caller cannot make the service read a body. See `docs/security.md`.

use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::StreamExt;

use crate::config::LimitsConfig;
use crate::http::errors::ApiError;

/// Limits as the middlewares see them (app data).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub config: LimitsConfig,
}

/// What [`scan_json`] found in a body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonShape {
    /// Deepest array/object nesting (a scalar alone is 0, `{}` is 1).
    pub depth: usize,
    /// Keys of the top-level `prefetch` object.
    pub prefetch_keys: usize,
    /// Elements of every array held by an `entry` key (Bundle entries, at any depth).
    pub entries: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Other,
    Entry,
    Prefetch,
}

struct Frame {
    object: bool,
    kind: Kind,
    /// Object: the next string is a key. Array: the next value is a new element.
    expect: bool,
}

/// Measure a JSON text without building it: nesting depth, top-level `prefetch` keys, `entry`
/// elements. Stops as soon as the depth passes `depth_limit` (the result then has
/// `depth > depth_limit`). Not a validator: malformed JSON is left to the real parser, and nothing
/// here can panic or allocate more than the nesting stack (bounded by `depth_limit`).
pub fn scan_json(bytes: &[u8], depth_limit: usize) -> JsonShape {
    let mut shape = JsonShape::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut last_key_is: Kind = Kind::Other;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b':' => {}
            b'{' | b'[' => {
                let parent_kind = count_value(&mut stack, &mut shape);
                let kind = match (c, last_key_is) {
                    (b'[', Kind::Entry) => Kind::Entry,
                    (b'{', Kind::Prefetch) if stack.len() == 1 && parent_kind => Kind::Prefetch,
                    _ => Kind::Other,
                };
                last_key_is = Kind::Other;
                stack.push(Frame {
                    object: c == b'{',
                    kind,
                    expect: true,
                });
                shape.depth = shape.depth.max(stack.len());
                if stack.len() > depth_limit {
                    return shape;
                }
            }
            b'}' | b']' => {
                stack.pop();
                last_key_is = Kind::Other;
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    f.expect = true;
                }
                last_key_is = Kind::Other;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                // Jump to the next quote or backslash (strings are most of a FHIR body).
                loop {
                    match bytes
                        .get(j..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    {
                        Some(k) if bytes[j + k] == b'"' => {
                            j += k;
                            break;
                        }
                        Some(k) => {
                            escaped = true;
                            j += k + 2;
                        }
                        None => {
                            j = bytes.len();
                            break;
                        }
                    }
                }
                let end = j.min(bytes.len());
                let is_key = stack.last().is_some_and(|f| f.object && f.expect);
                if is_key {
                    let top = stack.last_mut().expect("checked above");
                    top.expect = false;
                    if top.kind == Kind::Prefetch {
                        shape.prefetch_keys += 1;
                    }
                    let raw = &bytes[start.min(end)..end];
                    let key: Option<std::borrow::Cow<'_, [u8]>> = if escaped {
                        bytes
                            .get(i..=end)
                            .and_then(|q| serde_json::from_slice::<String>(q).ok())
                            .map(|s| std::borrow::Cow::Owned(s.into_bytes()))
                    } else {
                        Some(std::borrow::Cow::Borrowed(raw))
                    };
                    last_key_is = match key.as_deref() {
                        Some(b"entry") => Kind::Entry,
                        Some(b"prefetch") => Kind::Prefetch,
                        _ => Kind::Other,
                    };
                } else {
                    count_value(&mut stack, &mut shape);
                    last_key_is = Kind::Other;
                }
                i = end;
            }
            _ => {
                // Start (or middle) of a number / true / false / null.
                count_value(&mut stack, &mut shape);
                last_key_is = Kind::Other;
            }
        }
        i += 1;
    }
    shape
}

/// A value starts in the top frame: count it if the frame is an `entry` array expecting an
/// element. Returns whether the parent is the top-level object (for `prefetch`).
fn count_value(stack: &mut [Frame], shape: &mut JsonShape) -> bool {
    let top_level_object = stack.len() == 1 && stack[0].object;
    if let Some(f) = stack.last_mut()
        && !f.object
        && f.expect
    {
        f.expect = false;
        if f.kind == Kind::Entry {
            shape.entries += 1;
        }
    }
    top_level_object
}

fn reject(req: ServiceRequest, err: ApiError) -> ServiceResponse<BoxBody> {
    let (http, _) = req.into_parts();
    ServiceResponse::new(http, err.error_response())
}

/// Outer guard: header size (431) and the request deadline (503).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let Some(limits) = req.app_data::<web::Data<Limits>>().map(|l| *l.get_ref()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let header_bytes: usize = req.uri().to_string().len()
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if header_bytes > limits.config.max_header_bytes {
        tracing::warn!(header_bytes, "request headers too large; 431");
        let err = ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too-costly",
            format!(
                "request headers exceed {} bytes (TRD_CDS_MAX_HEADER_BYTES)",
                limits.config.max_header_bytes
            ),
        );
        return Ok(reject(req, err).map_into_right_body());
    }
    let deadline = Duration::from_secs(limits.config.request_timeout_secs);
    match tokio::time::timeout(deadline, next.call(req)).await {
        Ok(res) => Ok(res?.map_into_left_body()),
        Err(_) => {
            tracing::error!(
                timeout_s = limits.config.request_timeout_secs,
                "request timed out; 503"
            );
            let err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the request took longer than the service allows (TRD_CDS_REQUEST_TIMEOUT_SECS); retry",
            );
            // An error (not a response): the request was moved into the timed-out future, and
            // actix turns the error into its OperationOutcome response.
            Err(err.into())
        }
    }
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let m = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            m == "application/json" || m == "application/fhir+json"
        })
        .unwrap_or(false)
}

/// Inner check of JSON bodies: size, depth, prefetch keys, Bundle entries. The body is read once
/// and handed on to the handler.
pub async fn json_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let limits = req.app_data::<web::Data<Limits>>().map(|l| *l.get_ref());
    let Some(limits) = limits.filter(|_| is_json(&req)) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!(
                "body: larger than {} bytes (TRD_CDS_MAX_BODY_BYTES)",
                limits.max_body_bytes
            ),
        )
    };
    let declared_len = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > limits.max_body_bytes) {
        return Ok(reject(req, too_large()).map_into_right_body());
    }
    let mut payload = req.take_payload();
    // One allocation of the declared size (already checked against the limit) instead of
    // doubling and copying a 60 KB body four times; a wrong Content-Length only costs a regrow.
    let mut body = BytesMut::with_capacity(declared_len.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limits.max_body_bytes {
            return Ok(reject(req, too_large()).map_into_right_body());
        }
        body.extend_from_slice(&chunk);
    }
    let body: Bytes = body.freeze();
    let l = limits.config;
    let shape = scan_json(&body, l.max_json_depth);
    let err = if shape.depth > l.max_json_depth {
        Some(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!(
                "body: JSON nested deeper than {} levels (TRD_CDS_MAX_JSON_DEPTH)",
                l.max_json_depth
            ),
        ))
    } else if shape.prefetch_keys > l.max_prefetch_keys {
        Some(
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                format!(
                    "prefetch: more than {} keys (TRD_CDS_MAX_PREFETCH_KEYS)",
                    l.max_prefetch_keys
                ),
            )
            .at("prefetch"),
        )
    } else if shape.entries > l.max_bundle_entries {
        Some(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!(
                "entry: more than {} Bundle entries in one request (TRD_CDS_MAX_BUNDLE_ENTRIES)",
                l.max_bundle_entries
            ),
        ))
    } else {
        None
    };
    if let Some(err) = err {
        tracing::warn!(
            depth = shape.depth,
            prefetch_keys = shape.prefetch_keys,
            entries = shape.entries,
            "request body over a limit"
        );
        return Ok(reject(req, err).map_into_right_body());
    }
    // Handlers take the body through [`JsonBody`], which finds it here instead of copying it
    // out of the payload stream again; the payload is restored too, for any other extractor.
    req.extensions_mut().insert(ReadBody(body.clone()));
    req.set_payload(Payload::from(body));
    Ok(next.call(req).await?.map_into_left_body())
}

/// The JSON body [`json_body`] has read and checked.
#[derive(Clone)]
struct ReadBody(Bytes);

/// Extractor for a JSON body: the bytes [`json_body`] already read and checked (shared, not
/// copied), or, where that middleware did not run, the payload read as `web::Bytes` would.
pub struct JsonBody(pub Bytes);

impl actix_web::FromRequest for JsonBody {
    type Error = actix_web::Error;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<Self, Self::Error>>,
        futures_util::future::MapOk<
            <Bytes as actix_web::FromRequest>::Future,
            fn(Bytes) -> JsonBody,
        >,
    >;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut Payload) -> Self::Future {
        use futures_util::TryFutureExt;
        match req.extensions().get::<ReadBody>() {
            Some(ReadBody(b)) => {
                futures_util::future::Either::Left(std::future::ready(Ok(JsonBody(b.clone()))))
            }
            None => futures_util::future::Either::Right(
                Bytes::from_request(req, payload).map_ok(JsonBody as fn(Bytes) -> JsonBody),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(scan_json(b"1", 64).depth, 0);
        assert_eq!(scan_json(b"{}", 64).depth, 1);
        assert_eq!(scan_json(br#"{"a":[[{"b":"]]]"}]]}"#, 64).depth, 4);
        let s = scan_json(
            br#"{"hook":"x","prefetch":{"a":{"resourceType":"Bundle","entry":[{"resource":{}},{"resource":{"entry":[1,2,3]}}]},"b":null,"c":{"entry":[]}}}"#,
            64,
        );
        assert_eq!(s.prefetch_keys, 3);
        assert_eq!(s.entries, 5);
        // A key written with escapes is still recognised.
        let s = scan_json(br#"{"prefetch":{"a":{"entr\u0079":[1,2]}}}"#, 64);
        assert_eq!((s.prefetch_keys, s.entries), (1, 2));
        // "prefetch" below the top level is not the request's prefetch.
        assert_eq!(
            scan_json(br#"{"x":{"prefetch":{"a":1}}}"#, 64).prefetch_keys,
            0
        );
        // Stops early.
        let deep = "[".repeat(100_000);
        assert_eq!(scan_json(deep.as_bytes(), 64).depth, 65);
        // Garbage does not panic.
        for g in [
            &b"\"abc"[..],
            b"\"\\",
            b"]]]}}",
            b"{\"entry\":[",
            b",,,",
            b"\xff\xfe",
        ] {
            scan_json(g, 8);
        }
    }
}
