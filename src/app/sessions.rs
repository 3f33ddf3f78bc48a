//! Server-side state of the SMART app, in memory: pending logins (keyed by the OAuth `state`) and
//! sessions (keyed by a random session id the browser holds in an HttpOnly cookie). Tokens never
//! leave the server. Entries expire; a lookup of an expired entry finds nothing; the maps are
//! bounded (a flood of launches cannot exhaust memory: past the bound, a new login is refused).
//!
//! In memory on purpose: a replica restart signs everyone out (they launch again from the EHR),
//! and a login must come back to the replica that started it (sticky sessions behind a balancer;
//! see README "SMART app").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauth2::CsrfToken;
use secrecy::SecretString;

use super::oauth::SmartConfiguration;

/// A launch waiting for its callback.
pub struct PendingLogin {
    /// The allow-listed FHIR base (`iss`) the launch named.
    pub iss: String,
    pub smart: SmartConfiguration,
    pub pkce_verifier: SecretString,
    /// Also in the browser's login cookie: the callback must come from the browser that launched.
    pub browser_binding: String,
}

/// A signed-in browser: what the page needs to fetch and assess.
#[derive(Clone)]
pub struct Session {
    pub iss: String,
    pub access_token: SecretString,
    pub patient: String,
    pub scope: String,
    pub client_id: String,
    pub expires_in_secs: u64,
}

/// Why an entry could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// A bounded map whose entries expire.
pub struct Expiring<T> {
    entries: Mutex<HashMap<String, (Instant, T)>>,
    capacity: usize,
}

impl<T: Clone> Expiring<T> {
    pub fn new(capacity: usize) -> Expiring<T> {
        Expiring {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Store `value` under `key` until `ttl` has passed.
    pub fn insert(&self, key: String, value: T, ttl: Duration) -> Result<(), Full> {
        let now = Instant::now();
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= self.capacity {
            m.retain(|_, (until, _)| *until > now);
        }
        if m.len() >= self.capacity {
            return Err(Full);
        }
        m.insert(key, (now + ttl, value));
        Ok(())
    }

    /// The live entry under `key`, removed (single use).
    pub fn take(&self, key: &str) -> Option<T> {
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(key)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v)
    }

    /// The live entry under `key`, left in place.
    pub fn get(&self, key: &str) -> Option<T> {
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, key: &str) {
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(key);
    }
}

/// 256 random bits, URL-safe: session ids and the login's browser binding.
pub fn random_id() -> String {
    CsrfToken::new_random_len(32).secret().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_single_use_expire_and_are_bounded() {
        let m: Expiring<u32> = Expiring::new(2);
        m.insert("a".into(), 1, Duration::from_secs(60)).unwrap();
        assert_eq!(m.get("a"), Some(1));
        assert_eq!(m.take("a"), Some(1));
        assert_eq!(m.take("a"), None, "single use");
        m.insert("b".into(), 2, Duration::ZERO).unwrap();
        assert_eq!(m.get("b"), None, "expired");
        m.insert("c".into(), 3, Duration::from_secs(60)).unwrap();
        m.insert("d".into(), 4, Duration::from_secs(60)).unwrap();
        assert_eq!(
            m.insert("e".into(), 5, Duration::from_secs(60)),
            Err(Full),
            "bounded"
        );
        let (x, y) = (random_id(), random_id());
        assert_ne!(x, y);
        assert!(
            x.len() >= 43
                && x.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
