//! How a device is reached, parsed once from the inventory's `address` (and `serial`)
//! into typed values: a network `host:port`, a local tty, or a console-server port (raw
//! TCP or telnet with RFC 2217), and the serial line settings of consoles.

use std::fmt;
use std::path::PathBuf;

use super::DeviceKind;

/// A host and a TCP/UDP port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Option<HostPort> {
        let (host, port) = s.rsplit_once(':')?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            let ip = inner.strip_suffix(']')?;
            ip.parse::<std::net::Ipv6Addr>().ok()?;
            ip.to_string()
        } else {
            if host.is_empty() || host.contains(':') || host.chars().any(char::is_whitespace) {
                return None;
            }
            host.to_string()
        };
        match port.parse::<u16>() {
            Ok(p) if p != 0 => Some(HostPort { host, port: p }),
            _ => None,
        }
    }
}

/// Where a device is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A network service (SSH, telnet, a BMC).
    Net(HostPort),
    /// A local serial port, such as `/dev/ttyUSB0`.
    Tty(PathBuf),
    /// A console-server port carrying bytes only (`raw://host:port`).
    Raw(HostPort),
    /// A console-server telnet port with RFC 2217 serial control (`rfc2217://host:port`).
    Rfc2217(HostPort),
    /// An HTTPS service (a Redfish BMC): `https://host[:port]`, port 443 when not given.
    Https(HostPort),
}

impl Address {
    /// Parses `s` as an address for a device of `kind`; the error says what was expected.
    pub fn parse(kind: DeviceKind, s: &str) -> Result<Address, String> {
        if kind == DeviceKind::Redfish {
            return parse_https(s).map(Address::Https).map_err(|why| {
                format!("invalid address {s:?} for kind {kind}: {why} (expected https://host[:port], e.g. https://192.0.2.20:443)")
            });
        }
        if kind.is_network() {
            return HostPort::parse(s).map(Address::Net).ok_or_else(|| {
                format!(
                    "invalid address {s:?} for kind {kind} (expected host:port, e.g. 192.0.2.10:22 or [2001:db8::1]:22)"
                )
            });
        }
        for (scheme, make) in [
            ("raw://", Address::Raw as fn(HostPort) -> Address),
            ("rfc2217://", Address::Rfc2217),
        ] {
            if let Some(hostport) = s.strip_prefix(scheme) {
                return HostPort::parse(hostport).map(make).ok_or_else(|| {
                    format!("invalid address {s:?} for kind {kind} (expected {scheme}host:port)")
                });
            }
        }
        if !s.starts_with('/') || s.len() < 2 {
            return Err(format!(
                "invalid address {s:?} for kind {kind} (expected a device path like /dev/ttyUSB0, or raw://host:port or rfc2217://host:port for a console server port)"
            ));
        }
        Ok(Address::Tty(PathBuf::from(s)))
    }

    /// The host and port, for every address but a local tty.
    pub fn host_port(&self) -> Option<&HostPort> {
        match self {
            Address::Net(hp) | Address::Raw(hp) | Address::Rfc2217(hp) | Address::Https(hp) => {
                Some(hp)
            }
            Address::Tty(_) => None,
        }
    }

    /// What a connector dials or opens: `host:port`, `https://host:port`, or the tty
    /// path.
    pub fn endpoint(&self) -> String {
        match self {
            Address::Tty(p) => p.display().to_string(),
            Address::Https(_) => self.to_string(),
            other => other
                .host_port()
                .map(|hp| hp.to_string())
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Net(hp) => write!(f, "{hp}"),
            Address::Tty(p) => write!(f, "{}", p.display()),
            Address::Raw(hp) => write!(f, "raw://{hp}"),
            Address::Rfc2217(hp) => write!(f, "rfc2217://{hp}"),
            Address::Https(hp) => write!(f, "https://{hp}"),
        }
    }
}

/// `https://host[:port][/]` into its host and port (443 by default); the error says what
/// is wrong.
fn parse_https(s: &str) -> Result<HostPort, &'static str> {
    let Some(rest) = s.strip_prefix("https://") else {
        return Err(if s.starts_with("http://") {
            "a Redfish BMC is reached over https:// only"
        } else {
            "it does not start with https://"
        });
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err("credentials do not belong in the address (they come from the secrets store)");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("give only the host and port, without a path");
    }
    let bracketed_v6 = rest.starts_with('[') && rest.ends_with(']');
    let with_port = if bracketed_v6 || !rest.contains(':') {
        format!("{rest}:443")
    } else {
        rest.to_string()
    };
    HostPort::parse(&with_port).ok_or("not a host[:port]")
}

/// Serial line settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    /// Bits per second.
    pub baud: u32,
    /// 5 to 8.
    pub data_bits: u8,
    /// `n`, `o` or `e`.
    pub parity: char,
    /// 1 or 2.
    pub stop_bits: u8,
    /// `none`, `rtscts` or `xonxoff`.
    pub flow: &'static str,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            baud: 115200,
            data_bits: 8,
            parity: 'n',
            stop_bits: 1,
            flow: "none",
        }
    }
}

impl std::str::FromStr for SerialSettings {
    type Err = String;

    /// `115200n81`, `9600e71,rtscts`, `38400n82,xonxoff`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (line, flow) = s.split_once(',').unwrap_or((s, "none"));
        let flow = match flow {
            "none" => "none",
            "rtscts" => "rtscts",
            "xonxoff" => "xonxoff",
            other => {
                return Err(format!(
                    "unknown flow control {other:?} (none, rtscts, xonxoff)"
                ))
            }
        };
        let digits = line
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(line.len());
        let baud: u32 = line[..digits]
            .parse()
            .map_err(|_| format!("{s:?}: expected a baud rate first, like 115200n81"))?;
        let rest: Vec<char> = line[digits..].chars().collect();
        let [parity, data, stop] = rest[..] else {
            return Err(format!(
                "{s:?}: expected BAUD, parity, data bits, stop bits, like 115200n81"
            ));
        };
        let parity = parity.to_ascii_lowercase();
        if !matches!(parity, 'n' | 'o' | 'e') {
            return Err(format!("{s:?}: parity must be n, o or e"));
        }
        let data_bits =
            data.to_digit(10)
                .filter(|d| (5..=8).contains(d))
                .ok_or_else(|| format!("{s:?}: data bits must be 5 to 8"))? as u8;
        let stop_bits =
            stop.to_digit(10)
                .filter(|d| (1..=2).contains(d))
                .ok_or_else(|| format!("{s:?}: stop bits must be 1 or 2"))? as u8;
        Ok(SerialSettings {
            baud,
            data_bits,
            parity,
            stop_bits,
            flow,
        })
    }
}
