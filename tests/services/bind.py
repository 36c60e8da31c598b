"""A real BIND 9 primary on 127.0.0.1, started for the tests (importable helper).

Configured as the BIND 9 ARM describes TSIG-authorised dynamic update: a
``key`` statement and ``allow-update { key …; }`` in the zone; transfers
only to that key (``allow-transfer``), or to nobody when ``transfer`` is
false. ``named -g`` keeps it in the foreground; it answers in about 0.1 s.
"""

from __future__ import annotations

import shutil

from dnsserver import ALGORITHM, KEY_NAME, DnsServer, zone_text

NAMED = shutil.which("named") or "/usr/sbin/named"


class BindServer(DnsServer):
    software = "bind"

    def __init__(self, workdir, zones=None, secret=None, transfer: bool = True,
                 update: bool = True, check_integrity: bool = True):
        # check_integrity=False: accept an MX whose in-zone target has no address
        # yet, as API providers such as Cloudflare do (BIND refuses it by default).
        super().__init__(workdir, **({"zones": zones} if zones else {}), secret=secret,
                         transfer=transfer, update=update)
        self.check_integrity = check_integrity

    def configure(self) -> list[str]:
        transfer = f"key {KEY_NAME};" if self.transfer else "none;"
        update = f"key {KEY_NAME};" if self.allow_update else "none;"
        zone_conf = []
        for zone in self.zones:
            (self.dir / f"{zone}.zone").write_text(zone_text(zone))
            zone_conf.append(
                f'zone "{zone}" {{ type primary; file "{self.dir}/{zone}.zone"; '
                f"allow-update {{ {update} }}; allow-transfer {{ {transfer} }}; }};")
        (self.dir / "named.conf").write_text(
            f'key "{KEY_NAME}" {{ algorithm {ALGORITHM}; secret "{self.secret}"; }};\n'
            f"options {{\n"
            f'  directory "{self.dir}";\n'
            f'  pid-file "{self.dir}/named.pid";\n'
            f'  session-keyfile "{self.dir}/session.key";\n'
            f'  managed-keys-directory "{self.dir}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
            f"  listen-on-v6 {{ none; }};\n"
            f"  recursion no; notify no; dnssec-validation no;\n"
            f"  allow-query {{ any; }};\n"
            f"  check-integrity {'yes' if self.check_integrity else 'no'};\n"
            f"}};\n" + "\n".join(zone_conf) + "\n")
        return [NAMED, "-g", "-n", "1", "-c", str(self.dir / "named.conf")]
