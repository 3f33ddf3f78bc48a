//! The imperative shell: actix-web server, routes, error mapping, request logging, OpenAPI.
//! `Application::build` binds (port 0 in tests) and wires every dependency in one place.

pub mod audit;
pub mod auth;
pub mod cors;
pub mod errors;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod prefetch;
pub mod request_log;
pub mod routes;
pub mod shutdown;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::clinical::SiteConfig;
use crate::config::Config;
use crate::fhir::client::FhirClient;
use crate::knowledge::KnowledgeBase;
use crate::store::{
    AuditQueue, AuditQueueConfig, AuditWriter, AuditWriterMetrics, PatientHasher, Store,
};

/// Shared, read-mostly state of the handlers.
pub struct AppState {
    pub kb: Arc<KnowledgeBase>,
    pub site: SiteConfig,
    /// `TRD_CDS_PUBLIC_BASE_URL` (no trailing slash); cards use the request's host when unset.
    pub public_base_url: Option<String>,
    /// The TRD card's link to the SMART app (`app::card_link`), when the app is configured.
    pub app_link: Option<crate::cds_hooks::card::Link>,
    pub store: Store,
    pub audit: AuditQueue,
    pub hasher: PatientHasher,
    /// Fetches from `fhirServer` what the client did not prefetch (pooled; allow-listed servers only).
    pub fhir: FhirClient,
    /// Set on SIGTERM: `/readyz` answers 503 while the replica drains (`shutdown.rs`).
    pub draining: shutdown::Draining,
    /// Prometheus series of this application (`metrics.rs`).
    pub metrics: web::Data<metrics::Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Knowledge(#[from] crate::knowledge::KbError),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("configuration: {0}")]
    Auth(String),
    #[error("{0}")]
    FhirClient(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    writer: AuditWriter,
    retention: tokio::task::JoinHandle<()>,
    store: Store,
    draining: shutdown::Draining,
    drain: Duration,
}

/// How long graceful shutdown waits for in-flight requests, then for the audit queue to drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Application {
    pub async fn build(config: &Config) -> Result<Application, StartError> {
        let kb = match &config.knowledge_dir {
            Some(dir) => KnowledgeBase::load_dir(dir)?,
            None => KnowledgeBase::embedded()?,
        };
        tracing::info!(version = kb.version(), "knowledge base loaded");
        let store = Store::from_database_url(
            config
                .database_url
                .as_ref()
                .map(ExposeSecret::expose_secret),
            config.db_pool_size,
        )
        .await?;
        if store.kind() == "memory" {
            tracing::warn!(
                "DATABASE_URL is not set: audit and feedback are kept in memory and lost on restart"
            );
        } else {
            tracing::info!("PostgreSQL store ready (migrations applied)");
        }
        let hasher = match &config.patient_hash_secret {
            Some(s) => PatientHasher::new(s.expose_secret().as_bytes()),
            None => {
                tracing::warn!(
                    "TRD_CDS_PATIENT_HASH_SECRET is not set: a random key is used, so patient hashes change on restart"
                );
                PatientHasher::new(uuid::Uuid::new_v4().as_bytes())
            }
        };
        let auth =
            web::Data::new(auth::Auth::from_config(config, &store).map_err(StartError::Auth)?);
        log_cors(&config.auth.cors_origins);
        let cors = web::Data::new(cors::Cors::new(&config.auth.cors_origins));
        let security_headers = web::Data::new(headers::SecurityHeaders::new(
            config.public_base_url.as_deref(),
        ));
        let limits = web::Data::new(limits::Limits {
            max_body_bytes: config.max_body_bytes,
            config: config.limits,
        });
        let fhir =
            FhirClient::new(&config.fhir, config.max_body_bytes).map_err(StartError::FhirClient)?;
        if config.fhir.max_pages_set {
            tracing::warn!(
                max_pages = config.fhir.max_pages,
                "TRD_CDS_FHIR_MAX_PAGES is deprecated: fetching is capped by TRD_CDS_FHIR_MAX_RESOURCES per key and TRD_CDS_FHIR_DEADLINE_MS; the page count stays only a safety cap"
            );
        }
        if !config.fhir.allowed_servers.is_empty() {
            tracing::info!(
                servers = config.fhir.allowed_servers.len(),
                deadline_ms = config.fhir.deadline_ms,
                "FHIR fetch fallback enabled for the allow-listed fhirServer base URLs"
            );
        }
        let metrics = web::Data::new(metrics::Metrics::new(kb.version())?);
        let (audit, writer) = AuditWriter::start(
            store.clone(),
            AuditQueueConfig {
                mode: config.audit_mode,
                capacity: config.audit_queue,
                enqueue_wait: Duration::from_millis(config.audit_wait_ms),
                metrics: Some(AuditWriterMetrics {
                    queue_wait: metrics.audit_queue_wait_seconds.clone(),
                    commit: metrics.audit_commit_seconds.clone(),
                }),
                ..AuditQueueConfig::default()
            },
        );
        let retention = crate::store::spawn_retention_task(
            store.clone(),
            config.audit_retention_days,
            Duration::from_secs(3600),
        );
        let smart_app = crate::app::SmartApp::from_config(config)
            .map_err(StartError::FhirClient)?
            .map(web::Data::new);
        if smart_app.is_some() {
            tracing::info!("SMART on FHIR app enabled at /app/launch");
        }
        let draining = shutdown::Draining::default();
        let state = web::Data::new(AppState {
            kb: Arc::new(kb),
            site: config.site,
            public_base_url: config.public_base_url.clone(),
            app_link: crate::app::card_link(config),
            store: store.clone(),
            audit,
            hasher,
            fhir,
            draining: draining.clone(),
            metrics: metrics.clone(),
        });
        let listener = TcpListener::bind(config.addr).map_err(|source| StartError::Bind {
            addr: config.addr.to_string(),
            source,
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let max_body = config.max_body_bytes;
        let metrics_open = config.metrics == metrics::MetricsAccess::Open;
        let server = HttpServer::new(move || {
            let app = App::new();
            // Present only when configured: the /app/* handlers answer 404 without it.
            let app = match &smart_app {
                Some(s) => app.app_data(s.clone()),
                None => app,
            };
            app.app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .app_data(auth.clone())
                .app_data(cors.clone())
                .app_data(limits.clone())
                .app_data(security_headers.clone())
                .app_data(metrics.clone())
                // Outermost last: request → span → security headers → compress → CORS → limits
                // (headers, deadline)
                // → error shape → router; inside the protected scopes (see `routes_config`):
                // auth (JWT) → JSON body limits → handler.
                .wrap(from_fn(errors::outcome_for_errors))
                .wrap(from_fn(limits::guard))
                .wrap(from_fn(cors::cors))
                .wrap(Compress::default())
                .wrap(from_fn(headers::security_headers))
                .wrap(from_fn(request_log::request_span))
                .configure(routes_config)
                .configure(|cfg| {
                    if metrics_open {
                        cfg.service(web::resource("/metrics").get(metrics::scrape));
                    }
                })
                .default_service(web::to(routes::fallback))
        })
        .workers(config.workers)
        .client_request_timeout(Duration::from_secs(10))
        .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
        // SIGTERM/SIGINT are handled by `shutdown::stop_on_signal` (drain first, then stop).
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: config.addr.to_string(),
            source,
        })?
        .run();
        Ok(Application {
            port,
            server,
            writer,
            retention,
            store,
            draining,
            drain: Duration::from_millis(config.shutdown_drain_ms),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serve until SIGTERM/SIGINT: `/readyz` fails for the drain delay, then in-flight requests
    /// finish; then drain the audit queue so that every acknowledged call is recorded.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = tokio::spawn(shutdown::stop_on_signal(
            self.server.handle(),
            self.draining,
            self.drain,
        ));
        let result = self.server.await;
        signals.abort();
        tracing::info!("HTTP server stopped; draining the audit queue");
        self.retention.abort();
        match self.writer.shutdown_within(SHUTDOWN_GRACE).await {
            Ok(stats) => tracing::info!(written = stats.written, "audit queue drained"),
            Err(stats) => tracing::error!(
                written = stats.written,
                enqueued = stats.enqueued,
                "audit queue not drained within the grace period"
            ),
        }
        drop(self.store);
        result
    }
}

/// Every route, in one place.
///
/// Protection follows from the route, not from a reading of the path: the protected handlers are
/// registered only inside the `/cds-services` and `/api/v1` scopes, and those scopes are wrapped by
/// the JWT check (then the body limits, so an anonymous caller cannot make the service read a
/// body). Whatever spelling of a path the router sends to a protected handler (percent-encoded,
/// absolute-form, ...) therefore went through the JWT check first. Each scope's default service
/// (unknown sub-path, wrong method) sits behind the same check, so an unauthenticated caller learns
/// nothing about which paths or service ids exist: 401 for everything under those prefixes.
/// Say at start-up which browser origins may call (origins are public, never secrets): a browser
/// client blocked by CORS shows "no cards" without an error, so the integrator must be told here.
fn log_cors(origins: &[String]) {
    if origins.is_empty() {
        tracing::info!(
            "CORS: no browser origin allowed; browser CDS clients (e.g. the CDS Hooks sandbox) are blocked until TRD_CDS_CORS_ORIGINS lists their origin"
        );
    } else {
        tracing::info!(
            origins = origins.join(",").as_str(),
            "CORS: browser origins allowed (TRD_CDS_CORS_ORIGINS)"
        );
    }
}

pub fn routes_config(cfg: &mut web::ServiceConfig) {
    use actix_web::guard;
    let protected = |prefix: &str| {
        web::scope(prefix)
            .wrap(from_fn(limits::json_body))
            .wrap(from_fn(auth::require_jwt))
            .default_service(web::to(routes::fallback))
    };
    cfg.service(
        protected("/cds-services")
            .service(
                web::resource("")
                    .guard(guard::Get())
                    .to(routes::discovery::list_services),
            )
            .service(
                web::resource("/{id}")
                    .guard(guard::Post())
                    .to(routes::service::call_service),
            )
            .service(
                web::resource("/{id}/feedback")
                    .guard(guard::Post())
                    .to(routes::feedback::post_feedback),
            ),
    )
    .service(
        protected("/api/v1")
            .service(
                web::resource("/assessments")
                    .guard(guard::Post())
                    .to(routes::assessments::assess),
            )
            .service(
                web::resource("/feedback/summary")
                    .guard(guard::Get())
                    .to(routes::feedback::summary),
            ),
    )
    .configure(crate::app::routes)
    .service(routes::health::healthz)
    .service(routes::health::readyz)
    .service(routes::how_it_decides::how_it_decides)
    .service(
        SwaggerUi::new("/swagger-ui/{_:.*}")
            .url("/api-docs/openapi.json", openapi::ApiDoc::openapi()),
    );
}
