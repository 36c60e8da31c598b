"""Service fixtures: real BIND, Knot and PowerDNS, and a Cloudflare API stand-in."""

from __future__ import annotations

import pytest
from bind import BindServer
from cloudflare_api import CloudflareAPI
from knot import KnotServer
from pdns import PowerDnsServer

SERVERS = {"bind": BindServer, "knot": KnotServer, "pdns": PowerDnsServer}


@pytest.fixture
def bind(tmp_path):
    """A fresh named on 127.0.0.1:<free port> with zones example.test and tenant2.test."""
    with BindServer(tmp_path / "named") as server:
        yield server


@pytest.fixture
def bind_env(bind, monkeypatch):
    """The environment mailops reads: TSIG key and the servers to ask in `dns wait`."""
    monkeypatch.setenv("MAILOPS_TSIG", bind.tsig)
    monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", ",".join(bind.nameservers))
    return bind


@pytest.fixture(params=[(name, transfer) for name in SERVERS for transfer in (False, True)],
                ids=lambda p: f"{p[0]}-{'axfr' if p[1] else 'no-axfr'}")
def dns_server(request, tmp_path, monkeypatch):
    """Each real server, configured as its documentation says for TSIG updates, with zone
    transfers refused (each server's default, except BIND's) and then allowed to the key."""
    name, transfer = request.param
    with SERVERS[name](tmp_path / name, transfer=transfer) as server:
        monkeypatch.setenv("MAILOPS_TSIG", server.tsig)
        monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", ",".join(server.nameservers))
        yield server


@pytest.fixture
def cloudflare_api(tmp_path, monkeypatch):
    """The Cloudflare API stand-in with zones example.test and tenant2.test, mirrored to BIND.

    BIND runs without check-integrity here: Cloudflare accepts an MX before its
    target's address exists, so the mirror must too.
    """
    with BindServer(tmp_path / "named-cf", check_integrity=False) as server:
        with CloudflareAPI(bind=server) as api:
            api.add_zone("example.test")
            api.add_zone("tenant2.test")
            monkeypatch.setenv("CLOUDFLARE_API_TOKEN", api.token)
            monkeypatch.setenv("MAILOPS_CLOUDFLARE_BASE_URL", api.base_url)
            monkeypatch.setenv("MAILOPS_CLOUDFLARE_MAX_RETRIES", "0")
            monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", ",".join(server.nameservers))
            yield api
