#!/usr/bin/env python3
"""Drive a real roadside-server with stock Schemathesis (`--checks all`) against the OpenAPI
document it serves, and fail on any finding.

Two servers, each on a fresh SQLite data directory:

1. every operation except the destructive ones, with an administrator's token and an enrolled
   device's token set per security scheme (schemathesis.toml);
2. the destructive operations alone (signing out, revoking an officer or a device), which would
   otherwise take the first run's credentials away.

Before the first run the `roadside` CLI (when given) records demo cases with a photo on a device
of its own and syncs them, so the operations that read cases, entries, proofs and media reach
stored data (their identifiers are passed in ROADSIDE_* variables the config names).

Usage: run.py --server target/debug/roadside-server --cli target/debug/roadside
              --schemathesis PATH [--max-examples N]
Exit status 0 when both runs report no failure and no error.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "schemathesis.toml")
# Operations that end the credentials the run works with; they get a server of their own.
DESTRUCTIVE = [
    "DELETE /api/v1/sessions",
    "POST /api/v1/officers/{certificate_no}/revoke",
    "POST /api/v1/devices/{id}/revoke",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


class Server:
    def __init__(self, binary, workdir):
        self.data = tempfile.mkdtemp(prefix="st-server-", dir=workdir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.data, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                call(self.base, "GET", "/healthz")
                break
            except Exception:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"roadside-server did not start; see {self.log.name}")
                time.sleep(0.2)

    def admin_token(self):
        with open(os.path.join(self.data, "admin-password.txt")) as f:
            password = f.read().strip()
        r = call(self.base, "POST", "/api/v1/sessions", {"login": "admin", "password": password})
        return r["token"]

    def device_token(self, admin):
        code = call(
            self.base,
            "POST",
            "/api/v1/enrolment-codes",
            {"certificate_no": "QH6325000101"},
            admin,
        )["code"]
        # RFC 8032 test 1's public key: a valid point, and the run never signs with it.
        key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        r = call(
            self.base,
            "POST",
            "/api/v1/devices/enrol",
            {"code": code, "public_key": key, "name": "schemathesis"},
        )
        return r["token"]

    def seed(self, cli, admin):
        """Cases, entries and an uploaded photo from a real device (the CLI), synced; returns
        the identifiers the config passes to the operations that read them."""
        device = os.path.join(self.data, "device")
        code = call(
            self.base,
            "POST",
            "/api/v1/enrolment-codes",
            {"certificate_no": "QH6325000102"},
            admin,
        )["code"]

        def roadside(*a):
            out = subprocess.run(
                [cli, "--data", device, *a], check=True, capture_output=True, text=True
            )
            return out.stdout

        roadside("init", "--demo-roster")
        case = json.loads(roadside("demo", "seed", "--cases", "2").splitlines()[0])["case_id"]
        photo = os.path.join(self.data, "photo.jpg")
        with open(photo, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0" + os.urandom(4096) + b"\xff\xd9")
        added = json.loads(roadside("evidence", "add", "--kind", "photo", case, photo))
        roadside("enrol", "--server", self.base, "--code", code, "--name", "seed")
        roadside("sync", "--quiet")
        detail = call(self.base, "GET", f"/api/v1/cases/{case}", token=admin)
        return {
            "ROADSIDE_CASE_ID": case,
            "ROADSIDE_EVIDENCE_SHA256": added["sha256"],
            "ROADSIDE_ENTRY_HASH": detail["entries"][0]["entry_hash"],
        }

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run(st, server, args, selection, seed):
    admin = server.admin_token()
    env = dict(os.environ, ROADSIDE_ACCOUNT_TOKEN=admin, SCHEMATHESIS_HOOKS="roadside_hooks")
    env.update(
        {"ROADSIDE_CASE_ID": "", "ROADSIDE_EVIDENCE_SHA256": "", "ROADSIDE_ENTRY_HASH": ""}
    )
    if seed and args.cli:
        env.update(server.seed(args.cli, admin))
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    env["ROADSIDE_DEVICE_TOKEN"] = server.device_token(admin)
    cmd = [
        st,
        "--config-file",
        CONFIG,
        "run",
        f"{server.base}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--generation-deterministic",
        "--no-color",
    ] + selection
    print("   $", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env).returncode


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--schemathesis", required=True)
    p.add_argument("--cli", default=None)
    p.add_argument("--max-examples", type=int, default=25)
    p.add_argument("--seed", type=int, default=20261207)
    p.add_argument("--workdir", default=None)
    args = p.parse_args()
    failed = False
    for name, selection, seed in [
        ("every operation but the destructive ones",
         [a for op in DESTRUCTIVE for a in ("--exclude-name", op)], True),
        ("the destructive operations, on their own server",
         [a for op in DESTRUCTIVE for a in ("--include-name", op)], False),
    ]:
        print(f"== schemathesis: {name}", flush=True)
        server = Server(args.server, args.workdir)
        try:
            code = run(args.schemathesis, server, args, selection, seed)
        finally:
            server.stop()
        if code != 0:
            print(f"   schemathesis found problems ({name}); server log: {server.log.name}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
