"""A real Knot DNS primary on 127.0.0.1, started for the tests (importable helper).

Configured as the Knot DNS reference describes dynamic updates with TSIG: a
``key`` section and an ``acl`` with ``key:`` and ``action: update`` listed
in the zone. Knot's own default is kept for transfers — no acl allows them,
so it answers NOTAUTH — unless ``transfer`` adds ``action: transfer``.
"""

from __future__ import annotations

import shutil

from dnsserver import ALGORITHM, KEY_NAME, DnsServer, zone_text

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"


class KnotServer(DnsServer):
    software = "knot"

    def configure(self) -> list[str]:
        actions = [a for a, on in (("update", self.allow_update), ("transfer", self.transfer))
                   if on] or ["query"]
        for zone in self.zones:
            (self.dir / f"{zone}.zone").write_text(zone_text(zone))
        zones = "".join(f"  - domain: {z}\n    file: {self.dir}/{z}.zone\n    acl: mailops\n"
                        for z in self.zones)
        (self.dir / "knot.conf").write_text(
            f"server:\n  rundir: {self.dir}\n  listen: 127.0.0.1@{self.port}\n"
            f"log:\n  - target: stderr\n    any: info\n"
            f"database:\n  storage: {self.dir}\n"
            f"key:\n  - id: {KEY_NAME}\n    algorithm: {ALGORITHM}\n    secret: {self.secret}\n"
            f"acl:\n  - id: mailops\n    key: {KEY_NAME}\n    action: [{', '.join(actions)}]\n"
            f"template:\n  - id: default\n    storage: {self.dir}\n"
            f"zone:\n{zones}")
        return [KNOTD, "-c", str(self.dir / "knot.conf")]
