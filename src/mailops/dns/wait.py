"""Wait until every authoritative name server of a zone serves the expected records.

Asks each server of the zone's NS set directly, with recursion off, never a
caching resolver: a resolver could answer from a cache that predates the
change, and a secondary may lag the primary until it has transferred the new
serial (RFC 1996 NOTIFY, RFC 1034 §4.3.5). A record is "served" when the
values mailops owns at its name and type equal the expected ones.

For tests (and split-horizon setups) ``MAILOPS_DNS_NAMESERVERS`` or the
``nameservers`` argument replace NS discovery with ``host:port`` addresses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.resolver

from .providers.base import join_txt
from .records import Record, canonical

ENV = "MAILOPS_DNS_NAMESERVERS"


class WaitError(RuntimeError):
    """Waiting failed or timed out; the message lists what is still not served where."""


@dataclass(frozen=True)
class WaitProgress:
    ready: int  # (record, server) pairs that serve the expected values
    total: int
    elapsed: float
    waiting: tuple[str, ...]  # "name TYPE @ server" still pending


def parse_servers(text: str) -> list[tuple[str, int]]:
    """``"127.0.0.1:5353, [::1]:5353, 192.0.2.1"`` -> [(host, port)…]; port defaults to 53."""
    out = []
    for item in (x.strip() for x in text.replace(" ", ",").split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, port_text = item.split(":")
            port = int(port_text)
        else:
            host, port = item, 53
        out.append((host, port))
    return out


def nameservers_for(zone: str, override: Sequence[tuple[str, int]] | None = None
                    ) -> list[tuple[str, int]]:
    """The addresses of the zone's authoritative servers (its NS set), or the override."""
    if override:
        return list(override)
    if os.environ.get(ENV):
        return parse_servers(os.environ[ENV])
    try:
        targets = [r.target.to_text() for r in dns.resolver.resolve(zone, "NS")]
    except dns.exception.DNSException as e:
        raise WaitError(f"{zone}: could not find its name servers (NS lookup failed: {e}) — "
                        "check the delegation at the registrar, or set "
                        f"{ENV}=host:port,… to ask given servers") from None
    out = []
    for t in sorted(targets):
        for rdtype in ("A", "AAAA"):
            try:
                out += [(r.address, 53) for r in dns.resolver.resolve(t, rdtype)]
            except dns.exception.DNSException:
                pass
    if not out:
        raise WaitError(f"{zone}: none of its name servers ({', '.join(targets)}) has an address")
    return out


def served_values(record: Record, host: str, port: int, timeout: float = 2.0
                  ) -> tuple[str, ...] | None:
    """The values the server gives for the record's key, or None if it did not answer."""
    q = dns.message.make_query(record.name, record.type)
    q.flags &= ~dns.flags.RD  # ask the server itself, not its recursion (if any)
    try:
        r, _ = dns.query.udp_with_fallback(q, host, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return None
    want = dns.name.from_text(record.name)
    values = []
    for rrset in r.answer:
        if rrset.name != want or dns.rdatatype.to_text(rrset.rdtype) != record.type:
            continue
        for rd in rrset:
            if record.type == "TXT":
                values.append(join_txt(rd.strings))
            elif record.type == "MX":
                values.append(canonical("MX", f"{rd.preference} {rd.exchange}"))
            else:
                values.append(canonical(record.type, rd.to_text()))
    return tuple(sorted({v for v in values if record.key.owns(v)}))


def wait_for(records: Sequence[Record], timeout: float = 300.0,
             progress: Callable[[WaitProgress], None] | None = None,
             nameservers: Sequence[tuple[str, int]] | None = None,
             interval: float = 1.0) -> None:
    """Return once every authoritative server serves every record; WaitError on timeout."""
    start = time.monotonic()
    servers = {z: nameservers_for(z, nameservers) for z in sorted({r.zone for r in records})}
    pending = {(r, s) for r in records for s in servers[r.zone]}
    total = len(pending)
    while True:
        for r, s in sorted(pending, key=lambda p: (p[0].name, p[0].type, p[1])):
            if served_values(r, *s) == tuple(sorted(r.values)):
                pending.discard((r, s))
        elapsed = time.monotonic() - start
        waiting = tuple(sorted(f"{r.name} {r.type} @ {h}:{p}" for r, (h, p) in pending))
        if progress:
            progress(WaitProgress(total - len(pending), total, elapsed, waiting))
        if not pending:
            return
        if elapsed >= timeout:
            shown = "\n  ".join(waiting[:20]) + ("\n  …" if len(waiting) > 20 else "")
            raise WaitError(f"after {timeout:.0f}s, {len(pending)} of {total} record/server "
                            f"pairs still do not serve the expected values:\n  {shown}\n"
                            "check that the changes were applied (`mailops dns plan`) and that "
                            "secondaries transfer from the primary; then run `mailops dns wait` "
                            "again")
        time.sleep(min(interval, max(0.0, timeout - elapsed)))
