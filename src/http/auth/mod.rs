//! Trusting CDS Clients (CDS Hooks §Security): every CDS Hooks endpoint (discovery, service,
//! feedback) and the `/api/v1/*` API require `Authorization: Bearer <JWT>` signed by a trusted EHR;
//! [`require_jwt`] wraps the scopes that hold them (`crate::http::routes_config`).
//! Any failure is a 401 without detail (OperationOutcome + `WWW-Authenticate: Bearer`); the reason
//! goes to the log, never the token. Decisions and configuration: `docs/security.md`.
//!
//! - [`clients`]: the trusted-clients file (`TRD_CDS_TRUSTED_CLIENTS`)
//! - [`jwks`]: keys from files and URLs, cached, refetched on an unknown `kid` (rate-limited)
//! - [`verify`]: header, claims and signature checks (jsonwebtoken, aws-lc-rs backend)
//! - [`replay`]: `jti` seen-before store (PostgreSQL or memory)

pub mod clients;
pub mod jwks;
pub mod replay;
pub mod verify;

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use time::OffsetDateTime;

use crate::config::Config;
use crate::http::errors::ApiError;
use crate::store::Store;

pub use replay::ReplayStore;
pub use verify::{Reject, VerifiedClient, Verifier, VerifySettings};

tokio::task_local! {
    /// The verified client's `iss`, scoped around the handler by [`require_jwt`] (read by the audit).
    static CLIENT_ISS: Option<String>;
}

/// The `iss` of the client whose JWT authorised the request being handled, if any.
pub fn current_client_iss() -> Option<String> {
    CLIENT_ISS.try_with(Clone::clone).ok().flatten()
}

/// The `iss` of the verified client of `req` (request extension set by [`require_jwt`]).
pub fn client_iss(req: &actix_web::HttpRequest) -> Option<String> {
    req.extensions()
        .get::<VerifiedClient>()
        .map(|c| c.iss.clone())
}

/// Authentication state shared by the workers.
pub struct Auth {
    verifier: Option<Verifier>,
    replay: ReplayStore,
    public_base_url: Option<String>,
    clock_skew: i64,
}

/// Why the request was not authenticated.
#[derive(Debug)]
pub enum AuthFailure {
    /// 401.
    Rejected(Reject),
    /// 503: the replay store (database) did not answer; fail closed.
    Unavailable(String),
}

impl Auth {
    /// From the configuration: loads the trusted clients and their key files. Errors name the variable.
    pub fn from_config(config: &Config, store: &Store) -> Result<Auth, String> {
        let a = &config.auth;
        let replay = ReplayStore::for_store(store);
        if !a.enabled {
            tracing::warn!(
                "TRD_CDS_AUTH=off: CLIENT JWTs ARE NOT CHECKED. Anyone who can reach this port can call the \
                 CDS Hooks endpoints and the API. For local demos only (refused when TRD_CDS_ENV=production)."
            );
            return Ok(Auth {
                verifier: None,
                replay,
                public_base_url: config.public_base_url.clone(),
                clock_skew: a.clock_skew_secs as i64,
            });
        }
        let path = a.trusted_clients_file.as_ref().ok_or_else(|| {
            "TRD_CDS_TRUSTED_CLIENTS is required when TRD_CDS_AUTH=on (a TOML or JSON file of trusted \
             clients; see docs/security.md), or set TRD_CDS_AUTH=off for a local demo"
                .to_string()
        })?;
        let clients = clients::load(path, config.production)
            .map_err(|e| format!("TRD_CDS_TRUSTED_CLIENTS={}: {e}", path.display()))?;
        let verifier = Verifier::new(
            clients,
            VerifySettings {
                algorithms: verify::algorithms(&a.algorithms),
                clock_skew: a.clock_skew_secs as i64,
                max_lifetime: a.max_lifetime_secs as i64,
            },
            Duration::from_secs(a.jwks_cache_secs),
            Duration::from_secs(a.jwks_min_refetch_secs),
        )
        .map_err(|e| format!("TRD_CDS_TRUSTED_CLIENTS={}: {e}", path.display()))?;
        tracing::info!(
            clients = verifier.client_count(),
            algorithms = %a.algorithms.join(","),
            replay_store = replay.kind(),
            "client JWT verification on"
        );
        if config.public_base_url.is_none() {
            tracing::warn!(
                "TRD_CDS_PUBLIC_BASE_URL is not set: JWT aud is checked against http://<Host header><path>; \
                 set it when the service is reached through a proxy or TLS terminator"
            );
        }
        Ok(Auth {
            verifier: Some(verifier),
            replay,
            public_base_url: config.public_base_url.clone(),
            clock_skew: a.clock_skew_secs as i64,
        })
    }

    /// JWK Set fetches `(succeeded, failed)` since start (metrics; `(0, 0)` with auth off).
    pub fn jwks_fetches(&self) -> (u64, u64) {
        self.verifier
            .as_ref()
            .map_or((0, 0), Verifier::jwks_fetches)
    }

    pub fn enabled(&self) -> bool {
        self.verifier.is_some()
    }

    /// The URL the client invoked, as it must appear in `aud`: the public base URL (or
    /// `http://<Host>`) followed by the path, without the query.
    pub fn audience(&self, req: &ServiceRequest) -> String {
        match &self.public_base_url {
            Some(base) => format!("{base}{}", req.path()),
            None => {
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                format!("http://{host}{}", req.path())
            }
        }
    }

    /// Verify the `Authorization` header (every one the request carries: more than one is refused)
    /// for `audience` at `now`, then claim the `jti`.
    pub async fn authenticate(
        &self,
        authorization: &[&[u8]],
        audience: &str,
        now: i64,
    ) -> Result<VerifiedClient, AuthFailure> {
        let Some(verifier) = &self.verifier else {
            return Err(AuthFailure::Unavailable("authentication is off".into()));
        };
        let token = Verifier::bearer(authorization).map_err(AuthFailure::Rejected)?;
        let client = verifier
            .verify(token, audience, now)
            .await
            .map_err(AuthFailure::Rejected)?;
        let keep_until = client.exp.saturating_add(self.clock_skew);
        match self
            .replay
            .first_use(&client.iss, &client.jti, keep_until, now)
            .await
        {
            Ok(true) => Ok(client),
            Ok(false) => Err(AuthFailure::Rejected(Reject::Replayed)),
            Err(e) => Err(AuthFailure::Unavailable(e.to_string())),
        }
    }
}

/// The 401 answer: no detail, `WWW-Authenticate: Bearer`.
pub fn unauthorized() -> actix_web::HttpResponse {
    let err = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "security",
        "authentication required: send a valid CDS Hooks client JWT as Authorization: Bearer <JWT>",
    );
    let mut res = err.error_response();
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// Middleware of the protected scopes (`crate::http::routes_config` mounts it on `/cds-services`
/// and `/api/v1`; it never looks at the path, so no spelling of one can get around it): every
/// request but a CORS preflight needs a valid client JWT. The verified client goes into the request
/// extensions ([`VerifiedClient`]) and [`current_client_iss`].
pub async fn require_jwt(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let Some(auth) = req.app_data::<web::Data<Auth>>().cloned() else {
        // Fail closed: a protected scope without its authentication state is a wiring bug.
        tracing::error!("no authentication state on a protected route; answering 500");
        let (http, _) = req.into_parts();
        let err = ApiError::internal("the service is misconfigured (no authentication state)");
        return Ok(ServiceResponse::new(http, err.error_response()).map_into_right_body());
    };
    if !auth.enabled() || req.method() == actix_web::http::Method::OPTIONS {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let audience = auth.audience(&req);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let started = Instant::now();
    let authorization: Vec<&[u8]> = req
        .headers()
        .get_all(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .collect();
    let result = auth.authenticate(&authorization, &audience, now).await;
    let verify_us = started.elapsed().as_micros() as u64;
    match result {
        Ok(client) => {
            tracing::debug!(iss = %client.iss, verify_us, "client JWT verified");
            let iss = client.iss.clone();
            req.extensions_mut().insert(client);
            let res = CLIENT_ISS.scope(Some(iss), next.call(req)).await?;
            Ok(res.map_into_left_body())
        }
        Err(AuthFailure::Rejected(reason)) => {
            tracing::warn!(%reason, verify_us, "client JWT refused; answering 401");
            if let Some(m) = req.app_data::<web::Data<crate::http::metrics::Metrics>>() {
                m.jwt_refused(reason.label());
            }
            let (http, _) = req.into_parts();
            Ok(ServiceResponse::new(http, unauthorized()).map_into_right_body())
        }
        Err(AuthFailure::Unavailable(why)) => {
            tracing::error!(error = %why, "JWT replay store unavailable; answering 503");
            let err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the service cannot check the token right now; retry shortly",
            );
            let (http, _) = req.into_parts();
            Ok(ServiceResponse::new(http, err.error_response()).map_into_right_body())
        }
    }
}
