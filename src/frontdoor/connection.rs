//! One TCP connection's life at the front door: the SSH handshake and login under the
//! pre-authentication timeout, then the logged-in connection, which ends with its
//! certificate: at its expiry, or when the revocation list names it, every channel on it
//! (sessions, multiplexed commands, forwards) goes with the connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use russh::server::{Config as SshConfig, Handle};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::{Admission, Ticket};
use super::configs::ServerConfigs;
use super::handler::{Conn, LoggedIn};
use super::killable::Killable;
use crate::audit::Event;
use crate::bastion::Bastion;

/// How long after its certificate's expiry a connection is cut (its sessions end at the
/// expiry itself).
const EXPIRY_GRACE: Duration = Duration::from_secs(2);

/// Serves one accepted connection until it ends.
pub async fn run(
    bastion: Arc<Bastion>,
    configs: Arc<ServerConfigs>,
    admission: Arc<Admission>,
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
) {
    let (tx, logged_in) = tokio::sync::oneshot::channel();
    let channels = TaskTracker::new();
    let conn = Conn::new(
        bastion.clone(),
        configs.clone(),
        admission.clone(),
        peer,
        ticket,
        tx,
        channels.clone(),
    );
    let auth_timeout = bastion.config.auth.auth_timeout;
    let cut = CancellationToken::new();
    let _cut_on_exit = cut.clone().drop_guard();
    // russh reads each packet as two exact reads (length, then body): buffering them
    // halves the read syscalls on bulk output.
    let socket = Killable::new(
        tokio::io::BufReader::with_capacity(crate::connect::READ_BUFFER, socket),
        cut.clone(),
    );
    let outer: Arc<SshConfig> = configs.outer();
    let session =
        match tokio::time::timeout(auth_timeout, russh::server::run_stream(outer, socket, conn))
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "ssh handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "ssh version exchange timed out");
                return;
            }
        };
    let handle = session.handle();
    tokio::pin!(session);
    let deadline = tokio::time::sleep(auth_timeout);
    tokio::pin!(deadline);
    let shutdown = bastion.shutdown.clone();
    // Before login: the login must come within the timeout.
    let login = tokio::select! {
        r = &mut session => {
            // Before login, an error is the client's doing (a malformed key or certificate
            // blob, a protocol violation): it is logged and audited like a refusal.
            if let Err(e) = r {
                tracing::info!(%peer, error = %e, "connection dropped before login: protocol error");
                if admission.note_noise(peer.ip()) {
                    let ev = Event::new("auth.reject")
                        .source(peer.to_string())
                        .outcome("deny")
                        .detail(json!({ "code": "protocol-error", "reason": e.to_string() }));
                    bastion.audit(ev).await;
                }
            }
            return;
        }
        l = logged_in => l.ok(),
        _ = &mut deadline => None,
        _ = shutdown.cancelled() => {
            bye(&handle, "bastion shutting down").await;
            cut.cancel();
            return;
        }
    };
    let Some(login) = login else {
        if admission.note_noise(peer.ip()) {
            let reason = format!(
                "not authenticated within {}",
                humantime::format_duration(auth_timeout)
            );
            let ev = Event::new("auth.reject")
                .source(peer.to_string())
                .outcome("deny")
                .detail(json!({ "code": "auth-timeout", "reason": reason }));
            bastion.audit(ev).await;
        }
        bye(&handle, "authentication timeout").await;
        cut.cancel();
        return;
    };
    // Logged in: the connection lives as long as its certificate.
    let why = logged_in_until(&mut session, &login).await;
    let Some(why) = why else { return };
    if !bastion.shutdown.is_cancelled() {
        let ev = Event::new("connection.cut")
            .source(peer.to_string())
            .outcome("ok")
            .detail(json!({ "reason": why }));
        bastion.audit(ev).await;
    }
    // The sessions see the same reason and end with their own notice: let them.
    if super::channels::drain(&mut session, &channels).await {
        return;
    }
    bye(&handle, &why).await;
    if tokio::time::timeout(Duration::from_secs(5), &mut session)
        .await
        .is_err()
    {
        cut.cancel();
    }
}

/// Waits for the logged-in connection to end by itself (`None`) or for the reason it must
/// be cut: certificate expired, revoked, bastion shutting down.
async fn logged_in_until<S>(session: &mut std::pin::Pin<&mut S>, login: &LoggedIn) -> Option<String>
where
    S: std::future::Future<Output = Result<(), russh::Error>>,
{
    // A moment past the expiry: the sessions on the connection end at the same deadline
    // by themselves, with their own notice, before the connection goes.
    let expiry = login.expires.map(|t| {
        let left = t.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::Instant::now()
            + left.min(Duration::from_secs(100 * 365 * 86400))
            + EXPIRY_GRACE
    });
    let expired = async {
        match expiry {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = session.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with error");
            }
            None
        }
        _ = login.live.token().cancelled() => Some(
            login.live.ended_because().unwrap_or_else(|| "bastion shutting down".into()),
        ),
        _ = expired => Some(format!(
            "your certificate expired at {}",
            login.expires.map(crate::audit::rfc3339).unwrap_or_default()
        )),
    }
}

async fn bye(handle: &Handle, why: &str) {
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        handle.disconnect(russh::Disconnect::ByApplication, why.into(), "en".into()),
    )
    .await;
}
