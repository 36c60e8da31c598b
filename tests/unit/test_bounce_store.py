"""The bounce database: verification, suppression policy, Postfix lookup."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mailops.bounce import store, verp
from mailops.bounce.parse import parse_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
SECRET = b"test-secret-0123456789abcdef"
NOW = 1_716_000_000.0
DAY = 86400.0


@pytest.fixture
def conn(tmp_path):
    c = store.connect(str(tmp_path / "bounces.sqlite3"), busy_timeout_ms=100)
    yield c
    c.close()


def fixture(name: str):
    return parse_bytes((FIXTURES / name).read_bytes())


def vrcpt(recipient: str, now: float = NOW) -> str:
    return verp.return_path(SECRET, recipient, "example.org", day=verp.today(now))


def record(conn, report, *, sender="MAILER-DAEMON", recipient=None, now=NOW, **kw):
    return store.record(conn, report, envelope_sender=sender, envelope_recipient=recipient,
                        secret=SECRET, now=now, **kw)


def test_database_is_in_wal_mode(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_verified_hard_bounce_suppresses_at_once(conn):
    report = fixture("postfix_user_unknown.eml")
    result = record(conn, report, recipient=vrcpt("no.such.user@example.net"))
    assert result.suppressed == ["no.such.user@example.net"]
    assert store.is_suppressed(conn, "No.Such.User@example.net")
    (row,) = store.list_bounces(conn)
    assert (row["verified"], row["verified_by"], row["reason"]) == (1, "verp", "userunknown")


def test_forged_bounce_without_a_valid_token_is_recorded_unverified_and_suppresses_nobody(conn):
    report = fixture("postfix_user_unknown.eml")
    forged = "bounces+" + "a" * 24 + "@example.org"
    result = record(conn, report, recipient=forged)
    assert result.suppressed == []
    assert not store.is_suppressed(conn, "no.such.user@example.net")
    assert store.list_bounces(conn)[0]["verified"] == 0


def test_a_bounce_from_a_non_null_sender_suppresses_nobody_even_with_a_valid_token(conn):
    report = fixture("postfix_user_unknown.eml")
    result = record(conn, report, sender="attacker@evil.example",
                    recipient=vrcpt("no.such.user@example.net"))
    assert result.suppressed == []


def test_a_recorded_message_id_verifies_a_bounce_without_token(conn):
    store.record_sent(conn, "<may-news-0001@example.org>", ["no.such.user@example.net"], now=NOW)
    result = record(conn, fixture("postfix_user_unknown.eml"), recipient="bounces@example.org")
    assert result.suppressed == ["no.such.user@example.net"]
    assert store.list_bounces(conn)[0]["verified_by"] == "message-id"


def test_a_known_message_id_does_not_verify_a_recipient_it_was_not_sent_to(conn):
    store.record_sent(conn, "<may-news-0001@example.org>", ["someone.else@example.net"], now=NOW)
    result = record(conn, fixture("postfix_user_unknown.eml"), recipient="bounces@example.org")
    assert result.suppressed == []


def test_soft_bounces_suppress_after_three_within_the_window(conn):
    report = fixture("postfix_two_recipients.eml")
    report.bounces = [b for b in report.bounces if b.recipient == "full@example.com"]
    for i in range(2):
        when = NOW + i * DAY
        result = record(conn, report, recipient=vrcpt("full@example.com", when), now=when)
        assert result.suppressed == []
    third = NOW + 2 * DAY
    result = record(conn, report, recipient=vrcpt("full@example.com", third), now=third)
    assert result.suppressed == ["full@example.com"]
    (row,) = store.list_suppressed(conn)
    assert (row["source"], row["reason"]) == ("soft-bounces", "mailboxfull")


def test_soft_bounces_spread_beyond_the_window_do_not_suppress(conn):
    report = fixture("postfix_two_recipients.eml")
    report.bounces = [b for b in report.bounces if b.recipient == "full@example.com"]
    for i in range(3):
        when = NOW + i * 5 * DAY
        result = record(conn, report, recipient=vrcpt("full@example.com", when), now=when)
    assert result.suppressed == []
    assert not store.is_suppressed(conn, "full@example.com")


def test_the_soft_threshold_is_configurable(conn):
    report = fixture("postfix_two_recipients.eml")
    report.bounces = [b for b in report.bounces if b.recipient == "full@example.com"]
    result = record(conn, report, recipient=vrcpt("full@example.com"), soft_threshold=1)
    assert result.suppressed == ["full@example.com"]


def test_delays_never_count_toward_suppression(conn):
    report = fixture("postfix_delayed.eml")
    for i in range(5):
        when = NOW + i * 3600
        result = record(conn, report, recipient=vrcpt("slow@example.com", when), now=when)
        assert result.suppressed == []


def test_policy_blocks_never_suppress_however_often_they_repeat(conn):
    report = fixture("gmail_spam_block.eml")
    for i in range(5):
        when = NOW + i * 3600
        result = record(conn, report, recipient=vrcpt("reader@gmail.com", when), now=when)
        assert result.suppressed == []
    assert store.list_suppressed(conn) == []


def test_complaints_are_recorded_not_suppressed(conn):
    report = fixture("arf_abuse_complaint.eml")
    result = record(conn, report, sender="scomp@fbl.example-isp.net",
                    recipient=vrcpt("annoyed@example-isp.net"))
    assert result.complaints == 1
    (row,) = store.list_complaints(conn)
    assert (row["recipient"], row["feedback_type"], row["verified"]) == (
        "annoyed@example-isp.net", "abuse", 1)
    assert store.list_suppressed(conn) == []
    assert store.list_bounces(conn) == []


def test_manual_suppression_can_be_added_listed_and_removed(conn):
    assert store.add_suppression(conn, "Someone@Example.com", "asked by phone", now=NOW)
    assert not store.add_suppression(conn, "someone@example.com", "again", now=NOW)
    (row,) = store.list_suppressed(conn)
    assert (row["address"], row["source"], row["note"]) == ("someone@example.com", "manual",
                                                           "asked by phone")
    assert store.remove_suppression(conn, "someone@example.com")
    assert not store.remove_suppression(conn, "someone@example.com")
    assert store.list_suppressed(conn) == []


def test_list_bounces_since_filters_by_date(conn):
    record(conn, fixture("postfix_delayed.eml"), now=NOW)
    record(conn, fixture("postfix_user_unknown.eml"), now=NOW + 10 * DAY)
    since = store.utc(NOW + 5 * DAY)
    rows = store.list_bounces(conn, since=since)
    assert [r["recipient"] for r in rows] == ["no.such.user@example.net"]


def test_no_message_body_is_stored(conn):
    record(conn, fixture("postfix_two_recipients.eml"), recipient="bounces@example.org")
    dump = "\n".join(conn.iterdump())
    assert "Hello, you are invited." not in dump


def test_postfix_sqlite_query_rejects_a_hard_bounced_address_with_its_status_and_date(conn):
    record(conn, fixture("postfix_user_unknown.eml"), recipient=vrcpt("no.such.user@example.net"))
    reply = store.postfix_lookup(conn, "No.Such.User@example.net")
    assert reply == ("REJECT 5.1.1 recipient suppressed after hard"
                     f" bounce on {store.utc(NOW)[:10]} (mailops)")
    assert store.postfix_lookup(conn, "someone.fine@example.net") is None


def test_postfix_query_is_safe_against_quotes_in_the_lookup_key(conn):
    store.add_suppression(conn, "o'brien@example.com", "", now=NOW)
    assert store.postfix_lookup(conn, "o'brien@example.com").startswith("REJECT 5.7.1 ")
    assert store.postfix_lookup(conn, "obrien@example.com") is None
    assert store.postfix_lookup(conn, "x' OR '1'='1") is None


def test_postfix_map_file_holds_the_query_on_one_line(tmp_path):
    cf = store.postfix_map_cf("/var/lib/mailops/bounces.sqlite3")
    lines = cf.splitlines()
    assert lines[0] == "dbpath = /var/lib/mailops/bounces.sqlite3"
    assert lines[1].startswith("query = SELECT ") and "'%s'" in lines[1]
    assert len(lines) == 2


def test_a_reader_sees_suppressions_written_by_another_connection(tmp_path):
    path = str(tmp_path / "b.sqlite3")
    writer = store.connect(path)
    store.add_suppression(writer, "x@example.com", "", now=NOW)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert store.postfix_lookup(reader, "x@example.com").startswith("REJECT")
