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
import secrets
import signal
import subprocess
import sys
import urllib.request

from cloudflare_server import PREFIX, _Server

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
