"""A real BIND 9 primary on 127.0.0.1, started for the tests (importable helper).

    with BindServer(tmp_path, zones=("example.test", "tenant2.test")) as bind:
        bind.port             # the UDP+TCP port named answers on
        bind.tsig             # "mailops-test:hmac-sha256:<base64>", the MAILOPS_TSIG form
        bind.keyring          # dnspython keyring for that key
        bind.query("example.test", "SOA")   # dnspython answer straight from named
        bind.update("example.test", [("x.example.test", 300, "TXT", '"hello"')])
        bind.nameservers      # ["127.0.0.1:<port>"], the MAILOPS_DNS_NAMESERVERS form

Each zone starts with only SOA and NS records and accepts RFC 2136 updates
and AXFR signed with the test key (RFC 8945 TSIG), nothing unsigned.
`named -g` keeps it in the foreground so the fixture owns the process and can
kill it at teardown; it answers in about 0.1 s.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

NAMED = shutil.which("named") or "/usr/sbin/named"
KEY_NAME = "mailops-test"
ALGORITHM = "hmac-sha256"


def free_port() -> int:
    """A port that is free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


class BindServer:
    def __init__(self, workdir: Path, zones: tuple[str, ...] = ("example.test", "tenant2.test"),
                 secret: str | None = None, check_integrity: bool = True):
        # check_integrity=False: accept an MX whose in-zone target has no address
        # yet, as API providers such as Cloudflare do (BIND refuses it by default).
        self.check_integrity = check_integrity
        self.dir = Path(workdir)
        self.zones = tuple(zones)
        self.secret = secret or base64.b64encode(secrets.token_bytes(32)).decode()
        self.port = 0
        self.proc: subprocess.Popen | None = None

    # ------------------------------------------------------------------ credentials
    @property
    def tsig(self) -> str:
        """The value of the TSIG env var mailops reads: name:algorithm:base64secret."""
        return f"{KEY_NAME}:{ALGORITHM}:{self.secret}"

    @property
    def keyring(self) -> dict:
        return dns.tsigkeyring.from_text({KEY_NAME: (ALGORITHM, self.secret)})

    @property
    def nameservers(self) -> list[str]:
        return [f"127.0.0.1:{self.port}"]

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> BindServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        zone_conf = []
        for zone in self.zones:
            (self.dir / f"{zone}.zone").write_text(
                f"$TTL 300\n"
                f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
                f"@ IN NS ns1.{zone}.\n"
                f"ns1 IN A 127.0.0.1\n"
            )
            zone_conf.append(
                f'zone "{zone}" {{ type primary; file "{self.dir}/{zone}.zone"; '
                f"allow-update {{ key {KEY_NAME}; }}; allow-transfer {{ key {KEY_NAME}; }}; }};"
            )
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
            f"}};\n" + "\n".join(zone_conf) + "\n"
        )
        log = open(self.dir / "named.log", "wb")
        self.proc = subprocess.Popen(
            [NAMED, "-g", "-n", "1", "-c", str(self.dir / "named.conf")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"named exited at start:\n{self.log()}")
            try:
                if all(self.query(z, "SOA", timeout=0.3).rcode() == dns.rcode.NOERROR
                       for z in self.zones):
                    return self
            except (OSError, dns.exception.Timeout):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"named did not answer within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        p = self.dir / "named.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def __enter__(self) -> BindServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ DNS helpers
    def query(self, name: str, rdtype: str, timeout: float = 2.0) -> dns.message.Message:
        """Ask named directly (no cache in between), over TCP so big TXT never truncates."""
        q = dns.message.make_query(name, rdtype)
        q.flags &= ~dns.flags.RD
        return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def rrset(self, name: str, rdtype: str):
        """The answer RRset for name/type, or None."""
        r = self.query(name, rdtype)
        want = dns.name.from_text(name)
        for rrset in r.answer:
            if rrset.name == want and rrset.rdtype == dns.rdatatype.from_text(rdtype):
                return rrset
        return None

    def txt(self, name: str) -> list[list[bytes]]:
        """Every TXT record at name as its list of character-strings."""
        rrset = self.rrset(name, "TXT")
        return [list(rd.strings) for rd in rrset] if rrset else []

    def update(self, zone: str, adds: list[tuple[str, int, str, str]] = (),
               deletes: list[tuple[str, str]] = ()) -> None:
        """Signed RFC 2136 update: add (name, ttl, type, text) and delete (name, type) RRsets."""
        u = dns.update.UpdateMessage(zone, keyring=self.keyring, keyname=KEY_NAME,
                                     keyalgorithm=ALGORITHM)
        for name, rdtype in deletes:
            u.delete(dns.name.from_text(name), rdtype)
        for name, ttl, rdtype, text in adds:
            u.add(dns.name.from_text(name), ttl, rdtype, text)
        r = dns.query.tcp(u, "127.0.0.1", port=self.port, timeout=5)
        if r.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"update of {zone} failed: {dns.rcode.to_text(r.rcode())}")

