//! `Secret`: one sensitive string that never shows itself.
//!
//! It is zeroized when dropped, prints as `***` through both `Debug` and `Display`, and
//! implements neither `Serialize` nor `PartialEq` with plain strings, so it cannot end up
//! in a log line, a recording or a JSON answer by accident. The only way to the value is
//! [`Secret::expose`], which is easy to search for.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A sensitive string (password, private key, passphrase, token).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value; the `String` is moved, not copied.
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// The value itself. Call it only where the value goes to the device or to Vault.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret:#?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(secret.clone().expose(), "hunter2");
    }
}
