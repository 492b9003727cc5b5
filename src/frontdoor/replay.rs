//! `replay ID` over the admin's SSH channel: timed playback driven by the admin's keys
//! (space pauses, +/- change speed, f skips, q quits), or `--cat` for the output only.

use std::time::Duration;

use russh::server::Msg;
use russh::Channel;
use serde_json::json;

use super::commands::{find_session, ReplayArgs};
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::recording::PlayOptions;
use crate::session::finish_channel;

async fn fail(channel: Channel<Msg>, msg: String) {
    let _ = channel.data_bytes(format!("{msg}\r\n").into_bytes()).await;
    finish_channel(&channel, 1).await;
}

/// `replay ID ...` over the admin's channel: timed playback with keys, or `--cat`.
/// Ends the channel with the exit status.
pub async fn replay(bastion: &Bastion, id: &Identity, args: ReplayArgs, channel: Channel<Msg>) {
    let row = match find_session(bastion, id, &args.id).await {
        Ok(r) => r,
        Err(e) => return fail(channel, e).await,
    };
    let rec = match bastion.stores.recordings.open(&row.id).await {
        Ok(r) => r,
        Err(e) => return fail(channel, format!("replay: {e}")).await,
    };
    bastion
        .audit(
            Event::new("replay")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&row.device)
                .action("replay")
                .outcome("ok")
                .detail(json!({ "session": row.id, "cat": args.cat })),
        )
        .await;
    if args.cat {
        let mut buf = Vec::new();
        if let Err(e) = rec.cat(&mut buf) {
            return fail(channel, format!("replay: {e}")).await;
        }
        let _ = channel.data_bytes(buf).await;
        return finish_channel(&channel, 0).await;
    }
    let opts = PlayOptions {
        speed: args.speed,
        idle_cap: args.idle_cap.0.map(Duration::from_secs_f64),
        start_at: args.at.unwrap_or_default(),
    };
    let (mut read, write) = channel.split();
    let out = write.make_writer();
    let (keys_tx, keys_rx) = tokio::io::duplex(64);
    let pump = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut keys_tx = keys_tx;
        while let Some(msg) = read.wait().await {
            match msg {
                russh::ChannelMsg::Data { data } if keys_tx.write_all(&data).await.is_err() => {
                    break
                }
                russh::ChannelMsg::Eof | russh::ChannelMsg::Close => break,
                _ => {}
            }
        }
    });
    let r = crate::recording::play(&rec, out, keys_rx, opts).await;
    pump.abort();
    let code = match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = write
                .data_bytes(format!("\r\nreplay: {e}\r\n").into_bytes())
                .await;
            1
        }
    };
    let _ = write.exit_status(code).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}
