"""Findings of the status checks, and what "changed since the last report" means.

A finding has a level (ok, warning, error), a ``state`` — a short phrase that names
the condition and nothing that moves by itself ("inactive (failed)", "deferred
mail waiting", "listed 127.0.0.2") — and a ``text`` for the reader with the numbers
of the moment (queue sizes, days left, percentages). The digest covers check, level
and state only: a report is mailed when a condition appears, changes or goes away,
not because a counter ticked or a day passed (Mail-in-a-Box mails its status checks
on the same principle: only what changed since the last run).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

OK, WARNING, ERROR = "ok", "warning", "error"
RANK = {OK: 0, WARNING: 1, ERROR: 2}


@dataclass(frozen=True)
class Finding:
    check: str  # unique per report: "service postfix.service", "dnsbl zen.spamhaus.org 192.0.2.1"
    level: str
    state: str  # stable: part of the digest
    text: str  # for people: may carry numbers that change every run

    def as_dict(self) -> dict:
        return asdict(self)


def _norm(state: str) -> str:
    return " ".join(state.lower().split())


def digest(findings: list[Finding]) -> str:
    """sha256 over (check, level, state) of every finding, in check order."""
    key = sorted((f.check, f.level, _norm(f.state)) for f in findings)
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def worst(findings: list[Finding]) -> str:
    return max((f.level for f in findings), key=RANK.__getitem__, default=OK)


@dataclass(frozen=True)
class Change:
    check: str
    before: dict | None  # the last report's finding (as_dict), None: new check
    after: Finding | None  # None: the check is gone (e.g. a service no longer managed)

    def line(self) -> str:
        if self.after is None:
            return f"{self.check}: no longer checked (was {self.before['level']}: " \
                   f"{self.before['state']})"
        if self.before is None:
            return f"{self.check}: new, {self.after.level}: {self.after.text}"
        return f"{self.check}: was {self.before['level']} ({self.before['state']}), " \
               f"now {self.after.level}: {self.after.text}"


def changes(previous: dict[str, dict], findings: list[Finding]) -> list[Change]:
    """What differs from the last sent report's findings (``check`` -> as_dict), worst first."""
    now = {f.check: f for f in findings}
    out = []
    for check in sorted(set(previous) | set(now)):
        before, after = previous.get(check), now.get(check)
        if after is not None and before is not None and before.get("level") == after.level \
                and _norm(before.get("state", "")) == _norm(after.state):
            continue
        out.append(Change(check, before, after))
    return sorted(out, key=lambda c: -RANK[c.after.level if c.after else OK])
