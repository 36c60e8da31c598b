"""Parse one message that arrived at a bounce address.

Standard library only: this runs in the bounce hook on the mail host's system
Python 3.11 (Debian 12).

``parse_bytes(data)`` returns a :class:`Report` whose ``kind`` is one of

- ``dsn``: an RFC 3464 delivery-status notification (or its RFC 6533
  internationalised form, ``message/global-delivery-status``) whose
  per-recipient fields named the recipients;
- ``legacy``: a non-standard bounce (qmail, Exim text, Exchange, Yahoo, ...),
  or a DSN without usable per-recipient fields, recovered from the text;
- ``arf``: an RFC 5965 feedback report (a complaint, not a bounce);
- ``autoreply``: an RFC 3834 auto-reply or a vacation message (not a bounce);
- ``not-bounce``: anything else.

It never raises on any input: whatever cannot be understood degrades to
``not-bounce`` or to a ``legacy`` report with what could be recovered.
"""

from __future__ import annotations

import re
from email.message import Message

try:
    from . import classify, legacy, mime
except ImportError:  # loose files copied beside hook.py onto the mail host
    import classify  # type: ignore[no-redef]
    import legacy  # type: ignore[no-redef]
    import mime  # type: ignore[no-redef]

KINDS = ("dsn", "legacy", "arf", "autoreply", "not-bounce")
MAX_PARSE_BYTES = 4 * 1024 * 1024  # the report parts come first; the rest is the returned copy


_BOUNCE_FIELDS = ("recipient", "action", "status", "replycode", "reason", "hard", "permanent",
                  "diagnostic", "reporting_mta", "message_id")


class Bounce:
    """One recipient named by a report.

    ``action``: failed | delayed (RFC 3464 §2.3.3), or feedback | autoreply
    for the non-bounces; ``message_id``: the original message's Message-ID
    when the report carries it.  (A plain class, not a dataclass: importing
    dataclasses costs the hook several milliseconds per message.)
    """

    __slots__ = _BOUNCE_FIELDS

    def __init__(self, recipient: str, action: str, status: str | None, replycode: int | None,
                 reason: str, hard: bool, permanent: bool, diagnostic: str,
                 reporting_mta: str | None, message_id: str | None = None):
        self.recipient = recipient
        self.action = action
        self.status = status
        self.replycode = replycode
        self.reason = reason
        self.hard = hard
        self.permanent = permanent
        self.diagnostic = diagnostic
        self.reporting_mta = reporting_mta
        self.message_id = message_id

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in _BOUNCE_FIELDS}

    def __eq__(self, other) -> bool:
        return isinstance(other, Bounce) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Bounce({self.to_dict()!r})"


class Report:
    """What one message is (``kind``, one of KINDS) and the recipients it names."""

    __slots__ = ("kind", "bounces", "message_id", "feedback_type", "subject")

    def __init__(self, kind: str, bounces: list[Bounce] | None = None,
                 message_id: str | None = None, feedback_type: str | None = None,
                 subject: str = ""):
        self.kind = kind
        self.bounces = list(bounces or [])
        self.message_id = message_id  # the original message's Message-ID
        self.feedback_type = feedback_type  # ARF Feedback-Type (RFC 5965 §3.1)
        self.subject = subject

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message_id": self.message_id,
            "feedback_type": self.feedback_type,
            "bounces": [b.to_dict() for b in self.bounces],
        }

    def __repr__(self) -> str:
        return f"Report({self.to_dict()!r})"


# --- entry points ---------------------------------------------------------

def parse_bytes(data: bytes) -> Report:
    """Parse one raw message (bytes, any line endings).  Never raises."""
    try:
        import email

        if not isinstance(data, (bytes, bytearray)):
            data = bytes(data)
        data = bytes(data[:MAX_PARSE_BYTES])
        msg = email.message_from_bytes(data)
        return parse_message(msg, data)
    except Exception:  # the promise is "never crashes"; see tests
        return Report(kind="not-bounce")


def parse_message(msg: Message, raw: bytes | None = None) -> Report:
    try:
        return _parse(msg, raw)
    except Exception:
        return Report(kind="not-bounce")


# --- the dispatcher -------------------------------------------------------

_BOUNCE_FROM_RE = re.compile(r"mailer-?daemon|postmaster|mail ?delivery|mdaemon|"
                             r"delivery ?subsystem|"
                             r"\bmta\b|ndr@", re.I)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery (?:status )?(?:notification|failure|failed|problem|warning|report)"
    r"|returned mail|failure notice|failed mail|mail delivery|non-?delivery|not delivered"
    r"|could not be delivered"
    r"|delivery failure|returning message|mail error|processing error|delayed|not yet delivered"
    r"|user unknown|rejected mail|automatically rejected|mail not delivered|failure delivery"
    r"|non remis",
    re.I,
)
_BOUNCE_BODY_RE = re.compile(
    r"could not be delivered|undeliverable|delivery (?:has )?failed|was not delivered|did not reach"
    r"|permanent (?:fatal )?error|unable to deliver|returned mail|delivery to the following",
    re.I,
)
_AUTOREPLY_SUBJECT_RE = re.compile(
    r"^\s*(?:(?:re|aw|fw|fwd)\s*:\s*)?(?:auto(?:matic|matische)?[ -]?"
    r"(?:reply|response|responder|antwort|risposta|"
    r"respuesta|r[ée]ponse)|auto:|out of (?:the )?office|\booo\b|abwesenheit|vacation|absence|"
    r"r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica|automatisch antwoord|"
    r"away from (?:my|the) (?:desk|office)|on (?:annual )?leave|autosvar|automaattinen vastaus)",
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
    if report_type == "feedback-report" or ctypes & mime.FEEDBACK_TYPES:
        return _parse_arf(msg, parts, original_id, subject)

    human = "\n".join(mime.part_text(p) for c, p in parts if c in ("text/plain", "text/html"))
    dsn_parts = [p for c, p in parts if c in mime.DSN_TYPES]
    if dsn_parts:
        bounces = _parse_dsn(dsn_parts, human, original_id)
        if bounces:
            return Report(kind="dsn", bounces=bounces, message_id=original_id, subject=subject)
        bounces = _parse_legacy(msg, human, subject, original_id)
        return Report(kind="legacy", bounces=bounces, message_id=original_id, subject=subject)

    # A bounce that says it is one (null-sender-style From, bounce Subject,
    # X-Failed-Recipients) is a bounce even when it also carries RFC 3834
    # "Auto-Submitted: auto-replied", as Sieve/LDA rejections do (RFC 5429).
    bouncy = _looks_like_bounce(msg, subject, human, ctypes)
    if not bouncy and _is_autoreply(msg, subject):
        return _autoreply(msg, original_id, subject)
    if bouncy:
        bounces = _parse_legacy(msg, human, subject, original_id)
        if not bounces and depth < 2:
            # A bounce forwarded as an attachment by a gateway: the real
            # report is the attached message.
            inner = _attached_report(parts, depth)
            if inner is not None and inner.bounces:
                return inner
        return Report(kind="legacy", bounces=bounces, message_id=original_id, subject=subject)
    if _is_autoreply(msg, subject):
        return _autoreply(msg, original_id, subject)
    return Report(kind="not-bounce", message_id=original_id, subject=subject)


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


# --- RFC 3464 -------------------------------------------------------------

_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


def _dsn_address(value: str | None) -> str | None:
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
        addr = addr.split()[0] if addr.split() else ""
    addr = addr.strip("<>\"'")
    return addr if "@" in addr else None


def _chr(hexdigits: str) -> str:
    try:
        return chr(int(hexdigits, 16))
    except (ValueError, OverflowError):
        return "?"


def _dsn_value(value: str | None) -> str:
    """Strip the RFC 3464 §2.1.2 type ("dns;", "smtp;", "X-Postfix;")."""
    if not value:
        return ""
    kind, sep, rest = value.partition(";")
    if sep and re.fullmatch(r"\s*[A-Za-z][\w-]*\s*", kind):
        return rest.strip()
    return value.strip()


def _recipient_groups(blocks: list[list[tuple[str, str]]]):
    """Per-message fields and per-recipient groups.

    RFC 3464 §2.1: the first block is per-message and each further block one
    recipient; real MTAs sometimes omit the blank lines (several recipients in
    one block) or put everything in one block, so a new group starts whenever
    a recipient field repeats.
    """
    per_message: dict[str, str] = {}
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for block in blocks:
        for name, value in block:
            if name in ("final-recipient", "original-recipient"):
                if name in current or "action" in current or "status" in current:
                    groups.append(current)
                    current = {}
                current[name] = value
            elif name in ("action", "status", "diagnostic-code", "remote-mta",
                          "x-actual-recipient", "last-attempt-date", "will-retry-until",
                          "x400-supplementary-info", "final-log-id"):
                if name in current and name in ("action", "status"):
                    groups.append(current)
                    current = {}
                current.setdefault(name, value)
            else:
                per_message.setdefault(name, value)
        if current:
            groups.append(current)
            current = {}
    return per_message, [g for g in groups if g]


def _parse_dsn(dsn_parts: list[Message], human: str, original_id: str | None) -> list[Bounce]:
    bounces: list[Bounce] = []
    seen: set[tuple[str, str]] = set()
    for part in dsn_parts:
        per_message, groups = _recipient_groups(mime.parse_fields(mime.report_part_text(part)))
        reporting_mta = _dsn_value(per_message.get("reporting-mta")) or None
        for group in groups:
            # RFC 3464 §2.3.1: Original-Recipient is the address as we sent
            # it (ORCPT); Final-Recipient may be a rewritten/forwarded one.
            recipient = (_dsn_address(group.get("original-recipient"))
                         or _dsn_address(group.get("final-recipient"))
                         or _dsn_address(group.get("x-actual-recipient")))
            if not recipient:
                continue
            status_raw = group.get("status", "")
            diagnostic = _dsn_value(group.get("diagnostic-code"))
            status = classify.find_status(status_raw)
            if status and status.endswith(".0.0"):
                better = classify.find_status(diagnostic)
                if better and better[0] == status[0]:
                    status = better
            action = _action(group.get("action", ""), status, status_raw)
            if action in _SUCCESS_ACTIONS:
                continue
            comment = re.sub(r"^\s*[245]\.\d{1,3}\.\d{1,3}\s*", "", status_raw)
            extra = _dsn_value(group.get("x400-supplementary-info"))
            text = " ".join(x for x in (diagnostic, comment.strip(" ()"), extra) if x)
            verdict = classify.classify(action, status, text)
            if verdict.reason == "undefined" and human.strip():
                human_diag = legacy.report_text_only(human)
                verdict = classify.classify(action, status, text + "\n" + human_diag)
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
    if word in ("failed", "failure", "error", "fail", "bounced", "rejected"):
        return "failed"
    if word in ("delayed", "delay", "deferred"):
        return "delayed"
    if word in _SUCCESS_ACTIONS:
        return word
    # Missing or unknown: RFC 3463 §3.1 class decides (a 4.x.x without an
    # action is a transient condition, i.e. a delay).
    cls = (status or status_raw.strip() or "5")[0]
    return "delayed" if cls == "4" else "failed"


# --- legacy ---------------------------------------------------------------

def _addresses(msg: Message, *names: str) -> set[str]:
    from email.utils import getaddresses

    values = []
    for name in names:
        try:
            values.extend(str(v) for v in (msg.get_all(name) or []))
        except Exception:
            continue
    try:
        return {a.lower() for _, a in getaddresses(values) if "@" in a}
    except Exception:
        return set()


def _parse_legacy(msg: Message, human: str, subject: str, original_id: str | None) -> list[Bounce]:
    # The bounce's correspondents are not failed recipients.  (Not
    # X-Original-To/Delivered-To: some gateways put the failed recipient there.)
    exclude = _addresses(msg, "from", "to", "cc", "sender", "reply-to", "errors-to")
    failed_header = []
    for value in msg.get_all("x-failed-recipients") or []:
        failed_header.extend(a.strip() for a in str(value).split(",") if "@" in a)
    from_addrs = _addresses(msg, "from")
    reporter_domain = next(iter(from_addrs)).split("@", 1)[1] if from_addrs else None
    found = legacy.extract(human, exclude, failed_header, reporter_domain)
    report_text = legacy.report_text_only(human)
    action = "delayed" if legacy.is_delay(subject, report_text) else "failed"
    reporting_mta = reporter_domain
    bounces = []
    for recipient, diagnostic in found:
        text = diagnostic or ""
        verdict = classify.classify(action, None, text)
        if verdict.reason == "undefined":
            verdict = classify.classify(action, None, text + "\n" + report_text + "\n" + subject)
        bounces.append(Bounce(
            recipient=recipient, action=action, status=verdict.status,
            replycode=verdict.replycode if classify.find_replycode(text) else None,
            reason=verdict.reason, hard=verdict.hard, permanent=verdict.permanent,
            diagnostic=diagnostic, reporting_mta=reporting_mta, message_id=original_id,
        ))
    return bounces


def _looks_like_bounce(msg: Message, subject: str, human: str, ctypes: set[str]) -> bool:
    if msg.get("x-failed-recipients"):
        return True
    sender = mime.header(msg, "from")
    if _BOUNCE_FROM_RE.search(sender) or re.search(r"<>\s*$", sender):
        return True
    if _BOUNCE_SUBJECT_RE.search(subject):
        return True
    auto = mime.header(msg, "auto-submitted").lower()
    return bool(_BOUNCE_BODY_RE.search(human[:5000]) and (auto.startswith("auto-generated")
                                                          or ctypes & mime.MDN_TYPES))


# --- RFC 3834 / vacation --------------------------------------------------

def _is_autoreply(msg: Message, subject: str) -> bool:
    # RFC 3834 §5: Auto-Submitted: auto-replied marks a response generated
    # by an automatic responder (vacation); auto-generated (bounces, digests)
    # is not an auto-reply.
    auto = mime.header(msg, "auto-submitted").lower()
    if auto.startswith("auto-replied"):
        return True
    if auto.startswith("auto-generated"):
        return False
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder", "x-vacation"):
        if msg.get(name) is not None:
            return True
    precedence = (mime.header(msg, "precedence") + mime.header(msg, "x-precedence")).lower()
    if "auto_reply" in precedence or "auto-reply" in precedence:
        return True
    if mime.header(msg, "x-ms-exchange-inbox-rules-loop") and _AUTOREPLY_SUBJECT_RE.search(subject):
        return True
    return bool(_AUTOREPLY_SUBJECT_RE.search(subject))


def _autoreply(msg: Message, original_id: str | None, subject: str) -> Report:
    from_addrs = sorted(_addresses(msg, "from"))
    in_reply_to = _first_msgid(mime.header(msg, "in-reply-to")) or \
        _first_msgid(mime.header(msg, "references"))
    bounces = [Bounce(recipient=a, action="autoreply", status=None, replycode=None,
                      reason="vacation", hard=False, permanent=False, diagnostic=subject[:200],
                      reporting_mta=None, message_id=in_reply_to or original_id)
               for a in from_addrs[:1]]
    return Report(kind="autoreply", bounces=bounces, message_id=in_reply_to or original_id,
                  subject=subject)


# --- RFC 5965 -------------------------------------------------------------

def _parse_arf(msg: Message, parts, original_id: str | None, subject: str) -> Report:
    fields: dict[str, list[str]] = {}
    for ctype, part in parts:
        if ctype in mime.FEEDBACK_TYPES:
            for block in mime.parse_fields(mime.report_part_text(part)):
                for name, value in block:
                    fields.setdefault(name, []).append(value)
    feedback_type = (fields.get("feedback-type") or ["abuse"])[0].strip().lower()
    # RFC 5965 §3.2: Original-Rcpt-To is optional (often redacted); fall back
    # to the To of the returned message (§2 item 3, the third MIME part).
    recipients = [a for a in (_dsn_address(v) for v in fields.get("original-rcpt-to", [])) if a]
    if not recipients:
        for ctype, part in parts:
            if ctype in mime.ORIGINAL_TYPES:
                recipients = sorted(_original_header_addresses(part, "to"))
                if recipients:
                    break
    reporting = _dsn_value((fields.get("reporting-mta") or [""])[0]) or \
        (fields.get("user-agent") or [None])[0]
    source_ip = (fields.get("source-ip") or [""])[0]
    diag = f"feedback-type={feedback_type}" + (f"; source-ip={source_ip}" if source_ip else "")
    bounces = [Bounce(recipient=r, action="feedback", status=None, replycode=None,
                      reason="feedback", hard=False, permanent=False, diagnostic=diag,
                      reporting_mta=reporting, message_id=original_id) for r in recipients]
    return Report(kind="arf", bounces=bounces, message_id=original_id,
                  feedback_type=feedback_type, subject=subject)


def _original_header_addresses(part: Message, name: str) -> set[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return _addresses(payload[0], name)
    text = mime.report_part_text(part) if not isinstance(payload, str) else payload
    m = re.search(rf"(?im)^{name}:\s*(.+(?:\n[ \t].+)*)", text or "")
    if not m:
        return set()
    return {a.lower() for a in legacy.ADDR_RE.findall(m.group(1))}


# --- the original Message-ID ---------------------------------------------

_MSGID_RE = re.compile(rb"(?im)^[> \t]*Message-ID:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{3,250}>)")


def _first_msgid(text: str) -> str | None:
    m = re.search(r"<[^<>\s]{3,250}>", text or "")
    return m.group(0) if m else None


def _original_message_id(raw: bytes | None, msg: Message) -> str | None:
    """The Message-ID of the message this report is about.

    It is in the returned copy (RFC 3464 §2: message/rfc822 or
    text/rfc822-headers, RFC 3462), or quoted in the text of a legacy bounce;
    never the bounce's own Message-ID, which is in its top-level header.
    """
    if raw is None:
        try:
            raw = msg.as_bytes()
        except Exception:
            return None
    sep = re.search(rb"\r?\n\r?\n", raw)
    body = raw[sep.end():] if sep else b""
    m = _MSGID_RE.search(body)
    if not m:
        return None
    return m.group(1).decode("utf-8", "replace")
