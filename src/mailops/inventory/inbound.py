"""The inventory's ``inbound`` and ``resolver`` keys: what port 25 lets in, and the DNS
the host asks.

Every default is beside its field (DESIGN.md convention 7). ``inventories/prod.py``
shows them in use; the README's "Inbound filtering" section says where to tune what.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, PlainValidator, model_validator

from .base import InventoryModel
from .types import IP, DnsName, Duration, List, fail

# postscreen(8) DNSBL site syntax (postconf(5) postscreen_dnsbl_sites):
#   domain=filter*weight — filter is a d.d.d.d pattern whose octets are a number,
#   [n..m] or [n;m;...]; weight an integer (negative for allow lists).
_OCTET = r"(\d{1,3}|\[\d{1,3}(\.\.\d{1,3}|(;\d{1,3})*)\])"
_SITE = re.compile(rf"^(?P<zone>[a-z0-9_.-]+)=(?P<filter>{_OCTET}(\.{_OCTET}){{3}})"
                   rf"(\*(?P<weight>-?\d+))?$")


def _dnsbl_site(value: Any) -> str:
    """One postscreen DNSBL site WITH its return-code filter.

    A bare zone would count ANY answer as "listed" — including the error codes some
    lists return when refusing a query (Spamhaus answers 127.255.255.254 to queries
    through public resolvers, https://docs.spamhaus.com/datasets/docs/source/
    40-real-world-usage/PublicMirrors/MTAs/020-Postfix.html): that would refuse all mail.
    """
    text = str(value).strip().lower()
    m = _SITE.match(text)
    if not m or not _dns_ok(m.group("zone")):
        raise fail("a DNSBL site with its exact return codes, zone=filter*weight, e.g. "
                   "'zen.spamhaus.org=127.0.0.[2..11]*3' (a bare zone would count a "
                   "list's refusal answers, such as 127.255.255.254, as listings)",
                   "add '=<return codes>' (the list's documentation names them) and a "
                   "weight", found="a DNSBL entry")
    return text


def _dns_ok(zone: str) -> bool:
    labels = zone.rstrip(".").split(".")
    return len(labels) >= 2 and all(re.match(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", p) for p in labels)


DnsblSite = Annotated[str, PlainValidator(_dnsbl_site)]


_Model = InventoryModel


class SpamThresholds(_Model):
    """rspamd action thresholds (https://rspamd.com/doc/configuration/metrics.html):
    a message scoring at least ``reject`` is refused (554 5.7.1), at least ``junk`` is
    delivered to the Junk folder, at least ``greylist`` is deferred once (when
    greylisting is on). Symbol scores are rspamd's own."""

    reject: Annotated[float, Field(gt=0, le=1000)] = 15
    junk: Annotated[float, Field(gt=0, le=1000)] = 6
    greylist: Annotated[float, Field(gt=0, le=1000)] = 4

    @model_validator(mode="after")
    def _ordered(self) -> SpamThresholds:
        if not self.greylist <= self.junk < self.reject:
            raise fail("greylist <= junk < reject (rspamd applies the highest threshold "
                       "reached)", "reorder the three numbers",
                       found=f"greylist={self.greylist:g}, junk={self.junk:g}, "
                             f"reject={self.reject:g} in")
        return self


class DomainInbound(_Model):
    """``inbound.domains.<domain>``: where one hosted domain differs from the host.

    A forwarding domain that must accept everything sets ``filter: false`` (no spam
    scoring, no DMARC refusal, no greylisting for mail to it; SPF/DKIM/DMARC results
    are still recorded in Authentication-Results).
    """

    filter: bool = True
    greylisting: bool | None = None  # None: the host's setting
    dmarc_enforce: bool | None = None


class Inbound(_Model):
    """``inbound``: what mail from the internet (port 25) must pass."""

    # postscreen DNSBL sites with exact return codes, default none (mind each list's
    # terms: Spamhaus is free only for low-volume, non-commercial use and only through
    # your own resolver — https://www.spamhaus.org/blocklists/dnsbl-fair-use-policy/).
    dnsbl: Annotated[tuple[DnsblSite, ...], List] = ()
    # postscreen_dnsbl_threshold: the summed weight at which a client is refused.
    dnsbl_threshold: Annotated[int, Field(ge=1, le=100)] = 3
    # Clients postscreen and greylisting always let through (relays, backup MX,
    # partners); the host's own addresses and mynetworks are always allowed.
    allow: Annotated[tuple[IP, ...], List] = ()
    spam: SpamThresholds = SpamThresholds()
    greylisting: bool = True
    # How long a greylisted sender must wait before its retry is accepted (rspamd
    # greylist `timeout`; 5 min is the usual value, RFC 5321 §4.5.4.1 retries later).
    greylist_delay: Duration = 300
    # DMARC (RFC 7489 §6.6.4): refuse p=reject failures, Junk p=quarantine failures.
    dmarc_enforce: bool = True
    domains: Annotated[dict[DnsName, DomainInbound], Field(default_factory=dict)]

    def for_domain(self, name: str) -> DomainInbound:
        d = self.domains.get(name, DomainInbound())
        return DomainInbound(
            filter=d.filter,
            greylisting=self.greylisting if d.greylisting is None else d.greylisting,
            dmarc_enforce=self.dmarc_enforce if d.dmarc_enforce is None else d.dmarc_enforce)


class Resolver(_Model):
    """``resolver``: the host's own validating DNS resolver (unbound on 127.0.0.1).

    With no forwarders (default) it resolves from the root servers itself, as a mail
    host should: DNSBLs refuse queries from shared resolvers, and DANE needs DNSSEC
    answers the host validated itself. Forwarders (e.g. a split-horizon DNS) are asked
    instead; their answers are still validated.
    """

    forwarders: Annotated[tuple[IP, ...], List] = ()
    # Zones whose answers are NOT DNSSEC-validated (unbound domain-insecure), e.g. an
    # internal zone without signatures behind the forwarders. Default none.
    insecure: Annotated[tuple[DnsName, ...], List] = ()
