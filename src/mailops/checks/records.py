"""The DNS half of `mailops check`: what the authoritative servers serve, against the very
records `mailops dns plan` publishes (``mailops.dns.records.records_for_hosts``).

Nothing is recomputed here: every record the plan would publish — MX, the host's
A/AAAA, SPF, each DKIM selector, DMARC, report authorisations, MTA-STS TXT and
the ``mta-sts`` CNAME, TLS-RPT, and any record added there later — is asked from
each authoritative server of its zone (recursion off, as ``dns wait`` does) and
compared with the values mailops owns at that name. A server that serves other
values is a ✗ naming the server, with the record's own reason; one that does not
answer is a "!" (not checked).

SPF needs more than the comparison: the record may be the inventory's and still
not authorise the host (an address missing from ``ipv4``/``ipv6``), or be another
one that happens to. :func:`spf_authorises` evaluates it (RFC 7208 §4.6), asking
names outside mailops's zones (an ``include:`` of a mail provider) through the
system resolver, so an authoritative-only ``MAILOPS_DNS_NAMESERVERS`` never turns
them into a false ✗.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.exception

from ..dns.query import Dns, DnsQueryError, txt_values
from ..dns.records import Record
from ..dns.wait import served_values
from .report import DNS_APPLY, FAIL, OK, WARN, Finding

# What each kind of record is called in the report, and what a wrong one breaks.
_KINDS = (
    # (test on the record, check name, what it breaks)
    (lambda r: r.type == "MX", "MX",
     "mail for the domain does not reach the hosts the inventory names"),
    (lambda r: r.match == "v=spf1", "SPF",
     "receivers judge the domain's mail by an SPF policy the inventory did not choose; "
     "with DMARC p=reject, mail that is not DKIM-aligned may be rejected"),
    (lambda r: "._domainkey." in r.name, "DKIM records",
     "receivers cannot verify signatures made with that key: DKIM fails, and with it DMARC "
     "where SPF does not align"),
    (lambda r: r.name.startswith("_dmarc."), "DMARC",
     "receivers apply a policy or send reports the inventory did not choose"),
    (lambda r: "._report._dmarc." in r.name, "DMARC report authorisation",
     "receivers do not send DMARC reports to an address in another domain (RFC 7489 §7.1)"),
    (lambda r: r.name.startswith("_mta-sts."), "MTA-STS record",
     "senders keep using the policy they cached (RFC 8461 §3.1), or ignore MTA-STS"),
    (lambda r: r.name.startswith("mta-sts."), "MTA-STS host",
     "senders cannot fetch the MTA-STS policy; a cached enforce policy expires and they "
     "fall back to opportunistic TLS"),
    (lambda r: r.name.startswith("_smtp._tls."), "TLS-RPT",
     "senders do not report failed TLS deliveries to the inventory's addresses"),
    (lambda r: r.type in ("A", "AAAA"), "{type} record",
     "senders connect to another address, or cannot find the mail host at all"),
)


def kind(record: Record) -> tuple[str, str]:
    """(check name, what a wrong record breaks)."""
    for test, name, breaks in _KINDS:
        if test(record):
            return name.format(type=record.type), breaks
    return f"{record.type} {record.name}", "receivers see records the inventory did not choose"


def subject(record: Record, hostnames: Sequence[str]) -> str:
    return f"host {record.name}" if record.name in hostnames else record.domain


def _show(values: Sequence[str]) -> str:
    return " | ".join(f'"{v}"' if " " in v or "=" in v else v for v in values) or "nothing"


def _short(value: str) -> str:
    return value if len(value) <= 80 else f"{value[:48]}…{value[-16:]}"


def served_by_each(dns_: Dns, record: Record) -> dict[str, tuple[str, ...] | None]:
    """server -> the values it serves for the record's key (None: it did not answer)."""
    return {f"{h}:{p}": served_values(record, h, p, dns_.timeout)
            for h, p in dns_.servers(record.zone)}


def compare(dns_: Dns, record: Record, inventory: str) -> tuple[str, str, str]:
    """(status, found, fix) of one record on every authoritative server of its zone."""
    try:
        served = served_by_each(dns_, record)
    except DnsQueryError as e:
        return WARN, f"not checked: {e}", ""
    want = tuple(sorted(record.values))
    wrong = {s: v for s, v in served.items() if v is not None and v != want}
    silent = [s for s, v in served.items() if v is None]
    name = f"{record.name} {record.type}"
    if wrong:
        seen = sorted(set(wrong.values()))
        where = ", ".join(wrong) if len(wrong) < len(served) else "every server"
        found = "; ".join(f"{name} is {_short(_show(v))}" for v in seen) + f" (on {where})"
        if seen == [()]:
            found = f"{name} missing (on {where})"
        return FAIL, found, DNS_APPLY.format(inv=inventory)
    if silent:
        return WARN, f"not checked: {', '.join(silent)} did not answer for {name}", ""
    return OK, f"{name} {_short(_show(want))}", ""


def check_records(dns_: Dns, records: Sequence[Record], hostnames: Sequence[str],
                  inventory: str, ips: dict[str, list[str]]) -> list[Finding]:
    """One finding per record kind and subject (the DKIM selectors of a domain together)."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        groups.setdefault((subject(r, hostnames), kind(r)[0]), []).append(r)
    out = []
    for (subj, check), recs in groups.items():
        results = [compare(dns_, r, inventory) for r in recs]
        status = FAIL if any(s == FAIL for s, _, _ in results) else (
            WARN if any(s == WARN for s, _, _ in results) else OK)
        found = "; ".join(f for s, f, _ in results if s == status)
        fix = next((x for s, _, x in results if x), "")
        if check == "SPF" and status != WARN:
            status, found = spf_verdict(dns_, recs[0], ips.get(recs[0].domain, []),
                                        status, found)
        breaks = kind(recs[0])[1]
        expected = "; ".join(f"{r.name} {r.type} {_short(_show(r.values))}" for r in recs)
        why = " ".join(r.reason for r in recs[:1])
        out.append(Finding(subj, check, status, found, expected,
                           breaks if status == FAIL else "", fix if status == FAIL else "",
                           why))
    return out


# --------------------------------------------------------------------------- SPF


def spf_verdict(dns_: Dns, record: Record, ips: Sequence[str], status: str, found: str
                ) -> tuple[str, str]:
    """The comparison's verdict, plus whether the served SPF authorises the host's addresses."""
    if not ips:
        return (WARN if status == OK else status,
                found + " (no ipv4/ipv6 in the inventory to test it against)")
    verdicts = {ip: spf_authorises(dns_, record.domain, ip) for ip in ips}
    refused = [ip for ip, v in verdicts.items() if v is False]
    unknown = [ip for ip, v in verdicts.items() if v is None]
    if refused:
        return FAIL, found + f"; it does not authorise {', '.join(refused)}"
    if unknown:
        return (WARN if status == OK else status,
                found + f"; could not evaluate it for {', '.join(unknown)} (a name it "
                "refers to did not resolve)")
    return status, found + (f"; authorises {', '.join(ips)}" if status == OK else "")


def spf_authorises(dns_: Dns, domain: str, ip: str, depth: int = 0) -> bool | None:
    """Does the domain's SPF record pass ``ip``? (RFC 7208 §4.6 terms; None = undecidable).

    Walks the mechanisms mailops writes or an operator adds (ip4, ip6, a, mx,
    include, redirect, all); another mechanism makes the answer undecidable.
    """
    if depth > 10:  # RFC 7208 §4.6.4
        return None
    try:
        records = [t for t in txt_values(dns_.answers(domain, "TXT"))
                   if t.lower().startswith("v=spf1")]
    except dns.exception.DNSException:
        return None
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
        if name.startswith("redirect="):
            redirect = mech.split("=", 1)[1]
            continue
        try:
            hit = _matches(dns_, name, arg or domain, addr, rtype, depth)
        except dns.exception.DNSException:
            return None
        if hit is None:
            return None
        if hit:
            return qualifier == "+"
    if redirect:
        return spf_authorises(dns_, redirect, ip, depth + 1)
    return False


def _matches(dns_: Dns, mech: str, target: str, addr, rtype: str, depth: int) -> bool | None:
    ip = str(addr)
    if mech in ("ip4", "ip6"):
        return addr in ipaddress.ip_network(target, strict=False)
    if mech == "a":
        return ip in {r.address for r in dns_.answers(target, rtype)}
    if mech == "mx":
        return any(ip in {r.address for r in dns_.answers(str(mx.exchange), rtype)}
                   for mx in dns_.answers(target, "MX"))
    if mech == "include":  # matches when the included record passes (RFC 7208 §5.2)
        return spf_authorises(dns_, target, ip, depth + 1)
    if mech == "all":
        return True
    if mech.startswith("exp="):
        return False
    return None
