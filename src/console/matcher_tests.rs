use std::time::Duration;

use tokio::time::{advance, Instant};

use super::super::alert::{validate, AlertConfig};
use super::*;

fn rule(toml_text: &str) -> AlertConfig {
    toml::from_str(toml_text).expect("rule parses")
}

fn matcher(toml_text: &str) -> AlertMatcher {
    AlertMatcher::new(vec![rule(toml_text).compile().expect("rule compiles")])
}

const PANIC: &str = "name = \"panic\"\nregex = \"Kernel panic\"\nconsoles = [\"srv1\"]\n";

#[tokio::test(start_paused = true)]
async fn a_line_split_over_reads_and_escapes_matches_once() {
    let mut m = matcher(PANIC);
    let now = Instant::now();
    assert!(m.output(b"boot ok\r\n[  12.1] Ker", now).is_empty());
    assert!(m.output(b"nel \x1b[1;31mpan", now).is_empty());
    let fired = m.output(b"ic\x1b(B\x1b[0m - not syncing\r\nnext", now);
    assert_eq!(
        fired,
        vec![Firing {
            rule: "panic".into(),
            line: "[  12.1] Kernel panic - not syncing".into(),
            suppressed: 0
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn osc_titles_are_dropped_and_long_lines_stay_bounded() {
    let mut m = matcher(PANIC);
    let now = Instant::now();
    let fired = m.output(b"\x1b]0;Kernel panic title\x07quiet\n", now);
    assert!(fired.is_empty(), "an OSC title is not output text");
    let flood = vec![b'x'; 10 * MAX_LINE];
    assert!(m.output(&flood, now).is_empty());
    assert!(m.line.len() < MAX_LINE, "line buffer stays bounded");
    let fired = m.output(b"\nKernel panic\n", now);
    assert_eq!(fired.len(), 1);
    let long = format!("Kernel panic {}\n", "y".repeat(2000));
    advance(Duration::from_secs(301)).await;
    let fired = m.output(long.as_bytes(), Instant::now());
    assert_eq!(fired[0].line.chars().count(), SHOWN_LINE + 3);
}

#[tokio::test(start_paused = true)]
async fn holdoff_counts_matches_and_reports_them_with_the_next_firing() {
    let mut m = matcher(&format!("{PANIC}holdoff = \"1m\"\n"));
    let lines = "Kernel panic\n".repeat(1000);
    let fired = m.output(lines.as_bytes(), Instant::now());
    assert_eq!(fired.len(), 1, "a flood fires once");
    assert_eq!(fired[0].suppressed, 0);
    advance(Duration::from_secs(59)).await;
    assert!(m.output(b"Kernel panic\n", Instant::now()).is_empty());
    advance(Duration::from_secs(2)).await;
    let fired = m.output(b"Kernel panic again\n", Instant::now());
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].suppressed, 1000, "999 of the flood and one more");
}

#[tokio::test(start_paused = true)]
async fn count_within_fires_on_the_fifth_match_in_a_minute() {
    let mut m = matcher(
        "name = \"logins\"\nregex = \"Login incorrect\"\nconsoles = [\"sw1\"]\ncount = 5\nwithin = \"1m\"\nholdoff = \"1s\"\n",
    );
    for _ in 0..4 {
        assert!(m.output(b"Login incorrect\n", Instant::now()).is_empty());
        advance(Duration::from_secs(20)).await;
    }
    // The first of those four is now 80 s old: only three remain in the window.
    assert!(m.output(b"Login incorrect\n", Instant::now()).is_empty());
    let fired = m.output(b"Login incorrect\n", Instant::now());
    assert_eq!(fired.len(), 1, "five within a minute fire");
    assert_eq!(fired[0].rule, "logins");
    assert!(m.output(b"Login incorrect\n", Instant::now()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn reconnects_fire_when_the_link_keeps_coming_back() {
    let mut m = matcher(
        "name = \"flapping\"\non = \"reconnects\"\nlabels = { site = \"ams1\" }\ncount = 3\nwithin = \"10m\"\n",
    );
    assert!(m.output(b"Kernel panic\n", Instant::now()).is_empty());
    assert!(m.reconnected(Instant::now()).is_empty());
    assert!(m.reconnected(Instant::now()).is_empty());
    let fired = m.reconnected(Instant::now());
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].line, "link reconnected 3 times within 10m");
}

#[test]
fn bad_rules_are_config_errors_naming_the_rule() {
    let bad = rule("name = \"sys\"\nregex = \"%SYS-2-(\"\nconsoles = [\"sw1\"]\n");
    let (key, reason) = validate(&[bad]).unwrap_err();
    assert_eq!(key, "alert[0] (\"sys\")");
    assert!(reason.contains("does not compile"), "{reason}");
    let nowhere = rule("name = \"x\"\nregex = \"a\"\n");
    assert!(validate(&[nowhere])
        .unwrap_err()
        .1
        .contains("consoles or labels"));
    let count = rule("name = \"x\"\nregex = \"a\"\nconsoles = [\"a\"]\ncount = 5\n");
    assert!(validate(&[count]).unwrap_err().1.contains("needs within"));
    let ok = rule("name = \"sys\"\nregex = \"%SYS-2-\"\nlabels = { type = \"switch\" }\n");
    assert!(validate(std::slice::from_ref(&ok)).is_ok());
    let labels = [("type".to_string(), "switch".to_string())].into();
    assert!(ok.applies_to("sw1", &labels));
    assert!(!ok.applies_to("sw1", &Default::default()));
}
