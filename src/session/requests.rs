//! The one reader of what an admin asks for on a session channel before it starts (a pty,
//! then a shell, a command or a subsystem), used on every path: the front door's own
//! commands and menu, the inner `-J` server, `connect`, console attaches. The
//! certificate's restrictions are applied here, once:
//!
//! - `force-command` replaces whatever was asked (shell, command or subsystem), as OpenSSH
//!   does; [`Start::forced`] says so, so a path where no command can run (a console) can
//!   refuse it clearly instead of ignoring it;
//! - without `permit-pty` a pty request is refused ([`pty_allowed`] is also what the SSH
//!   servers answer the request with) and the session runs without a terminal.

use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use tokio_util::sync::CancellationToken;

use crate::identity::Identity;

/// The admin's terminal.
#[derive(Debug, Clone)]
pub struct PtyInfo {
    /// `TERM`.
    pub term: String,
    /// Width in columns.
    pub cols: u32,
    /// Height in rows.
    pub rows: u32,
}

/// How the session starts.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// The terminal, if the admin asked for one and the certificate permits it.
    pub pty: Option<PtyInfo>,
    /// The command; `None` is an interactive shell.
    pub command: Option<String>,
    /// The command is the certificate's `force-command`, not what the admin asked.
    pub forced: bool,
    /// A subsystem (such as `sftp`) asked for instead of a shell or command.
    pub subsystem: Option<String>,
}

impl Start {
    /// The terminal size, or 80x24 without a terminal.
    pub fn size(&self) -> (u32, u32) {
        self.pty
            .as_ref()
            .map(|p| (p.cols, p.rows))
            .unwrap_or((80, 24))
    }

    /// The terminal type, if there is a terminal.
    pub fn term(&self) -> Option<String> {
        self.pty.as_ref().map(|p| p.term.clone())
    }
}

/// Whether `id` may have a pty (the certificate's `permit-pty`).
pub fn pty_allowed(id: Option<&Identity>) -> bool {
    id.is_some_and(|i| i.permit_pty)
}

/// Reads channel requests until a shell, exec or subsystem request, with `id`'s
/// restrictions applied; `None` if the channel closes or `cancel` fires first.
pub async fn read_start(
    channel: &mut Channel<Msg>,
    id: &Identity,
    cancel: &CancellationToken,
) -> Option<Start> {
    let mut pty = None;
    loop {
        let msg = tokio::select! {
            m = channel.wait() => m?,
            _ = cancel.cancelled() => return None,
        };
        let asked = match msg {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            } => {
                if pty_allowed(Some(id)) {
                    pty = Some(PtyInfo {
                        term,
                        cols: col_width,
                        rows: row_height,
                    });
                }
                continue;
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            } => {
                if let Some(p) = pty.as_mut() {
                    p.cols = col_width;
                    p.rows = row_height;
                }
                continue;
            }
            ChannelMsg::RequestShell { .. } => Asked::Shell,
            ChannelMsg::Exec { command, .. } => {
                Asked::Command(String::from_utf8_lossy(&command).into_owned())
            }
            ChannelMsg::RequestSubsystem { name, .. } => Asked::Subsystem(name),
            ChannelMsg::Eof | ChannelMsg::Close => return None,
            _ => continue,
        };
        return Some(apply(asked, pty, id));
    }
}

enum Asked {
    Shell,
    Command(String),
    Subsystem(String),
}

fn apply(asked: Asked, pty: Option<PtyInfo>, id: &Identity) -> Start {
    if let Some(forced) = &id.force_command {
        return Start {
            pty,
            command: Some(forced.clone()),
            forced: true,
            subsystem: None,
        };
    }
    match asked {
        Asked::Shell => Start {
            pty,
            ..Default::default()
        },
        Asked::Command(c) => Start {
            pty,
            command: Some(c),
            ..Default::default()
        },
        Asked::Subsystem(s) => Start {
            pty,
            subsystem: Some(s),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(force: Option<&str>) -> Identity {
        Identity {
            user: "alice".into(),
            roles: vec![],
            key_id: "k".into(),
            serial: 1,
            valid_before: None,
            ca_fingerprint: "ca".into(),
            key_fingerprint: "key".into(),
            force_command: force.map(String::from),
            permit_port_forwarding: true,
            permit_pty: true,
            source: "127.0.0.1:1".parse().unwrap(),
            source_address: None,
        }
    }

    #[test]
    fn force_command_replaces_shells_commands_and_subsystems() {
        let id = identity(Some("whoami"));
        for asked in [
            Asked::Shell,
            Asked::Command("show run".into()),
            Asked::Subsystem("sftp".into()),
        ] {
            let s = apply(asked, None, &id);
            assert_eq!(s.command.as_deref(), Some("whoami"));
            assert!(s.forced && s.subsystem.is_none());
        }
        let free = apply(Asked::Command("show run".into()), None, &identity(None));
        assert_eq!(free.command.as_deref(), Some("show run"));
        assert!(!free.forced);
    }

    #[test]
    fn a_pty_needs_permit_pty() {
        let mut id = identity(None);
        assert!(pty_allowed(Some(&id)));
        id.permit_pty = false;
        assert!(!pty_allowed(Some(&id)));
        assert!(!pty_allowed(None));
    }
}
