"""The Cloudflare API stand-in's HTTP server: auth, routing, paging, transactions.

Runs in its own process (see cloudflare_api.CloudflareAPI); the record rules
live in cloudflare_records.RecordOps.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cloudflare_records import RecordOps, Refused, now

PREFIX = "/client/v4"
TOKEN_FORM = re.compile(r"^[A-Za-z0-9_-]{40}$")
ALL_PERMISSIONS = ("#zone:read", "#dns_records:read", "#dns_records:edit")


class _Server(RecordOps):
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
            "created_on": now(), "modified_on": now(), "activated_on": now(),
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
        except Refused as e:
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
