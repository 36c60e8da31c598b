"""The classification rules, as data: status codes, phrases and SMTP stages.

Standard library only (the bounce hook imports it on the mail host).  The
logic that applies these tables is classify.py; this module holds no code
beyond the tables, so a rule is added or reordered here and nowhere else.

Where a rule comes from: RFC 3463 (enhanced status codes) and its IANA
registry, RFC 5321 (reply codes and their standard texts), RFC 7505 (null
MX), and the phrases the common MTAs and large providers print in their
diagnostics (Postfix, Exim, Sendmail, qmail, Exchange/Microsoft 365, Gmail,
Yahoo, Domino, ...), which every bounce parser has to know.
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

# Phrases, lowercase, tried in this order on the lowercased diagnostic: the
# first reason with a matching phrase wins.  The order is the point: the more
# specific judgement about *what* was refused comes before the wording that
# merely names *who* ("recipient", "user") or how ("blocked", "rejected").
TEXT_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Malware verdicts name the message; before "blocked"/"rejected".
    ("virusdetected", (
        r"virus", r"malware", r"infected", r"trojan", r"phishing attachment",
    )),
    # A header the receiver calls non-compliant (RFC 5322 §3.6: one From,
    # one Subject); Gmail's wording also mentions spam, so before spam.
    ("notcompliantrfc", (
        # ("rfc822;" alone is the address type of a DSN field, not a verdict.)
        r"rfc ?(?:2)?822 (?:compliant|complian|standard|violation|header)", r"rfc ?5322",
        r"not (?:rfc|standards?)[- ]compliant", r"non-?(?:rfc|standards?)[- ]compliant",
        r"malformed (?:header|message|address)", r"invalid header", r"missing .{0,12}header",
        r"duplicate header", r"bare lf", r"multiple (?:[\w. -]{0,12} )?(?:addresses in from|"
        r"subject|from|message-id|date)\b",
    )),
    # Relaying refused: our host used a server that is not ours to relay
    # through (RFC 5321 §3.6.2), or a provider refused an unverified identity.
    ("norelaying", (
        r"relay(?:ing)? (?:access )?(?:denied|not (?:allowed|permitted))", r"unable to relay",
        r"not permitted to relay", r"we do not relay", r"relaying (?:is )?(?:denied|prohibited)",
        r"address is not verified",
    )),
    # Our IP's reverse DNS is missing or does not match (RFC 8601 iprev).
    ("requireptr", (
        r"reverse (?:dns|lookup|hostname)", r"\bptr\b", r"\brdns\b", r"cannot find your hostname",
        r"client host .{0,40} (?:has no|without) (?:reverse|ptr)", r"ip name lookup failed",
        r"(?:mismatch\w*|does not match) (?:the )?client ip",
    )),
    # A spam verdict in so many words; before SPF/DKIM advice that such
    # notices often add ("set up SPF records").
    ("spamdetected", (
        r"spam classification", r"(?:classified|identified|detected|considered) as spam",
        r"(?:due to|as) spam\b", r"looks like spam",
    )),
    # SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489) verdicts about our
    # mail; before "blocked", whose "access denied" they often also print.
    ("authfailure", (
        r"\bspf\b", r"\bdkim\b", r"\bdmarc\b", r"\barc\b validation",
        r"authentication (?:information|level|requirements|checks?)",
    )),
    # SMTP AUTH required (RFC 4954 §6: 530 5.7.0), certificates: the session.
    ("securityerror", (
        r"authentication required", r"unauthenticated senders?", r"not authenticated",
        r"must (?:be )?authenticate", r"certificate", r"security (?:reasons|error)",
    )),
    # STARTTLS (RFC 3207) required by one side and refused or broken.
    ("failedstarttls", (
        r"starttls", r"\btls\b (?:is )?required", r"encryption required", r"must use tls",
        r"(?:does not|doesn't) support (?:tls|starttls|encryption)",
    )),
    # Connection frequency is a limit on us, before the "blocked ip" it says.
    ("toomanyconn", (
        r"too many (?:connections|concurrent|sessions|hosts)", r"connection limit",
        r"connection frequency", r"too many simultaneous",
    )),
    # Our IP or host is listed or refused; the message is not the question.
    ("blocked", (
        r"block ?list", r"blacklist", r"deny ?list", r"\bdnsbl\b", r"\brbl\b", r"spamhaus",
        r"spamcop", r"barracuda",
        # (one pattern per verb: each has a word the text must contain, so
        # the pattern is compiled only for texts that could match)
        r"(?:ip|host|client|address|sender|domain|you|connection)(?: address)? "
        r"(?:is |has been |was )?blocked",
        r"(?:ip|host|client|address|sender|domain|you|connection)(?: address)? "
        r"(?:is |has been |was )?banned",
        r"(?:ip|host|client|address|sender|domain|you|connection)(?: address)? "
        r"(?:is |has been |was )?blacklisted",
        r"blocked (?:using|by)", r"\bbanned\b",
        r"(?<!not )listed (?:at|in|on) ", r"(?<!recipient address rejected: )access denied",
        r"traffic not accepted", r"client host rejected", r"your ip", r"invalid ip",
        r"connection refused by policy", r"smtp server of your isp", r"dynamic ip",
        r"dial-?up", r"bloqu",
        # Postfix: the server's greeting was a refusal, before any address.
        r"refused to talk to me",
    )),
    ("badreputation", (
        r"reputation", r"sender score", r"senderscore", r"unexpected volume or user complaints",
    )),
    # Content judged as spam (UCE/UBE: unsolicited commercial/bulk e-mail).
    ("spamdetected", (
        r"spam(?!haus|cop)", r"unsolicited", r"bulk mail", r"junk mail", r"\bube\b", r"\buce\b",
        r"content filter rejected", r"message content rejected",
    )),
    # Our envelope sender was refused (RFC 5321 §3.3 MAIL FROM).
    ("rejected", (
        r"sender (?:address )?(?:rejected|denied|refused|verify failed)", r"domain of sender",
        r"envelope sender", r"unverified sender", r"bad sender", r"sender address",
    )),
    ("suppressed", (
        r"suppress(?:ed|ion) list", r"on (?:the|our|a) suppression", r"previously bounced",
    )),
    ("hasmoved", (
        r"has moved", r"address (?:has )?changed", r"no longer (?:at|with) ",
        r"new (?:e-?mail )?address is",
    )),
    # Over quota (RFC 3463 X.2.2); before the size limits, whose words
    # ("exceeds ... size") a full mailbox also uses.
    ("mailboxfull", (
        r"mailbox (?:is )?full", r"over ?quota", r"quota (?:exceeded|violation)",
        r"exceed\w* .{0,30}quota", r"disk quota", r"mailfolder is full", r"mailbox size limit",
        r"too much mail", r"space not enough", r"full mailbox", r"storage (?:limit|full)",
        r"insufficient (?:disk )?space(?! ?;? ?try again)",
        r"user'?s? (?:mailbox|inbox) .{0,20}full",
        r"inbox (?:is )?full", r"mailbox has exceeded", r"mailbox exceeds",
        # Localised notices, read after their charset is decoded.
        r"postfach (?:ist )?voll", r"bo[iî]te (?:aux lettres )?(?:est )?pleine",
        r"buz[oó]n (?:est[aá] )?lleno", r"メールボックスがいっぱい",
        r"容量(?:超過|オーバー|を超え)",
    )),
    # The remote host's own disk (RFC 5321 §4.2.3: 452 insufficient system storage).
    ("systemfull", (
        r"insufficient system storage", r"system (?:is )?full", r"disk full", r"no space left",
        r"out of (?:disk )?space", r"insufficient disk space",
    )),
    # Sending rate (per hour/day) is throttled: a limit on us, not the mailbox.
    ("speeding", (
        r"rate limit", r"too many (?:messages|emails|mails)", r"throttl", r"sending too fast",
        r"temporarily deferred", r"receiving mail at a rate", r"this hour", r"per hour",
    )),
    ("mesgtoobig", (
        r"too (?:big|large)", r"line (?:limit exceeded|too long)",
        r"exceeds? (?:the )?(?:maximum |max\.? )?(?:allowed )?"
        r"(?:message )?size", r"size (?:limit )?exceeded", r"maximum (?:inbound )?message size",
        r"message size",
    )),
    ("exceedlimit", (
        r"too many recipients", r"recipient limit", r"limit exceeded", r"exceeded .{0,30}limit",
        r"length exceeds",
    )),
    # A disabled or locked account: the address exists but takes no mail now.
    ("suspend", (
        r"disabled", r"(?<!delivery temporarily )suspended", r"inactive", r"deactivated",
        r"discontinued", r"frozen",
        r"account (?:is |has been )?(?:locked|closed|expired|blocked)",
        r"has not been (?:collected|accessed)", r"mailbox (?:is )?(?:locked|closed)",
        r"no longer active", r"temporar\w* locked",
    )),
    # A mailing list or group refusing a post (Google Groups, Mailman,
    # Sympa): the list is not a dead mailbox, and the words vary by language.
    ("rejected", (
        r"group (?:you tried to contact|does not exist|doesn't exist)",
        r"(?:do not|don't) have permission to post", r"not (?:allowed|authori[sz]ed) to post",
        r"only members (?:can|may) post", r"moderators? of the (?:list|group)",
        r"non-?member",
        # Google Groups writes the notice in the poster's language, but every
        # version links to its help pages.
        r"groups\.google\.", r"google groups",
    )),
    # Retried for a time, then stopped (RFC 3463 X.4.7): what the last attempt ran into
    # is why it retried, not why it failed. So before the address and host words.
    ("expired", (r"aborted after \d+(?:\.\d+)? (?:hour|day|minute)", r"gave up after",
                 r"retry timeout exceeded", r"too long in (?:the )?queue",
                 r"in the queue too long", r"not delivered within", r"queue lifetime")),
    ("hostunknown", (
        r"host (?:or domain name )?(?:unknown|not found)", r"unknown host",
        r"host [\w.-]+ not found",
        r"domain (?:name )?(?:not found|does not exist|doesn't exist)", r"no such domain",
        r"\bnxdomain\b", r"unrout(?:e)?able (?:mail )?(?:domain|address)",
        r"could not find a gateway", r"no mx (?:record|host)", r"unknown domain",
        r"mx lookup failed", r"non-?existent (?:host|domain)",
        r"domain (?:is )?(?:invalid|unknown)",
        r"bad destination system",
    )),
    # The domain accepts no mail at all (RFC 7505 null MX, no MX nor A).
    ("notaccept", (
        r"does not accept (?:e-?)?mail(?! from)", r"not accepting (?:any )?mail(?! from)",
        r"null mx", r"accepts no mail", r"does not receive mail", r"no mail service",
        r"couldn'?t find a mail exchanger", r"not accepting (?:network )?messages",
    )),
    # Temporary DNS trouble (the domain may be fine: RFC 5321 §5.1 asks the
    # sender to retry) and mail loops: network, not "host unknown", and not
    # something that waiting in the queue explains.
    ("routing", (
        r"name service error", r"dns (?:error|query failed|lookup failed|failure)",
        r"temporary (?:dns|lookup) failure", r"malformed or unexpected name server",
        r"too many hops", r"mail loop", r"routing loop", r"loop detected", r"network error",
    )),
    ("userunknown", (
        r"user(?:name)? (?:unknown|not found|not known|does not exist|doesn't exist)",
        r"unknown (?:user|recipient|address|mailbox|local[- ]part)",
        r"no such (?:user|mailbox|recipient|address|account|person)",
        r"recipient (?:not found|unknown|does not exist)",
        r"invalid (?:recipient|mailbox|address|user)",
        r"mailbox (?:unavailable|not found|does not exist|doesn't exist)", r"addressee unknown",
        r"not listed in", r"no mailbox", r"doesn'?t have an? .{0,40}account",
        r"does not have an? .{0,40}account", r"account (?:does not exist|doesn't exist|not found)",
        r"account that you tried to reach does not exist", r"bad destination mailbox",
        r"nameserver query", r"no matches to", r"address (?:is )?(?:wrong|not valid|invalid)",
        r"no longer valid", r"not (?:a )?(?:valid|known) (?:user|recipient|mailbox|address)",
        r"is not a valid", r"not recognized", r"unknown or illegal", r"invalid final delivery",
        r"recipientnotfound", r"recipient rejected", r"does not exist", r"doesn't exist",
        # Microsoft 365 directory-based edge blocking: the tenant has no
        # such recipient ("Recipient address rejected: Access denied").
        r"recipient address rejected: access denied",
        r"not (?:our|a) (?:customer|user)", r"user not",
        r"undeliverable address", r"check (?:if|that) (?:the )?address is correct",
        r"empf[aä]nger (?:ist )?unbekannt", r"(?:destinataire|utilisateur) inconnu",
        r"(?:destinatario|usuario) desconocido",
        r"(?:ユーザ|アカウント|宛先|あて先).{0,10}(?:存在しません|見つかりません|不明)",
        r"address (?:not found|(?:couldn't|could not|can't|cannot) be found)",
    )),
    # The recipient's own rules refused us (sender or content filters).
    ("filtered", (
        r"filtered", r"not accepting mail from", r"refused? to accept",
        r"rejected by (?:the )?(?:recipient|user)(?! domain)", r"recipient'?s? (?:rules|filter)",
        r"sender (?:is )?(?:blocked|not allowed) by",
    )),
    ("contenterror", (
        r"(?:content|attachment|file type|extension) .{0,30}not allowed",
        r"(?:content|attachment|file type|extension) .{0,30}rejected",
        r"(?:content|attachment|file type|extension) .{0,30}prohibited",
        r"(?:content|attachment|file type|extension) .{0,30}blocked",
        r"mime error", r"invalid mime", r"unsupported (?:charset|encoding)", r"smtputf8",
        r"non-ascii",
    )),
    # The message broke a rule of the receiving site (RFC 3463 X.7.1 is
    # "delivery not authorized, message refused").
    ("policyviolation", (
        r"policy", r"prohibited", r"administrative", r"violation", r"message (?:was |has been )?"
        r"blocked", r"not allowed", r"not permitted",
    )),
    ("onhold", (
        r"on hold", r"held (?:for|until)", r"moderator", r"awaiting approval", r"quarantine",
    )),
    # Given up after retrying for the queue lifetime (RFC 3463 X.4.7).
    ("expired", (
        r"expired", r"too long in (?:the )?queue", r"in the queue too long",
        r"maximum (?:delivery )?attempts", r"gave up", r"giving up", r"not delivered within",
        r"within the allowed queue period", r"delivery failed \d+ attempts",
        r"message timed out", r"retry time", r"after \d+ attempt", r"retry timeout exceeded",
        r"queue lifetime",
        # Exim: the retry rules gave up on every host.
        r"(?:hosts? ha(?:ve|s) been )?failing for a long time", r"retry time not reached",
    )),
    # A local delivery program (pipe, procmail) failed: sysexits.h codes.
    ("mailererror", (
        r"command died", r"command output", r"mailer error", r"exit (?:status|code)",
        r"child status", r"pipe to", r"procmail", r"x-unix",
    )),
    # Connection-level trouble; a final failure on these means the MTA gave
    # up after retrying (classify turns them into "expired").
    ("noconnection", (
        r"connection (?:refused|timed out|reset|lost|failed)", r"no route to host",
        r"unreachable", r"not reachable", r"could not connect", r"unable to connect",
        r"not responding", r"did not respond", r"no answer", r"establish an smtp connection",
        r"connection to mail exchanger", r"did not accept our requests to connect",
        r"lost connection", r"socket error", r"server unavailable", r"busy", r"timed out",
    )),
    # The remote system failed (RFC 5321 §4.2.3 421/451/554 standard texts).
    ("systemerror", (
        r"system error", r"internal error", r"server error", r"local error",
        r"temporary (?:local )?(?:failure|error|problem)", r"configuration error",
        r"(?:service|server) (?:is )?(?:currently |temporarily )?not available",
        r"(?:service|server) (?:is )?(?:currently |temporarily )?unavailable",
        r"processing error", r"transaction failed", r"write error",
    )),
    # RFC 5321 §4.2.3 500-504: the command or its parameters were not understood.
    ("syntaxerror", (
        r"syntax error", r"command (?:parameter )?not (?:implemented|recognized)",
        r"command unrecognized", r"bad sequence of commands",
    )),
)

# The SMTP command a refusal answered, as MTAs print it: "(in reply to end of
# DATA command)" (Postfix), "SMTP error from remote mail server after RCPT
# TO:" (Exim), "failed after I sent the message" / "does not like recipient"
# (qmail), "while talking to" transcripts (Sendmail).  RFC 3464 has no field
# for it, so the text is all there is.  Tried in order; the first wins.
STAGE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("data", (
        r"in reply to\s+(?:the\s+)?(?:end\s+of\s+)?(?:data|message|body)\b",
        r"after\s+(?:the\s+)?(?:end\s+of\s+)?(?:data|message|body)\b",
        r"failed after i sent the message", r"for text command",
        # A session transcript (Sendmail, Courier): the command, then the
        # refusal -- unless a later reply says "no valid recipients" / "need
        # RCPT": then the client pipelined (RFC 2920) and the refusals
        # printed after DATA answered the RCPT commands.
        r">>> data\s*\n\s*<<< (?!503|[^\n]*no valid recipients)[45]\d\d[^\n]*\n"
        r"(?!(?:(?!>>>)[^\n]*\n){0,6}[^\n]*(?:no valid recipients|need rcpt))",
        # A recipient refusal that names no recipient: at DATA the server
        # answers for the message, so "550 : User unknown" has an empty address.
        r"\b5\d\d:?[ -](?:[45]\.\d{1,3}\.\d{1,3} )?:\s*user unknown",
    )),
    ("rcpt", (
        r"(?:in reply to|after|like|for)\s+(?:our\s+)?rcpt\b", r"does not like recipient",
        r">>> rcpt to:[^\n]*\n\s*<<< [45]\d\d",
        # The recipient's own host delivering locally found no such mailbox
        # (Sendmail's mail.local, LMTP): no filter stands between.
        r"\bmail\.local:", r"\blmtp\b.{0,40}(?:unknown|no such)",
        # Gmail heads a recipient refusal "Address not found" (a refusal of
        # the message itself is "Message blocked").
        r"\*\* address not found \*\*",
    )),
    ("mail", (
        r"(?:in reply to|after|like|for)\s+(?:our\s+)?mail(?:\s+from)?\b",
        r"does not like sender", r">>> mail from:[^\n]*\n\s*<<< [45]\d\d",
    )),
    ("connect", (
        r"after initial connection", r"my name was rejected",
        r"in reply to\s+(?:the\s+)?(?:e?hlo|helo|greeting|connect)",
        r"after\s+(?:the\s+)?(?:e?hlo|helo|greeting|connect)",
        r"while (?:connecting|connected)", r"refused to talk to me",
    )),
)

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
