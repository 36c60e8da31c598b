"""The inventory model: what an operator may write under a host's ``mailops`` key.

Every key, its type and its default live here, documented beside the field
(DESIGN.md convention 7); an unknown key is an error. Field formats are in
:mod:`.types`, rules that relate several fields in :mod:`.rules`, and
:mod:`.load` is the one loader every entry point uses. ``inventories/prod.py``
is a worked example.

The models are frozen. Domain-dependent defaults (a domain's zone, its
``postmaster@`` report addresses) are filled in when the host's settings are
built, so every consumer sees final values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from .base import InventoryModel as _Model
from .inbound import Inbound, Resolver
from .reporting import DeliveryLog, StatusMail
from .types import (
    IP,
    Address,
    DnsName,
    DomainName,
    Duration,
    EnvName,
    IPv4,
    IPv6,
    List,
    LocalPart,
    Mapping,
    MyNetwork,
    Net4,
    Net6,
    OptionalAddress,
    OptionalDnsName,
    OptionalDomainName,
    OptionalSize,
    PasswordHash,
    Size,
    Whole,
)

DKIM_ALGORITHMS = ("rsa-2048", "rsa-3072", "rsa-4096", "ed25519")
DEFAULT_KEYSTORE = "~/.local/share/mailops/keystore"
# RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
MTA_STS_MAX_AGE_LIMIT = 31557600


# --------------------------------------------------------------------------- one domain


class DnsProvider(_Model):
    """``domains.<name>.dns``: where the domain's records are published."""

    # "rfc2136": dynamic update with TSIG (RFC 2136, RFC 8945), e.g. BIND, Knot, PowerDNS.
    # "cloudflare": the Cloudflare v4 API through the official SDK.
    # "manual": no API; `mailops dns zone` prints a zone fragment to paste.
    kind: Literal["manual", "rfc2136", "cloudflare"] = Field("manual", alias="provider")
    zone: OptionalDomainName = ""  # the zone the records live in; default: the domain
    server: str = ""  # rfc2136: IP address of the primary that accepts updates (rules.py)
    port: Whole(1, 65535) = 53
    # Environment variable NAMES holding credentials — never the secrets themselves.
    tsig_env: EnvName = "MAILOPS_TSIG"  # rfc2136: "<name>:<algorithm>:<base64 secret>"
    token_env: EnvName = "CLOUDFLARE_API_TOKEN"  # cloudflare
    ttl: Whole(30, 86400) = 300


class Spf(_Model):
    # RFC 7208 §5: mechanisms. Defaults authorise the MX hosts only, and hard-fail
    # everything else (-all), which is what a dedicated mail host wants.
    include: Annotated[tuple[DnsName, ...], List] = ()
    ip4: Annotated[tuple[Net4, ...], List] = ()
    ip6: Annotated[tuple[Net6, ...], List] = ()
    all: Literal["-all", "~all", "?all"] = "-all"


class Dmarc(_Model):
    # RFC 7489 §6.3 tags. Strict defaults: reject, strict alignment for both.
    policy: Literal["reject", "quarantine", "none"] = "reject"
    subdomain_policy: Literal["reject", "quarantine", "none", ""] = ""  # sp=; "" = policy
    # Aggregate report addresses; default (None here) postmaster@<domain>.
    rua: Annotated[tuple[Address, ...], List] = None  # type: ignore[assignment]
    ruf: Annotated[tuple[Address, ...], List] = ()
    adkim: Literal["s", "r"] = "s"
    aspf: Literal["s", "r"] = "s"
    pct: Whole(0, 100) = 100


class MtaSts(_Model):
    # RFC 8461 §3.2: policy mode and max_age (seconds; 1 week default, 1 year max).
    mode: Literal["testing", "enforce", "none"] = "testing"
    max_age: Duration = 604800


class TlsRpt(_Model):
    # RFC 8460 §3: where senders report TLS failures; default postmaster@<domain>.
    rua: Annotated[tuple[Address, ...], List] = None  # type: ignore[assignment]


class Dkim(_Model):
    # The domain's DKIM key type; RSA is what every receiver verifies (RFC 8463 §4).
    # OpenDKIM signs with one algorithm family per host (services/opendkim.py).
    algorithm: Literal["rsa-2048", "rsa-3072", "rsa-4096", "ed25519"] = "rsa-2048"


# --------------------------------------------------------------------------- relay


class Relay(_Model):
    """``relay`` (every hosted domain) or ``domains.<name>.relay``: a smarthost.

    Outbound mail is handed to this relay with SASL AUTH (RFC 4954) instead of being
    delivered to the recipients' MX hosts. The host still signs with the domain's own
    DKIM key and keeps its VERP return path; the relay only carries the mail.
    TLS to the relay is always required and verified against the host's trust store
    (Postfix ``smtp_tls_security_level = secure``): credentials never travel in clear.
    """

    host: DomainName  # the relay's name; its certificate must be valid for it
    # 587: submission with STARTTLS (RFC 6409, RFC 3207); 465: implicit TLS (RFC 8314
    # §3.3). Port 25 is not offered: it is the one cloud providers block.
    port: Literal[587, 465] = 587
    # NAMES of the environment variables the deploy reads the credentials from; the
    # secrets themselves never live in the inventory (services/relay.py).
    username_env: EnvName = "MAILOPS_RELAY_USER"
    password_env: EnvName = "MAILOPS_RELAY_PASSWORD"
    # The SPF include the relay's operator documents (e.g. "amazonses.com",
    # "spf.mtasv.net"); added to the SPF record of every domain sending through it.
    # Empty: the relay's addresses must be listed in the domain's spf.ip4/ip6 instead.
    spf_include: OptionalDnsName = ""
    # Top-level relay only: send through the relay ONLY mail to these recipient domains
    # (and their subdomains), everything else direct. Empty (default): all mail.
    recipient_domains: Annotated[tuple[DomainName, ...], List] = ()


# "direct" (opt out of the top-level relay) or a relay table; None: follow the top level.
DIRECT = "direct"
RelayChoice = Annotated[
    Annotated[Relay, Tag("@table")] | Annotated[Literal["direct"], Tag("@word")],
    Discriminator(lambda v: "@word" if isinstance(v, str) else "@table"),
]


class MailboxSettings(_Model):
    """``domains.<name>.mailboxes.<local part>``."""

    password_hash: PasswordHash = Field(repr=False)  # a hash, never a password; never shown
    quota: OptionalSize = None  # bytes; None = the host's default_quota


@dataclass(frozen=True)
class Mailbox:
    """A mailbox as the services see it: its address (= its login) and settings."""

    address: str
    password_hash: str = field(repr=False)
    quota: int | None  # bytes; None = the host default (MailSettings.default_quota)


class Domain(_Model):
    """``domains.<name>``: one hosted domain. Its name is the key it is listed under."""

    dns: DnsProvider = DnsProvider()
    mailbox_map: Annotated[dict[LocalPart, MailboxSettings], Mapping] = Field(
        default_factory=dict, alias="mailboxes")
    # local part -> target addresses (a remote address forwards there).
    alias_map: Annotated[dict[LocalPart, Annotated[tuple[Address, ...], List]], Mapping] = \
        Field(default_factory=dict, alias="aliases")
    catch_all: OptionalAddress = ""  # where mail to unknown names of the domain goes
    spf: Spf = Spf()
    dmarc: Dmarc = Dmarc()
    mta_sts: MtaSts = MtaSts()
    tlsrpt: TlsRpt = TlsRpt()
    dkim: Dkim = Dkim()
    # This domain's own relay, or "direct" to deliver directly even when the host has a
    # top-level relay; absent: the host's top-level relay (if any) — see MailSettings.
    relay: RelayChoice | None = None

    _name: str = PrivateAttr("")

    @property
    def name(self) -> str:
        return self._name

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(Mailbox(f"{local}@{self._name}", m.password_hash, m.quota)
                     for local, m in self.mailbox_map.items())

    @property
    def aliases(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(address, targets) for every alias, in the inventory's order."""
        return tuple((f"{local}@{self._name}", targets)
                     for local, targets in self.alias_map.items())

    @property
    def tlsrpt_rua(self) -> tuple[str, ...]:
        return self.tlsrpt.rua or ()

    @property
    def dkim_algorithm(self) -> str:
        return self.dkim.algorithm

    def named(self, name: str) -> Domain:
        """This domain under its key, with the defaults that depend on the name."""
        postmaster = (f"postmaster@{name}",)
        out = self.model_copy(update={
            "dns": self.dns.model_copy(update={"zone": self.dns.zone or name}),
            "dmarc": self.dmarc.model_copy(update={"rua": self.dmarc.rua or (
                postmaster if self.dmarc.rua is None else ())}),
            "tlsrpt": self.tlsrpt.model_copy(update={"rua": self.tlsrpt.rua or (
                postmaster if self.tlsrpt.rua is None else ())}),
        })
        out._name = name
        return out


# --------------------------------------------------------------------------- TLS


class Tls(_Model):
    # "files": operator-provided certificate and key (paths on the operator's machine,
    #          checked by the deploy; uploaded to the host, key 0600).
    # "self-signed": the deploy makes a self-signed certificate on the host
    #          (lab and first boot only; receivers will not trust it for MTA-STS).
    # "acme": Debian's certbot on the host obtains and renews certificates for the host
    #          name and every mta-sts.<domain> (RFC 8461 §3.3) with DNS-01 (RFC 8555
    #          §8.4) through the domains' DNS provider (rfc2136 or cloudflare); no port
    #          80; as many certificates as the CA's name limit needs (services/tls.py).
    mode: Literal["self-signed", "files", "acme"] = "self-signed"
    cert_file: str = ""
    key_file: str = ""
    # acme: the ACME directory URL (default: Let's Encrypt production).
    acme_server: str = "https://acme-v02.api.letsencrypt.org/directory"
    # acme: account contact; empty = register without an e-mail address.
    acme_email: OptionalAddress = ""
    # acme: a PEM file on this machine the host must trust to reach acme_server (a test
    # CA such as Pebble); installed into the host's trust store. Empty = none needed.
    acme_ca_bundle: str = ""
    # acme: how long certbot waits after publishing the _acme-challenge TXT before the
    # CA looks (secondaries must have it: RFC 1996 NOTIFY + transfer). 60 s is the
    # rfc2136 plugin's own default; a lone primary (the lab) needs only a second or two.
    acme_propagation_seconds: Whole(0, 3600) = 60
    # acme: the CA's limit of names per certificate. Let's Encrypt issues at most 100
    # ("Names per Certificate", https://letsencrypt.org/docs/rate-limits/); more names
    # are split over several certificates (services/tls.py).
    acme_names_per_certificate: Whole(2, 1000) = 100


# --------------------------------------------------------------------------- one host


class MailSettings(_Model):
    """A host's ``mailops`` data: the mail host and the domains it serves."""

    hostname: DomainName  # the mail host's FQDN: HELO name, MX target, certificate name
    domain_map: Annotated[dict[DomainName, Domain], Mapping] = Field(alias="domains")
    ipv4: Annotated[tuple[IPv4, ...], List] = ()  # public addresses: A/AAAA records, SPF
    ipv6: Annotated[tuple[IPv6, ...], List] = ()
    tls: Tls = Tls()
    # The DKIM keystore on the operator's machine: this key, else $MAILOPS_KEYSTORE,
    # else ~/.local/share/mailops/keystore. Keep it out of git.
    keystore: Path = Field(default_factory=lambda: Path(
        os.environ.get("MAILOPS_KEYSTORE") or DEFAULT_KEYSTORE))
    message_size_limit: Size = 50 * 1024**2  # Postfix message_size_limit, bytes
    default_quota: OptionalSize = 2 * 1024**3  # per mailbox unless it sets its own
    maximal_queue_lifetime: Duration = 5 * 86400  # Postfix default 5d; DKIM grace uses it
    # Postfix anvil(8) limits per client, per minute; generous for people, tight for bots.
    client_message_rate_limit: Whole(0, 100000) = 120
    client_recipient_rate_limit: Whole(0, 1000000) = 600
    # Clients Postfix lets relay without logging in (mynetworks); keep it to loopback.
    mynetworks: Annotated[tuple[MyNetwork, ...], List] = ("127.0.0.0/8", "[::1]/128")
    # DNS resolvers OpenDKIM asks for keys. Empty (default): its built-in libunbound
    # resolves from the root itself and validates DNSSEC. Set it when the host must use
    # a given resolver (a split-horizon or lab DNS, a local validating resolver).
    resolvers: Annotated[tuple[IP, ...], List] = ()
    # DNS blocklist zones `mailops check` looks the host's addresses up in (e.g.
    # "zen.spamhaus.org"; mind their terms of use). Empty (default): no lookups.
    blocklists: Annotated[tuple[DnsName, ...], List] = ()
    # --- what the operator's machine uses to look at this mail system ---
    # Name servers ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53") that `mailops`
    # asks on the operator's machine — `check`, `dns wait`, the DNS waits of
    # `rotate-dkim`, the DKIM probe — INSTEAD of each zone's NS set and the system
    # resolver: for a split-horizon, hidden-primary or lab DNS. Empty (default): the
    # public DNS. $MAILOPS_DNS_NAMESERVERS, when set, still wins (a one-off override).
    dns_servers: Annotated[tuple[str, ...], List] = ()
    # A PEM file of CA certificates `mailops check` trusts when it verifies TLS
    # (STARTTLS/465 certificates, the MTA-STS policy over HTTPS) instead of the system
    # store: a private or lab CA. Unset (default): the system store (or $SSL_CERT_FILE).
    trust_anchors: Path | None = None

    @field_validator("dns_servers")
    @classmethod
    def _servers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        from ..dns.query import parse_servers

        for item in value:
            try:
                ((host, port),) = parse_servers(item)
                ipaddress.ip_address(host)
                if not 0 < port < 65536:
                    raise ValueError
            except ValueError:
                raise ValueError(f"found {item!r}; expected an IP address with an optional "
                                 "port, such as 192.0.2.53, 192.0.2.53:5353 or "
                                 "[2001:db8::53]:53") from None
        return value
    # The per-message delivery log: retention and whether subjects are kept.
    delivery_log: DeliveryLog = DeliveryLog()
    # A smarthost every hosted domain sends through (unless it sets its own relay or
    # "direct"); None (default): deliver directly to the recipients' MX hosts.
    relay: Relay | None = None
    # Inbound filtering (postscreen, rspamd, greylisting, Junk) and the host's own
    # validating resolver: see inventory/inbound.py for every key and default.
    inbound: Inbound = Inbound()
    resolver: Resolver = Resolver()
    status_mail: StatusMail = StatusMail()

    @model_validator(mode="after")
    def _status_mail_defaults(self) -> MailSettings:
        sm, first = self.status_mail, next(iter(self.domain_map), "")
        object.__setattr__(self, "status_mail", sm.model_copy(update={
            "to": sm.to or (f"postmaster@{first.rstrip('.')}" if first else ""),
            "dnsbl": self.blocklists if sm.dnsbl is None else sm.dnsbl}))
        return self

    @model_validator(mode="after")
    def _expand(self) -> MailSettings:
        object.__setattr__(self, "keystore", Path(self.keystore).expanduser())
        if self.trust_anchors is not None:
            object.__setattr__(self, "trust_anchors", Path(self.trust_anchors).expanduser())
        return self

    @cached_property
    def domains(self) -> tuple[Domain, ...]:
        """The hosted domains, in inventory order, each knowing its name."""
        return tuple(d.named(name.rstrip(".")) for name, d in self.domain_map.items())

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)

    @property
    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(m for d in self.domains for m in d.mailboxes)

    def relay_of(self, domain: Domain) -> Relay | None:
        """The relay mail FROM the domain goes through (None: direct).

        A top-level relay limited to recipient domains is not a sender's relay: it is
        chosen by recipient (services/relay.py)."""
        if domain.relay == DIRECT:
            return None
        if domain.relay is not None:
            return domain.relay
        if self.relay is not None and not self.relay.recipient_domains:
            return self.relay
        return None

    def relays_of(self, domain: Domain) -> tuple[Relay, ...]:
        """Every relay that may carry the domain's mail (its own, and a top-level relay
        chosen by recipient domain): each must be authorised by the domain's SPF."""
        out = [r for r in (self.relay_of(domain),) if r is not None]
        if self.relay is not None and self.relay.recipient_domains and self.relay not in out:
            out.append(self.relay)
        return tuple(out)
