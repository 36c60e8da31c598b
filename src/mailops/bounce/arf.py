"""Complaints: RFC 5965 feedback reports (ARF) and provider complaint notices.

Standard library only (the bounce hook imports it on the mail host).
"""

from __future__ import annotations

import re

from . import dsn, mime
from .message import Message
from .report import Bounce, Report


def parse(msg: Message, parts, original_id: str | None, subject: str) -> Report:
    fields: dict[str, list[str]] = {}
    for ctype, part in parts:
        if ctype in mime.FEEDBACK_TYPES:
            for block in mime.parse_fields(mime.report_part_text(part)):
                for name, value in block:
                    fields.setdefault(name, []).append(value)
    feedback_type = (fields.get("feedback-type") or ["abuse"])[0].strip().lower()
    # RFC 5965 §3.2: Original-Rcpt-To is optional (often redacted); fall back
    # to the To of the returned message (§2 item 3, the third MIME part).
    # Removal-Recipient: the opt-out report of the ARF drafts before RFC 5965.
    recipients = [a for a in (dsn.address(v) for v in fields.get("original-rcpt-to", [])
                              + fields.get("removal-recipient", [])) if a]
    # Microsoft's JMRP names the recipient in a header of the returned copy.
    for name in ("x-hmxmroriginalrecipient", "to"):
        if recipients:
            break
        for ctype, part in parts:
            if ctype in mime.ORIGINAL_TYPES:
                recipients = sorted(_original_header_addresses(part, name))
                if recipients:
                    break
    reporting = dsn.value((fields.get("reporting-mta") or [""])[0]) or \
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
        return mime.addresses(payload[0], name)
    text = mime.report_part_text(part) if not isinstance(payload, str) else payload
    m = re.search(rf"(?im)^{name}:\s*(.+(?:\n[ \t].+)*)", text or "")
    if not m:
        return set()
    from . import legacy  # only here: few complaints name their recipient only there

    return {a.lower() for a in legacy.ADDR_RE.findall(m.group(1))}
