"""The MTA-STS policy file and the id that announces it (RFC 8461).

The web-serving side publishes :func:`policy_text` at
``https://mta-sts.<domain>/.well-known/mta-sts.txt``; the DNS side publishes
``_mta-sts.<domain> TXT "v=STSv1; id=<policy_id>"``. Both come from the same
function so the id changes exactly when the served policy changes — a sender
only re-fetches the policy when the id differs from the one it cached
(RFC 8461 §3.1, §5.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def policy_text(mode: str, mx_hosts: Iterable[str], max_age: int) -> str:
    """The policy file body (RFC 8461 §3.2).

    Key/value lines, CRLF-terminated (the RFC allows LF or CRLF; CRLF is what
    its own examples and most validators expect). One ``mx:`` line per MX
    host, sorted so the same inventory always yields byte-identical text and
    therefore the same id.
    """
    if mode not in ("testing", "enforce", "none"):
        raise ValueError(f"MTA-STS mode {mode!r}: expected testing, enforce or none")
    if not 0 <= max_age <= 31557600:  # RFC 8461 §3.2: at most 31557600 s
        raise ValueError(f"MTA-STS max_age {max_age}: expected 0..31557600 seconds")
    hosts = sorted({h.rstrip(".").lower() for h in mx_hosts})
    if not hosts and mode != "none":
        raise ValueError("MTA-STS policy needs at least one mx host unless mode is none")
    lines = ["version: STSv1", f"mode: {mode}"]
    lines += [f"mx: {h}" for h in hosts]
    lines.append(f"max_age: {max_age}")
    return "".join(line + "\r\n" for line in lines)


def policy_id(text: str) -> str:
    """A 32-character id derived from the policy text (RFC 8461 §3.1: 1-32 alphanumerics).

    A hash rather than a timestamp: re-running the deploy with the same
    inventory must not publish a new id, and any change to the policy must.
    Hex digits are alphanumeric; 128 bits of SHA-256 make accidental reuse of
    an old id impossible in practice.
    """
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sts_txt(text: str) -> str:
    """The `_mta-sts` TXT value announcing this policy text."""
    return f"v=STSv1; id={policy_id(text)}"
