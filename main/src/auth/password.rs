//! Argon2id password hashing. Slow on purpose (and about 19 MiB of memory each), so it runs off the async
//! runtime and through a [`HashGate`] that bounds how many run at once: anonymous callers can start one per
//! login attempt.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

/// Why a [`HashGate`] did not run the work.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Every slot stayed busy for the whole wait.
    #[error("too many password checks at once; try again in a moment")]
    Busy,
    /// The blocking task died (a panic in the hasher).
    #[error("password hashing task failed: {0}")]
    Failed(#[from] tokio::task::JoinError),
}

/// A global bound on concurrent password hashes: at most `max` run at once on blocking threads; a caller
/// waits up to `wait` for a slot, then gets [`GateError::Busy`] instead of queueing work without bound.
#[derive(Debug)]
pub struct HashGate {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashGate {
    /// A gate allowing `max` (at least 1) hashes at once, callers waiting up to `wait` for a slot.
    pub fn new(max: usize, wait: Duration) -> HashGate {
        HashGate {
            slots: Arc::new(Semaphore::new(max.max(1))),
            wait,
        }
    }

    /// Runs `work` on a blocking thread once a slot is free; the slot is held until it returns.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GateError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| GateError::Busy)?
            .map_err(|_| GateError::Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await?;
        Ok(out)
    }

    /// Slots free right now (for status and tests).
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// Hashes a password into a PHC string (algorithm, parameters and salt included).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    vibebridge_tunnel::keys::fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a PHC string. A malformed hash verifies as false.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when the user does not exist, so a failed login
/// takes as long for unknown users as for known ones.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&vibebridge_tunnel::keys::random_hex(16)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the gate runs no more than its bound at once and answers Busy after the wait instead of
    /// queueing, and that a freed slot is used again.
    #[tokio::test]
    async fn gate_bounds_concurrent_hashes() {
        let gate = Arc::new(HashGate::new(1, Duration::from_millis(50)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        let first = tokio::spawn(async move { g.run(move || held.recv().is_ok()).await });
        while gate.available() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.run(|| 1).await, Err(GateError::Busy)));
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert_eq!(gate.run(|| 2).await.unwrap(), 2);
    }

    /// Proves a hash verifies its password only, and garbage hashes never verify.
    #[test]
    fn hash_and_verify() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong", &h));
        assert!(!super::verify("correct horse", "not-a-hash"));
    }
}
