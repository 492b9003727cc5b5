//! The web console's TLS: the configured PEM certificate and key, or a self-signed pair
//! (rcgen) made once and kept in the data dir (`web-tls/`, key mode 0600), so its
//! fingerprint, which `oobgate check` prints, stays the same across restarts.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::{Result, WebError};
use crate::config::WebConfig;

/// The data dir's folder for the self-signed pair.
pub const TLS_DIR: &str = "web-tls";

fn tls_err(path: &Path, e: impl std::fmt::Display) -> WebError {
    WebError::Tls(format!("{}: {e}", path.display()))
}

/// The certificate and key files in use: configured, or the self-signed pair's place.
fn files(web: &WebConfig, data_dir: &Path) -> (PathBuf, PathBuf, bool) {
    match &web.tls {
        Some((c, k)) => (c.clone(), k.clone(), false),
        None => {
            let dir = data_dir.join(TLS_DIR);
            (dir.join("cert.pem"), dir.join("key.pem"), true)
        }
    }
}

/// Makes the self-signed pair for the listen address (and `localhost`).
fn make_self_signed(web: &WebConfig, cert: &Path, key: &Path) -> Result<()> {
    let mut names = vec!["localhost".to_string(), web.listen.ip().to_string()];
    if let Some(host) = url::Url::parse(&web.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    {
        names.push(host.trim_matches(['[', ']']).to_string());
    }
    names.dedup();
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| tls_err(cert, e))?;
    let dir = cert.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| tls_err(dir, e))?;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(key)
        .map_err(|e| tls_err(key, e))?;
    std::io::Write::write_all(&mut f, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| tls_err(key, e))?;
    std::fs::write(cert, made.cert.pem()).map_err(|e| tls_err(cert, e))?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for the web console");
    Ok(())
}

fn chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err(cert, e))?;
    if certs.is_empty() {
        return Err(tls_err(cert, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The rustls server configuration for `web` (making the self-signed pair if needed).
pub(super) fn server_config(web: &WebConfig, data_dir: &Path) -> Result<RustlsConfig> {
    let (cert, key, self_signed) = files(web, data_dir);
    if self_signed && !(cert.exists() && key.exists()) {
        make_self_signed(web, &cert, &key)?;
    }
    let certs = chain(&cert)?;
    let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| tls_err(&key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| WebError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| tls_err(&cert, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// The SHA-256 fingerprint of the certificate the console presents (`AB:CD:...`), or
/// `None` when the self-signed one is not made yet (it is at the first `serve`).
pub fn certificate_fingerprint(web: &WebConfig, data_dir: &Path) -> Result<Option<String>> {
    let (cert, _, self_signed) = files(web, data_dir);
    if self_signed && !cert.exists() {
        return Ok(None);
    }
    let leaf = chain(&cert)?.remove(0);
    let hex: Vec<String> = Sha256::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    Ok(Some(hex.join(":")))
}
