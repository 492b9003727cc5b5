//! The revocation list: a text file the operator edits, one entry per line:
//!
//! ```text
//! # lost laptop, INC-4711
//! serial 8412377310294
//! key-id alice@laptop-2026
//! ```
//!
//! It is re-read whenever its modification time or size changes, so revoking needs no
//! restart. A file that cannot be read or parsed makes every login fail (fail closed) until
//! it is fixed: a typo must never silently un-revoke a stolen certificate.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::{IdentityError, Result};

#[derive(Default)]
struct Entries {
    serials: HashSet<u64>,
    key_ids: HashSet<String>,
}

struct State {
    stamp: Option<(SystemTime, u64)>,
    entries: std::result::Result<Entries, String>,
}

/// Revoked certificate serials and key ids, reloaded on change.
pub struct RevocationList {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

/// Why a certificate is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Its serial is listed.
    Serial(u64),
    /// Its key id is listed.
    KeyId(String),
    /// The list itself is unusable; every certificate is refused.
    ListUnusable(String),
}

fn parse(path: &Path, text: &str) -> Result<Entries> {
    let mut e = Entries::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason: String| IdentityError::Revocation {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let (kind, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .ok_or_else(|| err(format!("expected `serial N` or `key-id ID`, got {line:?}")))?;
        match kind {
            "serial" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| err(format!("serial {value:?} is not a number")))?;
                e.serials.insert(n);
            }
            "key-id" => {
                e.key_ids.insert(value.to_string());
            }
            other => {
                return Err(err(format!(
                    "unknown entry kind {other:?} (expected `serial` or `key-id`)"
                )))
            }
        }
    }
    Ok(e)
}

impl RevocationList {
    /// A list backed by `path` (None: nothing is revoked). Fails if the file is unusable now.
    pub fn open(path: Option<PathBuf>) -> Result<RevocationList> {
        let list = RevocationList {
            path,
            state: Mutex::new(State {
                stamp: None,
                entries: Ok(Entries::default()),
            }),
        };
        if let Some(p) = &list.path {
            let text = std::fs::read_to_string(p).map_err(|e| IdentityError::Revocation {
                path: p.clone(),
                line: 0,
                reason: format!("cannot read: {e}"),
            })?;
            parse(p, &text)?;
        }
        list.reload_if_changed();
        Ok(list)
    }

    /// Re-reads the file if it changed since the last look; [`RevocationList::lookup`]
    /// then answers from it.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = std::fs::metadata(path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        if stamp.is_some() && stamp == st.stamp {
            return;
        }
        st.stamp = stamp;
        st.entries = match std::fs::read_to_string(path) {
            Ok(text) => parse(path, &text).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
        };
        match &st.entries {
            Ok(e) => tracing::info!(
                file = %path.display(),
                serials = e.serials.len(),
                key_ids = e.key_ids.len(),
                "revocation list loaded"
            ),
            Err(e) => {
                tracing::error!(error = %e, "revocation list unusable: refusing every login until fixed")
            }
        }
    }

    /// Whether a certificate with this serial and key id is revoked (or the list unusable).
    pub fn check(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        self.reload_if_changed();
        self.lookup(serial, key_id)
    }

    /// Like [`RevocationList::check`] without looking at the file again (a caller checking
    /// many certificates reloads once).
    pub fn lookup(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &st.entries {
            Err(e) => Some(Revoked::ListUnusable(e.clone())),
            Ok(e) if e.serials.contains(&serial) => Some(Revoked::Serial(serial)),
            Ok(e) if e.key_ids.contains(key_id) => Some(Revoked::KeyId(key_id.to_string())),
            Ok(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_reload() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("revoked");
        std::fs::write(&p, "# comment\nserial 42\nkey-id bob-laptop\n").unwrap();
        let l = RevocationList::open(Some(p.clone())).unwrap();
        assert_eq!(l.check(42, "x"), Some(Revoked::Serial(42)));
        assert_eq!(
            l.check(1, "bob-laptop"),
            Some(Revoked::KeyId("bob-laptop".into()))
        );
        assert_eq!(l.check(1, "alice"), None);
        std::fs::write(&p, "serial 42\nkey-id bob-laptop\nserial 1\n").unwrap();
        assert_eq!(l.check(1, "alice"), Some(Revoked::Serial(1)));
        std::fs::write(&p, "serial 42\nbogus line here\n").unwrap();
        match l.check(7, "carol") {
            Some(Revoked::ListUnusable(e)) => assert!(e.contains("line 2"), "{e}"),
            other => panic!("expected fail-closed, got {other:?}"),
        }
    }

    #[test]
    fn malformed_file_at_start_names_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("revoked");
        std::fs::write(&p, "serial abc\n").unwrap();
        let e = RevocationList::open(Some(p)).err().unwrap().to_string();
        assert!(e.contains("line 1") && e.contains("not a number"), "{e}");
    }
}
