use super::*;

fn packet(kind: u8, fields: &[&[u8]]) -> Packet {
    let mut body = vec![kind];
    for f in fields {
        body.extend_from_slice(f);
    }
    let mut raw = (body.len() as u32).to_be_bytes().to_vec();
    raw.extend_from_slice(&body);
    let mut framer = Framer::default();
    framer.push(&raw);
    framer.next_packet().unwrap().unwrap()
}

fn s(v: &[u8]) -> Vec<u8> {
    let mut out = (v.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(v);
    out
}

fn handle(id: u32, h: &[u8]) -> Packet {
    packet(SSH_FXP_HANDLE, &[&id.to_be_bytes(), &s(h)])
}

fn write(id: u32, h: &[u8], data: &[u8]) -> Packet {
    packet(
        SSH_FXP_WRITE,
        &[&id.to_be_bytes(), &s(h), &[0; 8], &s(data)],
    )
}

#[test]
fn an_upload_ends_ok_at_close_with_the_hash_of_its_bytes() {
    let mut t = Tracker::new(u64::MAX);
    t.open(1, "/tmp/a".into(), Dir::Upload);
    t.server(&handle(1, b"h1")).unwrap();
    t.client(&write(2, b"h1", b"hello ")).unwrap();
    t.client(&write(3, b"h1", b"world")).unwrap();
    t.client(&packet(SSH_FXP_CLOSE, &[&4u32.to_be_bytes(), &s(b"h1")]))
        .unwrap();
    let step = t
        .server(&packet(SSH_FXP_STATUS, &[&4u32.to_be_bytes(), &[0; 4]]))
        .unwrap();
    let done = &step.done[0];
    assert_eq!((done.dir, done.bytes, done.result), (Dir::Upload, 11, "ok"));
    assert_eq!(done.sha256, hex::encode(Sha256::digest(b"hello world")));
    assert!(t.end().is_empty());
}

#[test]
fn the_relays_own_ids_never_clash_with_requests_at_the_device() {
    let mut t = Tracker::new(u64::MAX);
    let first = t.own_id();
    let busy = packet(SSH_FXP_CLOSE, &[&(first + 1).to_be_bytes(), &s(b"h")]);
    t.sent(&busy);
    let second = t.own_id();
    assert_ne!(second, first + 1);
    t.server(&packet(
        SSH_FXP_STATUS,
        &[&(first + 1).to_be_bytes(), &[0; 4]],
    ))
    .unwrap();
    assert!(!t.pending.contains(&(first + 1)));
}

#[test]
fn over_the_cap_cuts_and_an_open_file_at_the_end_is_interrupted() {
    let mut t = Tracker::new(10);
    t.open(1, "/tmp/a".into(), Dir::Upload);
    t.server(&handle(1, b"a")).unwrap();
    t.open(2, "/tmp/b".into(), Dir::Upload);
    t.server(&handle(2, b"b")).unwrap();
    assert!(t.client(&write(3, b"a", b"12345")).unwrap().forward);
    let step = t.client(&write(4, b"a", b"678901")).unwrap();
    assert!(step.cut && !step.forward);
    assert_eq!((step.done[0].result, step.done[0].bytes), ("refused", 5));
    let rest = t.end();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (rest[0].path.as_str(), rest[0].result),
        ("/tmp/b", "interrupted")
    );
}

#[test]
fn a_truncated_body_is_an_error() {
    let mut t = Tracker::new(u64::MAX);
    let p = packet(SSH_FXP_WRITE, &[&1u32.to_be_bytes(), &[0, 0, 0, 9, b'x']]);
    assert_eq!(
        t.client(&p).err(),
        Some(WireError::Truncated(SSH_FXP_WRITE))
    );
}

#[test]
fn an_allowed_change_is_done_when_the_device_answers() {
    let mut t = Tracker::new(u64::MAX);
    t.change(3, "rename", &["/a".into(), "/b".into()]);
    t.change(4, "remove", &["/c".into()]);
    let ok = t
        .server(&packet(SSH_FXP_STATUS, &[&3u32.to_be_bytes(), &[0; 4]]))
        .unwrap();
    let d = &ok.done[0];
    assert_eq!(
        (d.op, d.result, d.to.as_deref()),
        ("rename", "ok", Some("/b"))
    );
    let failed = t
        .server(&packet(
            SSH_FXP_STATUS,
            &[
                &4u32.to_be_bytes(),
                &2u32.to_be_bytes(),
                &s(b"No such file"),
            ],
        ))
        .unwrap();
    let d = &failed.done[0];
    assert_eq!(
        (d.result, d.reason.as_deref()),
        ("failed", Some("No such file"))
    );
    assert!(ok.forward && failed.forward);
}
