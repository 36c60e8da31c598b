"""Parse one message that arrived at a bounce address: which format, then its parser.

Standard library only: this runs in the bounce hook on the mail host's system
Python 3.11 (Debian 12).

``parse_bytes(data)`` returns a :class:`Report` whose ``kind`` is one of

- ``dsn``: an RFC 3464 delivery-status notification (or its RFC 6533
  internationalised form) whose per-recipient fields named the recipients
  (dsn.py);
- ``legacy``: a non-standard bounce (qmail, Exim text, Exchange, Yahoo, ...),
  or a DSN without usable per-recipient fields, recovered from the text
  (legacy.py);
- ``arf``: an RFC 5965 feedback report or a provider's complaint notice (a
  complaint, not a bounce; arf.py);
- ``autoreply``: an RFC 3834 auto-reply or a vacation message (autoreply.py);
- ``not-bounce``: anything else.

:func:`analyse` does the work and may raise on input it does not expect (the
fuzz tests exercise it); :func:`parse_bytes` is the hook's entry point and
never raises: whatever cannot be understood degrades to ``not-bounce``, and
the hook quarantines it.
"""


import re

from . import dsn, message, mime
from .lazyre import lazy
from .message import Message
from .report import KINDS, Bounce, Report


def _module(name: str):
    """A format module imported on first use: the hook parses one message, and
    most never need the complaint, notice or auto-reply code."""
    return __import__(f"{__package__}.{name}", fromlist=[name])


__all__ = ["KINDS", "Bounce", "Report", "analyse", "parse_bytes", "parse_message"]

MAX_PARSE_BYTES = 4 * 1024 * 1024  # the report parts come first; the rest is the returned copy


def parse_bytes(data: bytes) -> Report:
    """Parse one raw message (bytes, any line endings).  Never raises."""
    try:
        return analyse(data)
    except Exception:  # the hook's promise is "never crashes"; see the tests
        return Report(kind="not-bounce")


def parse_message(msg: Message, raw: bytes | None = None) -> Report:
    """Parse an already parsed message.  Never raises."""
    try:
        return _parse(msg, raw)
    except Exception:
        return Report(kind="not-bounce")


def analyse(data: bytes) -> Report:
    """Parse one raw message; unlike :func:`parse_bytes` an unexpected error propagates."""
    data = bytes(data[:MAX_PARSE_BYTES])
    return _parse(message.from_bytes(data), data)


# --- which format ---------------------------------------------------------

_BOUNCE_FROM_RE = lazy(r"mailer-?daemon|post_?master|mail ?delivery|mdaemon|"
                             r"delivery ?subsystem|"
                             r"\bmta\b|ndr@", re.I)
_BOUNCE_SUBJECT_RE = lazy(
    r"undeliver|delivery (?:status )?(?:notification|failure|failed|problem|warning|report)"
    r"|returned mail|failure notice|failed mail|mail delivery|non-?delivery|not delivered"
    r"|could not be delivered"
    r"|delivery failure|returning message|mail error|processing error|delayed|not yet delivered"
    r"|user unknown|rejected mail|automatically rejected|mail not delivered|failure delivery"
    r"|non remis",
    re.I,
)
_BOUNCE_BODY_RE = lazy(
    r"could not be delivered|undeliverable|delivery (?:has )?failed|was not delivered|did not reach"
    r"|permanent (?:fatal )?error|unable to deliver|returned mail|delivery to the following",
    re.I,
)
def _parse(msg: Message, raw: bytes | None, depth: int = 0) -> Report:
    subject = mime.header(msg, "subject")
    parts = list(mime.walk_report(msg))
    ctypes = {c for c, _ in parts}
    report_type = ""
    try:
        report_type = (msg.get_param("report-type") or "").lower() if mime.content_type(msg) \
            == "multipart/report" else ""
    except Exception:
        report_type = ""
    original_id = _original_message_id(raw, msg)

    # RFC 5965 §3: a feedback report is multipart/report;
    # report-type=feedback-report with a message/feedback-report part.
    if report_type == "feedback-report" or ctypes & mime.FEEDBACK_TYPES \
            or _is_complaint(parts, subject):
        return _module("arf").parse(msg, parts, original_id, subject)

    # The human-readable text; a multipart without any delimiter line is
    # one blob of text (its declared structure never materialised).
    human = "\n".join(mime.part_text(p) for c, p in parts
                      if c in ("text/plain", "text/html")
                      or (c.startswith("multipart/") and not p.is_multipart()))
    dsn_parts = [p for c, p in parts if c in mime.DSN_TYPES]
    if not dsn_parts and _module("notice").looks_like_notice(human):
        report = _module("notice").parse(human, subject)
        if report is not None:
            report.message_id = report.message_id or original_id
            return report
    if dsn_parts:
        bounces = dsn.parse(dsn_parts, human, original_id)
        if bounces:
            return Report(kind="dsn", bounces=bounces, message_id=original_id, subject=subject)
        bounces = _module("legacy").parse(msg, human, subject, original_id)
        return Report(kind="legacy", bounces=bounces, message_id=original_id, subject=subject)

    # A bounce that says it is one (null-sender-style From, bounce Subject,
    # X-Failed-Recipients) is a bounce even when it also carries RFC 3834
    # "Auto-Submitted: auto-replied", as Sieve/LDA rejections do (RFC 5429).
    bouncy = _looks_like_bounce(msg, subject, human, ctypes)
    if not bouncy and _module("autoreply").is_autoreply(msg, subject):
        return _module("autoreply").report(msg, original_id, subject)
    if bouncy:
        bounces = _module("legacy").parse(msg, human, subject, original_id)
        if not bounces and depth < 2:
            # A bounce forwarded as an attachment by a gateway: the real
            # report is the attached message.
            inner = _attached_report(parts, depth)
            if inner is not None and inner.bounces:
                return inner
        return Report(kind="legacy", bounces=bounces, message_id=original_id, subject=subject)
    if _module("autoreply").is_autoreply(msg, subject):
        return _module("autoreply").report(msg, original_id, subject)
    return Report(kind="not-bounce", message_id=original_id, subject=subject)


_COMPLAINT_SUBJECT_RE = lazy(r"^\s*(?:fw:\s*)?complaint about message", re.I)


def _is_complaint(parts, subject: str) -> bool:
    """A complaint that is not an RFC 5965 report: Microsoft's JMRP (the
    complained-about message attached, with X-HmXmrOriginalRecipient) and
    feedback loops that only attach the message under a complaint subject."""
    # The word first (a substring test): most messages never need the pattern compiled.
    if "complaint" in subject.lower() and _COMPLAINT_SUBJECT_RE.search(subject):
        return any(c in mime.ORIGINAL_TYPES for c, _ in parts)
    for ctype, part in parts:
        # The field name first (a substring test on the raw part): reading the returned
        # message's header costs more, and few carry it.
        if ctype in ("message/rfc822", "message/global") \
                and b"x-hmxmroriginalrecipient" in part.as_bytes().lower():
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message) \
                    and payload[0].get("x-hmxmroriginalrecipient") is not None:
                return True
    return False


def _attached_report(parts, depth: int) -> Report | None:
    for ctype, part in parts:
        if ctype not in ("message/rfc822", "message/global"):
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = _parse(payload[0], None, depth + 1)
            if inner.kind in ("dsn", "legacy"):
                return inner
    return None



# --- is it a bounce at all ------------------------------------------------

def _looks_like_bounce(msg: Message, subject: str, human: str, ctypes: set[str]) -> bool:
    if msg.get("x-failed-recipients"):
        return True
    sender = mime.header(msg, "from")
    if _BOUNCE_FROM_RE.search(sender) or re.search(r"<>\s*$", sender):
        return True
    if _BOUNCE_SUBJECT_RE.search(subject):
        return True
    auto = mime.header(msg, "auto-submitted").lower()
    # Failure words alone are not enough (people write them too); with an
    # auto-generated mark, or the returned message attached, they are.
    return bool(_BOUNCE_BODY_RE.search(human[:5000]) and (
        auto.startswith("auto-generated") or ctypes & mime.MDN_TYPES
        or ctypes & mime.ORIGINAL_TYPES))



# --- the original Message-ID ---------------------------------------------

# Found in the lowercased body (faster than IGNORECASE); the value is then read from
# the original bytes at the same offsets.

def _original_message_id(raw: bytes | None, msg: Message) -> str | None:
    """The Message-ID of the message this report is about.

    It is in the returned copy (RFC 3464 §2: message/rfc822 or
    text/rfc822-headers, RFC 3462), or quoted in the text of a legacy bounce;
    never the bounce's own Message-ID, which is in its top-level header.
    """
    if raw is None:
        raw = msg.as_bytes()
    sep = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf >= 0 and (sep < 0 or crlf < sep):
        sep = crlf + 2
    if sep < 0:
        return None
    body = raw[sep + 2:]
    at = _msgid_at(body.lower())
    return body[at[0]:at[1]].decode("utf-8", "replace") if at else None


_SPACE = b" \t\n\r\f\v"


def _msgid_at(lower: bytes) -> tuple[int, int] | None:
    """Where the <id> of the first "Message-ID:" line (quoted with ">" or not, folded
    once or not) is: what the pattern ``(?m)^[> \\t]*message-id:[ \\t]*(?:\\r?\\n[ \\t]+)?
    (<[^<>\\s]{3,250}>)`` would find, by substring search (one pattern less to compile
    per bounce)."""
    at = lower.find(b"message-id:")
    while at >= 0:
        line = lower.rfind(b"\n", 0, at) + 1
        if not lower[line:at].strip(b"> \t"):
            i = at + 11
            while lower[i:i + 1] in (b" ", b"\t"):
                i += 1
            fold = i + (1 if lower[i:i + 1] == b"\r" else 0)
            if lower[fold:fold + 1] == b"\n" and lower[fold + 1:fold + 2] in (b" ", b"\t"):
                i = fold + 1
                while lower[i:i + 1] in (b" ", b"\t"):
                    i += 1
            if lower[i:i + 1] == b"<":
                end = i + 1
                while end < len(lower) and end - i <= 251 and lower[end] not in b"<>" + _SPACE:
                    end += 1
                if lower[end:end + 1] == b">" and 3 <= end - i - 1 <= 250:
                    return i, end + 1
        at = lower.find(b"message-id:", at + 1)
    return None
