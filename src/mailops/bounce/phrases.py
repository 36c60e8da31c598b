"""The classification rules, as data: the phrases a diagnostic text is read for —
which reason it gives (TEXT_RULES) and which SMTP command the refusal answered
(STAGE_RULES). The status-code tables are in rules.py.

Standard library only (the bounce hook imports it on the mail host).  classify.py
applies these tables (flattened once when the host package is built); a phrase is
added or reordered here and nowhere else.

Where a phrase comes from: RFC 5321 (reply codes and their standard texts) and the
diagnostics the common MTAs and large providers print (Postfix, Exim, Sendmail,
qmail, Exchange/Microsoft 365, Gmail, Yahoo, Domino, ...), which every bounce parser
has to know.
"""


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
