"""The dashboard's HTTP server: the standard library's ThreadingHTTPServer on 127.0.0.1.

Every request passes the checks of auth.py in this order, and the first that fails
answers 403 with nothing else looked at: the Host header, then the token or session
cookie, then (for a POST) the Origin and the CSRF token. Only then is a view called.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from . import bounces, messages, overview, queue, sendtest
from .auth import SECURITY_HEADERS, Guard
from .sources import Sources
from .web import Request, Response, static_file

log = logging.getLogger("mailops.dashboard")

BIND = "127.0.0.1"  # never another address: the dashboard acts with the operator's access
MAX_FORM = 16 * 1024  # bytes; the forms hold an address or two

View = Callable[[Request], Response]
ROUTES: dict[tuple[str, str], View] = {
    ("GET", "/"): overview.view,
    ("GET", "/messages"): messages.view,
    ("GET", "/trace"): messages.trace_view,
    ("GET", "/bounces"): bounces.view,
    ("POST", "/suppression/remove"): bounces.remove,
    ("GET", "/queue"): queue.view,
    ("GET", "/send-test"): sendtest.view,
    ("POST", "/send-test"): sendtest.start,
}
STATIC = {"/static/style.css": ("style.css", "text/css; charset=utf-8")}


class Dashboard(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sources: Sources, port: int = 0, token: str | None = None) -> None:
        super().__init__((BIND, port), Handler)
        self.sources = sources
        self.guard = Guard(self.server_address[1], token)
        self.jobs = sendtest.Jobs(sources)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """What the operator opens: the token is exchanged for a cookie on first use."""
        return f"http://{BIND}:{self.port}/?{urlencode({'token': self.guard.token})}"

    def start(self) -> threading.Thread:
        """Serve in a background thread (tests); ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="dashboard",
                                  daemon=True)
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    server: Dashboard
    server_version = "mailops-dashboard"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle("HEAD")

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        # The token travels in the first URL: never write request lines anywhere.
        return

    def _handle(self, method: str) -> None:
        guard = self.server.guard
        if not guard.host_ok(self.headers.get("Host")):
            return self._forbidden("this dashboard answers only to 127.0.0.1 or localhost "
                                   "with its port in the Host header")
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        sid = guard.session(self.headers.get("Cookie"))
        if "token" in query:
            if method != "GET" or not guard.token_ok(query.pop("token")):
                return self._forbidden("wrong token: open the URL `mailops dashboard` printed")
            sid = sid or guard.new_session()
            rest = urlencode(query)
            # Only a path of this server: "//host/…" would send the browser elsewhere.
            here = url.path if url.path.startswith("/") and not url.path.startswith("//") \
                else "/"
            return self._send(Response(303, headers={
                "Location": here + (f"?{rest}" if rest else ""),
                "Set-Cookie": guard.set_cookie(sid)}))
        if sid is None:
            return self._forbidden("no session: open the URL `mailops dashboard` printed")
        form: dict[str, str] = {}
        if method == "POST":
            if not guard.origin_ok(self.headers.get("Origin"),
                                   self.headers.get("Sec-Fetch-Site")):
                return self._forbidden("cross-origin form refused")
            body = self._body()
            if body is None:
                self.close_connection = True
                return self._send(Response(413, b"form too large or not a form"))
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            if not guard.csrf_ok(sid, form.get("csrf")):
                return self._forbidden("missing or wrong CSRF token: reload the page and "
                                       "submit the form again")
        if method not in ("GET", "POST"):
            return self._send(Response(405, b"", headers={"Allow": "GET, POST"}))
        if method == "GET" and url.path in STATIC:
            name, kind = STATIC[url.path]
            return self._send(Response(200, static_file(name), kind))
        view = ROUTES.get((method, url.path))
        if view is None:
            known = any(path == url.path for _, path in ROUTES)
            return self._send(Response(405 if known else 404, b"not here"))
        request = Request(method, url.path, query, form, guard.csrf_token(sid),
                          self.server.sources, self.server.jobs)
        try:
            response = view(request)
        except Exception:  # noqa: BLE001 - one broken page must not take the server down
            log.exception("dashboard view %s failed", url.path)
            response = Response(500, b"internal error; see the terminal running mailops "
                                b"dashboard")
        self._send(response)

    def _body(self) -> str | None:
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if kind != "application/x-www-form-urlencoded" or not 0 <= length <= MAX_FORM:
            return None
        return self.rfile.read(length).decode("utf-8", errors="replace")

    def _forbidden(self, why: str) -> None:
        # A refused request's body may be unread: the connection cannot carry another.
        self.close_connection = True
        self._send(Response(403, f"403 forbidden: {why}\n".encode(), "text/plain; charset=utf-8"))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {**SECURITY_HEADERS, "Content-Type": response.content_type,
                   "Content-Length": str(len(response.body)), **response.headers}
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
