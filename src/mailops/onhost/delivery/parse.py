"""One journal entry of the mail system -> the fact it states about a message (or None).

Formats, as Postfix 3.7 (Debian 12) and 3.10 (Debian 13), OpenDKIM 2.11, Dovecot 2.3
and 2.4 and rspamd write them (SYSLOG_IDENTIFIER and MESSAGE of the journal entry):

- Postfix (identifier ``postfix/<program>``, or ``postfix/<syslog_name>/<program>``
  for a master.cf service with its own syslog_name), lines about a message begin with
  its queue id (Postfix ``QSHAPE_README``/``showq``: short ids are upper-case hex;
  long ids, ``enable_long_queue_ids``, carry a ``z`` between time and inode):

  - smtpd  ``QID: client=host[addr][, sasl_method=M, sasl_username=U]``
  - pickup ``QID: uid=0 from=<root>``
  - cleanup ``QID: message-id=<…>``; ``QID: info: header Subject: … from …; from=<…>
    to=<…> …`` (header_checks INFO, only when subjects are on); ``QID: milter-reject:
    END-OF-MESSAGE from …: 5.7.1 …; from=<…> to=<…> …``
  - qmgr   ``QID: from=<s>, size=N, nrcpt=M (queue active)``, ``QID: removed``,
    ``QID: from=<s>, status=expired, returned to sender``
  - smtp/lmtp/local/virtual/pipe/error/discard ``QID: to=<r>[, orig_to=<o>],
    relay=…, [conn_use=N, ]delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=S (reply)``
  - bounce ``QID: sender non-delivery notification: NEWQID``
  - smtpd/postscreen ``NOQUEUE: reject: RCPT from client: reply; from=<s> to=<r>
    proto=… helo=<…>`` (postscreen separates the fields with ``, ``)
- OpenDKIM: ``QID: DKIM-Signature field added (s=SELECTOR, d=DOMAIN)`` — its job id
  is Postfix's queue id (the milter macro ``i``).
- Dovecot LMTP: ``lmtp(user)<pid><session>: msgid=<…>: saved mail to INBOX``; Sieve
  ``… sieve: msgid=<…>: [fileinto action: ]stored mail into mailbox 'Junk'``,
  ``… marked message to be discarded if not explicitly delivered (discard action)``.
- rspamd: ``rspamd_task_write_log: id: <msgid>, qid: <QID>, …, (default: F (no
  action): [-0.10/15.00] [SYMBOLS…]), …`` (when its log goes to the journal).

Nothing here touches the database: :mod:`.store` applies the facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Postfix queue ids: short (hex, upper case) or long (base 52 with "z" separators);
# "warning", "fatal" and other words never match.
_B52 = "[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]"
_QID = rf"(?:[0-9A-F]{{6,}}|{_B52}{{10,}}z{_B52}+)"
_LINE = re.compile(rf"^(?P<qid>{_QID}|NOQUEUE): (?P<rest>.*)$", re.S)
_FIELD = re.compile(r"(\w+)=(<[^>]*>|[^,\s]*)(?:,\s*|\s*$)")
_DELIVERY = re.compile(r"^to=<(?P<to>[^>]*)>, (?P<fields>.*?)status=(?P<status>\w+)"
                       r"(?: \((?P<reply>.*)\))?$", re.S)
_QUEUED = re.compile(r"^from=<(?P<sender>[^>]*)>, size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+)")
_EXPIRED = re.compile(r"^from=<(?P<sender>[^>]*)>, status=expired")
_REJECT = re.compile(r"^(?P<kind>reject|milter-reject|discard|milter-discard|hold|"
                     r"milter-hold): (?P<stage>[A-Z-]+) from (?P<client>\S+?): "
                     r"(?P<reply>.*)$", re.S)
_ENVELOPE = re.compile(r"from=<(?P<sender>[^>]*)>,? (?:to=<(?P<to>[^>]*)>)?")
_SUBJECT = re.compile(r"^info: header Subject: (?P<subject>.*?) from \S+; from=<", re.S)
_NOTIFY = re.compile(r"^(?:sender|postmaster) (?:non-delivery|delivery status|delay) "
                     r"notification: (?P<qid>\S+)$")
_DKIM = re.compile(r"^DKIM-Signature (?:field|header) added \(s=(?P<s>[^,]+), "
                   r"d=(?P<d>[^)]+)\)")
_LMTP = re.compile(r"^lmtp\((?P<user>[^)]*)\)(?:<(?P<pid>[^>]*)>)?(?:<(?P<session>[^>]*)>)?: "
                   r"(?P<sieve>sieve: )?"
                   r"msgid=(?P<msgid><[^>]*>|\S*?): (?P<what>.*)$", re.S)
_FOLDER = re.compile(r"(?:saved mail to|stored mail into mailbox) '?(?P<folder>[^']+?)'?$")
_LMTP_REPLY = re.compile(r"^2\d\d [\d.]+ <[^>]*> (?P<session>\S+) Saved$")
_RSPAMD_QID = re.compile(r"qid: <(?P<qid>[^>]+)>")
_RSPAMD_VERDICT = re.compile(r"\(default: [TFS] \((?P<action>[^)]+)\): "
                             r"\[(?P<score>-?[\d.]+)/(?P<required>-?[\d.]+)\]")

# Postfix delivery agents whose "sent" means the host put the mail in a mailbox (or
# handed it to a local program), and the ones that send it to another server.
LOCAL_AGENTS = frozenset({"lmtp", "local", "virtual", "pipe"})
REMOTE_AGENTS = frozenset({"smtp"})
# status= values of address verification probes (verify(8)): not mail anyone sent.
PROBE_STATUSES = frozenset({"deliverable", "undeliverable"})


@dataclass(slots=True)
class Fact:
    """What one log line says: ``kind`` and its ``data``, about queue id ``qid``."""

    kind: str
    ts_us: int  # the journal's realtime timestamp, microseconds since the epoch
    qid: str | None
    program: str  # "smtpd", "submission/smtpd", "qmgr", "opendkim", "dovecot", …
    text: str  # the line without its queue id: the timeline shows it
    data: dict = field(default_factory=dict)


def _text(value) -> str:
    """A journal field as text: journalctl -o json writes non-UTF-8 values as byte arrays."""
    if isinstance(value, list):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else ""


def _address(value: str | None) -> str:
    return (value or "").strip().lower()


def parse(entry: dict) -> Fact | None:
    """The fact a journal entry (``journalctl -o json``) states, or None."""
    ident = _text(entry.get("SYSLOG_IDENTIFIER"))
    message = _text(entry.get("MESSAGE"))
    if not message:
        return None
    try:
        ts = int(entry.get("__REALTIME_TIMESTAMP") or 0)
    except (TypeError, ValueError):
        ts = 0
    if ident.startswith("postfix"):
        head, _, program = ident.rpartition("/")
        name = program if "/" not in head else f"{head.partition('/')[2]}/{program}"
        return _postfix(ts, program, name or ident, message)
    if ident == "opendkim":
        return _opendkim(ts, message)
    if ident.startswith("dovecot") or message.startswith("lmtp("):
        return _dovecot(ts, message)
    if ident.startswith("rspamd"):
        return _rspamd(ts, message)
    return None


def _postfix(ts: int, program: str, name: str, message: str) -> Fact | None:
    m = _LINE.match(message)
    if not m:
        return None
    qid, rest = m["qid"], m["rest"]
    fact = _postfix_fact(program, rest)
    if fact is None:
        return None
    kind, data = fact
    return Fact(kind, ts, None if qid == "NOQUEUE" else qid, name,
                message if qid == "NOQUEUE" else rest, data)


def _postfix_fact(program: str, rest: str) -> tuple[str, dict] | None:
    if rest.startswith("to=<"):
        return _delivery(program, rest)
    if rest.startswith("client="):
        fields = dict(_FIELD.findall(rest))
        return "client", {"client": fields.get("client", ""),
                          "sasl_username": _address(fields.get("sasl_username"))}
    if rest.startswith("uid=") and " from=<" in rest:
        return "pickup", {"sender": _address(rest.partition("from=<")[2].rstrip(">"))}
    if rest.startswith("message-id="):
        value = rest[len("message-id="):].strip()
        return "message_id", {"message_id": value}
    if rest == "removed":
        return "removed", {}
    m = _QUEUED.match(rest)
    if m:
        return "queued", {"sender": _address(m["sender"]), "size": int(m["size"]),
                          "nrcpt": int(m["nrcpt"])}
    m = _EXPIRED.match(rest)
    if m:
        return "expired", {"sender": _address(m["sender"])}
    m = _REJECT.match(rest)
    if m:
        return _reject(program, m)
    m = _SUBJECT.match(rest)
    if m:
        return "subject", {"subject": m["subject"]}
    m = _NOTIFY.match(rest)
    if m and re.fullmatch(_QID, m["qid"]):
        return "notification", {"notification": m["qid"]}
    return None


def _delivery(program: str, rest: str) -> tuple[str, dict] | None:
    m = _DELIVERY.match(rest)
    if not m or m["status"] in PROBE_STATUSES:
        return None
    fields = dict(_FIELD.findall(m["fields"]))
    try:
        delay = float(fields.get("delay", ""))
    except ValueError:
        delay = None
    return "delivery", {
        "recipient": _address(m["to"]),
        "orig_recipient": _address(fields.get("orig_to", "").strip("<>")),
        "relay": fields.get("relay", ""),
        "delay": delay,
        "delays": fields.get("delays", ""),
        "dsn": fields.get("dsn", ""),
        "status": m["status"],
        "reply": (m["reply"] or "").strip(),
        "agent": program,
    }


def _reject(program: str, m: re.Match) -> tuple[str, dict]:
    text = m["reply"]
    # The envelope follows the reply: "…; from=<s> to=<r> proto=…" (postscreen: commas).
    cut = text.rfind("; from=<")
    reply, envelope = (text[:cut], text[cut + 2:]) if cut >= 0 else (text, "")
    env = _ENVELOPE.match(envelope)
    kind = m["kind"].removeprefix("milter-")
    return kind, {
        "stage": m["stage"],
        "client": m["client"],
        "reply": reply.strip(),
        "sender": _address(env["sender"]) if env else "",
        "recipient": _address(env["to"]) if env and env["to"] else "",
        "agent": program,
    }


def _opendkim(ts: int, message: str) -> Fact | None:
    m = _LINE.match(message)
    if not m or m["qid"] == "NOQUEUE":
        return None
    d = _DKIM.match(m["rest"])
    if not d:
        return None
    return Fact("dkim", ts, m["qid"], "opendkim", m["rest"],
                {"selector": d["s"].strip(), "domain": d["d"].strip().lower()})


def _dovecot(ts: int, message: str) -> Fact | None:
    m = _LMTP.match(message)
    if not m:
        return None
    what = m["what"].strip()
    what = what.removeprefix("fileinto action: ").removeprefix("keep action: ")
    folder = _FOLDER.search(what)
    if folder:
        action, value = "saved", folder["folder"]
    elif "marked message to be discarded" in what:
        action, value = "discarded", ""
    else:
        action, value = "note", ""  # e.g. "save failed to INBOX: Quota exceeded"
    # The session id is what Dovecot also puts in its LMTP reply ("250 2.0.0 <user>
    # SESSION Saved"), which Postfix logs: the exact link between the two lines.
    return Fact("mailbox", ts, None, "dovecot", message,
                {"recipient": _address(m["user"]), "message_id": m["msgid"],
                 "session": m["session"] or "",
                 "action": action, "folder": value})


def lmtp_session(reply: str) -> str:
    """The Dovecot session id in its LMTP reply as Postfix logs it, or ""."""
    m = _LMTP_REPLY.search(reply)
    return m["session"] if m else ""


def _rspamd(ts: int, message: str) -> Fact | None:
    if "rspamd_task_write_log" not in message:
        return None
    q = _RSPAMD_QID.search(message)
    v = _RSPAMD_VERDICT.search(message)
    if not q or not v:
        return None
    return Fact("spam", ts, q["qid"], "rspamd",
                f"spam filter: {v['action']} ({v['score']}/{v['required']})",
                {"action": v["action"], "score": float(v["score"]),
                 "required": float(v["required"])})
