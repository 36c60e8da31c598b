"""Rules that relate several inventory values, checked when the inventory loads.

Each rule takes a host's validated settings (or every host of the inventory)
and returns problem lines in the one format of :func:`.errors.problem`. They
run in :mod:`.load` for every entry point — ``pyinfra … deploy.py``, ``mailops
dns …``, ``mailops check`` — so a bad inventory stops with the same message
before any host or DNS is touched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence

from .errors import describe, problem
from .model import DnsProvider, Domain, MailSettings

# RFC 7208 §4.6.4: at most 10 mechanisms that cause DNS lookups per evaluation.
SPF_LOOKUP_LIMIT = 10
# The local part mailops receives delivery-status notifications at (bounces+<token>@).
BOUNCE_LOCAL = "bounces"

P = "mailops"


def _domain_path(d: Domain) -> str:
    return f"{P}.domains.{d.name}"


def zone_contains_domain(s: MailSettings) -> list[str]:
    return [problem(f"{_domain_path(d)}.dns.zone", describe(d.dns.zone),
                    f"{d.name!r} or a parent zone of it")
            for d in s.domains
            if d.dns.zone != d.name and not d.name.endswith("." + d.dns.zone)]


def rfc2136_needs_a_server(s: MailSettings) -> list[str]:
    out = []
    for d in s.domains:
        if d.dns.kind != "rfc2136":
            continue
        try:
            ipaddress.ip_address(d.dns.server)
        except ValueError:
            out.append(problem(f"{_domain_path(d)}.dns.server", describe(d.dns.server),
                               "the IP address of the primary name server that accepts "
                               "RFC 2136 updates"))
    return out


def mta_sts_max_age(s: MailSettings) -> list[str]:
    from .model import MTA_STS_MAX_AGE_LIMIT

    return [problem(f"{_domain_path(d)}.mta_sts.max_age", str(d.mta_sts.max_age),
                    f"at most {MTA_STS_MAX_AGE_LIMIT} seconds (RFC 8461 §3.2)")
            for d in s.domains if d.mta_sts.max_age > MTA_STS_MAX_AGE_LIMIT]


def addresses_are_unique(s: MailSettings) -> list[str]:
    """An address is a mailbox or an alias, once — also ignoring case: Postfix folds
    table keys to lower case and Dovecot lower-cases logins (auth_username_format %Lu)."""
    out = []
    for d in s.domains:
        seen: dict[str, str] = {}
        entries = [("mailboxes", local) for local in d.mailbox_map] + \
                  [("aliases", local) for local in d.alias_map]
        for kind, local in entries:
            first = seen.setdefault(local.lower(), f"{kind}.{local}")
            if first != f"{kind}.{local}":
                what = ("an alias with the same address as a mailbox"
                        if local == first.split(".", 1)[1] else
                        f"{local!r}, which differs from {first.split('.', 1)[1]!r} only in "
                        "upper/lower case")
                out.append(problem(f"{_domain_path(d)}.{kind}.{local}", what,
                                   "each address once, as either a mailbox or an alias — "
                                   "Postfix and Dovecot match addresses case-insensitively",
                                   f"remove one of {first} and {kind}.{local}"))
    return out


def mailbox_local_part_is_a_path_name(s: MailSettings) -> list[str]:
    """The local part names the Maildir, /var/vmail/<domain>/<local part>/."""
    return [problem(f"{_domain_path(d)}.mailboxes.{local}", f"{local!r} with a '/'",
                    "a local part without '/' — it would become a path separator in "
                    "/var/vmail/<domain>/<user>",
                    "rename the mailbox (an alias with that name can still point to it)")
            for d in s.domains for local in d.mailbox_map if "/" in local]


def bounces_is_reserved(s: MailSettings) -> list[str]:
    """Mail to bounces[+token]@<domain> goes to the bounce hook (services/bounce.py)."""
    return [problem(f"{_domain_path(d)}.{kind}.{local}", f"a mailbox or alias {local!r}",
                    f"the local part {BOUNCE_LOCAL!r} to be free in every hosted domain — "
                    "mailops receives delivery-status notifications there "
                    "(bounces+<token>@domain) and would take that mail away from it",
                    "rename the mailbox or alias")
            for d in s.domains
            for kind, names in (("mailboxes", d.mailbox_map), ("aliases", d.alias_map))
            for local in names if local.lower() == BOUNCE_LOCAL]


def local_targets_exist(s: MailSettings) -> list[str]:
    """A target in a hosted domain must exist, or mail to it bounces at delivery time."""
    hosted = {d.name: d for d in s.domains}
    out = []
    for d in s.domains:
        pairs = [(f"{_domain_path(d)}.aliases", a, t) for a, ts in d.aliases for t in ts]
        if d.catch_all:
            pairs.append((f"{_domain_path(d)}.catch_all", "catch_all", d.catch_all))
        for path, address, target in pairs:
            local, dom = target.rsplit("@", 1)
            other = hosted.get(dom.lower())
            if other is None or other.catch_all:
                continue  # remote target (forwarded as is), or a domain that takes all
            known = {a.lower() for a in [m.address for m in other.mailboxes]
                     + [a for a, _ in other.aliases]}
            if target.lower() not in known:
                out.append(problem(path, f"target {target!r} of {address!r}, which is neither "
                                   f"a mailbox nor an alias of {dom}",
                                   "a hosted mailbox or alias, or an address in another domain"))
    return out


def spf_lookup_limit(s: MailSettings) -> list[str]:
    out = []
    for d in s.domains:
        # the "mx" term + each include, the includes of the relays it sends through too
        lookups = 1 + len(dict.fromkeys(
            [*d.spf.include, *(r.spf_include for r in s.relays_of(d) if r.spf_include)]))
        if lookups > SPF_LOOKUP_LIMIT:
            out.append(problem(
                f"{_domain_path(d)}.spf.include",
                f"{len(d.spf.include)} includes: the SPF record needs {lookups} DNS lookups "
                f"(mx + {lookups - 1} includes)",
                f"at most {SPF_LOOKUP_LIMIT} — receivers give up after {SPF_LOOKUP_LIMIT} and "
                "treat all mail as failing SPF (RFC 7208 §4.6.4)",
                "remove includes or replace them with ip4/ip6"))
    return out


def acme_dns_account(p: DnsProvider) -> tuple:
    """What certbot's DNS plugin needs to know about a provider (no secrets)."""
    if p.kind == "cloudflare":
        return ("cloudflare", p.token_env)
    return (p.kind, p.server, p.port, p.tsig_env)


def acme_is_possible(s: MailSettings) -> list[str]:
    """ACME: DNS-01 through ONE provider account that certbot has a plugin for."""
    tls, path = s.tls, f"{P}.tls"
    if tls.mode != "acme":
        return []
    out = []
    if not re.match(r"^https://[^/\s]+(/\S*)?$", tls.acme_server):
        out.append(problem(f"{path}.acme_server", describe(tls.acme_server),
                           "the https:// URL of an ACME directory (RFC 8555 §7.1.1)"))
    for d in s.domains:
        if d.dns.kind not in ("rfc2136", "cloudflare"):
            out.append(problem(f"{_domain_path(d)}.dns.provider", describe(d.dns.kind),
                               "rfc2136 or cloudflare when tls.mode is acme — certbot answers "
                               "the DNS-01 challenge through that provider",
                               "or use tls.mode files"))
    if len({acme_dns_account(d.dns) for d in s.domains if d.dns.kind != "manual"}) > 1:
        out.append(problem(f"{path}.mode", "'acme' with domains at different DNS providers or "
                           "credentials",
                           "every domain at the same provider (same server/port and credential "
                           "variable) — certbot validates every name with one DNS plugin",
                           "or use tls.mode files"))
    return out


def files_mode_names_files(s: MailSettings) -> list[str]:
    """tls.mode files needs both paths (that the files exist is the deploy's check)."""
    if s.tls.mode != "files":
        return []
    return [problem(f"{P}.tls.{key}", "nothing",
                    "the path of the PEM file on the machine that deploys")
            for key in ("cert_file", "key_file") if not getattr(s.tls, key)]


def relay_recipient_domains_top_level(s: MailSettings) -> list[str]:
    """Postfix picks a route by recipient (transport(5)) before it looks at the sender, so
    a recipient-domain list belongs to the host's one top-level relay."""
    return [problem(f"{_domain_path(d)}.relay.recipient_domains",
                    f"{len(d.relay.recipient_domains)} recipient domain(s) on a domain's relay",
                    "recipient_domains only on the top-level relay — mail to a recipient "
                    "domain is routed the same way whoever sends it",
                    "move the list to mailops.relay.recipient_domains")
            for d in s.domains
            if d.relay is not None and d.relay != "direct" and d.relay.recipient_domains]


def relay_credentials_are_two_variables(s: MailSettings) -> list[str]:
    relays = [(f"{P}.relay", s.relay)] + [(f"{_domain_path(d)}.relay", d.relay)
                                         for d in s.domains]
    return [problem(f"{path}.password_env", "the same variable as username_env",
                    "two environment variables: one for the user name, one for the password")
            for path, r in relays
            if r is not None and r != "direct" and r.username_env == r.password_env]


def inbound_domains_are_hosted(s: MailSettings) -> list[str]:
    """Per-domain inbound settings name a hosted domain (a typo would silently filter)."""
    hosted = {d.name for d in s.domains}
    return [problem(f"{P}.inbound.domains.{name}", "a domain this host does not serve",
                    f"one of {', '.join(sorted(hosted))}",
                    "fix the name or add the domain under `domains`")
            for name in s.inbound.domains if name.rstrip(".") not in hosted]


HOST_RULES: tuple[Callable[[MailSettings], list[str]], ...] = (
    zone_contains_domain, rfc2136_needs_a_server, mta_sts_max_age, addresses_are_unique,
    mailbox_local_part_is_a_path_name, bounces_is_reserved, local_targets_exist,
    spf_lookup_limit, acme_is_possible, files_mode_names_files,
    relay_recipient_domains_top_level, relay_credentials_are_two_variables,
    inbound_domains_are_hosted,
)


def check_host(s: MailSettings) -> list[str]:
    return [p for rule in HOST_RULES for p in rule(s)]


# --------------------------------------------------------------------------- across hosts


def _dns_view(d: Domain) -> tuple:
    return (d.dns, d.spf, d.dmarc, d.mta_sts, d.tlsrpt_rua)


def one_description_per_domain(hosts: Sequence[tuple[str, MailSettings]]) -> list[str]:
    """A domain served by several hosts has one set of DNS records."""
    first: dict[str, tuple[str, Domain]] = {}
    out = []
    for name, s in hosts:
        for d in s.domains:
            seen = first.setdefault(d.name, (name, d))
            if seen[0] != name and _dns_view(seen[1]) != _dns_view(d):
                out.append(problem(f"host {name}: {_domain_path(d)}",
                                   f"dns, spf, dmarc, mta_sts or tlsrpt settings that differ "
                                   f"from host {seen[0]}'s",
                                   "one description of the domain's DNS — one domain has one "
                                   "set of records", "make those settings identical"))
    return out


INVENTORY_RULES = (one_description_per_domain,)


def check_inventory(hosts: Sequence[tuple[str, MailSettings]]) -> list[str]:
    return [p for rule in INVENTORY_RULES for p in rule(hosts)]
