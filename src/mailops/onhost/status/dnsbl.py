"""Is the host's address on a DNS blocklist? Asked through the host's own resolver.

RFC 5782: the list is asked for ``<reversed address>.<zone>`` (§2.1 IPv4, §2.4 IPv6
nibbles); an A record in 127.0.0.0/8 means "listed" and its TXT record says why. Not
every 127.x answer is a listing, and reading one as such would cry wolf daily:

- 127.255.255.0/24 are the lists' own error codes. Spamhaus documents
  127.255.255.252 (typing error in the DNSBL name), 127.255.255.254 (query through a
  public or open resolver — the usual case when the host uses 8.8.8.8 or 1.1.1.1)
  and 127.255.255.255 (excessive number of queries). The query was refused: nothing
  is known about the address, which is worth a warning, not an alarm.
- 127.0.0.1 is never a listing (RFC 5782 §5: lists must not list it); lists such as
  URIBL answer it to refused queries.
- An answer outside 127.0.0.0/8 is no DNSBL answer at all: a resolver that rewrites
  NXDOMAIN, or a zone that was given up and now points elsewhere.
- A list that "lists" 127.0.0.1 itself (the RFC 5782 §5 test address) lists every
  address (a shut-down list answering everything); its answers are not believed.
"""

from __future__ import annotations

import ipaddress

from .dnsquery import NXDOMAIN, TXT, A, DnsError, query
from .findings import ERROR, OK, WARNING, Finding

REFUSAL_NET = ipaddress.ip_network("127.255.255.0/24")
LISTING_NET = ipaddress.ip_network("127.0.0.0/8")
# Spamhaus "DNSBL return codes" (docs.spamhaus.com, "Return codes").
REFUSAL_MEANINGS = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query through a public or open resolver: ask the list through "
                       "a resolver of your own (e.g. unbound on the host)",
    "127.255.255.255": "excessive number of queries",
    "127.0.0.1": "query refused (RFC 5782 §5: 127.0.0.1 is never a listing)",
}


def query_name(ip: str, zone: str) -> str:
    """``<reversed address>.<zone>`` (RFC 5782 §2.1, §2.4)."""
    address = ipaddress.ip_address(ip)
    suffix = ".in-addr.arpa" if address.version == 4 else ".ip6.arpa"
    return f"{address.reverse_pointer[: -len(suffix)]}.{zone.rstrip('.')}"


def classify(values: list[str]) -> tuple[str, str, list[str]]:
    """The A records of a DNSBL answer -> (level, state, codes that decided it)."""
    addresses = [ipaddress.ip_address(v) for v in values]
    listed = sorted(str(a) for a in addresses if a in LISTING_NET
                    and a not in REFUSAL_NET and str(a) != "127.0.0.1")
    if listed:
        return ERROR, "listed " + " ".join(listed), listed
    refused = sorted(str(a) for a in addresses if a in REFUSAL_NET or str(a) == "127.0.0.1")
    if refused:
        return WARNING, "query refused " + " ".join(refused), refused
    if addresses:
        odd = sorted(str(a) for a in addresses)
        return WARNING, "unexpected answer " + " ".join(odd), odd
    return OK, "not listed", []


def _lists_everything(zone: str, servers) -> bool:
    try:
        answer = query(query_name("127.0.0.1", zone), A, servers)
    except DnsError:
        return False
    return classify(answer.values)[0] == ERROR


def check(zone: str, ip: str, servers=None) -> Finding:
    name = f"dnsbl {zone} {ip}"
    qname = query_name(ip, zone)
    try:
        answer = query(qname, A, servers)
    except DnsError as exc:
        return Finding(name, WARNING, "lookup failed",
                       f"could not ask {zone} about {ip} ({qname}): {exc}")
    if answer.rcode == NXDOMAIN or not answer.values:
        return Finding(name, OK, "not listed", f"{ip} is not listed on {zone}")
    level, state, codes = classify(answer.values)
    if level == ERROR:
        if _lists_everything(zone, servers):
            return Finding(name, WARNING, "list answers for every address",
                           f"{zone} lists even the test address 127.0.0.1 (RFC 5782 §5): "
                           "the list is out of service; remove it from status_mail.dnsbl")
        try:
            why = "; ".join(query(qname, TXT, servers).values)
        except DnsError:
            why = ""
        return Finding(name, ERROR, state,
                       f"{ip} is LISTED on {zone} ({', '.join(codes)}"
                       + (f": {why}" if why else "") + "). Receivers using the list "
                       "refuse this host's mail: find the cause, fix it, then ask the "
                       "list to delist the address")
    if state.startswith("query refused"):
        meaning = "; ".join(f"{c}: {REFUSAL_MEANINGS.get(c, 'an error code of the list')}"
                            for c in codes)
        return Finding(name, WARNING, state,
                       f"{zone} did not answer for {ip}: it refused the query ({meaning}); "
                       "whether the address is listed is unknown")
    return Finding(name, WARNING, state,
                   f"{zone} answered {', '.join(codes)} for {ip}, outside 127.0.0.0/8 "
                   "(RFC 5782 §2.1): a resolver rewriting NXDOMAIN, or a list gone astray")
