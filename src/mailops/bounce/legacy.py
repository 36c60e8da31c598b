"""Recover failed recipients from bounces that are not RFC 3464 reports.

qmail (QSBMF), Exim's plain-text bounces, old Sendmail, Exchange 5.5/GroupWise
"did not reach the following recipient(s)", Yahoo, MDaemon, Domino, smtp32,
hMailServer, MailEnable, ... all write a human paragraph, a list of addresses,
a diagnostic per address, and then a copy of the original message.

The approach is the same for all of them, no per-vendor detector:

1. keep only the report text: text parts outside the returned message, cut
   at the line that introduces the copy of the original;
2. find addresses in it, in contexts that name a failed recipient (the line
   starts with the address, or carries failure wording or an SMTP code);
   fall back to every address left once the bounce's own correspondents
   (From, To, postmaster, ...) are removed;
3. take the lines that follow each address as its diagnostic.

Standard library only.
"""

from __future__ import annotations

import re

try:
    from . import classify, mime
    from .lazyre import lazy
    from .message import Message
    from .report import Bounce
except ImportError:  # loose files copied beside hook.py onto the mail host
    import classify  # type: ignore[no-redef]
    import mime  # type: ignore[no-redef]
    from lazyre import lazy  # type: ignore[no-redef]
    from message import Message  # type: ignore[no-redef]
    from report import Bounce  # type: ignore[no-redef]

# An address as printed in bounce text.  Unicode letters are allowed on both
# sides (RFC 6531 internationalised addresses).
ADDR_RE = lazy(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    r"([\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[\w](?:[\w-]*[\w])?\.)+[^\W\d_][\w-]*[^\W_]|"
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*@\[[\d.:a-fA-F]+\])"
)

_FAILURE_WORDS = lazy(
    r"fail|undeliver|unable|could ?not|couldn't|cannot|can't|not (?:be )?delivered|did not reach"
    r"|unknown|no such|invalid|reject|error|bounce|quota|full|not listed|does not exist|doesn't"
    r"|not found|not known|wrong|no longer|disabled|addressed\b|recipient|rcpt to|mailbox"
    r"|undisclosed|not accepting|delay|not yet|postponed|(?<![\d.])[45]\d\d(?![\d.])",
    re.I,
)
# Summary lines that name the sender or the message, not a failed recipient.
_SUMMARY_RE = lazy(r"^\s*[*\->]*\s*(?:from|sender|reply-to|return-path|subject|date|sent|"
                         r"message-id|errors-to)\s*:", re.I)
_TO_SUMMARY_RE = lazy(r"^\s*[*\->]*\s*(?:to|cc)\s*:", re.I)
_FROM_BEFORE_RE = lazy(r"(?<!generated )\b(?:from|via|by)\s*[<\"']?\s*$", re.I)
_REPLY_RE = lazy(r"(?<![\d.])[245]\d\d(?![\d.])")
_FOR_CLAUSE_RE = lazy(r"\bfor\s*<?\s*$", re.I)
_CONTACT_RE = lazy(r"contact|write to|send (?:e-?)?mail to|questions|assistance|"
                         r"administrator", re.I)
_ROLE_LOCALPARTS = frozenset({
    "postmaster", "mailer-daemon", "mailerdaemon", "mail-daemon", "abuse", "hostmaster",
    "webmaster", "root", "daemon", "mdaemon", "noreply", "no-reply", "nobody",
})
# The line that starts a list of failed recipients (bare local parts follow
# it on some old servers: AOL, Yale, JetMail).
_LIST_HEAD_RE = lazy(
    r"(?:following (?:recipient|address|user|destination)|recipients? (?:did not|could not)|"
    r"not delivered to|did not receive|could not be delivered)[^\n]*:\s*$",
    re.I,
)
_BARE_LOCAL_RE = lazy(
    r"^\s*[*>\-]*\s*([A-Za-z0-9][A-Za-z0-9._%+-]{0,63})(?:\s{2,}|\s*$|\s+\")")
_STOPWORDS = frozenset({
    "recipient", "recipients", "address", "addresses", "reason", "error", "the", "your",
    "message", "subject", "to", "from", "please", "sorry", "mail", "user", "users",
})

# A delay warning rather than a failure (no permanent wording).
_DELAY_RE = lazy(
    r"this is (?:just |only )?a warning|warning message only|has not yet been delivered"
    r"|not yet been delivered|delivery attempts will continue|will continue to (?:try|attempt)"
    r"|will be retried|will (?:keep )?try"
    r"|(?:has been|was|is) (?:postponed|delayed)|advisory[- ]only|still (?:trying|being retried)"
    r"|retry(?:ing)? (?:for|until)|message delayed|delivery (?:has been )?delayed",
)
_DELAY_SUBJECT_RE = lazy(
    r"\bdelay(?:ed)?\b|delivery (?:status )?warning|not yet delivered", re.I)
_PERMANENT_RE = lazy(
    r"permanent(?:ly)?\b|given up|giving up|not going to try again"
    r"|will not be (?:retried|delivered)"
    r"|has been removed from the mail queue|fatal",
)


def _clean(text: str) -> str:
    # Exchange/X.400 "dda:SMTP=user@dom", MailEnable "[SMTP:user@dom]", and
    # stray quoted-printable soft spaces ("=20") that some MTAs leave in.
    text = re.sub(r"(?i)\bSMTP[:=]", " ", text)
    return re.sub(r"=20\b", " ", text)


def organisational_domain(domain: str) -> str:
    labels = [x for x in domain.lower().strip(".").split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    # example.co.uk, example.com.ar: a short second-level label under a ccTLD.
    if len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def is_delay(subject: str, text: str) -> bool:
    text = text.lower()  # the patterns are lowercase: faster than re.IGNORECASE
    if _PERMANENT_RE.search(text):
        return False
    return bool(_DELAY_RE.search(text) or _DELAY_SUBJECT_RE.search(subject))


def extract(text: str, exclude: set[str], failed_header: list[str],
            reporter_domain: str | None) -> list[tuple[str, str]]:
    """Failed recipients with the diagnostic text that goes with each.

    ``exclude``: lowercase addresses that are not recipients (the bounce's
    From/To/...).  ``failed_header``: addresses from X-Failed-Recipients.
    ``reporter_domain``: the bounce's sender domain, to qualify bare local
    parts ("screenname") that a few old servers print instead of addresses.
    """
    text = _clean(mime.report_text_only(text))
    lines = text.split("\n")
    strong: dict[str, int] = {}
    weak: dict[str, int] = {}
    to_only: dict[str, int] = {}

    reporter_org = organisational_domain(reporter_domain) if reporter_domain else None

    def usable(addr: str, alone: bool = False, line: str = "") -> bool:
        low = addr.lower()
        local, _, domain = low.partition("@")
        if "/" in local:
            return False  # a file path ("/home/user/.forward/x@y"), not an address
        if low in exclude and not alone:
            # The bounce's own correspondents -- unless the report lists the
            # address alone on its line, as qmail and Exim list failures
            # (someone may well have written to themselves).
            return False
        if local in _ROLE_LOCALPARTS:
            # "contact postmaster@..." is advice; a role address is a failed
            # recipient only when listed, or named in a failure sentence about
            # another domain than the reporter's.
            return alone or (bool(_FAILURE_WORDS.search(line)) and not _CONTACT_RE.search(line)
                             and organisational_domain(domain) != reporter_org)
        return True

    previous = ""
    for i, line in enumerate(lines):
        matches = list(ADDR_RE.finditer(line))
        if not matches:
            if line.strip():
                previous = line
            continue
        summary = _SUMMARY_RE.match(line)
        to_line = _TO_SUMMARY_RE.match(line)
        starts = re.match(r"^\s*[\W_]{0,6}$", line[: matches[0].start()]) is not None
        worded = bool(_FAILURE_WORDS.search(line))
        # "Name <addr>": the first is a display name (RFC 5322 §3.4), wherever
        # else on the line it appears.
        display = {m.group(1).lower() for m in matches
                   if re.match(r"\s+<[^<>@\s]+@", line[m.end():])}
        for m in matches:
            addr = m.group(1).strip(".'`")
            alone = starts and m is matches[0] and not line[m.end():].strip(" \t<>:;,.\"'()[]")
            if "@" not in addr or addr.lower() in display or not usable(addr, alone, line):
                continue
            if summary or _FROM_BEFORE_RE.search(line[: m.start()]):
                continue  # "mail from <sender>", "via <relay>": not a recipient
            if starts and m is matches[0] and _FROM_BEFORE_RE.search(previous):
                continue  # "A message sent by\n  <sender>": the sender, on its own line
            if _FOR_CLAUSE_RE.search(line[: m.start()]) and re.match(r">?\s*;", line[m.end():]):
                continue  # a Received header's "for <addr>;" (RFC 5321 §4.4)
            if to_line:
                to_only.setdefault(addr, i)
            elif (starts and m is matches[0]) or worded:
                strong.setdefault(addr, i)
            else:
                weak.setdefault(addr, i)
        previous = line
    # Exim's X-Failed-Recipients names them for sure; their diagnostic is
    # the text after where the report mentions them, if it does.
    known = {a.lower() for a in strong}
    for addr in failed_header:
        if usable(addr, True) and addr.lower() not in known:
            position = next((i for i, line in enumerate(lines) if addr.lower() in line.lower()), -1)
            strong[addr] = position
            known.add(addr.lower())
    found = strong or weak or to_only
    if reporter_domain:
        # A list of failed recipients given as bare local parts (AOL, Yale,
        # JetMail) is the report itself; addresses elsewhere in such a
        # report are suggestions or the sender.
        bare = _bare_local_parts(lines, organisational_domain(reporter_domain))
        if bare:
            named = {a.split("@", 1)[0].lower() for a in failed_header}
            found = {a: -1 for a in failed_header if usable(a, True)} | {
                a: i for a, i in bare.items() if a.split("@", 1)[0].lower() not in named}
    # A duplicate that differs only by case is the same recipient.
    seen: set[str] = set()
    result = []
    for addr, index in found.items():
        if addr.lower() in seen:
            continue
        seen.add(addr.lower())
        result.append((addr, _diagnostic(lines, index, addr, text)))
    return result


def _bare_local_parts(lines: list[str], domain: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, line in enumerate(lines):
        if not _LIST_HEAD_RE.search(line):
            continue
        for j in range(i + 1, min(i + 8, len(lines))):
            m = _BARE_LOCAL_RE.match(lines[j])
            if ADDR_RE.search(lines[j]):
                break
            if not lines[j].strip():
                if found:
                    break
                continue
            if m and m.group(1).lower() not in _STOPWORDS and not m.group(1).endswith(":"):
                found.setdefault(f"{m.group(1)}@{domain}", j)
            else:
                break
    return found


def _diagnostic(lines: list[str], index: int, addr: str, text: str) -> str:
    """The text about one recipient: the rest of its line and the lines after
    it up to a blank line or the next address (qmail, Exim, Postfix style)."""
    if index < 0:  # from X-Failed-Recipients: the whole report speaks for it
        return _squash(text)[:1000]
    out = [lines[index].replace(addr, " ")]
    for line in lines[index + 1: index + 8]:
        if not line.strip():
            # Stop at the blank line that ends this recipient's paragraph,
            # unless all we have is a lead-in ("because:", "There was an
            # error delivering your mail to <x>.") without any SMTP reply.
            said = " ".join(out)
            if len(said.strip(" <>:;,.\"'*-[]()\t")) >= 12 and _REPLY_RE.search(said):
                break
            if len(out) > 4:
                break
            continue
        if ADDR_RE.search(line) and not re.search(r"\d{3}|said|error|user|reason", line, re.I):
            break
        out.append(line)
    diag = _squash(" ".join(out))
    if len(diag.strip(" <>:;,.\"'*-[]()")) < 4:
        return ""
    return diag[:1000]


def _squash(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" <>:;,\"'*-[]()").strip()


def parse(msg: Message, human: str, subject: str, original_id: str | None) -> list[Bounce]:
    # The bounce's correspondents are not failed recipients.  (Not
    # X-Original-To/Delivered-To: some gateways put the failed recipient there.)
    exclude = mime.addresses(msg, "from", "to", "cc", "sender", "reply-to", "errors-to")
    failed_header = []
    for value in msg.get_all("x-failed-recipients") or []:
        failed_header.extend(a.strip() for a in str(value).split(",") if "@" in a)
    from_addrs = mime.addresses(msg, "from")
    reporter_domain = min(from_addrs).split("@", 1)[1] if from_addrs else None
    found = extract(human, exclude, failed_header, reporter_domain)
    report_text = mime.report_text_only(human)
    action = "delayed" if is_delay(subject, report_text) else "failed"
    reporting_mta = reporter_domain
    bounces = []
    for recipient, diagnostic in found:
        text = diagnostic or ""
        verdict = classify.classify(action, None, text,
                                    context=report_text + "\n" + subject)
        bounces.append(Bounce(
            recipient=recipient, action=action, status=verdict.status,
            replycode=verdict.replycode if classify.find_replycode(text) else None,
            reason=verdict.reason, hard=verdict.hard, permanent=verdict.permanent,
            diagnostic=diagnostic, reporting_mta=reporting_mta, message_id=original_id,
        ))
    return bounces
