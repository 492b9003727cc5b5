//! Device host key pinning: a pinned key wins, else the stored key, else trust on
//! first use (the key is stored and logged). A changed key refuses the connection. The
//! keys are kept by the store's [`HostKeys`](crate::store::HostKeys).

use russh::keys::{HashAlg, PublicKey};

use super::{ConnectError, HostKeys, Result, Target};

/// The `SHA256:...` fingerprint of an OpenSSH public key line, as `ssh-keygen -l`
/// prints it.
pub fn fingerprint(key_line: &str) -> Option<String> {
    PublicKey::from_openssh(key_line.trim())
        .ok()
        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
}

/// Decides whether `presented` is the right host key for `target`.
pub(crate) async fn verify(
    target: &Target,
    store: &dyn HostKeys,
    presented: &PublicKey,
) -> Result<()> {
    let got_fp = presented.fingerprint(HashAlg::Sha256).to_string();
    let (expected_line, source) = match &target.host_key {
        Some(pinned) => (pinned.clone(), "pinned"),
        None => {
            match store.get(&target.name).await.map_err(|e| {
                ConnectError::Protocol(format!("cannot read the stored host key: {e}"))
            })? {
                Some(stored) => (stored, "stored"),
                None => {
                    let line = presented.to_openssh().map_err(|e| {
                        ConnectError::Protocol(format!("cannot encode host key: {e}"))
                    })?;
                    tracing::warn!(
                        device = %target.name,
                        fingerprint = %got_fp,
                        "first connection to device: trusting and recording its host key"
                    );
                    if let Err(e) = store.put(&target.name, &line).await {
                        tracing::error!(device = %target.name, error = %e, "cannot store the learnt host key");
                    }
                    return Ok(());
                }
            }
        }
    };
    let expected =
        PublicKey::from_openssh(expected_line.trim()).map_err(|e| ConnectError::Config {
            device: target.name.clone(),
            reason: format!("{source} host key is not a valid OpenSSH public key: {e}"),
        })?;
    if expected.key_data() == presented.key_data() {
        tracing::debug!(device = %target.name, fingerprint = %got_fp, source, "host key matches");
        return Ok(());
    }
    let expected_fp = expected.fingerprint(HashAlg::Sha256).to_string();
    tracing::error!(
        device = %target.name,
        expected = %expected_fp,
        got = %got_fp,
        source,
        "HOST KEY CHANGED, refusing to connect"
    );
    Err(ConnectError::HostKeyChanged {
        device: target.name.clone(),
        expected_fingerprint: expected_fp,
        got_fingerprint: got_fp,
    })
}
