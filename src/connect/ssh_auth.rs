//! SSH user authentication with a [`DeviceCredential`]: public key, password and
//! keyboard-interactive (password prompts answered with the password), in that order,
//! trying only what the credential holds.

use std::sync::Arc;

use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::{decode_secret_key, HashAlg, PrivateKeyWithHashAlg};
use russh::MethodKind;

use super::ssh_handler::DeviceHandler;
use super::{ConnectError, DeviceCredential, Result, Target};

/// Most keyboard-interactive rounds answered before giving up.
const MAX_KBD_ROUNDS: usize = 4;

/// Logs in with whatever `cred` holds; `AuthFailed` lists the methods tried.
pub(crate) async fn authenticate(
    handle: &mut Handle<DeviceHandler>,
    target: &Target,
    cred: &DeviceCredential,
) -> Result<()> {
    let user = cred.username.as_str();
    if cred.private_key.is_none() && cred.password.is_none() {
        return Err(ConnectError::BadCredential {
            device: target.name.clone(),
            reason: "neither a password nor a private key".into(),
        });
    }
    let mut tried: Vec<String> = Vec::new();

    if let Some(pem) = &cred.private_key {
        let key = decode_secret_key(pem, cred.passphrase.as_deref()).map_err(|e| {
            ConnectError::BadCredential {
                device: target.name.clone(),
                reason: format!("private key cannot be read: {e}"),
            }
        })?;
        let hash = if key.algorithm().is_rsa() {
            match handle.best_supported_rsa_hash().await? {
                Some(hash) => hash,
                // No server-sig-algs: old servers only know SHA-1 `ssh-rsa`.
                None if target.legacy_algorithms => None,
                None => Some(HashAlg::Sha256),
            }
        } else {
            None
        };
        tried.push("publickey".into());
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        if handle.authenticate_publickey(user, key).await?.success() {
            return Ok(());
        }
    }

    if let Some(password) = &cred.password {
        tried.push("password".into());
        let offers_kbd = match handle.authenticate_password(user, password).await? {
            AuthResult::Success => return Ok(()),
            AuthResult::Failure {
                remaining_methods, ..
            } => remaining_methods.contains(&MethodKind::KeyboardInteractive),
        };
        if offers_kbd {
            tried.push("keyboard-interactive".into());
            if keyboard_interactive(handle, user, password).await? {
                return Ok(());
            }
        }
    }

    tracing::warn!(device = %target.name, user, methods = ?tried, "device login failed");
    Err(ConnectError::AuthFailed {
        device: target.name.clone(),
        methods_tried: tried,
    })
}

/// Answers keyboard-interactive prompts: hidden prompts and prompts mentioning a
/// password get the password, other visible prompts get the user name.
async fn keyboard_interactive(
    handle: &mut Handle<DeviceHandler>,
    user: &str,
    password: &str,
) -> Result<bool> {
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await?;
    for _ in 0..MAX_KBD_ROUNDS {
        match reply {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { .. } => return Ok(false),
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| {
                        let asks_password = p.prompt.to_ascii_lowercase().contains("password");
                        if asks_password || !p.echo {
                            password.to_owned()
                        } else {
                            user.to_owned()
                        }
                    })
                    .collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(false)
}
