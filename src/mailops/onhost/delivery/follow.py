"""The delivery log service: follow the mail journal, index it, prune old rows.

``python3 -S -m mailops_host delivery-log --db PATH [--retention-days N] [--subjects]``
runs as ``mailops-delivery-log.service`` (templates/delivery_log/). It starts
journalctl(1) with ``--after-cursor`` = the cursor stored in the database (the first
time: ``--since`` the retention period), reads its JSON lines, and indexes them in
batches: each batch and the cursor of its last line are one SQLite transaction, so a
restart at any moment resumes exactly after the last line that was counted.

Which entries: the mail syslog facility (RFC 5424 §6.2.1 facility 2: Postfix,
Dovecot, OpenDKIM all log there by default) and rspamd's unit, whose log reaches the
journal only when its logging is set to the console/syslog. If journalctl exits, so
does the service, with an error: systemd restarts it (Restart=on-failure).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time

from . import index, store
from .parse import parse

JOURNALCTL = "/usr/bin/journalctl"
MATCHES = ("SYSLOG_FACILITY=2", "+", "SYSLOG_IDENTIFIER=rspamd", "+",
           "_SYSTEMD_UNIT=rspamd.service")
# journalctl -o json always adds __CURSOR and __REALTIME_TIMESTAMP (journalctl(1),
# --output-fields); fewer fields make each line several times cheaper to decode.
FIELDS = "MESSAGE,SYSLOG_IDENTIFIER"
BATCH_LINES = 2000  # at most this many lines per transaction
LINGER = 0.2  # seconds a batch waits for more lines before it is written
PRUNE_EVERY = 3600.0  # seconds
DAY_US = 86400 * 1_000_000


def journal_argv(cursor: str | None, since_us: int, journalctl: str = JOURNALCTL,
                 follow: bool = True) -> list[str]:
    """The journalctl command line: after the stored cursor, else since ``since_us``."""
    argv = [journalctl, "-o", "json", "--no-pager", f"--output-fields={FIELDS}"]
    if follow:
        argv.append("--follow")
    if cursor:
        argv.append(f"--after-cursor={cursor}")
    else:
        argv.append(f"--since=@{since_us // 1_000_000}")
    return [*argv, *MATCHES]


def usable_cursor(cursor: str, journalctl: str = JOURNALCTL) -> bool:
    """Can journalctl seek to ``cursor``? A malformed one (a damaged row, a hand edit)
    makes it exit at once with "Failed to seek to cursor"; started from it, the service
    would fail, be restarted by systemd into the same error, and index nothing ever
    again. A well-formed cursor of a vacuumed or foreign journal is fine: journalctl
    seeks to the nearest entry."""
    r = subprocess.run([journalctl, f"--after-cursor={cursor}", "--lines=0", "--no-pager",
                        "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def start_argv(conn, since_us: int, journalctl: str = JOURNALCTL) -> list[str]:
    """The journalctl command line for this start: after the stored cursor when journalctl
    can seek to it; else from the newest line already indexed (a line of that same
    microsecond may then be read twice: one timeline event shown twice, never a
    message missed), or ``since_us`` for a new database."""
    cursor = store.cursor(conn)
    if cursor and not usable_cursor(cursor, journalctl):
        newest = store.newest_us(conn)
        print(f"delivery-log: journalctl cannot seek to the stored cursor {cursor[:60]!r}; "
              f"reading again from the newest indexed line ({newest} µs)", file=sys.stderr)
        store.forget_cursor(conn)
        cursor, since_us = None, max(since_us, newest)
    return journal_argv(cursor, since_us, journalctl)


def index_lines(conn, indexer: index.Indexer, lines: list[bytes | str]) -> int:
    """Index journal JSON lines in one transaction with the last line's cursor; the
    number of facts found. A line that is not JSON (never written by journalctl) is
    skipped, its cursor unknown."""
    facts = []
    last_cursor = None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        last_cursor = entry.get("__CURSOR") or last_cursor
        fact = parse(entry)
        if fact is not None:
            facts.append(fact)
    store.apply_batch(conn, indexer, facts, last_cursor)
    return len(facts)


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)  # journalctl ended


def follow(db: str, *, retention_days: int = 30, subjects: bool = False,
           journalctl: str = JOURNALCTL, clock=time.time) -> dict:
    """Run until journalctl ends (then an error for systemd to restart on)."""
    conn = store.connect(db)
    indexer = index.Indexer(conn, subjects=subjects)
    retention_us = retention_days * DAY_US
    since_us = int(clock() * 1_000_000) - retention_us
    argv = start_argv(conn, since_us, journalctl)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: queue.Queue = queue.Queue(maxsize=4 * BATCH_LINES)
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    next_prune = 0.0
    ended = False
    try:
        while not ended:
            if time.monotonic() >= next_prune:
                store.prune(conn, int(clock() * 1_000_000) - retention_us)
                next_prune = time.monotonic() + PRUNE_EVERY
            batch, ended = _next_batch(lines, timeout=PRUNE_EVERY)
            if batch:
                index_lines(conn, indexer, batch)
    finally:
        if proc.poll() is None:
            proc.terminate()
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        proc.wait()
        conn.close()
    return {"error": f"journalctl ended (exit {proc.returncode}): {err.strip()[-500:]}"}


def _next_batch(lines: queue.Queue, timeout: float) -> tuple[list, bool]:
    """Up to BATCH_LINES lines: the first within ``timeout``, the rest within LINGER."""
    batch: list = []
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        return batch, False
    if first is None:
        return batch, True
    batch.append(first)
    deadline = time.monotonic() + LINGER
    while len(batch) < BATCH_LINES:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            return batch, True
        batch.append(line)
    return batch, False


def command(args: list[str]) -> dict:
    """``delivery-log --db PATH [--retention-days N] [--subjects]`` (runs until stopped)."""
    db, retention, subjects = None, 30, False
    it = iter(args)
    for arg in it:
        if arg == "--db":
            db = next(it, None)
        elif arg == "--retention-days":
            retention = int(next(it, "30"))
        elif arg == "--subjects":
            subjects = True
        else:
            return {"error": f"delivery-log: unknown argument {arg!r}"}
    if not db:
        return {"error": "delivery-log: --db PATH is required"}
    return follow(db, retention_days=retention, subjects=subjects)
