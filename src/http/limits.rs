//! Limits on hostile input, before any parsing: header size (431), request time (408 while the
//! client is still sending its body, 503 when the service is slow), compressed bodies (415), and
//! for JSON bodies size (413, `TRD_CDS_MAX_BODY_BYTES`), nesting depth (400), number of `prefetch`
//! keys and of Bundle `entry` elements (413). The body check runs after authentication (it wraps
//! the protected scopes inside the JWT check), so an unauthenticated caller cannot make the
//! service read a body. See `docs/security.md`.

use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, CONTENT_TYPE, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

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
    ServiceResponse::new(http, error_response(&err))
}

/// The response for `err`, with what a refused body needs: `Accept-Encoding: identity` on a 415
/// for a compressed body (RFC 7694), `Connection: close` when the body was not read to its end.
fn error_response(err: &ApiError) -> actix_web::HttpResponse {
    let mut res = err.error_response();
    match err.status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            res.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        _ => {}
    }
    res
}

/// When the request must be answered (set by [`guard`], read by [`json_body`]): a body still
/// arriving then is the client's fault (408); anything else still running is the service's (503).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Instant);

/// Outer guard: header size (431) and the request deadline (503; the body reader answers 408 first
/// when the body is what is late).
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
    let deadline = Instant::now() + Duration::from_secs(limits.config.request_timeout_secs);
    req.extensions_mut().insert(Deadline(deadline));
    match tokio::time::timeout_at(deadline, next.call(req)).await {
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
            // An error (not a response): the request was moved into the timed-out future (and
            // cannot be cloned: routing needs it unshared), so actix turns the error into its
            // OperationOutcome response, which carries the security headers itself.
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

/// 415 for a body sent with a content coding other than `identity`. Compressed request bodies are
/// refused, not inflated: no CDS Client compresses its requests, and inflating is where a 1 MB
/// body becomes gigabytes (docs/security.md, "Compressed request bodies").
fn refuse_content_coding(headers: &HeaderMap) -> Result<(), ApiError> {
    let coded = headers.get_all(header::CONTENT_ENCODING).any(|v| {
        v.to_str().map_or(true, |v| {
            v.split(',')
                .map(str::trim)
                .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        })
    });
    if coded {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Content-Encoding: compressed request bodies are not accepted; send the body uncompressed (identity)",
        )
        .at("Content-Encoding"));
    }
    Ok(())
}

/// Read a request body: 415 for a compressed one (before a byte is read), 413 past `max` bytes
/// (on `Content-Length`, else as the bytes arrive: memory stays within `max` plus one chunk), 408
/// when it has not all arrived by `deadline`, 400 when the connection breaks. The bytes come as
/// they are on the wire: this is the only place that reads a body, and nothing here inflates.
pub async fn read_body<S>(
    headers: &HeaderMap,
    mut payload: S,
    max: usize,
    deadline: Option<Instant>,
) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    refuse_content_coding(headers)?;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!("body: larger than {max} bytes (TRD_CDS_MAX_BODY_BYTES)"),
        )
    };
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let read = async {
        // One allocation of the declared size (already checked against the limit) instead of
        // doubling and copying a 60 KB body four times; a wrong Content-Length only costs a regrow.
        let mut body = BytesMut::with_capacity(declared_len.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!("body: could not be read: {e}"),
                )
            })?;
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    match deadline {
        None => read.await,
        Some(d) => tokio::time::timeout_at(d, read).await.unwrap_or_else(|_| {
            tracing::warn!("request body not received by the deadline; 408");
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "transient",
                "body: not received within the time the service allows (TRD_CDS_REQUEST_TIMEOUT_SECS)",
            ))
        }),
    }
}

/// Inner check of bodies, inside the JWT check: compressed bodies are refused (415, whatever the
/// type); JSON bodies are read once ([`read_body`]), measured (depth, prefetch keys, Bundle
/// entries) and handed on to the handler. Other types are not read at all: [`JsonBody`] answers
/// them 415.
pub async fn json_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    if let Err(err) = refuse_content_coding(req.headers()) {
        tracing::warn!("compressed request body refused; 415");
        return Ok(reject(req, err).map_into_right_body());
    }
    let limits = req.app_data::<web::Data<Limits>>().map(|l| *l.get_ref());
    let Some(limits) = limits.filter(|_| is_json(&req)) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let deadline = req.extensions().get::<Deadline>().map(|d| d.0);
    let payload = req.take_payload();
    let body = match read_body(req.headers(), payload, limits.max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(err) => return Ok(reject(req, err).map_into_right_body()),
    };
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
/// copied). It never reads the payload itself (actix's own body extractors would inflate a
/// compressed body): without them the answer is 415 for a body that is not JSON, and 500 for a
/// route mounted outside the body-checking scopes (a wiring bug).
pub struct JsonBody(pub Bytes);

impl actix_web::FromRequest for JsonBody {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut Payload) -> Self::Future {
        let body = match req.extensions().get::<ReadBody>() {
            Some(ReadBody(b)) => Ok(JsonBody(b.clone())),
            None => match crate::http::routes::require_json(req) {
                Err(e) => Err(e.into()),
                Ok(()) => Err(ApiError::internal("the request body was not read").into()),
            },
        };
        std::future::ready(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `n` chunks of `size` bytes that count how many bytes the reader pulled.
    fn counted(
        n: usize,
        size: usize,
        pulled: &Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<Bytes, PayloadError>> + Unpin {
        let pulled = pulled.clone();
        // What a gzip bomb's chunks look like on the wire (magic, deflate, then compressed zeros);
        // the content does not matter to a reader that must not inflate it.
        let mut chunk = vec![0u8; size];
        chunk[..3].copy_from_slice(&[0x1f, 0x8b, 0x08]);
        let chunk = Bytes::from(chunk);
        futures_util::stream::iter((0..n).map(move |_| Ok(chunk.clone()))).inspect(move |c| {
            pulled.fetch_add(c.as_ref().map_or(0, Bytes::len), Ordering::SeqCst);
        })
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        h
    }

    #[tokio::test]
    async fn compressed_bodies_are_refused_before_a_byte_is_pulled() {
        for coding in [
            "gzip",
            "deflate",
            "br",
            "GZip",
            "x-gzip",
            "identity, gzip",
            "zstd",
        ] {
            let pulled = Arc::new(AtomicUsize::new(0));
            // 1 GiB of (compressed) chunks on offer.
            let body = counted(16 * 1024, 64 * 1024, &pulled);
            let h = headers(&[("content-encoding", coding)]);
            let err = read_body(&h, body, 5 << 20, None).await.unwrap_err();
            assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{coding}");
            assert_eq!(err.issues[0].expression, ["Content-Encoding"]);
            assert_eq!(
                pulled.load(Ordering::SeqCst),
                0,
                "{coding}: bytes were read"
            );
        }
        // Two Content-Encoding headers, one of them identity: still compressed.
        let pulled = Arc::new(AtomicUsize::new(0));
        let h = headers(&[
            ("content-encoding", "identity"),
            ("content-encoding", "gzip"),
        ]);
        let err = read_body(&h, counted(4, 10, &pulled), 1000, None)
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // identity is no coding at all.
        let h = headers(&[("content-encoding", "identity")]);
        let body = read_body(&h, counted(4, 10, &pulled), 1000, None)
            .await
            .unwrap();
        assert_eq!(body.len(), 40);
    }

    #[tokio::test]
    async fn reading_stops_at_the_limit() {
        let max = 100_000;
        // Declared too large: nothing is pulled.
        let pulled = Arc::new(AtomicUsize::new(0));
        let h = headers(&[("content-length", "100001")]);
        let err = read_body(&h, counted(1000, 1000, &pulled), max, None)
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(pulled.load(Ordering::SeqCst), 0);
        // Undeclared (chunked) or lying: the reader stops within one chunk past the limit.
        for h in [headers(&[]), headers(&[("content-length", "10")])] {
            let pulled = Arc::new(AtomicUsize::new(0));
            let err = read_body(&h, counted(16 * 1024, 64 * 1024, &pulled), max, None)
                .await
                .unwrap_err();
            assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
            assert!(pulled.load(Ordering::SeqCst) <= max + 64 * 1024);
        }
    }

    #[tokio::test]
    async fn a_body_still_missing_at_the_deadline_is_408() {
        let stalled = futures_util::stream::pending::<Result<Bytes, PayloadError>>();
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = read_body(&headers(&[]), stalled, 1000, Some(deadline))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
        assert!(err.to_string().contains("TRD_CDS_REQUEST_TIMEOUT_SECS"));
    }

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
