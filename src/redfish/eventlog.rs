//! The BMC's event log: the entries of every log service of the system's managers
//! (`Managers/*/LogServices/*/Entries`), newest first.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::client::Client;
use super::model::{LogEntries, LogService, Manager, RawLogEntry};
use super::system::System;
use super::Result;

/// Pages of one log read at most (a BMC log holds a few thousand entries at most).
const MAX_PAGES: usize = 50;

/// One event log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The log service it came from (`SEL`, `Lclog`...).
    pub log: String,
    /// Its `Id`.
    pub id: String,
    /// `Created`, as the BMC wrote it.
    pub created: Option<String>,
    /// `Severity` (`OK`, `Warning`, `Critical`).
    pub severity: Option<String>,
    /// `Message`, or `MessageId` when there is no message.
    pub message: String,
}

impl LogEntry {
    fn from_raw(log: &str, e: RawLogEntry) -> LogEntry {
        LogEntry {
            log: log.to_string(),
            id: e.id,
            created: e.created,
            severity: e.severity,
            message: e.message.or(e.message_id).unwrap_or_default(),
        }
    }

    fn time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(self.created.as_deref()?, &Rfc3339).ok()
    }
}

impl Client {
    /// The newest `n` entries of the event logs of `sys`'s managers, newest first (entries
    /// without a readable `Created` come last).
    pub async fn event_log(&self, sys: &System, n: usize) -> Result<Vec<LogEntry>> {
        let mut services = Vec::new();
        for m in self.managers_of(sys).await? {
            let mgr: Manager = self.t.get(&m, "Manager").await?;
            if let Some(l) = mgr.log_services {
                services.extend(self.members(&l.id).await?);
            }
        }
        if services.is_empty() {
            return Err(self.unsupported(&format!(
                "the managers of system {} offer no LogServices",
                sys.id
            )));
        }
        let mut entries = Vec::new();
        for s in services {
            let svc: LogService = self.t.get(&s, "LogService").await?;
            if let Some(e) = svc.entries {
                entries.extend(self.log_entries(&svc.id, &e.id).await?);
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.time()));
        entries.truncate(n);
        Ok(entries)
    }

    async fn log_entries(&self, log: &str, path: &str) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        for _ in 0..MAX_PAGES {
            let Some(p) = next.take() else { break };
            let page: LogEntries = self.t.get(&p, "LogEntryCollection").await?;
            out.extend(page.members.into_iter().map(|e| LogEntry::from_raw(log, e)));
            next = page.next_link;
        }
        Ok(out)
    }
}
