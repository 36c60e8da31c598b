"""Typed, validated settings: the one door between an inventory and everything else.

An inventory host carries a ``mailops`` dict in its host data (see
``inventories/prod.py``). :func:`parse_mail_settings` turns that dict into frozen
dataclasses or raises :class:`SettingsError` listing *every* problem found, each
naming the key, what was found and what was expected — before anything on a
host or in DNS is touched.

Every default lives in this file, next to the field it applies to (DESIGN.md
convention 7). Unknown keys are errors: a typo must never be silently ignored.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- errors


class SettingsError(ValueError):
    """One or more inventory values are wrong. ``problems`` holds one line each."""

    def __init__(self, problems: list[str], source: str = "inventory"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{source}: {len(problems)} problem(s) found; nothing was changed on any host "
            f"or in DNS.\n{lines}\nFix the inventory and run the command again."
        )


class _Collector:
    """Gathers problems so the operator sees all of them in one run, not one per run."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, found: str, expected: str, todo: str = "") -> None:
        msg = f"{path}: found {found}; expected {expected}"
        if todo:
            msg += f" — {todo}"
        self.problems.append(msg)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return repr(shown)
    return f"{type(value).__name__} {value!r}"[:80]


def _check_keys(c: _Collector, path: str, data: dict, allowed: set[str]) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            c.add(
                f"{path}.{key}",
                "an unknown key",
                f"one of {', '.join(sorted(allowed))}",
                hint,
            )


# --------------------------------------------------------------------------- value checks

# RFC 1035 §2.3.1 / RFC 1123 §2.1: letters, digits, hyphens; labels 1-63, name <= 253.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names that are not host names (SPF include targets like _spf.google.com, RFC 7208
# §7.1; DNS zones) may carry underscore labels (RFC 2181 §11).
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
# RFC 5321 §4.1.2 dot-atom local part (we do not accept quoted local parts in config).
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# Dovecot password schemes (doveadm pw -l) or a bare crypt(3) / PHC string.
_HASH = re.compile(
    r"^(\{(ARGON2ID|ARGON2I|BLF-CRYPT|SHA512-CRYPT|SHA256-CRYPT|CRYPT|SSHA512|SSHA256|PBKDF2)\}.+"
    r"|\$(argon2id|argon2i|2[abxy]|6|5)\$.+)$"
)
_SIZE = re.compile(r"^(\d+)\s*([KMGT]?)B?$", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_domain(value: Any) -> bool:
    if not isinstance(value, str) or not value or len(value) > 253 or value != value.lower():
        return False
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


def is_dns_name(value: Any) -> bool:
    if not isinstance(value, str) or not value or len(value) > 253 or value != value.lower():
        return False
    labels = value.rstrip(".").split(".")
    return len(labels) >= 2 and all(_DNS_LABEL.match(label) for label in labels)


def is_address(value: Any) -> bool:
    if not isinstance(value, str) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(_LOCAL.match(local)) and len(local) <= 64 and is_domain(domain.lower())


def is_password_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(_HASH.match(value))


def _domain(c: _Collector, path: str, value: Any) -> str:
    if not is_domain(value):
        c.add(path, _describe(value), "a lower-case domain name such as 'example.com'")
        return "invalid.invalid"
    return value.rstrip(".")


def _dns_name(c: _Collector, path: str, value: Any) -> str:
    if not is_dns_name(value):
        c.add(path, _describe(value), "a lower-case DNS name such as '_spf.example.com'")
        return "invalid.invalid"
    return value.rstrip(".")


def _address(c: _Collector, path: str, value: Any) -> str:
    if not is_address(value):
        c.add(path, _describe(value), "an e-mail address such as 'alice@example.com'")
        return "invalid@invalid.invalid"
    return value


def _size(c: _Collector, path: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = _SIZE.match(value) if isinstance(value, str) else None
    if not m:
        c.add(path, _describe(value), "a size such as 52428800, '50M' or '2G'")
        return None
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def _duration(c: _Collector, path: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        c.add(path, _describe(value), "a duration in seconds or like '5d', '12h', '1w'")
        return 0
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(c: _Collector, path: str, value: Any) -> str:
    """The NAME of an environment variable holding a secret — never the secret itself."""
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        # Not echoed: an operator may have pasted the secret here by mistake.
        c.add(path, "a value that is not an environment variable name (not shown)",
              "the name of the variable holding the credential, e.g. 'MAILOPS_TSIG'",
              "put the secret in that environment variable, not in the inventory")
        return "INVALID"
    return value


def _networks_any(c: _Collector, path: str, value: Any) -> tuple[str, ...]:
    """Postfix mynetworks entries: IPv4 or [IPv6] networks. They are trusted to relay."""
    out = []
    for i, item in enumerate(_list(c, path, value)):
        try:
            ipaddress.ip_network(str(item).replace("[", "").replace("]", ""), strict=False)
            out.append(str(item))
        except ValueError:
            c.add(f"{path}[{i}]", _describe(item),
                  "a network such as '127.0.0.0/8' or '[::1]/128' (hosts here may relay)")
    return tuple(out)


def _choice(c: _Collector, path: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        c.add(path, _describe(value), f"one of {', '.join(choices)}")
        return choices[0]
    return value


def _int(c: _Collector, path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        c.add(path, _describe(value), f"a whole number from {low} to {high}")
        return low
    return value


def _list(c: _Collector, path: str, value: Any) -> list:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        c.add(path, _describe(value), "a list")
        return []
    return list(value)


def _dict(c: _Collector, path: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        c.add(path, _describe(value), "a mapping (dict)")
        return {}
    return value


def _ips(c: _Collector, path: str, value: Any, version: int | None) -> tuple[str, ...]:
    """IP addresses of one version, or of either when version is None."""
    out = []
    for i, item in enumerate(_list(c, path, value)):
        try:
            ip = ipaddress.ip_address(item)
            if version and ip.version != version:
                raise ValueError
            out.append(str(ip))
        except ValueError:
            kind = f"an IPv{version} address" if version else "an IP address"
            c.add(f"{path}[{i}]", _describe(item), kind)
    return tuple(out)


def _networks(c: _Collector, path: str, value: Any, version: int) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(_list(c, path, value)):
        try:
            net = ipaddress.ip_network(item, strict=False)
            if net.version != version:
                raise ValueError
            out.append(str(net) if net.num_addresses > 1 else str(net.network_address))
        except (ValueError, TypeError):
            c.add(f"{path}[{i}]", _describe(item), f"an IPv{version} address or network")
    return tuple(out)


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Mailbox:
    address: str
    password_hash: str = field(repr=False)  # a hash, but still never printed
    quota: int | None  # bytes; None = the host default (see MailSettings.default_quota)


@dataclass(frozen=True)
class DnsProvider:
    # "rfc2136": dynamic update with TSIG (RFC 2136, RFC 8945), e.g. BIND, Knot, PowerDNS.
    # "cloudflare": the Cloudflare v4 API through the official SDK.
    # "manual": no API; `mailops dns zone` prints a zone fragment to paste.
    kind: str = "manual"
    zone: str = ""  # the zone the records live in; default: the domain itself
    server: str = ""  # rfc2136: primary server address to send updates to
    port: int = 53
    # Environment variable names holding credentials — never the secrets themselves.
    tsig_env: str = "MAILOPS_TSIG"  # rfc2136: "<name>:<algorithm>:<base64 secret>"
    token_env: str = "CLOUDFLARE_API_TOKEN"  # cloudflare
    ttl: int = 300


@dataclass(frozen=True)
class Spf:
    # RFC 7208 §5: mechanisms. Defaults authorise the MX hosts only, and hard-fail
    # everything else (-all), which is what a dedicated mail host wants.
    include: tuple[str, ...] = ()
    ip4: tuple[str, ...] = ()
    ip6: tuple[str, ...] = ()
    all: str = "-all"


@dataclass(frozen=True)
class Dmarc:
    # RFC 7489 §6.3 tags. Strict defaults: reject, strict alignment for both.
    policy: str = "reject"
    subdomain_policy: str = ""  # sp=; empty = same as policy
    rua: tuple[str, ...] = ()  # aggregate report addresses; default postmaster@domain
    ruf: tuple[str, ...] = ()
    adkim: str = "s"
    aspf: str = "s"
    pct: int = 100


@dataclass(frozen=True)
class MtaSts:
    # RFC 8461 §3.2: policy mode and max_age (seconds; 1 week default, 1 year max).
    mode: str = "testing"
    max_age: int = 604800


@dataclass(frozen=True)
class Domain:
    name: str
    dns: DnsProvider
    mailboxes: tuple[Mailbox, ...] = ()
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (address, targets)
    catch_all: str | None = None
    spf: Spf = Spf()
    dmarc: Dmarc = Dmarc()
    mta_sts: MtaSts = MtaSts()
    tlsrpt_rua: tuple[str, ...] = ()  # RFC 8460 §3; default mailto:postmaster@domain
    dkim_algorithm: str = "rsa-2048"


@dataclass(frozen=True)
class Tls:
    # "files": operator-provided certificate and key (paths on the operator's
    #          machine; uploaded to the host, key 0600).
    # "self-signed": the deploy makes a self-signed certificate on the host
    #          (lab and first boot only; receivers will not trust it for MTA-STS).
    # "acme": Debian's certbot on the host obtains and renews one certificate for the
    #          host name and every mta-sts.<domain> (RFC 8461 §3.3) with DNS-01
    #          (RFC 8555 §8.4) through the domains' DNS provider (rfc2136 or
    #          cloudflare); no port 80. See tasks/tls.py.
    mode: str = "self-signed"
    cert_file: str = ""
    key_file: str = ""
    # acme: the ACME directory URL (default: Let's Encrypt production).
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    # acme: account contact; empty = register without an e-mail address.
    acme_email: str = ""
    # acme: a PEM file on this machine the host must trust to reach acme_server (a test
    # CA such as Pebble); installed into the host's trust store. Empty = none needed.
    acme_ca_bundle: str = ""
    # acme: how long certbot waits after publishing the _acme-challenge TXT before the
    # CA looks (secondaries must have it: RFC 1996 NOTIFY + transfer). 60 s is the
    # rfc2136 plugin's own default; a lone primary (the lab) needs only a second or two.
    acme_propagation_seconds: int = 60


@dataclass(frozen=True)
class MailSettings:
    hostname: str  # the mail host's FQDN: HELO name, MX target, certificate name
    domains: tuple[Domain, ...]
    ipv4: tuple[str, ...] = ()  # public addresses, for A/AAAA records and SPF
    ipv6: tuple[str, ...] = ()
    tls: Tls = Tls()
    keystore: Path = Path("~/.local/share/mailops/keystore")
    message_size_limit: int = 50 * 1024**2  # Postfix message_size_limit, bytes
    default_quota: int | None = 2 * 1024**3  # per mailbox unless it sets its own
    maximal_queue_lifetime: int = 5 * 86400  # Postfix default 5d; DKIM grace builds on it
    # Postfix anvil(8) limits per client, per minute; generous for people, tight for bots.
    client_message_rate_limit: int = 120
    client_recipient_rate_limit: int = 600
    mynetworks: tuple[str, ...] = ("127.0.0.0/8", "[::1]/128")
    # DNS resolvers OpenDKIM asks for keys. Empty (default): its built-in libunbound
    # resolves from the root itself and validates DNSSEC. Set it when the host must use
    # a given resolver (a split-horizon or lab DNS, a local validating resolver).
    resolvers: tuple[str, ...] = ()
    # DNS blocklist zones `mailops check` looks the host's addresses up in (e.g.
    # "zen.spamhaus.org"; mind their terms of use). Empty (default): no lookups.
    blocklists: tuple[str, ...] = ()

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(m for d in self.domains for m in d.mailboxes)


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = {
    "hostname",
    "ipv4",
    "ipv6",
    "domains",
    "tls",
    "keystore",
    "message_size_limit",
    "default_quota",
    "maximal_queue_lifetime",
    "client_message_rate_limit",
    "client_recipient_rate_limit",
    "mynetworks",
    "resolvers",
    "blocklists",
}
_DOMAIN_KEYS = {"dns", "mailboxes", "aliases", "catch_all", "spf", "dmarc", "mta_sts", "tlsrpt",
                "dkim"}
_MAILBOX_KEYS = {"password_hash", "quota"}
_DNS_KEYS = {"provider", "zone", "server", "port", "tsig_env", "token_env", "ttl"}
_SPF_KEYS = {"include", "ip4", "ip6", "all"}
_DMARC_KEYS = {"policy", "subdomain_policy", "rua", "ruf", "adkim", "aspf", "pct"}
_MTA_STS_KEYS = {"mode", "max_age"}
_TLSRPT_KEYS = {"rua"}
_DKIM_KEYS = {"algorithm"}
_TLS_KEYS = {"mode", "cert_file", "key_file", "acme_server", "acme_email", "acme_ca_bundle",
             "acme_propagation_seconds"}
DKIM_ALGORITHMS = ("rsa-2048", "rsa-3072", "rsa-4096", "ed25519")


def _parse_dns(c: _Collector, path: str, raw: Any, domain: str) -> DnsProvider:
    raw = _dict(c, path, raw)
    _check_keys(c, path, raw, _DNS_KEYS)
    kind = _choice(c, f"{path}.provider", raw.get("provider", "manual"),
                   ("manual", "rfc2136", "cloudflare"))
    zone = _domain(c, f"{path}.zone", raw.get("zone", domain))
    if zone != domain and not domain.endswith("." + zone):
        c.add(f"{path}.zone", _describe(zone), f"{domain!r} or a parent zone of it")
    server = raw.get("server", "")
    if kind == "rfc2136":
        try:
            ipaddress.ip_address(server)
        except ValueError:
            c.add(f"{path}.server", _describe(server),
                  "the IP address of the primary name server that accepts RFC 2136 updates")
    defaults = DnsProvider()
    return DnsProvider(
        kind=kind,
        zone=zone,
        server=str(server),
        port=_int(c, f"{path}.port", raw.get("port", 53), 1, 65535),
        tsig_env=_env_name(c, f"{path}.tsig_env", raw.get("tsig_env", defaults.tsig_env)),
        token_env=_env_name(c, f"{path}.token_env", raw.get("token_env", defaults.token_env)),
        ttl=_int(c, f"{path}.ttl", raw.get("ttl", defaults.ttl), 30, 86400),
    )


def _parse_domain(c: _Collector, path: str, name: str, raw: Any) -> Domain:
    raw = _dict(c, path, raw)
    _check_keys(c, path, raw, _DOMAIN_KEYS)

    mailboxes = []
    mpath = f"{path}.mailboxes"
    for local, mraw in _dict(c, mpath, raw.get("mailboxes")).items():
        bpath = f"{mpath}.{local}"
        address = _address(c, bpath, f"{local}@{name}")
        mraw = _dict(c, bpath, mraw)
        _check_keys(c, bpath, mraw, _MAILBOX_KEYS)
        pw = mraw.get("password_hash")
        if not is_password_hash(pw):
            # Never echo the value: it may be a plaintext password.
            found = "nothing" if pw is None else "a value that is not a password hash"
            c.add(f"{bpath}.password_hash", found,
                  "a hash such as '{ARGON2ID}$argon2id$...' or '$6$...'",
                  "make one with `mailops hash-password` or `doveadm pw -s ARGON2ID`")
        mailboxes.append(Mailbox(address, str(pw), _size(c, f"{bpath}.quota", mraw.get("quota"))))

    aliases = []
    apath = f"{path}.aliases"
    for local, targets in _dict(c, apath, raw.get("aliases")).items():
        address = _address(c, f"{apath}.{local}", f"{local}@{name}")
        tlist = _list(c, f"{apath}.{local}", targets)
        if not tlist:
            c.add(f"{apath}.{local}", "no targets", "one or more addresses")
        aliases.append((address, tuple(_address(c, f"{apath}.{local}[{i}]", t)
                                       for i, t in enumerate(tlist))))
    taken = {m.address for m in mailboxes}
    for address, _ in aliases:
        if address in taken:
            c.add(f"{apath}.{address.split('@')[0]}", "an alias with the same address as a mailbox",
                  "each address to be either a mailbox or an alias")

    catch_all = raw.get("catch_all")
    if catch_all is not None:
        catch_all = _address(c, f"{path}.catch_all", catch_all)

    spf_raw = _dict(c, f"{path}.spf", raw.get("spf"))
    _check_keys(c, f"{path}.spf", spf_raw, _SPF_KEYS)
    spf = Spf(
        include=tuple(_dns_name(c, f"{path}.spf.include[{i}]", d)
                      for i, d in enumerate(_list(c, f"{path}.spf.include",
                                                  spf_raw.get("include", [])))),
        ip4=_networks(c, f"{path}.spf.ip4", spf_raw.get("ip4", []), 4),
        ip6=_networks(c, f"{path}.spf.ip6", spf_raw.get("ip6", []), 6),
        all=_choice(c, f"{path}.spf.all", spf_raw.get("all", "-all"), ("-all", "~all", "?all")),
    )

    dm_raw = _dict(c, f"{path}.dmarc", raw.get("dmarc"))
    _check_keys(c, f"{path}.dmarc", dm_raw, _DMARC_KEYS)
    policies = ("reject", "quarantine", "none")
    dmarc = Dmarc(
        policy=_choice(c, f"{path}.dmarc.policy", dm_raw.get("policy", "reject"), policies),
        subdomain_policy=(_choice(c, f"{path}.dmarc.subdomain_policy",
                                  dm_raw["subdomain_policy"], policies)
                          if "subdomain_policy" in dm_raw else ""),
        rua=tuple(_address(c, f"{path}.dmarc.rua[{i}]", a)
                  for i, a in enumerate(_list(c, f"{path}.dmarc.rua",
                                              dm_raw.get("rua", [f"postmaster@{name}"])))),
        ruf=tuple(_address(c, f"{path}.dmarc.ruf[{i}]", a)
                  for i, a in enumerate(_list(c, f"{path}.dmarc.ruf", dm_raw.get("ruf", [])))),
        adkim=_choice(c, f"{path}.dmarc.adkim", dm_raw.get("adkim", "s"), ("s", "r")),
        aspf=_choice(c, f"{path}.dmarc.aspf", dm_raw.get("aspf", "s"), ("s", "r")),
        pct=_int(c, f"{path}.dmarc.pct", dm_raw.get("pct", 100), 0, 100),
    )

    sts_raw = _dict(c, f"{path}.mta_sts", raw.get("mta_sts"))
    _check_keys(c, f"{path}.mta_sts", sts_raw, _MTA_STS_KEYS)
    max_age = _duration(c, f"{path}.mta_sts.max_age", sts_raw.get("max_age", 604800))
    if max_age > 31557600:  # RFC 8461 §3.2: at most 31557600 seconds
        c.add(f"{path}.mta_sts.max_age", str(max_age), "at most 31557600 seconds (RFC 8461 §3.2)")
    mta_sts = MtaSts(
        mode=_choice(c, f"{path}.mta_sts.mode", sts_raw.get("mode", "testing"),
                     ("testing", "enforce", "none")),
        max_age=max_age,
    )

    rpt_raw = _dict(c, f"{path}.tlsrpt", raw.get("tlsrpt"))
    _check_keys(c, f"{path}.tlsrpt", rpt_raw, _TLSRPT_KEYS)
    tlsrpt = tuple(_address(c, f"{path}.tlsrpt.rua[{i}]", a)
                   for i, a in enumerate(_list(c, f"{path}.tlsrpt.rua",
                                               rpt_raw.get("rua", [f"postmaster@{name}"]))))

    dkim_raw = _dict(c, f"{path}.dkim", raw.get("dkim"))
    _check_keys(c, f"{path}.dkim", dkim_raw, _DKIM_KEYS)
    algorithm = _choice(c, f"{path}.dkim.algorithm", dkim_raw.get("algorithm", "rsa-2048"),
                        DKIM_ALGORITHMS)

    return Domain(
        name=name,
        dns=_parse_dns(c, f"{path}.dns", raw.get("dns"), name),
        mailboxes=tuple(mailboxes),
        aliases=tuple(aliases),
        catch_all=catch_all,
        spf=spf,
        dmarc=dmarc,
        mta_sts=mta_sts,
        tlsrpt_rua=tlsrpt,
        dkim_algorithm=algorithm,
    )


def parse_mail_settings(raw: Any, source: str = "mailops") -> MailSettings:
    """Validate one host's ``mailops`` data; raise SettingsError naming every problem."""
    c = _Collector()
    path = "mailops"
    if not isinstance(raw, dict):
        raise SettingsError([(f"{path}: found {_describe(raw)}; expected a mapping (dict) "
                             "— see inventories/prod.py for an example")], source)
    _check_keys(c, path, raw, _TOP_KEYS)
    if "hostname" not in raw:
        c.add(f"{path}.hostname", "nothing", "the mail host's FQDN, e.g. 'mx1.example.com'")
    hostname = _domain(c, f"{path}.hostname", raw.get("hostname", "mx.invalid"))

    domains = []
    draw = _dict(c, f"{path}.domains", raw.get("domains"))
    if not draw:
        c.add(f"{path}.domains", "no domains", "at least one hosted domain")
    for name, dom in draw.items():
        dpath = f"{path}.domains.{name}"
        if is_domain(name):
            domains.append(_parse_domain(c, dpath, name, dom))
        else:
            c.add(dpath, f"domain name {_describe(name)}",
                  "a lower-case domain name such as 'example.com'")
    names = {d.name for d in domains}
    for d in domains:
        for address, targets in d.aliases:
            for t in targets:
                _check_local_target(c, f"{path}.domains.{d.name}.aliases", address, t, domains,
                                    names)
        if d.catch_all:
            _check_local_target(c, f"{path}.domains.{d.name}.catch_all", "catch_all",
                                d.catch_all, domains, names)

    tls_raw = _dict(c, f"{path}.tls", raw.get("tls"))
    _check_keys(c, f"{path}.tls", tls_raw, _TLS_KEYS)
    tls_defaults = Tls()
    tls = Tls(
        mode=_choice(c, f"{path}.tls.mode", tls_raw.get("mode", "self-signed"),
                     ("self-signed", "files", "acme")),
        cert_file=str(tls_raw.get("cert_file", "")),
        key_file=str(tls_raw.get("key_file", "")),
        acme_server=str(tls_raw.get("acme_server", tls_defaults.acme_server)),
        acme_email=str(tls_raw.get("acme_email", "")),
        acme_ca_bundle=str(tls_raw.get("acme_ca_bundle", "")),
        acme_propagation_seconds=_int(c, f"{path}.tls.acme_propagation_seconds",
                                      tls_raw.get("acme_propagation_seconds",
                                                  tls_defaults.acme_propagation_seconds),
                                      0, 3600),
    )
    if tls.mode == "acme":
        _check_acme(c, f"{path}.tls", tls, domains)
    if tls.mode == "files":
        for key in ("cert_file", "key_file"):
            value = getattr(tls, key)
            if not value or not Path(value).expanduser().is_file():
                c.add(f"{path}.tls.{key}", _describe(value),
                      "the path of a readable PEM file on this machine")

    defaults = MailSettings(hostname="x.invalid", domains=())
    keystore = raw.get("keystore") or os.environ.get("MAILOPS_KEYSTORE") or str(defaults.keystore)
    settings = MailSettings(
        hostname=hostname,
        domains=tuple(domains),
        ipv4=_ips(c, f"{path}.ipv4", raw.get("ipv4", []), 4),
        ipv6=_ips(c, f"{path}.ipv6", raw.get("ipv6", []), 6),
        tls=tls,
        keystore=Path(keystore).expanduser(),
        message_size_limit=_size(c, f"{path}.message_size_limit",
                                 raw.get("message_size_limit", defaults.message_size_limit))
        or defaults.message_size_limit,
        default_quota=_size(c, f"{path}.default_quota",
                            raw.get("default_quota", defaults.default_quota)),
        maximal_queue_lifetime=_duration(c, f"{path}.maximal_queue_lifetime",
                                         raw.get("maximal_queue_lifetime",
                                                 defaults.maximal_queue_lifetime)),
        client_message_rate_limit=_int(c, f"{path}.client_message_rate_limit",
                                       raw.get("client_message_rate_limit",
                                               defaults.client_message_rate_limit), 0, 100000),
        client_recipient_rate_limit=_int(c, f"{path}.client_recipient_rate_limit",
                                         raw.get("client_recipient_rate_limit",
                                                 defaults.client_recipient_rate_limit), 0, 1000000),
        mynetworks=_networks_any(c, f"{path}.mynetworks",
                                 raw.get("mynetworks", defaults.mynetworks)),
        resolvers=_ips(c, f"{path}.resolvers", raw.get("resolvers", []), None),
        blocklists=tuple(_dns_name(c, f"{path}.blocklists[{i}]", z) for i, z in
                         enumerate(_list(c, f"{path}.blocklists", raw.get("blocklists", [])))),
    )
    if c.problems:
        raise SettingsError(c.problems, source)
    return settings


def _check_acme(c: _Collector, path: str, tls: Tls, domains: list[Domain]) -> None:
    """ACME mode: one certificate, proven with DNS-01 through ONE provider account."""
    if not re.match(r"^https://[^/\s]+(/\S*)?$", tls.acme_server):
        c.add(f"{path}.acme_server", _describe(tls.acme_server),
              "the https:// URL of an ACME directory (RFC 8555 §7.1.1)")
    if tls.acme_email and not is_address(tls.acme_email):
        c.add(f"{path}.acme_email", _describe(tls.acme_email), "an e-mail address or nothing")
    if tls.acme_ca_bundle and not Path(tls.acme_ca_bundle).expanduser().is_file():
        c.add(f"{path}.acme_ca_bundle", _describe(tls.acme_ca_bundle),
              "the path of a readable PEM file on this machine, or nothing")
    for d in domains:
        if d.dns.kind not in ("rfc2136", "cloudflare"):
            c.add(f"mailops.domains.{d.name}.dns.provider", _describe(d.dns.kind),
                  "rfc2136 or cloudflare when tls.mode is acme — certbot answers the DNS-01 "
                  "challenge through that provider", "or use tls.mode files")
    accounts = {acme_dns_account(d.dns) for d in domains if d.dns.kind != "manual"}
    if len(accounts) > 1:
        c.add(f"{path}.mode", "'acme' with domains at different DNS providers or credentials",
              "every domain at the same provider (same server/port and credential variable) — "
              "the one certificate's names are all validated with one certbot DNS plugin",
              "or use tls.mode files")


def acme_dns_account(p: DnsProvider) -> tuple:
    """What certbot's DNS plugin needs to know about a provider (no secrets)."""
    if p.kind == "cloudflare":
        return ("cloudflare", p.token_env)
    return (p.kind, p.server, p.port, p.tsig_env)


def _check_local_target(c, path, address, target, domains, names) -> None:
    """A target in a hosted domain must exist, or mail to it bounces at delivery time."""
    _local, dom = target.split("@")
    if dom not in names:
        return  # remote target: forwarded as is
    d = next(d for d in domains if d.name == dom)
    known = {m.address for m in d.mailboxes} | {a for a, _ in d.aliases}
    if target not in known and not d.catch_all:
        c.add(f"{path}", f"target {target!r} of {address!r}, which is neither a mailbox nor an "
              f"alias of {dom}", "a hosted mailbox or alias, or an address in another domain")
