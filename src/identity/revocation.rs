//! The revocation list: a text file the operator edits, one entry per line:
//!
//! ```text
//! # lost laptop, INC-4711
//! serial 8412377310294
//! key-id alice@laptop-2026
//! ```
//!
//! It is re-read whenever its modification time or size changes, so revoking needs no
//! restart. A file that cannot be read or parsed makes every new login fail (fail closed)
//! until it is fixed: a typo must never silently un-revoke a stolen certificate. Live
//! sessions are judged by the last list that could be read, as OpenSSH's `RevokedKeys`
//! would: a half-written or mistyped file throws nobody off a console; once it is fixed,
//! the certificates it revokes are cut. Every change of state (loaded, unusable, fixed) is
//! reported once through [`RevocationList::take_news`], for the audit log and the webhook.
//!
//! Several nodes on one shared store also share what their lists revoke: entries another
//! node published are added with [`RevocationList::add_shared`] and revoke here too, for as
//! long as this process runs (the store keeps them for the next start).

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
    /// The last list that could be read.
    good: Entries,
    /// Why the file as it is now cannot be used, if it cannot.
    problem: Option<String>,
    news: Vec<ListNews>,
}

/// A change of the list's state, to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListNews {
    /// The file was read: so many serials and key ids are revoked.
    Loaded {
        /// Revoked serials.
        serials: usize,
        /// Revoked key ids.
        key_ids: usize,
        /// The file had been unusable before this read.
        fixed: bool,
    },
    /// The file cannot be used; new logins are refused until it is fixed.
    Unusable(String),
}

/// Revoked certificate serials and key ids, reloaded on change.
pub struct RevocationList {
    path: Option<PathBuf>,
    state: Mutex<State>,
    /// Entries revoked by other nodes' lists.
    shared: Mutex<Entries>,
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
            shared: Mutex::new(Entries::default()),
            state: Mutex::new(State {
                stamp: None,
                good: Entries::default(),
                problem: None,
                news: Vec::new(),
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
        list.take_news();
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
        let read = match std::fs::read_to_string(path) {
            Ok(text) => parse(path, &text).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
        };
        match read {
            Ok(entries) => {
                tracing::info!(
                    file = %path.display(),
                    serials = entries.serials.len(),
                    key_ids = entries.key_ids.len(),
                    "revocation list loaded"
                );
                let news = ListNews::Loaded {
                    serials: entries.serials.len(),
                    key_ids: entries.key_ids.len(),
                    fixed: st.problem.take().is_some(),
                };
                st.good = entries;
                st.news.push(news);
            }
            Err(e) => {
                tracing::error!(error = %e, "revocation list unusable: refusing new logins until it is fixed; live sessions stay under the last good list");
                if st.problem.as_ref() != Some(&e) {
                    st.news.push(ListNews::Unusable(e.clone()));
                }
                st.problem = Some(e);
            }
        }
    }

    /// Re-reads the file now, changed or not; `Err` says why it is unusable (the last
    /// good list then stays in force for live sessions, and new logins are refused).
    pub fn reload(&self) -> std::result::Result<(), String> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stamp = None;
        self.reload_if_changed();
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.problem.clone().map_or(Ok(()), Err)
    }

    /// The changes of state since the last call, oldest first.
    pub fn take_news(&self) -> Vec<ListNews> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut st.news)
    }

    /// Whether a certificate with this serial and key id is revoked (or the list unusable).
    pub fn check(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        self.reload_if_changed();
        self.lookup(serial, key_id)
    }

    /// Like [`RevocationList::check`] without looking at the file again.
    pub fn lookup(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &st.problem {
            return Some(Revoked::ListUnusable(e.clone()));
        }
        listed(&st.good, serial, key_id).or_else(|| self.listed_shared(serial, key_id))
    }

    /// Whether the last list that could be read revokes this certificate: the check for
    /// live sessions, which an unusable file does not end.
    pub fn lookup_last_good(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        listed(&st.good, serial, key_id).or_else(|| self.listed_shared(serial, key_id))
    }

    fn listed_shared(&self, serial: u64, key_id: &str) -> Option<Revoked> {
        listed(
            &self.shared.lock().unwrap_or_else(|e| e.into_inner()),
            serial,
            key_id,
        )
    }

    /// Adds entries revoked by other nodes; returns whether any was new here.
    pub fn add_shared(&self, serials: &[u64], key_ids: &[String]) -> bool {
        let mut sh = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = false;
        for s in serials {
            new |= sh.serials.insert(*s);
        }
        for k in key_ids {
            new |= sh.key_ids.insert(k.clone());
        }
        new
    }

    /// The serials and key ids the last good read of the file revokes (to share them).
    pub fn entries(&self) -> (Vec<u64>, Vec<String>) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut serials: Vec<u64> = st.good.serials.iter().copied().collect();
        let mut key_ids: Vec<String> = st.good.key_ids.iter().cloned().collect();
        serials.sort_unstable();
        key_ids.sort();
        (serials, key_ids)
    }
}

fn listed(e: &Entries, serial: u64, key_id: &str) -> Option<Revoked> {
    if e.serials.contains(&serial) {
        Some(Revoked::Serial(serial))
    } else if e.key_ids.contains(key_id) {
        Some(Revoked::KeyId(key_id.to_string()))
    } else {
        None
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
        // Live sessions are judged by the last good list meanwhile.
        assert_eq!(l.lookup_last_good(7, "carol"), None);
        assert_eq!(l.lookup_last_good(1, "x"), Some(Revoked::Serial(1)));
        std::fs::write(&p, "serial 42\nkey-id carol\n").unwrap();
        assert_eq!(l.check(7, "carol"), Some(Revoked::KeyId("carol".into())));
        let news = l.take_news();
        assert!(
            matches!(
                news.as_slice(),
                [
                    ..,
                    ListNews::Unusable(_),
                    ListNews::Loaded { fixed: true, .. }
                ]
            ),
            "{news:?}"
        );
        assert!(l.take_news().is_empty());
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
