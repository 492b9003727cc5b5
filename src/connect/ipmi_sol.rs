//! IPMI Serial-over-LAN consoles: an RMCP+ session to the BMC with the credential the
//! bastion holds, SOL activated on it, and the SOL stream as a [`Link`] (break included),
//! so the console broker shares and logs it like any serial console.

use async_trait::async_trait;

use super::{ConnectError, Connector, DeviceCredential, Link, LinkRequest, Result, Target};
use crate::ipmi::sol::{self, SolOptions};
use crate::ipmi::{BmcTarget, IpmiError, Session};

/// Opens SOL consoles on BMCs.
#[derive(Debug, Clone)]
pub struct IpmiSolConnector {
    suites: Vec<u8>,
    opts: SolOptions,
}

impl IpmiSolConnector {
    /// A connector trying `suites` (17 and/or 3) in order.
    pub fn new(suites: Vec<u8>, opts: SolOptions) -> Self {
        IpmiSolConnector { suites, opts }
    }
}

fn map_err(target: &Target, e: IpmiError) -> ConnectError {
    match e {
        IpmiError::AuthFailed { .. } => ConnectError::AuthFailed {
            device: target.name.clone(),
            methods_tried: vec!["IPMI RAKP".into()],
        },
        IpmiError::Unreachable { message, .. } => ConnectError::Unreachable {
            device: target.name.clone(),
            address: target.address.clone(),
            message,
        },
        IpmiError::Timeout { what, seconds, .. } => ConnectError::Timeout {
            device: target.name.clone(),
            stage: what,
            seconds,
        },
        IpmiError::Config(reason) => ConnectError::Config {
            device: target.name.clone(),
            reason,
        },
        other => ConnectError::SessionRefused {
            device: target.name.clone(),
            reason: other.to_string(),
        },
    }
}

#[async_trait]
impl Connector for IpmiSolConnector {
    async fn open(
        &self,
        target: &Target,
        cred: &DeviceCredential,
        _req: &LinkRequest,
    ) -> Result<Link> {
        let bmc = BmcTarget::new(
            &target.name,
            &target.address,
            &cred.username,
            cred.password.as_deref().unwrap_or(""),
        )
        .with_suites(&self.suites)
        .map_err(|e| map_err(target, e))?;
        let mut session = Session::open(&bmc).await.map_err(|e| map_err(target, e))?;
        let chunk = sol::activate(&mut session, &self.opts)
            .await
            .map_err(|e| map_err(target, e))?;
        tracing::info!(device = %target.name, "SOL link open");
        let (link, ends) = Link::pair();
        tokio::spawn(sol::pump(
            session,
            chunk,
            self.opts.clone(),
            ends.events,
            ends.control,
        ));
        Ok(link)
    }
}
