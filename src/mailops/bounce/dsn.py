"""RFC 3464 delivery-status notifications (and RFC 6533's internationalised form).

The per-recipient fields of a message/delivery-status part name the failed
recipients, their status and the remote server's diagnostic.  Standard library
only (the bounce hook imports it on the mail host).
"""


import re

from . import classify, mime
from .message import Message
from .report import Bounce

# RFC 3464 §2.3.3, plus "deliverable": Postfix's address verification
# reports (sendmail -bv) say "deliverable" / "undeliverable".
_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded", "deliverable"})


def address(value: str | None) -> str | None:
    """The address of an RFC 3464 §2.3.2 recipient field: "rfc822; a@b".

    RFC 6533 §3: the "utf-8" address type carries UTF-8 (raw in
    message/global-delivery-status, or \\x{HEX} escaped in the 7-bit form).
    Other address types (x400, ...) are not Internet addresses: skipped.
    """
    if not value:
        return None
    addr_type, sep, addr = value.partition(";")
    if not sep:
        addr_type, addr = "rfc822", value
    addr_type = addr_type.strip().lower()
    if addr_type not in ("rfc822", "utf-8", "unknown", ""):
        return None
    if addr_type == "utf-8" or "\\x{" in addr:
        addr = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda m: _chr(m.group(1)), addr)
    addr = addr.strip()
    m = re.search(r"<([^<>\s]+@[^<>\s]+)>", addr)
    if m:
        addr = m.group(1)
    else:
        # The first word with an "@" that is not a file path: Exim writes a
        # pipe's command line ("|/usr/bin/prog user@example.com /home/x").
        addr = next((w for w in addr.split() if "@" in w and "/" not in w.split("@")[0]), "")
    addr = addr.strip("<>\"'")
    return addr if "@" in addr else None


def _after_code(raw: str) -> str:
    """What a Status field says after its code ("5.1.1 (user unknown)" -> "(user
    unknown)"); the field as it is when it does not start with a 2/4/5 code."""
    text = raw.lstrip()
    if text[:1] not in ("2", "4", "5") or text[1:2] != ".":
        return raw
    i = 2
    for part in range(2):
        start = i
        while i < len(text) and i - start < 3 and text[i].isdecimal():
            i += 1
        if i == start or (part == 0 and text[i:i + 1] != "."):
            return raw
        i += 1 - part
    return text[i:].lstrip()


def _chr(hexdigits: str) -> str:
    try:
        return chr(int(hexdigits, 16))
    except (ValueError, OverflowError):
        return "?"


def value(value: str | None) -> str:
    """Strip the RFC 3464 §2.1.2 type ("dns;", "smtp;", "X-Postfix;")."""
    if not value:
        return ""
    kind, sep, rest = value.partition(";")
    kind = kind.strip()
    # The type is a name: an ASCII letter, then word characters or "-".
    if sep and kind[:1].isascii() and kind[:1].isalpha() \
            and all(c.isalnum() or c in "_-" for c in kind):
        return rest.strip()
    return value.strip()


_RECIPIENT_FIELDS = frozenset({
    "action", "status", "diagnostic-code", "remote-mta", "x-actual-recipient",
    "last-attempt-date", "will-retry-until", "x400-supplementary-info", "final-log-id",
})


def _recipient_groups(blocks: list[list[tuple[str, str]]]):
    """Per-message fields and per-recipient groups.

    RFC 3464 §2.1: the first block is per-message and each further block one
    recipient, its fields in any order (some MTAs write Final-Recipient last).
    Real MTAs sometimes omit the blank lines (several recipients in one
    block), so within a block a new group starts when a recipient field
    repeats.
    """
    per_message: dict[str, str] = {}
    groups: list[dict[str, str]] = []
    for block in blocks:
        current: dict[str, str] = {}
        for name, value in block:
            if name in ("final-recipient", "original-recipient"):
                if name in current:
                    groups.append(current)
                    current = {}
                current[name] = value
            elif name in _RECIPIENT_FIELDS:
                if name in current and name in ("action", "status") and (
                        "final-recipient" in current or "original-recipient" in current):
                    groups.append(current)
                    current = {}
                current.setdefault(name, value)
            else:
                per_message.setdefault(name, value)
        if current:
            groups.append(current)
    return per_message, [g for g in groups if g]


def parse(dsn_parts: list[Message], human: str, original_id: str | None) -> list[Bounce]:
    bounces: list[Bounce] = []
    seen: set[tuple[str, str]] = set()
    # The human-readable part: read for the SMTP stage and when a
    # recipient's own diagnostic names no reason.
    context = mime.report_text_only(human) if human.strip() else ""
    stage = classify.find_stage(context) if context else None
    for part in dsn_parts:
        per_message, groups = _recipient_groups(mime.parse_fields(mime.report_part_text(part)))
        reporting_mta = value(per_message.get("reporting-mta")) or None
        for group in groups:
            # RFC 3464 §2.3.1: Original-Recipient is the address as we sent
            # it (ORCPT); Final-Recipient may be a rewritten/forwarded one.
            recipient = (address(group.get("original-recipient"))
                         or address(group.get("final-recipient"))
                         or address(group.get("x-actual-recipient")))
            if not recipient:
                continue
            status_raw = group.get("status", "")
            diagnostic = value(group.get("diagnostic-code"))
            status = classify.find_status(status_raw)
            if status and status.endswith(".0.0"):
                better = classify.find_status(diagnostic)
                if better and better[0] == status[0]:
                    status = better
            action = _action(group.get("action", ""), status, status_raw)
            if action in _SUCCESS_ACTIONS:
                continue
            comment = _after_code(status_raw)
            extra = value(group.get("x400-supplementary-info"))
            text = " ".join(x for x in (diagnostic, comment.strip(" ()"), extra) if x)
            if group.get("diagnostic-code", "").lstrip().lower().startswith("x-unix"):
                # RFC 3464 §2.3.6 diagnostic type X-Unix: the exit status of a
                # local delivery program (sysexits.h), not an SMTP reply.
                text = "x-unix; " + text
            verdict = classify.classify(action, status, text,
                                        context=_paragraph(context, recipient) or context,
                                        stage=stage)
            replycode = classify.find_replycode(diagnostic) or classify.find_replycode(status_raw)
            key = (recipient.lower(), action)
            if key in seen:
                continue
            seen.add(key)
            bounces.append(Bounce(
                recipient=recipient, action=action, status=verdict.status,
                replycode=replycode, reason=verdict.reason, hard=verdict.hard,
                permanent=verdict.permanent, diagnostic=(diagnostic or comment.strip())[:1000],
                reporting_mta=reporting_mta, message_id=original_id,
            ))
    return bounces


def _action(value: str, status: str | None, status_raw: str) -> str:
    """RFC 3464 §2.3.3 action, normalised: failed, delayed, delivered, ..."""
    word = (value.split() or [""])[0].strip(" ;:(),").lower()
    if word in ("failed", "failure", "error", "fail", "bounced", "rejected", "undeliverable"):
        return "failed"
    if word in ("delayed", "delay", "deferred"):
        return "delayed"
    if word in _SUCCESS_ACTIONS:
        return word
    # Missing or unknown: RFC 3463 §3.1 class decides (a 4.x.x without an
    # action is a transient condition, i.e. a delay).
    cls = (status or status_raw.strip() or "5")[0]
    return "delayed" if cls == "4" else "failed"


def _paragraph(text: str, recipient: str) -> str:
    """What the human-readable report says about ``recipient``: its line and the
    lines after it up to a blank line or the next recipient (Postfix, Exim,
    Sendmail and OpenSMTPD write one paragraph or line per recipient, with the
    SMTP stage in it)."""
    if not text:
        return ""
    at = text.lower().find(recipient.lower())
    if at < 0:
        return ""
    start = text.rfind("\n", 0, at) + 1
    lines = text[start:].split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        words = line.split(None, 1)
        if not words or "@" in words[0]:  # a blank line, or the next recipient's
            break
        out.append(line)
    return "\n".join(out)
