"""The one place mailops asks DNS a question.

Three kinds of server, one choice per question:

- **authoritative**: the servers of a zone's NS set, asked directly with
  recursion off (RFC 1034 §4.3.1: RD clear). A caching resolver could answer
  from a cache that predates a change, and a secondary may lag its primary
  until it has transferred the new serial (RFC 1996 NOTIFY, RFC 1034 §4.3.5);
  what every one of them serves is what receivers will see once caches expire.
  `dns wait`, the DKIM probe and `mailops check` ask these for the records
  mailops publishes.
- **system**: this machine's resolver (/etc/resolv.conf), for everything
  outside mailops's zones: an SPF ``include:`` of a mail provider, the target
  of a CNAME into another zone, PTR records, blocklists.
- ``MAILOPS_DNS_NAMESERVERS=host:port,…`` replaces NS discovery (tests, split
  horizon, a hidden primary). Such a server may be authoritative-only (the
  lab's BIND, a test Knot): it answers for its own zones and REFUSES or fails
  others, so a name outside the zones mailops publishes is then asked through
  :meth:`Dns.resolver_for` — the override first, the system resolver when the
  override cannot answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rdatatype
import dns.resolver

from .providers.base import join_txt

ENV = "MAILOPS_DNS_NAMESERVERS"
TIMEOUT = 3.0  # seconds per question; a server slower than this is "not answering"

Server = tuple[str, int]


class DnsQueryError(RuntimeError):
    """A zone's name servers could not be found; the message says what to check."""


def parse_servers(text: str) -> list[Server]:
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


def override_servers() -> list[Server]:
    """The servers of ``MAILOPS_DNS_NAMESERVERS``, or [] when it is not set."""
    return parse_servers(os.environ.get(ENV, ""))


def resolver(servers: Sequence[Server] | None = None, timeout: float = TIMEOUT
             ) -> dns.resolver.Resolver:
    """A stub resolver asking ``servers`` (or the system's, when none are given)."""
    if servers:
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
    else:
        r = dns.resolver.Resolver()
    r.timeout = r.lifetime = timeout
    return r


def nameservers_for(zone: str, override: Sequence[Server] | None = None) -> list[Server]:
    """The addresses of the zone's authoritative servers (its NS set), or the override."""
    if override:
        return list(override)
    if override_servers():
        return override_servers()
    system = resolver()
    try:
        targets = [r.target.to_text() for r in system.resolve(zone, "NS")]
    except dns.exception.DNSException as e:
        raise DnsQueryError(f"{zone}: could not find its name servers (NS lookup failed: {e}) "
                            "— check the delegation at the registrar, or set "
                            f"{ENV}=host:port,… to ask given servers") from None
    out = []
    for t in sorted(targets):
        for rdtype in ("A", "AAAA"):
            try:
                out += [(r.address, 53) for r in system.resolve(t, rdtype)]
            except dns.exception.DNSException:
                pass
    if not out:
        raise DnsQueryError(f"{zone}: none of its name servers ({', '.join(targets)}) has an "
                            "address")
    return out


def ask(server: Server, name: str, rdtype: str, timeout: float = TIMEOUT) -> list:
    """The rdatas ``server`` itself holds at ``name``/``rdtype``, asked with recursion off.

    [] when the server answers that there is no such data; DNSException or
    OSError when it does not answer.
    """
    host, port = server
    q = dns.message.make_query(name, rdtype)
    q.flags &= ~dns.flags.RD  # the server's own data, not its recursion (if any)
    r, _ = dns.query.udp_with_fallback(q, host, port=port, timeout=timeout)
    want = dns.name.from_text(name)
    code = dns.rdatatype.from_text(rdtype)
    return [rd for rrset in r.answer if rrset.name == want and rrset.rdtype == code
            for rd in rrset]


def txt_text(rdata) -> str:
    """One TXT record as one string: its character-strings concatenated (RFC 7208 §3.3,
    RFC 6376 §3.6.2.2)."""
    return join_txt(rdata.strings)


def txt_values(rdatas: Iterable) -> list[str]:
    return [txt_text(r) for r in rdatas]


def in_zones(name: str, zones: Iterable[str]) -> bool:
    name = name.rstrip(".").lower()
    return any(name == z or name.endswith("." + z) for z in zones)


class Dns:
    """Where each question of one run goes (see the module docstring).

    ``zones``: the zones mailops publishes into; a name in one of them is
    "ours" and asked from the zone's authoritative servers, any other name is
    asked through the system resolver (or the override, when it can answer).
    """

    def __init__(self, zones: Iterable[str] = (), timeout: float = TIMEOUT,
                 system: Sequence[Server] | None = None):
        self.timeout = timeout
        self._system = list(system or [])  # default: /etc/resolv.conf
        self.zones = sorted({z.rstrip(".").lower() for z in zones}, key=len, reverse=True)
        self.override = override_servers()
        self._auth: dict[str, dns.resolver.Resolver] = {}
        self._servers: dict[str, list[Server]] = {}

    @property
    def system(self) -> dns.resolver.Resolver:
        return resolver(self._system, self.timeout)

    @property
    def general(self) -> dns.resolver.Resolver:
        """The override if set (tests, split horizon), else the system resolver."""
        return resolver(self.override, self.timeout)

    def zone_of(self, name: str) -> str | None:
        name = name.rstrip(".").lower()
        return next((z for z in self.zones if name == z or name.endswith("." + z)), None)

    def servers(self, zone: str) -> list[Server]:
        """The zone's authoritative servers (cached for the run)."""
        if zone not in self._servers:
            self._servers[zone] = nameservers_for(zone, self.override)
        return self._servers[zone]

    def authoritative(self, zone: str) -> dns.resolver.Resolver:
        if self.override:
            return self.general
        if zone not in self._auth:
            try:
                self._auth[zone] = resolver(self.servers(zone), self.timeout)
            except DnsQueryError:
                self._auth[zone] = self.general
        return self._auth[zone]

    def resolver_for(self, name: str) -> dns.resolver.Resolver:
        """The resolver that can answer for ``name``: its zone's servers when it is in one
        of mailops's zones; otherwise the system resolver — or, with the override, the
        override when it answers for the name (split horizon) and the system resolver
        when it does not (an authoritative-only server refuses other zones)."""
        zone = self.zone_of(name)
        if zone is not None:
            return self.authoritative(zone)
        if not self.override:
            return self.system
        try:
            self.general.resolve(name, "SOA", search=False, raise_on_no_answer=False)
        except (dns.resolver.NoNameservers, dns.exception.Timeout):
            return self.system
        except dns.resolver.NXDOMAIN:
            pass
        return self.general

    def answers(self, name: str, rdtype: str, res: dns.resolver.Resolver | None = None
                ) -> list:
        """The rdatas, [] for NXDOMAIN / no data; DNSException for anything else."""
        res = res or self.resolver_for(name)
        try:
            return list(res.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []

    def addresses(self, name: str) -> list[str]:
        """The A and AAAA addresses of ``name``, following CNAMEs one zone at a time.

        An authoritative server answers a CNAME into another zone with the CNAME
        alone (RFC 1034 §4.3.2): the target is asked where it lives.
        """
        for _ in range(8):  # RFC 1034 §5.2.2: chains are short; loops must end
            cname = self.answers(name, "CNAME")
            if not cname:
                break
            name = cname[0].target.to_text().rstrip(".")
        return [r.address for t in ("A", "AAAA") for r in self.answers(name, t)]
