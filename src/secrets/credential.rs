//! `Credential`: what the bastion uses to log in to a device on the admin's behalf.
//!
//! Both stores produce it from a flat map of string fields (`username`, `password`,
//! `private_key`, `passphrase`, anything else goes to `extra`). It deliberately does not
//! implement `Serialize`, and its `Debug` shows only the username and `***`.

use std::collections::BTreeMap;

use super::error::{Result, SecretsError};
use super::secret::Secret;

/// Field holding the login name.
pub const FIELD_USERNAME: &str = "username";
/// Field holding the password.
pub const FIELD_PASSWORD: &str = "password";
/// Field holding an OpenSSH private key (PEM).
pub const FIELD_PRIVATE_KEY: &str = "private_key";
/// Field holding the private key's passphrase.
pub const FIELD_PASSPHRASE: &str = "passphrase";

/// A device credential. At least one of `password` and `private_key` is set.
#[derive(Clone, Debug, Default)]
pub struct Credential {
    /// Login name on the device; `None` means the device's configured default.
    pub username: Option<String>,
    /// Password for password or keyboard-interactive login.
    pub password: Option<Secret>,
    /// OpenSSH private key in PEM form (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub private_key: Option<Secret>,
    /// Passphrase of `private_key`, if it is encrypted.
    pub passphrase: Option<Secret>,
    /// Any other field of the secret (e.g. an enable password), by field name.
    pub extra: BTreeMap<String, Secret>,
}

impl Credential {
    /// Builds a credential from a secret's string fields.
    ///
    /// Empty strings count as absent. Fails with [`SecretsError::Malformed`] (naming the
    /// reference, never a value) when neither a password nor a private key is present.
    pub fn from_fields(reference: &str, fields: BTreeMap<String, String>) -> Result<Self> {
        let mut credential = Credential::default();
        for (name, value) in fields {
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                FIELD_USERNAME => credential.username = Some(value),
                FIELD_PASSWORD => credential.password = Some(Secret::new(value)),
                FIELD_PRIVATE_KEY => credential.private_key = Some(Secret::new(value)),
                FIELD_PASSPHRASE => credential.passphrase = Some(Secret::new(value)),
                _ => {
                    credential.extra.insert(name, Secret::new(value));
                }
            }
        }
        if credential.password.is_none() && credential.private_key.is_none() {
            return Err(SecretsError::Malformed {
                reference: reference.to_owned(),
                detail: format!(
                    "it has neither a `{FIELD_PASSWORD}` nor a `{FIELD_PRIVATE_KEY}` field"
                ),
            });
        }
        if let Some(key) = &credential.private_key {
            if !key.expose().trim_start().starts_with("-----BEGIN ") {
                return Err(SecretsError::Malformed {
                    reference: reference.to_owned(),
                    detail: format!("`{FIELD_PRIVATE_KEY}` is not a PEM private key"),
                });
            }
        }
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debug_shows_no_secret_value() {
        let credential = Credential::from_fields(
            "devices/sw1",
            fields(&[
                ("username", "admin"),
                ("password", "Sw1-p4ss!"),
                ("enable", "3nable-S3cret"),
            ]),
        )
        .unwrap();
        let shown = format!("{credential:?} {credential:#?}");
        assert!(shown.contains("admin"));
        assert!(!shown.contains("Sw1-p4ss!"), "{shown}");
        assert!(!shown.contains("3nable-S3cret"), "{shown}");
        assert_eq!(credential.password.unwrap().expose(), "Sw1-p4ss!");
        assert_eq!(credential.extra["enable"].expose(), "3nable-S3cret");
    }

    #[test]
    fn needs_password_or_key_and_never_echoes_values() {
        let err =
            Credential::from_fields("devices/sw1", fields(&[("username", "admin")])).unwrap_err();
        assert!(matches!(err, SecretsError::Malformed { .. }));
        assert!(err.to_string().contains("devices/sw1"), "{err}");

        let err = Credential::from_fields(
            "devices/sw2",
            fields(&[("private_key", "not-a-key-Zq9"), ("passphrase", "pp-Zq9")]),
        )
        .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("devices/sw2") && shown.contains("private_key"),
            "{shown}"
        );
        assert!(!shown.contains("Zq9"), "{shown}");
    }
}
