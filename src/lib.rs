//! oobgate: a privileged-access bastion and session broker for out-of-band management.
//!
//! The module map follows `ARCHITECTURE.md`: one concept per module, each with its own
//! error type, in layers that import only downward:
//!
//! - `cli` (the `oobgate` command) over `frontdoor` (the russh servers, the `ssh bastion`
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

pub use frontdoor::serve;
