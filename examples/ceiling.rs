//! The load test's ceiling: the same actix-web stack that only parses the JSON body (a full
//! `serde_json::Value` parse, the least any JSON service does) and returns a fixed card.
//! `scripts/load.sh` runs it beside trd-cds and reports ours/ceiling.

use actix_web::{App, HttpResponse, HttpServer, post, web};

const CARD: &str = r#"{"cards":[{"uuid":"00000000-0000-0000-0000-000000000001","summary":"Fixed card","indicator":"info","source":{"label":"ceiling"}}]}"#;

#[post("/cds-services/{id}")]
async fn service(body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.get("hook").is_some() => HttpResponse::Ok()
            .content_type("application/json")
            .body(CARD),
        _ => HttpResponse::BadRequest().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("TRD_CDS_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(5 * 1024 * 1024))
            .service(service)
    })
    .workers(workers)
    .bind(addr)?
    .run()
    .await
}
