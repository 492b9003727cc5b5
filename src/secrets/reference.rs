//! Secret references: how a device's `credential` names its secret.
//!
//! A reference is a KV v2 path relative to the configured mount (`devices/sw1`). The full
//! API form `<mount>/data/<path>` (`secret/data/devices/sw1`) is accepted too and maps to
//! the same mount and path; a leading `/v1/` or `/` is tolerated.

use super::error::{Result, SecretsError};

/// A validated reference, split into a KV v2 mount and a path inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvPath {
    /// The secrets engine mount, e.g. `secret`.
    pub mount: String,
    /// The path inside the mount, e.g. `devices/sw1`.
    pub path: String,
}

impl KvPath {
    /// Parses `reference` against the default `mount`.
    pub fn parse(reference: &str, mount: &str) -> Result<Self> {
        let invalid = |reason: &str| SecretsError::InvalidReference {
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = reference.trim();
        if trimmed != reference {
            return Err(invalid("it has leading or trailing whitespace"));
        }
        let rest = reference.strip_prefix("/v1/").unwrap_or(reference);
        let rest = rest.strip_prefix('/').unwrap_or(rest);
        let (mount, path) = match rest.split_once("/data/") {
            Some((head, tail)) if head == mount => (head, tail),
            _ => (mount, rest),
        };
        if path.is_empty() {
            return Err(invalid("it is empty"));
        }
        if path.ends_with('/') {
            return Err(invalid("it names a folder, not a secret"));
        }
        if path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(invalid("it has an empty, `.` or `..` segment"));
        }
        if path.chars().any(|c| c.is_control() || c == '?' || c == '#') {
            return Err(invalid("it contains a control character, `?` or `#`"));
        }
        Ok(Self {
            mount: mount.to_owned(),
            path: path.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(reference: &str) -> Result<(String, String)> {
        KvPath::parse(reference, "secret").map(|p| (p.mount, p.path))
    }

    #[test]
    fn relative_and_api_forms_agree() {
        let expected = ("secret".to_owned(), "devices/sw1".to_owned());
        assert_eq!(parse("devices/sw1").unwrap(), expected);
        assert_eq!(parse("secret/data/devices/sw1").unwrap(), expected);
        assert_eq!(parse("/v1/secret/data/devices/sw1").unwrap(), expected);
        // Another mount's API form is only a plain path under ours.
        assert_eq!(parse("kv/data/x").unwrap().1, "kv/data/x");
    }

    #[test]
    fn rejects_odd_references() {
        for bad in [
            "",
            " devices/sw1",
            "devices/",
            "devices//sw1",
            "../sw1",
            "a?b",
            "secret/data/",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, SecretsError::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }
}
