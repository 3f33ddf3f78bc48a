//! Keyed hash of patient references, and the feedback idempotency key.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::model::FeedbackEntry;

/// Keyed hash (HMAC-SHA256, lower-case hex) of a patient reference, for the audit trail.
///
/// The same patient gives the same hash under the same secret (so calls about one patient can be
/// grouped), but without the secret the hash cannot be linked back to the id, even by trying every
/// plausible id. Rotating the secret breaks the linkage with older rows, by design.
#[derive(Clone)]
pub struct PatientHasher {
    mac: Hmac<Sha256>,
}

impl PatientHasher {
    /// A hasher keyed with `secret` (from configuration; use at least 32 random bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_ref())
            .expect("HMAC accepts keys of any length");
        PatientHasher { mac }
    }

    /// Hex HMAC-SHA256 of `patient_ref` (pass the same form every time, e.g. the `patientId`
    /// from the hook context, or `Patient/<id>`).
    pub fn hash(&self, patient_ref: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(patient_ref.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for PatientHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatientHasher { secret: <redacted> }")
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

/// PostgreSQL keeps microseconds: both stores truncate to them so they agree.
pub(crate) fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000)
        .expect("a truncated nanosecond is in range")
}

/// The idempotency key of a feedback entry: "the same feedback sent twice".
///
/// Identity = client `iss`, service id, card uuid, outcome, `outcomeTimestamp` (UTC, microseconds)
/// and the *set* of accepted suggestion ids (order and repeats ignored). The override reason and
/// comment are payload, not identity: a resend with the same identity is a duplicate and the first
/// stored version wins.
pub(crate) fn feedback_dedup_key(e: &FeedbackEntry) -> String {
    let mut accepted: Vec<&str> = e.accepted_suggestions.iter().map(String::as_str).collect();
    accepted.sort_unstable();
    accepted.dedup();
    let micros = truncate_micros(e.outcome_timestamp).unix_timestamp_nanos() / 1_000;

    let mut h = Sha256::new();
    let mut field = |s: Option<&str>| match s {
        None => h.update(b"-"),
        Some(s) => {
            h.update(b"+");
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    };
    field(Some("feedback-v1"));
    field(e.client_iss.as_deref());
    field(Some(&e.service_id));
    field(Some(&e.card_uuid));
    field(Some(e.outcome.as_str()));
    field(Some(&micros.to_string()));
    field(Some(&accepted.len().to_string()));
    for a in accepted {
        field(Some(a));
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let h = PatientHasher::new(b"Jefe");
        assert_eq!(
            h.hash("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hash_is_keyed_and_stable() {
        let a = PatientHasher::new("secret-a");
        let b = PatientHasher::new("secret-b");
        assert_eq!(a.hash("Patient/1"), a.hash("Patient/1"));
        assert_ne!(a.hash("Patient/1"), b.hash("Patient/1"));
        assert_ne!(a.hash("Patient/1"), a.hash("Patient/2"));
        assert!(!format!("{a:?}").contains("secret-a"));
    }
}
