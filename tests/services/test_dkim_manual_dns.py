"""`rotate-dkim` on a domain with ``dns.provider: manual``, against a real name server (Knot).

The first run prints the records to publish and stops before anything signs; the
operator publishes them by hand (here: the printed zone-file line, sent to Knot as
they would paste it); the re-run sees them on every authoritative server and
carries on — deploy, probe, activate. The host steps are recorded, not run: this
is about the DNS half of the rotation's real ports.
"""

from __future__ import annotations

import pytest

from mailops.dkim.keystore import Keystore
from mailops.dkim.ports import _RealPorts
from mailops.dkim.rotation import Rotation
from mailops.dkim.turn import DomainPolicy
from mailops.dns.query import use_inventory_servers
from mailops.inventory import InventoryHost, parse_mail_settings

pytestmark = pytest.mark.services


@pytest.fixture
def knot(tmp_path):
    from knot import KnotServer

    with KnotServer(tmp_path / "knot", transfer=False) as server:
        yield server


def test_manual_dns_prints_the_records_then_a_rerun_carries_on_once_they_are_served(
        knot, tmp_path):
    settings = parse_mail_settings({
        "hostname": "mx1.example.test", "domains": {"example.test": {}},
        "keystore": str(tmp_path / "keystore"), "dns_servers": knot.nameservers})
    use_inventory_servers(settings.dns_servers)  # as load_inventory does for a command
    calls = []
    funcs = {
        "deploy": lambda hosts, d, key, inventory=None: calls.append(
            ("deploy", key.selector if key else None)),
        "probe": lambda hosts, d, key: calls.append(("probe", key.selector)) or True,
        "destroy_on_hosts": lambda hosts, d, key, inventory=None: calls.append(("destroy",)),
    }
    host = InventoryHost("mx1.example.test", {}, settings)
    ks = Keystore(tmp_path / "keystore")
    rotation = Rotation(ks, _RealPorts([host], settings, funcs, "inventory.py"),
                        wait_timeout=10)
    try:
        first = rotation.rotate(DomainPolicy("example.test"))
        assert not first.ok
        assert "uses dns.provider 'manual': publish these DKIM records" in first.error
        lines = [x for x in first.error.splitlines() if "\tIN\tTXT\t" in x]
        assert len(lines) == 1 and "._domainkey.example.test.\t" in lines[0], first.error
        assert calls == [] and ks.signing_key("example.test") is None  # nothing signs yet

        again = rotation.rotate(DomainPolicy("example.test"))  # not published yet: same
        assert not again.ok and lines[0] in again.error

        name, ttl, _, _, rdata = lines[0].split("\t")
        knot.update("example.test", [(name, int(ttl), "TXT", rdata)])  # published by hand
        done = rotation.rotate(DomainPolicy("example.test"))
        assert done.ok, done.error
        selector = name.split(".")[0]
        assert calls == [("deploy", selector), ("probe", selector)]
        assert ks.signing_key("example.test").selector == selector
    finally:
        use_inventory_servers([])
