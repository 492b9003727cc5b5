//! The manifest that seals a shipped recording: its size, its SHA-256 (the value the audit
//! chain holds) and the parts that make it up, in order.

use serde::{Deserialize, Serialize};

/// A sealed recording in the bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The session id.
    pub id: String,
    /// The recording's size in bytes.
    pub size: u64,
    /// SHA-256 of the whole recording, hex.
    pub sha256: String,
    /// (offset, size) of each part, in offset order, without gaps.
    pub parts: Vec<(u64, u64)>,
    /// The node that sealed it.
    pub node: String,
}

impl Manifest {
    /// Parses a manifest; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let mut at = 0;
        for (offset, size) in &m.parts {
            if *offset != at {
                return Err(format!("part at {offset} where {at} was expected"));
            }
            at += size;
        }
        if at != m.size {
            return Err(format!("parts add up to {at} bytes, not {}", m.size));
        }
        Ok(m)
    }

    /// The manifest as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_with_a_gap_or_a_wrong_size_is_refused() {
        let m = Manifest {
            id: "2026-12-03/ab".into(),
            size: 30,
            sha256: "00".into(),
            parts: vec![(0, 10), (10, 20)],
            node: "a".into(),
        };
        assert_eq!(Manifest::parse(&m.to_bytes()).unwrap(), m);
        let gap = Manifest {
            parts: vec![(0, 10), (12, 18)],
            ..m.clone()
        };
        assert!(Manifest::parse(&gap.to_bytes())
            .unwrap_err()
            .contains("at 12"));
        let short = Manifest { size: 31, ..m };
        assert!(Manifest::parse(&short.to_bytes())
            .unwrap_err()
            .contains("31"));
        assert!(Manifest::parse(b"{").is_err());
    }
}
