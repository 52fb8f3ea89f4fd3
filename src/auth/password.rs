//! Argon2id password hashing on a few dedicated threads, each reusing one memory buffer.
//!
//! Hashes are standard PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//! Argon2 is memory-hard by design: each hash fills `m` KiB. Letting the crate
//! allocate that afresh on every call leaves the allocator holding hundreds of MiB
//! after a burst of logins (measured: 471 MiB after ~3,000 logins), so every
//! hashing thread keeps one block buffer and reuses it, and resident memory stays
//! at about `m` KiB per core once logins have happened.

use std::cell::RefCell;
use std::sync::Arc;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::config::AuthConfig;
use crate::workers::{WorkerError, WorkerPool};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters are not valid: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing worker failed")]
    Worker(#[from] WorkerError),
    #[error("cannot start the hashing threads")]
    Start(#[from] std::io::Error),
}

/// Hashes and verifies passwords with fixed Argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    workers: WorkerPool,
    /// A PHC string with the configured cost, a random salt and a random output:
    /// verified against when the user is unknown, so that "no such user" costs
    /// exactly what "wrong password" costs. It matches no password.
    decoy: Arc<str>,
}

impl PasswordHasher {
    pub fn new(config: &AuthConfig) -> Result<Self, HashError> {
        let params =
            Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
                .map_err(|e| HashError::Params(e.to_string()))?;
        let decoy = decoy_hash(&params)?.into();
        Ok(Self { params, workers: WorkerPool::per_core("argon2", 64)?, decoy })
    }

    /// A PHC string for the password, with a random salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let params = self.params.clone();
        self.workers.run(move || hash_now(params, password.expose_secret().as_bytes())).await?
    }

    /// Whether the password matches the stored hash; with no hash, spends the same
    /// time on a decoy and answers false.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
        let (stored, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.decoy.to_string(), false),
        };
        let matches =
            self.workers.run(move || verify_now(&stored, password.expose_secret().as_bytes())).await?;
        Ok(real && matches)
    }
}

thread_local! {
    /// The block buffer of this hashing thread, grown to the largest cost seen.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs Argon2 with this thread's reusable memory (`reuse`), or with memory of
/// its own that is returned when done. Logins reuse: they are frequent and must be
/// fast. Setting a password does not: it is rare, and a server that only ever
/// hashed its administrator's password at first start should not hold on to the
/// memory while idle.
fn derive(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    reuse: bool,
) -> Result<(), HashError> {
    let needed = params.block_count();
    let mut run = |blocks: &mut [Block]| {
        argon2
            .hash_password_into_with_memory(password, salt, out, blocks)
            .map_err(|e| HashError::Hash(e.to_string()))
    };
    if !reuse {
        return run(&mut vec![Block::default(); needed]);
    }
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        run(&mut blocks[..needed])
    })
}

fn hash_now(params: Params, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut out = [0u8; 32];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    derive(&argon2, &params, password, &salt, &mut out, false)?;
    phc_string(&params, &salt, &out)
}

/// A well-formed hash that no password produces: random salt, random output.
fn decoy_hash(params: &Params) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    let mut out = [0u8; 32];
    rand::fill(&mut salt);
    rand::fill(&mut out);
    phc_string(params, &salt, &out)
}

fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, HashError> {
    let phc_error = |e: argon2::password_hash::phc::Error| HashError::Hash(e.to_string());
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| HashError::Hash(e.to_string()))?,
        salt: Some(Salt::new(salt).map_err(phc_error)?),
        hash: Some(Output::new(out).map_err(phc_error)?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a PHC string made by any Argon2 variant and cost.
fn verify_now(stored: &str, password: &[u8]) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = phc.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    if derive(&argon2, &params, password, salt.as_ref(), &mut out, true).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_interoperate_with_the_crate_defaults() {
        let params = Params::new(4096, 1, 1, None).unwrap();
        let hash = hash_now(params, b"hunter22 hunter22").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"), "{hash}");
        assert!(verify_now(&hash, b"hunter22 hunter22"));
        assert!(!verify_now(&hash, b"hunter23 hunter23"));
        assert!(!verify_now("not a hash", b"x"));
        let decoy = decoy_hash(&Params::new(4096, 1, 1, None).unwrap()).unwrap();
        assert!(decoy.starts_with("$argon2id$v=19$m=4096,t=1,p=1$"));
        assert!(!verify_now(&decoy, b""));

        // A hash made by the argon2 crate's own hasher verifies here, and ours there.
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let theirs = Argon2::default().hash_password(b"another password").unwrap().to_string();
        assert!(verify_now(&theirs, b"another password"));
        let ours = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"hunter22 hunter22", &ours).is_ok());
    }
}
