"""The host's standing with receivers: forward-confirmed reverse DNS and DNS blocklists.

Both are about addresses mailops does not publish records for (the PTR belongs to
whoever owns the address; the lists to their operators), so they are asked
through ``mailops.dns.query.Dns`` like any name outside mailops's zones.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import dns.reversename

from ..dns.query import txt_values

# The same reading of a list's answer as the host's daily status mail (RFC 5782 and the
# lists' refusal codes are explained there).
from ..onhost.status.dnsbl import REFUSAL_MEANINGS, classify, query_name
from ..onhost.status.findings import ERROR as LISTED
from .report import FAIL, OK, WARN, Finding, guard

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context


def check_fcrdns(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    out = []
    ips = [*h.settings.ipv4, *h.settings.ipv6]
    if not ips:
        return [Finding(subject, "reverse DNS", WARN, "not checked: no ipv4/ipv6 in the "
                        "inventory")]
    for ip in ips:
        names = [str(r.target).rstrip(".").lower() for r in ctx.dns.answers(
            dns.reversename.from_address(ip).to_text(), "PTR")]
        rtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
        confirmed = [n for n in names if ip in {
            r.address for r in ctx.dns.answers(n, rtype)}]
        if h.settings.hostname in confirmed:
            out.append(Finding(subject, "reverse DNS", OK,
                               f"{ip} -> {h.settings.hostname} -> {ip}"))
        else:
            out.append(Finding(
                subject, "reverse DNS", FAIL,
                f"{ip} -> {', '.join(names) or 'no PTR'}"
                + (f" (forward-confirmed: {', '.join(confirmed)})" if confirmed else ""),
                f"PTR {h.settings.hostname}, whose address is {ip}",
                "many receivers reject or junk mail from addresses without matching "
                "forward-confirmed reverse DNS (RFC 8601 §2.7.3 iprev; RFC 1912 §2.1)",
                "ask whoever owns the address (your hosting provider) to set its PTR to "
                f"{h.settings.hostname}"))
    return out


def check_blocklists(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    out = []
    for zone in h.settings.blocklists:
        for ip in (*h.settings.ipv4, *h.settings.ipv6):
            def one(zone=zone, ip=ip) -> list[Finding]:
                name = query_name(ip, zone)
                found = [r.address for r in ctx.dns.answers(name, "A")]
                level, state, codes = classify(found)
                check = f"blocklist {zone}"
                if level == LISTED:
                    why = txt_values(ctx.dns.answers(name, "TXT"))
                    return [Finding(subject, check, FAIL,
                                    f"{ip} is listed ({', '.join(codes)}"
                                    + (f": {why[0]}" if why else "") + ")",
                                    "not listed", "receivers using the list reject the "
                                    "host's mail", f"find out why (see the list's site for "
                                    f"{ip}), fix the cause, then request delisting")]
                if codes:  # a refusal code or no DNSBL answer at all: nothing is known
                    meaning = "; ".join(REFUSAL_MEANINGS.get(c, c) for c in codes)
                    return [Finding(subject, check, WARN, f"not checked: the list {state} "
                                    f"({meaning})")]
                return [Finding(subject, check, OK, f"{ip} is not listed")]
            out += guard(subject, f"blocklist {zone}", one)
    return out
