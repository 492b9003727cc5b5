//! Helpers for the unit tests: capture what the code under test logs, and wait for a
//! condition with a deadline that fails the test with what was last seen.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a unit test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(10);

/// What the code under test logs on this thread; a current-thread test runtime runs the
/// tasks it spawns on it too.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Captures this thread's log (every level) until the guard is dropped.
pub fn capture_log() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// Polls `probe` until it returns `Ok`, for at most `within`; then fails the test naming
/// `what` and the last thing `probe` saw (its `Err`).
pub async fn wait_until<T, S, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    S: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let until = Instant::now() + within;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= until => {
                panic!("timed out after {within:?} waiting for {what}; last seen:\n{seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Waits until the captured log contains `needle`, failing with the log.
pub async fn wait_log(log: &Captured, needle: &str) -> String {
    wait_until(&format!("{needle:?} in the log"), WAIT, || async {
        let text = log.text();
        if text.contains(needle) {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await
}
