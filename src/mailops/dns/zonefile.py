"""The records as a commented zone-file fragment, for providers without an API.

Each record is preceded by its reason, so whoever pastes it knows what each
line is for. Names are absolute (trailing dot) so the fragment works under
any $ORIGIN; TXT values over 255 bytes are written as several quoted
character-strings of ONE record (RFC 1035 §3.3.14, §5.1).
"""

from __future__ import annotations

from collections.abc import Sequence

from .providers.base import quote_txt
from .records import Record


def _rdata(rtype: str, value: str) -> str:
    if rtype == "TXT":
        return quote_txt(value)
    if rtype == "MX":
        pref, host = value.split(" ", 1)
        return f"{pref} {host}."
    if rtype == "CNAME":
        return value + "."
    return value


def render(records: Sequence[Record]) -> str:
    """Zone-file text for the records, grouped by zone, each after a `; reason` line."""
    out: list[str] = []
    zones = sorted({r.zone for r in records})
    for zone in zones:
        if out:
            out.append("")
        out.append(f"; ---- zone {zone} — records managed by mailops (generated; do not edit "
                   "by hand, change the inventory)")
        for r in (r for r in records if r.zone == zone):
            out.append("")
            out.append(f"; [{r.level}] {r.reason}")
            for v in r.values:
                out.append(f"{r.name}.\t{r.ttl}\tIN\t{r.type}\t{_rdata(r.type, v)}")
    return "\n".join(out) + "\n"
