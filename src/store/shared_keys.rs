//! The keys every node of a set must hold (the host and user CA keys): the first node to
//! start shares their fingerprints on the store, and a node holding another key is refused
//! at start and by `oobgate check`, with a message naming the key. A node with another host
//! CA would present host certificates the admins' `known_hosts` rejects; one with another
//! user CA would admit certificates the other nodes refuse.

use super::{NodeLeases, Result, StoreError};

/// Compares this node's `keys` (name, SHA-256 fingerprint) with the node set's, keeping
/// them as the set's where none is kept yet when `share` (a serving node; `check` only
/// reads). One line per key for a report; the first key that differs is the error.
pub async fn agree_keys(
    leases: &dyn NodeLeases,
    keys: &[(&str, String)],
    share: bool,
) -> Result<Vec<String>> {
    let mut report = Vec::new();
    for (name, mine) in keys {
        let offer = share.then_some(mine.as_str());
        match leases.shared_key(name, offer).await? {
            Some(set) if set.fingerprint != *mine => {
                return Err(StoreError::KeyDiffers {
                    name: name.to_string(),
                    mine: mine.clone(),
                    theirs: set.fingerprint,
                    node: set.node,
                })
            }
            Some(set) => report.push(format!(
                "{name} {mine}: the node set's (first shared by {})",
                set.node
            )),
            None => report.push(format!(
                "{name} {mine}: not shared yet (the first node to serve shares its own)"
            )),
        }
    }
    Ok(report)
}
