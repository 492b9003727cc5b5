//! A session channel on the outer connection: one bastion command (exec) or the
//! interactive menu (shell). This task owns the channel and drains every message it gets,
//! so the connection never waits on it.

use std::sync::Arc;

use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use tokio_util::sync::CancellationToken;

use super::{commands, Bastion};
use crate::audit::Event;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;
use crate::session::{PtyInfo, Start};

/// The longest line the menu accepts before it discards the input.
const MAX_LINE: usize = 4096;

/// Runs one session channel until its command ends or the client closes it.
pub async fn run_channel(
    bastion: Arc<Bastion>,
    id: Identity,
    mut channel: Channel<Msg>,
    shutdown: CancellationToken,
) {
    let mut pty = false;
    let mut pty_info: Option<PtyInfo> = None;
    loop {
        let msg = tokio::select! {
            m = channel.wait() => m,
            _ = shutdown.cancelled() => None,
        };
        match msg {
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                ..
            }) => {
                pty = id.permit_pty;
                if pty {
                    pty_info = Some(PtyInfo {
                        term,
                        cols: col_width,
                        rows: row_height,
                    });
                }
            }
            Some(ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            }) => {
                if let Some(p) = pty_info.as_mut() {
                    p.cols = col_width;
                    p.rows = row_height;
                }
            }
            Some(ChannelMsg::Exec { command, .. }) => {
                let line = match &id.force_command {
                    Some(forced) => forced.clone(),
                    None => String::from_utf8_lossy(&command).into_owned(),
                };
                if let Some(args) = replay_args(&line) {
                    super::replay::replay(&bastion, &id, &args, channel).await;
                    return;
                }
                if let Some(target) = connect_target(&line) {
                    match resolve_device(&bastion, &id, &target.0).await {
                        Ok(device) => {
                            let start = Start {
                                pty: pty_info.clone(),
                                command: target.1,
                            };
                            crate::session::run(
                                bastion,
                                id,
                                device,
                                channel,
                                Some(start),
                                shutdown,
                            )
                            .await;
                        }
                        Err(msg) => {
                            let _ = channel.data_bytes(render(&msg, pty)).await;
                            finish(&channel, 1).await;
                        }
                    }
                    return;
                }
                let out = commands::run(&bastion, &id, &line).await;
                let _ = channel.data_bytes(render(&out.text, pty)).await;
                finish(&channel, out.exit).await;
                return;
            }
            Some(ChannelMsg::RequestShell { .. }) => {
                let exit = match &id.force_command {
                    Some(forced) => {
                        let out = commands::run(&bastion, &id, forced).await;
                        let _ = channel.data_bytes(render(&out.text, pty)).await;
                        out.exit
                    }
                    None => menu(&bastion, &id, &mut channel, pty, &shutdown).await,
                };
                finish(&channel, exit).await;
                return;
            }
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    }
}

/// `replay ARGS...` → the arguments.
fn replay_args(line: &str) -> Option<Vec<String>> {
    let args = shell_words::split(line).ok()?;
    match args.split_first() {
        Some((cmd, rest)) if cmd == "replay" => Some(rest.to_vec()),
        _ => None,
    }
}

/// `connect DEVICE [COMMAND...]` → the device and the optional command.
fn connect_target(line: &str) -> Option<(String, Option<String>)> {
    let args = shell_words::split(line).ok()?;
    match args.as_slice() {
        [cmd, device, rest @ ..] if cmd == "connect" => Some((
            device.clone(),
            (!rest.is_empty()).then(|| shell_words::join(rest)),
        )),
        _ => None,
    }
}

/// The device for `connect`, if it exists and policy allows `connect` (else a message).
async fn resolve_device(bastion: &Bastion, id: &Identity, name: &str) -> Result<Device, String> {
    let inventory = bastion.policy.inventory();
    let Some(device) = inventory.get(name).cloned() else {
        return Err(format!(
            "connect: no device named {name:?}; `ls` lists yours\n"
        ));
    };
    let action = if device.kind.is_console() {
        Action::ConsoleRead
    } else {
        Action::Connect
    };
    let d = bastion.authorize(id, name, action).await;
    bastion.audit(
        Event::new("policy.decision")
            .user(&id.user)
            .source(id.source.to_string())
            .device(name)
            .action(action.as_str())
            .outcome(if d.allowed { "allow" } else { "deny" })
            .detail(serde_json::json!({ "reason": d.reason, "rule": d.rule, "via": "connect" })),
    );
    if d.allowed {
        Ok(device)
    } else {
        Err(format!("connect: access to {name} denied: {}\n", d.reason))
    }
}

/// Sends the exit status, EOF and close.
pub(super) async fn finish(channel: &Channel<Msg>, exit: u32) {
    let _ = channel.exit_status(exit).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

/// Text with `\n` turned into `\r\n` when the client has a terminal.
fn render(text: &str, pty: bool) -> Vec<u8> {
    if pty {
        text.replace('\n', "\r\n").into_bytes()
    } else {
        text.as_bytes().to_vec()
    }
}

/// The interactive menu: a greeting, then a prompt reading one command per line.
async fn menu(
    bastion: &Bastion,
    id: &Identity,
    channel: &mut Channel<Msg>,
    pty: bool,
    shutdown: &CancellationToken,
) -> u32 {
    let greeting = format!(
        "{}\n{}\nType `help` for commands, `exit` to leave.\n",
        commands::run(bastion, id, "whoami").await.text,
        commands::run(bastion, id, "ls").await.text
    );
    let _ = channel.data_bytes(render(&greeting, pty)).await;
    let prompt = "oobgate> ";
    let _ = channel.data_bytes(prompt.as_bytes().to_vec()).await;
    let mut line: Vec<u8> = Vec::new();
    loop {
        let msg = tokio::select! {
            m = channel.wait() => m,
            _ = shutdown.cancelled() => None,
        };
        let data = match msg {
            Some(ChannelMsg::Data { data }) => data,
            Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => return 0,
            Some(_) => continue,
        };
        let mut echo = Vec::new();
        for &b in data.iter() {
            match b {
                b'\r' | b'\n' => {
                    if pty {
                        echo.extend_from_slice(b"\r\n");
                    }
                    let _ = channel.data_bytes(std::mem::take(&mut echo)).await;
                    let text = String::from_utf8_lossy(&line).trim().to_string();
                    line.clear();
                    if matches!(text.as_str(), "exit" | "quit" | "logout") {
                        return 0;
                    }
                    if !text.is_empty() {
                        let out = commands::run(bastion, id, &text).await;
                        let _ = channel.data_bytes(render(&out.text, pty)).await;
                    }
                    let _ = channel.data_bytes(prompt.as_bytes().to_vec()).await;
                }
                0x7f | 0x08 if !line.is_empty() => {
                    line.pop();
                    if pty {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x03 => {
                    line.clear();
                    echo.extend_from_slice(b"^C\r\n");
                    echo.extend_from_slice(prompt.as_bytes());
                }
                0x04 if line.is_empty() => return 0,
                0x20..=0x7e | 0x80..=0xff if line.len() < MAX_LINE => {
                    line.push(b);
                    if pty {
                        echo.push(b);
                    }
                }
                _ => {}
            }
        }
        if !echo.is_empty() {
            let _ = channel.data_bytes(echo).await;
        }
    }
}
