//! Test-only JWT helpers: sign CDS Hooks client tokens with the keys in `tests/fixtures/jwt/`, build
//! their JWK Sets and a trusted-clients file.

#![allow(dead_code)]

use std::path::PathBuf;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISS: &str = "https://ehr.test.example/";
pub const BASE: &str = "https://cds.test.example";

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The private key of a fixture (`es384`, `rs384`, `es256`, `es384-attacker`).
pub fn key(which: &str) -> EncodingKey {
    let bytes = pem(&format!("{which}-private.pem"));
    if which.starts_with("rs") {
        EncodingKey::from_rsa_pem(&bytes).expect("RSA key")
    } else {
        EncodingKey::from_ec_pem(&bytes).expect("EC key")
    }
}

pub fn alg_of(which: &str) -> Algorithm {
    match which {
        "rs384" => Algorithm::RS384,
        "es256" => Algorithm::ES256,
        _ => Algorithm::ES384,
    }
}

/// A JWK Set holding the public halves of `keys` as `(kid, fixture)`.
pub fn jwks(keys: &[(&str, &str)]) -> String {
    let set = JwkSet {
        keys: keys
            .iter()
            .map(|(kid, which)| {
                let mut jwk = Jwk::from_encoding_key(&key(which), alg_of(which)).expect("jwk");
                jwk.common.key_id = Some(kid.to_string());
                jwk
            })
            .collect(),
    };
    serde_json::to_string(&set).unwrap()
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Valid claims for `path` (aud = BASE + path), 5 minutes, a fresh jti.
pub fn claims(path: &str) -> Value {
    let now = now();
    json!({
        "iss": ISS,
        "aud": format!("{BASE}{path}"),
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// Sign `claims` with fixture key `which` under `kid`.
pub fn sign(which: &str, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(alg_of(which));
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, &key(which)).expect("signed")
}

/// Sign with a custom header.
pub fn sign_with(header: Header, which: &str, claims: &Value) -> String {
    jsonwebtoken::encode(&header, claims, &key(which)).expect("signed")
}

/// A valid ES384 token for `path`.
pub fn token(path: &str) -> String {
    sign("es384", "es384-1", &claims(path))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A temp dir holding `jwks.json` (the trusted test EHR's ES384 + RS384 keys, kids `es384-1` and
/// `rs384-1`), the spec's JWK Set, and `clients.toml` with `extra` TOML appended to the test client.
pub fn clients_file(extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trd-auth-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("jwks.json"),
        jwks(&[
            ("es384-1", "es384"),
            ("rs384-1", "rs384"),
            ("es256-1", "es256"),
        ]),
    )
    .unwrap();
    std::fs::copy(fixture("spec-jwks.json"), dir.join("spec-jwks.json")).unwrap();
    let toml = format!(
        r#"
[[client]]
iss = "https://fhir-ehr.example.com/"
jwks_file = "spec-jwks.json"
jku = ["https://fhir-ehr.example.com/jwk_uri"]

[[client]]
iss = "{ISS}"
jwks_file = "jwks.json"
{extra}
"#
    );
    let p = dir.join("clients.toml");
    std::fs::write(&p, toml).unwrap();
    p
}
