"""What a rotation did, or would do, and where each key stands: the text an operator reads.

:class:`DomainResult` collects one run's steps for one domain (the steps in
transitions.py fill it in; a dry run's steps read "would …"); :func:`format_results`
prints them; :func:`status_table` is `mailops dkim status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .keystore import ACTIVE, PENDING, RETIRED, RETIRING, Key, Keystore, fmt_time
from .plan import START_COMMAND


def days(td: timedelta) -> str:
    secs = int(td.total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}d"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    return f"{secs}s"


@dataclass
class DomainResult:
    """What one run did (or, in a dry run, would do) for one domain."""

    domain: str
    dry_run: bool = False
    ok: bool = True
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated: str | None = None
    activated: str | None = None
    retiring: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    error: str | None = None

    def step(self, text: str) -> None:
        self.steps.append(("would " + text) if self.dry_run else text)

    def fail(self, message: str) -> None:
        self.ok = False
        self.error = message

    @property
    def outcome(self) -> str:
        if not self.ok:
            return "FAILED"
        if self.dry_run:
            return "DRY RUN"
        parts = []
        if self.activated:
            parts.append("ROTATED")
        if self.retired:
            parts.append("RETIRED OLD KEYS")
        return " + ".join(parts) or "NOTHING TO DO"

    def summary(self) -> str:
        if not self.ok:
            return f"{self.domain}: FAILED — {self.error}"
        if self.dry_run:
            return f"{self.domain}: DRY RUN — {len(self.steps)} step(s), nothing changed"
        bits = []
        if self.activated:
            bits.append(f"{self.activated} is now active")
        if self.retiring:
            bits.append(f"{', '.join(self.retiring)} retiring")
        if self.retired:
            bits.append(f"{', '.join(self.retired)} withdrawn and destroyed")
        return f"{self.domain}: {self.outcome}" + (f" — {'; '.join(bits)}" if bits else "")


def format_results(results: Sequence[DomainResult]) -> str:
    lines = []
    for r in results:
        lines.append(r.summary())
        lines.extend(f"    - {s}" for s in r.steps)
        lines.extend(f"    ! {n}" for n in r.notes)
    failed = [r.domain for r in results if not r.ok]
    lines.append(
        f"{len(results)} domain(s): {len(results) - len(failed)} ok, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- status


def next_step(key: Key, now: datetime) -> tuple[str, str]:
    """(what happens next to this key, when)."""
    if key.state == PENDING:
        if key.progress and key.progress[-1][0] == "probe-failed":
            return "probe failed: fix the hosts, `dkim rotate` retries", "next dkim rotate"
        for step, text in (
            ("deployed", "probe on the hosts, then activate"),
            ("visible", "deploy to the hosts, probe, activate"),
            ("published", "wait until every authoritative server serves the record"),
        ):
            if key.done(step):
                return text, "next dkim rotate"
        return "publish the TXT record", "next dkim rotate"
    if key.state == ACTIVE:
        return "signs; replace with `mailops dkim rotate`", "when you choose"
    if key.state == RETIRING:
        if key.done("withdrawn"):
            return "destroy the private key on the hosts", "next dkim rotate / dkim retire"
        when = fmt_time(key.retire_after) if key.retire_after else "?"
        if key.retire_after and key.retire_after <= now:
            when += " (due)"
        return "withdraw the TXT record, destroy the private key", when
    if key.state == RETIRED:
        return "-", "-"
    return "?", "?"


def status_table(keystore: Keystore, domains: Sequence[str], now: datetime) -> str:
    """A table per domain: selector, algorithm, state, since, next step, when."""
    header = ("SELECTOR", "ALGORITHM", "STATE", "SINCE", "NEXT STEP", "WHEN")
    out = []
    for d in domains:
        keys_ = keystore.keys(d)
        out.append(f"{d}")
        if not keys_:
            out.append("  (no keys yet: not DKIM-signed; start signing with "
                       f"`{START_COMMAND.format(domain=d)}`)")
            out.append("")
            continue
        rows = [header]
        for k in keys_:
            step, when = next_step(k, now)
            rows.append((k.selector, k.algorithm, k.state, fmt_time(k.since), step, when))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            cells = (c.ljust(w) for c, w in zip(r, widths, strict=True))
            out.append("  " + "  ".join(cells).rstrip())
        for sel in keystore.orphans(d):
            out.append(f"  ! {sel}: key file without history (a run was interrupted); the next "
                       "key generation adopts it")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


