//! Credentials at rest: sealed with XChaCha20-Poly1305 (the `chacha20poly1305` crate;
//! a random 192-bit nonce per seal, so nonces never repeat in practice) under a 32-byte
//! master key, and tagged with the key's id so a rotation can tell old seals from new.
//! The provider's name is the associated data: a sealed key moved to another provider's
//! row does not open. A leaf: the config checks master keys with it, the registry
//! seals and opens with it.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// A master key: 32 bytes as 64 hex digits, or base64 (standard or URL-safe).
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(t).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
            .ok()?
    };
    bytes.try_into().ok()
}

/// One usable master key.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    /// First 8 hex digits of the key's SHA-256: says which key sealed a blob.
    pub id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn from_text(text: &str) -> Option<MasterKey> {
        let key = decode_key(text)?;
        let id = hex::encode(&Sha256::digest(key)[..4]);
        Some(MasterKey { key, id })
    }

    /// `plaintext` sealed for `owner`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let nonce: [u8; 24] = rand::random();
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length this gateway handles");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what `seal` made for `owner`; `None` when it was sealed under another key,
    /// for another owner, or altered.
    pub fn open(&self, owner: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(24);
        XChaCha20Poly1305::new((&self.key).into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_open_only_with_their_key_and_owner() {
        let k = MasterKey::from_text(K1).unwrap();
        let other =
            MasterKey::from_text(&base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
                .unwrap();
        let s = k.seal("acme", b"sk-secret-1234");
        assert!(!s.windows(6).any(|w| w == b"secret"));
        assert_eq!(k.open("acme", &s).unwrap(), b"sk-secret-1234");
        assert!(k.open("other", &s).is_none());
        assert!(other.open("acme", &s).is_none());
        let mut bent = s.clone();
        *bent.last_mut().unwrap() ^= 1;
        assert!(k.open("acme", &bent).is_none());
        assert_ne!(k.seal("acme", b"x"), k.seal("acme", b"x"));
        assert_ne!(k.id, other.id);
    }

    #[test]
    fn keys_are_32_bytes() {
        assert!(decode_key(K1).is_some());
        assert!(decode_key("short").is_none());
        assert!(decode_key(&"ab".repeat(31)).is_none());
    }
}
