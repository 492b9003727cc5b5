//! Audit events as OCSF 1.5.0 events (Open Cybersecurity Schema Framework), one JSON object
//! per event, for SIEMs that ingest OCSF (`oobgate audit export --format ocsf`).
//!
//! Which class an event becomes:
//!
//! | audit kind | OCSF class |
//! | --- | --- |
//! | `auth.accept`, `auth.reject` | Authentication (3002), activity Logon |
//! | `policy.*` | Authorize Session (3003), activity Assign Privileges |
//! | `session.start` / `session.end` / `session.fail`, `connection.refused`, `forward` | SSH Activity (4007): Open / Close / Fail / Refuse / Traffic |
//! | `file.*` | File Activity (1001): by the detail's `op`, Create / Read / Delete / Rename / Set Attributes |
//! | everything else (`command`, `replay`, `power`, `access.*`, `ca.sign`...) | API Activity (6003), the kind as `api.operation` |
//!
//! The whole audit row (detail, chain hashes) also goes under `unmapped`, so nothing the
//! bastion recorded is lost in the translation. No OCSF profile is used.

use std::net::SocketAddr;

use serde_json::{json, Map, Value};

use super::EventRow;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.5.0";

/// The OCSF class an audit event maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcsfClass {
    /// Authentication (3002).
    Authentication,
    /// Authorize Session (3003).
    AuthorizeSession,
    /// SSH Activity (4007).
    SshActivity,
    /// File Activity (1001).
    FileActivity,
    /// API Activity (6003): the default.
    ApiActivity,
}

impl OcsfClass {
    /// The class for an audit event kind.
    pub fn of(kind: &str) -> OcsfClass {
        match kind {
            "auth.accept" | "auth.reject" => OcsfClass::Authentication,
            k if k.starts_with("policy.") => OcsfClass::AuthorizeSession,
            "connection.refused" | "forward" => OcsfClass::SshActivity,
            k if k.starts_with("session.") => OcsfClass::SshActivity,
            k if k.starts_with("file.") => OcsfClass::FileActivity,
            _ => OcsfClass::ApiActivity,
        }
    }

    /// `class_uid`.
    pub fn uid(self) -> u32 {
        match self {
            OcsfClass::Authentication => 3002,
            OcsfClass::AuthorizeSession => 3003,
            OcsfClass::SshActivity => 4007,
            OcsfClass::FileActivity => 1001,
            OcsfClass::ApiActivity => 6003,
        }
    }

    fn name(self) -> &'static str {
        match self {
            OcsfClass::Authentication => "Authentication",
            OcsfClass::AuthorizeSession => "Authorize Session",
            OcsfClass::SshActivity => "SSH Activity",
            OcsfClass::FileActivity => "File Activity",
            OcsfClass::ApiActivity => "API Activity",
        }
    }

    fn category(self) -> (u32, &'static str) {
        match self {
            OcsfClass::FileActivity => (1, "System Activity"),
            OcsfClass::Authentication | OcsfClass::AuthorizeSession => {
                (3, "Identity & Access Management")
            }
            OcsfClass::SshActivity => (4, "Network Activity"),
            OcsfClass::ApiActivity => (6, "Application Activity"),
        }
    }

    /// `activity_id` and `activity_name` for an event of `kind` in this class.
    fn activity(self, kind: &str) -> (u32, &'static str) {
        match self {
            OcsfClass::Authentication => (1, "Logon"),
            OcsfClass::AuthorizeSession => (1, "Assign Privileges"),
            OcsfClass::SshActivity => match kind {
                "session.start" => (1, "Open"),
                "session.end" => (2, "Close"),
                "session.fail" => (4, "Fail"),
                "connection.refused" => (5, "Refuse"),
                "forward" => (6, "Traffic"),
                _ => (99, "Other"),
            },
            OcsfClass::FileActivity => match kind {
                "file.upload" | "file.create" => (1, "Create"),
                "file.download" | "file.read" => (2, "Read"),
                "file.delete" => (4, "Delete"),
                _ => (99, "Other"),
            },
            OcsfClass::ApiActivity => match kind {
                "access.request" | "access.grant" | "access.breakglass" | "ca.sign" => {
                    (1, "Create")
                }
                "replay" | "command" | "search" | "watch" => (2, "Read"),
                "access.approve" | "access.deny" | "power" => (3, "Update"),
                "access.revoke" | "access.cancel" | "access.expire" => (4, "Delete"),
                _ => (99, "Other"),
            },
        }
    }
}

/// The event as one OCSF JSON object.
pub fn to_ocsf(row: &EventRow) -> Value {
    let class = OcsfClass::of(&row.kind);
    let (category_uid, category_name) = class.category();
    let (activity_id, activity_name) = match (class, detail_str(row, "op")) {
        (OcsfClass::FileActivity, Some(op)) => file_op(&op).unwrap_or(class.activity(&row.kind)),
        _ => class.activity(&row.kind),
    };
    let (severity_id, severity) = severity(row.outcome.as_deref());
    let (status_id, status) = status(row.outcome.as_deref());
    let mut ev = json!({
        "class_uid": class.uid(),
        "class_name": class.name(),
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class.uid() * 100 + activity_id,
        "type_name": format!("{}: {}", class.name(), activity_name),
        // A time that does not parse is 0; the text is kept in `metadata.original_time`.
        "time": super::timestamp::epoch_millis(&row.ts).unwrap_or(0),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": row.to_line(),
        "metadata": metadata(row),
        "unmapped": unmapped(row),
    });
    let obj = ev.as_object_mut().expect("a JSON object");
    if let Some(reason) = detail_str(row, "reason").or_else(|| detail_str(row, "error")) {
        obj.insert("status_detail".into(), reason.into());
    }
    match class {
        OcsfClass::Authentication => authentication(row, obj),
        OcsfClass::AuthorizeSession => authorize_session(row, obj),
        OcsfClass::SshActivity => ssh_activity(row, obj),
        OcsfClass::FileActivity => file_activity(row, obj),
        OcsfClass::ApiActivity => api_activity(row, obj),
    }
    ev
}

fn metadata(row: &EventRow) -> Value {
    json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "oobgate",
            "vendor_name": "oobgate",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "uid": row.hash,
        "sequence": row.id,
        "log_name": "audit",
        "event_code": row.kind,
        "original_time": row.ts,
    })
}

fn unmapped(row: &EventRow) -> Value {
    json!({
        "kind": row.kind,
        "action": row.action,
        "outcome": row.outcome,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    })
}

fn authentication(row: &EventRow, obj: &mut Map<String, Value>) {
    obj.insert("user".into(), user(row));
    obj.insert("src_endpoint".into(), endpoint(row.source.as_deref()));
    obj.insert("auth_protocol_id".into(), 99.into());
    obj.insert("auth_protocol".into(), "OpenSSH certificate".into());
    obj.insert("logon_type_id".into(), 10.into());
    obj.insert("logon_type".into(), "Remote Interactive".into());
    obj.insert("is_remote".into(), true.into());
    obj.insert("service".into(), json!({ "name": "oobgate" }));
    if let Some(device) = &row.device {
        obj.insert("dst_endpoint".into(), json!({ "name": device }));
    }
    let serial = row.detail.get("serial").filter(|v| !v.is_null());
    if let Some(serial) = serial {
        let serial = match serial {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut cert = json!({
            "serial_number": serial,
            "issuer": detail_str(row, "ca").unwrap_or_else(|| "unknown".into()),
        });
        if let Some(key_id) = detail_str(row, "key_id") {
            cert["subject"] = key_id.into();
        }
        if let Some(before) = row.detail.get("valid_before").and_then(Value::as_u64) {
            cert["expiration_time"] = before.saturating_mul(1000).into();
        }
        obj.insert("certificate".into(), cert);
    }
}

fn authorize_session(row: &EventRow, obj: &mut Map<String, Value>) {
    obj.insert("user".into(), user(row));
    obj.insert("src_endpoint".into(), endpoint(row.source.as_deref()));
    if let Some(device) = &row.device {
        obj.insert("dst_endpoint".into(), json!({ "name": device }));
    }
    if let Some(action) = &row.action {
        obj.insert("privileges".into(), json!([action]));
    }
}

fn ssh_activity(row: &EventRow, obj: &mut Map<String, Value>) {
    let mut src = endpoint(row.source.as_deref());
    if let Some(u) = &row.user {
        src["owner"] = json!({ "name": u });
    }
    obj.insert("src_endpoint".into(), src);
    let mut dst = json!({ "svc_name": "oobgate" });
    if let Some(device) = &row.device {
        dst["name"] = device.clone().into();
    }
    if let Some(port) = row.detail.get("port").and_then(Value::as_u64) {
        dst["port"] = port.into();
    }
    obj.insert("dst_endpoint".into(), dst);
    obj.insert("auth_type_id".into(), 1.into());
    obj.insert("auth_type".into(), "Certificate Based".into());
    let bytes_in = row.detail.get("bytes_in").and_then(Value::as_u64);
    let bytes_out = row.detail.get("bytes_out").and_then(Value::as_u64);
    if bytes_in.is_some() || bytes_out.is_some() {
        let (i, o) = (bytes_in.unwrap_or(0), bytes_out.unwrap_or(0));
        obj.insert(
            "traffic".into(),
            json!({ "bytes_in": i, "bytes_out": o, "bytes": i.saturating_add(o) }),
        );
    }
}

/// The File Activity of an SFTP request other than a file's own transfer.
fn file_op(op: &str) -> Option<(u32, &'static str)> {
    match op {
        "mkdir" | "symlink" | "hardlink" => Some((1, "Create")),
        "opendir" | "readlink" | "statvfs" => Some((2, "Read")),
        "remove" | "rmdir" => Some((4, "Delete")),
        "rename" => Some((5, "Rename")),
        "setstat" | "fsetstat" => Some((6, "Set Attributes")),
        _ => None,
    }
}

fn file_activity(row: &EventRow, obj: &mut Map<String, Value>) {
    obj.insert("actor".into(), actor(row));
    let device = row.device.clone().unwrap_or_else(|| "bastion".into());
    obj.insert("device".into(), json!({ "type_id": 0, "name": device }));
    let path = detail_str(row, "path").unwrap_or_else(|| "unknown".into());
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    let mut file = json!({ "type_id": 1, "type": "Regular File", "name": name, "path": path });
    if let Some(size) = row.detail.get("size").and_then(Value::as_u64) {
        file["size"] = size.into();
    }
    obj.insert("file".into(), file);
}

fn api_activity(row: &EventRow, obj: &mut Map<String, Value>) {
    obj.insert("actor".into(), actor(row));
    obj.insert("src_endpoint".into(), endpoint(row.source.as_deref()));
    let mut api = json!({ "operation": row.kind, "service": { "name": "oobgate" } });
    if let Some(request) = row.detail.get("request").filter(|v| !v.is_null()) {
        api["request"] = json!({ "uid": value_text(request) });
    }
    obj.insert("api".into(), api);
    if let Some(device) = &row.device {
        obj.insert(
            "resources".into(),
            json!([{ "name": device, "type": "device" }]),
        );
    }
}

fn user(row: &EventRow) -> Value {
    json!({ "name": row.user.clone().unwrap_or_else(|| "unknown".into()) })
}

fn actor(row: &EventRow) -> Value {
    match &row.user {
        Some(u) => json!({ "user": { "name": u } }),
        None => json!({ "app_name": "oobgate" }),
    }
}

/// A network endpoint from an audit `source` (`ip:port`, or a label for local commands).
fn endpoint(source: Option<&str>) -> Value {
    match source {
        None => json!({ "name": "local" }),
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(a) => json!({ "ip": a.ip().to_string(), "port": a.port() }),
            Err(_) => json!({ "name": s }),
        },
    }
}

fn severity(outcome: Option<&str>) -> (u32, &'static str) {
    match outcome {
        Some("deny") | Some("error") => (3, "Medium"),
        Some("alert") => (4, "High"),
        _ => (1, "Informational"),
    }
}

fn status(outcome: Option<&str>) -> (u32, &'static str) {
    match outcome {
        Some("allow") | Some("ok") | Some("alert") => (1, "Success"),
        Some("deny") | Some("error") => (2, "Failure"),
        Some(_) => (99, "Other"),
        None => (0, "Unknown"),
    }
}

fn detail_str(row: &EventRow, key: &str) -> Option<String> {
    row.detail.get(key).filter(|v| !v.is_null()).map(value_text)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
