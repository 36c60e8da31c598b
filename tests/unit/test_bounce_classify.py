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
