"""`mailops check`: is the mail system, as the world sees it, what the inventory says?

First the records: exactly the list `mailops dns plan` publishes
(``records_for_hosts`` with the keystore's published DKIM keys), each compared
with what every authoritative server of its zone serves (checks.records). Then
what needs more than DNS: the DKIM signing probe (checks.signing), the MTA-STS
policy over HTTPS, the certificates on the mail ports and the open-relay probe
(checks.tls), reverse DNS and blocklists (checks.reputation), and each relay
(smarthost) the hosts send through (checks.relay). One finding per
check, rendered by checks.report.

DNS questions all go through ``mailops.dns.query.Dns``: names in mailops's zones
to their authoritative servers (or ``MAILOPS_DNS_NAMESERVERS``), other names
(SPF includes, CNAMEs into other zones, PTR, blocklists) through the system
resolver when the override cannot answer them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..dkim.plan import published_keys
from ..dns.query import Dns
from ..dns.records import records_for_hosts
from ..inventory import InventoryHost as MailHost
from ..inventory import domains_of
from .health import check_host_health
from .records import check_records
from .relay import check_relay_spf, check_relays
from .report import FAIL, Finding, guard, render
from .reputation import check_blocklists, check_fcrdns
from .signing import check_dkim_signing
from .tls import check_certificates, check_mta_sts, check_relay

__all__ = ["FAIL", "Context", "render", "run_checks"]


@dataclass
class Context:
    inventory: str
    hosts: list[MailHost]
    dns: Dns
    relay_rcpt: str
    now: dt.datetime
    probe: Callable | None  # mailops.dkim.probe.probe_signing, or None: not probed


DOMAIN_CHECKS = (check_dkim_signing, check_mta_sts, check_relay_spf)
HOST_CHECKS = (check_fcrdns, check_certificates, check_relay, check_blocklists, check_relays,
               check_host_health)


def dkim_probe() -> Callable:
    from ..dkim.probe import probe_signing

    return probe_signing


def run_checks(inventory: str, hosts: list[MailHost], only: Sequence[str] = (),
               relay_rcpt: str = "", now: dt.datetime | None = None,
               probe: Callable | None | bool = True) -> list[Finding]:
    """Every finding for the inventory's domains (or only those named) and their hosts.

    Raises RecordError (from the records computation) before anything is asked.
    """
    settings = [h.settings for h in hosts]
    records = records_for_hosts(settings, published_keys(settings))
    ctx = Context(inventory=inventory, hosts=hosts, dns=Dns({r.zone for r in records}),
                  relay_rcpt=relay_rcpt or "mailops-relay-probe@gmail.com",
                  now=now or dt.datetime.now(dt.UTC),
                  probe=dkim_probe() if probe is True else (probe or None))
    serving = domains_of(hosts)
    selected = [h for h in hosts
                if not only or {d.name for d in h.settings.domains} & set(only)]
    hostnames = [h.settings.hostname for h in selected]
    ips = {d: [ip for h in hs for ip in (*h.settings.ipv4, *h.settings.ipv6)]
           for d, hs in serving.items()}
    wanted = [r for r in records if not only or r.domain in only or r.name in hostnames]

    out = check_records(ctx.dns, wanted, hostnames, inventory, ips)
    for domain, hs in sorted(serving.items()):
        if only and domain not in only:
            continue
        for fn in DOMAIN_CHECKS:
            name = fn.__name__.removeprefix("check_").upper().replace("_", "-")
            out += guard(domain, name, lambda fn=fn, d=domain, s=hs: fn(ctx, d, s))
    for h in selected:
        for fn in HOST_CHECKS:
            out += guard(h.settings.hostname, fn.__name__, lambda fn=fn, h=h: fn(ctx, h))
    return _ordered(out)


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Domains first (sorted), then hosts, each subject's findings together."""
    order = sorted(dict.fromkeys(f.subject for f in findings),
                   key=lambda s: (s.startswith("host "), s))
    rank = {s: i for i, s in enumerate(order)}
    return sorted(findings, key=lambda f: rank[f.subject])
