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

fn open(id: u32, path: &str, flags: u32) -> Packet {
    packet(
        SSH_FXP_OPEN,
        &[
            &id.to_be_bytes(),
            &s(path.as_bytes()),
            &flags.to_be_bytes(),
            &[0; 4],
        ],
    )
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

const BOTH: Allowed = Allowed {
    upload: true,
    download: true,
};

#[test]
fn an_upload_ends_ok_at_close_with_the_hash_of_its_bytes() {
    let mut t = Tracker::new("sw1", BOTH, u64::MAX);
    assert!(t.client(&open(1, "/tmp/a", SSH_FXF_WRITE)).unwrap().forward);
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
fn a_refused_open_is_answered_by_the_bastion() {
    let only_down = Allowed {
        upload: false,
        download: true,
    };
    let mut t = Tracker::new("sw1", only_down, u64::MAX);
    let step = t.client(&open(7, "/etc/x", SSH_FXF_WRITE)).unwrap();
    assert!(!step.forward);
    assert_eq!(step.done[0].result, "refused");
    let mut f = Framer::default();
    f.push(&step.reply.unwrap());
    let mut r = Fields::of(&f.next_packet().unwrap().unwrap());
    assert_eq!((r.u32(), r.u32()), (Ok(7), Ok(SSH_FX_PERMISSION_DENIED)));
    assert!(t.client(&open(8, "/etc/x", 1)).unwrap().forward);
}

#[test]
fn over_the_cap_cuts_and_an_open_file_at_the_end_is_interrupted() {
    let mut t = Tracker::new("sw1", BOTH, 10);
    t.client(&open(1, "/tmp/a", SSH_FXF_WRITE)).unwrap();
    t.server(&handle(1, b"a")).unwrap();
    t.client(&open(2, "/tmp/b", SSH_FXF_WRITE)).unwrap();
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
    let mut t = Tracker::new("sw1", BOTH, u64::MAX);
    let p = packet(SSH_FXP_OPEN, &[&1u32.to_be_bytes(), &[0, 0, 0, 9, b'x']]);
    assert_eq!(t.client(&p).err(), Some(WireError::Truncated(SSH_FXP_OPEN)));
}
