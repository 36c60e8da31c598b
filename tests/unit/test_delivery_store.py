"""The delivery log's database: states per recipient, timelines, cursor, retention.

The input is what the service reads: journal entries as ``journalctl -o json`` writes
them — the journals captured on the lab's mx1 (tests/fixtures/journal/) and lines in
the same formats for what the lab does not do (Sieve).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailops.onhost.delivery import follow, index, query, store
from mailops.onhost.delivery.parse import parse

JOURNALS = Path(__file__).resolve().parents[1] / "fixtures" / "journal"
DEBIAN13 = JOURNALS / "debian13.jsonl"
DEBIAN12 = JOURNALS / "debian12.jsonl"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "delivery.sqlite3")
    conn = store.connect(path)
    yield path, conn
    conn.close()


def feed(conn, lines, subjects=False):
    return follow.index_lines(conn, index.Indexer(conn, subjects=subjects), lines)


def rows_for(conn, recipient):
    return query.messages(conn, recipient=recipient)


def test_a_real_journal_gives_each_recipient_its_state(db):
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    sent, = rows_for(conn, "someone@remote.test")[-1:]
    assert (sent["state"], sent["direction"], sent["relay"], sent["dkim_selector"]) == \
        ("sent", "out", "mx.remote.test[10.231.4.20]:25", "s202612a")
    waited, = rows_for(conn, "waiting@remote.test")
    assert (waited["state"], waited["attempts"]) == ("sent", 2)  # deferred, then sent
    refused, = rows_for(conn, "refused@remote.test")
    assert refused["state"] == "bounced" and refused["dsn"] == "5.1.1"
    assert "554 5.1.1 <refused@remote.test>" in refused["reply"]
    relay, = rows_for(conn, "victim@elsewhere.test")
    assert (relay["state"], relay["queue_id"], relay["direction"]) == ("rejected", None, "in")
    assert relay["reply"] == "RCPT: 554 5.7.1 <victim@elsewhere.test>: Relay access denied"
    unknown, = rows_for(conn, "nobody@example.test")
    assert unknown["state"] == "rejected" and unknown["dsn"] == "5.1.1"
    inbound = [r for r in rows_for(conn, "bob@example.test") if r["queue_id"] == "6FC412BC008"]
    assert [(r["state"], r["folder"], r["direction"], r["sender"]) for r in inbound] == \
        [("delivered", "INBOX", "in", "x@remote.test")]


def test_debian_12_dovecot_logging_after_postfix_still_files_the_folder(db):
    """On Debian 12 Dovecot 2.3's log line for bob arrived after Postfix's (captured)."""
    _, conn = db
    feed(conn, lines_of(DEBIAN12))
    lines = [json.loads(line)["MESSAGE"] for line in lines_of(DEBIAN12)]
    postfix_first = next(i for i, m in enumerate(lines) if "9AA042DC4D8: to=<bob@" in m)
    dovecot_later = next(i for i, m in enumerate(lines) if "iHN3KEzRDmsxLQAAh60xbQ>" in m)
    assert postfix_first < dovecot_later
    row, = [r for r in rows_for(conn, "bob@example.test") if r["queue_id"] == "9AA042DC4D8"]
    assert (row["state"], row["folder"]) == ("delivered", "INBOX")
    events = query.trace(conn, "9AA042DC4D8")
    assert [e["program"] for e in events].count("dovecot") == 1
    refused, = rows_for(conn, "refused@remote.test")
    assert refused["state"] == "bounced" and refused["attempts"] == 2


def test_an_alias_expands_to_rows_per_mailbox_each_with_its_folder(db):
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    rows = query.messages(conn, recipient="sales@example.test")
    assert sorted((r["recipient"], r["folder"]) for r in rows) == \
        [("alice@example.test", "INBOX"), ("bob@example.test", "INBOX")]
    assert query.messages(conn, recipient="@tenant2.test")[0]["recipient"] == \
        "carol@tenant2.test"


def test_trace_links_a_bounce_to_its_notification(db):
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    events = query.trace(conn, "7608E2BC023")
    assert {e["queue_id"] for e in events} == {"7608E2BC023", "14B5F2BC034"}
    states = [e["state"] for e in events if e["queue_id"] == "7608E2BC023" and e["state"]]
    assert states == ["deferred", "bounced"]
    # the DSN went to the sender's own mailbox
    assert any(e["program"] == "dovecot" and e["recipient"] == "alice@example.test"
               for e in events if e["queue_id"] == "14B5F2BC034")
    by_address = query.trace(conn, "refused@remote.test")
    assert {e["queue_id"] for e in by_address} == {"7608E2BC023", "14B5F2BC034"}
    by_message_id = query.trace(conn, "20261201134911.7608E2BC023@mx1.example.test")
    assert {e["queue_id"] for e in by_message_id} == {"7608E2BC023", "14B5F2BC034"}


@pytest.mark.parametrize("cut", [1, 20, 57, 90, 120, 143])
def test_a_restart_at_any_line_neither_misses_nor_double_counts(tmp_path, cut):
    """What journalctl --after-cursor does after a restart: resume after the stored
    cursor. Stopping after any line gives the same log as one uninterrupted run."""
    lines = lines_of(DEBIAN13)
    whole = store.connect(str(tmp_path / "whole.sqlite3"))
    feed(whole, lines)
    path = str(tmp_path / "restarted.sqlite3")
    first = store.connect(path)
    feed(first, lines[:cut])
    first.close()
    again = store.connect(path)
    cursor = store.cursor(again)
    position = next(i for i, line in enumerate(lines) if json.loads(line)["__CURSOR"] == cursor)
    assert position == cut - 1
    feed(again, lines[position + 1:])
    assert query.messages(again) == query.messages(whole)
    assert query.trace(again, "waiting@remote.test") == query.trace(whole, "waiting@remote.test")


@pytest.mark.parametrize("damage", [";t=", ";i=zz", "s=bc6f48c2217f452d", "not a cursor"])
def test_a_cursor_journalctl_rejects_resumes_from_the_newest_indexed_line(db, damage):
    """Real journalctl (systemd's, as on the host) judges the stored cursor. A rejected
    one would fail every start — systemd restarting the service into the same error for
    ever, nothing indexed again; it is dropped and reading resumes at the newest line
    already indexed, not at the start of the retention period."""
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    good = store.cursor(conn)  # captured on mx1: another journal's, and well-formed
    assert follow.start_argv(conn, 0)[-len(follow.MATCHES) - 1] == f"--after-cursor={good}"
    # A damaged field appended to the good cursor, or a cursor cut short / replaced.
    damaged = good + damage if damage.startswith(";") else damage
    conn.execute("UPDATE state SET value = ? WHERE key = 'cursor'", (damaged,))
    # The newest line that said something about a message (not OpenDKIM's start-up).
    newest = max(int(e["__REALTIME_TIMESTAMP"]) for e in map(json.loads, lines_of(DEBIAN13))
                 if parse(e) is not None)
    argv = follow.start_argv(conn, since_us=newest - 86_400_000_000)
    assert argv[-len(follow.MATCHES) - 1] == f"--since=@{newest // 1_000_000}"
    assert store.cursor(conn) is None
    assert not any(a.startswith("--after-cursor") for a in argv)


def test_a_failed_batch_stores_neither_its_rows_nor_its_cursor(db):
    _, conn = db
    lines = lines_of(DEBIAN13)
    feed(conn, lines[:10])
    before = (store.cursor(conn), query.messages(conn))

    class Broken(index.Indexer):
        def apply(self, f):
            super().apply(f)
            if f.kind == "delivery":
                raise OSError("disk full")

    with pytest.raises(OSError):
        follow.index_lines(conn, Broken(conn), lines[10:])
    assert (store.cursor(conn), query.messages(conn)) == before


def j(ts: int, ident: str, message: str, n: int = 0) -> str:
    return json.dumps({"__CURSOR": f"c{ts}-{n}", "__REALTIME_TIMESTAMP": str(ts),
                       "SYSLOG_IDENTIFIER": ident, "MESSAGE": message})


T0 = 1_796_132_000_000_000
SUBJECT = ("AB12CD34EF: info: header Subject: Salary review from unknown[10.231.4.1]; "
           "from=<alice@example.test> to=<bob@remote.test> proto=ESMTP helo=<x>")


@pytest.mark.parametrize("kept", [False, True])
def test_subjects_are_kept_only_when_the_inventory_says_so(db, kept):
    _, conn = db
    feed(conn, [j(T0, "postfix/smtpd", "AB12CD34EF: client=unknown[10.231.4.1], "
                 "sasl_method=PLAIN, sasl_username=alice@example.test"),
                 j(T0 + 1, "postfix/cleanup", SUBJECT)], subjects=kept)
    row, = query.messages(conn)
    assert row["subject"] == ("Salary review" if kept else None)
    texts = [e["text"] for e in query.trace(conn, "AB12CD34EF")]
    assert any("Salary review" in t for t in texts) == kept


def sieve_lines(second: str) -> list[str]:
    return [
        j(T0, "postfix/smtpd", "C0FFEE1234: client=mx.remote.test[10.231.4.20]"),
        j(T0 + 1, "postfix/cleanup", "C0FFEE1234: message-id=<s1@remote.test>"),
        j(T0 + 2, "postfix/qmgr", "C0FFEE1234: from=<x@remote.test>, size=700, nrcpt=1 "
          "(queue active)"),
        j(T0 + 3, "dovecot", f"lmtp(bob@example.test)<3120><pQ2hM3vO>: sieve: msgid=<s1@"
          f"remote.test>: {second}"),
        j(T0 + 4, "postfix/lmtp", "C0FFEE1234: to=<bob@example.test>, relay=mx1.example."
          "test[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent "
          "(250 2.0.0 <bob@example.test> pQ2hM3vO Saved)"),
    ]


def test_sieve_fileinto_junk_is_delivered_to_junk(db):
    _, conn = db
    feed(conn, sieve_lines("fileinto action: stored mail into mailbox 'Junk'"))
    row, = query.messages(conn)
    assert (row["state"], row["folder"]) == ("delivered", "Junk")


def test_a_sieve_discard_stays_discarded_although_dovecot_answered_250(db):
    _, conn = db
    feed(conn, sieve_lines("marked message to be discarded if not explicitly delivered "
                            "(discard action)"))
    row, = query.messages(conn)
    assert row["state"] == "discarded"


def test_dovecot_logging_after_postfix_still_gives_the_folder(db):
    _, conn = db
    lines = sieve_lines("stored mail into mailbox 'Junk'")
    lines[3], lines[4] = lines[4], lines[3]  # Dovecot's log process can be late
    feed(conn, lines)
    row, = query.messages(conn)
    assert (row["state"], row["folder"]) == ("delivered", "Junk")


def test_a_reused_queue_id_is_a_new_message(db):
    _, conn = db
    first = [j(T0, "postfix/pickup", "AAAAAA1111: uid=0 from=<alice@example.test>"),
             j(T0 + 1, "postfix/smtp", "AAAAAA1111: to=<a@remote.test>, relay=none, delay=1,"
               " delays=0/0/1/0, dsn=2.0.0, status=sent (250 ok)"),
             j(T0 + 2, "postfix/qmgr", "AAAAAA1111: removed")]
    second = [j(T0 + 10, "postfix/pickup", "AAAAAA1111: uid=0 from=<bob@example.test>"),
              j(T0 + 11, "postfix/smtp", "AAAAAA1111: to=<a@remote.test>, relay=none, "
                "delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (timeout)")]
    feed(conn, first + second)
    rows = query.messages(conn)
    assert [(r["sender"], r["state"], r["attempts"]) for r in rows] == \
        [("bob@example.test", "deferred", 1), ("alice@example.test", "sent", 1)]


def test_expiry_bounces_what_was_still_deferred(db):
    _, conn = db
    feed(conn, [j(T0, "postfix/pickup", "BBBBBB2222: uid=0 from=<alice@example.test>"),
                 j(T0 + 1, "postfix/smtp", "BBBBBB2222: to=<gone@remote.test>, relay=none, "
                   "delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to "
                   "mx.remote.test[10.231.4.20]:25: Connection refused)"),
                 j(T0 + 2, "postfix/qmgr", "BBBBBB2222: from=<alice@example.test>, "
                   "status=expired, returned to sender")])
    row, = query.messages(conn)
    assert row["state"] == "bounced"
    assert row["reply"].startswith("expired (maximal_queue_lifetime): connect to")


def test_a_queued_message_without_attempts_is_listed_as_queued(db):
    _, conn = db
    feed(conn, [j(T0, "postfix/pickup", "CCCCCC3333: uid=0 from=<alice@example.test>"),
                 j(T0 + 1, "postfix/qmgr", "CCCCCC3333: from=<alice@example.test>, size=1, "
                   "nrcpt=2 (queue active)")])
    row, = query.messages(conn, state="queued")
    assert (row["recipient"], row["direction"]) == (None, "out")


def test_old_messages_are_pruned_with_their_timeline(db):
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    newest = max(r["updated_at"] for r in query.messages(conn))
    assert store.prune(conn, T0 * 2) > 0
    assert query.messages(conn) == [] and query.trace(conn, "7608E2BC023") == []
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert newest  # there was something to prune


def test_filters_and_since(db):
    _, conn = db
    feed(conn, lines_of(DEBIAN13))
    everything = query.messages(conn)
    assert [r["updated_at"] for r in everything] == sorted(
        (r["updated_at"] for r in everything), reverse=True)
    assert {r["state"] for r in query.messages(conn, state="rejected")} == {"rejected"}
    assert {r["sender"] for r in query.messages(conn, sender="@remote.test")} == \
        {"x@remote.test"}
    later = query.since_us("2026-12-01T13:49:20Z")
    assert all(r["updated_at"] >= "2026-12-01T13:49:20" for r in
               query.messages(conn, since=later))
    with pytest.raises(ValueError, match="--state: found 'lost'"):
        query.messages(conn, state="lost")
    with pytest.raises(ValueError, match="expected a date-time"):
        query.since_us("yesterday")
    assert query.since_us("2h", now=7200.0) == 0
