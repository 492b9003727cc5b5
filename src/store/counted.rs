//! An audit log that counts its appends (and the appends that failed) in the metrics.

use std::sync::Arc;

use async_trait::async_trait;

use super::{AuditLog, Result};
use crate::audit::{Event, EventFilter, EventRow, VerifyReport};
use crate::metrics::Metrics;

/// `inner`, with every append counted in `metrics`.
pub struct Counted {
    inner: Arc<dyn AuditLog>,
    metrics: Metrics,
}

impl Counted {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn AuditLog>, metrics: Metrics) -> Counted {
        Counted { inner, metrics }
    }
}

#[async_trait]
impl AuditLog for Counted {
    async fn append(&self, ev: Event) -> Result<EventRow> {
        let row = self.inner.append(ev).await;
        self.metrics.audit_append(row.is_ok());
        row
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
