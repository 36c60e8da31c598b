"""Provider notifications in JSON: Amazon SES bounce and complaint notices.

SES publishes bounces, complaints and deliveries as JSON documents (sent by
mail directly, or wrapped in an SNS "Notification" whose "Message" is the
document as a string).  Fields as documented in the Amazon SES Developer
Guide, "Contents of notifications for Amazon SES": notificationType
Bounce | Complaint | Delivery; bounce.bounceType Permanent | Transient |
Undetermined; bounce.bouncedRecipients[].emailAddress / status /
diagnosticCode; complaint.complainedRecipients[].emailAddress.

Standard library only (the bounce hook imports it on the mail host).
"""

from __future__ import annotations

import re

try:
    from . import classify
    from .lazyre import lazy
    from .report import Bounce, Report
except ImportError:  # loose files copied beside hook.py onto the mail host
    import classify  # type: ignore[no-redef]
    from lazyre import lazy  # type: ignore[no-redef]
    from report import Bounce, Report  # type: ignore[no-redef]

# Cheap test before any JSON is decoded.
_MARK_RE = lazy(r'"notificationType"\s*:|"Type"\s*:\s*"Notification"')


def looks_like_notice(text: str) -> bool:
    return bool(_MARK_RE.search(text[:4096]))


def _document(text: str) -> dict | None:
    import json

    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    body = text[start:end + 1]
    # SNS e-mail deliveries fold the one-line document at about 1000
    # characters (a line break and a space, like a folded header).
    for candidate in (body, re.sub(r"\r?\n[ \t]", "", body), re.sub(r"\r?\n", "", body)):
        try:
            doc = json.loads(candidate)
            break
        except ValueError:
            continue
    else:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("Message"), str):  # the SNS envelope
        try:
            doc = json.loads(doc["Message"])
        except ValueError:
            return None
    return doc if isinstance(doc, dict) else None


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def parse(text: str, subject: str) -> Report | None:
    """The report a JSON notification makes, or None if ``text`` is not one."""
    doc = _document(text)
    if doc is None:
        return None
    kind = _str(doc.get("notificationType") or doc.get("eventType")).lower()
    mail = doc.get("mail") if isinstance(doc.get("mail"), dict) else {}
    # mail.messageId is SES's own identifier; the RFC 5322 Message-ID, when
    # SES includes the headers, is in commonHeaders.
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    message_id = _str(common.get("messageId")) or None
    if kind == "complaint":
        complaint = doc.get("complaint") if isinstance(doc.get("complaint"), dict) else {}
        feedback_type = _str(complaint.get("complaintFeedbackType")).lower() or "abuse"
        bounces = [Bounce(recipient=r["emailAddress"], action="feedback", status=None,
                          replycode=None, reason="feedback", hard=False, permanent=False,
                          diagnostic=f"feedback-type={feedback_type}",
                          reporting_mta=_str(complaint.get("userAgent")) or None,
                          message_id=message_id)
                   for r in complaint.get("complainedRecipients") or []
                   if isinstance(r, dict) and "@" in _str(r.get("emailAddress"))]
        return Report(kind="arf", bounces=bounces, message_id=message_id,
                      feedback_type=feedback_type, subject=subject)
    if kind != "bounce":
        return Report(kind="not-bounce", message_id=message_id, subject=subject)
    bounce = doc.get("bounce") if isinstance(doc.get("bounce"), dict) else {}
    # Transient means SES will not retry either, but the condition may pass
    # (mailbox full, ...): classified like a failed action with its status.
    reporting = _str(bounce.get("reportingMTA")).partition(";")[2].strip() or None
    bounces = []
    for r in bounce.get("bouncedRecipients") or []:
        if not isinstance(r, dict) or "@" not in _str(r.get("emailAddress")):
            continue
        diagnostic = _str(r.get("diagnosticCode"))
        diagnostic = diagnostic.partition(";")[2].strip() if ";" in diagnostic[:8] else diagnostic
        action = "failed"
        verdict = classify.classify(action, _str(r.get("status")) or None, diagnostic,
                                    context=_str(bounce.get("bounceSubType")))
        bounces.append(Bounce(
            recipient=r["emailAddress"], action=action, status=verdict.status,
            replycode=verdict.replycode, reason=verdict.reason, hard=verdict.hard,
            permanent=verdict.permanent, diagnostic=diagnostic[:1000], reporting_mta=reporting,
            message_id=message_id))
    return Report(kind="dsn", bounces=bounces, message_id=message_id, subject=subject)
