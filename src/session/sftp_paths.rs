//! Which file a path names on the device: the relay asks the device's own REALPATH (so
//! `..`, `//`, symbolic links and paths relative to the login directory come out as the
//! device sees them) and normalises the answer. A request that acts on a link itself
//! (REMOVE, RENAME, LSTAT) resolves the directory holding it and keeps the last name. An
//! answer the relay cannot read as one absolute path is [`Resolved::Unclear`]: refused.

use bytes::Bytes;

use super::sftp_wire::*;
use crate::policy::normalise_path;

/// What the device's REALPATH answer says the path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The file's absolute, normalised path.
    Path(String),
    /// The device refused the REALPATH (no such file, ...): the request would fail too.
    Device {
        /// Its STATUS code.
        code: u32,
        /// Its message.
        message: String,
    },
    /// An answer that names no one absolute path.
    Unclear(String),
}

/// The REALPATH query for `path`, and the last name to put back after it when the request
/// acts on a link itself (`follow` false).
pub fn query(path: &[u8], follow: bool) -> (Bytes, Option<Bytes>) {
    if path.is_empty() {
        return (Bytes::from_static(b"."), None);
    }
    let whole = (Bytes::copy_from_slice(path), None);
    if follow {
        return whole;
    }
    let Some(cut) = path.iter().rposition(|&b| b == b'/') else {
        return (Bytes::from_static(b"."), Some(Bytes::copy_from_slice(path)));
    };
    let last = &path[cut + 1..];
    if matches!(last, b"" | b"." | b"..") {
        return whole;
    }
    let parent = if cut == 0 { &path[..1] } else { &path[..cut] };
    (
        Bytes::copy_from_slice(parent),
        Some(Bytes::copy_from_slice(last)),
    )
}

/// Reads the device's answer to the query for a path whose last name is `last`.
pub fn resolved(answer: &Packet, last: Option<&[u8]>) -> Resolved {
    let unclear = |why: &str| Resolved::Unclear(why.to_string());
    let mut f = Fields::of(answer);
    let _id = f.u32();
    match answer.kind {
        SSH_FXP_STATUS => {
            let (Ok(code), Ok(message)) = (f.u32(), f.string()) else {
                return unclear("a truncated REALPATH status");
            };
            if code == 0 {
                return unclear("a REALPATH answered with no name");
            }
            Resolved::Device {
                code,
                message: String::from_utf8_lossy(&message).into_owned(),
            }
        }
        SSH_FXP_NAME => {
            let (Ok(1..), Ok(name)) = (f.u32(), f.string()) else {
                return unclear("a REALPATH answer without a name");
            };
            let (Ok(name), Ok(last)) = (
                std::str::from_utf8(&name),
                std::str::from_utf8(last.unwrap_or_default()),
            ) else {
                return unclear("a path that is not UTF-8");
            };
            let joined = if last.is_empty() {
                name.to_string()
            } else {
                format!("{name}/{last}")
            };
            match normalise_path(&joined) {
                Some(p) => Resolved::Path(p),
                None => Resolved::Unclear(format!("the device named it {joined:?}")),
            }
        }
        _ => unclear("an answer to REALPATH of another type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, body: &[u8]) -> Packet {
        let mut raw = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        raw.push(kind);
        raw.extend_from_slice(body);
        let mut f = Framer::default();
        f.push(&raw);
        f.next_packet().unwrap().unwrap()
    }

    fn name(path: &str) -> Packet {
        let mut body = 7u32.to_be_bytes().to_vec();
        body.extend_from_slice(&1u32.to_be_bytes());
        for s in [path.as_bytes(), path.as_bytes()] {
            body.extend_from_slice(&(s.len() as u32).to_be_bytes());
            body.extend_from_slice(s);
        }
        body.extend_from_slice(&[0; 4]);
        packet(SSH_FXP_NAME, &body)
    }

    #[test]
    fn a_link_itself_is_found_through_its_directory() {
        let q = |p: &str, follow| {
            let (a, b) = query(p.as_bytes(), follow);
            (a.to_vec(), b.map(|b| b.to_vec()))
        };
        assert_eq!(q("/flash/x", true), (b"/flash/x".to_vec(), None));
        assert_eq!(
            q("/flash/x", false),
            (b"/flash".to_vec(), Some(b"x".to_vec()))
        );
        assert_eq!(q("x", false), (b".".to_vec(), Some(b"x".to_vec())));
        assert_eq!(q("/x", false), (b"/".to_vec(), Some(b"x".to_vec())));
        assert_eq!(q("/a/..", false), (b"/a/..".to_vec(), None));
        assert_eq!(q("", true), (b".".to_vec(), None));
    }

    #[test]
    fn answers_become_one_normalised_path_or_a_refusal() {
        assert_eq!(
            resolved(&name("/home/u"), Some(b"f")),
            Resolved::Path("/home/u/f".into())
        );
        assert_eq!(
            resolved(&name("/"), Some(b"f")),
            Resolved::Path("/f".into())
        );
        assert!(matches!(resolved(&name("rel"), None), Resolved::Unclear(_)));
        let denied = status(7, 2, "No such file");
        let mut f = Framer::default();
        f.push(&denied);
        let p = f.next_packet().unwrap().unwrap();
        assert_eq!(
            resolved(&p, None),
            Resolved::Device {
                code: 2,
                message: "No such file".into()
            }
        );
        let empty = packet(SSH_FXP_NAME, &[0, 0, 0, 7, 0, 0, 0, 0]);
        assert!(matches!(resolved(&empty, None), Resolved::Unclear(_)));
    }
}
