"""DKIM selector names: date-based, readable, never reused.

A selector is ``s`` + year + month + a letter sequence: ``s202611a``,
``s202611b``, … ``s202611z``, ``s202611aa`` … (bijective base 26, so the 27th
key of a month still gets a fresh name). The date tells an operator at a glance
how old a published key is; the letter keeps several keys of one month apart.

Selectors are unique per domain for ever: the keystore passes every selector it
has ever recorded (retired ones included) as ``taken``, plus any key file on
disk, so a retired selector is never handed out again. Re-using one would let a
verifier with a cached old record validate a signature against the wrong key
(RFC 6376 §3.1 lets a selector name any key; it must then mean one key only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

# RFC 6376 §3.1: a selector is a sequence of DNS labels. Ours is one label,
# lower case letters and digits only, so it is valid in every DNS provider API.
SELECTOR_RE = re.compile(r"^s(\d{4})(\d{2})([a-z]+)$")


def _letters(n: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', 27 -> 'ab' … (bijective base 26)."""
    out = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def selector_prefix(when: datetime) -> str:
    return f"s{when.year:04d}{when.month:02d}"


def next_selector(when: datetime, taken: Iterable[str]) -> str:
    """The first selector of ``when``'s month that is not in ``taken``."""
    used = set(taken)
    prefix = selector_prefix(when)
    n = 0
    while True:
        candidate = prefix + _letters(n)
        if candidate not in used:
            return candidate
        n += 1


def is_selector(value: str) -> bool:
    return bool(SELECTOR_RE.match(value))
