"""A real PowerDNS Authoritative primary on 127.0.0.1, started for the tests (importable helper).

Configured as PowerDNS's "Dynamic DNS Update" documentation describes:
``dnsupdate=yes`` with the gsqlite3 backend (the bind backend cannot take
updates), the key imported with ``pdnsutil import-tsig-key`` and allowed per
zone with the ``TSIG-ALLOW-DNSUPDATE`` metadata, and ``SOA-EDIT-DNSUPDATE``
INCREASE so each update bumps the serial. Transfers are refused
(``allow-axfr-ips`` empty) unless ``transfer`` sets ``TSIG-ALLOW-AXFR``.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from dnsserver import ALGORITHM, KEY_NAME, DnsServer

PDNS = shutil.which("pdns_server") or "/usr/sbin/pdns_server"
PDNSUTIL = shutil.which("pdnsutil") or "/usr/bin/pdnsutil"
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")


class PowerDnsServer(DnsServer):
    software = "pdns"

    def _util(self, *args: str) -> None:
        subprocess.run([PDNSUTIL, f"--config-dir={self.dir}", *args], check=True,
                       capture_output=True, timeout=30)

    def configure(self) -> list[str]:
        db = self.dir / "pdns.sqlite3"
        with sqlite3.connect(db) as conn:
            conn.executescript(SCHEMA.read_text())
        (self.dir / "pdns.conf").write_text(
            f"launch=gsqlite3\ngsqlite3-database={db}\n"
            f"local-address=127.0.0.1\nlocal-port={self.port}\n"
            f"socket-dir={self.dir}\ndaemon=no\nguardian=no\ndisable-syslog=yes\n"
            f"dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\n"
            f"allow-axfr-ips={'127.0.0.0/8' if self.transfer else ''}\n"
            f"primary=yes\nwebserver=no\nloglevel=5\n")
        self._util("import-tsig-key", KEY_NAME, ALGORITHM, self.secret)
        for zone in self.zones:
            self._util("create-zone", zone, f"ns1.{zone}")
            self._util("add-record", zone, "ns1", "A", "300", "127.0.0.1")
            # Updates need an allowed address AND a listed key; update=False lists
            # another key, so ours is known but not allowed.
            self._util("set-meta", zone, "TSIG-ALLOW-DNSUPDATE",
                       KEY_NAME if self.allow_update else "someone-else")
            self._util("set-meta", zone, "SOA-EDIT-DNSUPDATE", "INCREASE")
            if self.transfer:
                self._util("set-meta", zone, "TSIG-ALLOW-AXFR", KEY_NAME)
        return [PDNS, f"--config-dir={self.dir}"]
