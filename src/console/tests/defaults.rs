//! The production defaults (what `oobgate serve` uses: `BrokerOptions::default()`) are the
//! figures the README promises operators.

use super::super::spec::BrokerOptions;
use std::time::Duration;

const README: &str = include_str!("../../../README.md");

/// The README's text with line breaks folded, so a promise wrapped over lines is found.
fn readme() -> String {
    README.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn production_defaults_are_the_readmes() {
    let d = BrokerOptions::default();
    let text = readme();
    let promise = |p: &str| assert!(text.contains(p), "the README no longer says {p:?}");
    promise("rotated at 16 MiB with 8 files kept");
    assert_eq!(d.log_max_bytes, 16 * 1024 * 1024);
    assert_eq!(d.log_keep, 8);
    promise("a 64 KiB in-memory backlog");
    assert_eq!(d.ring_bytes, 64 * 1024);
    promise("reconnecting with backoff (0.5 s doubling to 30 s)");
    assert_eq!(d.backoff_initial, Duration::from_millis(500));
    assert_eq!(d.backoff_max, Duration::from_secs(30));
    promise("close 10 s after the last detach");
    assert_eq!(d.idle_grace, Duration::from_secs(10));
}
