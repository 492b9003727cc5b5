//! The Redfish client: connecting (certificate pin, service root, login), finding the
//! computer system, and closing the session. Power, boot, media, firmware and the event
//! log are in their own files as further `impl Client` blocks.

use std::sync::Arc;

use reqwest::{Method, StatusCode};

use super::endpoint::{Endpoint, PinPolicy};
use super::model::{Collection, ComputerSystem, ServiceRoot, SessionCreated};
use super::pins::CertPins;
use super::system::{BootOverride, PowerState, System};
use super::tls::PinVerifier;
use super::transport::{Auth, Transport};
use super::{RedfishError, Result};

const ROOT: &str = "/redfish/v1/";

/// A logged-in connection to one BMC. Call [`Client::close`] at the end so a
/// SessionService session is deleted rather than left to time out.
pub struct Client {
    pub(crate) t: Transport,
    pub(crate) root: ServiceRoot,
}

impl Client {
    /// Connects to `ep`: checks its certificate (the pinned one, the one on record in
    /// `pins`, or learns and records the first one), reads the service root, and logs in
    /// through the SessionService when the BMC offers it, with basic auth otherwise.
    pub async fn connect(ep: Endpoint, pins: Arc<dyn CertPins>) -> Result<Client> {
        let name = ep.name.clone();
        let pin_store = |source| RedfishError::PinStore {
            bmc: name.clone(),
            source,
        };
        let (expected, learn) = match ep.pin {
            PinPolicy::Pinned(fp) => (Some(fp), false),
            PinPolicy::LearnOnFirstUse => {
                let on_record = pins.get(&ep.name).await.map_err(pin_store)?;
                (on_record, on_record.is_none())
            }
        };
        let verifier = Arc::new(PinVerifier::new(expected));
        let mut t = Transport::new(ep, verifier.clone())?;
        let mut reply = t.send_raw(Method::GET, ROOT, None).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            t.auth = Auth::Basic;
            reply = t.send_raw(Method::GET, ROOT, None).await?;
        }
        if !reply.status.is_success() {
            return Err(t.status_error(&Method::GET, ROOT, &reply));
        }
        if learn {
            if let Some(fp) = verifier.seen() {
                pins.put(&name, fp).await.map_err(pin_store)?;
                tracing::info!(bmc = %name, fingerprint = %fp, "learnt BMC certificate on first use");
            }
        }
        let root: ServiceRoot = t.decode("ServiceRoot", ROOT, &reply.body)?;
        let sessions = root.links.as_ref().and_then(|l| l.sessions.clone());
        let mut client = Client { t, root };
        match sessions {
            Some(s) if client.root.session_service.is_some() => client.login(&s.id).await?,
            _ => client.basic_login().await?,
        }
        Ok(client)
    }

    /// Switches to basic auth and checks the login on a protected resource (the service
    /// root is readable without one), so a wrong password fails here.
    async fn basic_login(&mut self) -> Result<()> {
        let checked = matches!(self.t.auth, Auth::Basic);
        self.t.auth = Auth::Basic;
        if let (false, Some(systems)) = (checked, &self.root.systems) {
            self.t.send(Method::GET, &systems.id.clone(), None).await?;
        }
        Ok(())
    }

    async fn login(&mut self, sessions: &str) -> Result<()> {
        let body = serde_json::json!({
            "UserName": self.t.ep.username,
            "Password": self.t.ep.password.as_str(),
        });
        self.t.auth = Auth::None;
        let reply = self.t.send_raw(Method::POST, sessions, Some(&body)).await?;
        drop(body);
        if matches!(
            reply.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST
        ) {
            return Err(RedfishError::AuthFailed {
                bmc: self.t.ep.name.clone(),
            });
        }
        if !reply.status.is_success() {
            return Err(self.t.status_error(&Method::POST, sessions, &reply));
        }
        let token = reply
            .header("X-Auth-Token")
            .ok_or_else(|| RedfishError::Unsupported {
                bmc: self.t.ep.name.clone(),
                message: "the SessionService answered the login without an X-Auth-Token".into(),
            })?;
        let path = match reply.header("Location") {
            Some(loc) => Some(self.t.path_of(loc)?),
            None => self
                .t
                .decode::<SessionCreated>("Session", sessions, &reply.body)
                .ok()
                .and_then(|s| s.id)
                .map(|p| self.t.path_of(&p))
                .transpose()?,
        };
        self.t.auth = Auth::Session {
            token: token.to_string().into(),
            path,
        };
        Ok(())
    }

    /// Whether this client logged in through the SessionService.
    pub fn uses_session(&self) -> bool {
        matches!(self.t.auth, Auth::Session { .. })
    }

    /// Ends the SessionService session, if any.
    pub async fn close(mut self) -> Result<()> {
        if let Auth::Session { path: Some(p), .. } = &self.t.auth {
            let p = p.clone();
            let r = self.t.send(Method::DELETE, &p, None).await;
            self.t.auth = Auth::None;
            r?;
        }
        Ok(())
    }

    /// The BMC's name (as configured).
    pub fn bmc(&self) -> &str {
        &self.t.ep.name
    }

    /// The paths of the BMC's computer systems.
    pub async fn system_paths(&self) -> Result<Vec<String>> {
        let systems = self
            .root
            .systems
            .as_ref()
            .ok_or_else(|| self.unsupported("the service root lists no Systems"))?;
        self.members(&systems.id).await
    }

    /// The computer system `id`, or the only one when `id` is `None`.
    pub async fn system(&self, id: Option<&str>) -> Result<System> {
        let paths = self.system_paths().await?;
        let last = |p: &str| {
            p.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        };
        let path = match id {
            None if paths.len() == 1 => paths[0].clone(),
            None => {
                let ids: Vec<String> = paths.iter().map(|p| last(p)).collect();
                return Err(self.unsupported(&format!(
                    "the BMC manages {} systems ({}): name one",
                    ids.len(),
                    ids.join(", ")
                )));
            }
            Some(want) => match paths.iter().find(|p| last(p) == want) {
                Some(p) => p.clone(),
                None => return self.system_named(&paths, want).await,
            },
        };
        self.system_at(&path).await
    }

    /// The system among `paths` whose `Id` or `Name` is `want`.
    async fn system_named(&self, paths: &[String], want: &str) -> Result<System> {
        let mut known = Vec::new();
        for p in paths {
            let s = self.system_at(p).await?;
            if s.id == want || s.name.as_deref() == Some(want) {
                return Ok(s);
            }
            known.push(match &s.name {
                Some(n) if *n != s.id => format!("{} ({n})", s.id),
                _ => s.id.clone(),
            });
        }
        Err(self.unsupported(&format!(
            "no system {want:?} (the BMC has: {})",
            known.join(", ")
        )))
    }

    /// The computer system at `path`.
    pub(crate) async fn system_at(&self, path: &str) -> Result<System> {
        let s: ComputerSystem = self.t.get(path, "ComputerSystem").await?;
        let boot = s.boot.unwrap_or_default();
        let reset = s.actions.and_then(|a| a.reset);
        Ok(System {
            id: s.id,
            name: s.name,
            path: path.to_string(),
            power: PowerState::parse(s.power_state.as_deref()),
            boot: BootOverride {
                target: boot.boot_source_override_target,
                enabled: boot.boot_source_override_enabled,
                allowed: boot.allowed_targets,
            },
            reset_types: reset
                .as_ref()
                .map(|r| r.reset_types.clone())
                .unwrap_or_default(),
            reset_target: reset.map(|r| r.target),
            media: s.virtual_media.map(|l| l.id),
            managers: s
                .links
                .map(|l| l.managed_by.into_iter().map(|m| m.id).collect())
                .unwrap_or_default(),
        })
    }

    /// The managers of `sys` (those it names, else every manager of the service).
    pub(crate) async fn managers_of(&self, sys: &System) -> Result<Vec<String>> {
        if !sys.managers.is_empty() {
            return Ok(sys.managers.clone());
        }
        match &self.root.managers {
            Some(m) => self.members(&m.id).await,
            None => Ok(Vec::new()),
        }
    }

    /// Every member of the collection at `path`, following `nextLink` pages (at most 100).
    pub(crate) async fn members(&self, path: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        for _ in 0..100 {
            let Some(p) = next.take() else { break };
            let page: Collection = self.t.get(&p, "Collection").await?;
            out.extend(page.members.into_iter().map(|m| m.id));
            next = page.next_link;
        }
        Ok(out)
    }

    pub(crate) fn unsupported(&self, message: &str) -> RedfishError {
        RedfishError::Unsupported {
            bmc: self.t.ep.name.clone(),
            message: message.to_string(),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if matches!(self.t.auth, Auth::Session { path: Some(_), .. }) {
            tracing::warn!(bmc = %self.t.ep.name, "Redfish session left open (not closed); the BMC will expire it");
        }
    }
}
