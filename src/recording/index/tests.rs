//! Indexer tests on terminal byte streams: what a person searching would expect to find.
//! (Recordings of real programs are in `tests/search.rs`.)

use proptest::prelude::*;

use super::*;

fn ev(time: f64, code: char, data: &[u8]) -> RecordedEvent {
    RecordedEvent {
        time,
        code,
        data: data.to_vec(),
    }
}

fn run(cols: u16, rows: u16, events: &[RecordedEvent]) -> Vec<IndexedLine> {
    let mut ix = Indexer::new(cols, rows);
    let mut out = Vec::new();
    for e in events {
        out.extend(ix.feed(e));
    }
    out.extend(ix.finish());
    out
}

fn shown(lines: &[IndexedLine]) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.stream == Stream::Shown)
        .map(|l| l.text.as_str())
        .collect()
}

#[test]
fn colour_escapes_inside_a_word_leave_it_whole() {
    let got = run(
        80,
        24,
        &[ev(
            0.5,
            'o',
            b"interface Gigabit\x1b[01;31m\x1b[KEthernet\x1b[m\x1b[K0/1\r\n",
        )],
    );
    assert_eq!(shown(&got), ["interface GigabitEthernet0/1"]);
    assert_eq!(got[0].offset_ms, 500);
}

#[test]
fn a_finished_line_comes_out_at_once_with_the_time_of_its_first_character() {
    let mut ix = Indexer::new(80, 24);
    assert!(ix.feed(&ev(1.0, 'o', b"sw1# show clo")).is_empty());
    let lines = ix.feed(&ev(2.5, 'o', b"ck\r\n*10:02:03.123 UTC\r\n"));
    let texts: Vec<_> = lines
        .iter()
        .map(|l| (l.offset_ms, l.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [(1000, "sw1# show clock"), (2500, "*10:02:03.123 UTC")]
    );
    assert!(ix.finish().is_empty());
}

#[test]
fn a_progress_bar_overwritten_with_cr_is_one_line() {
    let mut events = Vec::new();
    for i in 0..=100 {
        let data = format!("\rcopying flash:image.bin [{:<20}] {i}%", "#".repeat(i / 5));
        events.push(ev(i as f64 * 0.1, 'o', data.as_bytes()));
    }
    events.push(ev(10.5, 'o', b"\r\ndone\r\n"));
    let got = run(80, 24, &events);
    assert_eq!(
        shown(&got),
        [
            "copying flash:image.bin [####################] 100%",
            "done"
        ]
    );
    assert_eq!(
        got[0].offset_ms, 0,
        "the bar's line starts with its first character"
    );
}

#[test]
fn lines_redrawn_with_cursor_up_are_emitted_at_most_twice() {
    let mut events = vec![ev(0.0, 'o', b"a: waiting\r\nb: waiting\r\nc: waiting\r\n")];
    for i in 1..=50 {
        let data = format!("\x1b[3A\x1b[2Ka: {i}%\r\n\x1b[2Kb: {i}%\r\n\x1b[2Kc: {i}%\r\n");
        events.push(ev(i as f64, 'o', data.as_bytes()));
    }
    let got = run(80, 24, &events);
    let texts = shown(&got);
    assert!(texts.len() <= 6, "{texts:?}");
    for want in ["a: 50%", "b: 50%", "c: 50%", "a: waiting"] {
        assert!(texts.contains(&want), "{want} missing from {texts:?}");
    }
}

#[test]
fn a_full_screen_program_redrawing_does_not_flood() {
    let mut events = vec![ev(0.0, 'o', b"$ top\r\n\x1b[?1049h")];
    for i in 0..200 {
        let mut frame = String::from("\x1b[H");
        frame.push_str(&format!(
            "top - 10:00:{:02} up 1 day, load average: 0.0{}\x1b[K\r\n",
            i % 60,
            i % 10
        ));
        frame.push_str("  PID USER      PR  NI    VIRT    RES COMMAND\x1b[K\r\n");
        for p in 0..20 {
            frame.push_str(&format!(
                "{:5} root      20   0  1000  100 proc{p}\x1b[K\r\n",
                100 + p
            ));
        }
        frame.push_str("\x1b[J");
        events.push(ev(i as f64 * 0.5, 'o', frame.as_bytes()));
    }
    events.push(ev(100.0, 'o', b"\x1b[?1049l$ "));
    let got = run(80, 24, &events);
    let texts = shown(&got);
    assert!(texts.len() < 40, "{} lines: {texts:?}", texts.len());
    assert!(texts.contains(&"$ top"));
    assert!(texts.iter().any(|t| t.contains("proc19")));
    assert!(texts.iter().any(|t| t.starts_with("top - 10:00:")));
}

#[test]
fn a_pager_scrolling_on_the_alternate_screen_keeps_every_line() {
    let mut events = vec![ev(0.0, 'o', b"\x1b[?1049h\x1b[H")];
    for i in 0..100 {
        events.push(ev(
            1.0 + i as f64 * 0.01,
            'o',
            format!("config line {i}\r\n").as_bytes(),
        ));
    }
    events.push(ev(5.0, 'o', b"\x1b[?1049l"));
    let texts: Vec<String> = shown(&run(80, 10, &events))
        .into_iter()
        .map(String::from)
        .collect();
    for i in 0..100 {
        assert!(texts.contains(&format!("config line {i}")), "line {i}");
    }
}

#[test]
fn soft_wrapped_lines_are_joined() {
    let long: String = (0..40).map(|i| format!("w{i} ")).collect();
    let got = run(
        20,
        5,
        &[ev(0.0, 'o', format!("{long}\r\nnext\r\n").as_bytes())],
    );
    assert_eq!(shown(&got), [long.trim_end(), "next"]);
}

#[test]
fn a_line_longer_than_the_screen_is_joined_across_its_scrolled_off_rows() {
    let long: String = (0..100).map(|i| format!("{i:03}")).collect();
    let got = run(
        10,
        3,
        &[ev(0.0, 'o', format!("\x1b[1m{long}\r\n").as_bytes())],
    );
    assert_eq!(shown(&got), [long.as_str()]);
}

#[test]
fn the_last_screen_is_flushed_at_the_end() {
    let got = run(
        80,
        24,
        &[ev(3.0, 'o', b"Last login: today\r\nsw1# reload in 5")],
    );
    assert_eq!(shown(&got), ["Last login: today", "sw1# reload in 5"]);
}

#[test]
fn typed_input_after_editing() {
    let got = run(
        80,
        24,
        &[
            ev(1.0, 'i', b"relaod"),
            ev(1.5, 'i', b"\x7f\x7f\x7f"),
            ev(2.0, 'i', b"oad in 5\r"),
        ],
    );
    let typed: Vec<_> = got
        .iter()
        .filter(|l| l.stream == Stream::Typed)
        .map(|l| (l.offset_ms, l.text.as_str()))
        .collect();
    assert_eq!(typed, [(1000, "reload in 5")]);
}

#[test]
fn a_password_typed_at_a_password_prompt_is_not_indexed() {
    let got = run(
        80,
        24,
        &[
            ev(0.0, 'o', b"sw1> enable\r\nPassword: "),
            ev(1.0, 'i', b"s3cr3t-enable\r"),
            ev(2.0, 'o', b"\r\nsw1# "),
            ev(3.0, 'i', b"show run\r"),
        ],
    );
    assert!(!got.iter().any(|l| l.text.contains("s3cr3t")), "{got:?}");
    assert!(got
        .iter()
        .any(|l| l.stream == Stream::Typed && l.text == "show run"));
}

#[test]
fn a_prompt_line_survives_a_resize_while_it_is_typed() {
    let got = run(
        40,
        10,
        &[
            ev(0.0, 'o', b"banner\r\nsw1# reload"),
            ev(1.0, 'r', b"100x30"),
            ev(2.0, 'o', b" in 5\r\n"),
        ],
    );
    let texts = shown(&got);
    assert!(texts.contains(&"sw1# reload in 5"), "{texts:?}");
    assert_eq!(
        texts.iter().filter(|t| t.contains("banner")).count(),
        1,
        "{texts:?}"
    );
}

#[test]
fn identical_lines_within_the_window_are_emitted_once() {
    let mut events = Vec::new();
    for i in 0..20 {
        events.push(ev(
            i as f64,
            'o',
            b"%LINK-3-UPDOWN: Interface Gi0/1, changed state to down\r\n",
        ));
    }
    events.push(ev(
        45.0,
        'o',
        b"%LINK-3-UPDOWN: Interface Gi0/1, changed state to down\r\n",
    ));
    let got = run(80, 24, &events);
    let offsets: Vec<u64> = got.iter().map(|l| l.offset_ms).collect();
    assert_eq!(offsets, [0, 45_000]);
}

#[test]
fn bulk_plain_output_takes_the_fast_path_and_matches_the_emulator() {
    // The same output in one chunk (fast path) and a byte at a time (emulator only).
    let mut text = String::from("\x1b[1mheader\x1b[0m\r\n");
    for i in 0..500 {
        text.push_str(&format!(
            "Nov 23 10:00:{:02} sw1 %SYS-5-CONFIG_I: line {i}\tok\r\n",
            i % 60
        ));
        if i % 97 == 0 {
            text.push_str("\x1b[32mcoloured\x1b[0m line\r\n");
        }
    }
    text.push_str("sw1# ");
    let whole = run(80, 24, &[ev(1.0, 'o', text.as_bytes())]);
    let bytes: Vec<RecordedEvent> = text.bytes().map(|b| ev(1.0, 'o', &[b])).collect();
    let slow = run(80, 24, &bytes);
    let mut a: Vec<&str> = shown(&whole);
    let mut b: Vec<&str> = shown(&slow);
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(a.contains(&"Nov 23 10:00:01 sw1 %SYS-5-CONFIG_I: line 1     ok"));
}

#[test]
fn every_recording_event_kind_is_handled() {
    let got = run(
        0,
        0,
        &[
            ev(0.0, 'm', b"session start"),
            ev(0.1, 'r', b"not a size"),
            ev(0.2, 'r', b"0x0"),
            ev(0.3, 'o', b"still works\r\n"),
        ],
    );
    assert_eq!(shown(&got), ["still works"]);
}

fn output_chunks() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::sample::select(vec![
            b"\x1b[".to_vec(),
            b"\x1b[?1049h".to_vec(),
            b"\x1b[?1049l".to_vec(),
            b"\x1b[2J".to_vec(),
            b"\x1b[5;10r".to_vec(),
            b"\x1b[3L".to_vec(),
            b"\x1b[2M".to_vec(),
            b"\x1bM".to_vec(),
            b"\x1bc".to_vec(),
            b"\r\n".to_vec(),
            b"\x1b]0;t\x07".to_vec(),
            b"\x1b[65535b".to_vec(),
            "\u{754c}\u{301}".as_bytes().to_vec(),
        ]),
        prop::collection::vec(0x20u8..0x7f, 0..200),
    ];
    prop::collection::vec((0u8..8, piece), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_output_never_panics_and_lines_stay_bounded(
        chunks in output_chunks(),
        cols in 1u16..40,
        rows in 1u16..12,
    ) {
        let mut ix = Indexer::new(cols, rows);
        let mut lines = Vec::new();
        for (i, (kind, data)) in chunks.iter().enumerate() {
            let t = i as f64 * 0.25;
            match kind {
                0 => lines.extend(ix.resize(t, (data.len() % 50) as u16, (data.len() % 7) as u16)),
                1 => lines.extend(ix.input(t, data)),
                _ => lines.extend(ix.output(t, data)),
            }
        }
        lines.extend(ix.finish());
        for l in &lines {
            prop_assert!(!l.text.is_empty());
            prop_assert!(l.text.chars().count() <= MAX_LINE_CHARS);
            prop_assert!(l.offset_ms <= 10_000);
        }
    }
}

fn mixed_lines() -> impl Strategy<Value = Vec<String>> {
    let line = prop_oneof![
        "[a-z0-9 ./%:-]{0,30}".prop_map(|s| format!("{s}\r\n")),
        "[a-z]{1,8}".prop_map(|s| format!("\x1b[1;3{}m{s}\x1b[0m tail\r\n", s.len() % 8)),
        "[a-z]{1,5}".prop_map(|s| format!("{s}\t{s}\t|\r\n")),
        "[a-z]{30,90}".prop_map(|s| format!("{s}\r\n")),
        Just("\x1b[2A\x1b[2Kredrawn\r\n\r\n".to_string()),
        Just("50%\r100%\r\n".to_string()),
        Just("\x1b[?1049hfull\r\nscreen\x1b[?1049l".to_string()),
        Just("\x1b[H\x1b[2Jcleared\r\n".to_string()),
        Just("caf\u{e9} \u{754c}\r\n".to_string()),
        Just("prompt# ".to_string()),
    ];
    prop::collection::vec(line, 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_fast_path_finds_what_the_emulator_finds(lines in mixed_lines()) {
        let text: String = lines.concat();
        let whole = run(40, 8, &[ev(1.0, 'o', text.as_bytes())]);
        let bytes: Vec<RecordedEvent> = text.bytes().map(|b| ev(1.0, 'o', &[b])).collect();
        let slow = run(40, 8, &bytes);
        let mut a: Vec<&str> = shown(&whole);
        let mut b: Vec<&str> = shown(&slow);
        a.sort();
        a.dedup();
        b.sort();
        b.dedup();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn an_indexer_can_move_to_the_session_task() {
    fn send<T: Send>() {}
    send::<Indexer>();
}
