"""Classify one failed delivery: RFC 3463 status, reason, hard/permanent.

Standard library only (this module runs inside the bounce hook on the mail
host's system Python).

Inputs are what a report gives us for one recipient: the ``Action`` (RFC 3464
§2.3.3), the ``Status`` (RFC 3464 §2.3.4, an RFC 3463 enhanced code), the
``Diagnostic-Code`` or the free text a legacy bounce printed, and maybe an SMTP
reply code (RFC 5321 §4.2).  Output is a :class:`Verdict`.

Vocabulary (the ``reason`` values, one job each):

=================  ==========================================================
userunknown        the mailbox does not exist (X.1.1, "no such user")
hostunknown        the domain does not exist / cannot be routed (X.1.2, 5.4.4)
hasmoved           the address moved (X.1.6, X.7.17, X.7.18)
notaccept          the domain accepts no mail (X.3.2, null MX X.1.10)
mailboxfull        over quota (X.2.2)
suspend            mailbox disabled / account suspended (X.2.1, X.7.13)
expired            gave up after the queue lifetime (X.4.7)
filtered           a filter refused the message (also "user unknown" after DATA
                   or without an X.1.x status or RCPT stage to back it)
rejected           our envelope sender was refused
blocked            our IP/host is on a block list
norelaying         relay access denied
networkerror       connection/routing failures (X.4.x)
systemerror        remote system error (X.3.x)
systemfull         remote disk full (X.3.1)
mailererror        a local delivery program failed
mesgtoobig         message too large (X.2.3, X.3.4)
exceedlimit        too many recipients and similar limits
spamdetected       judged as spam
virusdetected      judged as malware
policyviolation    refused by local policy
securityerror      security/crypto failures (X.7.x)
authfailure        SPF/DKIM/DMARC or SMTP auth failures
badreputation      poor sender reputation
requireptr         our IP has no reverse DNS
notcompliantrfc    message not RFC 5322 compliant
contenterror       content/MIME problem (X.6.x)
syntaxerror        SMTP protocol error (X.5.x)
toomanyconn        too many connections / congestion
speeding           rate limited
failedstarttls     TLS required or failed
suppressed         the remote provider suppressed the address itself
onhold             held for moderation / quarantine
undefined          nothing more specific could be said
=================  ==========================================================

``feedback`` (ARF complaint) and ``vacation`` (auto-reply) are used by the
parser for the non-bounces; they never come out of :func:`classify`.
"""


import functools
import re

from . import rules
from .lazyre import lazy

REASONS = (
    "userunknown", "hostunknown", "hasmoved", "mailboxfull", "suspend", "expired",
    "filtered", "rejected", "blocked", "norelaying", "notaccept", "networkerror",
    "systemerror", "systemfull", "mailererror", "mesgtoobig", "exceedlimit",
    "spamdetected", "virusdetected", "policyviolation", "securityerror", "authfailure",
    "badreputation", "requireptr", "notcompliantrfc", "contenterror", "syntaxerror",
    "toomanyconn", "speeding", "failedstarttls", "suppressed", "onhold", "undefined",
    "feedback", "vacation",
)

# "Hard": the address itself is bad, so mail to it can never succeed.  Only
# these suppress on the first (verified, permanent) bounce.
HARD_REASONS = frozenset({"userunknown", "hostunknown", "hasmoved", "notaccept"})

# Reasons that describe our message, our host or our reputation rather than
# the recipient's address: the recipient must never be suppressed for them,
# however often they repeat (fix the sender instead).
NEVER_SUPPRESS_REASONS = frozenset({
    "filtered", "blocked", "spamdetected", "virusdetected", "badreputation", "policyviolation",
    "securityerror", "authfailure", "requireptr", "norelaying", "failedstarttls",
    "rejected", "contenterror", "notcompliantrfc", "mesgtoobig", "syntaxerror",
    "speeding", "toomanyconn", "exceedlimit", "feedback", "vacation",
})

# The patterns are lowercase and the text is lowercased once: matching
# without re.IGNORECASE is faster on long bounce texts.  The hook runs once
# per bounce, so compiling every pattern would cost more than the parsing:
# each pattern is compiled only when the plain text it cannot match without
# (its required literals, C-speed substring tests) is in the text,
# and then kept for the rest of the process (the CLI and tests parse many).
_COMPILED: dict[str, re.Pattern] = {}


def required_literals(pattern: str) -> tuple[str, ...]:
    """Every run of plain characters each match of ``pattern`` contains, longest first
    (none for a top-level alternation, or a pattern of classes only)."""
    pieces, piece, depth, i, n = [], "", 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            pieces.append(piece)
            piece = ""
            i += 2
            continue
        if c == "[":  # a character class: skip to its end
            pieces.append(piece)
            piece = ""
            i += 2 if pattern[i + 1:i + 2] == "]" else 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        if c == "(":
            pieces.append(piece)
            piece = ""
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return ()
        elif c in "?*{":  # the character before may be absent
            pieces.append(piece[:-1])
            piece = ""
            if c == "{":
                i = pattern.find("}", i)
                if i < 0:
                    break
        elif c in "+.^$":
            pieces.append(piece)
            piece = ""
        elif depth == 0:
            piece += c
        i += 1
    pieces.append(piece)
    return tuple(sorted({p for p in pieces if p}, key=lambda p: (-len(p), p)))


def required_literal(pattern: str) -> str:
    """The longest of :func:`required_literals` ('' when there is none)."""
    return next(iter(required_literals(pattern)), "")


_META = frozenset("\\[](){}?*+|^$.")


_FLAT: dict[str, list[tuple[str, str, tuple[str, ...], str | None]]] = {}
# The tables _first reads.
TABLES = ("TEXT_RULES", "STAGE_RULES")


def _flatten(name: str) -> list[tuple[str, str, tuple[str, ...], str | None]]:
    """(reason, longest required literal, the other required literals, pattern or None
    when the literal is the whole pattern) for every alternative of table ``name``."""
    # Imported here: on the host the hook reads the tables already flattened (rules_flat).
    from . import phrases

    flat = []
    for reason, alts in getattr(phrases, name):
        for alt in alts:
            if _META.isdisjoint(alt):
                flat.append((reason, alt, (), None))
            else:
                literals = required_literals(alt) or ("",)
                flat.append((reason, literals[0], literals[1:], alt))
    return flat


def flat_module() -> bytes:
    """Source of the module ``rules_flat`` the host package carries: every table already
    flattened when the package is built, so the hook (a fresh process per bounce) does
    not scan some 300 patterns for their literals on every run (about 1 ms)."""
    tables = {name: _flatten(name) for name in TABLES}
    return (f'"""Made from phrases.py by classify.flat_module when the package was built."""\n'
            f"FLAT = {tables!r}\n").encode()


def _flat(name: str) -> list[tuple[str, str, tuple[str, ...], str | None]]:
    flat = _FLAT.get(name)
    if flat is None:
        try:
            from .rules_flat import FLAT  # type: ignore[import-not-found]  # host package
        except ImportError:  # in the repository: nothing is built
            FLAT = {}  # noqa: N806
        flat = _FLAT[name] = FLAT.get(name) or _flatten(name)
    return flat


def _first(name: str, text: str) -> str | None:
    """The name of the first rule of table ``name`` that matches ``text``."""
    compiled = _COMPILED
    for reason, literal, others, pattern in _flat(name):
        if literal not in text:  # the longest first: it rules most patterns out
            continue
        if others and not all(other in text for other in others):
            continue
        if pattern is None:  # a plain phrase: the substring test decided
            return reason
        rx = compiled.get(pattern)
        if rx is None:
            rx = compiled[pattern] = re.compile(pattern)
        if rx.search(text):
            return reason
    return None


# Only classes 4 and 5 in free text: "2.0.12" there is a version number.
STATUS_RE = lazy(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.]\d)")
# An SMTP reply code as printed in diagnostics: "550 ...", "550-5.1.1", "550:".
REPLY_RE = lazy(r"(?<![\w.\-#\[])([245][0-5]\d)(?=[\s\-:]|$)")


def _is_status(value: str) -> bool:
    """What STATUS_RE matches in full ("5.1.1"), without compiling it: most reports
    give a well-formed Status field (RFC 3464 §2.3.4)."""
    cls, _, rest = value.partition(".")
    subject, _, detail = rest.partition(".")
    return cls in ("4", "5") and all(0 < len(x) <= 3 and x.isdecimal()
                                     for x in (subject, detail))


class Verdict:
    __slots__ = ("status", "reason", "permanent", "hard", "replycode")

    def __init__(self, status: str | None, reason: str, permanent: bool, hard: bool,
                 replycode: int | None):
        self.status = status
        self.reason = reason
        self.permanent = permanent
        self.hard = hard
        self.replycode = replycode

    def __repr__(self) -> str:
        return (f"Verdict(status={self.status!r}, reason={self.reason!r}, "
                f"permanent={self.permanent}, hard={self.hard}, replycode={self.replycode})")


def find_status(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in ``text`` ("5.1.1"), if any."""
    m = STATUS_RE.search(text or "")
    return ".".join(m.groups()) if m else None


def find_replycode(text: str) -> int | None:
    """The first SMTP reply code (RFC 5321 §4.2) in ``text``, if any."""
    m = REPLY_RE.search(text or "")
    return int(m.group(1)) if m else None


@functools.lru_cache(maxsize=256)  # the same report text serves every recipient
def reason_from_text(text: str) -> str | None:
    """The reason the free text describes, or None (phrases.TEXT_RULES)."""
    if not text:
        return None
    reason = _first("TEXT_RULES", text[:20000].lower())
    return rules.ALIASES.get(reason, reason) if reason else None


@functools.lru_cache(maxsize=256)
def _said(text: str) -> str | None:
    # reason_from_text without the aliases: classify needs to know whether a
    # network failure was a connection (gives "expired" when final) or DNS.
    return _first("TEXT_RULES", text[:20000].lower()) if text else None


@functools.lru_cache(maxsize=256)
def find_stage(text: str) -> str | None:
    """The SMTP command a refusal answered ("data", "rcpt", "mail", "connect"), if the
    text says (phrases.STAGE_RULES)."""
    return _first("STAGE_RULES", text[:20000].lower()) if text else None


def classify(action: str, status: str | None, text: str, replycode: int | None = None,
             context: str = "", stage: str | None = None) -> Verdict:
    """Classify one recipient of a report.

    ``action`` is the RFC 3464 §2.3.3 action ("failed", "delayed"); ``text``
    what the report says about this recipient (its Diagnostic-Code, or the
    lines after it in a non-standard bounce); ``context`` the rest of the
    report, read only when ``text`` says nothing specific; ``stage`` the SMTP
    command the refusal answered when the caller found it elsewhere in the report.

    The words win over a generic status (5.7.1 is used for everything from
    spam to unknown users); the SMTP stage the refusal answered corrects
    them (an "unknown user" answered to DATA is about the message); a final
    failure on a transient condition is "expired".  A ``failed`` action is
    ``permanent`` even when the status class is 4: that is a message returned
    after the queue lifetime (RFC 3464 §2.3.3 allows a failed action with a
    transient status), and it will not be retried.
    """
    text = text or ""
    if status is None or not _is_status(status):
        status = find_status(text)
    if replycode is None:
        replycode = find_replycode(text)
    if status and status.endswith(".0.0") and context:
        # "5.0.0" says only "failed"; the report's text may say which code.
        better = find_status(context)
        if better and better[0] == status[0]:
            status = better
    coded = None
    if status:
        coded = rules.STATUS_REASON.get(status.partition(".")[2])
    said = _said(text)
    if said is None and context and (coded is None or status.partition(".")[2]
                                     in rules.GENERIC_STATUSES):
        said = _said(context)
    if said is not None:
        reason = said
    else:
        reason = coded or "undefined"
    stage = find_stage(text) or (find_stage(context) if context else None) or stage
    if stage is not None:
        reason = rules.STAGE_OVERRIDES.get((stage, reason), reason)
    if reason in rules.UNCORROBORATED and reason == said and stage != "rcpt" \
            and not (status and status.partition(".")[2].startswith("1.")):
        reason = rules.UNCORROBORATED[reason]
    permanent = action == "failed"
    cls = status[0] if status else (str(replycode)[0] if replycode is not None
                                   and str(replycode)[0] in "45" else None)
    if permanent and (reason in rules.GAVE_UP or said is None) and (
            cls == "4" or said == "noconnection"):
        # The MTA retried a transient condition until the queue lifetime ran
        # out (a transient status on a final failure, and words that name no
        # more specific cause).
        reason = "expired"
    elif cls == "4" and reason == "hostunknown":
        # A domain cannot be temporarily nonexistent: a 4.x.x says the
        # lookup failed (RFC 5321 §5.1: retry), so a network problem.
        reason = "networkerror"
    reason = rules.ALIASES.get(reason, reason)
    if not status:
        # RFC 3463 §3: derive a code from what the text says, with the class
        # from the reply code if we have one, else from the action.
        if cls is None:
            cls = "4" if action == "delayed" else "5"
        status = f"{cls}.{rules.REASON_STATUS.get(reason, '0.0')}"
    hard = permanent and status.startswith("5.") and reason in HARD_REASONS
    return Verdict(status=status, reason=reason, permanent=permanent, hard=hard,
                   replycode=replycode)


def never_suppresses(status: str | None, reason: str) -> bool:
    """True for failures that say nothing about the recipient's address.

    RFC 3463 §3.8: X.7.x is the security/policy class; a policy or
    reputation block is about us (our IP, our content), so it must not
    suppress the recipient however often it repeats.
    """
    if status and status[2:4] == "7." and reason not in HARD_REASONS | {"suspend"}:
        return True
    return reason in NEVER_SUPPRESS_REASONS
