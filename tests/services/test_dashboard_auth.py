"""The dashboard as an attacker meets it: a real server on 127.0.0.1, a real HTTP client.

Whoever holds the dashboard's session acts on the mail hosts with the operator's
access, so each way in without the token, from another origin, under another Host
name or without the form's CSRF token must get exactly 403 — and nothing else.
The pages used here touch no host (the send-test form, the stylesheet, the
"remove from suppression?" question), so the inventory is the documented example.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from mailops.dashboard.server import Dashboard
from mailops.dashboard.sources import Sources
from mailops.inventory import load_inventory

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventories" / "prod.py"


@pytest.fixture
def server():
    sources = Sources(INVENTORY, load_inventory(INVENTORY))
    dashboard = Dashboard(sources, 0)
    dashboard.start()
    yield dashboard
    dashboard.shutdown()
    dashboard.server_close()
    sources.close()


def request(server: Dashboard, method: str, path: str, *, host: str | None = "default",
            cookie: str | None = None, body: dict | None = None,
            headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = cookie
    data = None
    if body is not None:
        data = urlencode(body)
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host == "default":
        host = f"127.0.0.1:{server.port}"
    if host is not None:
        conn.putheader("Host", host)
    for k, v in all_headers.items():
        conn.putheader(k, v)
    if data is not None:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data.encode() if data is not None else None)
    response = conn.getresponse()
    response.text = response.read().decode()
    conn.close()
    return response


def login(server: Dashboard) -> str:
    """The browser's first visit with the printed URL: its session cookie ("name=value")."""
    r = request(server, "GET", f"/?token={server.guard.token}")
    assert r.status == 303
    return r.getheader("Set-Cookie").split(";")[0]


def csrf_of(server: Dashboard, cookie: str) -> str:
    page = request(server, "GET", "/send-test", cookie=cookie)
    assert page.status == 200
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


# --------------------------------------------------------------------------- the token


def test_the_token_is_exchanged_for_a_strict_httponly_cookie_and_stripped_from_the_url(server):
    r = request(server, "GET", f"/send-test?address=bob%40example.com&token={server.guard.token}")
    assert r.status == 303
    assert r.getheader("Location") == "/send-test?address=bob%40example.com"
    cookie = r.getheader("Set-Cookie")
    name, rest = cookie.split("=", 1)
    assert name == f"mailops-dashboard-{server.port}"
    assert {p.strip() for p in rest.split(";")[1:]} == {"Path=/", "HttpOnly", "SameSite=Strict"}
    assert server.guard.token not in cookie
    page = request(server, "GET", "/send-test?address=bob%40example.com",
                   cookie=cookie.split(";")[0])
    assert page.status == 200 and 'value="bob@example.com"' in page.text


@pytest.mark.parametrize("path", ["/", "/messages", "/bounces", "/queue", "/send-test",
                                  "/trace?id=x", "/static/style.css", "/nothing-here"])
def test_every_page_without_token_or_cookie_is_403(server, path):
    r = request(server, "GET", path)
    assert r.status == 403
    assert r.getheader("Set-Cookie") is None
    assert "no session" in r.text


def test_a_head_request_without_a_session_is_403_too(server):
    assert request(server, "HEAD", "/").status == 403
    assert request(server, "HEAD", "/", cookie=login(server)).status == 405


@pytest.mark.parametrize("token", ["", "x", "wrong-token-of-the-right-length-0000000000000"])
def test_a_wrong_token_is_403_and_gets_no_cookie(server, token):
    r = request(server, "GET", f"/?token={token}")
    assert r.status == 403
    assert r.getheader("Set-Cookie") is None


def test_a_forged_or_foreign_session_cookie_is_403(server):
    real = login(server)
    name = real.split("=")[0]
    for cookie in (f"{name}=forged", f"{name}=", f"mailops-dashboard-1={real.split('=')[1]}",
                   "garbage;;=="):
        assert request(server, "GET", "/send-test", cookie=cookie).status == 403, cookie
    assert request(server, "GET", "/send-test", cookie=real).status == 200


def test_the_token_cannot_be_spent_by_a_post(server):
    r = request(server, "POST", f"/send-test?token={server.guard.token}",
                body={"address": "x@example.net"})
    assert r.status == 403
    assert r.getheader("Set-Cookie") is None


def test_the_redirect_after_the_token_stays_on_this_server(server):
    r = request(server, "GET", f"//evil.example/?token={server.guard.token}")
    assert r.status == 303
    location = r.getheader("Location")
    assert location.startswith("/") and not location.startswith("//"), location


# --------------------------------------------------------------------------- Host (rebinding)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1",
                                  "127.0.0.1:1", "localhost", "0.0.0.0:{port}",
                                  "127.0.0.1.evil.example:{port}", "[::1]:{port}", ""])
def test_a_host_header_other_than_this_server_is_403_even_with_a_session(server, host):
    cookie = login(server)
    r = request(server, "GET", "/send-test", host=host.format(port=server.port), cookie=cookie)
    assert r.status == 403
    assert "Host" in r.text


def test_no_host_header_is_403(server):
    assert request(server, "GET", "/send-test", host=None, cookie=login(server)).status == 403


def test_localhost_with_the_port_is_this_server(server):
    cookie = login(server)
    r = request(server, "GET", "/send-test", host=f"localhost:{server.port}", cookie=cookie)
    assert r.status == 200


def test_a_rebound_name_cannot_even_spend_the_token(server):
    r = request(server, "GET", f"/?token={server.guard.token}",
                host=f"attacker.example:{server.port}")
    assert r.status == 403
    assert r.getheader("Set-Cookie") is None


# --------------------------------------------------------------------------- CSRF


def test_a_form_with_the_sessions_csrf_token_is_accepted(server):
    cookie = login(server)
    r = request(server, "POST", "/suppression/remove", cookie=cookie,
                body={"csrf": csrf_of(server, cookie), "address": "gone@example.net"})
    assert r.status == 200
    assert "Remove <b>gone@example.net</b>" in r.text
    assert 'name="confirm" value="yes"' in r.text


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "other-session"])
def test_a_post_without_the_sessions_csrf_token_is_403(server, csrf):
    cookie = login(server)
    if csrf == "other-session":
        csrf = csrf_of(server, login(server))
    body = {"address": "gone@example.net", "confirm": "yes"}
    if csrf is not None:
        body["csrf"] = csrf
    for path in ("/suppression/remove", "/send-test"):
        r = request(server, "POST", path, cookie=cookie, body=body)
        assert r.status == 403, path
        assert "CSRF" in r.text


def test_a_post_from_another_origin_is_403_even_with_the_csrf_token(server):
    cookie = login(server)
    body = {"csrf": csrf_of(server, cookie), "address": "gone@example.net"}
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": f"http://127.0.0.1:{server.port + 1}"},
                    {"Origin": f"https://127.0.0.1:{server.port}"},
                    {"Origin": "null"},  # a sandboxed frame, a data: URL
                    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"},
                    {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "cross-site"}):
        r = request(server, "POST", "/suppression/remove", cookie=cookie, body=body,
                    headers=headers)
        assert r.status == 403, headers
    # What browsers send for the dashboard's own forms: its origin, or (under
    # Referrer-Policy: no-referrer, as Chromium does) "null" with Sec-Fetch-Site.
    for headers in ({"Origin": f"http://127.0.0.1:{server.port}"},
                    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
                    {"Origin": f"http://localhost:{server.port}", "Sec-Fetch-Site": "same-origin"}):
        r = request(server, "POST", "/suppression/remove", cookie=cookie, body=body,
                    headers=headers)
        assert r.status == 200, headers


def test_a_post_without_a_session_is_403_whatever_it_carries(server):
    csrf = csrf_of(server, login(server))
    r = request(server, "POST", "/suppression/remove",
                body={"csrf": csrf, "address": "gone@example.net", "confirm": "yes"})
    assert r.status == 403


def test_a_post_that_is_not_a_form_is_refused(server):
    cookie = login(server)
    r = request(server, "POST", "/send-test", cookie=cookie,
                headers={"Content-Type": "application/json", "Content-Length": "2"})
    assert r.status == 413


# --------------------------------------------------------------------------- headers, binding


def test_every_answer_carries_the_security_headers(server):
    cookie = login(server)
    for r in (request(server, "GET", "/send-test", cookie=cookie),
              request(server, "GET", "/static/style.css", cookie=cookie),
              request(server, "GET", "/send-test"),
              request(server, "GET", "/", host="evil.example")):
        csp = r.getheader("Content-Security-Policy")
        assert csp.startswith("default-src 'self'"), csp
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert r.getheader("X-Frame-Options") == "DENY"
        assert r.getheader("Referrer-Policy") == "no-referrer"
        assert r.getheader("X-Content-Type-Options") == "nosniff"


def test_it_listens_on_127_0_0_1_only(server):
    assert server.server_address[0] == "127.0.0.1"
    # 127.0.0.2 reaches this machine too (the whole 127/8 is loopback): a server bound
    # to every address would answer there.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", server.port), timeout=2).close()


def test_the_command_prints_the_url_once_and_serves_it(tmp_path):
    mailops = str(Path(sys.executable).with_name("mailops"))
    proc = subprocess.Popen([mailops, "dashboard", "-i", str(INVENTORY), "--port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", line).group(0)
        parts = urlsplit(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
                conn.request("GET", f"{parts.path}?{parts.query}")
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        r = conn.getresponse()
        assert r.status == 303 and "HttpOnly" in r.getheader("Set-Cookie")
        conn.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert url not in out and "token=" not in out + err  # printed once, never logged


def test_a_port_in_use_or_a_bad_inventory_is_refused_naming_it(tmp_path):
    mailops = str(Path(sys.executable).with_name("mailops"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([mailops, "dashboard", "-i", str(INVENTORY), "--port", str(port)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert f"--port {port}: cannot listen on 127.0.0.1:{port} (Address already in use)" in r.stderr
    r = subprocess.run([mailops, "dashboard", "-i", str(tmp_path / "missing.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert "missing.py: found no such file; expected a pyinfra inventory" in r.stderr
