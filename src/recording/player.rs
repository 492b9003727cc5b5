//! Timed playback of a recording to any writer, controlled by keys from any reader, so the
//! same player serves `ssh bastion replay` (an SSH channel) and `oobgate replay` (a local
//! terminal).
//!
//! Keys: space pauses and resumes, `.` steps one event while paused, `+`/`-` double or
//! halve the speed, `f` or right arrow jumps 5 s ahead, `q` quits.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Recording, RecordingError, Result};

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Speed factor (2.0 = twice as fast).
    pub speed: f64,
    /// Longest pause kept between events (before the speed factor).
    pub idle_cap: Option<Duration>,
    /// Start this far in: earlier output is written at once.
    pub start_at: Duration,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            speed: 1.0,
            idle_cap: Some(Duration::from_secs(2)),
            start_at: Duration::ZERO,
        }
    }
}

const SEEK: f64 = 5.0;

enum Key {
    Pause,
    Step,
    Faster,
    Slower,
    Seek,
    Quit,
    Other,
}

fn key(buf: &[u8]) -> Key {
    match buf {
        [b' ', ..] => Key::Pause,
        [b'.', ..] => Key::Step,
        [b'+', ..] | [b'=', ..] => Key::Faster,
        [b'-', ..] => Key::Slower,
        [b'f', ..] | [0x1b, b'[', b'C', ..] => Key::Seek,
        [b'q', ..] | [b'Q', ..] | [0x03, ..] => Key::Quit,
        _ => Key::Other,
    }
}

fn io_err(rec: &Recording) -> impl Fn(std::io::Error) -> RecordingError + '_ {
    move |source| RecordingError::Io {
        path: rec.path.clone(),
        source,
    }
}

/// Plays `rec` to `out`, reacting to `keys`, until the end or `q`.
pub async fn play<W, K>(rec: &Recording, mut out: W, mut keys: K, opts: PlayOptions) -> Result<()>
where
    W: AsyncWrite + Unpin,
    K: AsyncRead + Unpin,
{
    let err = io_err(rec);
    let mut speed = if opts.speed > 0.0 { opts.speed } else { 1.0 };
    let cap = opts.idle_cap.map(|d| d.as_secs_f64());
    let mut skip_until = opts.start_at.as_secs_f64();
    let mut paused = false;
    let mut step = false;
    let mut prev = 0.0f64;
    let mut keys_open = true;
    let mut kbuf = [0u8; 16];
    let terminal = rec.had_terminal();
    let mut i = 0;
    while i < rec.events.len() {
        let ev = &rec.events[i];
        // After a seek, time runs from the point sought to, not from the last skipped event.
        let mut gap = (ev.time - prev.max(skip_until)).max(0.0);
        if let Some(c) = cap {
            gap = gap.min(c);
        }
        if ev.time < skip_until || (paused && step) {
            gap = 0.0;
        }
        let wait = Duration::from_secs_f64(gap / speed);
        let due = tokio::time::Instant::now() + wait;
        // Wait for the event's time (or forever while paused), handling keys meanwhile.
        loop {
            if !paused && tokio::time::Instant::now() >= due {
                break;
            }
            if paused && step {
                break;
            }
            let sleep = tokio::time::sleep_until(due);
            tokio::select! {
                _ = sleep, if !paused => break,
                r = keys.read(&mut kbuf), if keys_open => match r {
                    Ok(0) | Err(_) => { keys_open = false; paused = false; }
                    Ok(n) => match key(&kbuf[..n]) {
                        Key::Quit => {
                            out.write_all(b"\r\n").await.map_err(&err)?;
                            out.flush().await.map_err(&err)?;
                            return Ok(());
                        }
                        Key::Pause => { paused = !paused; step = false; }
                        Key::Step if paused => step = true,
                        Key::Faster => speed = (speed * 2.0).min(64.0),
                        Key::Slower => speed = (speed / 2.0).max(1.0 / 64.0),
                        Key::Seek => { skip_until = prev + SEEK; break; }
                        _ => {}
                    }
                },
            }
        }
        step = false;
        match ev.code {
            'o' if terminal => out.write_all(&ev.data).await.map_err(&err)?,
            'o' => out
                .write_all(&super::text::crlf(&ev.data))
                .await
                .map_err(&err)?,
            'm' if ev.time >= skip_until => {
                let note = format!(
                    "\x1b[2m[{}]\x1b[0m\r\n",
                    String::from_utf8_lossy(&ev.data).replace(['\r', '\n'], " ")
                );
                out.write_all(note.as_bytes()).await.map_err(&err)?
            }
            _ => {}
        }
        out.flush().await.map_err(&err)?;
        prev = ev.time;
        i += 1;
    }
    out.flush().await.map_err(&err)?;
    Ok(())
}
