use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::errors::{ApiError, OperationOutcome};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` / `ready`.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    /// Knowledge-base version loaded.
    pub knowledge_base: String,
    /// `postgres` or `memory` (no `DATABASE_URL`: nothing survives a restart).
    pub store: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "Operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: ready to take calls.
///
/// The knowledge base is loaded, the service is not shutting down and, when configured, the
/// database answers. From SIGTERM on it answers 503 while other routes still serve, so that a load
/// balancer stops sending calls before the replica stops accepting them.
#[utoipa::path(get, path = "/readyz", tag = "Operations", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "The database does not answer, or the service is shutting down (draining)", body = OperationOutcome)
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.is_draining() {
        return Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "shutting down: draining before the server stops",
        ));
    }
    state.store.ping().await.map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            format!("database not reachable: {e}"),
        )
    })?;
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready",
        knowledge_base: state.kb.version().to_string(),
        store: state.store.kind(),
    }))
}
