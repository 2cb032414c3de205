//! Passwords: Argon2id (RustCrypto's `argon2`, its default parameters — 19 MiB, two
//! passes, one lane, OWASP's minimum) in the PHC string format, hashed and checked off
//! the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;

/// Hashes at once: each takes 19 MiB and a core for ~40 ms, so as many as there are
/// cores — a burst of sign-ins waits its turn instead of taking the memory.
fn permits() -> &'static tokio::sync::Semaphore {
    static P: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    })
}

/// Whether `password` may be one: why not, if not.
pub fn acceptable(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN || password.len() > 1024 {
        return Err(format!("a password has {MIN_LEN} to 1024 characters"));
    }
    Ok(())
}

pub async fn hash(password: &str) -> Result<String, String> {
    acceptable(password)?;
    let _turn = permits().acquire().await.map_err(|e| e.to_string())?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| format!("hashing the password failed: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Whether `given` is the password `stored` hashes. Without a stored hash (no such
/// account, or one that signs in through SSO) a hash is still computed, so that the
/// answer takes as long either way.
pub async fn verify(given: &str, stored: Option<&str>) -> bool {
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$V4vWeCg4fE2Ixa9DNCm8Y0TZx1kYtV8yHf2K3jgd1nI";
    let (given, stored, real) = (
        given.to_string(),
        stored.unwrap_or(DECOY).to_string(),
        stored.is_some(),
    );
    if given.len() > 1024 {
        return false;
    }
    let Ok(_turn) = permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(given.as_bytes(), &parsed)
            .is_ok()
            && real
    })
    .await
    .unwrap_or(false)
}
