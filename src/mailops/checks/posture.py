"""`mailops check`: is the mail system, as the world sees it, what the inventory says?

One :class:`Finding` per check, per hosted domain and per mail host, each saying what
was found, what was expected, what it breaks and what to run to fix it (DESIGN.md
convention 8). Status ``ok`` (✓), ``fail`` (✗: something is broken or insecure) or
``warn`` (!: could not be checked, or worth a look).

Parsers are the well-kept libraries', not ours: checkdmarc (SPF, DMARC, TLS-RPT,
MTA-STS record and policy syntax), dnspython, the standard library's ssl/smtplib.
DNS: MAILOPS_DNS_NAMESERVERS (host:port,…; tests, split horizon) answers everything;
otherwise the records mailops publishes are read from their zone's authoritative
servers (the freshest truth, as mailops.dns.wait does) and everything else (PTR,
blocklists, SPF includes) through the system resolver. HTTPS and TLS are verified
against the system trust store (SSL_CERT_FILE overrides it, e.g. a lab CA).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import dns.exception
import dns.nameserver
import dns.resolver
import dns.reversename

from ..dkim.keystore import Keystore
from ..dns import mta_sts as sts
from ..dns.providers.base import join_txt
from ..dns.records import canonical, dmarc_value, mta_sts_policy, spf_value, tlsrpt_value
from ..dns.wait import ENV as NAMESERVERS_ENV
from ..dns.wait import WaitError, nameservers_for, parse_servers
from ..inventory import InventoryHost as MailHost
from ..inventory import domains_of

OK, FAIL, WARN = "ok", "fail", "warn"
SYMBOL = {OK: "✓", FAIL: "✗", WARN: "!"}
EXPIRY_MARGIN = dt.timedelta(days=14)
# Ports whose certificate a sender or a mail client verifies: MX (STARTTLS, RFC 3207;
# verified under MTA-STS/DANE), submission (STARTTLS, RFC 6409), submissions (implicit
# TLS, RFC 8314 §3.3) and IMAPS (RFC 8314).
TLS_PORTS = ((25, "starttls"), (465, "tls"), (587, "starttls"), (993, "tls"))
DNS_APPLY = "mailops dns apply -i {inv}"
DEPLOY = "pyinfra {inv} deploy.py"


@dataclass(frozen=True)
class Finding:
    subject: str  # the domain, or "host <fqdn>"
    check: str
    status: str
    found: str
    expected: str = ""
    breaks: str = ""
    fix: str = ""

    @property
    def symbol(self) -> str:
        return SYMBOL[self.status]

    def lines(self) -> list[str]:
        out = [f"{self.symbol} {self.check}: {self.found}"]
        if self.status != OK:
            if self.expected:
                out.append(f"    expected: {self.expected}")
            if self.breaks:
                out.append(f"    breaks:   {self.breaks}")
            if self.fix:
                out.append(f"    fix:      {self.fix}")
        return out

    def as_dict(self) -> dict:
        return {**asdict(self), "symbol": self.symbol}


def render(findings: Sequence[Finding]) -> str:
    """The human report: one block per subject, one line (plus details) per check."""
    out: list[str] = []
    for subject in dict.fromkeys(f.subject for f in findings):
        out.append(subject)
        for f in findings:
            if f.subject == subject:
                out += ["  " + line for line in f.lines()]
    failed = sum(f.status == FAIL for f in findings)
    warned = sum(f.status == WARN for f in findings)
    out.append(f"{len(findings)} checks: {len(findings) - failed - warned} ✓, {failed} ✗, "
               f"{warned} !")
    return "\n".join(out)


# --------------------------------------------------------------------------- DNS


class Dns:
    """Where each question goes (see the module docstring)."""

    def __init__(self, timeout: float = 3.0):
        self.timeout = timeout
        self.override = parse_servers(os.environ.get(NAMESERVERS_ENV, ""))
        self._auth: dict[str, dns.resolver.Resolver] = {}

    def _resolver(self, servers: Sequence[tuple[str, int]] | None) -> dns.resolver.Resolver:
        if servers:
            r = dns.resolver.Resolver(configure=False)
            r.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
        else:
            r = dns.resolver.Resolver()
        r.timeout = r.lifetime = self.timeout
        return r

    @property
    def general(self) -> dns.resolver.Resolver:
        return self._resolver(self.override)

    def authoritative(self, zone: str) -> dns.resolver.Resolver:
        if self.override:
            return self.general
        if zone not in self._auth:
            try:
                self._auth[zone] = self._resolver(nameservers_for(zone))
            except WaitError:
                self._auth[zone] = self.general
        return self._auth[zone]

    @staticmethod
    def answers(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list:
        """The rdatas, [] for NXDOMAIN / no data; DNSException for anything else."""
        try:
            return list(resolver.resolve(name, rdtype, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []


def txt_values(rdatas: Iterable) -> list[str]:
    return [join_txt(r.strings) for r in rdatas]


# --------------------------------------------------------------------------- pure verdicts


def blocklist_query(ip: str, zone: str) -> str:
    """The name a DNSBL answers for an address (RFC 5782 §2.1 IPv4, §2.4 IPv6 nibbles)."""
    rev = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
    suffix = ".in-addr.arpa" if ipaddress.ip_address(ip).version == 4 else ".ip6.arpa"
    return f"{rev[: -len(suffix)]}.{zone}"


def is_listing(addresses: Iterable[str]) -> bool:
    """RFC 5782 §2.1: a listing is an A record in 127.0.0.0/8 (127.255.255.x are the
    lists' own error codes, e.g. Spamhaus "query refused", not listings)."""
    return any(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8")
               and not a.startswith("127.255.255.") for a in addresses)


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


@dataclass
class Context:
    inventory: str
    hosts: list[MailHost]
    dns: Dns
    relay_rcpt: str
    now: dt.datetime
    probe: Callable | None  # mailops.checks.dkim_probe.probe_signing, if present


def _guard(subject: str, check: str, fn: Callable[[], list[Finding]]) -> list[Finding]:
    """A check that crashes reports "!" (not checked) instead of stopping the others."""
    try:
        return fn()
    except dns.exception.DNSException as e:
        return [Finding(subject, check, WARN, f"not checked: DNS lookup failed ({e})")]
    except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
        return [Finding(subject, check, FAIL, f"could not connect: {e}",
                        "the service to answer", "clients and senders cannot reach it",
                        "check that the host is up and the service is running")]
    except Exception as e:  # noqa: BLE001 - one broken check must not hide the others
        return [Finding(subject, check, WARN, f"not checked: {type(e).__name__}: {e}")]


def check_mx(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    zone = serving[0].settings.domain(domain).dns.zone
    found = sorted(str(r.exchange).rstrip(".").lower()
                   for r in Dns.answers(ctx.dns.authoritative(zone), domain, "MX"))
    want = sorted({h.settings.hostname for h in serving})
    missing = [h for h in want if h not in found]
    if missing or not found:
        return [Finding(domain, "MX", FAIL, f"MX {', '.join(found) or 'none'}",
                        f"MX {', '.join(want)}",
                        f"mail for {domain} does not reach {', '.join(missing or want)}",
                        DNS_APPLY.format(inv=ctx.inventory))]
    extra = [h for h in found if h not in want]
    note = f" (also {', '.join(extra)}, not in the inventory)" if extra else ""
    return [Finding(domain, "MX", WARN if extra else OK, f"MX {', '.join(found)}{note}",
                    f"MX {', '.join(want)}", "mail may go to a host mailops does not manage"
                    if extra else "", DNS_APPLY.format(inv=ctx.inventory) if extra else "")]


def _spf_authorises(ctx: Context, domain: str, ip: str, depth: int = 0) -> bool | None:
    """Does the domain's SPF record pass `ip`? (RFC 7208 §4.6 terms; None = undecidable).

    checkdmarc validated the syntax; this walks only the mechanisms mailops
    writes or an operator adds (ip4, ip6, a, mx, include, redirect, all).
    """
    if depth > 10:  # RFC 7208 §4.6.4
        return None
    records = [t for t in txt_values(Dns.answers(ctx.dns.general, domain, "TXT"))
               if t.lower().startswith("v=spf1")]
    if len(records) != 1:
        return None
    addr = ipaddress.ip_address(ip)
    rtype = "A" if addr.version == 4 else "AAAA"
    redirect = None
    for term in records[0].split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        mech = term.lstrip("+-~?")
        name, _, arg = mech.partition(":")
        name = name.lower()
        hit = False
        if name.startswith("redirect="):
            redirect = mech.split("=", 1)[1]
            continue
        if name in ("ip4", "ip6"):
            hit = addr in ipaddress.ip_network(arg, strict=False)
        elif name == "a":
            hit = ip in {r.address for r in Dns.answers(ctx.dns.general, arg or domain, rtype)}
        elif name == "mx":
            for mx in Dns.answers(ctx.dns.general, arg or domain, "MX"):
                target = str(mx.exchange)
                if ip in {r.address for r in Dns.answers(ctx.dns.general, target, rtype)}:
                    hit = True
        elif name == "include":
            hit = _spf_authorises(ctx, arg, ip, depth + 1) is True
        elif name == "all":
            hit = True
        if hit:
            return qualifier == "+"
    if redirect:
        return _spf_authorises(ctx, redirect, ip, depth + 1)
    return False


def check_spf(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    from checkdmarc.spf import check_spf as cd_check_spf

    want = spf_value(serving[0].settings.domain(domain))
    result = cd_check_spf(domain, resolver=ctx.dns.general)
    fix = DNS_APPLY.format(inv=ctx.inventory)
    if not result.get("valid"):
        return [Finding(domain, "SPF", FAIL, result.get("error") or "invalid SPF record",
                        f'"{want}"', f"receivers treat {domain}'s mail as SPF none/permerror; "
                        "with DMARC p=reject, mail that is not DKIM-aligned is rejected", fix)]
    ips = [ip for h in serving for ip in (*h.settings.ipv4, *h.settings.ipv6)]
    refused = [ip for ip in ips if _spf_authorises(ctx, domain, ip) is not True]
    if refused:
        return [Finding(domain, "SPF", FAIL,
                        f'"{result["record"]}" does not authorise {", ".join(refused)}',
                        f'"{want}" (authorises the mail host)',
                        f"receivers see SPF fail for mail {domain} sends; DMARC then rests "
                        "on DKIM alone", fix)]
    if not ips:
        return [Finding(domain, "SPF", WARN, f'"{result["record"]}" is valid',
                        "the host's addresses in the inventory (ipv4/ipv6) to test against")]
    return [Finding(domain, "SPF", OK,
                    f'"{result["record"]}" authorises {", ".join(ips)}')]


def check_dkim(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    settings = serving[0].settings
    ks = Keystore(settings.keystore)
    zone = settings.domain(domain).dns.zone
    res = ctx.dns.authoritative(zone)
    out = []
    published = ks.published(domain)
    if not published:
        return [Finding(domain, "DKIM", FAIL, "no key in the keystore",
                        "an active DKIM key", "mail is not DKIM-signed; DMARC fails "
                        "where SPF does not align", DEPLOY.format(inv=ctx.inventory))]
    bad = []
    for key in published:
        values = txt_values(Dns.answers(res, key.record_name, "TXT"))
        if values != [key.txt_value]:
            bad.append(f"{key.record_name} " + ("missing" if not values else
                                                "does not match the keystore's key"))
    if bad:
        out.append(Finding(domain, "DKIM records", FAIL, "; ".join(bad),
                           "each published selector's TXT = its key in the keystore",
                           "receivers cannot verify signatures made with that key: DKIM "
                           "fails, and with it DMARC where SPF does not align",
                           DNS_APPLY.format(inv=ctx.inventory)))
    else:
        out.append(Finding(domain, "DKIM records", OK, "selector(s) "
                           + ", ".join(k.selector for k in published)
                           + " published as in the keystore"))
    active = ks.signing_key(domain)
    if ctx.probe is None:
        out.append(Finding(domain, "DKIM signing", WARN,
                           "not checked: this mailops has no signing probe "
                           "(mailops.checks.dkim_probe)"))
    elif active is None:
        out.append(Finding(domain, "DKIM signing", FAIL, "no active key in the keystore",
                           "one active key", "mail is not signed",
                           DEPLOY.format(inv=ctx.inventory)))
    else:
        try:
            ctx.probe(serving, domain, active)
            out.append(Finding(domain, "DKIM signing", OK,
                               f"a fresh probe signed with {active.selector} verifies"))
        except Exception as e:  # noqa: BLE001 - ProbeFailed, SSH errors: all reported
            out.append(Finding(domain, "DKIM signing", FAIL, str(e)[:500],
                               f"the host signs with {active.selector} and it verifies",
                               "receivers see no valid DKIM signature",
                               DEPLOY.format(inv=ctx.inventory)))
    return out


def check_dmarc(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    from checkdmarc.dmarc import check_dmarc as cd_check_dmarc

    result = cd_check_dmarc(domain, resolver=ctx.dns.general)
    if not result.get("valid"):
        return [Finding(domain, "DMARC", FAIL, result.get("error") or "invalid DMARC record",
                        "a valid v=DMARC1 record at _dmarc", "receivers apply no policy to "
                        f"forged mail from {domain} and send no reports",
                        DNS_APPLY.format(inv=ctx.inventory))]
    want = dmarc_value(serving[0].settings.domain(domain))
    return [drift_verdict(domain, "DMARC", result["record"], want, ctx.inventory)
            or Finding(domain, "DMARC", OK, f'"{result["record"]}"')]


def drift_verdict(domain: str, check: str, found: str, want: str,
                  inventory: str) -> Finding | None:
    """A valid record that is not the one the inventory asks for is still wrong."""
    if canonical("TXT", found) == canonical("TXT", want):
        return None
    return Finding(domain, check, FAIL, f'"{found}"', f'"{want}" (from the inventory)',
                   "receivers apply a policy or send reports the inventory did not choose",
                   DNS_APPLY.format(inv=inventory))


def check_tlsrpt(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    from checkdmarc.smtp_tls_reporting import check_smtp_tls_reporting

    if not serving[0].settings.domain(domain).tlsrpt_rua:
        return []
    result = check_smtp_tls_reporting(domain, resolver=ctx.dns.general)
    if not result.get("valid"):
        return [Finding(domain, "TLS-RPT", FAIL, result.get("error") or "invalid record",
                        "a valid v=TLSRPTv1 record at _smtp._tls (RFC 8460 §3)",
                        "senders do not report failed TLS deliveries to you",
                        DNS_APPLY.format(inv=ctx.inventory))]
    rua = ", ".join(result.get("tags", {}).get("rua", {}).get("value", []))
    want = tlsrpt_value(serving[0].settings.domain(domain))
    drift = result.get("record") and drift_verdict(domain, "TLS-RPT", result["record"], want,
                                                   ctx.inventory)
    return [drift or Finding(domain, "TLS-RPT", OK, f"valid, reports to {rua}")]


def check_mta_sts(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    d = serving[0].settings.domain(domain)
    if d.mta_sts.mode == "none":
        return []
    expected = mta_sts_policy([h.settings for h in serving], domain)
    records = [t for t in txt_values(Dns.answers(ctx.dns.authoritative(d.dns.zone),
                                                 f"_mta-sts.{domain}", "TXT"))
               if t.lower().startswith("v=stsv1")]
    ids = []
    for t in records:
        tags = dict(p.strip().split("=", 1) for p in t.split(";") if "=" in p)
        ids.append(tags.get("id", ""))
    name = f"mta-sts.{domain}"
    addresses = [r.address for t in ("A", "AAAA")
                 for r in Dns.answers(ctx.dns.general, name, t)]
    text, error = fetch_policy(domain, addresses)
    mx = sorted({h.settings.hostname for h in serving})
    return policy_verdicts(domain, expected, text, error, ids, mx, ctx.inventory)


def check_fcrdns(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    out = []
    ips = [*h.settings.ipv4, *h.settings.ipv6]
    if not ips:
        return [Finding(subject, "reverse DNS", WARN, "not checked: no ipv4/ipv6 in the "
                        "inventory")]
    for ip in ips:
        names = [str(r.target).rstrip(".").lower() for r in Dns.answers(
            ctx.dns.general, dns.reversename.from_address(ip).to_text(), "PTR")]
        rtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
        confirmed = [n for n in names if ip in {
            r.address for r in Dns.answers(ctx.dns.general, n, rtype)}]
        if h.settings.hostname in confirmed:
            out.append(Finding(subject, "reverse DNS", OK,
                               f"{ip} -> {h.settings.hostname} -> {ip}"))
        else:
            out.append(Finding(
                subject, "reverse DNS", FAIL,
                f"{ip} -> {', '.join(names) or 'no PTR'}"
                + (f" (forward-confirmed: {', '.join(confirmed)})" if confirmed else ""),
                f"PTR {h.settings.hostname}, whose address is {ip}",
                "many receivers reject or junk mail from addresses without matching "
                "forward-confirmed reverse DNS (RFC 8601 §2.7.3 iprev; RFC 1912 §2.1)",
                "ask whoever owns the address (your hosting provider) to set its PTR to "
                f"{h.settings.hostname}"))
    return out


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
        out += _guard(subject, f"TLS certificate on {port}", one)
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
    return _guard(subject, "open relay", one)


def check_blocklists(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    out = []
    for zone in h.settings.blocklists:
        for ip in (*h.settings.ipv4, *h.settings.ipv6):
            def one(zone=zone, ip=ip) -> list[Finding]:
                name = blocklist_query(ip, zone)
                found = [r.address for r in Dns.answers(ctx.dns.general, name, "A")]
                if is_listing(found):
                    why = txt_values(Dns.answers(ctx.dns.general, name, "TXT"))
                    return [Finding(subject, f"blocklist {zone}", FAIL,
                                    f"{ip} is listed ({', '.join(found)}"
                                    + (f": {why[0]}" if why else "") + ")",
                                    "not listed", "receivers using the list reject the "
                                    "host's mail", f"find out why (see the list's site for "
                                    f"{ip}), fix the cause, then request delisting")]
                return [Finding(subject, f"blocklist {zone}", OK, f"{ip} is not listed")]
            out += _guard(subject, f"blocklist {zone}", one)
    return out


DOMAIN_CHECKS = (check_mx, check_spf, check_dkim, check_dmarc, check_mta_sts, check_tlsrpt)
HOST_CHECKS = (check_fcrdns, check_certificates, check_relay, check_blocklists)


def dkim_probe() -> Callable | None:
    """mailops.checks.dkim_probe.probe_signing, imported lazily (absent: None)."""
    try:
        from .dkim_probe import probe_signing
    except ImportError:
        return None
    return probe_signing


def run_checks(inventory: str, hosts: list[MailHost], only: Sequence[str] = (),
               relay_rcpt: str = "", now: dt.datetime | None = None,
               probe: Callable | None | bool = True) -> list[Finding]:
    ctx = Context(inventory=inventory, hosts=hosts, dns=Dns(),
                  relay_rcpt=relay_rcpt or "mailops-relay-probe@gmail.com",
                  now=now or dt.datetime.now(dt.UTC),
                  probe=dkim_probe() if probe is True else (probe or None))
    out: list[Finding] = []
    for domain, serving in sorted(domains_of(hosts).items()):
        if only and domain not in only:
            continue
        for fn in DOMAIN_CHECKS:
            name = fn.__name__.removeprefix("check_").upper().replace("_", "-")
            out += _guard(domain, name, lambda fn=fn, d=domain, s=serving: fn(ctx, d, s))
    for h in hosts:
        if only and not ({d.name for d in h.settings.domains} & set(only)):
            continue
        for fn in HOST_CHECKS:
            out += _guard(h.settings.hostname, fn.__name__,
                          lambda fn=fn, h=h: fn(ctx, h))
    return out
