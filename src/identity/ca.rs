//! The bastion's own keys, kept in the data dir as standard OpenSSH key files:
//! `host_ca` (signs the bastion's and devices' host certificates), `user_ca` (the built-in
//! user CA behind `oobgate ca sign`), and `host_key` with `host_key-cert.pub`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::{Algorithm, Certificate, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::{IdentityError, Result};

/// How long a host certificate minted at start-up stays valid.
/// Clock-skew allowance: certificates are valid from a little before they are issued.
const BACKDATE: u64 = 300;

/// The keys and CAs of one bastion.
pub struct KeyStore {
    dir: PathBuf,
    /// Signs host certificates (the bastion's own and those minted per device).
    pub host_ca: PrivateKey,
    /// The built-in user CA.
    pub user_ca: PrivateKey,
    /// The bastion's host key.
    pub host_key: PrivateKey,
    /// The bastion's host certificate, signed by `host_ca`.
    pub host_cert: Certificate,
}

/// What `oobgate ca sign` is asked to issue.
#[derive(Debug, Clone)]
pub struct CertRequest {
    /// The admin's public key.
    pub public_key: PublicKey,
    /// Login names and `role:NAME` principals.
    pub principals: Vec<String>,
    /// Validity from now.
    pub ttl: Duration,
    /// Key id recorded in the certificate (shows in logs and audit).
    pub key_id: String,
    /// Optional `source-address` critical option (comma-separated CIDRs).
    pub source_address: Option<String>,
    /// Optional `force-command` critical option.
    pub force_command: Option<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn crypto(e: impl std::fmt::Display) -> IdentityError {
    IdentityError::Crypto(e.to_string())
}

/// Loads an OpenSSH private key file, or creates it (mode 0600, with its `.pub`).
fn load_or_generate(path: &Path, comment: &str) -> Result<PrivateKey> {
    if path.exists() {
        ensure_private(path)?;
        return PrivateKey::read_openssh_file(path).map_err(|e| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("not an unencrypted OpenSSH private key: {e}"),
        });
    }
    let mut key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).map_err(crypto)?;
    key.set_comment(comment);
    key.write_openssh_file(path, LineEnding::LF)
        .map_err(|e| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("cannot write key: {e}"),
        })?;
    set_mode(path, 0o600)?;
    let pub_path = pub_path(path);
    key.public_key()
        .write_openssh_file(&pub_path)
        .map_err(|e| IdentityError::KeyFile {
            path: pub_path.clone(),
            reason: format!("cannot write public key: {e}"),
        })?;
    Ok(key)
}

/// The private key files of a data directory (the CAs and the host key).
const PRIVATE_KEYS: [&str; 3] = ["host_ca", "user_ca", "host_key"];

/// Refuses a private key file that the group or others could read or write.
fn ensure_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "a private key readable by group or others (mode {mode:04o}); \
                 `chmod 600 {}` if it was not exposed, else replace it",
                path.display()
            ),
        });
    }
    Ok(())
}

/// Checks the private keys that exist in `data_dir` as `serve` would (`oobgate check`).
pub fn check_key_files(data_dir: &Path) -> Result<()> {
    for name in PRIVATE_KEYS {
        let path = data_dir.join(name);
        if path.exists() {
            ensure_private(&path)?;
        }
    }
    Ok(())
}

fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        IdentityError::KeyFile {
            path: path.to_path_buf(),
            reason: format!("cannot set permissions: {e}"),
        }
    })
}

impl KeyStore {
    /// Opens the keys in `data_dir`, creating the directory and any missing key on first
    /// start, and mints a fresh host certificate for `host_names` (empty: any name), valid
    /// for `validity`. Only the serving bastion writes it to disk ([`KeyStore::publish`]):
    /// `ca sign` and the other local commands leave the served one in place.
    pub fn open_or_create(
        data_dir: &Path,
        host_names: &[String],
        validity: Duration,
    ) -> Result<KeyStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| IdentityError::KeyFile {
            path: data_dir.to_path_buf(),
            reason: format!("cannot create data dir: {e}"),
        })?;
        set_mode(data_dir, 0o700)?;
        let host_ca = load_or_generate(&data_dir.join("host_ca"), "oobgate host CA")?;
        let user_ca = load_or_generate(&data_dir.join("user_ca"), "oobgate user CA")?;
        let host_key = load_or_generate(&data_dir.join("host_key"), "oobgate host key")?;
        let host_cert = mint_host_cert(
            &host_ca,
            host_key.public_key(),
            "oobgate",
            host_names,
            validity,
        )?;
        Ok(KeyStore {
            dir: data_dir.to_path_buf(),
            host_ca,
            user_ca,
            host_key,
            host_cert,
        })
    }

    /// The data dir holding the keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `known_hosts` line that makes OpenSSH trust every host certificate of this
    /// bastion (its own and the ones minted per device).
    pub fn known_hosts_line(&self) -> String {
        let key = self.host_ca.public_key().key_data().clone();
        let text = PublicKey::new(key, "oobgate-host-ca")
            .to_openssh()
            .unwrap_or_default();
        format!("@cert-authority * {text}")
    }

    /// Issues a user certificate from the built-in user CA.
    pub fn sign_user(&self, req: &CertRequest, max_ttl: Duration) -> Result<Certificate> {
        if req.principals.is_empty() {
            return Err(IdentityError::Request(
                "at least one principal (the login name) is required".into(),
            ));
        }
        if req.ttl > max_ttl {
            return Err(IdentityError::Request(format!(
                "ttl {} exceeds the maximum of {} (auth.max_cert_ttl)",
                humantime::format_duration(req.ttl),
                humantime::format_duration(max_ttl)
            )));
        }
        if req.ttl.is_zero() {
            return Err(IdentityError::Request("ttl must be more than 0s".into()));
        }
        let now = now_secs();
        let mut b = Builder::new_with_random_nonce(
            &mut rand::rng(),
            req.public_key.key_data().clone(),
            now.saturating_sub(BACKDATE),
            now + req.ttl.as_secs(),
        )
        .map_err(crypto)?;
        b.serial(rand::rng().random::<u64>() >> 1).map_err(crypto)?;
        b.cert_type(CertType::User).map_err(crypto)?;
        b.key_id(&req.key_id).map_err(crypto)?;
        for p in &req.principals {
            b.valid_principal(p).map_err(crypto)?;
        }
        if let Some(src) = &req.source_address {
            b.critical_option("source-address", src).map_err(crypto)?;
        }
        if let Some(cmd) = &req.force_command {
            b.critical_option("force-command", cmd).map_err(crypto)?;
        }
        b.extension("permit-port-forwarding", "").map_err(crypto)?;
        b.extension("permit-pty", "").map_err(crypto)?;
        b.sign(&self.user_ca).map_err(crypto)
    }

    /// Mints the certificate a node presents to another node when it relays `id`'s attach
    /// to a console that node carries: the same principals, serial and key id (so a
    /// revocation of the admin's certificate holds there too), its force-command, valid
    /// until the admin's certificate ends, with `relayed-by@oobgate` naming `node`. The
    /// relaying node checked `source-address` against the admin's real address.
    pub fn sign_relay(
        &self,
        public_key: &PublicKey,
        id: &super::Identity,
        node: &str,
    ) -> Result<Certificate> {
        let now = now_secs();
        // At most a day, for a certificate valid forever too.
        let until = id
            .valid_before
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(u64::MAX, |d| d.as_secs())
            .min(now + 86400);
        let mut b = Builder::new_with_random_nonce(
            &mut rand::rng(),
            public_key.key_data().clone(),
            now.saturating_sub(BACKDATE),
            until,
        )
        .map_err(crypto)?;
        b.serial(id.serial).map_err(crypto)?;
        b.cert_type(CertType::User).map_err(crypto)?;
        b.key_id(&id.key_id).map_err(crypto)?;
        b.valid_principal(&id.user).map_err(crypto)?;
        for role in &id.roles {
            b.valid_principal(role).map_err(crypto)?;
        }
        if let Some(cmd) = &id.force_command {
            b.critical_option("force-command", cmd).map_err(crypto)?;
        }
        if id.permit_pty {
            b.extension("permit-pty", "").map_err(crypto)?;
        }
        b.extension("relayed-by@oobgate", node).map_err(crypto)?;
        b.sign(&self.user_ca).map_err(crypto)
    }

    /// Mints a host certificate for `names` (device names for inner servers), valid for
    /// `validity` from now.
    pub fn mint_host_cert(&self, names: &[String], validity: Duration) -> Result<Certificate> {
        mint_host_cert(
            &self.host_ca,
            self.host_key.public_key(),
            "oobgate",
            names,
            validity,
        )
    }

    /// Writes `cert`, the host certificate the bastion serves, beside the host key, where
    /// `oobgate status` reads its expiry.
    pub fn publish(&self, cert: &Certificate) -> Result<()> {
        write_host_cert(&self.dir, cert)
    }

    /// Mints the bastion's own host certificate again (renewal) and publishes it.
    pub fn renew_host_cert(&self, names: &[String], validity: Duration) -> Result<Certificate> {
        let cert = self.mint_host_cert(names, validity)?;
        self.publish(&cert)?;
        Ok(cert)
    }

    /// SHA-256 fingerprint of the built-in user CA.
    pub fn user_ca_fingerprint(&self) -> String {
        self.user_ca.fingerprint(HashAlg::Sha256).to_string()
    }

    /// SHA-256 fingerprint of the host CA.
    pub fn host_ca_fingerprint(&self) -> String {
        self.host_ca.fingerprint(HashAlg::Sha256).to_string()
    }
}

fn write_host_cert(data_dir: &Path, cert: &Certificate) -> Result<()> {
    let path = data_dir.join("host_key-cert.pub");
    std::fs::write(&path, format!("{}\n", cert.to_openssh().map_err(crypto)?)).map_err(|e| {
        IdentityError::KeyFile {
            path,
            reason: format!("cannot write host certificate: {e}"),
        }
    })
}

fn mint_host_cert(
    ca: &PrivateKey,
    key: &PublicKey,
    key_id: &str,
    names: &[String],
    validity: Duration,
) -> Result<Certificate> {
    let now = now_secs();
    let mut b = Builder::new_with_random_nonce(
        &mut rand::rng(),
        key.key_data().clone(),
        now.saturating_sub(BACKDATE),
        now.saturating_add(validity.as_secs()),
    )
    .map_err(crypto)?;
    b.serial(rand::rng().random::<u64>() >> 1).map_err(crypto)?;
    b.cert_type(CertType::Host).map_err(crypto)?;
    b.key_id(key_id).map_err(crypto)?;
    if names.is_empty() {
        b.all_principals_valid().map_err(crypto)?;
    } else {
        for n in names {
            b.valid_principal(n).map_err(crypto)?;
        }
    }
    b.sign(ca).map_err(crypto)
}
