"""Who may talk to the dashboard: the per-run token, the session cookie, CSRF, the Host.

The dashboard acts on the mail hosts with the operator's access (it lifts suppressions,
sends test mail), so every request must prove it comes from the operator's browser:

- The URL printed at start carries a random token, as Jupyter's does. The first request
  with it gets a session cookie (``HttpOnly``, ``SameSite=Strict``: never sent on a
  request another site starts, RFC 6265bis §5.4.7) and a redirect to the same page
  without the token, so it does not linger in the address bar or history.
- Every other request needs that cookie (or the token); anything else is 403.
- The ``Host`` header must name this server (127.0.0.1 or localhost, with its port):
  a page on another site whose name an attacker re-points at 127.0.0.1 (DNS rebinding)
  sends its own name there, and gets 403 before anything else is looked at.
- Every POST carries a CSRF token bound to the session (an HMAC of the session id
  under a per-run key) and, where the browser says where it comes from
  (``Sec-Fetch-Site``, ``Origin``), a page of this server.

Pure functions and one small session table; the HTTP server (server.py) applies them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from http.cookies import CookieError, SimpleCookie

# Browsers keep cookies per host name, not per port (RFC 6265 §8.5): two dashboards on
# 127.0.0.1 would overwrite each other's cookie under one name, so the port is in it.
COOKIE = "mailops-dashboard-{port}"

# What every response carries (also the 403s). No script runs at all: the pages are
# server-rendered HTML with inline SVG, styled by one same-origin stylesheet.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'none'; object-src 'none'; "
                                "img-src 'self' data:; style-src 'self'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Guard:
    """The run's secrets and sessions: one per running dashboard."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self._key = secrets.token_bytes(32)  # signs CSRF tokens; never leaves the process
        self._sessions: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ Host / Origin

    @property
    def origins(self) -> tuple[str, str]:
        return f"127.0.0.1:{self.port}", f"localhost:{self.port}"

    def host_ok(self, host: str | None) -> bool:
        """The Host header names this server exactly (DNS rebinding defence)."""
        return (host or "").strip().lower() in self.origins

    def origin_ok(self, origin: str | None, fetch_site: str | None) -> bool:
        """A POST comes from a page of this server, as far as the browser says.

        ``Sec-Fetch-Site`` (W3C Fetch Metadata) is ``same-origin`` for our own forms;
        ``Origin`` (RFC 6454) names this server — except that with our
        ``Referrer-Policy: no-referrer`` the Fetch standard has the browser send
        ``Origin: null`` on every POST ("append a request Origin header"), so "null" is
        taken only together with ``Sec-Fetch-Site: same-origin``. A browser that sends
        neither is left to the CSRF token and the SameSite cookie.
        """
        if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
            return False
        if origin is None:
            return True
        origin = origin.strip().lower()
        if origin == "null":
            return fetch_site is not None
        return origin in {f"http://{o}" for o in self.origins}

    # ------------------------------------------------------------------ token / session

    def token_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.token.encode())

    def new_session(self) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions.add(sid)
        return sid

    def session(self, cookie_header: str | None) -> str | None:
        """The valid session id in a Cookie header, or None."""
        if not cookie_header:
            return None
        jar = SimpleCookie()
        try:
            jar.load(cookie_header)
        except CookieError:
            return None
        morsel = jar.get(self.cookie_name)
        if morsel is None:
            return None
        with self._lock:
            known = list(self._sessions)
        sid = morsel.value
        return sid if any(hmac.compare_digest(sid.encode(), k.encode()) for k in known) else None

    @property
    def cookie_name(self) -> str:
        return COOKIE.format(port=self.port)

    def set_cookie(self, sid: str) -> str:
        """The Set-Cookie value: the session for this run only (no Expires: a session
        cookie), invisible to scripts and never sent on cross-site requests."""
        return f"{self.cookie_name}={sid}; Path=/; HttpOnly; SameSite=Strict"

    # ------------------------------------------------------------------ CSRF

    def csrf_token(self, sid: str) -> str:
        return hmac.new(self._key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, sid: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token(sid).encode())
