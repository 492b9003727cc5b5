//! `watch ID [--from-start]` over the watcher's SSH channel: a running session shown live,
//! read-only. The watcher first gets the session's last screen (rendered from its recording
//! so far by the `avt` terminal emulator) or, with `--from-start`, everything it showed;
//! then each new output event as it is recorded; and a line when it ends. Keys the watcher
//! types go nowhere: `q` or Ctrl-C leaves. Policy action `watch` on the session's device;
//! the session's recording gets a marker `watched by NAME` (and one when they leave), and
//! the watch is audited.

use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::commands::WatchArgs;
use crate::audit::Event;
use crate::bastion::Bastion;
use crate::identity::Identity;
use crate::policy::Action;
use crate::recording::text::crlf;
use crate::recording::{last_screen, Feed, Recording};
use crate::session::finish_channel;

async fn fail(channel: Channel<Msg>, msg: String) {
    let _ = channel.data_bytes(format!("{msg}\r\n").into_bytes()).await;
    finish_channel(&channel, 1).await;
}

/// Finds the running session the caller may watch; the refusal reads the same for a
/// session that is not running and for one the caller may not watch.
async fn find(bastion: &Bastion, id: &Identity, wanted: &str) -> Result<Feed, String> {
    let missing = || {
        format!("watch: no running session {wanted:?} you may watch (`sessions` shows running ones as (live))")
    };
    let feed = bastion.feeds.find(wanted).ok_or_else(missing)?;
    let context = json!({ "via": "watch", "session": feed.session });
    let v = bastion
        .authz
        .decide_audited(id, &feed.device, Action::Watch, context)
        .await;
    if !v.allowed {
        return Err(missing());
    }
    Ok(feed)
}

/// What the watcher sees first, and the number of events it covers: the last screen, or
/// with `from_start` all output so far.
/// Also whether the session has a terminal (without one, output is shown with
/// [`crlf`], as the admin's terminal showed it).
fn catch_up(path: &std::path::Path, size: (u16, u16), from_start: bool) -> (u64, Vec<u8>, bool) {
    let rec = match Recording::open(path) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("[oobgate: the recording so far cannot be read: {e}]\r\n");
            return (0, msg.into_bytes(), true);
        }
    };
    let seen = rec.events.len() as u64;
    let terminal = rec.had_terminal();
    let output = rec.events.iter().filter(|e| e.code == 'o');
    if from_start {
        let all: Vec<u8> = output.flat_map(|e| e.data.iter().copied()).collect();
        return (seen, shown(all, terminal), terminal);
    }
    (seen, last_screen(&rec, size), terminal)
}

/// Output as the watcher's terminal should get it.
fn shown(bytes: Vec<u8>, terminal: bool) -> Vec<u8> {
    if terminal {
        bytes
    } else {
        crlf(&bytes).into_owned()
    }
}

/// `watch ID [--from-start]` over the watcher's channel; ends it with the exit status.
pub async fn watch(bastion: &Bastion, id: &Identity, args: WatchArgs, channel: Channel<Msg>) {
    let feed = match find(bastion, id, &args.id).await {
        Ok(f) => f,
        Err(e) => return fail(channel, e).await,
    };
    let (session, device, path, size) = (
        feed.session.clone(),
        feed.device.clone(),
        feed.path.clone(),
        feed.size,
    );
    let (admin, recorder, end) = (feed.user.clone(), feed.recorder.clone(), feed.end.clone());
    // The marker goes in first, then the observer's seat is taken (a four-eyes session
    // starts or resumes on it): nothing the device answers lands before the marker.
    let role = if args.observe { "observed" } else { "watched" };
    recorder.marker(format!("{role} by {}", id.user)).await;
    let seat = args.observe.then(|| feed.observe());
    let mut events = feed.follow();
    bastion
        .audit(
            Event::new("watch")
                .user(&id.user)
                .source(id.source.to_string())
                .device(&device)
                .action("watch")
                .outcome("ok")
                .detail(json!({
                    "session": session, "admin": admin, "from_start": args.from_start,
                    "observe": args.observe,
                })),
        )
        .await;
    let from_start = args.from_start;
    let (seen, first, terminal) =
        tokio::task::spawn_blocking(move || catch_up(&path, size, from_start))
            .await
            .unwrap_or((0, Vec::new(), true));
    let (mut read, write) = channel.split();
    let banner = if args.observe {
        format!("[oobgate: observing {session} ({admin}@{device}), read-only; q or Ctrl-C leaves, k ends the session]\r\n")
    } else {
        format!(
            "[oobgate: watching {session} ({admin}@{device}), read-only; q or Ctrl-C leaves]\r\n"
        )
    };
    let _ = write.data_bytes(banner.into_bytes()).await;
    let _ = write.data_bytes(first).await;
    let notice = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) => {
                    let (seq, ev) = &*ev;
                    if *seq >= seen && ev.code == 'o' && write.data_bytes(shown(ev.data.clone(), terminal)).await.is_err() {
                        break None;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    let msg = format!("\r\n[oobgate: watching fell behind; {n} events skipped]\r\n");
                    let _ = write.data_bytes(msg.into_bytes()).await;
                }
                Err(RecvError::Closed) => break Some(format!("session {session} ended")),
            },
            msg = read.wait() => match msg {
                Some(ChannelMsg::Data { data }) if seat.is_some() && data.contains(&b'k') => {
                    end(&format!("session ended by observer {}", id.user));
                }
                Some(ChannelMsg::Data { data }) if data.iter().any(|&b| b == b'q' || b == 3) => {
                    break Some("stopped watching".to_string());
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break None,
                _ => {}
            },
            _ = bastion.shutdown.cancelled() => break Some("the bastion is shutting down".into()),
        }
    };
    drop(seat);
    recorder
        .marker(format!("no longer {role} by {}", id.user))
        .await;
    leave(&write, notice).await;
}

/// Ends a watch: the notice (if any), exit status 0, EOF and close. Shared with
/// `watch CONSOLE`.
pub(super) async fn leave(write: &russh::ChannelWriteHalf<Msg>, notice: Option<String>) {
    if let Some(n) = notice {
        let _ = write
            .data_bytes(format!("\r\n[oobgate: {n}]\r\n").into_bytes())
            .await;
    }
    let _ = write.exit_status(0).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}
