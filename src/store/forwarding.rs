//! An audit log that also hands every appended event to a syslog forwarder (the SIEM's
//! copy), after it is in the chain. Forwarding never waits: a slow or absent receiver
//! costs dropped copies, never a session.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AuditLog, Result};
use crate::audit::syslog::SyslogForwarder;
use crate::audit::{Event, EventFilter, EventRow, VerifyReport};

/// `inner`, with every appended event also sent to `syslog`.
pub struct Forwarded {
    inner: Arc<dyn AuditLog>,
    syslog: SyslogForwarder,
}

impl Forwarded {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn AuditLog>, syslog: SyslogForwarder) -> Forwarded {
        Forwarded { inner, syslog }
    }
}

#[async_trait]
impl AuditLog for Forwarded {
    async fn append(&self, ev: Event) -> Result<EventRow> {
        let row = self.inner.append(ev).await?;
        self.syslog.send(&row);
        Ok(row)
    }

    async fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify().await
    }

    async fn head(&self) -> Result<Option<(i64, String)>> {
        self.inner.head().await
    }

    async fn after(&self, after: i64, limit: usize) -> Result<Vec<EventRow>> {
        self.inner.after(after, limit).await
    }

    async fn tail(&self, n: usize) -> Result<Vec<EventRow>> {
        self.inner.tail(n).await
    }

    async fn query(&self, filter: &EventFilter) -> Result<Vec<EventRow>> {
        self.inner.query(filter).await
    }
}
