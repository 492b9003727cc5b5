//! IPMI Serial-over-LAN consoles: an RMCP+ session to the BMC with the credential the
//! bastion holds, SOL activated on it, and the SOL stream as a [`Link`] (break included),
//! so the console broker shares and logs it like any serial console.

use async_trait::async_trait;

use super::{
    ConnectError, Connector, DeviceCredential, EndReason, Link, LinkControl, LinkEvent,
    LinkRequest, Result, Target,
};
use crate::inventory::Device;
use crate::ipmi::sol::{self, SolEnd, SolInput, SolOptions};
use crate::ipmi::{BmcTarget, IpmiError, Session};

/// The IPMI target for BMC device `device` with the bastion-held login.
pub fn bmc_target(device: &Device, login: &DeviceCredential) -> crate::ipmi::Result<BmcTarget> {
    BmcTarget::new(
        &device.name,
        &device.address.endpoint(),
        &login.username,
        login.password.as_deref().unwrap_or(""),
    )
    .with_suites(&device.cipher_suites)
}

fn sol_input(c: LinkControl) -> Option<SolInput> {
    match c {
        LinkControl::Data(b) => Some(SolInput::Data(b)),
        LinkControl::Break => Some(SolInput::Break),
        LinkControl::Close => Some(SolInput::Close),
        _ => None,
    }
}

fn end_reason(e: SolEnd) -> EndReason {
    match e {
        SolEnd::Deactivated => EndReason::DeviceClosed,
        SolEnd::Closed => EndReason::LocalClose,
        SolEnd::Lost(why) => EndReason::Lost(why),
    }
}

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
        let opts = self.opts.clone();
        tokio::spawn(async move {
            let events = ends.events.clone();
            let end = sol::pump(
                session,
                chunk,
                opts,
                ends.events,
                ends.control,
                LinkEvent::Data,
                sol_input,
            )
            .await;
            let _ = events.send(LinkEvent::Closed(end_reason(end))).await;
        });
        Ok(link)
    }
}
