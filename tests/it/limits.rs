//! Limits on hostile input, over real HTTP: JSON depth, prefetch keys, Bundle entries, body size,
//! compressed bodies, header size and the request deadline (408 for a slow client). Every refusal is an OperationOutcome, never a 5xx crash.

use crate::common;

use common::app::{patient_view, prefetch_with, searchset, spawn_app};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SERVICE: &str = "/cds-services/trd-patient-view";

async fn outcome(resp: reqwest::Response, status: u16) -> String {
    assert_eq!(resp.status().as_u16(), status);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["resourceType"], "OperationOutcome");
    v["issue"][0]["diagnostics"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn deep_json_is_400() {
    let app = spawn_app(&[("TRD_CDS_MAX_JSON_DEPTH", "32")]).await;
    let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
    let body = patient_view("p1", &prefetch_with(&[("conditions", &deep)]));
    let d = outcome(app.post_json(SERVICE, &body).await, 400).await;
    assert!(d.contains("TRD_CDS_MAX_JSON_DEPTH"), "{d}");
    // Far deeper than serde_json's own recursion limit: still a clean 400.
    let deeper = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    outcome(app.post_json("/api/v1/assessments", &deeper).await, 400).await;
    // A normal request passes.
    let ok = patient_view("p1", &prefetch_with(&[]));
    assert_eq!(app.post_json(SERVICE, &ok).await.status().as_u16(), 200);
}

#[tokio::test]
async fn too_many_prefetch_keys_or_entries_is_413() {
    let app = spawn_app(&[
        ("TRD_CDS_MAX_PREFETCH_KEYS", "8"),
        ("TRD_CDS_MAX_BUNDLE_ENTRIES", "50"),
    ])
    .await;
    let extra: Vec<(String, &str)> = (0..10).map(|i| (format!("k{i}"), "null")).collect();
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let body = patient_view("p1", &prefetch_with(&extra).replace("}", ",\"x\":null}"));
    let body = body.replace("\"x\":null", "\"x\":null,\"y\":null");
    let d = outcome(app.post_json(SERVICE, &body).await, 413).await;
    assert!(d.contains("TRD_CDS_MAX_PREFETCH_KEYS"), "{d}");

    let cond = r#"{"resourceType":"Condition","subject":{"reference":"Patient/p1"}}"#;
    let many = searchset(&[cond; 60]);
    let body = patient_view("p1", &prefetch_with(&[("conditions", &many)]));
    let d = outcome(app.post_json(SERVICE, &body).await, 413).await;
    assert!(d.contains("TRD_CDS_MAX_BUNDLE_ENTRIES"), "{d}");
    let d = outcome(app.post_json("/api/v1/assessments", &many).await, 413).await;
    assert!(d.contains("TRD_CDS_MAX_BUNDLE_ENTRIES"), "{d}");
    let few = searchset(&[cond; 10]);
    let body = patient_view("p1", &prefetch_with(&[("conditions", &few)]));
    assert_eq!(app.post_json(SERVICE, &body).await.status().as_u16(), 200);
}

#[tokio::test]
async fn body_over_the_limit_is_413_even_when_chunked() {
    let app = spawn_app(&[("TRD_CDS_MAX_BODY_BYTES", "2048")]).await;
    let big = patient_view(
        "p1",
        &prefetch_with(&[("conditions", &format!("\"{}\"", "x".repeat(4000)))]),
    );
    outcome(app.post_json(SERVICE, &big).await, 413).await;
    // No Content-Length (chunked): the stream is cut at the limit.
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let chunk = "x".repeat(1000);
    let mut req = format!(
        "POST {SERVICE} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..4 {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let app = spawn_app(&[("TRD_CDS_MAX_HEADER_BYTES", "2048")]).await;
    let r = app
        .client
        .get(format!("{}/cds-services", app.base))
        .header("x-padding", "a".repeat(4000))
        .send()
        .await
        .unwrap();
    outcome(r, 431).await;
    assert_eq!(app.get("/cds-services").await.status().as_u16(), 200);
}

#[tokio::test]
async fn a_request_that_stalls_gets_408_at_the_deadline() {
    let app = spawn_app(&[("TRD_CDS_REQUEST_TIMEOUT_SECS", "1")]).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // Announce 100 bytes, send 10, then stall.
    s.write_all(
        format!("POST {SERVICE} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"hook\":1,")
            .as_bytes(),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered before 10 s")
        .unwrap();
    let out = String::from_utf8_lossy(&buf[..n]);
    // The client is at fault (it did not send what it announced): 408, not 503.
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("TRD_CDS_REQUEST_TIMEOUT_SECS"), "{out}");
    assert!(out.contains("OperationOutcome"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Compressed request bodies are refused (415, `Accept-Encoding: identity`) before a byte is read or
/// inflated, whatever the Content-Type; see docs/security.md for why (no CDS Client compresses
/// requests). The real 1 GiB bombs, and the memory they cost, are in `scripts/bomb-rss.sh`; the
/// unit tests of `limits::read_body` prove that not a byte of such a body is pulled.
#[tokio::test]
async fn compressed_request_bodies_are_415() {
    let app = spawn_app(&[]).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let body = patient_view("p1", &prefetch_with(&[]));
    for encoding in [
        "gzip",
        "deflate",
        "br",
        "x-gzip",
        "compress",
        "zstd",
        "identity, gzip",
    ] {
        for (path, ct) in [
            (SERVICE, "application/json"),
            (SERVICE, "text/plain"),
            ("/api/v1/assessments", "application/fhir+json"),
            (
                "/cds-services/trd-patient-view/feedback",
                "application/octet-stream",
            ),
        ] {
            let r = app
                .client
                .post(format!("{}{path}", app.base))
                .header("content-type", ct)
                .header("content-encoding", encoding)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.headers()
                    .get("accept-encoding")
                    .map(|v| v.to_str().unwrap()),
                Some("identity"),
                "{encoding} {ct}"
            );
            let d = outcome(r, 415).await;
            assert!(d.contains("Content-Encoding"), "{d}");
        }
    }
    // Announced as 1 GiB of gzip and never sent: the answer does not wait for the body.
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("POST {SERVICE} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 1048576\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 415"));
    // Identity is no compression: accepted.
    let r = app
        .client
        .post(format!("{}{SERVICE}", app.base))
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A client that trickles its body (1 byte every 0.5 s) is cut at the deadline with 408.
#[tokio::test]
async fn a_body_trickled_byte_by_byte_gets_408_at_the_deadline() {
    let app = spawn_app(&[("TRD_CDS_REQUEST_TIMEOUT_SECS", "2")]).await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("POST {SERVICE} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let read = async {
        loop {
            tokio::select! {
                n = s.read(&mut buf) => return n.unwrap(),
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                    if s.write_all(b" ").await.is_err() {
                        return s.read(&mut buf).await.unwrap_or(0);
                    }
                }
            }
        }
    };
    let n = tokio::time::timeout(std::time::Duration::from_secs(15), read)
        .await
        .expect("answered before 15 s");
    let out = String::from_utf8_lossy(&buf[..n]);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("OperationOutcome"), "{out}");
}
