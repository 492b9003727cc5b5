//! Telnet console-server ports with RFC 2217 serial control (ser2net `telnet(rfc2217)`,
//! Opengear/Cyclades-style telnet ports): the bastion sets the serial line (baud, data bits,
//! parity, stop bits, flow control) on the console server from the inventory's `serial`
//! setting and can send a serial break. No login: the port is the serial line.
//!
//! The telnet layer (option negotiation, IAC escaping, the byte pump) is the telnet
//! connector's; this file holds what RFC 2217 adds: the COM-PORT-OPTION requests, the
//! check of the console server's replies, and the break.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::telnet::{pump, Wire};
use super::telnet_codec::{ComPortOption, Decoder, Negotiator, IAC, OPT_COM_PORT, SB, SE};
use super::{
    ConnectError, Connector, DeviceCredential, Link, LinkRequest, Result, SerialSettings, Target,
};

const SET_BAUDRATE: u8 = 1;
const SET_DATASIZE: u8 = 2;
const SET_PARITY: u8 = 3;
const SET_STOPSIZE: u8 = 4;
const SET_CONTROL: u8 = 5;
/// Server replies carry the client's command plus 100.
const SERVER_OFFSET: u8 = 100;
const CONTROL_NO_FLOW: u8 = 1;
const CONTROL_XONXOFF: u8 = 2;
const CONTROL_HARDWARE: u8 = 3;
const CONTROL_BREAK_ON: u8 = 5;
const CONTROL_BREAK_OFF: u8 = 6;

/// The line settings asked of one console port, and what the port answered.
#[derive(Debug, Clone)]
pub(crate) struct ComPort {
    device: String,
    settings: SerialSettings,
    /// `(command, value asked)` still waiting for the server's reply.
    pending: Vec<(u8, u32)>,
}

impl ComPort {
    pub(crate) fn new(device: &str, settings: SerialSettings) -> Self {
        ComPort {
            device: device.to_owned(),
            settings,
            pending: Vec::new(),
        }
    }

    /// Settings the console server has not confirmed (yet).
    #[cfg(test)]
    fn unconfirmed(&self) -> Vec<&'static str> {
        self.pending.iter().map(|&(c, _)| setting_name(c)).collect()
    }
}

impl ComPortOption for ComPort {
    /// The requests that set the line, sent once the port agreed to COM-PORT-OPTION.
    fn request(&mut self) -> Vec<u8> {
        let s = self.settings;
        let parity = match s.parity {
            'o' => 2,
            'e' => 3,
            _ => 1,
        };
        let flow = match s.flow {
            "rtscts" => CONTROL_HARDWARE,
            "xonxoff" => CONTROL_XONXOFF,
            _ => CONTROL_NO_FLOW,
        };
        self.pending = vec![
            (SET_BAUDRATE, s.baud),
            (SET_DATASIZE, u32::from(s.data_bits)),
            (SET_PARITY, parity),
            (SET_STOPSIZE, u32::from(s.stop_bits)),
            (SET_CONTROL, u32::from(flow)),
        ];
        let mut out = subneg(SET_BAUDRATE, &s.baud.to_be_bytes());
        out.extend(subneg(SET_DATASIZE, &[s.data_bits]));
        out.extend(subneg(SET_PARITY, &[parity as u8]));
        out.extend(subneg(SET_STOPSIZE, &[s.stop_bits]));
        out.extend(subneg(SET_CONTROL, &[flow]));
        out
    }

    /// Checks one server reply; a setting the port did not take is logged as a warning
    /// naming the device (the console still works, perhaps with garbled characters).
    fn reply(&mut self, payload: &[u8]) {
        let Some((&code, value)) = payload.split_first() else {
            return;
        };
        let Some(cmd) = code.checked_sub(SERVER_OFFSET) else {
            return;
        };
        let got = match value.len() {
            1 => u32::from(value[0]),
            4 => u32::from_be_bytes([value[0], value[1], value[2], value[3]]),
            _ => return,
        };
        let Some(i) = self.pending.iter().position(|&(c, _)| c == cmd) else {
            return;
        };
        let (_, asked) = self.pending.remove(i);
        if got != asked {
            tracing::warn!(
                device = %self.device,
                setting = setting_name(cmd),
                asked,
                got,
                "console server did not apply the serial line setting"
            );
        } else {
            tracing::debug!(device = %self.device, setting = setting_name(cmd), got, "serial line set");
        }
    }

    fn break_request(&self, on: bool) -> Vec<u8> {
        set_break(on)
    }
}

fn setting_name(cmd: u8) -> &'static str {
    match cmd {
        SET_BAUDRATE => "baud rate",
        SET_DATASIZE => "data bits",
        SET_PARITY => "parity",
        SET_STOPSIZE => "stop bits",
        SET_CONTROL => "flow control",
        _ => "other",
    }
}

/// `IAC SB COM-PORT-OPTION cmd value IAC SE`, IAC in the value doubled.
fn subneg(cmd: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, OPT_COM_PORT, cmd];
    for &b in value {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out.extend([IAC, SE]);
    out
}

/// The request that holds (`on`) or releases a serial break.
pub(crate) fn set_break(on: bool) -> Vec<u8> {
    subneg(
        SET_CONTROL,
        &[if on {
            CONTROL_BREAK_ON
        } else {
            CONTROL_BREAK_OFF
        }],
    )
}

/// Connects to RFC 2217 console-server ports with the given line settings.
#[derive(Debug, Clone)]
pub struct Rfc2217Connector {
    settings: SerialSettings,
    connect_timeout: Duration,
}

impl Rfc2217Connector {
    /// A connector that sets the serial line to `settings` on every connect.
    pub fn new(settings: SerialSettings) -> Self {
        Rfc2217Connector {
            settings,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl Connector for Rfc2217Connector {
    async fn open(
        &self,
        target: &Target,
        _cred: &DeviceCredential,
        _req: &LinkRequest,
    ) -> Result<Link> {
        let tcp = super::connect_tcp(target, self.connect_timeout).await?;
        let (read, mut write) = tcp.into_split();
        let mut neg = Negotiator::com_port(Box::new(ComPort::new(&target.name, self.settings)));
        write
            .write_all(&neg.start(false))
            .await
            .map_err(|e| ConnectError::Unreachable {
                device: target.name.clone(),
                address: target.address.clone(),
                message: e.to_string(),
            })?;
        let wire = Wire {
            read,
            write,
            decoder: Decoder::new(),
            neg,
        };
        tracing::info!(device = %target.name, "RFC 2217 console link open");
        let (link, ends) = Link::pair();
        tokio::spawn(pump(target.name.clone(), wire, Vec::new(), ends));
        Ok(link)
    }
}

#[cfg(test)]
#[path = "rfc2217_tests.rs"]
mod tests;
