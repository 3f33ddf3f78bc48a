//! Settings from the environment (12-factor), parsed and validated once at start-up. A bad value
//! stops the service with a message naming the variable, what it got and what it expects.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;

use crate::clinical::SiteConfig;

/// Every setting, with its default. The README's configuration table mirrors this. Secrets are
/// [`SecretString`]s: `{:?}` prints `[REDACTED]`, and reading one takes an explicit
/// `expose_secret()` at the one place that needs it.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TRD_CDS_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`; unset = in-memory store (said once at start-up and in `/readyz`). A secret:
    /// it may carry the database password.
    pub database_url: Option<SecretString>,
    /// `TRD_CDS_DB_POOL_SIZE`, default 8.
    pub db_pool_size: usize,
    /// `TRD_CDS_MAX_BODY_BYTES`, default 5 MiB.
    pub max_body_bytes: usize,
    /// `TRD_CDS_KNOWLEDGE_DIR`: load the knowledge base from here instead of the embedded copy.
    pub knowledge_dir: Option<PathBuf>,
    /// `TRD_CDS_TMS_AVAILABLE`, `TRD_CDS_ECT_AVAILABLE`, `TRD_CDS_ESKETAMINE_AVAILABLE` (default true).
    pub site: SiteConfig,
    /// `TRD_CDS_PUBLIC_BASE_URL`: the URL EHRs use to reach this service (used in card source links).
    pub public_base_url: Option<String>,
    /// `TRD_CDS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_json: bool,
    /// `TRD_CDS_WORKERS`: HTTP worker threads, default = available cores.
    pub workers: usize,
    /// `TRD_CDS_AUDIT_QUEUE`: audit queue capacity, default 10000.
    pub audit_queue: usize,
    /// `TRD_CDS_AUDIT_WAIT_MS`: how long a call waits for room in a full audit queue before the
    /// 503; default 500 (0 = answer 503 at once).
    pub audit_wait_ms: u64,
    /// `TRD_CDS_SHUTDOWN_DRAIN_MS`: after SIGTERM, how long `/readyz` answers 503 while everything
    /// else still serves (load balancers drain the replica) before connections stop; default 5000.
    pub shutdown_drain_ms: u64,
    /// `TRD_CDS_AUDIT_MODE`: `sync` (default: no answer before its audit row is committed) or
    /// `async` (answer once the row is queued; faster, but a crash loses the queued rows).
    pub audit_mode: crate::store::AuditMode,
    /// `TRD_CDS_METRICS`: `open` (default: `GET /metrics` without authentication, like `/healthz`)
    /// or `off` (not served).
    pub metrics: crate::http::metrics::MetricsAccess,
    /// `TRD_CDS_AUDIT_RETENTION_DAYS`: delete audit and feedback rows older than this; default 2555 (7 years).
    pub audit_retention_days: u32,
    /// `TRD_CDS_PATIENT_HASH_SECRET`: HMAC key for the patient hash in the audit table.
    pub patient_hash_secret: Option<SecretString>,
    /// `TRD_CDS_ENV`: `development` (default) or `production`.
    pub production: bool,
    /// Client JWT checks and CORS (`TRD_CDS_AUTH`, `TRD_CDS_TRUSTED_CLIENTS`, `TRD_CDS_JWT_*`, ...).
    pub auth: AuthConfig,
    /// Request limits beyond the body size (`TRD_CDS_MAX_JSON_DEPTH`, ...).
    pub limits: LimitsConfig,
    /// Fetching from `fhirServer` what the client did not prefetch (`TRD_CDS_FHIR_*`).
    pub fhir: FhirFetchConfig,
    /// The SMART on FHIR app (`/app/*`, `src/app/`); `None` (routes answer 404) unless
    /// `TRD_CDS_SMART_CLIENT_ID` is set.
    pub smart: Option<SmartAppConfig>,
}

/// The SMART on FHIR app's registration with the EHR (a confidential client, EHR launch).
#[derive(Debug, Clone)]
pub struct SmartAppConfig {
    /// `TRD_CDS_SMART_CLIENT_ID`: the client id the EHR issued.
    pub client_id: String,
    /// `TRD_CDS_SMART_CLIENT_SECRET`: the client secret (HTTP Basic at the token endpoint).
    pub client_secret: SecretString,
    /// `{TRD_CDS_PUBLIC_BASE_URL}`: launch URL `{base}/app/launch`, redirect URI `{base}/app/callback`.
    pub public_base_url: String,
}

/// The FHIR fetch fallback (`src/fhir/client.rs`): which servers, how long, how much. Nothing is
/// ever fetched from a server that is not on `allowed_servers` (SSRF), and the default list is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirFetchConfig {
    /// `TRD_CDS_FHIR_ALLOWED_SERVERS`: comma-separated FHIR base URLs a request's `fhirServer` may
    /// name, compared after normalisation (default none: never fetch, 412 as before).
    pub allowed_servers: Vec<String>,
    /// `TRD_CDS_FHIR_ALLOW_HTTP`: accept `http://` servers (local testing; refused in production), default false.
    pub allow_http: bool,
    /// `TRD_CDS_FHIR_ALLOW_ANONYMOUS`: fetch without `fhirAuthorization` (an open server), default false.
    pub allow_anonymous: bool,
    /// `TRD_CDS_FHIR_DEADLINE_MS`: one deadline for all the fetching of a call, default 1500.
    pub deadline_ms: u64,
    /// `TRD_CDS_FHIR_REQUEST_TIMEOUT_MS`: one HTTP request (connect to last byte), default 1000.
    pub request_timeout_ms: u64,
    /// `TRD_CDS_FHIR_MAX_RESOURCES`: most resources (Bundle entries) read per prefetch key, the
    /// prefetched first page included, default 5000; a page crossing it is kept whole.
    pub max_resources: usize,
    /// `TRD_CDS_FHIR_MAX_PAGES`: a safety cap on pages per key against a server looping on empty
    /// pages, default 1000. It used to be the cap (default 10), which cut an EHR paging by 20 at
    /// 200 resources (issue 15): deprecated as a tuning knob, still honoured.
    pub max_pages: usize,
    /// `TRD_CDS_FHIR_MAX_PAGES` was set (start-up warns that it is deprecated).
    pub max_pages_set: bool,
    /// `TRD_CDS_FHIR_PAGE_SIZE`: `_count` added to a search template that sets none, default 100
    /// (0 = leave the page size to the server).
    pub page_size: usize,
}

/// The browser origin allowed by default in a demo (`TRD_CDS_AUTH=off`, never production): the
/// CDS Hooks sandbox, the reference browser client the README's "Try it" uses.
pub const DEV_SANDBOX_ORIGIN: &str = "https://sandbox.cds-hooks.org";

/// JWT trust (CDS Hooks "Trusting CDS Clients") and CORS settings. See `docs/security.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// `TRD_CDS_AUTH`: `on` (default) or `off` (local demos only; refused in production).
    pub enabled: bool,
    /// `TRD_CDS_TRUSTED_CLIENTS`: TOML or JSON file of trusted clients (required when auth is on).
    pub trusted_clients_file: Option<PathBuf>,
    /// `TRD_CDS_JWT_ALGORITHMS`: accepted `alg` values, default `ES384,RS384` (ES256, RS256 may be added).
    pub algorithms: Vec<String>,
    /// `TRD_CDS_JWT_CLOCK_SKEW_SECS`: tolerance on `exp`, `iat`, `nbf`, default 60.
    pub clock_skew_secs: u64,
    /// `TRD_CDS_JWT_MAX_LIFETIME_SECS`: longest accepted `exp - iat`, default 3600.
    pub max_lifetime_secs: u64,
    /// `TRD_CDS_JWKS_CACHE_SECS`: how long a JWK Set fetched from a URL is used, default 3600.
    pub jwks_cache_secs: u64,
    /// `TRD_CDS_JWKS_MIN_REFETCH_SECS`: at most one refetch per key set in this interval on an unknown
    /// `kid`, default 60.
    pub jwks_min_refetch_secs: u64,
    /// `TRD_CDS_CORS_ORIGINS`: comma-separated origins allowed to call from a browser. Unset: none,
    /// except with `TRD_CDS_AUTH=off` (a local demo), where the public CDS Hooks sandbox
    /// ([`DEV_SANDBOX_ORIGIN`]) is allowed so the README's "Try it" works in a browser client;
    /// `none` for none.
    pub cors_origins: Vec<String>,
}

/// Limits on hostile input. See `docs/security.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// `TRD_CDS_MAX_JSON_DEPTH`: deepest nesting of arrays/objects in a body, default 64.
    pub max_json_depth: usize,
    /// `TRD_CDS_MAX_PREFETCH_KEYS`: most keys in a request's `prefetch` object, default 32.
    pub max_prefetch_keys: usize,
    /// `TRD_CDS_MAX_BUNDLE_ENTRIES`: most Bundle `entry` elements in one body (all bundles), default 20000.
    pub max_bundle_entries: usize,
    /// `TRD_CDS_MAX_HEADER_BYTES`: total size of the request headers, default 16384 (431 above).
    pub max_header_bytes: usize,
    /// `TRD_CDS_REQUEST_TIMEOUT_SECS`: a request not answered within this gets 503, default 30.
    pub request_timeout_secs: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub problem: String,
}

impl Config {
    /// Read the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let err = |var: &'static str, value: &str, problem: &str| ConfigError {
            var,
            value: value.to_string(),
            problem: problem.to_string(),
        };
        let num = |var: &'static str,
                   default: usize,
                   min: usize,
                   max: usize|
         -> Result<usize, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(err(
                        var,
                        &v,
                        &format!("expected a whole number from {min} to {max}"),
                    )),
                },
            }
        };
        let flag = |var: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(err(var, &v, "expected true or false")),
                },
            }
        };

        let addr_s = get("TRD_CDS_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let addr = addr_s.parse::<SocketAddr>().map_err(|_| {
            err(
                "TRD_CDS_ADDR",
                &addr_s,
                "expected IP:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
            )
        })?;

        let database_url = get("DATABASE_URL");
        if let Some(u) = &database_url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(err(
                "DATABASE_URL",
                "<redacted>",
                "expected postgres://user@host:port/database",
            ));
        }

        let env_name = get("TRD_CDS_ENV").unwrap_or_else(|| "development".into());
        let production = match env_name.as_str() {
            "production" => true,
            "development" | "test" => false,
            other => {
                return Err(err(
                    "TRD_CDS_ENV",
                    other,
                    "expected development, test or production",
                ));
            }
        };

        let fhir = fhir_fetch_config(&get, &num, &flag, production)?;

        let log_format = get("TRD_CDS_LOG_FORMAT").unwrap_or_else(|| "text".into());
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => return Err(err("TRD_CDS_LOG_FORMAT", other, "expected text or json")),
        };

        let public_base_url =
            get("TRD_CDS_PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_base_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(err(
                "TRD_CDS_PUBLIC_BASE_URL",
                u,
                "expected an absolute http(s) URL",
            ));
        }

        let knowledge_dir = get("TRD_CDS_KNOWLEDGE_DIR").map(PathBuf::from);
        if let Some(d) = &knowledge_dir
            && !d.is_dir()
        {
            return Err(err(
                "TRD_CDS_KNOWLEDGE_DIR",
                &d.display().to_string(),
                "is not a directory",
            ));
        }

        let patient_hash_secret = get("TRD_CDS_PATIENT_HASH_SECRET").map(SecretString::from);
        if let Some(s) = &patient_hash_secret
            && secrecy::ExposeSecret::expose_secret(s).len() < 16
        {
            return Err(err(
                "TRD_CDS_PATIENT_HASH_SECRET",
                "<redacted>",
                "must be at least 16 characters",
            ));
        }
        if production && patient_hash_secret.is_none() {
            return Err(err(
                "TRD_CDS_PATIENT_HASH_SECRET",
                "",
                "is required when TRD_CDS_ENV=production",
            ));
        }

        let auth_s = get("TRD_CDS_AUTH").unwrap_or_else(|| "on".into());
        let auth_enabled = match auth_s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => return Err(err("TRD_CDS_AUTH", &auth_s, "expected on or off")),
        };
        if production && !auth_enabled {
            return Err(err(
                "TRD_CDS_AUTH",
                &auth_s,
                "off is refused when TRD_CDS_ENV=production (PHI would be served without client authentication)",
            ));
        }
        let trusted_clients_file = get("TRD_CDS_TRUSTED_CLIENTS").map(PathBuf::from);
        if let Some(f) = &trusted_clients_file
            && !f.is_file()
        {
            return Err(err(
                "TRD_CDS_TRUSTED_CLIENTS",
                &f.display().to_string(),
                "is not a file (expected a TOML or JSON list of trusted clients)",
            ));
        }
        if production && auth_enabled && public_base_url.is_none() {
            return Err(err(
                "TRD_CDS_PUBLIC_BASE_URL",
                "",
                "is required when TRD_CDS_ENV=production (JWT aud is checked against it)",
            ));
        }
        let algs_s = get("TRD_CDS_JWT_ALGORITHMS").unwrap_or_else(|| "ES384,RS384".into());
        let mut algorithms = Vec::new();
        for a in algs_s.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            if !matches!(a, "ES384" | "RS384" | "ES256" | "RS256") {
                return Err(err(
                    "TRD_CDS_JWT_ALGORITHMS",
                    &algs_s,
                    "expected a comma-separated list of ES384, RS384, ES256, RS256 (none and HS* are never accepted)",
                ));
            }
            if !algorithms.iter().any(|x| x == a) {
                algorithms.push(a.to_string());
            }
        }
        if algorithms.is_empty() {
            return Err(err("TRD_CDS_JWT_ALGORITHMS", &algs_s, "names no algorithm"));
        }
        let mut cors_origins = Vec::new();
        let cors_setting = get("TRD_CDS_CORS_ORIGINS");
        if cors_setting.as_deref().map(str::trim) == Some("none") {
            // Explicitly none, also in a demo.
        } else if let Some(v) = cors_setting {
            for o in v.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                let ok = o == "*"
                    || ((o.starts_with("https://") || o.starts_with("http://"))
                        && !o.ends_with('/')
                        && !o[o.find("://").map_or(0, |i| i + 3)..].contains('/'));
                if !ok {
                    return Err(err(
                        "TRD_CDS_CORS_ORIGINS",
                        &v,
                        "expected comma-separated origins like https://ehr.example.org (scheme://host[:port], no path)",
                    ));
                }
                if o == "*" && production {
                    return Err(err(
                        "TRD_CDS_CORS_ORIGINS",
                        &v,
                        "* is refused when TRD_CDS_ENV=production; list the EHR origins",
                    ));
                }
                cors_origins.push(o.to_string());
            }
        } else if !auth_enabled {
            // A demo without client JWTs (refused in production, above) is for trying the service,
            // most often from the sandbox in a browser, which CORS would otherwise block silently
            // (the sandbox then shows "All clear"; issue 15).
            cors_origins.push(DEV_SANDBOX_ORIGIN.to_string());
        }
        let auth = AuthConfig {
            enabled: auth_enabled,
            trusted_clients_file,
            algorithms,
            clock_skew_secs: num("TRD_CDS_JWT_CLOCK_SKEW_SECS", 60, 0, 300)? as u64,
            max_lifetime_secs: num("TRD_CDS_JWT_MAX_LIFETIME_SECS", 3600, 10, 86_400)? as u64,
            jwks_cache_secs: num("TRD_CDS_JWKS_CACHE_SECS", 3600, 0, 86_400)? as u64,
            jwks_min_refetch_secs: num("TRD_CDS_JWKS_MIN_REFETCH_SECS", 60, 0, 3600)? as u64,
            cors_origins,
        };
        let limits = LimitsConfig {
            max_json_depth: num("TRD_CDS_MAX_JSON_DEPTH", 64, 8, 512)?,
            max_prefetch_keys: num("TRD_CDS_MAX_PREFETCH_KEYS", 32, 1, 1024)?,
            max_bundle_entries: num("TRD_CDS_MAX_BUNDLE_ENTRIES", 20_000, 1, 10_000_000)?,
            max_header_bytes: num("TRD_CDS_MAX_HEADER_BYTES", 16 * 1024, 1024, 64 * 1024)?,
            request_timeout_secs: num("TRD_CDS_REQUEST_TIMEOUT_SECS", 30, 1, 600)? as u64,
        };

        let smart = smart_app_config(&get, public_base_url.as_deref())?;

        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Config {
            addr,
            database_url: database_url.map(SecretString::from),
            db_pool_size: num("TRD_CDS_DB_POOL_SIZE", 8, 1, 256)?,
            max_body_bytes: num(
                "TRD_CDS_MAX_BODY_BYTES",
                5 * 1024 * 1024,
                1024,
                512 * 1024 * 1024,
            )?,
            knowledge_dir,
            site: SiteConfig {
                tms_available: flag("TRD_CDS_TMS_AVAILABLE", true)?,
                ect_available: flag("TRD_CDS_ECT_AVAILABLE", true)?,
                esketamine_available: flag("TRD_CDS_ESKETAMINE_AVAILABLE", true)?,
            },
            public_base_url,
            log_json,
            workers: num("TRD_CDS_WORKERS", cores, 1, 256)?,
            audit_queue: num("TRD_CDS_AUDIT_QUEUE", 10_000, 1, 10_000_000)?,
            audit_wait_ms: num("TRD_CDS_AUDIT_WAIT_MS", 500, 0, 60_000)? as u64,
            shutdown_drain_ms: num("TRD_CDS_SHUTDOWN_DRAIN_MS", 5000, 0, 60_000)? as u64,
            audit_mode: audit_mode(get("TRD_CDS_AUDIT_MODE"))?,
            metrics: metrics_access(get("TRD_CDS_METRICS"))?,
            audit_retention_days: num("TRD_CDS_AUDIT_RETENTION_DAYS", 2555, 1, 36_500)? as u32,
            patient_hash_secret,
            production,
            auth,
            limits,
            fhir,
            smart,
        })
    }
}

/// `TRD_CDS_SMART_CLIENT_ID` turns the app on; it then needs its secret (a confidential client)
/// and `TRD_CDS_PUBLIC_BASE_URL` (the redirect URI the EHR registered is built from it).
fn smart_app_config(
    get: &impl Fn(&str) -> Option<String>,
    public_base_url: Option<&str>,
) -> Result<Option<SmartAppConfig>, ConfigError> {
    let err = |var: &'static str, value: &str, problem: &str| ConfigError {
        var,
        value: value.to_string(),
        problem: problem.to_string(),
    };
    let secret = get("TRD_CDS_SMART_CLIENT_SECRET");
    let Some(client_id) = get("TRD_CDS_SMART_CLIENT_ID").map(|c| c.trim().to_string()) else {
        if secret.is_some() {
            return Err(err(
                "TRD_CDS_SMART_CLIENT_ID",
                "",
                "is required when TRD_CDS_SMART_CLIENT_SECRET is set",
            ));
        }
        return Ok(None);
    };
    if client_id
        .chars()
        .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(err(
            "TRD_CDS_SMART_CLIENT_ID",
            &client_id,
            "expected the client id the EHR issued (no spaces or control characters)",
        ));
    }
    let Some(secret) = secret else {
        return Err(err(
            "TRD_CDS_SMART_CLIENT_SECRET",
            "",
            "is required when TRD_CDS_SMART_CLIENT_ID is set (the app is a confidential client)",
        ));
    };
    let Some(base) = public_base_url else {
        return Err(err(
            "TRD_CDS_PUBLIC_BASE_URL",
            "",
            "is required when TRD_CDS_SMART_CLIENT_ID is set (the redirect URI is built from it)",
        ));
    };
    Ok(Some(SmartAppConfig {
        client_id,
        client_secret: SecretString::from(secret),
        public_base_url: base.to_string(),
    }))
}

/// `TRD_CDS_AUDIT_MODE`: `sync` (default) or `async`.
fn audit_mode(v: Option<String>) -> Result<crate::store::AuditMode, ConfigError> {
    use crate::store::AuditMode;
    match v
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("sync") => Ok(AuditMode::Sync),
        Some("async") => Ok(AuditMode::Async),
        Some(_) => Err(ConfigError {
            var: "TRD_CDS_AUDIT_MODE",
            value: v.unwrap_or_default(),
            problem: "expected sync (answer after the audit row is committed) or async".into(),
        }),
    }
}

/// `TRD_CDS_METRICS`: `open` (default) or `off`.
fn metrics_access(v: Option<String>) -> Result<crate::http::metrics::MetricsAccess, ConfigError> {
    use crate::http::metrics::MetricsAccess;
    match v
        .as_deref()
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("open") => Ok(MetricsAccess::Open),
        Some("off") => Ok(MetricsAccess::Off),
        Some(_) => Err(ConfigError {
            var: "TRD_CDS_METRICS",
            value: v.unwrap_or_default(),
            problem: "expected open (GET /metrics without authentication) or off".into(),
        }),
    }
}

/// `TRD_CDS_FHIR_*`: every allowed server must be an absolute `https://` base URL (or `http://` with
/// `TRD_CDS_FHIR_ALLOW_HTTP=true`, never in production) without credentials, query or fragment.
fn fhir_fetch_config(
    get: &impl Fn(&str) -> Option<String>,
    num: &impl Fn(&'static str, usize, usize, usize) -> Result<usize, ConfigError>,
    flag: &impl Fn(&'static str, bool) -> Result<bool, ConfigError>,
    production: bool,
) -> Result<FhirFetchConfig, ConfigError> {
    let err = |var: &'static str, value: &str, problem: &str| ConfigError {
        var,
        value: value.to_string(),
        problem: problem.to_string(),
    };
    let allow_http = flag("TRD_CDS_FHIR_ALLOW_HTTP", false)?;
    if allow_http && production {
        return Err(err(
            "TRD_CDS_FHIR_ALLOW_HTTP",
            "true",
            "is refused when TRD_CDS_ENV=production (the access token would travel in clear text)",
        ));
    }
    const SERVERS: &str = "TRD_CDS_FHIR_ALLOWED_SERVERS";
    let mut allowed_servers = Vec::new();
    if let Some(v) = get(SERVERS) {
        for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            // Never echo credentials a URL might carry.
            let shown = if s.contains('@') { "<redacted>" } else { s };
            let url = reqwest::Url::parse(s).map_err(|_| {
                err(
                    SERVERS,
                    shown,
                    "expected comma-separated absolute FHIR base URLs, e.g. https://ehr.example.org/fhir",
                )
            })?;
            match url.scheme() {
                "https" => {}
                "http" if allow_http => {}
                "http" => {
                    return Err(err(
                        SERVERS,
                        shown,
                        "http:// needs TRD_CDS_FHIR_ALLOW_HTTP=true (local testing only)",
                    ));
                }
                _ => return Err(err(SERVERS, shown, "expected an https:// URL")),
            }
            if url.host_str().is_none()
                || !url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(err(
                    SERVERS,
                    shown,
                    "expected a base URL with a host and no credentials, query or fragment",
                ));
            }
            allowed_servers.push(s.trim_end_matches('/').to_string());
        }
    }
    let deadline_ms = num("TRD_CDS_FHIR_DEADLINE_MS", 1500, 50, 60_000)? as u64;
    let request_timeout_ms = num("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", 1000, 50, 60_000)? as u64;
    Ok(FhirFetchConfig {
        allowed_servers,
        allow_http,
        allow_anonymous: flag("TRD_CDS_FHIR_ALLOW_ANONYMOUS", false)?,
        deadline_ms,
        request_timeout_ms,
        max_resources: num("TRD_CDS_FHIR_MAX_RESOURCES", 5000, 1, 1_000_000)?,
        max_pages: num("TRD_CDS_FHIR_MAX_PAGES", 1000, 1, 100_000)?,
        max_pages_set: get("TRD_CDS_FHIR_MAX_PAGES").is_some(),
        page_size: num("TRD_CDS_FHIR_PAGE_SIZE", 100, 0, 1000)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert!(c.database_url.is_none());
        assert_eq!(c.max_body_bytes, 5 * 1024 * 1024);
        assert!(c.site.ect_available);
        assert!(c.auth.enabled, "JWT checks are on unless TRD_CDS_AUTH=off");
        assert_eq!(c.auth.algorithms, ["ES384", "RS384"]);
        assert_eq!(c.auth.clock_skew_secs, 60);
        assert_eq!(c.auth.max_lifetime_secs, 3600);
        assert!(c.auth.cors_origins.is_empty());
        assert_eq!(c.limits.max_json_depth, 64);
        assert_eq!(c.shutdown_drain_ms, 5000);
    }

    #[test]
    fn auth_settings() {
        let c = cfg(&[
            ("TRD_CDS_AUTH", "off"),
            ("TRD_CDS_JWT_ALGORITHMS", "ES384, ES256,ES384"),
            (
                "TRD_CDS_CORS_ORIGINS",
                "https://ehr.example.org, http://localhost:3000",
            ),
        ])
        .unwrap();
        assert!(!c.auth.enabled);
        assert_eq!(c.auth.algorithms, ["ES384", "ES256"]);
        assert_eq!(
            c.auth.cors_origins,
            ["https://ehr.example.org", "http://localhost:3000"]
        );
        let prod = [
            ("TRD_CDS_ENV", "production"),
            ("TRD_CDS_PATIENT_HASH_SECRET", "0123456789abcdef0123"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = prod.to_vec();
            v.extend_from_slice(extra);
            cfg(&v)
        };
        assert_eq!(
            with(&[("TRD_CDS_AUTH", "off")]).unwrap_err().var,
            "TRD_CDS_AUTH",
            "auth off is refused in production"
        );
        assert_eq!(with(&[]).unwrap_err().var, "TRD_CDS_PUBLIC_BASE_URL");
        let base = ("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org");
        assert_eq!(
            with(&[base, ("TRD_CDS_CORS_ORIGINS", "*")])
                .unwrap_err()
                .var,
            "TRD_CDS_CORS_ORIGINS"
        );
        assert!(with(&[base]).unwrap().auth.enabled);
        assert!(with(&[base]).unwrap().auth.cors_origins.is_empty());
    }

    #[test]
    fn a_demo_allows_the_sandbox_origin_unless_told_otherwise() {
        let off = ("TRD_CDS_AUTH", "off");
        assert_eq!(cfg(&[off]).unwrap().auth.cors_origins, [DEV_SANDBOX_ORIGIN]);
        assert!(
            cfg(&[off, ("TRD_CDS_CORS_ORIGINS", "none")])
                .unwrap()
                .auth
                .cors_origins
                .is_empty(),
            "TRD_CDS_CORS_ORIGINS=none means none"
        );
        assert_eq!(
            cfg(&[off, ("TRD_CDS_CORS_ORIGINS", "https://ehr.example.org")])
                .unwrap()
                .auth
                .cors_origins,
            ["https://ehr.example.org"]
        );
        assert!(cfg(&[]).unwrap().auth.cors_origins.is_empty(), "auth on");
    }

    #[test]
    fn fhir_fetch_settings() {
        let c = cfg(&[]).unwrap();
        assert!(c.fhir.allowed_servers.is_empty(), "never fetch by default");
        assert!(!c.fhir.allow_http && !c.fhir.allow_anonymous);
        assert_eq!(
            (c.fhir.deadline_ms, c.fhir.request_timeout_ms),
            (1500, 1000)
        );
        assert_eq!(
            (c.fhir.max_resources, c.fhir.max_pages, c.fhir.page_size),
            (5000, 1000, 100)
        );
        assert!(!c.fhir.max_pages_set);
        let c = cfg(&[
            (
                "TRD_CDS_FHIR_ALLOWED_SERVERS",
                "https://ehr.example.org/fhir/, http://127.0.0.1:8090/fhir",
            ),
            ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
            ("TRD_CDS_FHIR_DEADLINE_MS", "300"),
            ("TRD_CDS_FHIR_MAX_PAGES", "2"),
        ])
        .unwrap();
        assert_eq!(
            c.fhir.allowed_servers,
            ["https://ehr.example.org/fhir", "http://127.0.0.1:8090/fhir"]
        );
        assert_eq!((c.fhir.deadline_ms, c.fhir.max_pages), (300, 2));
        assert!(
            c.fhir.max_pages_set,
            "still honoured, warned about at start-up"
        );
        for (var, value) in [
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", "ehr.example.org/fhir"),
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", "http://127.0.0.1:8090/fhir"),
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", "ftp://ehr.example.org/fhir"),
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", "https://u:secret@ehr/fhir"),
            ("TRD_CDS_FHIR_ALLOWED_SERVERS", "https://ehr/fhir?x=1"),
            ("TRD_CDS_FHIR_ALLOW_HTTP", "perhaps"),
            ("TRD_CDS_FHIR_ALLOW_ANONYMOUS", "2"),
            ("TRD_CDS_FHIR_DEADLINE_MS", "0"),
            ("TRD_CDS_FHIR_REQUEST_TIMEOUT_MS", "x"),
            ("TRD_CDS_FHIR_MAX_PAGES", "0"),
            ("TRD_CDS_FHIR_MAX_RESOURCES", "0"),
            ("TRD_CDS_FHIR_PAGE_SIZE", "5000"),
        ] {
            let e = cfg(&[(var, value)]).unwrap_err();
            assert_eq!(e.var, var, "{var}={value}");
            assert!(!e.to_string().contains("secret"), "never echo credentials");
        }
        let prod = cfg(&[
            ("TRD_CDS_ENV", "production"),
            ("TRD_CDS_PATIENT_HASH_SECRET", "0123456789abcdef0123"),
            ("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org"),
            ("TRD_CDS_FHIR_ALLOW_HTTP", "true"),
        ]);
        assert_eq!(prod.unwrap_err().var, "TRD_CDS_FHIR_ALLOW_HTTP");
    }

    #[test]
    fn smart_app_settings() {
        assert!(
            cfg(&[]).unwrap().smart.is_none(),
            "the app is off by default"
        );
        let base = ("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org/");
        let c = cfg(&[
            base,
            ("TRD_CDS_SMART_CLIENT_ID", "trd-app"),
            ("TRD_CDS_SMART_CLIENT_SECRET", "app-secret-91d2"),
        ])
        .unwrap();
        let s = c.smart.as_ref().unwrap();
        assert_eq!(
            (s.client_id.as_str(), s.public_base_url.as_str()),
            ("trd-app", "https://cds.example.org")
        );
        assert!(!format!("{c:?}").contains("app-secret-91d2"));
        for (pairs, var) in [
            (
                vec![base, ("TRD_CDS_SMART_CLIENT_ID", "trd-app")],
                "TRD_CDS_SMART_CLIENT_SECRET",
            ),
            (
                vec![base, ("TRD_CDS_SMART_CLIENT_SECRET", "app-secret-91d2")],
                "TRD_CDS_SMART_CLIENT_ID",
            ),
            (
                vec![
                    ("TRD_CDS_SMART_CLIENT_ID", "trd-app"),
                    ("TRD_CDS_SMART_CLIENT_SECRET", "app-secret-91d2"),
                ],
                "TRD_CDS_PUBLIC_BASE_URL",
            ),
            (
                vec![
                    base,
                    ("TRD_CDS_SMART_CLIENT_ID", "trd app"),
                    ("TRD_CDS_SMART_CLIENT_SECRET", "app-secret-91d2"),
                ],
                "TRD_CDS_SMART_CLIENT_ID",
            ),
        ] {
            let e = cfg(&pairs).unwrap_err();
            assert_eq!(e.var, var, "{pairs:?}");
            assert!(!e.to_string().contains("app-secret-91d2"));
        }
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let c = cfg(&[
            ("TRD_CDS_PATIENT_HASH_SECRET", "hash-key-7f3a9c1e5b"),
            (
                "DATABASE_URL",
                "postgres://trd:db-pw-42c8e1@db.internal:5432/trd",
            ),
        ])
        .unwrap();
        for shown in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{:?}", c.clone()),
        ] {
            for secret in ["hash-key-7f3a9c1e5b", "db-pw-42c8e1", "db.internal"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            assert!(shown.contains("REDACTED"), "{shown}");
        }
        use secrecy::ExposeSecret;
        let url = c.database_url.as_ref().unwrap().expose_secret();
        assert_eq!(url, "postgres://trd:db-pw-42c8e1@db.internal:5432/trd");
    }

    #[test]
    fn errors_name_the_variable() {
        let e = cfg(&[("TRD_CDS_ADDR", "localhost")]).unwrap_err();
        assert_eq!(e.var, "TRD_CDS_ADDR");
        assert!(e.to_string().contains("expected IP:PORT"));
        assert_eq!(
            cfg(&[("TRD_CDS_MAX_BODY_BYTES", "-1")]).unwrap_err().var,
            "TRD_CDS_MAX_BODY_BYTES"
        );
        assert_eq!(
            cfg(&[("TRD_CDS_ECT_AVAILABLE", "maybe")]).unwrap_err().var,
            "TRD_CDS_ECT_AVAILABLE"
        );
        for (var, value) in [
            ("TRD_CDS_AUTH", "maybe"),
            ("TRD_CDS_JWT_ALGORITHMS", "HS256"),
            ("TRD_CDS_JWT_ALGORITHMS", "none"),
            ("TRD_CDS_JWT_ALGORITHMS", " , "),
            ("TRD_CDS_JWT_CLOCK_SKEW_SECS", "3600"),
            ("TRD_CDS_JWT_MAX_LIFETIME_SECS", "x"),
            ("TRD_CDS_JWKS_MIN_REFETCH_SECS", "-5"),
            ("TRD_CDS_CORS_ORIGINS", "ehr.example.org"),
            ("TRD_CDS_CORS_ORIGINS", "https://ehr.example.org/app"),
            ("TRD_CDS_TRUSTED_CLIENTS", "/no/such/file.toml"),
            ("TRD_CDS_MAX_JSON_DEPTH", "2"),
            ("TRD_CDS_MAX_HEADER_BYTES", "10"),
            ("TRD_CDS_REQUEST_TIMEOUT_SECS", "0"),
            ("TRD_CDS_SHUTDOWN_DRAIN_MS", "600000"),
        ] {
            assert_eq!(cfg(&[(var, value)]).unwrap_err().var, var, "{var}={value}");
        }
        let e = cfg(&[("DATABASE_URL", "mysql://u:secret@h/db")]).unwrap_err();
        assert!(!e.to_string().contains("secret"), "never echo credentials");
        assert_eq!(
            cfg(&[("TRD_CDS_ENV", "production")]).unwrap_err().var,
            "TRD_CDS_PATIENT_HASH_SECRET"
        );
    }
}
