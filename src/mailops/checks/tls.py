"""The checks of `mailops check` that need more than DNS: TLS on the mail ports, the
MTA-STS policy over HTTPS, and the open-relay probe.

TLS and HTTPS are verified against the system trust store (``SSL_CERT_FILE``
overrides it, e.g. a lab CA), as a sending MTA or a mail client would.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..dns import mta_sts as sts
from ..dns.query import txt_values
from ..dns.records import mta_sts_policy
from .report import DEPLOY, DNS_APPLY, FAIL, OK, WARN, Finding, guard

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context

EXPIRY_MARGIN = dt.timedelta(days=14)
# Ports whose certificate a sender or a mail client verifies: MX (STARTTLS, RFC 3207;
# verified under MTA-STS/DANE), submission (STARTTLS, RFC 6409), submissions (implicit
# TLS, RFC 8314 §3.3) and IMAPS (RFC 8314).
TLS_PORTS = ((25, "starttls"), (465, "tls"), (587, "starttls"), (993, "tls"))


# --------------------------------------------------------------------------- pure verdicts


def relay_verdict(code: int, text: str, rcpt: str) -> tuple[str, str]:
    """(status, found) for the reply to an unauthenticated RCPT to an outside domain."""
    if 200 <= code < 300:
        return FAIL, f"accepted RCPT TO:<{rcpt}> from an unauthenticated client ({code} {text})"
    if code in (554, 550, 454) and "relay" in text.lower():
        return OK, f"refused relaying to <{rcpt}> ({code} {text})"
    return WARN, (f"RCPT TO:<{rcpt}> was refused for another reason ({code} {text}); "
                  "cannot tell whether relaying would be allowed")


def cert_verdict(not_after: dt.datetime, now: dt.datetime, verify_error: str | None
                 ) -> tuple[str, str]:
    """(status, found) for one served certificate."""
    left = not_after - now
    when = not_after.strftime("%Y-%m-%d %H:%M UTC")
    if left <= dt.timedelta(0):
        return FAIL, f"certificate expired on {when}"
    if verify_error:
        return FAIL, f"certificate not valid: {verify_error} (expires {when})"
    if left < EXPIRY_MARGIN:
        return FAIL, f"certificate expires in {left.days} day(s), on {when}"
    return OK, f"valid, expires {when} ({left.days} days)"


def policy_verdicts(domain: str, expected_text: str, served_text: str | None,
                    served_error: str, txt_ids: Sequence[str], mx_hosts: Sequence[str],
                    inv: str) -> list[Finding]:
    """MTA-STS: the record, the served policy and the MX, against each other (RFC 8461)."""
    from checkdmarc.mta_sts import mx_in_mta_sts_patterns, parse_mta_sts_policy

    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    want_id = sts.policy_id(expected_text)
    out = []
    if len(txt_ids) != 1:
        out.append(Finding(
            domain, "MTA-STS record", FAIL,
            f"{len(txt_ids)} v=STSv1 records at _mta-sts.{domain}",
            f'exactly one: "v=STSv1; id={want_id}"',
            "senders ignore MTA-STS for the domain (RFC 8461 §3.1): mail can be downgraded "
            "to plain text or sent to a forged MX", DNS_APPLY.format(inv=inv)))
        txt_id = None
    else:
        txt_id = txt_ids[0]
        status = OK if txt_id == want_id else FAIL
        out.append(Finding(
            domain, "MTA-STS record", status, f"id={txt_id}", f"id={want_id}",
            "" if status == OK else "senders keep using the policy they cached (RFC 8461 "
            "§3.1), not the inventory's", "" if status == OK else DNS_APPLY.format(inv=inv)))
    if served_text is None:
        out.append(Finding(
            domain, "MTA-STS policy", FAIL, f"{url}: {served_error}",
            "the policy over HTTPS with a valid certificate for "
            f"mta-sts.{domain}, no redirects (RFC 8461 §3.3)",
            "senders cannot fetch the policy; an enforce policy they cached expires and "
            "they fall back to opportunistic TLS", DEPLOY.format(inv=inv)))
        return out
    try:
        parsed = parse_mta_sts_policy(served_text)["policy"]
    except Exception as e:  # noqa: BLE001 - checkdmarc raises its own error classes
        out.append(Finding(domain, "MTA-STS policy", FAIL, f"{url}: invalid policy: {e}",
                           "a valid RFC 8461 §3.2 policy",
                           "senders treat the domain as having no policy",
                           DEPLOY.format(inv=inv)))
        return out
    problems = []
    if served_text != expected_text:
        problems.append(f"it differs from the inventory's (mode {parsed.get('mode')}, mx "
                        f"{', '.join(parsed.get('mx', []))}, max_age {parsed.get('max_age')})")
    if txt_id is not None and sts.policy_id(served_text) != txt_id:
        problems.append("it changed but the _mta-sts id was not bumped (senders that "
                        "cached the old policy never fetch this one, RFC 8461 §3.1)")
    missing = [m for m in mx_hosts if not mx_in_mta_sts_patterns(m, parsed.get("mx", []))]
    if missing:
        problems.append(f"MX {', '.join(missing)} matches no policy mx line (senders "
                        "enforcing it refuse to deliver there, RFC 8461 §4.1)")
    if problems:
        fix = (f"{DEPLOY.format(inv=inv)} (serves the inventory's policy), then "
               f"{DNS_APPLY.format(inv=inv)} (announces its id)")
        out.append(Finding(domain, "MTA-STS policy", FAIL, f"{url}: " + "; ".join(problems),
                           f"the inventory's policy, id {want_id}",
                           "senders enforce a policy that does not describe this mail "
                           "system: mail is deferred or not protected", fix))
    else:
        out.append(Finding(domain, "MTA-STS policy", OK,
                           f"served over valid HTTPS, mode {parsed.get('mode')}, matches MX "
                           "and the announced id"))
    return out


# --------------------------------------------------------------------------- network probes


def fetch_policy(domain: str, addresses: Sequence[str], timeout: float = 10.0
                 ) -> tuple[str | None, str]:
    """(policy text, "") or (None, why), as a sender fetches it (RFC 8461 §3.3): HTTPS
    verified for mta-sts.<domain>, 200 only (a redirect is a failure), text/plain.

    ``addresses``: what mta-sts.<domain> resolves to through the checked DNS (so a
    lab or split-horizon name works without touching this machine's resolver).
    """
    import http.client

    name = f"mta-sts.{domain}"
    if not addresses:
        return None, f"{name} has no address in DNS"
    ctx = ssl.create_default_context()
    last = ""
    for ip in addresses:
        conn = http.client.HTTPSConnection(name, 443, context=ctx, timeout=timeout)
        try:
            raw = socket.create_connection((ip, 443), timeout=timeout)
            conn.sock = ctx.wrap_socket(raw, server_hostname=name)
            conn.request("GET", "/.well-known/mta-sts.txt", headers={"Host": name})
            r = conn.getresponse()
            body = r.read(64 * 1024)
        except ssl.SSLCertVerificationError as e:
            last = f"{ip}: certificate not valid for {name}: {e.verify_message}"
            continue
        except (OSError, http.client.HTTPException) as e:
            last = f"{ip}: {e}"
            continue
        finally:
            conn.close()
        if r.status != 200:
            return None, f"HTTP {r.status} {r.reason} (senders accept only 200, no redirects)"
        ctype = (r.headers.get_content_type() if r.headers else "")
        if ctype != "text/plain":
            return None, f"served as {ctype}, not text/plain (RFC 8461 §3.3)"
        try:
            return body.decode(), ""
        except UnicodeDecodeError:
            return None, "the body is not UTF-8 text"
    return None, last


def served_certificate(address: str, port: int, mode: str, hostname: str,
                       timeout: float = 10.0) -> tuple[bytes, str | None]:
    """(DER certificate, verification error or None) as a client of that port sees it."""
    raw_ctx = ssl.create_default_context()
    raw_ctx.check_hostname = False
    raw_ctx.verify_mode = ssl.CERT_NONE

    def handshake(ctx: ssl.SSLContext) -> bytes:
        if port in (25, 587):
            with smtplib.SMTP(address, port, timeout=timeout, local_hostname=_helo()) as s:
                s._host = hostname  # the name STARTTLS verifies (SNI), not the address
                s.starttls(context=ctx)
                return s.sock.getpeercert(binary_form=True)
        if mode == "starttls":  # pragma: no cover - only SMTP ports use STARTTLS here
            raise ValueError(port)
        with socket.create_connection((address, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=hostname) as tls:
                return tls.getpeercert(binary_form=True)

    der = handshake(raw_ctx)
    try:
        handshake(ssl.create_default_context())
    except ssl.SSLCertVerificationError as e:
        return der, e.verify_message or str(e)
    except (ssl.SSLError, smtplib.SMTPException) as e:
        return der, str(e)
    return der, None


def _helo() -> str:
    return socket.getfqdn() if "." in socket.getfqdn() else "mailops-check.invalid"


def relay_probe(address: str, rcpt: str, timeout: float = 15.0) -> tuple[int, str]:
    """MAIL FROM:<> and RCPT TO an outside address on port 25, unauthenticated; never DATA."""
    with smtplib.SMTP(address, 25, timeout=timeout, local_hostname=_helo()) as s:
        s.ehlo()
        s.mail("")
        code, text = s.rcpt(rcpt)
        s.rset()
        return code, text.decode(errors="replace")


# --------------------------------------------------------------------------- the checks


def check_mta_sts(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    """The policy a sender fetches, against the inventory's and the announced id.

    The ``_mta-sts`` record and the ``mta-sts`` CNAME themselves are compared with
    the published records by checks.records; this adds what only HTTPS shows.
    """
    d = serving[0].settings.domain(domain)
    if d.mta_sts.mode == "none":
        return []
    expected = mta_sts_policy([h.settings for h in serving], domain)  # what the deploy serves
    records = [t for t in txt_values(ctx.dns.answers(f"_mta-sts.{domain}", "TXT"))
               if t.lower().startswith("v=stsv1")]
    ids = []
    for t in records:
        tags = dict(p.strip().split("=", 1) for p in t.split(";") if "=" in p)
        ids.append(tags.get("id", ""))
    text, error = fetch_policy(domain, ctx.dns.addresses(f"mta-sts.{domain}"))
    mx = sorted({h.settings.hostname for h in serving})
    return [f for f in policy_verdicts(domain, expected, text, error, ids, mx, ctx.inventory)
            if f.check == "MTA-STS policy"]


def check_certificates(ctx: Context, h: MailHost) -> list[Finding]:
    from cryptography import x509

    subject = f"host {h.settings.hostname}"
    address = (h.settings.ipv4 or h.settings.ipv6 or (h.settings.hostname,))[0]
    out = []
    for port, mode in TLS_PORTS:
        def one(port=port, mode=mode) -> list[Finding]:
            der, error = served_certificate(address, port, mode, h.settings.hostname)
            cert = x509.load_der_x509_certificate(der)
            if error is None:
                error = _name_error(cert, h.settings.hostname)
            status, found = cert_verdict(cert.not_valid_after_utc, ctx.now, error)
            return [Finding(subject, f"TLS certificate on {port}", status, found,
                            f"a certificate for {h.settings.hostname} that verifies and "
                            f"is valid for {EXPIRY_MARGIN.days}+ days",
                            "" if status == OK else "mail clients refuse to connect; "
                            "senders enforcing MTA-STS or DANE defer mail (RFC 8461 §4.2)",
                            "" if status == OK else _cert_fix(h, ctx.inventory))]
        out += guard(subject, f"TLS certificate on {port}", one)
    return out


def _name_error(cert, hostname: str) -> str | None:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if hostname in names or any(n.startswith("*.") and hostname.split(".", 1)[1] == n[2:]
                                for n in names):
        return None
    return f"issued for {', '.join(names) or 'no DNS name'}, not {hostname}"


def _cert_fix(h: MailHost, inv: str) -> str:
    if h.settings.tls.mode == "acme":
        return (f"on {h.settings.hostname}: `certbot renew --cert-name mailops` (see "
                "`journalctl -u certbot`), or re-run the deploy: " + DEPLOY.format(inv=inv))
    return f"put a valid certificate in tls.cert_file/key_file, then {DEPLOY.format(inv=inv)}"


def check_relay(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    address = (h.settings.ipv4 or h.settings.ipv6 or (h.settings.hostname,))[0]

    def one() -> list[Finding]:
        code, text = relay_probe(address, ctx.relay_rcpt)
        status, found = relay_verdict(code, text, ctx.relay_rcpt)
        return [Finding(subject, "open relay", status, found,
                        "554 5.7.1 Relay access denied to unauthenticated clients",
                        "" if status != FAIL else "anyone can send spam through the host; it "
                        "gets blocklisted within hours",
                        "" if status != FAIL else "remove the client's network from "
                        "mynetworks / smtpd_relay_restrictions, then "
                        + DEPLOY.format(inv=ctx.inventory))]
    return guard(subject, "open relay", one)


