"""A local stand-in for the Cloudflare v4 DNS API, faithful to what the official SDK uses.

    with CloudflareAPI(bind=bind_server) as api:   # a child process on 127.0.0.1:<port>
        api.add_zone("example.test")               # writes through to the real test BIND
        Cloudflare(api_token=api.token, base_url=api.base_url, max_retries=0)
        api.writes, api.records, api.rate_limit(next_requests=1)

Shapes follow Cloudflare's published OpenAPI description (extract and licence
in tests/fixtures/cloudflare/; the stand-in's tests validate its responses
against it); the wire details the official SDK relies on (cloudflare 5.x):
- auth: ``Authorization: Bearer <token>``; a token that is not 40 characters
  of [A-Za-z0-9_-] is answered 400 code 6003 with ``error_chain`` 6111, an
  unknown one 403 code 9109, a token without the needed permission 403 code
  10000 (each operation's ``x-cfPermissionsRequired``: zones need
  ``#zone:read``, which without it list no zone; record writes
  ``#dns_records:edit``);
- every response is the v4 envelope {success, errors[{code, message}],
  messages, result, result_info}; lists page with ``page``/``per_page``
  (DNS records: default 100, 5..50000) and an empty page past the end;
- records carry ``proxied`` (default false), ``ttl`` (1 = automatic),
  ``locked``, ``meta``, ``comment``, ``tags``; TXT content is stored exactly
  as given, quoted or not; PUT replaces the record (tags and comment too),
  PATCH changes only the fields given;
- ``POST …/dns_records/batch`` runs deletes, patches, puts, posts in that
  order in one transaction: all or nothing;
- errors: 81053/81054 for a CNAME beside other data, 81058 for a duplicate,
  1004 for a record Email Routing manages, 9021 for a bad TTL, 429 code 971
  with Retry-After.

Every change is mirrored into the zone on the test BIND with a TSIG-signed
RFC 2136 update, so real DNS queries see what the SDK published.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PREFIX = "/client/v4"
TOKEN_FORM = re.compile(r"^[A-Za-z0-9_-]{40}$")
ALL_PERMISSIONS = ("#zone:read", "#dns_records:read", "#dns_records:edit")
EMAIL_ROUTING_MX = ("route1.mx.cloudflare.net", "route2.mx.cloudflare.net",
                    "route3.mx.cloudflare.net")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strings(content: str) -> list[bytes]:
    """Cloudflare TXT content -> character-strings (quoted form or bare text)."""
    content = content.strip()
    if not content.startswith('"'):
        data = content.encode()
        return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', content):
        raw = re.sub(r"\\(\d{3}|.)", lambda x: chr(int(x.group(1))) if x.group(1).isdigit()
                     else x.group(1), m.group(1)).encode()
        out += [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return out


def _quoted(strings: list[bytes]) -> str:
    return " ".join('"' + s.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for s in strings)


class _Server:
    """The API's state and protocol; runs in its own process (see CloudflareAPI)."""

    def __init__(self, bind=None, token: str | None = None):
        self.bind = bind
        self.token = token or secrets.token_urlsafe(30)
        self.permissions = list(ALL_PERMISSIONS)
        self.zones: dict[str, dict] = {}
        self.records: dict[str, dict[str, dict]] = {}
        self.calls: list[tuple[str, str, dict]] = []  # (method, path, query) of every request
        self.rate_limited = 0  # answer the next N requests with 429
        self.retry_after = "1"
        self.limit_after_writes: int | None = None  # then 429 once, after N more writes
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ setup

    def add_zone(self, name: str, status: str = "active") -> str:
        zid = secrets.token_hex(16)
        self.zones[zid] = {
            "id": zid, "name": name, "status": status, "paused": False, "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None, "original_registrar": None, "original_dnshost": None,
            "created_on": _now(), "modified_on": _now(), "activated_on": _now(),
            "meta": {"step": 4, "custom_certificate_quota": 0, "page_rule_quota": 3,
                     "phishing_detected": False},
            "owner": {"id": None, "type": "user", "email": None},
            "account": {"id": "0" * 32, "name": "test account"},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website",
                     "price": 0, "currency": "USD", "frequency": "", "is_subscribed": False,
                     "can_subscribe": False, "legacy_id": "free", "legacy_discount": False,
                     "externally_managed": False},
        }
        self.records[zid] = {}
        return zid

    def zone_id(self, name: str) -> str:
        return next(z for z, v in self.zones.items() if v["name"] == name)

    @property
    def base_url(self) -> str:
        assert self.server, "start() first"
        return f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    @property
    def writes(self) -> list[tuple[str, str, dict]]:
        return [c for c in self.calls if c[0] != "GET"]

    def start(self) -> _Server:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once

            def log_message(self, *a):  # keep pytest output clean
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, headers = api.handle(self.command, self.path,
                                                   self.headers.get("Authorization", ""), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ protocol

    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict | None = None):
        return status, {"success": False, "errors": [{"code": code, "message": message}],
                        "messages": [], "result": None}, headers or {}

    @staticmethod
    def _ok(result, status: int = 200, result_info: dict | None = None):
        body = {"success": True, "errors": [], "messages": [], "result": result}
        if result_info is not None:
            body["result_info"] = result_info
        return status, body, {}

    @staticmethod
    def _page(items: list, query: dict, default_per_page: int, max_per_page: int):
        page = int(query.get("page", ["1"])[0])
        per_page = min(max_per_page,
                       int(float(query.get("per_page", [str(default_per_page)])[0])))
        chunk = items[(page - 1) * per_page: page * per_page]
        total_pages = (len(items) + per_page - 1) // per_page
        return _Server._ok(chunk, result_info={
            "page": page, "per_page": per_page, "count": len(chunk),
            "total_count": len(items), "total_pages": total_pages})

    def _auth(self, auth: str, need: str):
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not TOKEN_FORM.match(token):
            status, body, h = self._error(400, 6003, "Invalid request headers")
            body["errors"][0]["error_chain"] = [
                {"code": 6111, "message": "Invalid format for Authorization header"}]
            return status, body, h
        if token != self.token:
            return self._error(403, 9109, "Invalid access token")
        if need not in self.permissions:
            return self._error(403, 10000, "Authentication error")
        return None

    def handle(self, method: str, path: str, auth: str, raw: bytes):
        url = urlsplit(path)
        query = parse_qs(url.query)
        with self.lock:
            if url.path.startswith("/_control/"):
                return self._control(method, url.path, json.loads(raw) if raw else {})
            self.calls.append((method, url.path, {k: v[0] for k, v in query.items()}))
            if self.limit_after_writes is not None and method != "GET":
                if self.limit_after_writes == 0:
                    self.limit_after_writes, self.rate_limited = None, 1
                else:
                    self.limit_after_writes -= 1
            if self.rate_limited:
                self.rate_limited -= 1
                return self._error(429, 971, "Please wait and consider throttling your request "
                                   "speed", {"Retry-After": self.retry_after})
            if not url.path.startswith(PREFIX):
                return self._error(404, 7000, "No route for that URI")
            parts = url.path[len(PREFIX):].strip("/").split("/")
            body = json.loads(raw) if raw else {}
            if parts == ["zones"] and method == "GET":
                denied = self._auth(auth, "#dns_records:read")
                if denied:
                    return denied
                # Without #zone:read a token sees no zone at all.
                zones = [z for z in self.zones.values() if "#zone:read" in self.permissions
                         and ("name" not in query or z["name"] == query["name"][0].lower())
                         and ("status" not in query or z["status"] == query["status"][0])]
                return self._page(zones, query, 20, 50)
            if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
                zid = parts[1]
                denied = self._auth(auth, "#dns_records:read" if method == "GET"
                                    else "#dns_records:edit")
                if denied:
                    return denied
                if zid not in self.zones:
                    return self._error(404, 7003, f"Could not route to /zones/{zid}/dns_records, "
                                       "perhaps your object identifier is invalid?")
                if len(parts) == 3:
                    if method == "GET":
                        per_page = int(float(query.get("per_page", ["100"])[0]))
                        if not 5 <= per_page <= 50000:
                            return self._error(400, 1004, "DNS Validation Error: per_page must "
                                               "be between 5 and 50000")
                        return self._page(self._filter(zid, query), query, 100, 50000)
                    if method == "POST":
                        return self._transaction(zid, lambda: self._create(zid, body))
                if len(parts) == 4 and parts[3] == "batch" and method == "POST":
                    return self._transaction(zid, lambda: self._batch(zid, body))
                if len(parts) == 4:
                    rid = parts[3]
                    if rid not in self.records[zid]:
                        return self._error(404, 81044, "Record does not exist.")
                    if method == "GET":
                        return self._ok(self.records[zid][rid])
                    if method in ("PUT", "PATCH"):
                        return self._transaction(zid, lambda: self._update(
                            zid, rid, body, partial=method == "PATCH"))
                    if method == "DELETE":
                        return self._transaction(zid, lambda: self._delete(zid, rid))
            return self._error(405, 10405, f"Method {method} not allowed for {url.path}")

    def _transaction(self, zid: str, fn):
        """All or nothing, as Cloudflare runs a request (and a batch) in one transaction."""
        saved = {i: dict(r) for i, r in self.records[zid].items()}
        try:
            result = fn()
        except _Refused as e:
            self.records[zid] = saved
            return e.response
        now = self.records[zid]
        changed = {(r["name"], r["type"]) for i, r in saved.items() if now.get(i) != r}
        changed |= {(r["name"], r["type"]) for i, r in now.items() if saved.get(i) != r}
        for name, rdtype in sorted(changed):
            self._sync(zid, name, rdtype)
        return self._ok(result)

    def _control(self, method: str, path: str, body: dict):
        """Test hooks (no auth): state, zones, rate limits. Not part of Cloudflare's API."""
        what = path[len("/_control/"):]
        if what == "state":
            return 200, {"zones": self.zones, "records": self.records, "calls": self.calls,
                         "token": self.token}, {}
        if what == "zone" and method == "POST":
            return 200, {"id": self.add_zone(body["name"], body.get("status", "active"))}, {}
        if what == "zone" and method == "DELETE":
            zid = next(z for z, v in self.zones.items() if v["name"] == body["name"])
            del self.zones[zid]
            return 200, {"id": zid}, {}
        if what == "permissions":
            self.permissions = list(body["permissions"])
            return 200, {}, {}
        if what == "email_routing":
            return 200, {"ids": self._email_routing(body["zone"])}, {}
        if what == "rate_limit":
            self.rate_limited = body.get("next", 0)
            self.limit_after_writes = body.get("after_writes")
            self.retry_after = str(body.get("retry_after", 1))
            return 200, {}, {}
        return 404, {"error": what}, {}

    def _email_routing(self, zone: str) -> list[str]:
        """What enabling Email Routing does to a zone: its own MX and SPF, locked."""
        zid = self.zone_id(zone)
        ids = []
        for rdtype, content, prio in [("MX", mx, 10 * (i + 1))
                                      for i, mx in enumerate(EMAIL_ROUTING_MX)] + [
                ("TXT", '"v=spf1 include:_spf.mx.cloudflare.net ~all"', None)]:
            rid = secrets.token_hex(16)
            body = {"name": zone, "type": rdtype, "content": content, "ttl": 1}
            if prio is not None:
                body["priority"] = prio
            rec = self._record(zid, rid, body, _now())
            rec["locked"] = True
            rec["meta"] = {"auto_added": True, "email_routing": True, "read_only": True}
            self.records[zid][rid] = rec
            ids.append(rid)
        self._sync(zid, zone, "MX")
        self._sync(zid, zone, "TXT")
        return ids

    def _filter(self, zid: str, query: dict) -> list[dict]:
        out = list(self.records[zid].values())
        q = {k: v[0] for k, v in query.items()}
        tests = {
            "name": lambda r, v: r["name"] == v.lower(),
            "name.exact": lambda r, v: r["name"] == v.lower(),
            "name.contains": lambda r, v: v.lower() in r["name"],
            "name.startswith": lambda r, v: r["name"].startswith(v.lower()),
            "name.endswith": lambda r, v: r["name"].endswith(v.lower()),
            "type": lambda r, v: r["type"] == v,
            "content": lambda r, v: r["content"].lower() == v.lower(),
            "content.exact": lambda r, v: r["content"].lower() == v.lower(),
        }
        for k, test in tests.items():
            if k in q:
                out = [r for r in out if test(r, q[k])]
        return sorted(out, key=lambda r: (r["type"], r["name"], r["content"]))

    def _validate(self, zid: str, rec: dict, rid: str | None) -> None:
        zone = self.zones[zid]["name"]
        if not rec.get("name") or not rec.get("type") or rec.get("content") is None:
            raise _Refused(self._error(400, 9000, "DNS name, type and content are required"))
        name = rec["name"] = rec["name"].lower().rstrip(".")
        if name != zone and not name.endswith("." + zone):
            raise _Refused(self._error(400, 9005, "Content for record is invalid: name not in "
                                       "zone"))
        ttl = rec.get("ttl", 1)
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise _Refused(self._error(400, 9021, "Invalid TTL. Must be between 60 and 86400 "
                                       "seconds, or 1 for Automatic."))
        if rec["type"] == "MX" and rec.get("priority") is None:
            raise _Refused(self._error(400, 9101, "Priority must be set for MX records"))
        others = [r for i, r in self.records[zid].items() if i != rid and r["name"] == name]
        same = _strings(rec["content"]) if rec["type"] == "TXT" else rec["content"]
        if any(r["type"] == rec["type"] and (_strings(r["content"]) if r["type"] == "TXT"
                                             else r["content"]) == same for r in others):
            raise _Refused(self._error(400, 81058, "An identical record already exists."))
        if rec["type"] == "CNAME" and others:
            raise _Refused(self._error(400, 81054, "A CNAME record with that host already "
                                       "exists. For more details, refer to <https://developers."
                                       "cloudflare.com/dns/manage-dns-records/troubleshooting/"
                                       "records-with-same-name/>."))
        if any(r["type"] == "CNAME" for r in others):
            raise _Refused(self._error(400, 81053, "An A, AAAA, or CNAME record with that host "
                                       "already exists."))

    def _check_unlocked(self, zid: str, rid: str) -> None:
        if self.records[zid][rid].get("locked"):
            raise _Refused(self._error(400, 1004, "DNS Validation Error: this record is managed "
                                       "by Email Routing. Disable Email Routing to modify or "
                                       "delete it."))

    def _record(self, zid: str, rid: str, body: dict, created: str) -> dict:
        rec = {
            "id": rid, "zone_id": zid, "zone_name": self.zones[zid]["name"],
            "name": body["name"], "type": body["type"], "content": body["content"],
            "proxiable": body["type"] in ("A", "AAAA", "CNAME"),
            "proxied": bool(body.get("proxied", False)), "ttl": body.get("ttl", 1),
            "locked": False, "settings": body.get("settings") or {}, "meta": {},
            "tags": body.get("tags") or [], "created_on": created, "modified_on": _now(),
        }
        if body.get("comment") is not None:  # the schema's comment is a string, never null
            rec["comment"] = body["comment"]
        if body["type"] == "MX":
            rec["priority"] = body["priority"]
        return rec

    def _create(self, zid: str, body: dict) -> dict:
        self._validate(zid, body, None)
        rid = secrets.token_hex(16)
        self.records[zid][rid] = rec = self._record(zid, rid, body, _now())
        return rec

    def _update(self, zid: str, rid: str, body: dict, partial: bool) -> dict:
        self._check_unlocked(zid, rid)
        old = self.records[zid][rid]
        merged = {**old, **body} if partial else dict(body)
        self._validate(zid, merged, rid)
        self.records[zid][rid] = rec = self._record(zid, rid, merged, old["created_on"])
        return rec

    def _delete(self, zid: str, rid: str) -> dict:
        self._check_unlocked(zid, rid)
        self.records[zid].pop(rid)
        return {"id": rid}

    def _batch(self, zid: str, body: dict) -> dict:
        def known(rid):
            if rid not in self.records[zid]:
                raise _Refused(self._error(404, 81044, "Record does not exist."))
            return rid

        out = {"deletes": [self.records[zid][known(d["id"])] for d in body.get("deletes") or []]}
        for d in body.get("deletes") or []:
            self._delete(zid, d["id"])
        out["patches"] = [self._update(zid, known(p["id"]), p, partial=True)
                          for p in body.get("patches") or []]
        out["puts"] = [self._update(zid, known(p["id"]), p, partial=False)
                       for p in body.get("puts") or []]
        out["posts"] = [self._create(zid, p) for p in body.get("posts") or []]
        return out

    # ------------------------------------------------------------------ write-through to BIND

    def _sync(self, zid: str, name: str, rdtype: str) -> None:
        """Make the real BIND serve exactly this API's RRset at name/type."""
        if self.bind is None:
            return
        import dns.name
        import dns.query
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.update
        from dns.rdata import from_text
        from dns.rdtypes.ANY.TXT import TXT

        zone = self.zones[zid]["name"]
        recs = [r for r in self.records[zid].values() if r["name"] == name and r["type"] == rdtype]
        import dns.tsigkeyring

        keyname, algorithm, secret = self.bind.tsig.split(":", 2)
        keyring = dns.tsigkeyring.from_text({keyname: (algorithm, secret)})
        u = dns.update.UpdateMessage(zone, keyring=keyring,
                                     keyname=dns.name.from_text(keyname), keyalgorithm=algorithm)
        u.delete(dns.name.from_text(name), rdtype)
        for r in recs:
            ttl = 300 if r["ttl"] == 1 else r["ttl"]
            if rdtype == "TXT":
                rd = TXT(dns.rdataclass.IN, dns.rdatatype.TXT, _strings(r["content"]))
            elif rdtype == "MX":
                rd = from_text("IN", "MX", f"{r['priority']} {r['content']}.")
            elif rdtype == "CNAME":
                rd = from_text("IN", "CNAME", r["content"] + ".")
            else:
                rd = from_text("IN", rdtype, r["content"])
            u.add(dns.name.from_text(name), ttl, rd)
        resp = dns.query.tcp(u, "127.0.0.1", port=self.bind.port, timeout=5)
        if resp.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"write-through to BIND failed: {dns.rcode.to_text(resp.rcode())}")


class _Refused(Exception):
    """A request Cloudflare refuses; carries the error response."""

    def __init__(self, response):
        super().__init__(response[1]["errors"][0]["message"])
        self.response = response


# --------------------------------------------------------------------------- the test-side handle


class CloudflareAPI:
    """Runs the stand-in in a child process and talks to it.

    A separate process because pyinfra's CLI monkey-patches the test process
    with gevent when imported (`mailops` commands run in-process in tests),
    which breaks server threads started before or after the patch.
    """

    def __init__(self, bind=None, token: str | None = None):
        self.bind = bind
        self.token = token or secrets.token_urlsafe(30)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> CloudflareAPI:
        config = {"token": self.token,
                  "bind": {"port": self.bind.port, "tsig": self.bind.tsig} if self.bind else None}
        self.proc = subprocess.Popen([sys.executable, __file__, json.dumps(config)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"Cloudflare API stand-in did not start: {line!r}")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def _control(self, what: str, method: str = "GET", body: dict | None = None) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_control/{what}",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def add_zone(self, name: str, status: str = "active") -> str:
        return self._control("zone", "POST", {"name": name, "status": status})["id"]

    def set_permissions(self, *permissions: str) -> None:
        """What the token may do, as x-cfPermissionsRequired names it (#zone:read …)."""
        self._control("permissions", "POST", {"permissions": list(permissions)})

    def enable_email_routing(self, zone: str) -> list[str]:
        return self._control("email_routing", "POST", {"zone": zone})["ids"]

    def remove_zone(self, name: str) -> None:
        self._control("zone", "DELETE", {"name": name})

    def rate_limit(self, next_requests: int = 0, after_writes: int | None = None,
                   retry_after: int = 1) -> None:
        """429 the next N requests, or once after N more write requests."""
        self._control("rate_limit", "POST", {"next": next_requests, "after_writes": after_writes,
                                             "retry_after": retry_after})

    def zone_id(self, name: str) -> str:
        return next(z for z, v in self._control("state")["zones"].items() if v["name"] == name)

    @property
    def records(self) -> dict[str, dict[str, dict]]:
        return self._control("state")["records"]

    @property
    def calls(self) -> list[tuple[str, str, dict]]:
        return [tuple(c) for c in self._control("state")["calls"]]

    @property
    def writes(self) -> list[tuple[str, str, dict]]:
        return [c for c in self.calls if c[0] != "GET"]


def _main(config_json: str) -> None:
    import types

    config = json.loads(config_json)
    bind = types.SimpleNamespace(**config["bind"]) if config["bind"] else None
    server = _Server(bind=bind, token=config["token"]).start()
    print(server.server.server_address[1], flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    os._exit(0)  # nothing to flush; a graceful shutdown() would wait for the poll interval


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    _main(sys.argv[1])
