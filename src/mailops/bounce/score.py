"""Score the parser against labelled corpora of real bounces, per axis.

A development tool (tests and the benchmark use it); not part of the hook.

Two corpus layouts are understood:

- sisimai-style: ``expected.json`` maps ``messages/<file>`` to a list of
  ``{recipient, status, replycode, reason, hard_bounce, recipient_alt?}``;
  ``feedback`` rows are ARF complaints, ``vacation`` rows auto-replies and an
  empty list a message that is not a bounce;
- flufl.bounce-style: ``expected.json`` maps ``<file>`` (under ``messages/``)
  to a list of ``{recipient, permanent}``, without status or reason.

Axes (each a count of agreements over a count of cases):

- ``recipients``: per file, the set of recipients found equals the set
  expected (any listed spelling of a recipient counts);
- ``hard/soft`` (sisimai) or ``permanent`` (flufl): per expected recipient,
  our flag equals the expected one (a recipient not found counts as wrong);
- ``reason``: per expected recipient, the same reason class;
- ``status class``: per expected recipient with a status, the same class
  (2/4/5: RFC 3463 §3.1);
- ``kind``: per file, bounce / arf / autoreply / not-bounce agree.

Rows whose reason is ``delivered`` (a success that a DSN may also list,
RFC 3464 §2.3.3 "delivered"/"relayed") are not failures: the parser is right
not to report them, so they are not expected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Content or policy refusals: the recipient's address may be perfectly good,
# so such a bounce must never be hard (it would suppress a live address).
NEVER_HARD_REASONS = frozenset({
    "filtered", "spamdetected", "policyviolation", "blocked", "rejected", "virusdetected",
    "contenterror",
})
# Sisimai writes this address when a report names no recipient at all.
_PLACEHOLDER_DOMAIN = "libsisimai.org.invalid"


def corpora_dir() -> Path | None:
    """The shared corpora folder: $MAILOPS_CORPORA, else ``../shared/corpora``
    beside the checkout (for a git worktree: beside its main checkout)."""
    env = os.environ.get("MAILOPS_CORPORA")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]
    candidates = [root.parent / "shared" / "corpora"]
    git = root / ".git"
    if git.is_file():  # a worktree: ".git" names <main>/.git/worktrees/<name>
        text = git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.split(":", 1)[1].strip())
            if gitdir.parent.name == "worktrees":
                candidates.append(gitdir.parents[2].parent / "shared" / "corpora")
    return next((c for c in candidates if c.is_dir()), None)


class Case:
    """One message and what is expected of it."""

    __slots__ = ("name", "path", "rows", "kind")

    def __init__(self, name: str, path: Path, rows: list[dict], kind: str):
        self.name, self.path, self.rows, self.kind = name, path, rows, kind


def load(corpus: Path) -> list[Case]:
    expected = json.loads((corpus / "expected.json").read_text())
    cases = []
    for key, rows in sorted(expected.items()):
        path = corpus / key if key.startswith("messages/") else corpus / "messages" / key
        rows = [r for r in rows if r.get("reason") != "delivered"]
        reasons = {r.get("reason") for r in rows}
        if "feedback" in reasons:
            kind = "arf"
        elif "vacation" in reasons:
            kind = "autoreply"
        else:
            kind = "bounce" if rows else "not-bounce"
        cases.append(Case(Path(key).name, path, rows, kind))
    return cases


def _spellings(row: dict) -> dict[str, None]:
    """The recipient's spellings, the expected one first (an ordered set)."""
    names = [row["recipient"], *row.get("recipient_alt", [])]
    return {n.lower(): None for n in names if not n.lower().endswith("@" + _PLACEHOLDER_DOMAIN)}


class _Unnamed:
    """Stands for the recipient a complaint does not name."""

    reason, hard, permanent, status = "feedback", False, False, None


class Axis:
    __slots__ = ("ok", "total", "misses")

    def __init__(self):
        self.ok, self.total, self.misses = 0, 0, []

    def add(self, good: bool, miss=None) -> None:
        self.total += 1
        if good:
            self.ok += 1
        elif miss is not None:
            self.misses.append(miss)

    @property
    def rate(self) -> float:
        return self.ok / self.total if self.total else 1.0


def score(cases: list[Case], parse) -> dict[str, Axis]:
    """Run ``parse(bytes) -> Report`` on every case and count agreements."""
    axes = {name: Axis() for name in ("recipients", "hard/soft", "permanent", "reason",
                                      "status class", "kind", "safety")}
    for case in cases:
        report = parse(case.path.read_bytes())
        found = {b.recipient.lower(): b for b in report.bounces}
        kind = "bounce" if report.kind in ("dsn", "legacy") else report.kind
        axes["kind"].add(kind == case.kind or (case.kind == "not-bounce" and not found),
                         (case.name, case.kind, report.kind))
        matched: set[str] = set()
        placeholder_only = True
        for row in case.rows:
            names = _spellings(row)
            placeholder_only = placeholder_only and not names
            hit = next((found[n] for n in names if n in found), None)
            matched |= names.keys() & found.keys()  # every spelling of it that was reported
            if not names and kind == case.kind and kind == "arf" and not found:
                # The report names nobody and neither do we: a complaint about
                # an undisclosed recipient is still a complaint.
                hit = _Unnamed
            if "hard_bounce" in row:
                axes["hard/soft"].add(hit is not None and hit.hard == row["hard_bounce"],
                                      (case.name, row["recipient"], row["hard_bounce"],
                                       hit and hit.hard))
            if "permanent" in row:
                axes["permanent"].add(hit is not None and hit.permanent == row["permanent"],
                                      (case.name, row["recipient"], row["permanent"],
                                       hit and hit.permanent))
            if row.get("reason"):
                axes["reason"].add(hit is not None and hit.reason == row["reason"],
                                   (case.name, row["recipient"], row["reason"],
                                    hit and hit.reason, hit and hit.status))
                if row["reason"] in NEVER_HARD_REASONS:
                    axes["safety"].add(hit is None or not hit.hard,
                                       (case.name, row["recipient"], row["reason"],
                                        hit and hit.reason))
            if row.get("status"):
                axes["status class"].add(
                    hit is not None and (hit.status or "")[:1] == row["status"][:1],
                    (case.name, row["recipient"], row["status"], hit and hit.status))
        if case.rows and placeholder_only:
            # The report names nobody; any recipient we name is a guess.
            exact = True
        else:
            exact = matched == set(found) and all(
                _spellings(r).keys() & matched for r in case.rows if _spellings(r))
        axes["recipients"].add(exact, (case.name, sorted(next(iter(_spellings(r)), "-")
                                                         for r in case.rows), sorted(found)))
    return {name: axis for name, axis in axes.items() if axis.total}


def summary(title: str, axes: dict[str, Axis]) -> str:
    cells = [f"{name} {a.rate * 100:5.1f} % ({a.ok}/{a.total})" for name, a in axes.items()]
    return f"{title}: " + "; ".join(cells)


def main() -> None:
    import argparse
    import sys

    from .parse import parse_bytes

    ap = argparse.ArgumentParser(description="Per-axis accuracy of the bounce parser.")
    ap.add_argument("corpus", nargs="*", type=Path,
                    help="corpus folders (default: every one in the shared corpora folder)")
    ap.add_argument("--misses", action="store_true", help="list every disagreement")
    args = ap.parse_args()
    folders = args.corpus
    if not folders:
        base = corpora_dir()
        if base is None:
            sys.exit("no corpora folder: set MAILOPS_CORPORA or put shared/ beside the clone")
        folders = sorted(p for p in base.iterdir() if (p / "expected.json").is_file())
    for folder in folders:
        axes = score(load(folder), parse_bytes)
        print(summary(folder.name, axes))
        if args.misses:
            for name, axis in axes.items():
                for miss in axis.misses:
                    print(f"  {name}: {miss}")


if __name__ == "__main__":
    main()
