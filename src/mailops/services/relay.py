"""Sending through a relay (smarthost): which mail leaves through which relay, as Postfix
tables, and the credentials each relay gets.

The inventory's ``relay`` (top level) and ``domains.<name>.relay`` become:

- one master.cf smtp(8) service per relay (``mailops-relay-<n>``): TLS required and
  verified against the system trust store (``smtp_tls_security_level = secure``,
  TLS_README "Mandatory server certificate verification"), SASL on, 465 with
  ``smtp_tls_wrappermode``, and its own ``smtp_sasl_password_maps`` — a relay's
  credentials are only ever offered to that relay, whichever route chose it;
- ``sender_dependent_default_transport_maps`` (by envelope sender domain): a domain's
  own relay, or ``smtp`` for a domain that says ``"direct"``; a top-level relay for
  every sender is ``default_transport`` (DSNs with the null sender and the host's own
  mail included). This map, rather than ``sender_dependent_relayhost_maps``, because
  it names the transport as well as the next hop: a relay on 465 needs its own
  wrapper-mode service, the relay's TLS/SASL settings must not leak onto direct
  delivery (which keeps DANE/MTA-STS), and "direct" cannot be said as a relayhost;
- ``transport_maps`` entries for a top-level relay's ``recipient_domains`` (and their
  subdomains): transport(5) is consulted before the sender-dependent maps.

Faults never send mail another way: with no ``smtp_fallback_relay``, a relay that is
down, refuses the login (``smtp_sasl_auth_soft_bounce``, default yes) or fails TLS
verification leaves the mail deferred with the relay's reply in the queue
(``postqueue -j``); ``soft_bounce = yes`` on the relay services turns the relay's 5xx
replies (a sender it refuses, an unverified identity) into deferrals too, so a relay
misconfiguration never bounces users' mail. The price: a recipient the relay refuses
permanently waits in the queue until maximal_queue_lifetime instead of bouncing at once.

The relay carries mail it did not write: the host still signs with the domain's DKIM
key, and the envelope sender (the VERP return path) is left alone. Amazon SES rewrites
Message-ID (and may rewrite Date) on mail it relays and tells senders who sign
themselves not to sign Message-ID, Date, Return-Path or Bounces-To ("Manual DKIM signing
in Amazon SES", SES Developer Guide); a signature over the original Message-ID would
fail at the receiver. So with any relay, OpenDKIM leaves Message-ID and Date out of the
signature (:func:`unsigned_headers`); RFC 6376 §5.4.1 requires only From to be signed.
SES also refuses a message that already carries two DKIM-Signature headers ("554
Transaction failed: Duplicate header 'DKIM-Signature'"): mailops signs once per message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..inventory import MailSettings, Relay
from ..inventory.errors import SettingsError, problem
from .paths import POSTFIX_MAPS_DIR

# Where each relay's credentials live on the host: root:root 0600. smtp(8) opens
# smtp_sasl_password_maps before it drops privileges (SASL_README, "Enabling SASL
# authentication in the Postfix SMTP/LMTP client"), so only root needs to read it.
RELAY_SASL_DIR = "/etc/postfix/relay"
SERVICE_PREFIX = "mailops-relay-"
# Message-ID and Date: rewritten by Amazon SES (see the module docstring).
RELAY_UNSIGNED_HEADERS = ("Message-ID", "Date")


@dataclass(frozen=True)
class RelayRoute:
    """One relay as Postfix sees it: a master.cf service with its own credentials."""

    index: int
    relay: Relay
    where: str  # the inventory key it came from, for messages

    @property
    def service(self) -> str:
        return f"{SERVICE_PREFIX}{self.index}"

    @property
    def nexthop(self) -> str:
        # [host]: no MX lookup; the relay's name is what its certificate must match
        # (smtp_tls_secure_cert_match = nexthop).
        return f"[{self.relay.host}]:{self.relay.port}"

    @property
    def transport(self) -> str:
        return f"{self.service}:{self.nexthop}"

    @property
    def wrappermode(self) -> bool:
        return self.relay.port == 465

    @property
    def sasl_file(self) -> str:
        return f"{RELAY_SASL_DIR}/{self.service}"


def routes(settings: MailSettings) -> list[RelayRoute]:
    """Every distinct relay of the host (same relay and credentials = one route)."""
    found: list[tuple[Relay, str]] = []
    if settings.relay is not None:
        found.append((settings.relay, "mailops.relay"))
    for d in settings.domains:
        if d.relay is not None and d.relay != "direct":
            found.append((d.relay, f"mailops.domains.{d.name}.relay"))
    out: list[RelayRoute] = []
    for relay, where in found:
        if not any(_same_route(r.relay, relay) for r in out):
            out.append(RelayRoute(len(out) + 1, relay, where))
    return out


def _same_route(a: Relay, b: Relay) -> bool:
    keys = ("host", "port", "username_env", "password_env")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def route_of(settings: MailSettings, relay: Relay) -> RelayRoute:
    return next(r for r in routes(settings) if _same_route(r.relay, relay))


def default_transport(settings: MailSettings) -> str:
    """default_transport: the top-level relay for all mail, else Postfix's smtp."""
    top = settings.relay
    if top is None or top.recipient_domains:
        return "smtp"
    return route_of(settings, top).transport


def sender_transport_map(settings: MailSettings) -> list[tuple[str, str]]:
    """sender_dependent_default_transport_maps: @domain -> transport, where it differs
    from default_transport."""
    default = default_transport(settings)
    out = []
    for d in sorted(settings.domains, key=lambda d: d.name):
        relay = settings.relay_of(d)
        want = "smtp" if relay is None else route_of(settings, relay).transport
        if want != default:
            out.append((f"@{d.name.lower()}", want))
    return out


def recipient_transport_map(settings: MailSettings) -> list[tuple[str, str]]:
    """transport_maps entries: each recipient domain of the top-level relay, and its
    subdomains (``.domain``: transport(5) matches a parent only with the dot form)."""
    top = settings.relay
    if top is None or not top.recipient_domains:
        return []
    transport = route_of(settings, top).transport
    return [(key, transport) for dom in top.recipient_domains
            for key in (dom.lower(), f".{dom.lower()}")]


def unsigned_headers(settings: MailSettings) -> tuple[str, ...]:
    """Header fields OpenDKIM leaves out of signatures: none unless mail may be relayed."""
    return RELAY_UNSIGNED_HEADERS if routes(settings) else ()


def missing_credentials(settings: MailSettings, env=os.environ) -> list[str]:
    """Problem lines for every credential variable the relays need and the environment
    lacks (names only: the values are never read into a message)."""
    out = []
    for r in routes(settings):
        for key in ("username_env", "password_env"):
            name = getattr(r.relay, key)
            if not env.get(name):
                out.append(problem(f"{r.where}.{key}", f"no ${name} in the environment",
                                   f"the relay {r.relay.host}'s SASL "
                                   f"{key.removesuffix('_env')} in ${name}",
                                   f"export {name}=... and deploy again"))
    return list(dict.fromkeys(out))


def require_credentials(settings: MailSettings, env=os.environ) -> None:
    problems = missing_credentials(settings, env)
    if problems:
        raise SettingsError(problems, "environment")


def env_value(name: str, env=os.environ) -> str:
    """A credential from the environment (checked present by require_credentials)."""
    return env[name]


def check_sasl_values(settings: MailSettings, env=os.environ) -> None:
    """Values that cannot be written into the one line of a relay's password table
    (templates/postfix/relay_sasl.j2, keyed by the service's next hop): Postfix splits
    user and password at the first ':' (SASL_README), and a line break would end it."""
    problems = []
    for r in routes(settings):
        user, password = env[r.relay.username_env], env[r.relay.password_env]
        if ":" in user or any(c.isspace() for c in user):
            problems.append(problem(f"{r.where}.username_env",
                                    f"${r.relay.username_env} with ':' or white space",
                                    "a SASL user name without ':' or white space "
                                    "(Postfix separates user and password at the first ':')"))
        if any(c in password for c in "\r\n") or password != password.strip():
            problems.append(problem(f"{r.where}.password_env",
                                    f"${r.relay.password_env} (not shown) with a line break "
                                    "or leading/trailing white space",
                                    "the password exactly as the relay issued it"))
    if problems:
        raise SettingsError(problems, "environment")


def relay_context(settings: MailSettings) -> dict:
    """Template variables for the relay blocks of templates/postfix/*.j2."""
    return {
        "relay_routes": routes(settings),
        "relay_default_transport": default_transport(settings),
        "relay_sender_map": sender_transport_map(settings),
        "relay_recipient_map": recipient_transport_map(settings),
        "relay_sender_map_file": f"{POSTFIX_MAPS_DIR}/relay_senders",
    }
