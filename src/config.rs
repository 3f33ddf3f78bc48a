//! Settings from the environment (12-factor), parsed and validated once at start-up. A bad value
//! stops the service with a message naming the variable, what it got and what it expects.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::clinical::SiteConfig;

/// Every setting, with its default. The README's configuration table mirrors this.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TRD_CDS_ADDR`, default `127.0.0.1:8080`.
    pub addr: SocketAddr,
    /// `DATABASE_URL`; unset = in-memory store (said once at start-up and in `/readyz`).
    pub database_url: Option<String>,
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
    /// `TRD_CDS_AUDIT_RETENTION_DAYS`: delete audit and feedback rows older than this; default 2555 (7 years).
    pub audit_retention_days: u32,
    /// `TRD_CDS_PATIENT_HASH_SECRET`: HMAC key for the patient hash in the audit table.
    pub patient_hash_secret: Option<String>,
    /// `TRD_CDS_ENV`: `development` (default) or `production`.
    pub production: bool,
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

        let patient_hash_secret = get("TRD_CDS_PATIENT_HASH_SECRET");
        if let Some(s) = &patient_hash_secret
            && s.len() < 16
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

        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Config {
            addr,
            database_url,
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
            audit_retention_days: num("TRD_CDS_AUDIT_RETENTION_DAYS", 2555, 1, 36_500)? as u32,
            patient_hash_secret,
            production,
        })
    }
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
        let e = cfg(&[("DATABASE_URL", "mysql://u:secret@h/db")]).unwrap_err();
        assert!(!e.to_string().contains("secret"), "never echo credentials");
        assert_eq!(
            cfg(&[("TRD_CDS_ENV", "production")]).unwrap_err().var,
            "TRD_CDS_PATIENT_HASH_SECRET"
        );
    }
}
