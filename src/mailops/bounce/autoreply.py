"""RFC 3834 auto-replies and vacation notices: not bounces, recorded as such.

Standard library only (the bounce hook imports it on the mail host).
"""

from __future__ import annotations

import re

try:
    from . import mime
    from .lazyre import lazy
    from .message import Message
    from .report import Bounce, Report
except ImportError:  # loose files copied beside hook.py onto the mail host
    import mime  # type: ignore[no-redef]
    from lazyre import lazy  # type: ignore[no-redef]
    from message import Message  # type: ignore[no-redef]
    from report import Bounce, Report  # type: ignore[no-redef]

_AUTOREPLY_SUBJECT_RE = lazy(
    r"^\s*(?:(?:re|aw|fw|fwd)\s*:\s*)?(?:auto(?:matic|matische)?[ -]?"
    r"(?:reply|response|responder|antwort|risposta|"
    r"respuesta|r[ée]ponse)|auto:|out of (?:the )?office|\booo\b|abwesenheit|vacation|absence|"
    r"r[ée]ponse automatique|respuesta autom[aá]tica|risposta automatica|automatisch antwoord|"
    r"away from (?:my|the) (?:desk|office)|on (?:annual )?leave|autosvar|automaattinen vastaus)",
    re.I,
)


def is_autoreply(msg: Message, subject: str) -> bool:
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


def report(msg: Message, original_id: str | None, subject: str) -> Report:
    from_addrs = sorted(mime.addresses(msg, "from"))
    in_reply_to = mime.first_msgid(mime.header(msg, "in-reply-to")) or \
        mime.first_msgid(mime.header(msg, "references"))
    bounces = [Bounce(recipient=a, action="autoreply", status=None, replycode=None,
                      reason="vacation", hard=False, permanent=False, diagnostic=subject[:200],
                      reporting_mta=None, message_id=in_reply_to or original_id)
               for a in from_addrs[:1]]
    return Report(kind="autoreply", bounces=bounces, message_id=in_reply_to or original_id,
                  subject=subject)
