"""Prove that the RUNNING OpenDKIM on each host signs a domain's mail with the expected key.

For each host that signs for the domain:

1. over SSH, the host's ``python3`` runs :mod:`mailops.dkim.milter` (piped
   on stdin: nothing is installed) against OpenDKIM's socket in the Postfix spool,
   exactly where Postfix hands it every message. OpenDKIM signs a probe message
   From: probe@<domain> and returns the DKIM-Signature header. Nothing is sent;
   no key material leaves the host, only the signature.
2. here, the signature is checked with dkimpy:

   - a signature with d=<domain> and s=<expected selector> must be among those
     OpenDKIM added (RFC 6376 §3.5), with the key's algorithm (a=);
   - it must verify with the public key the keystore holds for that selector — a
     host signing with another private key under the right name fails here;
   - it must verify against the TXT record each authoritative name server of the
     zone serves (asked directly, recursion off: what a receiver will see once
     caches expire; ``MAILOPS_DNS_NAMESERVERS`` overrides NS discovery as for
     `mailops dns wait`).

Any failure raises :class:`ProbeFailed` naming the host, the domain, the
expected selector and what was found. :func:`probe_signing` is the rotation's
probe port and is what `mailops check` reuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dkim
import dkim.util
import dns.exception

from ..dns.query import DnsQueryError, Server, ask, nameservers_for
from ..hosts import ssh
from ..services import opendkim as mh
from . import milter

if TYPE_CHECKING:
    from ..dkim.keystore import Key
    from ..inventory import InventoryHost as MailHost

SOCKET = f"{mh.POSTFIX_SPOOL}/{mh.OPENDKIM_SOCKET}"
PROBE_TIMEOUT = 60  # seconds for SSH + one milter conversation


class ProbeFailed(RuntimeError):
    """OpenDKIM on a host does not sign as expected; the message says where and how."""


@dataclass
class HostVerdict:
    host: str
    domain: str
    expected: str  # selector
    ok: bool = False
    found: list[str] = field(default_factory=list)  # "s=… d=… a=…" of each signature
    problem: str = ""

    def __str__(self) -> str:
        got = "; ".join(self.found) or "no DKIM-Signature"
        if self.ok:
            return (f"host {self.host}: {self.domain} is signed with selector {self.expected} "
                    "and verifies against DNS")
        return (f"host {self.host}: {self.domain}: expected selector {self.expected} (signing "
                f"with the keystore's key), OpenDKIM signed with {got} — {self.problem}")


# --------------------------------------------------------------------------- on the host


def sign_on_host(host: MailHost, domain: str) -> dict:
    """Run the milter probe on ``host``; return its JSON (message, added headers)."""
    script = Path(milter.__file__).read_bytes()
    result = ssh.run(host, ["python3", "-", SOCKET, domain, host.settings.hostname],
                     input=script, timeout=PROBE_TIMEOUT, check=False)
    out = result.stdout.decode("utf-8", "replace").strip()
    try:
        data = json.loads(out.splitlines()[-1]) if out else {}
    except ValueError:
        data = {}
    if result.returncode != 0 or "error" in data or "message" not in data:
        why = data.get("error") or result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise ProbeFailed(
            f"host {host.name}: {domain}: the signing probe failed against OpenDKIM at "
            f"{SOCKET} (exit {result.returncode}: {why or 'no output'}); see "
            "`systemctl status opendkim` and `journalctl -u opendkim` on the host"
        )
    return data


def signed_message(data: dict) -> tuple[bytes, list[str]]:
    """The probe message with OpenDKIM's DKIM-Signature headers on top, and their values.

    OpenDKIM inserts its signature at the top (SMFIR_INSHEADER index 0), which is
    where a verifier looks for it; header values come back with bare LF folding,
    which becomes CRLF as Postfix would write it (RFC 5322 §2.2.3).
    """
    values = [c["value"] for c in data.get("added", [])
              if c.get("name", "").lower() == "dkim-signature"]
    head = b""
    for v in values:
        folded = v.replace("\r\n", "\n").replace("\n", "\r\n")
        head += f"DKIM-Signature: {folded}\r\n".encode()
    return head + data["message"].encode("utf-8", "surrogateescape"), values


# --------------------------------------------------------------------------- DNS


def authoritative_dnsfunc(server: Server, timeout: float = 3.0) -> Callable:
    """A dkimpy ``dnsfunc`` asking one authoritative server directly (recursion off)."""

    def dnsfunc(name, timeout: float = timeout) -> bytes:
        qname = name.decode() if isinstance(name, bytes) else name
        for rd in ask(server, qname, "TXT", timeout):
            # RFC 6376 §3.6.2.2: the strings of one TXT record are concatenated.
            return b"".join(rd.strings)
        return b""

    return dnsfunc


def zone_servers(host: MailHost, domain: str) -> list[Server]:
    zone = host.settings.domain(domain).dns.zone or domain
    try:
        return nameservers_for(zone)
    except DnsQueryError as e:
        raise ProbeFailed(f"{domain}: cannot find the authoritative name servers of {zone} "
                          f"to verify the probe signature against: {e}") from None


# --------------------------------------------------------------------------- verdicts


def signature_tags(value: str) -> dict[str, str]:
    """The tags of a DKIM-Signature value (RFC 6376 §3.2), as text; {} if malformed."""
    try:
        tags = dkim.util.parse_tag_value(value.encode())
    except dkim.util.InvalidTagValueList:
        return {}
    return {k.decode(): v.decode("ascii", "replace") for k, v in tags.items()}


def _verifies(message: bytes, idx: int, dnsfunc: Callable) -> tuple[bool, str]:
    """(verified?, why not) for signature ``idx``; dkimpy raises on malformed keys/records."""
    try:
        return bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc)), "it does not verify"
    except dkim.DKIMException as e:
        return False, f"dkimpy: {e}"


def judge(host: str, domain: str, key: Key, message: bytes, values: Sequence[str],
          servers: Sequence[Server]) -> HostVerdict:
    """Check OpenDKIM's signatures on the probe message against ``key`` and the DNS.

    ``servers``: the zone's authoritative servers, each asked on its own; an empty
    list checks the signature against the keystore's key only (used by tests
    without DNS).
    """
    v = HostVerdict(host, domain, key.selector)
    tags = [signature_tags(x) for x in values]
    v.found = [f"s={t.get('s', '?')} d={t.get('d', '?')} a={t.get('a', '?')}" for t in tags]
    if not values:
        v.problem = ("OpenDKIM added no DKIM-Signature to mail from probe@" + domain
                     + ": the SigningTable has no entry for the domain, or its key failed to "
                     "load (journalctl -u opendkim)")
        return v
    idx = next((i for i, t in enumerate(tags)
                if t.get("s") == key.selector and t.get("d", "").lower() == domain), None)
    if idx is None:
        v.problem = "OpenDKIM signs this domain with another key (check the SigningTable/KeyTable)"
        return v
    if tags[idx].get("a") != key.signature_algorithm:
        v.problem = (f"the signature's algorithm is a={tags[idx].get('a')}, expected "
                     f"a={key.signature_algorithm} for a {key.algorithm} key (opendkim.conf "
                     "SignatureAlgorithm)")
        return v
    keystore_record = key.txt_value.encode()
    ok, why = _verifies(message, idx, lambda name, timeout=5: keystore_record)
    if not ok:
        v.problem = (f"the signature does not verify with the public key of {key.selector} "
                     f"in the keystore ({why}): the host signs with another private key under "
                     f"that selector ({mh.OPENDKIM_DIR}/KeyTable, "
                     f"{mh.OPENDKIM_KEYS_DIR}/{domain}/)")
        return v
    for server in servers:
        where = f"{server[0]}:{server[1]}"
        try:
            ok, why = _verifies(message, idx, authoritative_dnsfunc(server))
        except (dns.exception.DNSException, OSError) as e:
            v.problem = f"the name server {where} did not answer for {key.record_name} ({e})"
            return v
        if not ok:
            v.problem = (f"the signature does not verify against TXT {key.record_name} as the "
                         f"name server {where} serves it ({why}: the record is missing or "
                         "holds another key); run `mailops dns plan`")
            return v
    v.ok = True
    return v


def probe_host(host: MailHost, domain: str, key: Key,
               servers: Sequence[Server] | None = None) -> HostVerdict:
    """Sign a probe on ``host`` and judge it; ProbeFailed only if the probe could not run."""
    data = sign_on_host(host, domain)
    if data.get("final") in ("t", "r", "y", "d"):
        # OpenDKIM refused the message itself: Postfix would refuse real mail the same way.
        return HostVerdict(host.name, domain, key.selector, problem=(
            f"OpenDKIM refused the probe message at end of message "
            f"({data.get('reply') or data['final']}); see journalctl -u opendkim"))
    message, values = signed_message(data)
    if servers is None:
        servers = zone_servers(host, domain)
    return judge(host.name, domain, key, message, values, servers)


def probe_signing(hosts: list[MailHost], domain: str, key: Key) -> bool:
    """True when every host's running OpenDKIM signs ``domain`` with ``key`` and the
    signature verifies against the live DNS; otherwise raise ProbeFailed (never False),
    one line per failing host."""
    if not hosts:
        raise ProbeFailed(f"{domain}: no host in the inventory signs for this domain")
    servers = zone_servers(hosts[0], domain)
    failed = []
    for h in hosts:
        try:
            verdict = probe_host(h, domain, key, servers)
        except (ProbeFailed, ssh.SshError) as e:
            failed.append(str(e))
            continue
        if not verdict.ok:
            failed.append(str(verdict))
    if failed:
        raise ProbeFailed("DKIM signing probe failed: " + " | ".join(failed))
    return True
