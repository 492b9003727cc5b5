//! A session channel on the outer connection: one bastion command (exec) or the
//! interactive menu (shell). This task owns the channel and drains every message it gets,
//! so the connection never waits on it.

use std::sync::Arc;

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelMsg};

use super::commands::{self, Command};
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::inventory::Device;
use crate::policy::Action;
use crate::session::{finish_channel, read_start, Start};

/// The longest line the menu accepts before it discards the input.
const MAX_LINE: usize = 4096;

/// Runs one session channel until its command ends or the client closes it.
pub async fn run_channel(
    bastion: Arc<Bastion>,
    id: Identity,
    mut channel: Channel<Msg>,
    handle: Handle,
) {
    let Some(start) = read_start(&mut channel, &id, &bastion.shutdown).await else {
        return;
    };
    let pty = start.pty.is_some();
    let Some(line) = start.command.clone() else {
        let exit = match start.subsystem.as_deref() {
            Some(name) => {
                let msg = format!("oobgate: the bastion offers no {name:?} subsystem\n");
                let _ = channel.extended_data_bytes(1, msg.into_bytes()).await;
                255
            }
            None => menu(&bastion, &id, &mut channel, pty).await,
        };
        return finish_channel(&channel, exit).await;
    };
    match commands::parse(&line) {
        Ok(Command::Replay(args)) => super::replay::replay(&bastion, &id, args, channel).await,
        Ok(Command::Recover(args)) => {
            let (progress, rx) = streaming();
            let run = commands::recover::run(&bastion, &id, &args, &progress);
            let outcome = stream(&channel, pty, rx, run).await;
            match outcome {
                Ok(commands::recover::Recovered {
                    console: Some(console),
                    ..
                }) => {
                    let start = Start {
                        command: None,
                        forced: false,
                        ..start
                    };
                    crate::session::run(bastion, id, console, channel, handle, Some(start), None)
                        .await;
                }
                Ok(r) => {
                    let note = format!("{}\n", r.note.unwrap_or_default());
                    let _ = channel.data_bytes(render(&note, pty)).await;
                    finish_channel(&channel, 0).await;
                }
                Err(out) => {
                    let _ = channel.data_bytes(render(&out.text, pty)).await;
                    finish_channel(&channel, out.exit).await;
                }
            }
        }
        Ok(Command::Watch(args))
            if bastion.feeds.find(&args.id).is_none()
                && super::console_watch::is_console(&bastion, &args.id) =>
        {
            super::console_watch::watch(&bastion, &id, &args, channel).await
        }
        Ok(Command::Watch(args)) => super::watcher::watch(&bastion, &id, args, channel).await,
        Ok(Command::Connect { device, .. }) => match resolve_device(&bastion, &id, &device).await {
            Ok(device) => {
                let start = Start {
                    command: commands::connect_command(&line),
                    forced: false,
                    ..start
                };
                crate::session::run(bastion, id, device, channel, handle, Some(start), None).await;
            }
            Err(msg) => {
                let _ = channel.data_bytes(render(&msg, pty)).await;
                finish_channel(&channel, 1).await;
            }
        },
        _ => {
            let out = run_streaming(&bastion, &id, &line, &channel, pty).await;
            let _ = channel.data_bytes(render(&out.text, pty)).await;
            finish_channel(&channel, out.exit).await;
        }
    }
}

/// A progress sink streaming to the receiver [`stream`] drains.
fn streaming() -> (
    commands::Progress,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    (commands::Progress::streaming(tx), rx)
}

/// Runs `line`, sending its progress lines to the client as they come.
async fn run_streaming(
    bastion: &Bastion,
    id: &Identity,
    line: &str,
    channel: &Channel<Msg>,
    pty: bool,
) -> commands::CommandOutput {
    let (progress, rx) = streaming();
    let run = commands::run_with(bastion, id, line, &progress);
    stream(channel, pty, rx, run).await
}

/// Awaits `run`, sending the lines arriving on `rx` to the client meanwhile.
async fn stream<T>(
    channel: &Channel<Msg>,
    pty: bool,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    run: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(run);
    let out = loop {
        tokio::select! {
            out = &mut run => break out,
            Some(text) = rx.recv() => {
                let _ = channel.data_bytes(render(&text, pty)).await;
            }
        }
    };
    while let Ok(text) = rx.try_recv() {
        let _ = channel.data_bytes(render(&text, pty)).await;
    }
    out
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
    let d = bastion
        .authz
        .decide_audited(id, name, action, serde_json::json!({ "via": "connect" }))
        .await;
    if d.allowed {
        Ok(device)
    } else {
        Err(format!("connect: access to {name} denied: {}\n", d.reason))
    }
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
async fn menu(bastion: &Bastion, id: &Identity, channel: &mut Channel<Msg>, pty: bool) -> u32 {
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
            _ = bastion.shutdown.cancelled() => None,
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
