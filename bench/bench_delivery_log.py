"""Delivery log benchmark: how fast a burst of journal lines is indexed.

A burst of 10,000 journal entries (``journalctl -o json`` lines as the service reads
them), built from the real Postfix 3.10 / Dovecot 2.4 / OpenDKIM lines captured on the
lab (tests/fixtures/journal/debian13.jsonl) with fresh queue ids, Message-IDs, sessions
and addresses, so every message is a new one. Measured side by side in one run:

1. json.loads of every line alone (the floor: what reading the journal costs anyway);
2. json.loads + the parser (mailops_host.delivery.parse);
3. the service's whole path — parse, apply to SQLite in WAL mode, store the cursor —
   in the service's batches (follow.BATCH_LINES lines per transaction), into a fresh
   database; and the same burst again into a database that already holds 100,000
   lines' worth (a month on a small host).

Printed: seconds per burst and lines per second, and each path's time over the floor.
Run: uv run python bench/bench_delivery_log.py [--lines N] [--rounds N]
Not a test; never fails on speed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mailops.onhost.delivery import follow, index, parse, store  # noqa: E402

SAMPLE = ROOT / "tests" / "fixtures" / "journal" / "debian13.jsonl"
_QID = re.compile(r"\b[0-9A-F]{10,12}\b")
_SESSION = re.compile(r"(?<=<)[A-Za-z0-9+/]{22}(?=[:>])|(?<= )[A-Za-z0-9+/]{22}(?=[: ])")


def burst(n: int, start: int = 0) -> list[str]:
    """``n`` journal lines: the captured sample over and over, each copy its own mail."""
    sample = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    out: list[str] = []
    copy = start
    t = 1_796_200_000_000_000 + start * 10_000_000
    while len(out) < n:
        copy += 1
        qids: dict[str, str] = {}

        def qid(m: re.Match, qids=qids, copy=copy) -> str:
            return qids.setdefault(m[0], f"{copy:06X}{len(qids):05X}"[:11])

        for e in sample:
            t += 1000
            msg = _QID.sub(qid, e["MESSAGE"])
            msg = _SESSION.sub(lambda m, copy=copy: f"S{copy:09d}{m[0][10:]}", msg)
            msg = msg.replace("@mx1.example.test>", f".{copy}@mx1.example.test>")
            out.append(json.dumps({"__CURSOR": f"s=bench;i={len(out)}",
                                   "__REALTIME_TIMESTAMP": str(t),
                                   "SYSLOG_IDENTIFIER": e["SYSLOG_IDENTIFIER"],
                                   "MESSAGE": msg}))
            if len(out) == n:
                break
    return out


def decode_only(lines: list[str]) -> None:
    for line in lines:
        json.loads(line)


def parse_only(lines: list[str]) -> None:
    for line in lines:
        parse.parse(json.loads(line))


def index_all(conn, lines: list[str]) -> None:
    indexer = index.Indexer(conn)
    for i in range(0, len(lines), follow.BATCH_LINES):
        follow.index_lines(conn, indexer, lines[i:i + follow.BATCH_LINES])


def timed(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    lines = burst(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def fresh() -> None:
            conn = store.connect(f"{tmp}/fresh-{next(counter)}.sqlite3")
            index_all(conn, lines)
            conn.close()

        full = store.connect(f"{tmp}/full.sqlite3")
        index_all(full, burst(100_000, start=10_000))
        later = iter(range(1, 1_000_000))

        def into_full() -> None:
            index_all(full, burst(args.lines, start=200_000 + 1000 * next(later)))

        floor = timed(lambda: decode_only(lines), args.rounds)
        results = [
            ("json.loads only (floor)", floor),
            ("json.loads + parse", timed(lambda: parse_only(lines), args.rounds)),
            ("index into a fresh database", timed(fresh, args.rounds)),
            ("index into a database of 100,000 lines", timed(into_full, args.rounds)),
        ]
        full.close()
    print(f"delivery log: a burst of {len(lines):,} journal lines, median of {args.rounds}")
    for name, seconds in results:
        print(f"  {name:<42} {seconds:7.3f} s  {len(lines) / seconds:>10,.0f} lines/s  "
              f"{seconds / floor:5.1f}x the floor")


if __name__ == "__main__":
    main()
