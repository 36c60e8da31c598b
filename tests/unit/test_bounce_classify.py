"""Status, reason, hard/permanent for one failed recipient."""

from __future__ import annotations

import pytest

from mailops.bounce.classify import classify, never_suppresses


@pytest.mark.parametrize(
    ("status", "text", "reason", "hard"),
    [
        ("5.1.1", "550 5.1.1 <a@b>: Recipient address rejected: User unknown", "userunknown", True),
        ("5.1.2", "Host or domain name not found", "hostunknown", True),
        ("5.1.6", "mailbox has moved", "hasmoved", True),
        ("5.1.10", "Recipient domain has null MX", "notaccept", True),
        ("5.2.2", "552 Mailbox full", "mailboxfull", False),
        ("5.2.1", "mailbox disabled", "suspend", False),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "mesgtoobig", False),
        ("5.7.1", "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
         "blocked", False),
        ("5.7.1", "550 5.7.1 Relay access denied", "norelaying", False),
        ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted (DMARC)", "authfailure",
         False),
        ("5.7.25", "550 5.7.25 The IP address sending this message does not have a PTR record",
         "requireptr", False),
        ("5.7.1", "550 5.7.1 Message rejected due to poor sender reputation", "badreputation",
         False),
        ("5.7.1", "554 5.7.1 Message contains a virus", "virusdetected", False),
    ],
)
def test_status_and_text_give_the_reason_and_hardness(status, text, reason, hard):
    v = classify("failed", status, text)
    assert (v.reason, v.hard, v.permanent) == (reason, hard, True)


def test_status_is_derived_from_the_text_when_the_report_has_none():
    v = classify("failed", None, "550 Sorry, no mailbox here by that name. "
                                 "(in reply to RCPT TO command)")
    assert (v.status, v.replycode, v.reason, v.hard) == ("5.1.1", 550, "userunknown", True)


def test_a_failed_action_with_a_transient_status_is_permanent_but_not_hard():
    # RFC 3464 §2.3.3: the MTA gave up (queue lifetime) on a 4.x.x condition.
    v = classify("failed", "4.4.7", "Message timed out")
    assert (v.permanent, v.hard, v.reason) == (True, False, "expired")


def test_a_delay_is_never_permanent_nor_hard():
    v = classify("delayed", "4.1.1", "user unknown (temporary)")
    assert (v.permanent, v.hard) == (False, False)


def test_version_numbers_are_not_mistaken_for_status_codes():
    v = classify("failed", None, "RELEASED Mailman 2.0.12: recipient name is not recognized",
                 stage="rcpt")
    assert v.status == "5.1.1"


@pytest.mark.parametrize(
    ("status", "reason", "never"),
    [("5.7.1", "blocked", True), ("5.7.1", "spamdetected", True), ("5.7.1", "undefined", True),
     ("5.2.2", "mailboxfull", False), ("5.1.1", "userunknown", False),
     ("5.7.17", "hasmoved", False), ("5.5.3", "exceedlimit", True)],
)
def test_policy_and_reputation_failures_never_suppress(status, reason, never):
    assert never_suppresses(status, reason) is never


# --------------------------------------------------------------------------- general rules


def test_an_unknown_user_answered_to_data_is_a_filter_verdict_that_never_suppresses():
    v = classify("failed", "5.0.0", "550 : User unknown (in reply to end of DATA command)")
    assert (v.reason, v.hard) == ("filtered", False)
    assert never_suppresses(v.status, v.reason)


def test_unknown_user_is_hard_only_when_status_or_stage_corroborates_it():
    bare = classify("failed", "5.0.0", "550 Unknown user kijitora@example.jp")
    coded = classify("failed", "5.1.1", "550 Unknown user kijitora@example.jp")
    at_rcpt = classify("failed", "5.0.0", "550 Unknown user (in reply to RCPT TO command)")
    assert (bare.reason, bare.hard) == ("filtered", False)
    assert (coded.reason, coded.hard) == ("userunknown", True)
    assert (at_rcpt.reason, at_rcpt.hard) == ("userunknown", True)


def test_a_sendmail_transcript_says_which_command_was_refused():
    data = classify("failed", "5.0.0", "", context=">>> DATA\n<<< 550 5.0.0 User unknown\n")
    # Pipelined (RFC 2920): the refusals printed after DATA answered RCPT TO.
    piped = classify("failed", "5.1.1", "", context=">>> DATA\n<<< 550 5.1.1 User unknown\n"
                                                   "<<< 503 5.0.0 Need RCPT (recipient)\n")
    assert (data.reason, data.hard) == ("filtered", False)
    assert (piped.reason, piped.hard) == ("userunknown", True)


def test_the_words_beat_a_generic_or_overloaded_status():
    assert classify("failed", "5.2.1", "550 5.2.1 <a@b>... User Unknown",
                    stage="rcpt").reason == "userunknown"
    assert classify("failed", "5.7.9", "554 5.7.9 Message not accepted for policy reasons"
                    ).reason == "policyviolation"
    assert classify("failed", "5.1.1", "552 sorry, mailbox a@b is over quota").reason \
        == "mailboxfull"


def test_a_refusal_of_our_sender_or_our_host_is_not_about_the_recipient():
    sender = classify("failed", "5.1.8", "553 5.1.8 <x@a>... Domain of sender address x@a "
                                         "does not exist")
    helo = classify("failed", None, "Connected to 192.0.2.1 but my name was rejected. "
                                    "Remote host said: 501 5.0.0 Invalid domain name")
    assert (sender.reason, sender.hard) == ("rejected", False)
    assert (helo.reason, helo.hard) == ("blocked", False)


@pytest.mark.parametrize(("action", "status", "text", "reason"), [
    # Final failure after retrying: expired, whatever the last attempt said.
    ("failed", "4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection timed out",
     "expired"),
    ("failed", "5.0.0", "all hosts have been failing for a long time and were last tried",
     "expired"),
    ("failed", "4.5.0", "", "expired"),
    # The MTA says it retried for hours and stopped: the lookup it kept failing on is
    # why it retried, not a dead domain (which would suppress at once).
    ("failed", "5.1.2", "Delivery to the following recipients was aborted after 5.0 "
     "hour(s): Routing: Could not find a gateway for someone@example.co.jp", "expired"),
    ("failed", "5.0.0", "host mx.example.net not found: retry timeout exceeded", "expired"),
    # Still retrying: the network, not the queue lifetime.
    ("delayed", "4.4.1", "connect to mx.example.com[192.0.2.1]:25: Connection timed out",
     "networkerror"),
    # A temporary DNS failure is not a dead domain; a routing loop is not a timeout.
    ("failed", "4.0.0", "DNS type 'mx' lookup of example.comn responded with code NXDOMAIN",
     "networkerror"),
    ("failed", "5.4.6", "554 5.4.6 Too many hops", "networkerror"),
])
def test_expired_versus_network_errors(action, status, text, reason):
    assert classify(action, status, text).reason == reason


def test_a_null_mx_domain_accepts_no_mail_even_when_reported_through_dns():
    v = classify("failed", "5.0.0", "DNS Error: lookup of example.org responded with code "
                                    "NOERROR The domain example.org doesn't receive email "
                                    "according to the administrator: returned Null MX")
    assert (v.reason, v.hard) == ("notaccept", True)


@pytest.mark.parametrize("text", [
    "We're writing to let you know that the group you tried to contact (team) may not exist, "
    "or you may not have permission to post messages to the group.",
    "Dobrý den, skupina (team) pravděpodobně neexistuje. https://groups.google.com/support/",
    "You are not allowed to post to this mailing list, and your message has been "
    "automatically rejected.",
])
def test_mailing_list_and_group_notices_are_rejections_not_dead_mailboxes(text):
    v = classify("failed", None, text)
    assert (v.reason, v.hard) == ("rejected", False)


def test_spam_and_authentication_verdicts_are_told_apart_from_ip_blocks():
    assert classify("failed", "5.7.1", "550 5.7.1 Message content rejected, UBE").reason \
        == "spamdetected"
    assert classify("failed", "5.7.509", "550 5.7.509 Access denied, sending domain does not "
                                         "pass DMARC verification").reason == "authfailure"
    assert classify("failed", "4.0.0", "550 Client host blocked for spamming issues").reason \
        == "blocked"
    assert classify("failed", "5.7.1", "Messages with multiple 550 5.7.1 addresses in From: "
                                       "header are not accepted").reason == "notcompliantrfc"


def test_a_rule_pattern_is_only_compiled_when_its_required_words_are_in_the_text():
    from mailops.bounce.classify import required_literal

    assert required_literal(r"user(?:name)? (?:unknown|not found)") == "user"
    assert required_literal(r"exceed\w* .{0,30}quota") == "exceed"
    assert required_literal(r"a|b") == ""  # no single word is required: always tried
    assert required_literal(r"(?<!delivery temporarily )suspended") == "suspended"


def test_the_host_package_carries_the_rule_tables_flattened_as_the_hook_would_flatten_them():
    # The hook reads them from the package instead of scanning every pattern per bounce;
    # built from the same rules, they must be what classify computes.
    from mailops.bounce import classify
    from mailops.services import onhost

    namespace: dict = {}
    exec(onhost.package_files()["bounce/rules_flat.py"], namespace)
    assert set(namespace["FLAT"]) == set(classify.TABLES)
    for name in classify.TABLES:
        assert namespace["FLAT"][name] == classify._flatten(name)


def test_a_rule_is_tried_only_when_every_plain_word_it_needs_is_in_the_text():
    from mailops.bounce.classify import required_literals

    assert required_literals(r"mailbox (?:is )?full") == ("mailbox ", "full")
    assert required_literals(r"user'?s? (?:mailbox|inbox) .{0,20}full") == ("full", "user", " ")
    assert required_literals(r"(?<!delivery temporarily )suspended") == ("suspended",)
    assert required_literals(r"a|b") == ()


def test_a_status_field_is_checked_as_the_status_pattern_would_check_it():
    from mailops.bounce.classify import STATUS_RE, _is_status

    for value in ("5.1.1", "4.4.7", "5.7.26", "5.123.123", "2.0.0", "5.1", "5.1.1 ",
                  "5.1.1000", "5..1", "x.1.1", "5.1.x", "", "5.١.1", "55.1.1"):
        assert _is_status(value) == bool(STATUS_RE.fullmatch(value)), value
