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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception

from .query import ENV, DnsQueryError, Server, ask, nameservers_for, parse_servers, txt_text
from .records import Record, canonical

__all__ = ["ENV", "WaitError", "WaitProgress", "nameservers_for", "parse_servers",
           "served_values", "wait_for"]


class WaitError(DnsQueryError):
    """Waiting failed or timed out; the message lists what is still not served where."""


@dataclass(frozen=True)
class WaitProgress:
    ready: int  # (record, server) pairs that serve the expected values
    total: int
    elapsed: float
    waiting: tuple[str, ...]  # "name TYPE @ server" still pending


def served_values(record: Record, host: str, port: int, timeout: float = 2.0
                  ) -> tuple[str, ...] | None:
    """The values the server gives for the record's key, or None if it did not answer."""
    try:
        rdatas = ask((host, port), record.name, record.type, timeout)
    except (dns.exception.DNSException, OSError):
        return None
    values = []
    for rd in rdatas:
        if record.type == "TXT":
            values.append(txt_text(rd))
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
    servers: dict[str, list[Server]] = {
        z: nameservers_for(z, nameservers) for z in sorted({r.zone for r in records})}
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
