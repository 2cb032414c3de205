//! An application that signs its end users' tokens, as the other side of
//! `[auth.end_users]`: ES256 keys (made with rcgen) published as a JWKS at `/jwks`,
//! tokens signed with whichever key is current, a rotation that publishes a new key,
//! and the number of times the JWKS was fetched.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const ISSUER: &str = "https://app.example.com";
pub const AUDIENCE: &str = "switchboard";

pub struct Signer {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

impl Signer {
    pub fn new(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate().unwrap();
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_string());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Signer {
            kid: kid.to_string(),
            key,
            jwk,
        }
    }

    /// `claims` signed with this key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.key).unwrap()
    }
}

#[derive(Default)]
struct State {
    published: Mutex<Vec<Jwk>>,
    fetches: AtomicUsize,
}

pub struct Issuer {
    pub jwks_url: String,
    state: Arc<State>,
    pub current: Mutex<Arc<Signer>>,
}

/// A token for `sub` that is good for an hour.
pub fn claims(sub: &str) -> Value {
    let now = switchboard::access::vkeys::now_secs();
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 3600 })
}

impl Issuer {
    pub async fn start() -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let first = Arc::new(Signer::new("k1"));
        state.published.lock().push(first.jwk.clone());
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |_req| {
                        let st = st.clone();
                        async move {
                            st.fetches.fetch_add(1, Ordering::SeqCst);
                            let set = JwkSet {
                                keys: st.published.lock().clone(),
                            };
                            Ok::<_, Infallible>(hyper::Response::new(
                                serde_json::to_string(&set).unwrap(),
                            ))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Issuer {
            jwks_url,
            state,
            current: Mutex::new(first),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.current.lock().sign(claims)
    }

    /// A new key, published beside the old one and used from now on.
    pub fn rotate(&self, kid: &str) {
        let next = Arc::new(Signer::new(kid));
        self.state.published.lock().push(next.jwk.clone());
        *self.current.lock() = next;
    }

    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }
}
