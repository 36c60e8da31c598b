"""The DNS records a mail host needs, computed from the settings: one pure function.

:func:`records_for` (one host) and :func:`records_for_hosts` (every host of an
inventory) turn validated settings plus the DKIM keys to publish (handed in as
data, ``mailops.dkim.plan.published_keys``: this layer never reads the keystore)
into a list of :class:`Record`, each carrying a one-line reason. The same list
feeds the plan, the apply, the printed zone fragment and `mailops check`, so
they can never disagree.

Values are kept in one canonical text form, independent of any provider:
names are lower-case without the trailing dot, MX is ``"<pref> <host>"``, TXT
is the whole logical string (RFC 7208 §3.3 / RFC 6376 §3.6.2.2: receivers
concatenate the character-strings). Splitting TXT into 255-byte
character-strings happens only at the provider boundary.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..inventory import Domain, MailSettings
from . import mta_sts

REQUIRED = "required"
RECOMMENDED = "recommended"

# RFC 7208 §4.6.4: at most 10 mechanisms that cause DNS lookups per evaluation.
SPF_LOOKUP_LIMIT = 10


class RecordError(ValueError):
    """The settings cannot be turned into valid DNS records (message says why and what to do)."""


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True, order=True)
class RecordKey:
    """What mailops owns at a name: a type, and optionally only part of the RRset.

    ``match`` is a version tag such as ``v=spf1``: at a name shared with other
    TXT records (the apex holds site-verification tokens and the like) mailops
    owns only the values that start with that tag. ``""`` means the whole
    RRset is mailops's (MX, DKIM selectors, A/AAAA of the mail host).
    """

    name: str
    type: str
    match: str = ""

    def owns(self, value: str) -> bool:
        return not self.match or has_version_tag(value, self.match)

    def __str__(self) -> str:
        return f"{self.name} {self.type}" + (f" [{self.match}]" if self.match else "")


@dataclass(frozen=True)
class Record:
    name: str  # FQDN, lower case, no trailing dot
    type: str  # A, AAAA, CNAME, MX, TXT
    ttl: int
    values: tuple[str, ...]  # canonical text, sorted; TXT = whole string, never pre-split
    reason: str  # one line: why this record exists, citing the RFC
    level: str  # REQUIRED or RECOMMENDED
    zone: str  # the zone the record is published in
    domain: str  # the hosted domain whose `dns` settings (provider) publish it
    match: str = ""  # ownership: see RecordKey

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.name, self.type, self.match)


def has_version_tag(value: str, tag: str) -> bool:
    """True if a TXT value starts with a version tag such as ``v=spf1``.

    RFC 7208 §4.5: the version section is exactly "v=spf1" terminated by a
    space or the end ("v=spf10" is not SPF). DMARC, MTA-STS and TLS-RPT tags
    end with ";" (RFC 7489 §6.4, RFC 8461 §3.1, RFC 8460 §3). ABNF literals are
    case-insensitive (RFC 5234 §2.3).
    """
    head = value[: len(tag)]
    rest = value[len(tag):]
    return head.lower() == tag.lower() and (rest == "" or rest[0] in " ;\t")


def canonical(rdtype: str, value: str) -> str:
    """One text form per value so the live zone and the desired records compare equal."""
    value = value.strip()
    if rdtype == "A" or rdtype == "AAAA":
        return str(ipaddress.ip_address(value))
    if rdtype == "CNAME":
        return value.rstrip(".").lower()
    if rdtype == "MX":
        pref, _, host = value.partition(" ")
        return f"{int(pref)} {host.strip().rstrip('.').lower()}"
    return value


# --------------------------------------------------------------------------- helpers


def _zone_of(name: str, zones: Sequence[str]) -> str | None:
    """The longest managed zone containing name (RFC 1034 §4.2: zones nest)."""
    best = None
    for z in zones:
        if (name == z or name.endswith("." + z)) and (best is None or len(z) > len(best)):
            best = z
    return best


def _mailto(address: str) -> str:
    # RFC 7489 §6.2: "!" introduces a size limit and "," separates URIs, so they
    # (and "%" itself) must be percent-encoded inside a report URI.
    local, domain = address.split("@")
    local = local.replace("%", "%25").replace("!", "%21").replace(",", "%2C")
    return f"mailto:{local}@{domain}"


def spf_value(d: Domain) -> str:
    """``v=spf1 mx [ip4:…] [ip6:…] [include:…] <all>`` (RFC 7208 §5).

    Merge rules: the MX hosts are always authorised; configured ip4, ip6 and
    include terms follow in that order, duplicates dropped, first-seen order
    kept; the ``all`` qualifier comes last because terms after it are never
    evaluated (RFC 7208 §5.1).
    """
    terms = ["mx"]
    terms += [f"ip4:{n}" for n in d.spf.ip4]
    terms += [f"ip6:{n}" for n in d.spf.ip6]
    terms += [f"include:{n}" for n in d.spf.include]
    seen: list[str] = []
    for t in terms:
        if t not in seen:
            seen.append(t)
    lookups = sum(1 for t in seen if t == "mx" or t.startswith("include:"))
    if lookups > SPF_LOOKUP_LIMIT:
        raise RecordError(
            f"{d.name}: the SPF record needs {lookups} DNS lookups (mx + {lookups - 1} includes); "
            f"receivers give up after {SPF_LOOKUP_LIMIT} and treat all mail as failing SPF "
            "(RFC 7208 §4.6.4) — remove includes from spf.include or replace them with ip4/ip6"
        )
    return "v=spf1 " + " ".join(seen + [d.spf.all])


def dmarc_value(d: Domain) -> str:
    """``v=DMARC1; p=…`` with v and p first, as RFC 7489 §6.3 / §6.4 require."""
    m = d.dmarc
    tags = ["v=DMARC1", f"p={m.policy}"]
    if m.subdomain_policy:
        tags.append(f"sp={m.subdomain_policy}")
    if m.rua:
        tags.append("rua=" + ",".join(_mailto(a) for a in m.rua))
    if m.ruf:
        tags.append("ruf=" + ",".join(_mailto(a) for a in m.ruf))
    tags += [f"adkim={m.adkim}", f"aspf={m.aspf}", f"pct={m.pct}"]
    return "; ".join(tags)


def tlsrpt_value(d: Domain) -> str:
    """``v=TLSRPTv1; rua=mailto:…`` (RFC 8460 §3; several URIs comma-separated)."""
    return "v=TLSRPTv1; rua=" + ",".join(_mailto(a) for a in d.tlsrpt_rua)


def mta_sts_policy(settings_or_hosts: MailSettings | Sequence[MailSettings], domain: str) -> str:
    """The MTA-STS policy text for a domain: its mode and max_age, every MX host of it."""
    hosts = ([settings_or_hosts] if isinstance(settings_or_hosts, MailSettings)
             else list(settings_or_hosts))
    serving = [h for h in hosts if any(d.name == domain for d in h.domains)]
    if not serving:
        raise KeyError(domain)
    d = serving[0].domain(domain)
    return mta_sts.policy_text(d.mta_sts.mode, [h.hostname for h in serving], d.mta_sts.max_age)


def _dns_view(d: Domain) -> tuple:
    return (d.dns, d.spf, d.dmarc, d.mta_sts, d.tlsrpt_rua)


# --------------------------------------------------------------------------- the function

DkimKeys = Mapping[str, Sequence[tuple[str, str]]]


def records_for(settings: MailSettings, dkim: DkimKeys) -> list[Record]:
    """Every DNS record one mail host needs, each with its reason. Pure: no I/O.

    ``dkim`` maps a hosted domain to the (selector, TXT value) pairs that must
    be published now (new keys before they sign, old ones during their grace).
    """
    return records_for_hosts([settings], dkim)


def records_for_hosts(hosts: Sequence[MailSettings], dkim: DkimKeys) -> list[Record]:
    """Like :func:`records_for` for several hosts serving (some of) the same domains.

    Each host serving a domain becomes one MX of equal preference and one
    ``mx:`` line of its MTA-STS policy.
    """
    domains: dict[str, Domain] = {}
    serving: dict[str, list[MailSettings]] = {}
    for h in hosts:
        for d in h.domains:
            if d.name in domains and _dns_view(domains[d.name]) != _dns_view(d):
                raise RecordError(
                    f"{d.name}: hosts {serving[d.name][0].hostname} and {h.hostname} describe "
                    "its DNS (dns, spf, dmarc, mta_sts, tlsrpt) differently; one domain has one "
                    "set of records — make those settings identical in the inventory"
                )
            domains.setdefault(d.name, d)
            serving.setdefault(d.name, []).append(h)
    zones = sorted({d.dns.zone for d in domains.values()})

    out: dict[RecordKey, Record] = {}

    def add(name, rdtype, values, reason, level, domain, match=""):
        d = domains[domain]
        zone = _zone_of(name, [d.dns.zone]) or d.dns.zone
        rec = Record(name=name, type=rdtype, ttl=d.dns.ttl,
                     values=tuple(sorted({canonical(rdtype, v) for v in values})),
                     reason=reason, level=level, zone=zone, domain=domain, match=match)
        if rec.key in out and out[rec.key].values != rec.values:
            raise RecordError(f"{name} {rdtype}: two different values are wanted "
                              f"({out[rec.key].values} and {rec.values})")
        out.setdefault(rec.key, rec)

    # The mail host names: A/AAAA only where mailops manages the zone and knows
    # the addresses (RFC 5321 §5.1: the MX target must resolve to an address).
    for h in hosts:
        zone = _zone_of(h.hostname, zones)
        if zone is None:
            continue
        owner = next((n for n in sorted(domains) if domains[n].dns.zone == zone), None)
        for rdtype, addrs, fam in (("A", h.ipv4, "IPv4"), ("AAAA", h.ipv6, "IPv6")):
            if addrs:
                add(h.hostname, rdtype, addrs,
                    f"{h.hostname} is an MX target; senders connect to its {fam} address "
                    "(RFC 5321 §5.1)", REQUIRED, owner)

    for name in sorted(domains):
        d = domains[name]
        mx_hosts = sorted({h.hostname for h in serving[name]})
        add(name, "MX", [f"10 {m}" for m in mx_hosts],
            f"receivers deliver mail for {name} to {', '.join(mx_hosts)} (RFC 5321 §5.1)",
            REQUIRED, name)
        extra = " and listed senders" if d.spf.include or d.spf.ip4 or d.spf.ip6 else ""
        add(name, "TXT", [spf_value(d)],
            f"SPF: only the MX hosts{extra} may send as {name}; others {_ALL[d.spf.all]} "
            "(RFC 7208 §5)",
            REQUIRED, name, match="v=spf1")
        for selector, txt in sorted(dkim.get(name, ())):
            add(f"{selector}._domainkey.{name}", "TXT", [txt],
                f"DKIM public key of selector {selector}; receivers verify {name}'s "
                "signatures with it (RFC 6376 §3.6.2.1)", REQUIRED, name)
        add(f"_dmarc.{name}", "TXT", [dmarc_value(d)],
            f"DMARC: receivers {_POLICY[d.dmarc.policy]} mail from {name} that fails SPF and DKIM "
            "alignment, and send reports (RFC 7489 §6.3)", REQUIRED, name, match="v=DMARC1")
        # RFC 7489 §7.1: a report address in another domain only receives reports
        # if that domain says so; when it is hosted here too, say so for it.
        for addr in sorted(set(d.dmarc.rua) | set(d.dmarc.ruf)):
            dest = addr.split("@")[1].lower()
            if dest != name and dest in domains:
                add(f"{name}._report._dmarc.{dest}", "TXT", ["v=DMARC1"],
                    f"{dest} agrees to receive DMARC reports about {name} (RFC 7489 §7.1)",
                    RECOMMENDED, dest, match="v=DMARC1")
        if d.mta_sts.mode != "none":
            policy = mta_sts.policy_text(d.mta_sts.mode, mx_hosts, d.mta_sts.max_age)
            add(f"_mta-sts.{name}", "TXT", [mta_sts.sts_txt(policy)],
                f"MTA-STS ({d.mta_sts.mode}): senders must use TLS to the MX; the id changes "
                "whenever the policy does (RFC 8461 §3.1)", RECOMMENDED, name, match="v=STSv1")
            # A CNAME to the (first) mail host rather than copies of its A/AAAA:
            # that host serves the policy over HTTPS, its addresses may be unknown
            # or outside mailops's zones, and a CNAME follows it when they change.
            # RFC 8461 §3.3 only requires the name to resolve to the HTTPS server.
            add(f"mta-sts.{name}", "CNAME", [mx_hosts[0]],
                f"the web server for https://mta-sts.{name}/.well-known/mta-sts.txt is "
                f"{mx_hosts[0]} (RFC 8461 §3.3)", RECOMMENDED, name)
        if d.tlsrpt_rua:
            add(f"_smtp._tls.{name}", "TXT", [tlsrpt_value(d)],
                f"TLS-RPT: where senders report failed TLS deliveries to {name} (RFC 8460 §3)",
                RECOMMENDED, name, match="v=TLSRPTv1")
    return sorted(out.values(), key=lambda r: (r.zone, _sort_name(r.name), r.type))


_ALL = {"-all": "fail", "~all": "soft-fail", "?all": "are neutral"}
_POLICY = {"reject": "reject", "quarantine": "quarantine", "none": "only report on"}


def _sort_name(name: str) -> tuple[str, ...]:
    return tuple(reversed(name.split(".")))


def fixed_keys(d: Domain) -> list[RecordKey]:
    """Keys mailops owns for a domain even when it currently wants no record there.

    Their names exist only for the mail function mailops runs (RFC 7489 §6.1,
    RFC 8461 §3.1/§3.3, RFC 8460 §3), so when the inventory turns one off
    (e.g. mta_sts.mode: none) the leftover record is mailops's to delete.
    """
    n = d.name
    return [
        RecordKey(n, "MX"),
        RecordKey(n, "TXT", "v=spf1"),
        RecordKey(f"_dmarc.{n}", "TXT", "v=DMARC1"),
        RecordKey(f"_mta-sts.{n}", "TXT", "v=STSv1"),
        RecordKey(f"mta-sts.{n}", "CNAME"),
        RecordKey(f"_smtp._tls.{n}", "TXT", "v=TLSRPTv1"),
    ]
