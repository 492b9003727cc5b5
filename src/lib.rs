//! oobgate: a privileged-access bastion and session broker for out-of-band management.
//!
//! The module map follows `ARCHITECTURE.md`: one concept per module, each with its own
//! error type, in layers that import only downward:
//!
//! - `cli` (the `oobgate` command) and `web` (the auditor's console) over `frontdoor` (the russh servers, the `ssh bastion`
//!   commands) over `session` (the pipeline: requests, guard, bridge, console attach);
//! - `config` and `bastion` (the shared context: keys, stores, engines);
//! - `access`, `connect`, `console`;
//! - the foundations: `inventory`, `identity`, `policy`, `secrets`, `recording`, `audit`,
//!   `store`, `ipmi`, `notify`, `metrics`.
//!
//! [`serve`] is the entry point both `main.rs` and the integration tests use.

pub mod access;
pub mod audit;
pub mod bastion;
pub mod bmc;
pub mod config;
pub mod connect;
pub mod console;
pub mod frontdoor;
pub mod identity;
pub mod inventory;
pub mod ipmi;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod recording;
pub mod redfish;
pub mod search;
pub mod secrets;
pub mod session;
pub mod store;
#[cfg(test)]
mod testing;
pub mod web;

/// Serves the bastion on `listener` (the front door, and the web console when `[web]`
/// is set) until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: config::Config,
    shutdown: tokio_util::sync::CancellationToken,
) -> frontdoor::Result<()> {
    let (_keep, reloads) = tokio::sync::mpsc::channel(1);
    serve_with_reload(listener, config, shutdown, reloads).await
}

/// Like [`serve`], reloading at each message of `reloads` (SIGHUP).
pub async fn serve_with_reload(
    listener: tokio::net::TcpListener,
    config: config::Config,
    shutdown: tokio_util::sync::CancellationToken,
    reloads: tokio::sync::mpsc::Receiver<()>,
) -> frontdoor::Result<()> {
    let web =
        Box::new(|b: &std::sync::Arc<bastion::Bastion>| web::start(b).map_err(|e| e.to_string()));
    frontdoor::serve_with_reload(listener, config, shutdown, reloads, web).await
}
