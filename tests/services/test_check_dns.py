"""`mailops check` against an authoritative-only MAILOPS_DNS_NAMESERVERS (real BIND servers).

Such a server answers for its own zones and refuses every other name. A name outside
mailops's zones — an SPF include of a mail provider, the target of a CNAME into another
zone — must then be followed through the system resolver (here a second BIND playing
it), and be "not checked" rather than a failure when nothing can answer it.
"""

from __future__ import annotations

import socket

import pytest
from bind import BindServer

from mailops.checks.records import spf_authorises
from mailops.dns.query import Dns

pytestmark = pytest.mark.services

SENDER = "198.51.100.7"  # authorised only by the provider's record in the other zone


@pytest.fixture
def world(tmp_path, monkeypatch):
    """(the override BIND, the 'system resolver' BIND) with records across both zones."""
    with BindServer(tmp_path / "auth", zones=("example.test",)) as auth, \
            BindServer(tmp_path / "elsewhere", zones=("provider.test",)) as other:
        auth.update("example.test", [
            ("example.test", 300, "MX", "10 mx1.example.test."),
            ("mx1.example.test", 300, "A", "192.0.2.10"),
            ("example.test", 300, "TXT", '"v=spf1 mx include:_spf.provider.test -all"'),
            ("mta-sts.example.test", 300, "CNAME", "web.provider.test."),
        ])
        other.update("provider.test", [
            ("_spf.provider.test", 300, "TXT", f'"v=spf1 ip4:{SENDER} -all"'),
            ("web.provider.test", 300, "A", "192.0.2.80"),
        ])
        monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", ",".join(auth.nameservers))
        yield auth, other


def test_names_outside_the_zones_are_followed_through_the_system_resolver(world):
    _auth, other = world
    dns_ = Dns({"example.test"}, system=[("127.0.0.1", other.port)])
    assert spf_authorises(dns_, "example.test", "192.0.2.10") is True  # mx, in the zone
    assert spf_authorises(dns_, "example.test", SENDER) is True  # the include, elsewhere
    assert spf_authorises(dns_, "example.test", "203.0.113.1") is False
    assert dns_.addresses("mta-sts.example.test") == ["192.0.2.80"]


def test_an_include_nothing_can_resolve_is_undecided_not_a_failure(world):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        dns_ = Dns({"example.test"}, timeout=0.5, system=[silent.getsockname()])
        assert spf_authorises(dns_, "example.test", "192.0.2.10") is True
        assert spf_authorises(dns_, "example.test", SENDER) is None
