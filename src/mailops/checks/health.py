"""The host's inbound health, read on the host over SSH: disk space, the mail queue, and
whether each DNS blocklist of the inventory answers the host's own resolver correctly.

A blocklist that refuses the resolver (Spamhaus answers 127.255.255.254 to queries
from public or shared resolvers) or does not answer at all silently stops protecting
the host; RFC 5782 §5 gives every list a test entry to detect that: 127.0.0.2 must be
listed, 127.0.0.1 must not.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from ..onhost.status.dnsbl import REFUSAL_NET
from ..services.dovecot import VMAIL_HOME as MAIL_STORE
from .report import DEPLOY, FAIL, OK, WARN, Finding

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context

# Disk: ✗ at or above FULL percent used (Postfix stops accepting mail when the queue file
# system runs low, queue_minfree), ! at or above LOW.
DISK_LOW, DISK_FULL = 80, 90
# Queue: ! from QUEUE_LARGE messages (a backlog: a receiver or the filter is failing).
QUEUE_LARGE = 500
SPOOL = "/var/spool/postfix"

_OCTET = re.compile(r"^(\d+)$|^\[(\d+)\.\.(\d+)\]$|^\[([\d;]+)\]$")


def filter_matches(pattern: str, address: str) -> bool:
    """Does an A record match a postscreen DNSBL filter such as 127.0.0.[2..11]?"""
    octets = address.split(".")
    parts = re.findall(r"\[[^\]]*\]|\d+", pattern)
    if len(parts) != 4:
        return False
    for part, value in zip(parts, octets, strict=True):
        m = _OCTET.match(part)
        v = int(value)
        if not m:
            return False
        if m.group(1) is not None and v != int(m.group(1)):
            return False
        if m.group(2) is not None and not int(m.group(2)) <= v <= int(m.group(3)):
            return False
        if m.group(4) is not None and v not in {int(x) for x in m.group(4).split(";")}:
            return False
    return True


def _script(zones: list[str]) -> str:
    lines = [f"df -P {SPOOL} {MAIL_STORE} | awk 'NR>1 {{print \"disk\", $6, $5}}' | sort -u",
             "echo queue $(postqueue -j 2>/dev/null | wc -l)"]
    for zone in zones:
        for probe in ("2.0.0.127", "1.0.0.127"):
            lines.append(f"echo dnsbl {zone} {probe} $(getent ahostsv4 {probe}.{zone} "
                         "| awk '{print $1}' | sort -u)")
    return "; ".join(lines)


def check_host_health(ctx: Context, h: MailHost) -> list[Finding]:
    subject = f"host {h.settings.hostname}"
    if ctx.probe is None:
        return [Finding(subject, "disk, queue, DNSBL", WARN,
                        "not checked: probes on the host were turned off")]
    from ..hosts import connect

    sites = [s.split("*")[0].split("=") for s in h.settings.inbound.dnsbl]
    out_text = connect.run(h, ["sh", "-c", _script([z for z, _ in sites])]).stdout
    out: list[Finding] = []
    answers: dict[tuple[str, str], list[str]] = {}
    for line in out_text.splitlines():
        word, *rest = line.split()
        if word == "disk":
            mount, used = rest[0], int(rest[1].rstrip("%"))
            status = FAIL if used >= DISK_FULL else WARN if used >= DISK_LOW else OK
            out.append(Finding(subject, f"disk {mount}", status, f"{used}% used",
                               *(() if status == OK else (
                                   f"below {DISK_LOW}% used",
                                   "a full spool makes Postfix refuse mail (4.3.1); a full "
                                   "mail store makes deliveries fail",
                                   "free space or grow the file system"))))
        elif word == "queue":
            n = int(rest[0])
            out.append(Finding(subject, "mail queue", WARN if n >= QUEUE_LARGE else OK,
                               f"{n} message(s) queued",
                               *(() if n < QUEUE_LARGE else (
                                   f"fewer than {QUEUE_LARGE}",
                                   "a backlog delays mail; it often means a receiver, the "
                                   "resolver or rspamd is failing",
                                   "look at `postqueue -p` and the mail log"))))
        elif word == "dnsbl":
            answers[(rest[0], rest[1])] = rest[2:]
    for zone, codes in sites:
        out.append(_dnsbl_finding(subject, zone, codes, answers.get((zone, "2.0.0.127"), []),
                                  answers.get((zone, "1.0.0.127"), []), ctx.inventory))
    return out


def _dnsbl_finding(subject: str, zone: str, codes: str, listed: list[str],
                   unlisted: list[str], inventory: str) -> Finding:
    check = f"DNSBL {zone} through the host's resolver"
    refused = [a for a in listed + unlisted if ipaddress.ip_address(a) in REFUSAL_NET]
    if refused:
        return Finding(subject, check, FAIL, f"the list answers {', '.join(refused)}: it "
                       "refuses this resolver's queries", "127.0.0.2 listed with a code "
                       f"in {codes}", "postscreen gets no listings from it: spam from listed "
                       "clients is let in", "use the host's own resolver without forwarders "
                       "(resolver.forwarders) or the list's paid access, then "
                       + DEPLOY.format(inv=inventory))
    if not any(filter_matches(codes, a) for a in listed) or unlisted:
        found = (f"127.0.0.2 -> {', '.join(listed) or 'not listed'}, "
                 f"127.0.0.1 -> {', '.join(unlisted) or 'not listed'}")
        return Finding(subject, check, FAIL, found,
                       f"the RFC 5782 §5 test entry 127.0.0.2 listed with a code in {codes}, "
                       "127.0.0.1 not listed", "postscreen's DNSBL test does not work",
                       "check the zone name and return codes in inbound.dnsbl and that the "
                       "host's resolver (unbound) answers")
    return Finding(subject, check, OK, f"test entry 127.0.0.2 listed ({', '.join(listed)})")
