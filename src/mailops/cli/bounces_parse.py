"""`mailops bounces parse`: parse and classify bounce messages offline (files, folders, mbox).

The rest of the `bounces` group (what the hosts recorded) is in bounces.py, which
registers this command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

_MBOX_FROM = re.compile(rb"^From \S+", re.M)


def _messages(path: Path):
    """(label, bytes) for every message under ``path``: one per file, or
    several from an mbox (a file whose first line is an mbox "From " line
    and that holds more than one such line after a blank line)."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from _messages(child)
        return
    data = path.read_bytes()
    if data.startswith(b"From ") and b"\n\nFrom " in data:
        starts = [m.start() for m in _MBOX_FROM.finditer(data)
                  if m.start() == 0 or data[max(0, m.start() - 2):m.start()] == b"\n\n"]
        for n, (a, b) in enumerate(zip(starts, starts[1:] + [len(data)], strict=True), 1):
            chunk = data[a:b]
            chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
            yield f"{path}#{n}", re.sub(rb"(?m)^>(>*From )", rb"\1", chunk)
        return
    yield str(path), data


def parse_command(
    paths: list[Path] = typer.Argument(..., help="Message files, directories or mbox files."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message (JSON lines)."),
) -> None:
    """Parse bounce files offline: each failed recipient, its status, reason and class."""
    from mailops.bounce.parse import parse_bytes

    rows = []
    for path in paths:
        if not path.exists():
            typer.echo(f"{path}: no such file or directory", err=True)
            raise typer.Exit(2)
        for label, data in _messages(path):
            report = parse_bytes(data)
            if as_json:
                out = {"file": label, "kind": report.kind,
                       "bounces": [_public(b.to_dict()) for b in report.bounces]}
                if report.message_id:
                    out["message_id"] = report.message_id
                typer.echo(json.dumps(out, ensure_ascii=False))
                continue
            if not report.bounces:
                rows.append((label, report.kind, "-", "", "", "", "", ""))
            for b in report.bounces:
                rows.append((label, report.kind, b.recipient, b.action, b.status or "",
                             str(b.replycode or ""), b.reason,
                             "hard" if b.hard else ("permanent" if b.permanent else "")))
    if not as_json:
        header = ("FILE", "KIND", "RECIPIENT", "ACTION", "STATUS", "CODE", "REASON", "CLASS")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
            typer.echo("  ".join(cells).rstrip())


def _public(d: dict) -> dict:
    keys = ("recipient", "action", "status", "replycode", "reason", "hard", "permanent",
            "diagnostic", "reporting_mta")
    return {k: d[k] for k in keys}
