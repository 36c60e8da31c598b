"""The lab's authoritative DNS: a real BIND on the bridge address.

It serves the test zones, accepts RFC 2136 dynamic updates signed with a TSIG
key the lab makes at `lab up`, and is the resolver of every lab host. It does
not recurse: nothing outside the lab is ever looked up.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

from . import config
from .proc import start_daemon, wait_until

TSIG_NAME = "mailops-lab"
TSIG_ALGORITHM = "hmac-sha256"


def _zone_text(zone: str) -> str:
    ns = f"ns1.{zone}."
    lines = [
        "$TTL 60",
        f"@ IN SOA {ns} hostmaster.{zone}. 1 60 30 600 30",
        f"@ IN NS {ns}",
        f"ns1 IN A {config.GATEWAY}",
    ]
    # The hosts the lab itself brings: mx1 belongs to example.test, remote to remote.test.
    for m in config.MACHINES:
        if m.fqdn.endswith("." + zone):
            lines.append(f"{m.fqdn}. IN A {m.address}")
    if zone == "remote.test":
        lines.append(f"@ IN MX 10 {config.machine('remote').fqdn}.")
        # What a relay operator publishes for its customers' SPF include (lab/relay.py).
        lines.append(f'_spf.relay IN TXT "v=spf1 ip4:{config.machine("relay").address} -all"')
        # The lab's DNS blocklist carries the RFC 5782 §5 test entry: 127.0.0.2 listed.
        lines.append("2.0.0.127.dnsbl IN A 127.0.0.2")
    return "\n".join(lines) + "\n"


def _reverse_zone_text() -> str:
    # Forward-confirmed reverse DNS for the lab hosts (RFC 1912 §2.1).
    lines = ["$TTL 60", "@ IN SOA ns1.example.test. hostmaster.example.test. 1 60 30 600 30",
             "@ IN NS ns1.example.test."]
    for m in config.MACHINES:
        lines.append(f"{m.address.rsplit('.', 1)[1]} IN PTR {m.fqdn}.")
    return "\n".join(lines) + "\n"


REVERSE_ZONE = ".".join(reversed(config.SUBNET_PREFIX.split("."))) + ".in-addr.arpa"


def write_config(root: Path) -> Path:
    d = root / "named"
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    tsig = d / "tsig.txt"
    tsig.touch(mode=0o600)
    tsig.write_text(f"{TSIG_NAME}:{TSIG_ALGORITHM}:{secret}\n")
    zones = []
    for zone in (*config.ZONES, REVERSE_ZONE):
        text = _reverse_zone_text() if zone == REVERSE_ZONE else _zone_text(zone)
        (d / f"{zone}.zone").write_text(text)
        zones.append(
            f'zone "{zone}" {{ type primary; file "{d}/{zone}.zone"; '
            f"allow-update {{ key {TSIG_NAME}; }}; allow-transfer {{ key {TSIG_NAME}; }}; }};"
        )
    (d / "root.zone").write_text(
        "$TTL 60\n@ IN SOA ns1.example.test. hostmaster.example.test. 1 60 30 600 30\n"
        f"@ IN NS ns1.example.test.\nns1.example.test. IN A {config.GATEWAY}\n")
    conf = d / "named.conf"
    conf.touch(mode=0o600)
    conf.write_text(
        f'key "{TSIG_NAME}" {{ algorithm {TSIG_ALGORITHM}; secret "{secret}"; }};\n'
        "options {\n"
        f'  directory "{d}";\n'
        f'  pid-file "{d}/named.pid";\n'
        f'  session-keyfile "{d}/session.key";\n'
        f"  listen-on port 53 {{ {config.GATEWAY}; }};\n"
        "  listen-on-v6 { none; };\n"
        # Recursion on, but BIND is authoritative for the root zone too (below): a
        # CNAME into another lab zone (mta-sts.tenant2.test -> mx1.example.test) is
        # followed as a real resolver would, and every other name is answered
        # NXDOMAIN from the local root — nothing outside the lab is ever asked.
        "  recursion yes;\n"
        "  allow-recursion { any; };\n"
        "  allow-query { any; };\n"
        "  dnssec-validation no;\n"
        "  notify no;\n"
        "};\n"
        'controls { };\n' + "\n".join(zones) + "\n"
        f'zone "." {{ type primary; file "{d}/root.zone"; }};\n'
    )
    return conf


def start(root: Path) -> int:
    conf = write_config(root)
    d = conf.parent
    # -g: foreground, log to stderr (our log file); -u would drop to the bind user,
    # who cannot write the state directory, so it stays root inside this sandbox.
    pid = start_daemon(["named", "-g", "-c", str(conf)], d / "daemon.pid", d / "named.log")
    wait_until(lambda: _answers(), 20, f"BIND on {config.GATEWAY}:53 (log: {d / 'named.log'})")
    return pid


def _answers() -> bool:
    q = dns.message.make_query("example.test.", dns.rdatatype.SOA)
    r = dns.query.udp(q, config.GATEWAY, timeout=0.5)
    return bool(r.answer)
