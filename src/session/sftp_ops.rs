//! What each SFTP request from the client asks of the device's files, so that every path
//! it names is checked before it is relayed: OPEN (for reading `file.download`, for any
//! writing `file.upload`, both for both), the changes (SETSTAT, REMOVE, MKDIR, RMDIR,
//! RENAME, SYMLINK and their OpenSSH extensions: `file.upload`), the looks into folders
//! and links (OPENDIR, READLINK, statvfs: either action), and FSETSTAT on an open file
//! (`file.upload` on its path). An extension the bastion does not know is refused, never
//! passed blind. STAT and LSTAT (attributes only) pass.

use bytes::Bytes;

use super::sftp_audit::Dir;
use super::sftp_wire::*;

/// What a path must be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `file.upload`.
    Upload,
    /// `file.download`.
    Download,
    /// Both (a file opened for reading and writing, a file renamed away).
    Both,
    /// Either (looking at names and attributes).
    Either,
}

/// One path of a request, to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// As the client wrote it (relative to the login directory, or absolute).
    pub path: Bytes,
    /// Whether the request follows a symbolic link at the end of the path (OPEN, STAT)
    /// or acts on the link itself (REMOVE, RENAME, LSTAT).
    pub follow: bool,
    /// What the path needs.
    pub need: Need,
}

/// What a client request is, for the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Names no path (READ, WRITE, CLOSE, REALPATH, ...): the tracker follows it.
    Other,
    /// Names paths, each to be allowed before the request is relayed.
    Paths {
        /// The request id.
        id: u32,
        /// `open`, `remove`, `rename`, ... for the audit.
        name: &'static str,
        /// The paths.
        checks: Vec<Check>,
        /// For OPEN: which way the file moves.
        open: Option<Dir>,
    },
    /// Changes an open file (FSETSTAT): its path needs `file.upload`.
    Handle {
        /// The request id.
        id: u32,
        /// The handle.
        handle: Bytes,
    },
    /// A request the bastion does not relay (an unknown extension or type).
    Unsupported {
        /// The request id.
        id: u32,
        /// What it is, for the client.
        what: String,
    },
}

fn check(path: Bytes, follow: bool, need: Need) -> Check {
    Check { path, follow, need }
}

/// Classifies one client packet.
pub fn classify(p: &Packet) -> Result<Op, WireError> {
    let mut f = Fields::of(p);
    let one = |name, follow, need, f: &mut Fields| -> Result<Op, WireError> {
        let id = f.u32()?;
        let checks = vec![check(f.string()?, follow, need)];
        Ok(Op::Paths {
            id,
            name,
            checks,
            open: None,
        })
    };
    match p.kind {
        SSH_FXP_OPEN => {
            let id = f.u32()?;
            let path = f.string()?;
            let flags = f.u32()?;
            let writes = flags & (SSH_FXF_WRITE | SSH_FXF_APPEND | SSH_FXF_CREAT | SSH_FXF_TRUNC);
            let (need, dir) = match (writes != 0, flags & SSH_FXF_READ != 0) {
                (true, true) => (Need::Both, Dir::Upload),
                (true, false) => (Need::Upload, Dir::Upload),
                (false, _) => (Need::Download, Dir::Download),
            };
            Ok(Op::Paths {
                id,
                name: "open",
                checks: vec![check(path, true, need)],
                open: Some(dir),
            })
        }
        // STAT and LSTAT show a file's size, mode and times, never its contents (and
        // REALPATH already tells what exists): they pass, so a refused `get` reads
        // "Permission denied" at its OPEN, not sftp's "not found" from a refused look.
        SSH_FXP_OPENDIR => one("opendir", true, Need::Either, &mut f),
        SSH_FXP_READLINK => one("readlink", false, Need::Either, &mut f),
        SSH_FXP_SETSTAT => one("setstat", true, Need::Upload, &mut f),
        SSH_FXP_REMOVE => one("remove", false, Need::Upload, &mut f),
        SSH_FXP_MKDIR => one("mkdir", false, Need::Upload, &mut f),
        SSH_FXP_RMDIR => one("rmdir", false, Need::Upload, &mut f),
        SSH_FXP_RENAME => two(f.u32()?, "rename", Need::Both, &mut f),
        SSH_FXP_SYMLINK => two(f.u32()?, "symlink", Need::Upload, &mut f),
        SSH_FXP_FSETSTAT => {
            let id = f.u32()?;
            Ok(Op::Handle {
                id,
                handle: f.string()?,
            })
        }
        SSH_FXP_EXTENDED => extended(&mut f),
        SSH_FXP_INIT | SSH_FXP_CLOSE | SSH_FXP_READ | SSH_FXP_WRITE | SSH_FXP_LSTAT
        | SSH_FXP_FSTAT | SSH_FXP_READDIR | SSH_FXP_REALPATH | SSH_FXP_STAT => Ok(Op::Other),
        // Requests of later SFTP versions, answers sent as requests: never passed blind.
        kind => Ok(Op::Unsupported {
            id: f.u32()?,
            what: format!("SFTP request type {kind}"),
        }),
    }
}

/// A request naming two paths, both acted on themselves: the first needs `first`, the
/// second `file.upload` (it is created or replaced).
fn two(id: u32, name: &'static str, first: Need, f: &mut Fields) -> Result<Op, WireError> {
    let a = f.string()?;
    let b = f.string()?;
    Ok(Op::Paths {
        id,
        name,
        checks: vec![check(a, false, first), check(b, false, Need::Upload)],
        open: None,
    })
}

/// The extensions OpenSSH's sftp-server offers.
fn extended(f: &mut Fields) -> Result<Op, WireError> {
    let id = f.u32()?;
    let name = f.string()?;
    let name = String::from_utf8_lossy(&name).into_owned();
    match name.as_str() {
        "posix-rename@openssh.com" => two(id, "rename", Need::Both, f),
        "hardlink@openssh.com" => two(id, "hardlink", Need::Both, f),
        "lsetstat@openssh.com" => Ok(Op::Paths {
            id,
            name: "setstat",
            checks: vec![check(f.string()?, false, Need::Upload)],
            open: None,
        }),
        "statvfs@openssh.com" => Ok(Op::Paths {
            id,
            name: "statvfs",
            checks: vec![check(f.string()?, true, Need::Either)],
            open: None,
        }),
        "fstatvfs@openssh.com"
        | "fsync@openssh.com"
        | "limits@openssh.com"
        | "expand-path@openssh.com"
        | "home-directory"
        | "users-groups-by-id@openssh.com" => Ok(Op::Other),
        _ => Ok(Op::Unsupported {
            id,
            what: format!("the {name} extension"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> Vec<u8> {
        let mut out = (v.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(v);
        out
    }

    fn packet(kind: u8, fields: &[&[u8]]) -> Packet {
        let mut body = vec![kind];
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut raw = (body.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(&body);
        let mut framer = Framer::default();
        framer.push(&raw);
        framer.next_packet().unwrap().unwrap()
    }

    fn needs(op: Op) -> Vec<(Vec<u8>, bool, Need)> {
        match op {
            Op::Paths { checks, .. } => checks
                .into_iter()
                .map(|c| (c.path.to_vec(), c.follow, c.need))
                .collect(),
            other => panic!("not a path op: {other:?}"),
        }
    }

    #[test]
    fn opens_need_the_actions_of_their_flags() {
        let open = |flags: u32| {
            let p = packet(
                SSH_FXP_OPEN,
                &[
                    &1u32.to_be_bytes(),
                    &s(b"/f"),
                    &flags.to_be_bytes(),
                    &[0; 4],
                ],
            );
            needs(classify(&p).unwrap())[0].2
        };
        assert_eq!(open(SSH_FXF_READ), Need::Download);
        assert_eq!(open(SSH_FXF_WRITE | SSH_FXF_CREAT), Need::Upload);
        assert_eq!(open(SSH_FXF_CREAT | SSH_FXF_TRUNC), Need::Upload);
        assert_eq!(open(SSH_FXF_READ | SSH_FXF_WRITE), Need::Both);
    }

    #[test]
    fn changes_need_upload_on_every_path_they_name() {
        let id = 5u32.to_be_bytes();
        let rm = packet(SSH_FXP_REMOVE, &[&id, &s(b"a")]);
        assert_eq!(
            needs(classify(&rm).unwrap()),
            vec![(b"a".to_vec(), false, Need::Upload)]
        );
        let mv = packet(SSH_FXP_RENAME, &[&id, &s(b"/x"), &s(b"/y")]);
        assert_eq!(
            needs(classify(&mv).unwrap()),
            vec![
                (b"/x".to_vec(), false, Need::Both),
                (b"/y".to_vec(), false, Need::Upload)
            ]
        );
        let ext = packet(
            SSH_FXP_EXTENDED,
            &[&id, &s(b"posix-rename@openssh.com"), &s(b"/x"), &s(b"/y")],
        );
        match classify(&ext).unwrap() {
            Op::Paths { id, checks, .. } => assert_eq!((id, checks.len()), (5, 2)),
            other => panic!("{other:?}"),
        }
        let copy = packet(SSH_FXP_EXTENDED, &[&id, &s(b"copy-data"), &[0; 8]]);
        assert!(matches!(
            classify(&copy).unwrap(),
            Op::Unsupported { id: 5, .. }
        ));
        let v6 = packet(21, &[&id, &s(b"/x"), &s(b"/y")]);
        assert!(matches!(
            classify(&v6).unwrap(),
            Op::Unsupported { id: 5, .. }
        ));
        let st = packet(SSH_FXP_OPENDIR, &[&id, &s(b"/etc")]);
        assert_eq!(needs(classify(&st).unwrap())[0].2, Need::Either);
    }

    proptest::proptest! {
        #[test]
        fn any_client_packet_is_classified_or_refused_as_malformed(
            kind in proptest::prelude::any::<u8>(),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let p = packet(kind, &[&body]);
            let _ = classify(&p);
            let (q, last) = super::super::sftp_paths::query(&body, kind % 2 == 0);
            let _ = (q, last);
        }
    }
}
