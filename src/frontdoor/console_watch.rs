//! `watch CONSOLE`: a shared console shown live and read-only over the watcher's SSH
//! channel, like a running session: its backlog, then its output as it arrives, whether or
//! not anyone is attached (`--from-start` changes nothing: the backlog is what there is).
//! Policy `console.read` on the console; the watcher is attached
//! read-only (the others see them in `consoles`), never takes the write lock, and leaves
//! with `q` or Ctrl-C. Audited as a `watch` event naming the console.

use std::sync::Arc;

use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use serde_json::json;

use super::commands::WatchArgs;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::console::Attacher;
use crate::identity::Identity;
use crate::policy::Action;
use crate::session::finish_channel;

/// Whether `name` is a console of the inventory (what `watch NAME` then shows).
pub fn is_console(bastion: &Bastion, name: &str) -> bool {
    bastion
        .policy
        .inventory()
        .get(name)
        .is_some_and(|d| d.kind.is_console())
}

/// `watch CONSOLE` over `channel`; ends it with the exit status.
pub async fn watch(bastion: &Arc<Bastion>, id: &Identity, args: &WatchArgs, channel: Channel<Msg>) {
    let name = args.id.as_str();
    let fail = |msg: String| {
        let channel = &channel;
        async move {
            let _ = channel.data_bytes(format!("{msg}\r\n").into_bytes()).await;
            finish_channel(channel, 1).await;
        }
    };
    if args.observe {
        let msg = format!("watch: {name} is a console; --observe takes the session id of an attach to it (ssh bastion sessions --live)");
        return fail(msg).await;
    }
    let Some(device) = bastion.policy.inventory().get(name).cloned() else {
        return fail(format!("watch: no console {name:?}")).await;
    };
    let context = json!({ "via": "watch" });
    let v = bastion
        .authz
        .decide_audited(id, &device.name, Action::ConsoleRead, context)
        .await;
    if !v.allowed {
        let msg = format!("watch: no running session or console {name:?} you may watch");
        return fail(msg).await;
    }
    if let Err(e) = crate::session::register_console(bastion, &device) {
        return fail(format!("watch: console {name}: {e}")).await;
    }
    let who = Attacher {
        user: format!("{} (watch)", id.user),
        can_write: false,
        can_force: false,
    };
    let mut attachment = match bastion.consoles.attach(&device.name, who).await {
        Ok(a) => a,
        Err(e) => return fail(format!("watch: cannot attach to {name}: {e}")).await,
    };
    bastion
        .audit(
            Event::new("watch")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&device.name)
                .action("watch")
                .outcome("ok")
                .detail(json!({ "console": device.name, "via": "ssh" })),
        )
        .await;
    let (mut read, write) = channel.split();
    let banner = format!("[oobgate: watching console {name}, read-only; q or Ctrl-C leaves]\r\n");
    let _ = write.data_bytes(banner.into_bytes()).await;
    let notice = loop {
        tokio::select! {
            out = attachment.output.recv() => match out {
                Some(bytes) => if write.data_bytes(bytes.to_vec()).await.is_err() { break None },
                None => break Some(format!("console {name} stopped")),
            },
            msg = read.wait() => match msg {
                Some(ChannelMsg::Data { data }) if data.iter().any(|&b| b == b'q' || b == 3) => {
                    break Some("stopped watching".to_string());
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break None,
                _ => {}
            },
            _ = bastion.shutdown.cancelled() => break Some("the bastion is shutting down".into()),
        }
    };
    let _ = attachment.detach().await;
    super::watcher::leave(&write, notice).await;
}
