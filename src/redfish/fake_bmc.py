#!/usr/bin/env python3
"""A stand-in Redfish BMC for the few things sushy-emulator does not offer.

This is the test suite's only mock BMC. sushy-emulator (the real peer every other Redfish
test uses) has no SessionService, no LogServices, keeps a `Once` boot override as
`Continuous`, and its firmware task is complete the moment it is created; this server plays
a BMC for exactly those cases: session login and logout, an event log of two pages, a `Once`
boot override that is kept, and firmware tasks that progress, fail, or never end. With
`--mangle SEED` it is a broken BMC: every authenticated GET is answered with its body
damaged at random (cut short, wrong types, junk bytes, deep nesting), seeded, for fuzzing
the client with whole HTTPS answers.

Served over TLS on loopback. Every request is appended to a JSON Lines journal (method,
path, how it authenticated, body with any password replaced) so a test can assert what the
client really sent.
"""
import argparse
import base64
import http.server
import json
import random
import secrets
import ssl
import threading

ROOT = "/redfish/v1"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--journal", required=True)
    p.add_argument("--task", choices=["progress", "fail", "hang"], default="progress")
    p.add_argument("--no-sessions", action="store_true")
    p.add_argument("--flaky", type=int, default=0,
                   help="answer this many GETs of the Systems collection with 503 first")
    p.add_argument("--mangle", type=int, default=None,
                   help="damage every authenticated GET's body, seeded by this number")
    return p.parse_args()


ARGS = parse_args()
with open(ARGS.password_file) as f:
    PASSWORD = f.read().strip()
LOCK = threading.Lock()
STATE = {
    "tokens": {},  # token -> session path
    "next_session": 1,
    "power": "On",
    "boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled"},
    "task_polls": 0,
    "flaky": ARGS.flaky,
}
RNG = random.Random(ARGS.mangle)
ODD = [None, 0, -1, 2 ** 70, 1e308, "", "x" * 5000, "\u0000\udcff", [], {}, True,
       {"@odata.id": 7}, [None]]


def wrong_types(v):
    """`v` with some values, anywhere in it, replaced by values of the wrong type."""
    if RNG.random() < 0.25:
        return RNG.choice(ODD)
    if isinstance(v, dict):
        return {k: wrong_types(x) for k, x in v.items() if RNG.random() > 0.1}
    if isinstance(v, list):
        return [wrong_types(x) for x in v]
    return v


def mangled(body):
    """A damaged answer for `body` (a resource, or None): the bytes to send."""
    data = json.dumps(body).encode()
    kind = RNG.randrange(7)
    if kind == 0:
        return data[:RNG.randrange(len(data) + 1)]
    if kind == 1:
        return bytes(RNG.randrange(256) for _ in range(RNG.randrange(300)))
    if kind == 2:
        depth = RNG.randrange(100, 3000)
        return b"[" * depth + b"]" * depth
    if kind == 3:
        return RNG.choice([b"null", b"[]", b"{}", b'"On"', b"1e999", b""])
    return json.dumps(wrong_types(body), allow_nan=True).encode(errors="surrogatepass")

ENTRIES = [
    {"Id": "1", "Created": "2026-01-10T03:00:00+00:00", "Severity": "OK", "Message": "System boot"},
    {"Id": "2", "Created": "2026-01-12T03:12:44+00:00", "Severity": "Critical",
     "Message": "CPU 1 machine check error"},
    {"Id": "3", "Created": "2026-01-11T08:30:00+00:00", "Severity": "Warning",
     "Message": "Fan 2 speed low"},
    {"Id": "4", "Created": "2026-01-12T02:00:00+00:00", "Severity": "OK",
     "MessageId": "Event.1.0.PowerOn"},
]


def link(path):
    return {"@odata.id": path}


def resource(path, query):
    """The JSON body for GET `path`, or None when there is no such resource."""
    if path in (ROOT, ROOT + "/"):
        root = {"Id": "RootService", "RedfishVersion": "1.15.0",
                "Systems": link(ROOT + "/Systems"), "Managers": link(ROOT + "/Managers"),
                "UpdateService": link(ROOT + "/UpdateService")}
        if not ARGS.no_sessions:
            root["SessionService"] = link(ROOT + "/SessionService")
            root["Links"] = {"Sessions": link(ROOT + "/SessionService/Sessions")}
        return root
    if path == ROOT + "/Systems":
        return {"Members": [link(ROOT + "/Systems/1")]}
    if path == ROOT + "/Systems/1":
        return {"Id": "1", "Name": "fake host", "PowerState": STATE["power"],
                "Boot": dict(STATE["boot"], **{"BootSourceOverrideTarget@Redfish.AllowableValues":
                                               ["None", "Pxe", "Cd", "Hdd", "BiosSetup"]}),
                "Actions": {"#ComputerSystem.Reset": {
                    "target": ROOT + "/Systems/1/Actions/ComputerSystem.Reset",
                    "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "PowerCycle"]}},
                "Links": {"ManagedBy": [link(ROOT + "/Managers/BMC")]}}
    if path == ROOT + "/Managers":
        return {"Members": [link(ROOT + "/Managers/BMC")]}
    if path == ROOT + "/Managers/BMC":
        return {"Id": "BMC", "LogServices": link(ROOT + "/Managers/BMC/LogServices")}
    if path == ROOT + "/Managers/BMC/LogServices":
        return {"Members": [link(ROOT + "/Managers/BMC/LogServices/SEL")]}
    if path == ROOT + "/Managers/BMC/LogServices/SEL":
        return {"Id": "SEL", "Entries": link(ROOT + "/Managers/BMC/LogServices/SEL/Entries")}
    if path == ROOT + "/Managers/BMC/LogServices/SEL/Entries":
        if query == "page=2":
            return {"Members": ENTRIES[2:]}
        return {"Members": ENTRIES[:2],
                "Members@odata.nextLink": ROOT + "/Managers/BMC/LogServices/SEL/Entries?page=2"}
    if path == ROOT + "/UpdateService":
        return {"Id": "UpdateService", "ServiceEnabled": True, "Actions": {
            "#UpdateService.SimpleUpdate": {
                "target": ROOT + "/UpdateService/Actions/UpdateService.SimpleUpdate",
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"]}}}
    if path == ROOT + "/TaskService/Tasks/1":
        return task()
    return None


def task():
    STATE["task_polls"] += 1
    n = STATE["task_polls"]
    if ARGS.task == "hang":
        return {"Id": "1", "TaskState": "Running", "PercentComplete": 10,
                "Messages": [{"Message": "Flashing BIOS"}]}
    if ARGS.task == "fail":
        if n < 2:
            return {"Id": "1", "TaskState": "Running", "PercentComplete": 30}
        return {"Id": "1", "TaskState": "Exception", "TaskStatus": "Critical", "PercentComplete": 30,
                "Messages": [{"MessageId": "Update.1.0.VerificationFailed",
                              "Message": "Image signature check failed"}]}
    steps = [(0, "New"), (50, "Running"), (100, "Completed")]
    pct, state = steps[min(n - 1, 2)]
    return {"Id": "1", "TaskState": state, "TaskStatus": "OK", "PercentComplete": pct,
            "Messages": [{"Message": "Update %d%%" % pct}]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def auth(self):
        token = self.headers.get("X-Auth-Token")
        if token is not None:
            return "token" if token in STATE["tokens"] else None
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(basic[6:]).decode().partition(":")
            except Exception:
                return None
            return "basic" if (user, pw) == (ARGS.user, PASSWORD) else None
        return "none"

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def journal(self, auth, body):
        shown = dict(body) if isinstance(body, dict) else body
        if isinstance(shown, dict) and "Password" in shown:
            shown["Password"] = "<given>"
        with open(ARGS.journal, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "auth": auth,
                                "body": shown}) + "\n")

    def reply(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_raw(self, status, data):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self):
        body = self.body() if self.command in ("POST", "PATCH") else None
        auth = self.auth()
        path, _, query = self.path.partition("?")
        with LOCK:
            self.journal(auth, body)
            if path in (ROOT, ROOT + "/") and self.command == "GET":
                return self.reply(200, resource(path, query))
            if path == ROOT + "/SessionService/Sessions" and self.command == "POST":
                body = body or {}
                if (body.get("UserName"), body.get("Password")) != (ARGS.user, PASSWORD):
                    return self.reply(401, {"error": {"message": "Invalid credentials"}})
                sid = STATE["next_session"]
                STATE["next_session"] += 1
                token = secrets.token_hex(16)
                spath = "%s/SessionService/Sessions/%d" % (ROOT, sid)
                STATE["tokens"][token] = spath
                return self.reply(201, {"@odata.id": spath, "Id": str(sid)},
                                  {"X-Auth-Token": token, "Location": spath})
            wants_token = not ARGS.no_sessions
            if auth is None or auth == "none" or (wants_token and auth != "token"):
                return self.reply(401, {"error": {"message": "Unauthorized"}})
            return self.route(path, query, body)

    def route(self, path, query, body):
        if self.command == "DELETE" and path.startswith(ROOT + "/SessionService/Sessions/"):
            token = self.headers.get("X-Auth-Token")
            if STATE["tokens"].get(token) != path:
                return self.reply(404, {"error": {"message": "no such session"}})
            del STATE["tokens"][token]
            return self.reply(204)
        if self.command == "PATCH" and path == ROOT + "/Systems/1":
            STATE["boot"].update((body or {}).get("Boot", {}))
            return self.reply(204)
        if self.command == "POST" and path.endswith("/ComputerSystem.Reset"):
            kind = (body or {}).get("ResetType")
            STATE["power"] = {"On": "On", "ForceOff": "Off", "PowerCycle": "On"}.get(kind, STATE["power"])
            return self.reply(204)
        if self.command == "POST" and path.endswith("/UpdateService.SimpleUpdate"):
            STATE["task_polls"] = 0
            return self.reply(202, None, {"Location": ROOT + "/TaskService/Tasks/1"})
        if self.command == "GET" and path == ROOT + "/Systems" and STATE["flaky"] > 0:
            STATE["flaky"] -= 1
            return self.reply(503, {"error": {"message": "busy, try again"}})
        if self.command == "GET" and ARGS.mangle is not None:
            return self.reply_raw(200, mangled(resource(path, query)))
        if self.command == "GET":
            res = resource(path, query)
            if res is not None:
                return self.reply(200, res)
        return self.reply(404, {"error": {"message": "not found: " + path}})

    do_GET = do_POST = do_PATCH = do_DELETE = handle_one


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
