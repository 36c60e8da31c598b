"""Bounce and deferral rates over the last 24 hours.

Two sources, each for what only it knows:

- Postfix's delivery agents log one line per recipient and attempt with
  ``status=sent|deferred|bounced`` (the journal, syslog identifiers ``postfix/smtp``,
  ``postfix/lmtp``, …): deliveries, deferrals, and bounces the host itself decided
  (a 5xx from the receiving server during the session).
- The bounce store (the hook's SQLite database) holds the delivery-status
  notifications that came back later: the receiver accepted, then bounced.

Rates need volume: under MIN_VOLUME outcomes a day, one bounce is 10 % and says
nothing, so only the counts are reported.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time

from .findings import ERROR, OK, WARNING, Finding

WINDOW = 86400
MIN_VOLUME = 20
# Amazon SES, "Sending review process": a bounce rate of 5 % puts an account under
# review, 10 % can pause it; receivers judge senders on the same order of magnitude.
BOUNCE_WARN, BOUNCE_ERROR = 0.05, 0.10
# Greylisting defers first attempts as a matter of course; a quarter of all attempts
# deferred is more than that.
DEFERRAL_WARN = 0.25
AGENTS = ("smtp", "lmtp", "local", "virtual", "pipe", "error", "discard", "retry")
_STATUS = re.compile(r"\bstatus=(sent|deferred|bounced|expired)\b")


def journal_counts(since: float) -> dict[str, int] | str:
    """status=… lines of Postfix's delivery agents since ``since``; an error text if the
    journal cannot be read."""
    argv = ["journalctl", "--quiet", "--no-pager", "--output=cat", f"--since=@{int(since)}"]
    for agent in AGENTS:
        argv += ["-t", f"postfix/{agent}"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode != 0:
        return proc.stderr.strip() or f"journalctl exited {proc.returncode}"
    return count_statuses(proc.stdout.splitlines())


def count_statuses(lines: list[str]) -> dict[str, int]:
    counts = {"sent": 0, "deferred": 0, "bounced": 0}
    for line in lines:
        m = _STATUS.search(line)
        if m:
            status = "bounced" if m.group(1) == "expired" else m.group(1)
            counts[status] += 1
    return counts


def store_bounces(db: str, since: float) -> tuple[int, int] | str:
    """(hard, soft) bounce notifications the hook stored since ``since``."""
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT COALESCE(SUM(hard), 0), COUNT(*) FROM bounces "
                               "WHERE received_at >= ?", (iso,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{db}: {exc}"
    return int(row[0]), int(row[1]) - int(row[0])


def rate_findings(counts: dict[str, int], dsn: tuple[int, int]) -> list[Finding]:
    sent, deferred, bounced = counts["sent"], counts["deferred"], counts["bounced"]
    hard, soft = dsn
    outcomes = sent + bounced
    numbers = (f"last 24 h: {sent} delivered, {bounced} bounced by the host, {hard} hard "
               f"and {soft} soft bounce notifications received, {deferred} deferred "
               "attempts")
    out = []
    if outcomes < MIN_VOLUME:
        out.append(Finding("bounce rate", OK, "too few messages to judge",
                           f"{numbers} (rates are judged from {MIN_VOLUME} messages a day)"))
        out.append(Finding("deferral rate", OK, "too few messages to judge",
                           f"{deferred} deferred attempts in the last 24 h"))
        return out
    rate = (bounced + hard) / outcomes
    text = f"{rate:.1%} of {outcomes} messages bounced ({numbers})"
    if rate >= BOUNCE_ERROR:
        out.append(Finding("bounce rate", ERROR, f"at least {BOUNCE_ERROR:.0%}", text))
    elif rate >= BOUNCE_WARN:
        out.append(Finding("bounce rate", WARNING, f"at least {BOUNCE_WARN:.0%}", text))
    else:
        out.append(Finding("bounce rate", OK, f"under {BOUNCE_WARN:.0%}", text))
    deferral = deferred / (outcomes + deferred)
    text = f"{deferral:.1%} of {outcomes + deferred} delivery attempts deferred"
    if deferral >= DEFERRAL_WARN:
        out.append(Finding("deferral rate", WARNING, f"at least {DEFERRAL_WARN:.0%}",
                           text + ": `postqueue -p` and the journal of postfix say why"))
    else:
        out.append(Finding("deferral rate", OK, f"under {DEFERRAL_WARN:.0%}", text))
    return out


def rates(db: str, now: float | None = None) -> list[Finding]:
    since = (time.time() if now is None else now) - WINDOW
    counts = journal_counts(since)
    if isinstance(counts, str):
        return [Finding("deferral rate", WARNING, "journal unreadable",
                        f"Postfix's journal could not be read: {counts}")]
    dsn = store_bounces(db, since)
    if isinstance(dsn, str):
        return [Finding("bounce rate", WARNING, "bounce store unreadable", dsn),
                *[f for f in rate_findings(counts, (0, 0)) if f.check != "bounce rate"]]
    return rate_findings(counts, dsn)
