//! Argon2id password hashing, off the async executor and bounded in parallel.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OnceCell, Semaphore};

use crate::config::AuthConfig;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters are not valid: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed")]
    Join(#[from] tokio::task::JoinError),
    #[error("the hashing pool is closed")]
    Closed,
}

/// Hashes and verifies passwords with fixed Argon2id parameters.
///
/// Hashing is CPU- and memory-heavy, so it runs on the blocking pool, and at most
/// one job per core runs at once: a flood of logins queues instead of exhausting memory.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Hash of a random password, verified against when the user is unknown so
    /// that "no such user" takes as long as "wrong password".
    decoy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    pub fn new(config: &AuthConfig) -> Result<Self, HashError> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            decoy: Arc::default(),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=...`) for the password, with a random salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        let argon2 = self.argon2();
        self.blocking(move || {
            argon2
                .hash_password(password.expose_secret().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await?
    }

    /// Whether the password matches the stored hash; with no hash, spends the same
    /// time on a decoy and answers false.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let (stored, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.decoy().await?, false),
        };
        let argon2 = self.argon2();
        let matches = self
            .blocking(move || {
                PasswordHash::new(&stored).is_ok_and(|hash| {
                    argon2
                        .verify_password(password.expose_secret().as_bytes(), &hash)
                        .is_ok()
                })
            })
            .await?;
        Ok(real && matches)
    }

    async fn decoy(&self) -> Result<String, HashError> {
        self.decoy
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                rand::fill(&mut random);
                self.hash(SecretString::from(hex::encode(random))).await
            })
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed)?;
        Ok(tokio::task::spawn_blocking(job).await?)
    }
}
