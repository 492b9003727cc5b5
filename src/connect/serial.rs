//! Local serial consoles (USB serial adapters, onboard ttys) through `tokio-serial`, with
//! line settings from the inventory (`serial = "115200n81"`, optional `,rtscts`/`,xonxoff`)
//! and a serial break on [`LinkControl::Break`].

use std::os::fd::AsRawFd;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, StopBits};

use super::link::LinkEnds;
use super::{
    ConnectError, Connector, DeviceCredential, EndReason, Link, LinkControl, LinkEvent,
    LinkRequest, Result, Target,
};
pub use crate::inventory::SerialSettings;

/// Opens a local tty with fixed line settings.
#[derive(Debug, Clone, Default)]
pub struct SerialConnector {
    settings: SerialSettings,
}

impl SerialConnector {
    /// A connector using `settings` for every port it opens.
    pub fn new(settings: SerialSettings) -> SerialConnector {
        SerialConnector { settings }
    }
}

#[async_trait]
impl Connector for SerialConnector {
    async fn open(
        &self,
        target: &Target,
        _cred: &DeviceCredential,
        _req: &LinkRequest,
    ) -> Result<Link> {
        let s = self.settings;
        let port = tokio_serial::new(&target.address, s.baud)
            .data_bits(match s.data_bits {
                5 => DataBits::Five,
                6 => DataBits::Six,
                7 => DataBits::Seven,
                _ => DataBits::Eight,
            })
            .parity(match s.parity {
                'o' => Parity::Odd,
                'e' => Parity::Even,
                _ => Parity::None,
            })
            .stop_bits(if s.stop_bits == 2 {
                StopBits::Two
            } else {
                StopBits::One
            })
            .flow_control(match s.flow {
                "rtscts" => FlowControl::Hardware,
                "xonxoff" => FlowControl::Software,
                _ => FlowControl::None,
            })
            .open_native_async()
            .map_err(|e| ConnectError::Unreachable {
                device: target.name.clone(),
                address: target.address.clone(),
                message: e.to_string(),
            })?;
        let (link, ends) = Link::pair();
        tokio::spawn(pump(port, ends));
        Ok(link)
    }
}

async fn pump(mut port: tokio_serial::SerialStream, ends: LinkEnds) {
    let LinkEnds {
        events,
        mut control,
    } = ends;
    let mut buf = vec![0u8; 16 * 1024];
    let reason = loop {
        tokio::select! {
            r = port.read(&mut buf) => match r {
                Ok(0) => break EndReason::Lost("the serial device closed".into()),
                Ok(n) => {
                    if events.send(LinkEvent::Data(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break EndReason::LocalClose;
                    }
                }
                // A vanished pty or an unplugged adapter reads as EIO.
                Err(e) => break EndReason::Lost(format!("serial device gone: {e}")),
            },
            c = control.recv() => match c {
                Some(LinkControl::Data(b)) => {
                    if let Err(e) = port.write_all(&b).await {
                        break EndReason::Lost(format!("serial write failed: {e}"));
                    }
                }
                Some(LinkControl::Break) => {
                    let fd = port.as_raw_fd();
                    // tcsendbreak holds the line low for 0.25-0.5 s.
                    // SAFETY: the fd belongs to `port`, which outlives this call.
                    let r = tokio::task::block_in_place(|| unsafe { libc::tcsendbreak(fd, 0) });
                    if r != 0 {
                        tracing::warn!(error = %std::io::Error::last_os_error(), "serial break failed");
                    }
                }
                Some(LinkControl::Close) | None => break EndReason::LocalClose,
                Some(_) => {}
            },
        }
    };
    let _ = events.send(LinkEvent::Closed(reason)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_settings_parse_and_name_the_bad_part() {
        let s: SerialSettings = "9600e71,rtscts".parse().unwrap();
        assert_eq!(
            (s.baud, s.parity, s.data_bits, s.stop_bits, s.flow),
            (9600, 'e', 7, 1, "rtscts")
        );
        assert_eq!(
            "115200n81".parse::<SerialSettings>().unwrap(),
            SerialSettings::default()
        );
        assert!("115200x81"
            .parse::<SerialSettings>()
            .unwrap_err()
            .contains("parity"));
        assert!("115200n91"
            .parse::<SerialSettings>()
            .unwrap_err()
            .contains("data bits"));
        assert!("fast"
            .parse::<SerialSettings>()
            .unwrap_err()
            .contains("baud"));
        assert!("9600n81,magic"
            .parse::<SerialSettings>()
            .unwrap_err()
            .contains("flow"));
    }
}
