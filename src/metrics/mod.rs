//! Operational metrics in the Prometheus text format (`[metrics]`).
//!
//! One [`Metrics`] per bastion (cheap to clone) holds every family; the places that know a
//! fact record it (the front door its logins, the authorizer its decisions, the session
//! guard its sessions, the notifier its failures), and what is a state rather than an event
//! (console links, the webhook queue) is sampled when scraped. Labels are bounded: device
//! kinds, actions, refusal codes and console names from the inventory, never user names
//! or session ids.

mod config;
mod server;

pub use config::MetricsConfig;
pub use server::{serve, Sampler};

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    action: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsoleLabel {
    console: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: String,
}

/// Histograms by device kind, all with the same buckets.
#[derive(Clone)]
struct Histograms(Family<KindLabel, Histogram, fn() -> Histogram>);

impl Default for Histograms {
    fn default() -> Self {
        Histograms(Family::new_with_constructor(seconds_histogram))
    }
}

impl Histograms {
    fn observe(&self, kind: &str, took: Duration) {
        let label = KindLabel { kind: kind.into() };
        self.0.get_or_create(&label).observe(took.as_secs_f64());
    }
}

/// Seconds from 5 ms to about 80 s.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The states a console link is reported in (one series each, 1 for the current one).
pub const LINK_STATES: [&str; 4] = ["idle", "connecting", "up", "down"];

struct Inner {
    registry: Registry,
    families: Families,
}

#[derive(Default)]
struct Families {
    sessions_live: Family<KindLabel, Gauge>,
    logins: Family<LoginLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    session_setup: Histograms,
    device_connect: Histograms,
    device_connect_failures: Family<KindLabel, Counter>,
    console_link: Family<ConsoleLabel, Gauge>,
    recording_bytes: Family<DirectionLabel, Counter>,
    recording_failures: Counter,
    search_index_dropped: Counter,
    audit_appends: Family<OutcomeLabel, Counter>,
    webhook_queue: Gauge,
    webhook_failures: Counter,
}

impl Families {
    fn register(&self, r: &mut Registry) {
        r.register(
            "sessions_live",
            "Sessions running now, by device kind",
            self.sessions_live.clone(),
        );
        r.register(
            "logins",
            "Logins accepted and refused, by reason",
            self.logins.clone(),
        );
        r.register(
            "policy_decisions",
            "Authorization decisions, by action and decision",
            self.decisions.clone(),
        );
        r.register(
            "session_setup_seconds",
            "Time from a session's request to its start, by device kind",
            self.session_setup.0.clone(),
        );
        r.register(
            "device_connect_seconds",
            "Time to open a device link, by device kind",
            self.device_connect.0.clone(),
        );
        r.register(
            "device_connect_failures",
            "Device links that could not be opened, by device kind",
            self.device_connect_failures.clone(),
        );
        r.register(
            "console_link_state",
            "Console link state: 1 for the current state of each console",
            self.console_link.clone(),
        );
        r.register(
            "recording_bytes",
            "Bytes recorded, by direction",
            self.recording_bytes.clone(),
        );
        r.register(
            "recording_failures",
            "Recordings that could not be opened or sealed",
            self.recording_failures.clone(),
        );
        r.register(
            "search_index_dropped",
            "Times the search index fell behind or failed (live indexing of a session stopped, or lines not added)",
            self.search_index_dropped.clone(),
        );
        r.register(
            "audit_appends",
            "Audit events appended to the chain, by outcome",
            self.audit_appends.clone(),
        );
        r.register(
            "webhook_queue_depth",
            "Webhook events waiting for delivery",
            self.webhook_queue.clone(),
        );
        r.register(
            "webhook_failures",
            "Webhook events dropped (queue full or every retry failed)",
            self.webhook_failures.clone(),
        );
    }
}

/// Every metric of one bastion; cheap to clone. `Metrics::default()` is a fresh set.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh set, every family registered (under the `oobgate_` prefix).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("oobgate");
        let families = Families::default();
        families.register(&mut registry);
        Metrics {
            inner: Arc::new(Inner { registry, families }),
        }
    }

    /// The whole set in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// A session of a device of `kind` started; it counts as live until the handle drops.
    pub fn session_live(&self, kind: &str) -> LiveSessionMetric {
        let gauge = self
            .inner
            .families
            .sessions_live
            .get_or_create_owned(&KindLabel {
                kind: kind.to_string(),
            });
        gauge.inc();
        LiveSessionMetric { gauge }
    }

    /// A login was accepted (`reason`: how) or refused (`reason`: the refusal code).
    pub fn login(&self, accepted: bool, reason: &str) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.inner
            .families
            .logins
            .get_or_create(&LoginLabels {
                outcome: outcome.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// An authorization decision on `action`.
    pub fn decision(&self, action: &str, allowed: bool) {
        let decision = if allowed { "allow" } else { "deny" };
        self.inner
            .families
            .decisions
            .get_or_create(&DecisionLabels {
                action: action.into(),
                decision: decision.into(),
            })
            .inc();
    }

    /// A session on a device of `kind` took `took` from its request to its start.
    pub fn session_setup(&self, kind: &str, took: Duration) {
        self.inner.families.session_setup.observe(kind, took);
    }

    /// A device link of `kind` was opened in `took`, or failed (`ok` false).
    pub fn device_connect(&self, kind: &str, took: Duration, ok: bool) {
        let families = &self.inner.families;
        if ok {
            families.device_connect.observe(kind, took);
        } else {
            let label = KindLabel { kind: kind.into() };
            families.device_connect_failures.get_or_create(&label).inc();
        }
    }

    /// Sets the state of each console (`state` one of [`LINK_STATES`]); consoles not
    /// listed are dropped from the family.
    pub fn console_links<'a>(&self, consoles: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let family = &self.inner.families.console_link;
        family.clear();
        for (console, current) in consoles {
            for state in LINK_STATES {
                let label = ConsoleLabel {
                    console: console.into(),
                    state: state.into(),
                };
                family
                    .get_or_create(&label)
                    .set(i64::from(state == current));
            }
        }
    }

    /// A sealed recording held `bytes_in` typed and `bytes_out` shown bytes.
    pub fn recorded(&self, bytes_in: u64, bytes_out: u64) {
        for (direction, n) in [("input", bytes_in), ("output", bytes_out)] {
            self.inner
                .families
                .recording_bytes
                .get_or_create(&DirectionLabel {
                    direction: direction.into(),
                })
                .inc_by(n);
        }
    }

    /// A recording could not be opened, written or sealed.
    pub fn recording_failed(&self) {
        self.inner.families.recording_failures.inc();
    }

    /// The search index fell behind a session or could not add its lines.
    pub fn search_index_dropped(&self) {
        self.inner.families.search_index_dropped.inc();
    }

    /// An audit event was appended (`ok`) or could not be.
    pub fn audit_append(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.inner
            .families
            .audit_appends
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// How many webhook events wait for delivery now.
    pub fn webhook_queue(&self, depth: usize) {
        self.inner
            .families
            .webhook_queue
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A webhook event was dropped after its last attempt failed.
    pub fn webhook_failed(&self) {
        self.inner.families.webhook_failures.inc();
    }
}

/// One live session in `oobgate_sessions_live`; dropping it ends the count.
pub struct LiveSessionMetric {
    gauge: Gauge,
}

impl Drop for LiveSessionMetric {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counts_with_bounded_labels() {
        let m = Metrics::new();
        let live = m.session_live("ssh");
        m.login(false, "untrusted-ca");
        m.decision("connect", true);
        m.console_links([("srv1-console", "up")]);
        let text = m.encode();
        assert!(
            text.contains("oobgate_sessions_live{kind=\"ssh\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oobgate_logins_total{outcome=\"refused\",reason=\"untrusted-ca\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("oobgate_console_link_state{console=\"srv1-console\",state=\"up\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(live);
        assert!(m.encode().contains("oobgate_sessions_live{kind=\"ssh\"} 0"));
    }
}
