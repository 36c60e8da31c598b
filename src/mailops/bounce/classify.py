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
filtered           the recipient's own filter refused us
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

from __future__ import annotations

import functools
import re

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
    "blocked", "spamdetected", "virusdetected", "badreputation", "policyviolation",
    "securityerror", "authfailure", "requireptr", "norelaying", "failedstarttls",
    "rejected", "contenterror", "notcompliantrfc", "mesgtoobig", "syntaxerror",
    "speeding", "toomanyconn", "exceedlimit", "feedback", "vacation",
})

# RFC 3463 §3 subject.detail -> reason.  Class (2/4/5) is handled separately.
_STATUS_REASON = {
    "1.0": "userunknown", "1.1": "userunknown", "1.2": "hostunknown", "1.3": "userunknown",
    "1.4": "userunknown", "1.5": "undefined", "1.6": "hasmoved", "1.7": "rejected",
    "1.8": "rejected",
    "1.10": "notaccept",  # RFC 7505 §4.2: recipient domain has a null MX
    "2.0": "undefined", "2.1": "suspend", "2.2": "mailboxfull", "2.3": "mesgtoobig",
    "2.4": "mailererror",
    "3.0": "systemerror", "3.1": "systemfull", "3.2": "notaccept", "3.3": "systemerror",
    "3.4": "mesgtoobig", "3.5": "systemerror", "3.6": "undefined",
    "4.0": "networkerror", "4.1": "networkerror", "4.2": "networkerror",
    "4.3": "networkerror", "4.4": "hostunknown", "4.5": "toomanyconn",
    "4.6": "networkerror", "4.7": "expired",
    "5.0": "syntaxerror", "5.1": "syntaxerror", "5.2": "syntaxerror",
    "5.3": "exceedlimit", "5.4": "syntaxerror", "5.5": "syntaxerror", "5.6": "syntaxerror",
    "6.0": "contenterror", "6.1": "contenterror", "6.2": "contenterror",
    "6.3": "contenterror", "6.4": "contenterror", "6.5": "contenterror",
    "6.6": "contenterror", "6.7": "contenterror", "6.8": "contenterror",
    "6.9": "contenterror", "6.10": "contenterror",
    "7.0": "securityerror", "7.1": "rejected", "7.2": "rejected", "7.3": "securityerror",
    "7.4": "securityerror", "7.5": "securityerror", "7.6": "securityerror",
    "7.7": "securityerror", "7.8": "authfailure", "7.9": "authfailure",
    "7.10": "failedstarttls", "7.11": "failedstarttls", "7.12": "authfailure",
    "7.13": "suspend", "7.14": "authfailure", "7.15": "undefined", "7.16": "mesgtoobig",
    "7.17": "hasmoved", "7.18": "hasmoved", "7.19": "undefined", "7.20": "authfailure",
    "7.21": "authfailure", "7.22": "authfailure", "7.23": "authfailure",
    "7.24": "authfailure", "7.25": "requireptr", "7.26": "authfailure",
    "7.27": "rejected", "7.28": "speeding", "7.29": "authfailure", "7.30": "failedstarttls",
}

# Codes so generic (or so overloaded by big providers) that the diagnostic
# text says more than the number: 5.7.1 is "delivery not authorized" and is
# used for everything from spam to block lists; X.1.10 is null MX in RFC 7505
# but Microsoft 365 uses 5.1.10 for "recipient not found".
_REFINABLE = frozenset({
    "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "7.1", "1.10", "4.4", "3.2", "3.5",
    "4.1", "4.2", "7.27",
})

# reason -> subject.detail used when a report gives no status and we derive
# one from the text (RFC 3463 §3 closest match).
_REASON_STATUS = {
    "userunknown": "1.1", "hostunknown": "1.2", "hasmoved": "1.6", "notaccept": "1.10",
    "mailboxfull": "2.2", "suspend": "2.1", "expired": "4.7", "filtered": "7.1",
    "rejected": "7.1", "blocked": "7.1", "norelaying": "7.1", "networkerror": "4.1",
    "systemerror": "3.0", "systemfull": "3.1", "mailererror": "3.0", "mesgtoobig": "3.4",
    "exceedlimit": "5.3", "spamdetected": "7.1", "virusdetected": "7.1",
    "policyviolation": "7.1", "securityerror": "7.0", "authfailure": "7.26",
    "badreputation": "7.1", "requireptr": "7.25", "notcompliantrfc": "6.0",
    "contenterror": "6.0", "syntaxerror": "5.2", "toomanyconn": "4.5", "speeding": "7.28",
    "failedstarttls": "7.10", "suppressed": "1.1", "onhold": "0.0", "undefined": "0.0",
}

# Text patterns, most specific first: the first that matches wins.  They are
# the phrases MTAs and big providers actually print (Postfix, Exim, Sendmail,
# qmail, Exchange/Microsoft 365, Gmail, Yahoo, Domino, ...).
_TEXT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("virusdetected", (
        r"virus",
        r"malware",
        r"infected",
        r"trojan",
        r"phishing attachment",
    )),
    ("norelaying", (
        r"relay(?:ing)? (?:access )?(?:denied|not (?:allowed|permitted))",
        r"unable to relay",
        r"not permitted to relay",
        r"we do not relay",
        r"relaying (?:is )?(?:denied|prohibited)",
    )),
    ("requireptr", (
        r"reverse (?:dns|lookup|hostname)",
        r"\bptr\b",
        r"\brdns\b",
        r"cannot find your hostname",
        r"client host .{0,40} (?:has no|without) (?:reverse|ptr)",
    )),
    ("badreputation", (
        r"reputation",
        r"sender score",
        r"senderscore",
        r"unexpected volume or user complaints",
    )),
    ("spamdetected", (
        r"spam(?!haus|cop)",
        r"unsolicited",
        r"bulk mail",
        r"junk mail",
        r"\buce\b",
        r"content filter rejected",
    )),
    ("blocked", (
        r"block ?list",
        r"blacklist",
        r"deny ?list",
        r"\bdnsbl\b",
        r"\brbl\b",
        r"spamhaus",
        r"spamcop",
        r"barracuda",
        r"\bblocked\b",
        r"\bbanned\b",
        r"(?<!not )listed (?:at|in|on) ",
        r"access denied",
        r"traffic not accepted",
        r"client host rejected",
        r"your ip",
        r"connection refused by policy",
    )),
    ("authfailure", (
        r"\bspf\b",
        r"\bdkim\b",
        r"\bdmarc\b",
        r"\barc\b validation",
        r"authentication (?:failed|required)",
        r"not authenticated",
        r"unauthenticated",
    )),
    ("failedstarttls", (
        r"starttls",
        r"\btls\b (?:is )?required",
        r"encryption required",
        r"must use tls",
    )),
    ("suppressed", (
        r"suppress(?:ed|ion) list",
        r"on (?:the|our|a) suppression",
        r"previously bounced",
    )),
    ("hasmoved", (
        r"has moved",
        r"address (?:has )?changed",
        r"no longer (?:at|with) ",
        r"new (?:e-?mail )?address is",
    )),
    ("mailboxfull", (
        r"mailbox (?:is )?full",
        r"over ?quota",
        r"quota (?:exceeded|violation)",
        r"exceed\w* .{0,30}quota",
        r"disk quota",
        r"mailfolder is full",
        r"mailbox size limit",
        r"too much mail",
        r"space not enough",
        r"full mailbox",
        r"storage (?:limit|full)",
        r"insufficient (?:disk )?space",
        r"user'?s? (?:mailbox|inbox) .{0,20}full",
        r"inbox (?:is )?full",
        r"mailbox has exceeded",
    )),
    ("systemfull", (
        r"insufficient system storage",
        r"system (?:is )?full",
        r"disk full",
        r"no space left",
        r"out of (?:disk )?space",
    )),
    ("mesgtoobig", (
        r"too (?:big|large)",
        r"exceeds? (?:the )?(?:maximum |max\.? )?(?:allowed )?(?:message )?size",
        r"size (?:limit )?exceeded",
        r"maximum (?:inbound )?message size",
        r"message size",
    )),
    ("exceedlimit", (
        r"too many recipients",
        r"recipient limit",
        r"limit exceeded",
        r"exceeded .{0,30}limit",
    )),
    ("speeding", (
        r"rate limit",
        r"too many (?:messages|emails|mails)",
        r"throttl",
        r"sending too fast",
        r"temporarily deferred",
    )),
    ("toomanyconn", (
        r"too many (?:connections|concurrent|sessions|hosts)",
        r"connection limit",
    )),
    ("suspend", (
        r"disabled",
        r"suspended",
        r"inactive",
        r"deactivated",
        r"discontinued",
        r"account (?:is |has been )?(?:locked|closed|expired|blocked)",
        r"has not been (?:collected|accessed)",
        r"mailbox (?:is )?(?:locked|closed)",
        r"no longer active",
    )),
    ("hostunknown", (
        r"host (?:or domain name )?(?:unknown|not found)",
        r"unknown host",
        r"domain (?:name )?(?:not found|does not exist|doesn't exist)",
        r"no such domain",
        r"name service error",
        r"\bnxdomain\b",
        r"unrout(?:e)?able (?:mail )?domain",
        r"could not find a gateway",
        r"no mx (?:record|host)",
        r"unknown domain",
        r"mx lookup failed",
        r"non-?existent (?:host|domain)",
        r"domain (?:is )?(?:invalid|unknown)",
        r"bad destination system",
    )),
    ("userunknown", (
        r"user(?:name)? (?:unknown|not found|not known|does not exist|doesn't exist)",
        r"unknown (?:user|recipient|address|mailbox|local[- ]part)",
        r"no such (?:user|mailbox|recipient|address|account|person)",
        r"recipient (?:not found|unknown|does not exist)",
        r"invalid (?:recipient|mailbox|address|user)",
        r"mailbox (?:unavailable|not found|does not exist|doesn't exist)",
        r"addressee unknown",
        r"not listed in",
        r"no mailbox",
        r"doesn'?t have an? .{0,40}account",
        r"does not have an? .{0,40}account",
        r"account (?:does not exist|doesn't exist|not found)",
        r"bad destination mailbox",
        r"unrout(?:e)?able address",
        r"nameserver query",
        r"no matches to",
        r"address (?:is )?(?:wrong|not valid|invalid)",
        r"no longer valid",
        r"not (?:a )?(?:valid|known) (?:user|recipient|mailbox|address)",
        r"is not a valid",
        r"not recognized",
        r"unknown or illegal",
        r"invalid final delivery",
        r"recipientnotfound",
        r"recipient rejected",
        r"does not exist",
        r"doesn't exist",
        r"address rejected",
        r"not (?:our|a) (?:customer|user)",
        r"user not",
        r"undeliverable address",
    )),
    ("notaccept", (
        r"does not accept (?:e-?)?mail(?! from)",
        r"not accepting (?:any )?mail(?! from)",
        r"null mx",
        r"accepts no mail",
        r"does not receive mail",
        r"no mail service",
    )),
    ("filtered", (
        r"filtered",
        r"not accepting mail from",
        r"refused? to accept",
        r"rejected by (?:the )?(?:recipient|user)",
        r"recipient'?s? (?:rules|filter)",
        r"sender (?:is )?(?:blocked|not allowed) by",
    )),
    ("rejected", (
        r"sender (?:address )?(?:rejected|denied|refused|verify failed)",
        r"domain of sender",
        r"envelope sender",
        r"unverified sender",
        r"bad sender",
        r"sender address",
    )),
    ("notcompliantrfc", (
        r"rfc ?(?:2)?822",
        r"rfc ?5322",
        r"not (?:rfc|standards?)[- ]compliant",
        r"malformed",
        r"invalid header",
        r"missing .{0,12}header",
        r"duplicate header",
        r"bare lf",
    )),
    ("contenterror", (
        r"(?:content|attachment|file type|extension) .{0,30}"
        r"(?:not allowed|rejected|prohibited|blocked)",
        r"mime error",
        r"invalid mime",
        r"unsupported (?:charset|encoding)",
        r"smtputf8",
        r"non-ascii",
    )),
    ("securityerror", (
        r"security",
        r"certificate",
    )),
    ("policyviolation", (
        r"policy",
        r"prohibited",
        r"administrative",
        r"not allowed",
        r"not permitted",
    )),
    ("onhold", (
        r"on hold",
        r"held (?:for|until)",
        r"moderator",
        r"awaiting approval",
        r"quarantine",
    )),
    ("expired", (
        r"expired",
        r"too long in (?:the )?queue",
        r"in the queue too long",
        r"maximum (?:delivery )?attempts",
        r"gave up",
        r"giving up",
        r"not delivered within",
        r"within the allowed queue period",
        r"delivery failed \d+ attempts",
        r"message timed out",
        r"retry time",
        r"after \d+ attempt",
    )),
    ("mailererror", (
        r"command died",
        r"command output",
        r"mailer error",
        r"exit (?:status|code)",
        r"child status",
        r"pipe to",
        r"procmail",
        r"x-unix",
    )),
    ("networkerror", (
        r"connection (?:refused|timed out|reset|lost|failed)",
        r"no route to host",
        r"unreachable",
        r"could not connect",
        r"unable to connect",
        r"not responding",
        r"did not respond",
        r"no answer",
        r"establish an smtp connection",
        r"connection to mail exchanger",
        r"too many hops",
        r"mail loop",
        r"routing loop",
        r"lost connection",
        r"server unavailable",
        r"busy",
    )),
    ("systemerror", (
        r"system error",
        r"internal error",
        r"server error",
        r"local error",
        r"temporary (?:local )?(?:failure|error|problem)",
        r"configuration error",
        r"service (?:not )?(?:available|unavailable)",
        r"processing error",
    )),
)

# The patterns are lowercase and the text is lowercased once: matching
# without re.IGNORECASE is several times faster on long bounce texts.  They
# are compiled on first use: a DSN with a specific status never needs them,
# and compiling all of them would add milliseconds to every hook run.
_COMPILED_RULES: list[tuple[str, re.Pattern]] = []


def _rule(index: int) -> tuple[str, re.Pattern]:
    while len(_COMPILED_RULES) <= index:
        reason, alts = _TEXT_RULES[len(_COMPILED_RULES)]
        _COMPILED_RULES.append((reason, re.compile("|".join(alts))))
    return _COMPILED_RULES[index]

# Only classes 4 and 5 in free text: "2.0.12" there is a version number.
STATUS_RE = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.]\d)")
# An SMTP reply code as printed in diagnostics: "550 ...", "550-5.1.1", "550:".
REPLY_RE = re.compile(r"(?<![\w.\-#\[])([245][0-5]\d)(?=[\s\-:]|$)")


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


@functools.lru_cache(maxsize=128)  # the same report text serves every recipient
def reason_from_text(text: str) -> str | None:
    """The reason the free text describes, or None."""
    if not text:
        return None
    text = text[:20000].lower()
    for index in range(len(_TEXT_RULES)):
        reason, rx = _rule(index)
        if rx.search(text):
            return reason
    return None


def classify(action: str, status: str | None, text: str, replycode: int | None = None) -> Verdict:
    """Classify one recipient of a report.

    ``action`` is the RFC 3464 §2.3.3 action ("failed", "delayed").  A
    ``failed`` action is ``permanent`` even when the status class is 4: that is
    a message returned after the queue lifetime (RFC 3464 §2.3.3 allows a
    failed action with a transient status), and it will not be retried.
    """
    text = text or ""
    if status is None or not STATUS_RE.fullmatch(status):
        status = find_status(text)
    if replycode is None:
        replycode = find_replycode(text)
    reason = None
    if status:
        _cls, _, subject_detail = status.partition(".")
        reason = _STATUS_REASON.get(subject_detail)
        if reason is None or subject_detail in _REFINABLE:
            reason = reason_from_text(text) or reason
    else:
        reason = reason_from_text(text)
    reason = reason or "undefined"
    if not status:
        # RFC 3463 §3: derive a code from what the text says, with the class
        # from the reply code if we have one, else from the action.
        if replycode is not None and str(replycode)[0] in "45":
            cls = str(replycode)[0]
        else:
            cls = "4" if action == "delayed" else "5"
        status = f"{cls}.{_REASON_STATUS.get(reason, '0.0')}"
    permanent = action == "failed"
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
