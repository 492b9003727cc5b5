//! The auditor's web console in a real headless Chromium (driven by playwright-core over
//! CDP, one browser for the whole binary): one-time links from the real `ssh bastion web`,
//! the session browser and search, the player opened at a hit's moment, the live view of
//! a session a real ssh client types into, approvals, refusals, and hostile recordings.

mod common;

use std::time::Duration;

use common::access_lab::access_lab;
use common::browser::{scenario, scenario_until_ready};
use common::device_lab::device_lab_policy;
use common::{text, wait_until, Attached, Lab, LabOptions, POLICY, WAIT};
use oobgate::connect::testing::SshdOptions;
use serde_json::json;

/// A `[web]` table on a free loopback port (chosen when the console binds).
fn web_table() -> String {
    web_table_with("")
}

/// A `[web]` table on port 0 (a free port, which the links name), with `more` lines.
fn web_table_with(more: &str) -> String {
    format!("[web]\nlisten = \"127.0.0.1:0\"\n{more}\n")
}

/// `ssh bastion web` as `cfg`'s user: the link it printed.
fn link(lab: &Lab, cfg: &std::path::Path) -> String {
    let out = lab.ssh(cfg, &["web"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let link = stdout.lines().next().unwrap_or_default().to_string();
    assert!(link.starts_with("https://127.0.0.1:"), "{stdout}");
    assert!(link.contains("/login/"), "{stdout}");
    link
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_link_logs_in_once_with_strict_cookies_and_a_revoked_certificate_ends_the_login() {
    let lab = Lab::start_with(LabOptions {
        extra: web_table_with("max_login_failures_per_minute = 3"),
        ..Default::default()
    });
    let carol = lab.user("carol", "carol,role:auditor");

    let first = link(&lab, &carol);
    let seen = scenario("login", json!({ "link": first }));
    assert_eq!(seen["status"], 200, "{seen:#}");
    assert_eq!(seen["h1"], "Sessions", "{seen:#}");
    assert!(
        seen["who"]
            .as_str()
            .unwrap()
            .contains("carol (role:auditor)"),
        "{seen:#}"
    );
    assert_eq!(
        seen["cookies"],
        json!([{ "name": "__Host-oobgate", "httpOnly": true, "secure": true, "sameSite": "Strict" }]),
        "{seen:#}"
    );
    assert_eq!(seen["scriptSeesCookie"], "", "{seen:#}");
    // The same link a second time, in a fresh browser: refused, and no login.
    assert_eq!(seen["second"]["status"], 403, "{seen:#}");
    assert_eq!(seen["second"]["api"], 401, "{seen:#}");
    assert!(
        seen["dialogs"].as_array().unwrap().is_empty()
            && strings(&seen["console"])
                .iter()
                .all(|c| !c.contains("Content Security Policy")),
        "{seen:#}"
    );
    let ok = lab.wait_event("web.login", |e| e.outcome.as_deref() == Some("ok"));
    assert_eq!(ok.user.as_deref(), Some("carol"));
    lab.wait_event("web.login", |e| e.outcome.as_deref() == Some("deny"));
    assert!(
        !lab.events("").iter().any(|e| e
            .detail
            .to_string()
            .contains(first.rsplit('/').next().unwrap())),
        "the link's token is in the audit log"
    );

    // Logged in, then the certificate is revoked: the next request is refused.
    let waiting = scenario_until_ready("revoked", json!({ "link": link(&lab, &carol) }));
    std::fs::write(lab.root().join("revoked"), "key-id carol-key\n").unwrap();
    let seen = waiting.go();
    assert_eq!(seen["before"], 200, "{seen:#}");
    assert_eq!(seen["after"], 401, "{seen:#}");

    // `oobgate check` prints the fingerprint of the certificate the console presents.
    let out = lab.oobgate(&["check"]);
    let (stdout, stderr) = text(&out);
    let pem = lab.config.data_dir.join("web-tls/cert.pem");
    let openssl = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&openssl.stdout);
    let fp = fp.trim().rsplit('=').next().unwrap();
    assert!(
        stdout.contains(&format!("certificate SHA-256 fingerprint {fp}")),
        "{stdout}{stderr} (openssl: {fp})"
    );

    // Guessing links: after the third failure this minute the address is refused, even
    // with a good link (which stays unused).
    let status = |url: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = first.rsplit_once("/login/").unwrap().0.to_string();
    let bogus = format!("{base}/login/{}", "0".repeat(64));
    // One failure so far (the first link used again): two more reach the limit.
    assert_eq!(status(&bogus), "403");
    assert_eq!(status(&bogus), "403");
    assert_eq!(status(&bogus), "429");
    assert_eq!(
        status(&link(&lab, &lab.user("cora", "cora,role:auditor"))),
        "429"
    );
}

#[test]
fn a_search_hit_opens_the_player_at_its_moment_and_hostile_output_stays_text() {
    let d = device_lab_policy(SshdOptions::default(), "", "", &web_table(), None);
    let lab = &d.lab;
    let carol = lab.user("carol", "carol,role:auditor");
    let dave = lab.user("dave", "dave,role:netops");

    let mut alice = Attached::start(&d.cfg, "sw1");
    // The prompt first, so the answer starts a line of its own (typed ahead, the prompt
    // would share its row, and the line's moment would be the prompt's).
    alice.expect("$ ");
    alice.send(b"sleep 1; echo answer-$((6*7))\r");
    alice.expect("answer-42");
    alice.send(
        b"printf '<script>alert(1)</script> <img src=x onerror=alert(2)> \\033]8;;javascript:alert(3)\\033\\\\link\\033]8;;\\033\\\\ \\033]0;<b>t</b>\\007 hostile-%s\\n' done\r",
    );
    alice.expect("hostile-done");
    alice.send(b"exit\r");
    alice.wait_exit();
    let end = lab.wait_event("session.end", |e| e.user.as_deref() == Some("alice"));
    let session = end.detail["session"].as_str().unwrap().to_string();
    // The search index has both lines before the browser asks.
    wait_until("the index to hold the lines", WAIT, || {
        let out = lab.ssh(&carol, &["search", "hostile-done", "--shown"]);
        let (o, e) = text(&out);
        if o.contains(&session) {
            Ok(())
        } else {
            Err(format!("{o}{e}"))
        }
    });

    let seen = scenario(
        "search",
        json!({ "link": link(lab, &carol), "q": "answer-42", "needle": "answer-42" }),
    );
    let hits = strings(&seen["hits"]);
    assert!(
        hits.iter()
            .any(|h| h.contains(&session) && h.contains("shown")),
        "{seen:#}"
    );
    let rec = oobgate::recording::Recording::open(
        &lab.config.recording_dir.join(format!("{session}.cast")),
    )
    .unwrap();
    let at = rec
        .events
        .iter()
        .find(|e| e.code == 'o' && String::from_utf8_lossy(&e.data).contains("answer-42"))
        .unwrap()
        .time;
    let start: f64 = seen["start"].as_str().unwrap().parse().unwrap();
    assert!(
        (start - at).abs() < 0.01,
        "player opened at {start}, the answer is at {at}: {seen:#}"
    );
    assert!(
        seen["shows"].as_bool().unwrap(),
        "the player does not show the answer: {seen:#}"
    );
    // Playing goes on from there, not from the start.
    assert!(seen["current"].as_f64().unwrap() >= at - 0.05, "{seen:#}");
    assert!(
        seen["badge"].as_str().unwrap().contains("Recording intact"),
        "{seen:#}"
    );
    assert!(seen["dialogs"].as_array().unwrap().is_empty(), "{seen:#}");

    // A device printing markup and terminal tricks: shown as text, nothing runs.
    let seen = scenario(
        "hostile",
        json!({ "link": link(lab, &carol), "q": "hostile-done" }),
    );
    let lines = strings(&seen["lines"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("<script>alert(1)</script> <img src=x onerror=alert(2)>")),
        "{seen:#}"
    );
    assert_eq!(seen["dialogs"], json!([]), "{seen:#}");
    assert_eq!(seen["inlineScripts"], 0, "{seen:#}");
    assert_eq!(seen["injected"], 0, "{seen:#}");
    assert!(
        seen["terminal"]
            .as_str()
            .unwrap()
            .contains("<script>alert(1)</script>"),
        "{seen:#}"
    );

    // Without `replay` on sw1, the session is not there at all, whatever is asked.
    let paths = [
        "/api/search?q=answer-42".to_string(),
        format!("/session?id={session}"),
        format!("/cast?id={session}"),
        "/api/sessions".to_string(),
    ];
    let seen = scenario("get", json!({ "link": link(lab, &dave), "paths": paths }));
    let answers = seen["answers"].as_array().unwrap();
    assert_eq!(
        answers[0],
        json!({ "status": 200, "body": "[]" }),
        "{seen:#}"
    );
    assert_eq!(answers[1]["status"], 404, "{seen:#}");
    assert_eq!(answers[2]["status"], 404, "{seen:#}");
    assert!(
        !answers[2]["body"].as_str().unwrap().contains("answer"),
        "{seen:#}"
    );
    assert_eq!(
        answers[3],
        json!({ "status": 200, "body": "[]" }),
        "{seen:#}"
    );
}

#[test]
fn the_live_view_shows_new_output_within_a_second_and_marks_the_recording() {
    let policy = format!("{POLICY}p, role:watcher, *, watch, allow\n");
    let d = device_lab_policy(SshdOptions::default(), "", "", &web_table(), Some(policy));
    let lab = &d.lab;
    let vera = lab.user("vera", "vera,role:watcher");

    let mut alice = Attached::start(&d.cfg, "sw1");
    alice.send(b"echo first-$((1+1))\r");
    alice.expect("first-2");
    let start = lab.wait_event("session.start", |e| e.user.as_deref() == Some("alice"));
    let session = start.detail["session"].as_str().unwrap().to_string();

    let waiting = scenario_until_ready(
        "live",
        json!({ "link": link(lab, &vera), "first": "first-2", "needle": "live-10" }),
    );
    alice.send(b"echo live-$((5+5))\r");
    alice.expect("live-10");
    let seen = waiting.go();
    assert!(
        strings(&seen["rows"])
            .iter()
            .any(|r| r.contains(&session) && r.contains("alice")),
        "{seen:#}"
    );
    assert_eq!(
        seen["before"], true,
        "the last screen was not shown: {seen:#}"
    );
    assert_eq!(seen["shown"], true, "{seen:#}");
    let after = seen["after_ms"].as_u64().unwrap();
    assert!(
        after < 1000,
        "the live view showed the output {after} ms after the admin saw it"
    );

    alice.send(b"exit\r");
    alice.wait_exit();
    lab.wait_event("session.end", |e| e.user.as_deref() == Some("alice"));
    let watch = lab.wait_event("watch", |e| e.user.as_deref() == Some("vera"));
    assert_eq!(watch.detail["via"], "web");
    let rec = oobgate::recording::Recording::open(
        &lab.config.recording_dir.join(format!("{session}.cast")),
    )
    .unwrap();
    assert!(
        rec.events
            .iter()
            .any(|e| e.code == 'm' && e.data == b"watched by vera (web)"),
        "no marker in {:?}",
        rec.path
    );
}

#[test]
fn an_approver_approves_in_the_browser_and_one_without_approve_gets_no_button_and_403() {
    let a = access_lab(&web_table(), "");
    let lab = &a.lab;
    let olga = a.user("olga", "olga,role:oncall");
    let otto = a.user("otto", "otto,role:oncall");
    let lena = a.user("lena", "lena,role:lead");
    let mut numbers = Vec::new();
    for why in ["INC-1 first", "INC-2 second"] {
        let out = lab.ssh(&olga, &["request", "sw1", "5m", why]);
        let (o, e) = text(&out);
        assert!(out.status.success(), "{o}{e}");
        let n: i64 = o
            .strip_prefix("request ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no request number in {o}"));
        numbers.push(n);
    }

    let seen = scenario(
        "refused",
        json!({ "link": link(lab, &otto), "request": numbers[1] }),
    );
    assert_eq!(seen["buttons"], 0, "{seen:#}");
    assert_eq!(seen["api"]["status"], 403, "{seen:#}");
    assert_eq!(seen["noCsrf"], 403, "{seen:#}");

    let seen = scenario(
        "approve",
        json!({ "link": link(lab, &lena), "request": numbers[0] }),
    );
    assert_eq!(seen["buttons"], 1, "{seen:#}");
    assert!(
        seen["state"].as_str().unwrap().contains("approved"),
        "{seen:#}"
    );

    let out = lab.ssh(&olga, &["grants"]);
    let (o, e) = text(&out);
    assert!(o.contains(&format!("#{}", numbers[0])), "{o}{e}");
    assert!(!o.contains(&format!("#{}", numbers[1])), "{o}{e}");
    let ev = lab.wait_event("access.approve", |e| e.user.as_deref() == Some("lena"));
    assert_eq!(ev.outcome.as_deref(), Some("ok"), "{ev:?}");
}

#[test]
fn a_console_nobody_is_attached_to_is_watched_live_read_only() {
    let con = common::console::pty_console();
    let inventory = format!(
        "[[device]]\nname = \"con1\"\nkind = \"serial\"\naddress = \"{}\"\nalways_on = true\n\
         description = \"lab console\"\n",
        con.pty.display()
    );
    let lab = Lab::start_with(LabOptions {
        inventory: Some(inventory),
        extra: web_table(),
        ..Default::default()
    });
    let carol = lab.user("carol", "carol,role:auditor");
    let dave = lab.user("dave", "dave,role:netops");
    let alice = lab.user("alice", "alice,role:admin");
    let alice = lab.with_devices(&alice, &["con1"]);

    // Someone without console.read sees no console and cannot open one.
    let seen = scenario(
        "get",
        json!({ "link": link(&lab, &dave), "paths": ["/live", "/live/console?name=con1"] }),
    );
    let answers = seen["answers"].as_array().unwrap();
    assert!(
        answers[0]["body"]
            .as_str()
            .unwrap()
            .contains("No console you may read."),
        "{seen:#}"
    );
    assert_eq!(answers[1]["status"], 404, "{seen:#}");

    // The backlog first, then what the console prints while someone else types into it.
    let waiting = scenario_until_ready(
        "live",
        json!({ "link": link(&lab, &carol), "first": "CONSOLE-READY", "needle": "got:hello-web", "table": "table.consoles" }),
    );
    let out = lab.ssh(&carol, &["consoles"]);
    let (o, e) = text(&out);
    assert!(
        o.contains("carol (web)"),
        "the web viewer is not listed as attached: {o}{e}"
    );
    // And over SSH: `watch CONSOLE`, read-only.
    let mut watcher = Attached::start_args(&carol, "bastion", &["watch", "con1"]);
    watcher.expect("watching console con1, read-only");
    watcher.expect("CONSOLE-READY");
    watcher.send(b"from-the-watcher\n");
    let mut typing = Attached::start(&alice, "con1");
    typing.expect("with write access, link up");
    typing.send(b"hello-web\n");
    typing.expect("got:hello-web");
    watcher.expect("got:hello-web");
    assert!(
        !typing.text().contains("from-the-watcher"),
        "{}",
        typing.text()
    );
    watcher.send(b"q");
    watcher.expect("[oobgate: stopped watching]");
    assert!(watcher.wait_exit().success(), "{}", watcher.text());
    let out = lab.ssh(&dave, &["watch", "con1"]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(
        o.contains("no running session or console \"con1\" you may watch"),
        "{o}{e}"
    );
    let seen = waiting.go();
    assert_eq!(seen["before"], true, "the backlog was not shown: {seen:#}");
    assert_eq!(seen["shown"], true, "{seen:#}");
    assert!(seen["after_ms"].as_u64().unwrap() < 1000, "{seen:#}");
    let watch = lab.wait_event("watch", |e| e.user.as_deref() == Some("carol"));
    assert_eq!(watch.detail["console"], "con1", "{watch:?}");
    drop(typing);
}

/// `curl` from `from` (a loopback address): the status and the headers.
fn curl_from(from: &str, url: &str, cookie: Option<&str>) -> (String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-sk",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--interface",
        from,
    ]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: {c}")]);
    }
    let out = cmd.arg(url).output().unwrap();
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = all.lines().last().unwrap_or_default().to_string();
    (status, all)
}

#[test]
fn a_certificates_source_address_holds_for_the_web_login_too() {
    let lab = Lab::start_with(LabOptions {
        extra: web_table(),
        ..Default::default()
    });
    let key = lab.key("id_sam");
    lab.sign(
        &key,
        &[
            "-I",
            "sam-key",
            "-n",
            "sam,role:auditor",
            "-V",
            "-5m:+1h",
            "-O",
            "source-address=127.0.0.1/32",
        ],
    );
    let sam = lab.ssh_config("sam", &key, true);

    // Opened from another address: refused, and the link is used up.
    let first = link(&lab, &sam);
    assert_eq!(curl_from("127.0.0.2", &first, None).0, "403");
    assert_eq!(curl_from("127.0.0.1", &first, None).0, "403");

    // Logged in from the certificate's address, the cookie works there and nowhere else.
    let (status, headers) = curl_from("127.0.0.1", &link(&lab, &sam), None);
    assert_eq!(status, "303", "{headers}");
    let cookie = common::login_cookie(&headers);
    let api = first.replace(&first[first.find("/login/").unwrap()..], "/api/sessions");
    assert_eq!(curl_from("127.0.0.1", &api, Some(&cookie)).0, "200");
    assert_eq!(curl_from("127.0.0.2", &api, Some(&cookie)).0, "401");
}

#[test]
fn a_web_login_ends_when_the_certificate_expires() {
    let lab = Lab::start_with(LabOptions {
        extra: web_table(),
        ..Default::default()
    });
    let key = lab.key("id_tess");
    lab.sign(
        &key,
        &["-I", "tess-key", "-n", "tess,role:auditor", "-V", "-1m:+6s"],
    );
    let tess = lab.ssh_config("tess", &key, true);
    let first_link = link(&lab, &tess);
    let (status, headers) = curl_from("127.0.0.1", &first_link, None);
    assert_eq!(status, "303", "{headers}");
    let cookie_line = headers
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no cookie in {headers}"))
        .to_string();
    // The cookie itself says when: at most the certificate's remaining seconds.
    let max_age: u64 = cookie_line
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(max_age <= 6, "{cookie_line}");
    let cookie = cookie_line.split(';').next().unwrap().to_string();
    let url = first_link.replace(
        &first_link[first_link.find("/login/").unwrap()..],
        "/api/sessions",
    );
    assert_eq!(curl_from("127.0.0.1", &url, Some(&cookie)).0, "200");
    wait_until(
        "the login to end with the certificate",
        Duration::from_secs(15),
        || match curl_from("127.0.0.1", &url, Some(&cookie)).0.as_str() {
            "401" => Ok(()),
            other => Err(other.to_string()),
        },
    );
}
