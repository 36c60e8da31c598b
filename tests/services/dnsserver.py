"""What the real test name servers (BIND, Knot, PowerDNS) share (importable helper).

    with KnotServer(tmp_path, transfer=False) as server:
        server.port             # the UDP+TCP port it answers on, on 127.0.0.1
        server.tsig             # "mailops-test:hmac-sha256:<base64>", the MAILOPS_TSIG form
        server.query("example.test", "SOA")   # dnspython answer straight from the server
        server.update("example.test", [("x.example.test", 300, "TXT", '"hello"')])
        server.nameservers      # ["127.0.0.1:<port>"], the MAILOPS_DNS_NAMESERVERS form

Each zone starts with only SOA, NS and the name server's address, accepts
RFC 2136 updates signed with the test key (RFC 8945 TSIG) and nothing
unsigned; zone transfers are allowed to that key only when ``transfer`` is
true. Each server runs in the foreground in its own process group so the
fixture owns it and kills it at teardown; each answers within about a second.
"""

from __future__ import annotations

import base64
import os
import secrets
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

KEY_NAME = "mailops-test"
ALGORITHM = "hmac-sha256"
ZONES = ("example.test", "tenant2.test")


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


def zone_text(zone: str) -> str:
    return (f"$ORIGIN {zone}.\n$TTL 300\n"
            f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
            f"@ IN NS ns1.{zone}.\n"
            f"ns1 IN A 127.0.0.1\n")


class DnsServer:
    """Subclasses write their configuration in ``configure()`` and return the command."""

    software = "dns"

    def __init__(self, workdir: Path, zones: tuple[str, ...] = ZONES, secret: str | None = None,
                 transfer: bool = True, update: bool = True):
        self.dir = Path(workdir)
        self.zones = tuple(zones)
        self.secret = secret or base64.b64encode(secrets.token_bytes(32)).decode()
        self.transfer = transfer
        self.allow_update = update  # False: the key is known but may not update (a refusal)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"{self.software}(port={self.port}, transfer={self.transfer})"

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
    def configure(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 10.0):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        command = self.configure()
        with open(self.dir / "server.log", "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.software} exited at start:\n{self.log()}")
            try:
                if all(self.query(z, "SOA", timeout=0.3).rcode() == dns.rcode.NOERROR
                       for z in self.zones):
                    return self
            except (OSError, dns.exception.DNSException):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.software} did not answer within {timeout}s:\n{self.log()}")

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
        p = self.dir / "server.log"
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ DNS helpers
    def query(self, name: str, rdtype: str, timeout: float = 2.0) -> dns.message.Message:
        """Ask the server directly (no cache in between), over TCP so big TXT never truncates."""
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

    def serial(self, zone: str = "example.test") -> int:
        return self.rrset(zone, "SOA")[0].serial

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
