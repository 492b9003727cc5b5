//! Raw TCP console ports (ser2net `tcp`, console-server "raw" ports): bytes both ways,
//! no negotiation and no login; the serial line behind the port is already configured.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::link::LinkEnds;
use super::{
    Connector, DeviceCredential, EndReason, Link, LinkControl, LinkEvent, LinkRequest, Result,
    Target,
};

/// Connects to a console server's raw TCP port.
#[derive(Debug, Clone)]
pub struct RawTcpConnector {
    connect_timeout: Duration,
}

impl Default for RawTcpConnector {
    fn default() -> Self {
        RawTcpConnector {
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl Connector for RawTcpConnector {
    async fn open(
        &self,
        target: &Target,
        _cred: &DeviceCredential,
        _req: &LinkRequest,
    ) -> Result<Link> {
        let stream = super::connect_tcp(target, self.connect_timeout).await?;
        let (link, ends) = Link::pair();
        tokio::spawn(pump(stream, ends));
        Ok(link)
    }
}

async fn pump(stream: TcpStream, ends: LinkEnds) {
    let LinkEnds {
        events,
        mut control,
    } = ends;
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 16 * 1024];
    let reason = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break EndReason::DeviceClosed,
                Ok(n) => {
                    if events.send(LinkEvent::Data(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break EndReason::LocalClose;
                    }
                }
                Err(e) => break EndReason::Lost(e.to_string()),
            },
            c = control.recv() => match c {
                Some(LinkControl::Data(b)) => {
                    if let Err(e) = wr.write_all(&b).await {
                        break EndReason::Lost(e.to_string());
                    }
                }
                Some(LinkControl::Eof) => {
                    let _ = wr.shutdown().await;
                }
                Some(LinkControl::Close) | None => break EndReason::LocalClose,
                Some(_) => {}
            },
        }
    };
    let _ = events.send(LinkEvent::Closed(reason)).await;
}
