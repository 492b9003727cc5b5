//! What the admin asked for on a session channel before it starts: a pty (with its size
//! and terminal type), then a shell or a command.

use russh::server::Msg;
use russh::{Channel, ChannelMsg};

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
#[derive(Debug, Clone)]
pub struct Start {
    /// The terminal, if the admin asked for one.
    pub pty: Option<PtyInfo>,
    /// The command (exec); `None` is an interactive shell.
    pub command: Option<String>,
}

/// Reads channel requests until a shell or exec request; `None` if the channel closes.
pub async fn wait_for_start(channel: &mut Channel<Msg>) -> Option<Start> {
    let mut pty = None;
    loop {
        match channel.wait().await? {
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            } => {
                pty = Some(PtyInfo {
                    term,
                    cols: col_width,
                    rows: row_height,
                })
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
            }
            ChannelMsg::RequestShell { .. } => return Some(Start { pty, command: None }),
            ChannelMsg::Exec { command, .. } => {
                return Some(Start {
                    pty,
                    command: Some(String::from_utf8_lossy(&command).into_owned()),
                })
            }
            ChannelMsg::Eof | ChannelMsg::Close => return None,
            _ => {}
        }
    }
}
