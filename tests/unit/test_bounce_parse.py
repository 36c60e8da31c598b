"""Parsing real-shaped bounce messages: what an operator sees per recipient."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailops.bounce.parse import parse_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"


def parse(name: str):
    return parse_bytes((FIXTURES / name).read_bytes())


def only(report):
    assert len(report.bounces) == 1, report
    return report.bounces[0]


def test_postfix_dsn_reports_unknown_user_as_hard_with_codes_and_original_message_id():
    report = parse("postfix_user_unknown.eml")
    b = only(report)
    assert report.kind == "dsn"
    assert (b.recipient, b.action, b.status, b.replycode) == (
        "no.such.user@example.net", "failed", "5.1.1", 550)
    assert (b.reason, b.hard, b.permanent) == ("userunknown", True, True)
    assert b.reporting_mta == "mx1.example.org"
    assert "User unknown in virtual mailbox table" in b.diagnostic
    assert report.message_id == "<may-news-0001@example.org>"


def test_postfix_delay_warning_is_not_a_permanent_failure():
    b = only(parse("postfix_delayed.eml"))
    assert (b.action, b.status, b.permanent, b.hard) == ("delayed", "4.4.1", False, False)
    assert b.reason == "networkerror"


def test_dsn_with_two_recipients_reports_each_with_its_own_reason():
    report = parse("postfix_two_recipients.eml")
    by_rcpt = {b.recipient: b for b in report.bounces}
    assert set(by_rcpt) == {"full@example.com", "anyone@no-such-domain.example"}
    full = by_rcpt["full@example.com"]
    assert (full.status, full.reason, full.hard, full.permanent) == (
        "5.2.2", "mailboxfull", False, True)
    gone = by_rcpt["anyone@no-such-domain.example"]
    assert (gone.status, gone.reason, gone.hard) == ("5.4.4", "hostunknown", True)
    assert report.message_id == "<invite-77@example.org>"


def test_exim_text_bounce_reports_the_failed_recipient_as_moved_and_hard():
    report = parse("exim_x_failed_recipients.eml")
    b = only(report)
    assert report.kind == "legacy"
    assert (b.recipient, b.status, b.replycode, b.reason, b.hard) == (
        "gone@example.com", "5.1.6", 550, "hasmoved", True)
    assert "no longer valid" in b.diagnostic
    assert report.message_id == "<invoice-1234@example.org>"


def test_gmail_no_such_user_is_hard():
    b = only(parse("gmail_no_such_user.eml"))
    assert (b.recipient, b.status, b.replycode, b.reason, b.hard) == (
        "missing.person@gmail.com", "5.1.1", 550, "userunknown", True)


def test_gmail_spam_rejection_is_permanent_but_not_hard():
    b = only(parse("gmail_spam_block.eml"))
    assert (b.status, b.reason, b.permanent, b.hard) == ("5.7.1", "spamdetected", True, False)


def test_microsoft_365_recipient_not_found_is_hard_despite_the_null_mx_code():
    # Microsoft reuses 5.1.10 (RFC 7505 null MX) for "recipient not found".
    b = only(parse("m365_recipient_not_found.eml"))
    assert (b.recipient, b.status, b.reason, b.hard) == (
        "j.doe@contoso.com", "5.1.10", "userunknown", True)


def test_microsoft_365_banned_ip_is_a_block_not_a_bad_address():
    b = only(parse("m365_banned_ip.eml"))
    assert (b.status, b.reason, b.hard) == ("5.7.606", "blocked", False)


def test_qmail_bounce_takes_the_status_from_the_diagnostic_text():
    report = parse("qmail_mailbox_full.eml")
    b = only(report)
    assert report.kind == "legacy"
    assert (b.recipient, b.status, b.reason, b.permanent, b.hard) == (
        "stuffed@example.net", "5.2.2", "mailboxfull", True, False)


def test_rfc6533_global_dsn_keeps_utf8_recipients_and_separates_failure_from_delay():
    report = parse("rfc6533_global_dsn.eml")
    by_rcpt = {b.recipient: b for b in report.bounces}
    assert set(by_rcpt) == {"用户@例子.广告", "josé@exemplo.com.br"}
    assert by_rcpt["用户@例子.广告"].hard is True
    assert by_rcpt["josé@exemplo.com.br"].action == "delayed"
    assert by_rcpt["josé@exemplo.com.br"].permanent is False


def test_rfc6533_xtext_escaped_utf8_address_is_decoded():
    b = only(parse("rfc6533_downgraded_xtext.eml"))
    assert b.recipient == "上海@example.cn"
    assert (b.status, b.reason, b.hard) == ("5.6.7", "contenterror", False)


def test_arf_report_is_a_complaint_not_a_bounce():
    report = parse("arf_abuse_complaint.eml")
    assert report.kind == "arf"
    assert report.feedback_type == "abuse"
    b = only(report)
    assert (b.recipient, b.reason, b.permanent, b.hard) == (
        "annoyed@example-isp.net", "feedback", False, False)
    assert report.message_id == "<deals-2024-21@example.org>"


@pytest.mark.parametrize("name", ["autoreply_rfc3834.eml", "vacation_outlook.eml"])
def test_auto_replies_are_vacation_not_bounces(name):
    report = parse(name)
    assert report.kind == "autoreply"
    assert all(b.reason == "vacation" and not b.permanent for b in report.bounces)


def test_a_personal_reply_mentioning_an_address_is_not_a_bounce():
    report = parse("personal_reply_not_bounce.eml")
    assert report.kind == "not-bounce"
    assert report.bounces == []


def test_original_recipient_is_preferred_over_a_rewritten_final_recipient():
    raw = (FIXTURES / "postfix_user_unknown.eml").read_bytes().replace(
        b"Final-Recipient: rfc822; no.such.user@example.net",
        b"Final-Recipient: rfc822; mailbox-4711@store.example.net")
    b = only(parse_bytes(raw))
    assert b.recipient == "no.such.user@example.net"


def test_garbage_is_not_a_bounce():
    assert parse_bytes(b"\x00\xff garbage").kind == "not-bounce"
    assert parse_bytes(b"").kind == "not-bounce"


def test_an_amazon_ses_complaint_notice_is_a_complaint_even_folded_by_sns():
    report = parse("ses_complaint_json.eml")
    b = only(report)
    assert (report.kind, report.feedback_type, b.recipient, b.reason, b.hard) == (
        "arf", "abuse", "reader@example.net", "feedback", False)
    assert report.message_id == "<news-42@example.org>"  # the RFC 5322 one, not SES's id


def test_an_amazon_ses_bounce_notice_inside_an_sns_envelope_is_a_bounce():
    b = only(parse("ses_bounce_sns_json.eml"))
    assert (b.recipient, b.status, b.reason, b.hard) == ("gone@example.net", "5.1.1",
                                                         "userunknown", True)


def test_a_legacy_charset_is_decoded_before_the_rules_read_the_text():
    b = only(parse("legacy_iso2022jp_no_charset.eml"))
    assert (b.recipient, b.reason, b.hard) == ("taro@example.jp", "mailboxfull", False)
    assert "メールボックスがいっぱいです" in b.diagnostic


def test_a_dsn_whose_declared_boundary_is_not_the_one_it_uses_is_still_read():
    report = parse("dsn_wrong_boundary.eml")
    b = only(report)
    assert (report.kind, b.recipient, b.reason, b.hard) == ("dsn", "nobody@example.net",
                                                            "userunknown", True)


def test_file_paths_and_received_for_clauses_are_not_recipients():
    report = parse("exim_pipe_and_paths.eml")
    assert [b.recipient for b in report.bounces] == ["carol@example.net"]
    assert (report.bounces[0].reason, report.bounces[0].hard) == ("mailererror", False)


def test_a_jmrp_complaint_names_the_recipient_from_the_returned_copy():
    report = parse("jmrp_complaint.eml")
    assert (report.kind, [b.recipient for b in report.bounces]) == (
        "arf", ["erin@hotmail.example"])


def test_the_cut_before_the_returned_copy_is_the_same_with_the_cheap_pretest():
    # mime._may_cut spares most hook runs compiling the long pattern: it may only say
    # "no cut" where the pattern finds none, on every text of both corpora.
    from bounce_corpora import require

    from mailops.bounce import message, mime

    checked = 0
    for path in [p for name in ("flufl-bounce", "sisimai-dev")
                 for p in sorted((require(name) / "messages").glob("*")) if p.is_file()]:
        raw = path.read_bytes()
        msg = message.from_bytes(raw)
        for text in [raw.decode("latin-1")] + [mime.part_text(p)
                                               for _, p in mime.walk_report(msg)]:
            m = mime._CUT_RE.search(text)
            assert mime.report_text_only(text) == (text[:m.start()] if m else text)
            checked += 1
    assert checked > 1000


def test_a_part_ends_where_the_next_delimiter_line_starts():
    # RFC 2046 §5.1.1: the CRLF before a delimiter belongs to it; the delimiter line
    # itself is in no part.
    from mailops.bounce import message

    raw = (b"Content-Type: multipart/mixed; boundary=XyZ\n\npreamble\n--XyZ\n"
           b"Content-Type: text/plain\n\nfirst part\n--XyZ\nContent-Type: text/plain\n\n"
           b"second part\n--XyZ--\nepilogue\n")
    parts = message.from_bytes(raw).get_payload()
    assert [p.get_payload() for p in parts] == ["first part", "second part"]


def test_japanese_text_under_a_sibling_encodings_label_is_decoded_not_mangled():
    # Japanese carriers label EUC-JP (or Shift_JIS) text "iso-2022-jp": the text rules
    # must see the Japanese words, not Western mojibake.
    from mailops.bounce import message, mime

    words = "メールボックスがいっぱいです"
    for codec in ("euc_jp", "cp932"):
        raw = (b"Content-Type: text/plain; charset=iso-2022-jp\n\n"
               + words.encode(codec) + b"\n")
        assert mime.part_text(message.from_bytes(raw)).strip() == words


def test_the_scanners_that_spare_the_hook_compiling_patterns_find_what_the_patterns_find():
    # Each replaces a pattern the hook compiled on every run; seeded random texts made
    # of the characters each pattern cares about, plus the corpora's bodies.
    import random
    import re

    from bounce_corpora import require

    from mailops.bounce import dsn, message, parse

    field = re.compile(rb"[!-9;-~]+[ \t]*:")
    blank = re.compile(rb"\n\r?\n")
    split = re.compile(rb"\r?\n(?![ \t])")
    media = re.compile(r"[a-z0-9][\w.+-]*/[\w.+-]+")
    code = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}\s*")
    kind = re.compile(r"\s*[A-Za-z][\w-]*\s*")
    msgid = re.compile(rb"(?m)^[> \t]*message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{3,250}>)")

    def found(m, group=0):
        return (m.start(group), m.end(group)) if m else None

    rnd = random.Random(18)
    for _ in range(20000):
        b = b"".join(rnd.choice([b"a", b"B", b":", b" ", b"\t", b"\r", b"\n", b"-", b"\xff"])
                     for _ in range(rnd.randint(0, 12)))
        assert bool(field.match(b)) == message._is_field(b)
        assert (found(blank.search(b)) or (len(b), len(b))) == message._blank_line(b, 0)
        assert split.split(b.rstrip(b"\r")) == message._fields(b.rstrip(b"\r"))
        t = "".join(rnd.choice("ab0/9.+-_ x;\t5.12é²٣") for _ in range(rnd.randint(0, 12)))
        m = media.match(t)
        assert (m.group(0) if m else None) == message._media_type(t)
        assert code.sub("", t) == dsn._after_code(t)
        k, sep, rest = t.partition(";")
        assert dsn.value(t) == (rest.strip() if sep and kind.fullmatch(k) else t.strip())
        m_ = b"".join(rnd.choice([b"message-id:", b"<", b">", b" ", b"\t", b"\n", b"\r",
                                  b"a", b"xy", b"> ", b"@b.c"]) for _ in range(rnd.randint(0, 12)))
        assert found(msgid.search(m_), 1) == parse._msgid_at(m_)
    for name in ("flufl-bounce", "sisimai-dev"):
        for path in (require(name) / "messages").glob("*"):
            lower = path.read_bytes().lower()
            assert found(msgid.search(lower), 1) == parse._msgid_at(lower)
