"""The history journal read back: committed events, replayed into the state of every key.

Why an event log and not a state file: every transition is one JSON line,
appended with O_APPEND and fsync'd before the step that depends on it runs.
The current state of every key is the replay of the log, so there is no second
file that could disagree with it after a crash, and the log *is* the audit
trail (who became active when, which record was withdrawn when). A line cut
short by a crash was never committed: readers ignore an unterminated last line.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .keyfiles import HISTORY, KEY_SUFFIX
from .keyrecord import ACTIVE, PENDING, RETIRED, RETIRING, Key, KeystoreError, parse_time


def read_history(path: Path) -> list[dict]:
    """Every committed event in the history file ``path``, oldest first."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    # The piece after the last newline is an uncommitted (torn) write.
    committed = lines[:-1]
    events = []
    for number, line in enumerate(committed, 1):
        try:
            event = json.loads(line)
            if not isinstance(event, dict) or "event" not in event:
                raise ValueError("not an event object")
        except ValueError as e:
            raise KeystoreError(
                f"{path}: line {number} is not a keystore event ({e}); the history is the "
                "record of which keys are published and active, so nothing was changed. "
                "Restore the file from a backup or fix the line by hand."
            ) from None
        events.append(event)
    return events


def replay(domain: str, d: Path, events: list[dict]) -> dict[str, Key]:
    """Selector -> key, the state the events of ``domain`` (directory ``d``) leave."""
    keys: dict[str, Key] = {}
    for ev in events:
        kind, sel = ev["event"], ev.get("selector", "")
        at = parse_time(ev["at"])
        if kind in ("generated", "bootstrapped"):
            if sel in keys:
                raise KeystoreError(f"{d / HISTORY}: selector {sel} generated twice")
            keys[sel] = Key(
                domain=domain,
                selector=sel,
                algorithm=ev["algorithm"],
                state=ACTIVE if kind == "bootstrapped" else PENDING,
                txt_value=ev["txt"],
                created=at,
                since=at,
                private_key_path=d / (sel + KEY_SUFFIX),
            )
            continue
        if sel not in keys:
            raise KeystoreError(f"{d / HISTORY}: event {kind!r} for unknown selector {sel!r}")
        k = keys[sel]
        if kind == "activated":
            keys[sel] = _evolve(k, state=ACTIVE, since=at, progress=())
            for prev in ev.get("previous", []):
                p = keys[prev["selector"]]
                keys[p.selector] = _evolve(
                    p, state=RETIRING, since=at,
                    retire_after=parse_time(prev["retire_after"]), progress=(),
                )
        elif kind == "retired":
            keys[sel] = _evolve(k, state=RETIRED, since=at, private_key_path=None)
        else:  # progress marker: published, visible, deployed, probe-failed, withdrawn
            keys[sel] = _evolve(k, progress=k.progress + ((kind, at),))
    return keys


def _evolve(k: Key, **changes) -> Key:
    return replace(k, **changes)
