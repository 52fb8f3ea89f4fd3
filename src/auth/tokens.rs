//! Signed access tokens (JWT, HS256) and opaque refresh tokens stored as hashes.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `typ` claim of a platform access token.
pub const ACCESS: &str = "access";
/// The `typ` claim of a widget token.
pub const WIDGET: &str = "widget";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (access tokens) or the bot id (widget tokens), as a string (RFC 7519).
    pub sub: String,
    /// What the token is for: [`ACCESS`] or [`WIDGET`].
    pub typ: String,
    /// The widget token's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<i64>,
    /// The user's token version when the token was issued (access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<i64>,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// The server's signing key, as both halves jsonwebtoken needs.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Checks signature (HS256 only: `none` and algorithm swaps fail), expiry and `typ`.
    pub fn verify(&self, token: &str, typ: &str) -> Result<Claims, TokenError> {
        self.check(token, typ, true)
    }

    /// Like [`Keys::verify`] but accepts an expired token (for refreshing one):
    /// the caller judges `exp`.
    pub fn verify_even_expired(&self, token: &str, typ: &str) -> Result<Claims, TokenError> {
        self.check(token, typ, false)
    }

    fn check(&self, token: &str, typ: &str, expiry: bool) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = expiry;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        if data.claims.typ == typ { Ok(data.claims) } else { Err(TokenError::Invalid) }
    }
}

/// A new random token: 256 bits, URL-safe base64 without padding.
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, in hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(typ: &str, exp: u64) -> Claims {
        Claims { sub: "1".into(), typ: typ.into(), tid: None, ver: Some(0), iat: 0, exp }
    }

    #[test]
    fn refuses_other_types_keys_and_unsigned_tokens() {
        let keys = Keys::new(b"0123456789abcdef0123456789abcdef");
        let far = jsonwebtoken::get_current_timestamp() + 600;
        let token = keys.sign(&claims(ACCESS, far)).unwrap();
        assert_eq!(keys.verify(&token, ACCESS).unwrap().sub, "1");
        assert_eq!(keys.verify(&token, "widget").unwrap_err(), TokenError::Invalid);
        let other = Keys::new(b"another key another key another key");
        assert_eq!(other.verify(&token, ACCESS).unwrap_err(), TokenError::Invalid);

        // `alg: none` with the same claims.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(serde_json::to_vec(&claims(ACCESS, far)).unwrap());
        assert_eq!(keys.verify(&format!("{head}.{body}."), ACCESS).unwrap_err(), TokenError::Invalid);

        let expired = keys.sign(&claims(ACCESS, 1)).unwrap();
        assert_eq!(keys.verify(&expired, ACCESS).unwrap_err(), TokenError::Expired);
        assert_eq!(keys.verify_even_expired(&expired, ACCESS).unwrap().exp, 1);
        assert_eq!(keys.verify_even_expired(&expired, WIDGET).unwrap_err(), TokenError::Invalid);
    }

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
