"""The delivery log's line parser on real log lines of Postfix, Dovecot, OpenDKIM, rspamd.

Each line here was written by the program named, as Debian 12 (Postfix 3.7, Dovecot
2.3) and Debian 13 (Postfix 3.10, Dovecot 2.4) ship it; the captured journals of the
lab's mx1 are in tests/fixtures/journal/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailops.onhost.delivery.parse import lmtp_session, parse

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journal"


def entry(ident: str, message: str, ts: int = 1_796_132_000_000_000) -> dict:
    return {"SYSLOG_IDENTIFIER": ident, "MESSAGE": message, "__REALTIME_TIMESTAMP": str(ts),
            "__CURSOR": "s=1;i=1"}


def fact(ident: str, message: str):
    f = parse(entry(ident, message))
    assert f is not None, message
    return f


def test_smtp_delivery_sent_with_every_field():
    f = fact("postfix/smtp", "E46B52BC587: to=<someone@remote.test>, relay=mx.remote.test"
             "[10.231.4.20]:25, delay=0.41, delays=0.03/0.11/0.06/0.21, dsn=2.0.0, "
             "status=sent (250 2.0.0 Ok: queued as 3A2942A4030)")
    assert (f.kind, f.qid, f.program) == ("delivery", "E46B52BC587", "smtp")
    assert f.data == {"recipient": "someone@remote.test", "orig_recipient": "",
                      "relay": "mx.remote.test[10.231.4.20]:25", "delay": 0.41,
                      "delays": "0.03/0.11/0.06/0.21", "dsn": "2.0.0", "status": "sent",
                      "reply": "250 2.0.0 Ok: queued as 3A2942A4030", "agent": "smtp"}


def test_lmtp_delivery_through_an_alias_keeps_the_original_recipient_and_session():
    f = fact("postfix/lmtp", "EA9662BC585: to=<alice@example.test>, orig_to=<sales@example"
             ".test>, relay=mx1.example.test[private/dovecot-lmtp], delay=0.23, delays=0.02/"
             "0.06/0.06/0.09, dsn=2.0.0, status=sent (250 2.0.0 <alice@example.test> "
             "V6p4BHLODmskJQAAh60xbQ Saved)")
    assert f.data["orig_recipient"] == "sales@example.test"
    assert f.data["relay"] == "mx1.example.test[private/dovecot-lmtp]"
    assert lmtp_session(f.data["reply"]) == "V6p4BHLODmskJQAAh60xbQ"


def test_deferral_and_bounce_carry_the_remote_reply():
    deferred = fact("postfix/smtp", "6B7CB2BC007: to=<waiting@remote.test>, relay=none, "
                    "delay=0.02, delays=0.01/0/0.01/0, dsn=4.4.1, status=deferred (connect "
                    "to mx.remote.test[10.231.4.20]:25: Connection refused)")
    assert deferred.data["status"] == "deferred"
    assert deferred.data["reply"] == "connect to mx.remote.test[10.231.4.20]:25: Connection refused"
    bounced = fact("postfix/smtp", "7608E2BC023: to=<refused@remote.test>, relay=mx.remote."
                   "test[10.231.4.20]:25, delay=17, delays=16/0.15/0.08/0.02, dsn=5.1.1, "
                   "status=bounced (host mx.remote.test[10.231.4.20] said: 554 5.1.1 "
                   "<refused@remote.test>: Recipient address rejected: no such user here "
                   "(in reply to RCPT TO command))")
    assert (bounced.data["status"], bounced.data["dsn"], bounced.data["delay"]) == \
        ("bounced", "5.1.1", 17.0)
    assert bounced.data["reply"].endswith("(in reply to RCPT TO command)")


def test_relay_service_with_its_own_syslog_name_is_still_smtp():
    f = fact("postfix/mailops-relay-1/smtp", "4AB12C3D4E: to=<x@example.net>, relay="
             "relay.remote.test[10.231.4.30]:587, delay=1.1, delays=0.1/0/0.5/0.5, dsn=4.7.0,"
             " status=deferred (SASL authentication failed; server relay.remote.test"
             "[10.231.4.30] said: 535 Incorrect authentication data)")
    assert (f.data["agent"], f.program) == ("smtp", "mailops-relay-1/smtp")


@pytest.mark.parametrize("ident,line,sender,recipient,reply", [
    ("postfix/smtpd", "NOQUEUE: reject: RCPT from unknown[10.231.4.1]: 554 5.7.1 <victim@"
     "elsewhere.test>: Relay access denied; from=<x@remote.test> to=<victim@elsewhere.test> "
     "proto=ESMTP helo=<client.test>", "x@remote.test", "victim@elsewhere.test",
     "554 5.7.1 <victim@elsewhere.test>: Relay access denied"),
    ("postfix/submission/smtpd", "NOQUEUE: reject: RCPT from unknown[10.231.4.1]: 554 5.1.1"
     " <x@example.net>: Recipient address rejected: recipient suppressed after hard bounce "
     "on 2024-05-01 (mailops); from=<alice@example.test> to=<x@example.net> proto=ESMTP "
     "helo=<[10.231.4.1]>", "alice@example.test", "x@example.net",
     "554 5.1.1 <x@example.net>: Recipient address rejected: recipient suppressed after "
     "hard bounce on 2024-05-01 (mailops)"),
    # postscreen(8) separates the envelope with commas
    ("postfix/postscreen", "NOQUEUE: reject: RCPT from [192.0.2.7]:41234: 550 5.7.1 Service "
     "unavailable; client [192.0.2.7] blocked using zen.spamhaus.org; from=<s@spam.test>, "
     "to=<bob@example.test>, proto=ESMTP, helo=<spam.test>", "s@spam.test",
     "bob@example.test", "550 5.7.1 Service unavailable; client [192.0.2.7] blocked using "
     "zen.spamhaus.org"),
])
def test_rcpt_time_rejections(ident, line, sender, recipient, reply):
    f = fact(ident, line)
    assert (f.kind, f.qid) == ("reject", None)
    assert (f.data["sender"], f.data["recipient"], f.data["reply"], f.data["stage"]) == \
        (sender, recipient, reply, "RCPT")


def test_milter_reject_at_end_of_message_from_cleanup():
    f = fact("postfix/cleanup", "3F2A1B4C5D: milter-reject: END-OF-MESSAGE from unknown"
             "[10.231.4.1]: 5.7.1 <carol@tenant2.test>: From: header address not owned by "
             "user alice@example.test; from=<alice@example.test> to=<bob@remote.test> "
             "proto=ESMTP helo=<[10.231.4.1]>")
    assert (f.kind, f.qid, f.data["stage"], f.data["recipient"]) == \
        ("reject", "3F2A1B4C5D", "END-OF-MESSAGE", "bob@remote.test")


@pytest.mark.parametrize("ident,line,kind,data", [
    ("postfix/smtpd", "598AD2BC007: client=mx.remote.test[10.231.4.20]", "client",
     {"client": "mx.remote.test[10.231.4.20]", "sasl_username": ""}),
    ("postfix/submission/smtpd", "4B1C2D3E4F: client=unknown[10.231.4.1], sasl_method=PLAIN,"
     " sasl_username=alice@example.test", "client",
     {"client": "unknown[10.231.4.1]", "sasl_username": "alice@example.test"}),
    ("postfix/pickup", "BB0442BC003: uid=0 from=<postmaster@example.test>", "pickup",
     {"sender": "postmaster@example.test"}),
    ("postfix/cleanup", "D74AA2BC58F: message-id=<t3@remote.test>", "message_id",
     {"message_id": "<t3@remote.test>"}),
    ("postfix/qmgr", "14B5F2BC034: from=<>, size=2953, nrcpt=1 (queue active)", "queued",
     {"sender": "", "size": 2953, "nrcpt": 1}),
    ("postfix/qmgr", "14B5F2BC034: removed", "removed", {}),
    ("postfix/qmgr", "2C3D4E5F6A: from=<alice@example.test>, status=expired, returned to "
     "sender", "expired", {"sender": "alice@example.test"}),
    ("postfix/bounce", "7608E2BC023: sender non-delivery notification: 14B5F2BC034",
     "notification", {"notification": "14B5F2BC034"}),
    ("postfix/cleanup", "5D6E7F8A9B: info: header Subject: Quarterly numbers from unknown"
     "[10.231.4.1]; from=<alice@example.test> to=<bob@remote.test> proto=ESMTP helo=<x>",
     "subject", {"subject": "Quarterly numbers"}),
    ("opendkim", "E46B52BC587: DKIM-Signature field added (s=s202612a, d=example.test)",
     "dkim", {"selector": "s202612a", "domain": "example.test"}),
])
def test_message_facts(ident, line, kind, data):
    f = fact(ident, line)
    assert (f.kind, f.data) == (kind, data)


def test_long_queue_ids_are_queue_ids():
    f = fact("postfix/qmgr", "4dKs3R0Yb3zJ1nB: removed")
    assert (f.kind, f.qid) == ("removed", "4dKs3R0Yb3zJ1nB")


@pytest.mark.parametrize("ident,line", [
    ("postfix/smtpd", "connect from mx.remote.test[10.231.4.20]"),
    ("postfix/smtp", "warning: DNSSEC validation may be unavailable"),
    ("postfix/smtpd", "disconnect from unknown[10.231.4.1] ehlo=1 mail=1 rcpt=0/2 quit=1"),
    ("postfix/master", "reload -- version 3.10.13, configuration /etc/postfix"),
    ("opendkim", "OpenDKIM Filter v2.11.0 starting"),
    ("dovecot", "lmtp(9508): Connect from local"),
    ("dovecot", "master: Dovecot v2.4.1-4 (7d8c0e5759) starting up for imap, lmtp"),
    ("sshd", "E46B52BC587: to=<x@y>, status=sent (not a mail program)"),
    # address verification probes (verify(8)) are not mail anyone sent
    ("postfix/smtp", "1A2B3C4D5E: to=<x@remote.test>, relay=mx.remote.test[10.231.4.20]:25,"
     " delay=0.1, delays=0/0/0/0.1, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)"),
])
def test_other_lines_say_nothing(ident, line):
    assert parse(entry(ident, line)) is None


@pytest.mark.parametrize("line,session,folder,action", [
    # Dovecot 2.4 (Debian 13) and 2.3 (Debian 12): the same LMTP save line
    ("lmtp(bob@example.test)<9508><V6p4BHLODmskJQAAh60xbQ:R2>: msgid=<20261201134105.EA966"
     "2BC585@mx1.example.test>: saved mail to INBOX", "V6p4BHLODmskJQAAh60xbQ:R2", "INBOX",
     "saved"),
    ("lmtp(carol@tenant2.test)<11569><iJQtKUzRDmsxLQAAh60xbQ>: msgid=<t3@remote.test>: "
     "saved mail to INBOX", "iJQtKUzRDmsxLQAAh60xbQ", "INBOX", "saved"),
    # Pigeonhole Sieve: fileinto, and 2.4's "fileinto action:" prefix
    ("lmtp(bob@example.test)<3120><pQ2hM3vODmYwDAAAzYq0Xw>: sieve: msgid=<s1@remote.test>: "
     "stored mail into mailbox 'Junk'", "pQ2hM3vODmYwDAAAzYq0Xw", "Junk", "saved"),
    ("lmtp(bob@example.test)<3120><pQ2hM3vODmYwDAAAzYq0Xw>: sieve: msgid=<s1@remote.test>: "
     "fileinto action: stored mail into mailbox 'Junk'", "pQ2hM3vODmYwDAAAzYq0Xw", "Junk",
     "saved"),
    ("lmtp(bob@example.test)<3120><pQ2hM3vODmYwDAAAzYq0Xw>: sieve: msgid=<s2@remote.test>: "
     "marked message to be discarded if not explicitly delivered (discard action)",
     "pQ2hM3vODmYwDAAAzYq0Xw", "", "discarded"),
    ("lmtp(tiny@example.test)<3120><x1y2z3>: msgid=<big@remote.test>: save failed to "
     "INBOX: Quota exceeded (mailbox for user is full)", "x1y2z3", "", "note"),
])
def test_dovecot_lmtp_and_sieve(line, session, folder, action):
    f = fact("dovecot", line)
    assert f.kind == "mailbox"
    assert (f.data["session"], f.data["folder"], f.data["action"]) == (session, folder, action)


def test_rspamd_verdict_when_its_log_reaches_the_journal():
    f = fact("rspamd", "<2b4c1d>; task; rspamd_task_write_log: id: <s1@remote.test>, qid: "
             "<598AD2BC007>, ip: 10.231.4.20, from: <x@remote.test>, (default: F (no action):"
             " [-0.10/15.00] [ARC_NA(0.00){},DMARC_NA(0.00){remote.test;}]), len: 632, time: "
             "12.3ms, dns req: 4, digest: <0f1e>, rcpts: <bob@example.test>, mime_rcpts: "
             "<bob@example.test>")
    assert (f.kind, f.qid, f.data["action"], f.data["score"]) == \
        ("spam", "598AD2BC007", "no action", -0.1)


def test_non_utf8_messages_arrive_as_byte_arrays_and_still_parse():
    raw = "D74AA2BC58F: message-id=<caf\xe9@remote.test>".encode("latin-1")
    f = parse({"SYSLOG_IDENTIFIER": "postfix/cleanup", "MESSAGE": list(raw),
               "__REALTIME_TIMESTAMP": "1"})
    assert f.kind == "message_id" and f.data["message_id"].startswith("<caf")


@pytest.mark.parametrize("journal", sorted(JOURNALS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_captured_journals_every_postfix_queue_line_is_understood(journal):
    """Every Postfix line about a queued message in a real journal yields a fact, except
    the ones the log has no use for (listed)."""
    ignored = ("connect to", "warning:", "lost connection", "Trusted TLS", "Untrusted TLS",
               "Verified TLS", "Anonymous TLS")
    missed = []
    for line in journal.read_text().splitlines():
        e = json.loads(line)
        msg = e.get("MESSAGE", "")
        if not e.get("SYSLOG_IDENTIFIER", "").startswith("postfix") or ": " not in msg:
            continue
        head = msg.split(": ", 1)[0]
        if (head.isalnum() and head.upper() == head and len(head) >= 6 or head == "NOQUEUE") \
                and not any(i in msg for i in ignored) and parse(e) is None:
            missed.append(msg)
    assert missed == []
