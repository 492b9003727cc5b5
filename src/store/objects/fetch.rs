//! Reading a shipped recording back from the bucket: the parts its manifest lists, checked
//! against the manifest's sizes and SHA-256; without a manifest (a session still running
//! on another node, or one whose node was lost) the parts shipped so far, in order, up to
//! the first gap.

use futures::TryStreamExt;
use object_store::{path::Path as Key, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::manifest::Manifest;
use super::Keys;
use crate::store::{Result, StoreError};

/// What the bucket holds of one recording.
pub(super) enum Shipped {
    /// Sealed: the whole recording, checked against its manifest.
    Sealed(Manifest, Vec<u8>),
    /// Not sealed: the contiguous prefix shipped so far (may be empty).
    Prefix(Vec<u8>),
}

pub(super) fn failed(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("object store: {what}: {e}")))
}

/// The manifest of a sealed recording, if there is one.
pub(super) async fn manifest(s3: &dyn ObjectStore, keys: &Keys) -> Result<Option<Manifest>> {
    let key = keys.manifest();
    match s3.get(&key).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(|e| failed(key.as_ref(), e))?;
            Manifest::parse(&bytes)
                .map(Some)
                .map_err(|e| failed(key.as_ref(), e))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed(key.as_ref(), e)),
    }
}

/// The parts under the recording's part folder: (offset, size), in offset order.
pub(super) async fn parts(s3: &dyn ObjectStore, keys: &Keys) -> Result<Vec<(u64, u64)>> {
    let dir = keys.parts_dir();
    let listed: Vec<_> = s3
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(|e| failed(dir.as_ref(), e))?;
    let mut parts: Vec<(u64, u64)> = listed
        .iter()
        .filter_map(|m| {
            let offset = m.location.filename()?.parse().ok()?;
            Some((offset, m.size))
        })
        .collect();
    parts.sort_unstable();
    Ok(parts)
}

async fn get(s3: &dyn ObjectStore, key: &Key) -> Result<bytes::Bytes> {
    let r = s3.get(key).await.map_err(|e| failed(key.as_ref(), e))?;
    r.bytes().await.map_err(|e| failed(key.as_ref(), e))
}

/// Reads what the bucket holds of the recording; `None` when it holds nothing of it.
pub(super) async fn read(s3: &dyn ObjectStore, keys: &Keys) -> Result<Option<Shipped>> {
    if let Some(m) = manifest(s3, keys).await? {
        let mut whole = Vec::with_capacity(m.size as usize);
        let mut hash = Sha256::new();
        for (offset, size) in &m.parts {
            let bytes = get(s3, &keys.part(*offset)).await?;
            if *offset != whole.len() as u64 || bytes.len() as u64 != *size {
                return Err(failed(
                    keys.manifest().as_ref(),
                    format!("part at {offset} does not match the manifest"),
                ));
            }
            hash.update(&bytes);
            whole.extend_from_slice(&bytes);
        }
        if hex::encode(hash.finalize()) != m.sha256 || whole.len() as u64 != m.size {
            return Err(failed(
                keys.manifest().as_ref(),
                "the parts do not have the sealed SHA-256",
            ));
        }
        return Ok(Some(Shipped::Sealed(m, whole)));
    }
    let parts = parts(s3, keys).await?;
    if parts.is_empty() {
        return Ok(None);
    }
    let mut prefix = Vec::new();
    for (offset, _) in parts {
        if offset < prefix.len() as u64 {
            continue; // left by an earlier attempt, covered by the part read before it
        }
        if offset > prefix.len() as u64 {
            break; // a gap (a part still on its way): what follows it is not readable yet
        }
        prefix.extend_from_slice(&get(s3, &keys.part(offset)).await?);
    }
    Ok(Some(Shipped::Prefix(prefix)))
}
