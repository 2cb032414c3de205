//! Optional TLS for the API listener, from PEM files named in config.

use std::sync::Arc;

use crate::config::TlsFiles;

pub fn acceptor(files: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let cert_pem = std::fs::read(&files.cert).map_err(|e| {
        anyhow::anyhow!("cannot read TLS certificate {}: {e}", files.cert.display())
    })?;
    let key_pem = std::fs::read(&files.key)
        .map_err(|e| anyhow::anyhow!("cannot read TLS key {}: {e}", files.key.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())?
        .ok_or_else(|| anyhow::anyhow!("no private key in {}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
