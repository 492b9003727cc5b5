//! Audit events forwarded to a syslog receiver (`[audit] syslog = "udp://host:port"` or
//! `"tcp://host:port"`) as RFC 5424 messages.
//!
//! Each message carries the event in one structured-data element, `oobgate@32473`
//! (32473 is the example enterprise number of RFC 5612: oobgate has none of its own),
//! with the params `id ts kind user source device action outcome detail hash`; the MSGID
//! is the event kind and the MSG is the event's one-line text, so a plain syslog reader
//! still shows something useful. Facility `authpriv`; severity from the outcome (`deny` is
//! warning, `error` err, `alert` alert, the rest notice). Control characters in values are
//! written as `\u{..}`. The header's TIMESTAMP is when the message was made (as the event
//! is appended); the event's own time is the `ts` param. Over TCP, messages are framed by
//! octet counting (RFC 6587 3.4.1) and the connection is re-made with backoff (0.5 s
//! doubling to 30 s).
//!
//! [`SyslogForwarder::send`] never waits: it formats the message and puts it in a bounded
//! queue drained by one task. When the queue is full (the receiver is slow, down or
//! unreachable) the message is dropped and counted, so a receiver can never hold up a
//! session; the counters are in [`SyslogForwarder::stats`].

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fasyslog::format::SyslogContext;
use fasyslog::{Facility, SDElement, Severity};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::EventRow;

/// Messages waiting for the receiver; more are dropped.
pub const QUEUE: usize = 4096;

const SD_ID: &str = "oobgate@32473";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Why a syslog target is not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    /// The URL does not parse or is not `udp://host:port` / `tcp://host:port`.
    #[error("{url:?} is not a syslog target: {reason} (use udp://HOST:PORT or tcp://HOST:PORT)")]
    Target {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, SyslogError>;

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One datagram per message.
    Udp,
    /// A stream with octet-counting framing.
    Tcp,
}

/// Where audit events are forwarded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SyslogTarget {
    /// UDP or TCP.
    pub transport: Transport,
    /// Host name or IP address (resolved at each connect).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl FromStr for SyslogTarget {
    type Err = SyslogError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| SyslogError::Target {
            url: s.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        let transport = match url.scheme() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other => return Err(bad(&format!("unknown scheme {other:?}"))),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().ok_or_else(|| bad("no port"))?;
        if url.path().len() > 1 || url.query().is_some() || !url.username().is_empty() {
            return Err(bad("only a host and a port may be given"));
        }
        Ok(SyslogTarget {
            transport,
            host,
            port,
        })
    }
}

impl TryFrom<String> for SyslogTarget {
    type Error = SyslogError;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// What the forwarder has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyslogStats {
    /// Messages handed to the receiver's socket.
    pub sent: u64,
    /// Messages dropped: the queue was full, or a datagram could not be sent.
    pub dropped: u64,
    /// Messages waiting in the queue.
    pub queued: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// Forwards audit events to one syslog receiver. Cheap to clone.
#[derive(Clone)]
pub struct SyslogForwarder {
    tx: mpsc::Sender<String>,
    counters: Arc<Counters>,
    context: Arc<SyslogContext>,
}

impl SyslogForwarder {
    /// Starts the delivery task on the current tokio runtime; it ends on `shutdown`.
    pub fn start(
        target: SyslogTarget,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> SyslogForwarder {
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let mut context = SyslogContext::new();
        context.facility(Facility::AUTHPRIV).appname("oobgate");
        let delivery = Delivery {
            target,
            rx,
            counters: counters.clone(),
            shutdown,
            connected: false,
        };
        tracker.spawn(delivery.run());
        SyslogForwarder {
            tx,
            counters,
            context: Arc::new(context),
        }
    }

    /// Queues `row` for the receiver; never waits (a full queue drops and counts it).
    pub fn send(&self, row: &EventRow) {
        let message = format_rfc5424(&self.context, row);
        if self.tx.try_send(message).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SyslogStats {
        SyslogStats {
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            queued: (self.tx.max_capacity() - self.tx.capacity()) as u64,
        }
    }
}

/// The RFC 5424 message for `row` (without any transport framing).
pub fn format_rfc5424(context: &SyslogContext, row: &EventRow) -> String {
    let severity = match row.outcome.as_deref() {
        Some("deny") => Severity::WARNING,
        Some("error") => Severity::ERROR,
        Some("alert") => Severity::ALERT,
        _ => Severity::NOTICE,
    };
    let detail = row.detail.to_string();
    let id = row.id.to_string();
    let params = [
        ("id", Some(id.as_str())),
        ("ts", Some(row.ts.as_str())),
        ("kind", Some(row.kind.as_str())),
        ("user", row.user.as_deref()),
        ("source", row.source.as_deref()),
        ("device", row.device.as_deref()),
        ("action", row.action.as_deref()),
        ("outcome", row.outcome.as_deref()),
        ("detail", Some(detail.as_str())),
        ("hash", Some(row.hash.as_str())),
    ];
    let mut elements = Vec::new();
    if let Ok(mut element) = SDElement::new(SD_ID) {
        for (name, value) in params {
            if let Some(v) = value {
                // Names are fixed and valid, so this cannot fail.
                let _ = element.add_param(name, escape_controls(v));
            }
        }
        elements.push(element);
    }
    context
        .format_rfc5424(
            severity,
            Some(msgid(&row.kind)),
            elements,
            Some(row.to_line()),
        )
        .to_string()
}

/// MSGID: 1 to 32 printable US-ASCII characters.
fn msgid(kind: &str) -> String {
    let id: String = kind
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(32)
        .collect();
    if id.is_empty() {
        "-".into()
    } else {
        id
    }
}

fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// RFC 6587 octet counting: `LEN SP MSG`.
fn frame(message: &str) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message.as_bytes());
    out
}

/// The task that drains the queue into the receiver.
struct Delivery {
    target: SyslogTarget,
    rx: mpsc::Receiver<String>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    /// Whether the last attempt reached the receiver (a loss after that is reported).
    connected: bool,
}

impl Delivery {
    async fn run(self) {
        let shutdown = self.shutdown.clone();
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.deliver() => {}
        }
    }

    async fn deliver(mut self) {
        let mut backoff = BACKOFF_START;
        let mut pending: Option<String> = None;
        let mut reported = false;
        loop {
            let result = match self.target.transport {
                Transport::Udp => self.udp().await,
                Transport::Tcp => self.tcp(&mut pending, &mut backoff).await,
            };
            // Ok: the queue was closed, every sender is gone.
            let Err(e) = result else { return };
            if self.connected || !reported {
                tracing::warn!(target = %self.target, error = %e,
                    "syslog receiver unreachable; audit events queue, then drop, until it returns");
                reported = true;
            }
            self.connected = false;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn resolve(&self) -> std::io::Result<std::net::SocketAddr> {
        tokio::net::lookup_host((self.target.host.as_str(), self.target.port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("the host name resolves to no address"))
    }

    /// Sends datagrams until the queue closes; a socket that cannot be set up is an error.
    async fn udp(&mut self) -> std::io::Result<()> {
        let addr = self.resolve().await?;
        let local: std::net::SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("an address")
        } else {
            "[::]:0".parse().expect("an address")
        };
        let socket = tokio::net::UdpSocket::bind(local).await?;
        socket.connect(addr).await?;
        self.connected = true;
        while let Some(message) = self.rx.recv().await {
            match socket.send(message.as_bytes()).await {
                Ok(_) => self.counters.sent.fetch_add(1, Ordering::Relaxed),
                // e.g. ECONNREFUSED from an earlier datagram's ICMP reply
                Err(_) => self.counters.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
        Ok(())
    }

    /// Connects and writes frames until the queue closes or the connection fails (the
    /// message being written then stays in `pending` for the next connection).
    async fn tcp(
        &mut self,
        pending: &mut Option<String>,
        backoff: &mut Duration,
    ) -> std::io::Result<()> {
        let addr = self.resolve().await?;
        let mut stream =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })??;
        let _ = stream.set_nodelay(true);
        tracing::info!(target = %self.target, "syslog receiver connected");
        self.connected = true;
        *backoff = BACKOFF_START;
        loop {
            let message = match pending.take() {
                Some(m) => m,
                None => match self.rx.recv().await {
                    Some(m) => m,
                    None => return Ok(()),
                },
            };
            let framed = frame(&message);
            match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&framed)).await {
                Ok(Ok(())) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    *pending = Some(message);
                    return Err(e);
                }
                Err(_) => {
                    *pending = Some(message);
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the receiver has not read for 30 s",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "syslog_tests.rs"]
mod tests;
