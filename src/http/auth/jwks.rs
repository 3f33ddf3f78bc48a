//! Client keys: JWK Sets registered in a file (read at start-up) or at a URL (fetched, cached for
//! `TRD_CDS_JWKS_CACHE_SECS`, refetched on an unknown `kid` at most once per
//! `TRD_CDS_JWKS_MIN_REFETCH_SECS`). Fail closed: a set that cannot be fetched gives no key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet};

/// Keys of one JWK Set by `kid`, with their verification key built once.
#[derive(Clone, Default)]
pub struct KeyMap {
    keys: HashMap<String, (Arc<Jwk>, Arc<DecodingKey>)>,
}

impl KeyMap {
    /// Keys with a `kid` that jsonwebtoken can use; others are skipped (and counted).
    pub fn from_set(set: &JwkSet) -> (KeyMap, usize) {
        let mut keys = HashMap::new();
        let mut skipped = 0;
        for jwk in &set.keys {
            match (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                (Some(kid), Ok(k)) if !keys.contains_key(kid) => {
                    keys.insert(kid.clone(), (Arc::new(jwk.clone()), Arc::new(k)));
                }
                _ => skipped += 1,
            }
        }
        (KeyMap { keys }, skipped)
    }
    pub fn get(&self, kid: &str) -> Option<(Arc<Jwk>, Arc<DecodingKey>)> {
        self.keys.get(kid).cloned()
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Parse a JWK Set document (bounded size is the caller's job).
pub fn parse_set(text: &[u8]) -> Result<KeyMap, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWK Set: {e}"))?;
    let (map, skipped) = KeyMap::from_set(&set);
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "JWK Set: keys without kid, duplicated or unusable were ignored"
        );
    }
    Ok(map)
}

/// Largest JWK Set document accepted from a URL.
const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Remote {
    keys: Option<KeyMap>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookupError {
    /// The set was fetched (or is fresh) but has no such `kid`.
    UnknownKid,
    /// The set could not be fetched (and none usable is cached).
    Unavailable(String),
}

/// JWK Sets at URLs, cached per URL.
pub struct RemoteKeys {
    http: reqwest::Client,
    ttl: Duration,
    min_refetch: Duration,
    sets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Remote>>>>,
    /// Fetches that succeeded / failed since start (metrics: `trd_cds_jwks_fetches_total`).
    fetched_ok: AtomicU64,
    fetch_failed: AtomicU64,
}

impl RemoteKeys {
    pub fn new(ttl: Duration, min_refetch: Duration) -> RemoteKeys {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trd-cds/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        RemoteKeys {
            http,
            ttl,
            min_refetch,
            sets: Mutex::new(HashMap::new()),
            fetched_ok: AtomicU64::new(0),
            fetch_failed: AtomicU64::new(0),
        }
    }

    /// JWK Set fetches `(succeeded, failed)` since start.
    pub fn fetches(&self) -> (u64, u64) {
        (
            self.fetched_ok.load(Ordering::Relaxed),
            self.fetch_failed.load(Ordering::Relaxed),
        )
    }

    fn slot(&self, url: &str) -> Arc<tokio::sync::Mutex<Remote>> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.entry(url.to_string()).or_default().clone()
    }

    /// The key `kid` of the set at `url`: from the cache when fresh, else fetched (rate-limited).
    pub async fn find(
        &self,
        url: &str,
        kid: &str,
    ) -> Result<(Arc<Jwk>, Arc<DecodingKey>), KeyLookupError> {
        let slot = self.slot(url);
        let mut r = slot.lock().await;
        let now = Instant::now();
        let fresh = r
            .fetched_at
            .is_some_and(|t| now.duration_since(t) < self.ttl);
        if fresh && let Some(k) = r.keys.as_ref().and_then(|m| m.get(kid)) {
            return Ok(k);
        }
        let may_fetch = r
            .last_attempt
            .is_none_or(|t| now.duration_since(t) >= self.min_refetch)
            || !fresh && r.keys.is_some() && r.last_attempt == r.fetched_at;
        if !may_fetch {
            return Err(if fresh {
                KeyLookupError::UnknownKid
            } else {
                KeyLookupError::Unavailable("refetch rate limit".into())
            });
        }
        r.last_attempt = Some(now);
        match self.fetch(url).await {
            Ok(map) => {
                self.fetched_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(keys = map.len(), "JWK Set fetched");
                r.keys = Some(map);
                r.fetched_at = Some(now);
                r.last_attempt = Some(now);
                r.keys
                    .as_ref()
                    .and_then(|m| m.get(kid))
                    .ok_or(KeyLookupError::UnknownKid)
            }
            Err(e) => {
                self.fetch_failed.fetch_add(1, Ordering::Relaxed);
                // Fail closed: a stale set is not used once its time is up.
                Err(KeyLookupError::Unavailable(e))
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<KeyMap, String> {
        let mut res = self
            .http
            .get(url)
            .header("accept", "application/json, application/jwk-set+json")
            .send()
            .await
            .map_err(|e| format!("fetch failed: {}", crate::store::error_chain(&e)))?;
        if !res.status().is_success() {
            return Err(format!("fetch answered HTTP {}", res.status().as_u16()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("JWK Set larger than 256 KiB".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("fetch failed: {e}"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err("JWK Set larger than 256 KiB".into());
            }
        }
        parse_set(&body)
    }
}
