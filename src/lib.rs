//! oobgate: a privileged-access bastion and session broker for out-of-band management.
//!
//! The module map follows `ARCHITECTURE.md`: one concept per module, each with its own
//! error type. [`serve`] is the entry point both `main.rs` and the integration tests use.

pub mod access;
pub mod audit;
pub mod config;
pub mod connect;
pub mod console;
pub mod frontdoor;
pub mod identity;
pub mod inventory;
pub mod ipmi;
pub mod notify;
pub mod policy;
pub mod recording;
pub mod search;
pub mod secrets;
pub mod session;

pub use frontdoor::serve;
