//! The local credential file: its permission check and its format.
//!
//! ```toml
//! [credentials."devices/sw1"]
//! username = "admin"
//! password = "..."
//!
//! [credentials."devices/srv12-bmc"]
//! username = "admin"
//! private_key = """
//! -----BEGIN OPENSSH PRIVATE KEY-----
//! ...
//! """
//! passphrase = "..."
//! ```
//!
//! Each table under `credentials` is keyed by the reference a device's `credential` names.
//! The file must be a regular file owned by the user the bastion runs as, with no
//! permission bits for group or others (0600 or stricter). Parse errors name a line and a
//! key but never quote the file, since the offending line may hold a password.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::credential::Credential;
use super::error::{Result, SecretsError};

/// The only top-level table.
const SECTION: &str = "credentials";

/// Refuses a file that others could read or that another user owns.
pub(crate) fn check_permissions(path: &Path, metadata: &Metadata) -> Result<()> {
    if !metadata.is_file() {
        return Err(SecretsError::Parse {
            path: path.to_owned(),
            detail: "not a regular file".to_owned(),
        });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretsError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let current = unsafe { libc::geteuid() };
    if metadata.uid() != current {
        return Err(SecretsError::WrongOwner {
            path: path.to_owned(),
            owner: metadata.uid(),
            current,
        });
    }
    Ok(())
}

/// Parses the file's text into credentials keyed by reference.
pub(crate) fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Credential>> {
    let invalid = |detail: String| SecretsError::Parse {
        path: path.to_owned(),
        detail,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| format!("line {}: ", line_of(text, span.start)))
            .unwrap_or_default();
        invalid(format!("{line}{}", e.message().trim()))
    })?;
    let mut credentials = BTreeMap::new();
    for (key, value) in table {
        if key != SECTION {
            return Err(invalid(format!(
                "unknown top-level key `{key}` (only [{SECTION}.\"REFERENCE\"] tables are allowed)"
            )));
        }
        let toml::Value::Table(entries) = value else {
            return Err(invalid(format!("`{SECTION}` must be a table")));
        };
        for (reference, entry) in entries {
            let toml::Value::Table(entry) = entry else {
                return Err(invalid(format!(
                    "{SECTION}.\"{reference}\" must be a table"
                )));
            };
            let mut fields = BTreeMap::new();
            for (field, value) in entry {
                let toml::Value::String(text) = value else {
                    return Err(invalid(format!(
                        "{SECTION}.\"{reference}\".{field} must be a string"
                    )));
                };
                fields.insert(field, text);
            }
            let credential =
                Credential::from_fields(&reference, fields).map_err(|e| invalid(e.to_string()))?;
            credentials.insert(reference, credential);
        }
    }
    Ok(credentials)
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_never_quote_the_file() {
        let path = Path::new("/etc/oobgate/credentials.toml");
        let cases = [
            "[credentials.\"devices/sw1\"]\npassword = \"Qx7-secret\n",
            "[credentials.\"devices/sw1\"]\npassword = 7777123\n",
            "[credentials.\"devices/sw1\"]\nusername = \"Qx7-secret\"\n",
            "password = \"Qx7-secret\"\n",
        ];
        for text in cases {
            let err = parse(path, text).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("credentials.toml"), "{shown}");
            assert!(
                !shown.contains("Qx7") && !shown.contains("7777123"),
                "{shown}"
            );
        }
    }

    #[test]
    fn parses_password_and_key_entries() {
        let text = r#"
[credentials."devices/sw1"]
username = "admin"
password = "pw1"

[credentials."devices/sw2"]
private_key = """
-----BEGIN OPENSSH PRIVATE KEY-----
AAAA
-----END OPENSSH PRIVATE KEY-----
"""
passphrase = "pp"
"#;
        let map = parse(Path::new("c.toml"), text).unwrap();
        assert_eq!(map["devices/sw1"].username.as_deref(), Some("admin"));
        assert_eq!(
            map["devices/sw1"].password.as_ref().unwrap().expose(),
            "pw1"
        );
        assert!(map["devices/sw2"].private_key.is_some());
        assert_eq!(
            map["devices/sw2"].passphrase.as_ref().unwrap().expose(),
            "pp"
        );
    }
}
