"""The host's standing with receivers: forward-confirmed reverse DNS and DNS blocklists.

Both are about addresses mailops does not publish records for (the PTR belongs to
whoever owns the address; the lists to their operators), so they are asked
through ``mailops.dns.query.Dns`` like any name outside mailops's zones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

import dns.reversename

from ..dns.query import txt_values
from .report import FAIL, OK, WARN, Finding, guard

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context


def blocklist_query(ip: str, zone: str) -> str:
    """The name a DNSBL answers for an address (RFC 5782 §2.1 IPv4, §2.4 IPv6 nibbles)."""
    rev = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
    suffix = ".in-addr.arpa" if ipaddress.ip_address(ip).version == 4 else ".ip6.arpa"
    return f"{rev[: -len(suffix)]}.{zone}"


def is_listing(addresses: Iterable[str]) -> bool:
    """RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8 (127.255.255.x are the
    lists' own error codes, e.g. Spamhaus "query refused", not listings)."""
    return any(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8")
               and not a.startswith("127.255.255.") for a in addresses)


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
                name = blocklist_query(ip, zone)
                found = [r.address for r in ctx.dns.answers(name, "A")]
                if is_listing(found):
                    why = txt_values(ctx.dns.answers(name, "TXT"))
                    return [Finding(subject, f"blocklist {zone}", FAIL,
                                    f"{ip} is listed ({', '.join(found)}"
                                    + (f": {why[0]}" if why else "") + ")",
                                    "not listed", "receivers using the list reject the "
                                    "host's mail", f"find out why (see the list's site for "
                                    f"{ip}), fix the cause, then request delisting")]
                return [Finding(subject, f"blocklist {zone}", OK, f"{ip} is not listed")]
            out += guard(subject, f"blocklist {zone}", one)
    return out
