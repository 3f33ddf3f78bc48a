//! The trusted-clients file (`TRD_CDS_TRUSTED_CLIENTS`): which EHRs (JWT `iss`) may call, where their
//! keys are, which `jku` URLs and tenants they may use. TOML or JSON, by file extension:
//!
//! ```toml
//! [[client]]
//! iss = "https://fhir-ehr.example.com/"
//! jwks_file = "ehr-jwks.json"                   # relative to this file; or
//! jwks_url = "https://fhir-ehr.example.com/jwks" # fetched, cached, refetched on an unknown kid
//! jku = ["https://fhir-ehr.example.com/jwk_uri"] # JWK Set URLs a token may name (allow-list)
//! tenants = ["2ddd6c3a-8e9a-44c6-a305-52111ad302a2"] # optional allow-list of the `tenant` claim
//! ```

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

/// One trusted client, validated.
#[derive(Debug, Clone)]
pub struct TrustedClient {
    /// Exact `iss` value.
    pub iss: String,
    /// Keys registered out of band (read at start-up).
    pub jwks_file: Option<PathBuf>,
    /// Keys at a URL (fetched, cached).
    pub jwks_url: Option<String>,
    /// `jku` header values this client may send; keys are fetched there when the `kid` is not in the
    /// registered set.
    pub jku: Vec<String>,
    /// Allowed `tenant` claims; empty = any (or none).
    pub tenants: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    client: Vec<ClientShape>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientShape {
    iss: String,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    #[serde(default)]
    jku: Vec<String>,
    #[serde(default)]
    tenants: Vec<String>,
}

/// Is `url` acceptable for fetching keys: `https://`, or `http://` to a loopback host outside production.
pub fn key_url_ok(url: &str, production: bool) -> bool {
    if url.starts_with("https://") && url.len() > "https://".len() {
        return true;
    }
    if production {
        return false;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Read and validate the trusted-clients file. Errors say what is wrong (never a key).
pub fn load(path: &Path, production: bool) -> Result<Vec<TrustedClient>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let shape: FileShape = if is_json {
        serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?
    } else {
        toml::from_str(&text).map_err(|e| format!("invalid TOML: {e}"))?
    };
    if shape.client.is_empty() {
        return Err("lists no client (expected [[client]] entries with iss and keys)".into());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out: Vec<TrustedClient> = Vec::new();
    for (i, c) in shape.client.into_iter().enumerate() {
        let at = format!("client[{i}]");
        if c.iss.trim().is_empty() || c.iss.trim() != c.iss {
            return Err(format!(
                "{at}.iss: must be a non-empty string without spaces around it"
            ));
        }
        if out.iter().any(|o| o.iss == c.iss) {
            return Err(format!("{at}.iss: '{}' is listed twice", c.iss));
        }
        if c.jwks_file.is_none() && c.jwks_url.is_none() && c.jku.is_empty() {
            return Err(format!("{at}: needs jwks_file, jwks_url or jku"));
        }
        let jwks_file = c
            .jwks_file
            .map(|f| if f.is_absolute() { f } else { dir.join(f) });
        if let Some(f) = &jwks_file {
            let keys = std::fs::read_to_string(f)
                .map_err(|e| format!("{at}.jwks_file: {}: {e}", f.display()))?;
            let set: JwkSet = serde_json::from_str(&keys)
                .map_err(|e| format!("{at}.jwks_file: {}: not a JWK Set: {e}", f.display()))?;
            if set.keys.is_empty() {
                return Err(format!("{at}.jwks_file: {}: holds no key", f.display()));
            }
        }
        for u in c.jwks_url.iter().chain(&c.jku) {
            if !key_url_ok(u, production) {
                return Err(format!(
                    "{at}: key URL '{u}' must be https:// (http:// only to a loopback host outside production)"
                ));
            }
        }
        out.push(TrustedClient {
            iss: c.iss,
            jwks_file,
            jwks_url: c.jwks_url,
            jku: c.jku,
            tenants: c.tenants,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("trd-clients-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-384","kid":"k","x":"46SDH7Znh821wblCBglA61sNE9ZrHYKKt3qRtRTmSXyOI_FIGBLWrWa0GPUkDCEk","y":"XMcRuuoGW7CXjQdy-F5i3FeBE0x9hPLdeFdSoDd3ELmx404tLX0VRRcqzAsPhXcI","alg":"ES384"}]}"#;

    #[test]
    fn toml_and_json() {
        let p = write(
            "clients.toml",
            "[[client]]\niss = \"https://ehr\"\njwks_file = \"k.json\"\ntenants = [\"t1\"]\n",
        );
        std::fs::write(p.parent().unwrap().join("k.json"), JWKS).unwrap();
        let c = load(&p, false).unwrap();
        assert_eq!(c[0].iss, "https://ehr");
        assert_eq!(c[0].tenants, ["t1"]);
        assert!(c[0].jwks_file.as_ref().unwrap().is_absolute());

        let p = write(
            "clients.json",
            r#"{"client":[{"iss":"a","jwks_url":"https://a/jwks","jku":["https://a/jku"]}]}"#,
        );
        assert_eq!(load(&p, true).unwrap()[0].jku, ["https://a/jku"]);
    }

    #[test]
    fn rejects() {
        for (text, want) in [
            ("", "no client"),
            ("[[client]]\niss = \"a\"\n", "needs jwks_file"),
            ("[[client]]\niss = \"a\"\njwks_url = \"ftp://x\"\n", "https"),
            (
                "[[client]]\niss = \"a\"\njwks_file = \"nope.json\"\n",
                "jwks_file",
            ),
            (
                "[[client]]\niss = \"a\"\njku=[\"https://x\"]\n[[client]]\niss = \"a\"\njku=[\"https://x\"]\n",
                "twice",
            ),
            (
                "[[client]]\niss = \"a\"\njku=[\"https://x\"]\nsecret = 1\n",
                "unknown field",
            ),
        ] {
            let e = load(&write("c.toml", text), false).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn key_urls() {
        assert!(key_url_ok("https://ehr.example.org/jwks", true));
        assert!(key_url_ok("http://127.0.0.1:9000/jwks", false));
        assert!(!key_url_ok("http://127.0.0.1:9000/jwks", true));
        assert!(!key_url_ok("http://ehr.example.org/jwks", false));
        assert!(!key_url_ok("http://localhost.evil.org/jwks", false));
    }
}
