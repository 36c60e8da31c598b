"""The classification rules, as data: what status codes mean, and how the SMTP stage
and a final failure correct the reason. The phrases the diagnostic text is read for
are in phrases.py.

Standard library only (the bounce hook imports it on the mail host).  The
logic that applies these tables is classify.py; this module holds no code
beyond the tables, so a rule is added or reordered here and nowhere else.

Where a rule comes from: RFC 3463 (enhanced status codes) and its IANA
registry, RFC 3464 (delivery status notifications), RFC 5321 (the SMTP
commands a refusal can answer) and RFC 7505 (null MX).
"""


# RFC 3463 §3 subject.detail -> reason.  The class (2/4/5) is handled apart.
# Where a code is generic (X.0.0, X.7.1) the diagnostic text decides and
# this table is only the fallback (see classify.classify).
STATUS_REASON = {
    "1.0": "userunknown", "1.1": "userunknown", "1.2": "hostunknown", "1.3": "userunknown",
    "1.4": "userunknown", "1.5": "undefined", "1.6": "hasmoved", "1.7": "rejected",
    "1.8": "rejected",
    "1.10": "notaccept",  # RFC 7505 §4.2: recipient domain has a null MX
    "2.0": "undefined", "2.1": "suspend", "2.2": "mailboxfull",
    "2.3": "exceedlimit",  # "message length exceeds administrative limit", not a size limit
    "2.4": "mailererror",
    "3.0": "systemerror", "3.1": "systemfull", "3.2": "notaccept", "3.3": "systemerror",
    "3.4": "mesgtoobig", "3.5": "systemerror", "3.6": "undefined",
    # X.4.1 no answer, X.4.2 bad connection: a final failure means the
    # queue lifetime ran out (see GAVE_UP); X.4.3 directory (DNS) failure and
    # X.4.6 routing loop are not cured by waiting.
    "4.0": "networkerror", "4.1": "noconnection", "4.2": "noconnection",
    "4.3": "routing", "4.4": "hostunknown", "4.5": "toomanyconn",
    "4.6": "routing", "4.7": "expired",
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
    "7.27": "notaccept",  # RFC 7505 §4.3: the sender's domain has a null MX
    "7.28": "speeding", "7.29": "authfailure", "7.30": "failedstarttls",
}

# reason -> subject.detail used when a report gives no status and one is
# derived from the text (the closest RFC 3463 §3 code).
REASON_STATUS = {
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

# Internal rule names -> the reason reported.  DNS trouble and connection
# trouble are both "networkerror", but only the second, when final, means
# the MTA retried until it gave up.
ALIASES = {"routing": "networkerror", "noconnection": "networkerror"}

# Reasons that, on a failed action with a transient (4.x.x) status, mean the
# message sat in the queue until its lifetime ran out (RFC 3464 §2.3.3:
# "failed" with a transient status) -- "expired" (X.4.7), whatever the last
# attempt said.  A connection failure is transient by nature, so a final
# failure on one is "expired" whatever its class.
GAVE_UP = frozenset({"noconnection", "networkerror", "undefined", "toomanyconn"})

# Codes so generic (or so overloaded by big providers) that the rest of the
# report is read when the recipient's own diagnostic names no reason.
GENERIC_STATUSES = frozenset({"0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "7.1"})

# (stage, reason the words gave) -> reason.  The SMTP command a refusal
# answered says what was refused (RFC 5321 §3.3): after DATA the receiver
# has seen the message, so "user unknown" there is a content or policy
# refusal dressed in recipient words; at MAIL FROM it refuses our sender; at
# the greeting or HELO it refuses our host before any address is named.
STAGE_OVERRIDES = {
    ("data", "userunknown"): "filtered", ("data", "hostunknown"): "filtered",
    ("data", "suspend"): "filtered",
    ("mail", "userunknown"): "rejected", ("mail", "hostunknown"): "rejected",
    ("mail", "undefined"): "rejected",
    ("connect", "undefined"): "blocked", ("connect", "expired"): "blocked",
    ("connect", "syntaxerror"): "blocked", ("connect", "userunknown"): "blocked",
    ("connect", "hostunknown"): "blocked",
}

# Words that condemn an address are believed only with corroboration: the
# status says the address is bad (X.1.x, RFC 3463 §3.2) or the refusal
# answered RCPT TO (RFC 5321 §3.3: the one command that names the
# recipient).  Content filters and carrier spam filters answer "user
# unknown" after DATA, or without saying when: without corroboration such a
# refusal is treated as a filter's verdict, which never suppresses.
UNCORROBORATED = {"userunknown": "filtered"}
