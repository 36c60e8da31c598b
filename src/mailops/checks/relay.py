"""The relay (smarthost) lines of `mailops check`: for every relay a host sends through,
as the host will meet it.

- reachable: a TCP connection to the relay's port (587 or 465);
- TLS certificate: verified against the inventory's ``trust_anchors`` or the system store
  and valid for the relay's name — what Postfix's ``secure`` level demands;
- AUTH: the credentials from the variables the inventory names, tried inside TLS
  (RFC 4954); the session ends after the reply, no message is ever sent;
- queue: mail the host holds back for the relay (``postqueue -j`` over SSH), with the
  relay's last reply, so a refused login or a relay that is down shows here;
- SPF (per domain): the domain's published SPF includes the relay's ``spf_include``,
  and that record authorises the relay's addresses (one level, ip4/ip6 terms) —
  receivers see the relay's address, not the host's (RFC 7208 §2.4).
"""

from __future__ import annotations

import ipaddress
import json
import os
import smtplib
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..dns.query import txt_values
from ..services.relay import RelayRoute, routes
from .report import DEPLOY, DNS_APPLY, FAIL, OK, WARN, Finding, guard
from .tls import EXPIRY_MARGIN, _helo, served_verdict, verifying_context

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context

TIMEOUT = 10.0


# --------------------------------------------------------------------------- pure verdicts


def auth_verdict(code: int, text: str, user: str) -> tuple[str, str]:
    """(status, found) for the reply to AUTH with the configured credentials."""
    if code == 235:
        return OK, f"AUTH accepted for {user} ({code} {text})"
    return FAIL, f"AUTH refused for {user}: {code} {text}"


def queue_verdict(entries: Sequence[dict], route: RelayRoute) -> tuple[str, str]:
    """(status, found) for the host's queue (``postqueue -j`` records) and one relay."""
    held = []
    for e in entries:
        for r in e.get("recipients", []):
            reason = r.get("delay_reason", "")
            if route.relay.host in reason or route.service in reason:
                held.append(reason)
    if not held:
        return OK, "no mail waiting for the relay"
    return FAIL, f"{len(held)} recipient(s) deferred; last reply: {held[-1]}"


def spf_verdict(record: str | None, include: str, include_record: str | None,
                addresses: Sequence[str]) -> tuple[str, str]:
    """(status, found): does the served SPF authorise the relay through its include?"""
    if record is None:
        return FAIL, "no SPF record"
    terms = record.split()
    if f"include:{include}" not in terms and f"+include:{include}" not in terms:
        return FAIL, f"{record!r} does not include {include}"
    if include_record is None:
        return FAIL, f"includes {include}, which publishes no SPF record (a permerror)"
    nets = []
    for t in include_record.split():
        for prefix in ("ip4:", "+ip4:", "ip6:", "+ip6:"):
            if t.startswith(prefix):
                nets.append(ipaddress.ip_network(t.split(":", 1)[1], strict=False))
    if not addresses:
        return OK, f"includes {include}"
    missing = [a for a in addresses if not any(ipaddress.ip_address(a) in n for n in nets)]
    if not missing:
        return OK, f"includes {include}, which authorises {', '.join(addresses)}"
    if any(t.lstrip("+").startswith(("include:", "a", "mx", "exists:", "redirect="))
           for t in include_record.split()[1:]):
        return WARN, (f"includes {include}; {', '.join(missing)} not among its ip4/ip6 terms "
                      "(its other mechanisms were not evaluated)")
    return FAIL, f"includes {include}, which does not authorise {', '.join(missing)}"


# --------------------------------------------------------------------------- probes


def _connect(address: str, route: RelayRoute, ctx: ssl.SSLContext) -> smtplib.SMTP:
    """An SMTP session with ``address`` in TLS verified for the relay's NAME (the address
    comes from the DNS mailops asks, which may not be this machine's resolver)."""
    if route.wrappermode:
        s: smtplib.SMTP = smtplib.SMTP_SSL(timeout=TIMEOUT, local_hostname=_helo(),
                                           context=ctx)
    else:
        s = smtplib.SMTP(timeout=TIMEOUT, local_hostname=_helo())
    s._host = route.relay.host  # the name TLS verifies (SNI and certificate)
    s.connect(address, route.relay.port)
    if not route.wrappermode:
        s.starttls(context=ctx)
    s.ehlo()
    return s


def auth_probe(address: str, route: RelayRoute, user: str, password: str,
               cafile: Path | None = None) -> tuple[int, str]:
    """EHLO, TLS (verified against ``cafile``, the inventory's ``trust_anchors``, as the
    certificate check beside it is), AUTH; QUIT. (code, text) of the AUTH reply. Never
    MAIL FROM."""
    s = _connect(address, route, verifying_context(cafile))
    try:
        code, text = s.login(user, password)
        return code, text.decode(errors="replace")
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def host_queue(h: MailHost) -> list[dict]:
    from ..hosts.connect import run

    out = run(h, ["postqueue", "-j"], timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --------------------------------------------------------------------------- the checks


def _address(ctx: Context, name: str) -> str:
    found = ctx.dns.addresses(name)
    if not found:
        raise OSError(f"{name} has no A/AAAA record")
    return found[0]


def check_relays(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    out: list[Finding] = []
    queue: list[dict] | None = None
    for route in routes(h.settings):
        r = route.relay
        name = f"relay {r.host}:{r.port}"

        def reach(r=r, name=name, route=route) -> list[Finding]:
            addresses = ctx.dns.addresses(r.host)
            if not addresses:
                return [Finding(subject, f"{name} reachable", FAIL, f"{r.host} has no address",
                                f"an A/AAAA record for {r.host}",
                                "all mail through this relay stays queued",
                                f"check the relay's name in {route.where}.host")]
            try:
                with socket.create_connection((addresses[0], r.port), timeout=TIMEOUT):
                    pass
            except OSError as e:
                return [Finding(subject, f"{name} reachable", FAIL,
                                f"no TCP connection to {r.host} ({addresses[0]}) port "
                                f"{r.port}: {e.strerror or e}",
                                "the relay to accept connections on its submission port",
                                "mail through this relay stays deferred on the host (none "
                                "is sent another way)",
                                "check the relay's status and that the host may reach "
                                f"port {r.port} (firewall); or fix {route.where}.host/port")]
            return [Finding(subject, f"{name} reachable", OK,
                            f"TCP connection to {r.host} ({addresses[0]}) port {r.port}")]

        def cert(r=r, name=name) -> list[Finding]:
            status, found = served_verdict(_address(ctx, r.host), r.port, "tls", r.host,
                                           ctx.now, cafile=h.settings.trust_anchors)
            return [Finding(subject, f"{name} TLS certificate", status, found,
                            f"a certificate for {r.host} that verifies against "
                            f"{h.settings.trust_anchors or 'the system trust store'}, valid "
                            f"for {EXPIRY_MARGIN.days}+ days",
                            "" if status == OK else "Postfix (secure) will not log in or hand "
                            "over mail: everything for this relay stays deferred",
                            "" if status == OK else "ask the relay's operator; or check that "
                            "the host's trust store has the relay's CA "
                            "(/etc/ssl/certs/ca-certificates.crt)")]

        def auth(r=r, name=name, route=route) -> list[Finding]:
            user, password = os.environ.get(r.username_env), os.environ.get(r.password_env)
            if not user or not password:
                return [Finding(subject, f"{name} AUTH", WARN,
                                f"not checked: ${r.username_env} / ${r.password_env} not in "
                                "this environment")]
            code, text = auth_probe(_address(ctx, r.host), route, user, password,
                                    h.settings.trust_anchors)
            status, found = auth_verdict(code, text, user)
            return [Finding(subject, f"{name} AUTH", status, found,
                            "235 Authentication succeeded",
                            "" if status == OK else "the relay refuses every message: mail "
                            "stays deferred on the host until the credentials are fixed",
                            "" if status == OK else f"export the right ${r.username_env} and "
                            f"${r.password_env}, then {DEPLOY.format(inv=ctx.inventory)}")]

        def held(name=name, route=route) -> list[Finding]:
            nonlocal queue
            if ctx.probe is None:
                return []  # no SSH to the host in this run
            if queue is None:
                queue = host_queue(h)
            status, found = queue_verdict(queue, route)
            return [Finding(subject, f"{name} queue", status, found, "no deferred mail",
                            "" if status == OK else "this mail has not left the host",
                            "" if status == OK else "fix what the reply says (credentials, "
                            "the relay's sender rules, the relay itself); Postfix retries on "
                            "its own, or run `postqueue -f` on the host")]

        for fn, check in ((reach, "reachable"), (cert, "TLS certificate"), (auth, "AUTH"),
                          (held, "queue")):
            out += guard(subject, f"{name} {check}", fn)
    return out


def check_relay_spf(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    """Every relay the domain's mail leaves through is authorised by its SPF record."""
    out = []
    seen = set()
    for h in serving:
        for r in h.settings.relays_of(h.settings.domain(domain)):
            if r.host in seen:
                continue
            seen.add(r.host)
            check = f"SPF for relay {r.host}"
            if not r.spf_include:
                out.append(Finding(domain, check, WARN,
                                   "not checked: the relay has no spf_include; its addresses "
                                   "must be in spf.ip4/ip6"))
                continue
            spf = [t for t in txt_values(ctx.dns.answers(domain, "TXT"))
                   if t.lower().startswith("v=spf1")]
            inc = [t for t in txt_values(ctx.dns.answers(r.spf_include, "TXT"))
                   if t.lower().startswith("v=spf1")]
            status, found = spf_verdict(spf[0] if len(spf) == 1 else None, r.spf_include,
                                        inc[0] if inc else None, ctx.dns.addresses(r.host))
            out.append(Finding(domain, check, status, found,
                               f"include:{r.spf_include} in {domain}'s SPF, authorising the "
                               "relay's addresses",
                               "" if status == OK else "receivers see the relay's address: "
                               "SPF fails, and with DKIM alone any signature problem means "
                               "DMARC rejects the mail (RFC 7489 §4.2)",
                               "" if status == OK else DNS_APPLY.format(inv=ctx.inventory)))
    return out
