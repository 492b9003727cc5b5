//! CEF escaping: header and extension rules of the CEF specification, and a round trip
//! through a reader that follows the same rules.

use super::*;

fn row(user: &str, reason: &str) -> EventRow {
    EventRow {
        id: 42,
        ts: "2026-11-23T10:00:00.250Z".into(),
        kind: "auth.reject".into(),
        user: Some(user.into()),
        source: Some("127.0.0.1:50022".into()),
        device: Some("sw|1".into()),
        action: None,
        outcome: Some("deny".into()),
        detail: serde_json::json!({ "code": "unknown-ca", "reason": reason }),
        prev_hash: "00".into(),
        hash: "ab".into(),
        node: None,
    }
}

/// Splits a CEF line into its seven unescaped header fields and its extension text.
fn split_header(line: &str) -> (Vec<String>, String) {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while fields.len() < 7 {
        match chars.next().expect("header ends early") {
            '\\' => cur.push(chars.next().expect("dangling escape")),
            '|' => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    (fields, chars.collect())
}

/// Reads `key=value` pairs: a key is the word before an unescaped `=`.
fn extension(text: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut raw = String::new();
    let mut chars = text.chars().peekable();
    let mut key = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.push('\\');
                raw.push(chars.next().expect("dangling escape"));
            }
            '=' => {
                // The new key is the last word of what came before.
                let split = raw.rfind(' ').map(|i| i + 1).unwrap_or(0);
                let next_key = raw[split..].to_string();
                if !key.is_empty() {
                    pairs.push((key.clone(), unescape(raw[..split].trim_end())));
                }
                key = next_key;
                raw.clear();
            }
            c => raw.push(c),
        }
    }
    pairs.push((key, unescape(&raw)));
    pairs
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => panic!("dangling escape in {v:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn header_escapes_pipe_and_backslash_and_flattens_newlines() {
    assert_eq!(header(r"a|b\c"), r"a\|b\\c");
    assert_eq!(header("one\ntwo\rthree"), "one two three");
    assert_eq!(header("a=b"), "a=b", "= needs no escape in the header");
}

#[test]
fn extension_escapes_equals_backslash_and_newlines() {
    assert_eq!(extension_value(r"k=v\x"), r"k\=v\\x");
    assert_eq!(extension_value("l1\nl2\r"), r"l1\nl2\r");
    assert_eq!(
        extension_value("a|b"),
        "a|b",
        "| needs no escape in extensions"
    );
    assert_eq!(extension_value("\u{1b}[31m"), r"\\u{1b}[31m");
}

#[test]
fn hostile_values_survive_a_round_trip_and_stay_on_one_line() {
    let user = "eve=admin\\ |x\nCEF:0|forged|line";
    let reason = "bad cert = \"x\" \r\n\u{1b}[2J";
    let line = to_cef(&row(user, reason));
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    let (header, ext) = split_header(&line);
    assert_eq!(header[0], "CEF:0");
    assert_eq!(
        header[1..4],
        ["oobgate", "oobgate", env!("CARGO_PKG_VERSION")]
    );
    assert_eq!(header[4], "auth.reject");
    assert_eq!(header[5], "login rejected: sw|1");
    assert_eq!(header[6], "5");
    let pairs = extension(&ext);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k} in {pairs:?}"))
    };
    assert_eq!(get("suser"), user);
    assert_eq!(get("src"), "127.0.0.1");
    assert_eq!(get("spt"), "50022");
    assert_eq!(get("dhost"), "sw|1");
    assert_eq!(get("rt"), "1795428000250");
    assert_eq!(get("externalId"), "42");
    assert_eq!(get("reason"), reason.replace('\u{1b}', "\\u{1b}"));
    let detail: serde_json::Value = serde_json::from_str(&get("cs1")).unwrap();
    assert_eq!(detail["code"], "unknown-ca");
}
