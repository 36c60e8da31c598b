"""What `mailops check` says: one :class:`Finding` per check, rendered for people or JSON.

Each finding says what was found and, for a problem, what was expected, why it
matters (the record's own reason where there is one), what it breaks and what
to run. Status ``ok`` (✓), ``fail`` (✗: something is
broken or insecure) or ``warn`` (!: could not be checked, or worth a look).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import dns.exception

OK, FAIL, WARN = "ok", "fail", "warn"
SYMBOL = {OK: "✓", FAIL: "✗", WARN: "!"}
DNS_APPLY = "mailops dns apply -i {inv}"
DEPLOY = "pyinfra {inv} deploy.py"
DKIM_START = "mailops dkim rotate {domain} -i {inv}"


@dataclass(frozen=True)
class Finding:
    subject: str  # the domain, or "host <fqdn>"
    check: str
    status: str
    found: str
    expected: str = ""
    breaks: str = ""
    fix: str = ""
    why: str = ""  # why the expected state matters (a record's reason, with its RFC)

    @property
    def symbol(self) -> str:
        return SYMBOL[self.status]

    def lines(self) -> list[str]:
        out = [f"{self.symbol} {self.check}: {self.found}"]
        if self.status != OK:
            for label, text in (("expected", self.expected), ("why", self.why),
                                ("breaks", self.breaks), ("fix", self.fix)):
                if text:
                    out.append(f"    {label + ':':<9} {text}")
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


def guard(subject: str, check: str, fn: Callable[[], list[Finding]]) -> list[Finding]:
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
