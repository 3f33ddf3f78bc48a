//! Verification of a CDS Client's JWT, in the order of the CDS Hooks best practices: structure and
//! header (`alg` allowed, `typ` JWT, `kid`) → `iss` trusted → `aud` is the URL invoked → `exp`,
//! `iat`, `nbf`, lifetime → `tenant` allowed → `jku` allowed → key by `kid` → signature (jsonwebtoken,
//! aws-lc-rs) → (the caller) `jti` not seen before. Pure except the key lookup; `now` comes in.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::clients::TrustedClient;
use super::jwks::{KeyLookupError, KeyMap, RemoteKeys};

/// Longest `Authorization` value considered (a CDS Hooks JWT is well under 2 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `jti` accepted.
const MAX_JTI: usize = 256;

/// A verified client, as handlers see it (request extension). Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClient {
    pub iss: String,
    pub tenant: Option<String>,
    pub jti: String,
    /// `exp` (unix seconds).
    pub exp: i64,
}

/// Why a token was refused. Logged (it never contains the token); the client sees only 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    MissingAuthorization,
    /// More than one `Authorization` header: which one counts is ambiguous, so none does.
    DuplicateAuthorization,
    NotBearer,
    TooLong,
    Malformed(&'static str),
    AlgNotAllowed(String),
    TypNotJwt,
    MissingKid,
    CritUnsupported,
    MissingClaim(&'static str),
    UntrustedIssuer(String),
    AudienceMismatch,
    Expired,
    IssuedInFuture,
    NotYetValid,
    LifetimeTooLong(i64),
    TenantNotAllowed,
    JkuNotAllowed,
    UnknownKid(String),
    KeysUnavailable(String),
    KeyAlgMismatch,
    BadSignature(String),
    Replayed,
}

impl Reject {
    /// A fixed name for metrics (`trd_cds_jwt_refusals_total{reason}`): never the `iss`, `kid`,
    /// `alg` or anything else the caller wrote.
    pub fn label(&self) -> &'static str {
        use Reject::*;
        match self {
            MissingAuthorization => "missing_authorization",
            DuplicateAuthorization => "duplicate_authorization",
            NotBearer => "not_bearer",
            TooLong => "too_long",
            Malformed(_) => "malformed",
            AlgNotAllowed(_) => "alg_not_allowed",
            TypNotJwt => "typ_not_jwt",
            MissingKid => "missing_kid",
            CritUnsupported => "crit_unsupported",
            MissingClaim(_) => "missing_claim",
            UntrustedIssuer(_) => "untrusted_issuer",
            AudienceMismatch => "audience_mismatch",
            Expired => "expired",
            IssuedInFuture => "issued_in_future",
            NotYetValid => "not_yet_valid",
            LifetimeTooLong(_) => "lifetime_too_long",
            TenantNotAllowed => "tenant_not_allowed",
            JkuNotAllowed => "jku_not_allowed",
            UnknownKid(_) => "unknown_kid",
            KeysUnavailable(_) => "keys_unavailable",
            KeyAlgMismatch => "key_alg_mismatch",
            BadSignature(_) => "bad_signature",
            Replayed => "replayed",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Reject::*;
        match self {
            MissingAuthorization => write!(f, "no Authorization header"),
            DuplicateAuthorization => write!(f, "more than one Authorization header"),
            NotBearer => write!(f, "Authorization is not 'Bearer <JWT>'"),
            TooLong => write!(f, "Authorization header too long"),
            Malformed(what) => write!(f, "malformed JWT: {what}"),
            AlgNotAllowed(a) => write!(f, "alg '{a}' not accepted"),
            TypNotJwt => write!(f, "typ is not JWT"),
            MissingKid => write!(f, "no kid in the header"),
            CritUnsupported => write!(f, "crit header present (no extension is understood)"),
            MissingClaim(c) => write!(f, "claim {c} missing or not of the right type"),
            // Debug formatting escapes control characters: these values are attacker-chosen.
            UntrustedIssuer(iss) => write!(f, "iss {iss:?} is not a trusted client"),
            AudienceMismatch => write!(f, "aud is not the URL invoked"),
            Expired => write!(f, "token expired"),
            IssuedInFuture => write!(f, "iat in the future"),
            NotYetValid => write!(f, "nbf in the future"),
            LifetimeTooLong(s) => write!(f, "exp - iat = {s} s exceeds the accepted lifetime"),
            TenantNotAllowed => write!(f, "tenant not allowed for this client"),
            JkuNotAllowed => write!(f, "jku not on the client's allow-list"),
            UnknownKid(kid) => write!(f, "no key with kid {kid:?} for this client"),
            KeysUnavailable(why) => write!(f, "client keys unavailable: {why}"),
            KeyAlgMismatch => write!(f, "key does not match the header alg"),
            BadSignature(why) => write!(f, "signature or claims rejected: {why}"),
            Replayed => write!(f, "jti already used (replay)"),
        }
    }
}

/// Verification settings.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub algorithms: Vec<Algorithm>,
    pub clock_skew: i64,
    pub max_lifetime: i64,
}

/// The verifier: trusted clients with their keys.
pub struct Verifier {
    clients: HashMap<String, TrustedClient>,
    file_keys: HashMap<String, KeyMap>,
    remote: RemoteKeys,
    settings: VerifySettings,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    jku: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Decode base64url without padding (RFC 7515 §2); `None` on any other character.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    }
    let b = s.as_bytes();
    if b.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() * 3 / 4);
    for chunk in b.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

fn parse_alg(s: &str) -> Option<Algorithm> {
    Some(match s {
        "ES384" => Algorithm::ES384,
        "RS384" => Algorithm::RS384,
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        _ => return None,
    })
}

/// Names accepted by `TRD_CDS_JWT_ALGORITHMS` → algorithms (unknown names are dropped; config
/// validation refuses them before this).
pub fn algorithms(names: &[String]) -> Vec<Algorithm> {
    names.iter().filter_map(|n| parse_alg(n)).collect()
}

/// A NumericDate claim: integer or (truncated) fractional seconds.
fn numeric(v: Option<&serde_json::Value>) -> Option<i64> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    (f.is_finite() && f.abs() < 1e15).then_some(f as i64)
}

/// Does `jwk` fit `alg` (key type, curve, declared alg and use)?
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    if let Some(ka) = jwk.common.key_algorithm
        && format!("{ka:?}") != format!("{alg:?}")
    {
        return false;
    }
    if let Some(u) = &jwk.common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return false;
    }
    match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::RSA(_), Algorithm::RS384 | Algorithm::RS256) => true,
        _ => false,
    }
}

impl Verifier {
    /// JWK Set fetches `(succeeded, failed)` since start (metrics).
    pub fn jwks_fetches(&self) -> (u64, u64) {
        self.remote.fetches()
    }

    /// Build from validated clients (their key files are read here).
    pub fn new(
        clients: Vec<TrustedClient>,
        settings: VerifySettings,
        jwks_ttl: Duration,
        min_refetch: Duration,
    ) -> Result<Verifier, String> {
        let mut file_keys = HashMap::new();
        for c in &clients {
            if let Some(f) = &c.jwks_file {
                let text = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
                let keys =
                    super::jwks::parse_set(&text).map_err(|e| format!("{}: {e}", f.display()))?;
                if keys.is_empty() {
                    return Err(format!("{}: no usable key with a kid", f.display()));
                }
                file_keys.insert(c.iss.clone(), keys);
            }
        }
        Ok(Verifier {
            clients: clients.into_iter().map(|c| (c.iss.clone(), c)).collect(),
            file_keys,
            remote: RemoteKeys::new(jwks_ttl, min_refetch),
            settings,
        })
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Extract the token from an `Authorization` header value.
    pub fn bearer<'a>(headers: &[&'a [u8]]) -> Result<&'a str, Reject> {
        let h = match headers {
            [] => return Err(Reject::MissingAuthorization),
            [one] => *one,
            _ => return Err(Reject::DuplicateAuthorization),
        };
        if h.len() > MAX_TOKEN_BYTES {
            return Err(Reject::TooLong);
        }
        let h = std::str::from_utf8(h).map_err(|_| Reject::NotBearer)?;
        let (scheme, token) = h.trim().split_once(' ').ok_or(Reject::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Reject::NotBearer);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Reject::NotBearer);
        }
        Ok(token)
    }

    /// Verify `token` for the endpoint URL `audience` at unix time `now`. The caller checks the `jti`.
    pub async fn verify(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<VerifiedClient, Reject> {
        let s = &self.settings;
        // Structure: three base64url parts, non-empty signature.
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reject::Malformed("not three dot-separated parts"));
        };
        if sig.is_empty() {
            return Err(Reject::Malformed("empty signature"));
        }
        let header_bytes = b64url_decode(h64).ok_or(Reject::Malformed("header not base64url"))?;
        let header: RawHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| Reject::Malformed("header not a JSON object"))?;
        let alg_name = header.alg.ok_or(Reject::Malformed("no alg"))?;
        let alg = parse_alg(&alg_name)
            .filter(|a| s.algorithms.contains(a))
            .ok_or_else(|| Reject::AlgNotAllowed(alg_name.chars().take(16).collect()))?;
        if !header.typ.is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
            return Err(Reject::TypNotJwt);
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(Reject::MissingKid)?;
        if header.crit.is_some() {
            return Err(Reject::CritUnsupported);
        }

        // Claims (not yet trusted): iss → aud → time → tenant.
        let payload = b64url_decode(p64).ok_or(Reject::Malformed("payload not base64url"))?;
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&payload)
                .map_err(|_| Reject::Malformed("payload not a JSON object"))?;
        let iss = claims
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or(Reject::MissingClaim("iss"))?;
        let client = self
            .clients
            .get(iss)
            .ok_or_else(|| Reject::UntrustedIssuer(iss.chars().take(200).collect()))?;
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => a == audience,
            Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => return Err(Reject::MissingClaim("aud")),
        };
        if !aud_ok {
            return Err(Reject::AudienceMismatch);
        }
        let exp = numeric(claims.get("exp")).ok_or(Reject::MissingClaim("exp"))?;
        let iat = numeric(claims.get("iat")).ok_or(Reject::MissingClaim("iat"))?;
        if now > exp.saturating_add(s.clock_skew) {
            return Err(Reject::Expired);
        }
        if iat > now.saturating_add(s.clock_skew) {
            return Err(Reject::IssuedInFuture);
        }
        match claims.get("nbf") {
            None => {}
            Some(v) => {
                let nbf = numeric(Some(v)).ok_or(Reject::MissingClaim("nbf"))?;
                if nbf > now.saturating_add(s.clock_skew) {
                    return Err(Reject::NotYetValid);
                }
            }
        }
        let lifetime = exp.saturating_sub(iat);
        if lifetime > s.max_lifetime {
            return Err(Reject::LifetimeTooLong(lifetime));
        }
        let jti = claims
            .get("jti")
            .and_then(|v| v.as_str())
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
            .ok_or(Reject::MissingClaim("jti"))?;
        let tenant = match claims.get("tenant") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(t)) => Some(t.clone()),
            Some(_) => return Err(Reject::MissingClaim("tenant")),
        };
        if !client.tenants.is_empty()
            && !tenant.as_ref().is_some_and(|t| client.tenants.contains(t))
        {
            return Err(Reject::TenantNotAllowed);
        }
        if let Some(jku) = &header.jku
            && !(client.jku.contains(jku) || client.jwks_url.as_ref() == Some(jku))
        {
            return Err(Reject::JkuNotAllowed);
        }

        // Key by kid: registered file → registered URL → the token's (allow-listed) jku.
        let key = self.key_for(client, header.jku.as_deref(), &kid).await?;
        if !key_fits(&key.0, alg) {
            return Err(Reject::KeyAlgMismatch);
        }

        // Signature (and the claims again, by the library, as a second line).
        let mut v = Validation::new(alg);
        v.leeway = s.clock_skew as u64;
        v.validate_exp = false; // checked above against `now` (the library reads the clock itself)
        v.validate_nbf = false;
        v.set_audience(&[audience]);
        v.set_issuer(&[iss]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<serde_json::Value>(token, &key.1, &v)
            .map_err(|e| Reject::BadSignature(format!("{:?}", e.kind())))?;

        Ok(VerifiedClient {
            iss: iss.to_string(),
            tenant,
            jti: jti.to_string(),
            exp,
        })
    }

    async fn key_for(
        &self,
        client: &TrustedClient,
        jku: Option<&str>,
        kid: &str,
    ) -> Result<(Arc<Jwk>, Arc<DecodingKey>), Reject> {
        if let Some(k) = self.file_keys.get(&client.iss).and_then(|m| m.get(kid)) {
            return Ok(k);
        }
        let mut urls: Vec<&str> = Vec::new();
        if let Some(u) = &client.jwks_url {
            urls.push(u);
        }
        if let Some(j) = jku
            && !urls.contains(&j)
        {
            urls.push(j);
        }
        let mut last = Reject::UnknownKid(kid.chars().take(64).collect());
        for url in urls {
            match self.remote.find(url, kid).await {
                Ok(k) => return Ok(k),
                Err(KeyLookupError::UnknownKid) => {}
                Err(KeyLookupError::Unavailable(why)) => last = Reject::KeysUnavailable(why),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url() {
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("TQ").unwrap(), b"M");
        assert_eq!(b64url_decode("TWE").unwrap(), b"Ma");
        assert_eq!(b64url_decode("TWFu").unwrap(), b"Man");
        assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(b64url_decode("TWFu=").is_none());
        assert!(b64url_decode("T").is_none());
        assert!(b64url_decode("a+b/").is_none());
    }

    #[test]
    fn bearer() {
        assert_eq!(Verifier::bearer(&[b"Bearer a.b.c"]), Ok("a.b.c"));
        assert_eq!(Verifier::bearer(&[b"bearer  a.b.c "]), Ok("a.b.c"));
        assert_eq!(Verifier::bearer(&[]), Err(Reject::MissingAuthorization));
        assert_eq!(Verifier::bearer(&[b"Basic abc"]), Err(Reject::NotBearer));
        assert_eq!(Verifier::bearer(&[b"Bearer "]), Err(Reject::NotBearer));
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(Verifier::bearer(&[long.as_bytes()]), Err(Reject::TooLong));
        // Two headers: ambiguous, whichever comes first and even when both are well-formed.
        let (good, junk): (&[u8], &[u8]) = (b"Bearer a.b.c", b"x");
        for pair in [[good, junk], [junk, good], [good, good]] {
            assert_eq!(Verifier::bearer(&pair), Err(Reject::DuplicateAuthorization));
        }
    }

    const SPEC_JWKS: &str = include_str!("../../../tests/fixtures/jwt/spec-jwks.json");
    const SPEC_TOKEN: &str = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImV4YW1wbGUta2lkIiwiamt1IjoiaHR0cHM6Ly9maGlyLWVoci5leGFtcGxlLmNvbS9qd2tfdXJpIn0.eyJpc3MiOiJodHRwczovL2ZoaXItZWhyLmV4YW1wbGUuY29tLyIsImF1ZCI6Imh0dHBzOi8vY2RzLmV4YW1wbGUub3JnL2Nkcy1zZXJ2aWNlcy9zb21lLXNlcnZpY2UiLCJleHAiOjE0MjI1Njg4NjAsImlhdCI6MTMxMTI4MDk3MCwianRpIjoiZWUyMmIwMjEtZTFiNy00NjExLWJhNWItOGVlYzZhMzNhYzFlIiwidGVuYW50IjoiMmRkZDZjM2EtOGU5YS00NGM2LWEzMDUtNTIxMTFhZDMwMmEyIn0.d1WfLjGRKlcWB94l9do4cM8REXeYJLL6SGUBO8VHZhfM8mwKYP70EMxJ67War4TQblEpaQrp11wx5p7oPFm2ETYgCicS84vXWEIYTdjooZdooCSDf2L8-i4awdoUwiEb";
    const SPEC_AUD: &str = "https://cds.example.org/cds-services/some-service";

    fn spec_verifier(max_lifetime: i64) -> Verifier {
        let dir = std::env::temp_dir().join(format!("trd-spec-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("jwks.json");
        std::fs::write(&f, SPEC_JWKS).unwrap();
        let client = TrustedClient {
            iss: "https://fhir-ehr.example.com/".into(),
            jwks_file: Some(f),
            jwks_url: None,
            jku: vec!["https://fhir-ehr.example.com/jwk_uri".into()],
            tenants: vec!["2ddd6c3a-8e9a-44c6-a305-52111ad302a2".into()],
        };
        Verifier::new(
            vec![client],
            VerifySettings {
                algorithms: vec![Algorithm::ES384, Algorithm::RS384],
                clock_skew: 60,
                max_lifetime,
            },
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .unwrap()
    }

    /// The spec's ES384 vector (aws-lc-rs backend really verifies): valid at a time inside its
    /// validity window. Its lifetime (iat 2011 → exp 2015) is far longer than we accept, so the
    /// lifetime limit is lifted for this check only.
    #[tokio::test]
    async fn spec_vector_signature_verifies() {
        let v = spec_verifier(i64::MAX);
        let ok = v.verify(SPEC_TOKEN, SPEC_AUD, 1_400_000_000).await.unwrap();
        assert_eq!(ok.iss, "https://fhir-ehr.example.com/");
        assert_eq!(ok.jti, "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e");
        assert_eq!(
            ok.tenant.as_deref(),
            Some("2ddd6c3a-8e9a-44c6-a305-52111ad302a2")
        );
        // Today it is expired.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(
            v.verify(SPEC_TOKEN, SPEC_AUD, now).await,
            Err(Reject::Expired)
        );
        // With our default lifetime limit it is refused too.
        assert!(matches!(
            spec_verifier(3600)
                .verify(SPEC_TOKEN, SPEC_AUD, 1_400_000_000)
                .await,
            Err(Reject::LifetimeTooLong(_))
        ));
        // One flipped signature character: the signature fails.
        let mut bad = SPEC_TOKEN.to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == 'b' { 'c' } else { 'b' });
        assert!(matches!(
            v.verify(&bad, SPEC_AUD, 1_400_000_000).await,
            Err(Reject::BadSignature(_))
        ));
        // Another endpoint.
        assert_eq!(
            v.verify(
                SPEC_TOKEN,
                "https://cds.example.org/cds-services",
                1_400_000_000
            )
            .await,
            Err(Reject::AudienceMismatch)
        );
    }

    /// One rule per case: the reason is the one expected (the HTTP tests only see 401).
    #[tokio::test]
    async fn each_rule_has_its_reason() {
        use jsonwebtoken::{EncodingKey, Header, encode};
        use serde_json::json;
        let es = EncodingKey::from_ec_pem(include_bytes!(
            "../../../tests/fixtures/jwt/es384-private.pem"
        ))
        .unwrap();
        let mut jwk = Jwk::from_encoding_key(&es, Algorithm::ES384).unwrap();
        jwk.common.key_id = Some("k".into());
        let dir = std::env::temp_dir().join(format!("trd-rules-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("jwks.json");
        std::fs::write(
            &f,
            serde_json::to_string(&jsonwebtoken::jwk::JwkSet { keys: vec![jwk] }).unwrap(),
        )
        .unwrap();
        let v = Verifier::new(
            vec![TrustedClient {
                iss: "ehr".into(),
                jwks_file: Some(f),
                jwks_url: None,
                jku: vec![],
                tenants: vec![],
            }],
            VerifySettings {
                algorithms: vec![Algorithm::ES384, Algorithm::RS384],
                clock_skew: 60,
                max_lifetime: 3600,
            },
            Duration::from_secs(60),
            Duration::from_secs(60),
        )
        .unwrap();
        let now = 1_800_000_000;
        let aud = "https://cds/cds-services";
        let claims = |patch: serde_json::Value| {
            let mut c =
                json!({"iss": "ehr", "aud": aud, "iat": now, "exp": now + 300, "jti": "j1"});
            for (k, x) in patch.as_object().unwrap() {
                c[k] = x.clone();
            }
            c
        };
        let sign = |kid: &str, c: &serde_json::Value| {
            let mut h = Header::new(Algorithm::ES384);
            h.kid = Some(kid.into());
            encode(&h, c, &es).unwrap()
        };
        let ok = sign("k", &claims(json!({})));
        assert!(v.verify(&ok, aud, now).await.is_ok());
        let cases: Vec<(String, Reject)> = vec![
            (
                sign("k", &claims(json!({"aud": "https://cds/other"}))),
                Reject::AudienceMismatch,
            ),
            (
                sign("k", &claims(json!({"iss": "evil"}))),
                Reject::UntrustedIssuer("evil".into()),
            ),
            (
                sign("k", &claims(json!({"iat": now + 120, "exp": now + 400}))),
                Reject::IssuedInFuture,
            ),
            (
                sign("k", &claims(json!({"iat": now - 400, "exp": now - 100}))),
                Reject::Expired,
            ),
            (
                sign("k", &claims(json!({"nbf": now + 120}))),
                Reject::NotYetValid,
            ),
            (
                sign("k", &claims(json!({"exp": now + 7200}))),
                Reject::LifetimeTooLong(7200),
            ),
            (
                sign("nope", &claims(json!({}))),
                Reject::UnknownKid("nope".into()),
            ),
            (
                {
                    let h = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiayJ9"; // {"alg":"none","typ":"JWT","kid":"k"}
                    let p = ok.split('.').nth(1).unwrap();
                    format!("{h}.{p}.x")
                },
                Reject::AlgNotAllowed("none".into()),
            ),
            (
                {
                    let mut h = Header::new(Algorithm::HS256);
                    h.kid = Some("k".into());
                    let pem = include_bytes!("../../../tests/fixtures/jwt/es384-public.pem");
                    encode(&h, &claims(json!({})), &EncodingKey::from_secret(pem)).unwrap()
                },
                Reject::AlgNotAllowed("HS256".into()),
            ),
            (
                {
                    let other = sign("k", &claims(json!({"jti": "j2"})));
                    let p: Vec<&str> = ok.split('.').collect();
                    format!("{}.{}.{}", p[0], other.split('.').nth(1).unwrap(), p[2])
                },
                Reject::BadSignature("InvalidSignature".into()),
            ),
        ];
        for (i, (token, want)) in cases.into_iter().enumerate() {
            assert_eq!(v.verify(&token, aud, now).await, Err(want), "case {i}");
        }
    }
}
