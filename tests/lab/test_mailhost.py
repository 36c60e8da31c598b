"""The deployed mail host, end to end with real clients: what its users and attackers see."""

from __future__ import annotations

import socket

import dkim
import pytest
from mailclients import (
    MX1,
    imap_fetch,
    inject_at_remote,
    lab_dnsfunc,
    new_message,
    received_at_remote,
    smtp,
    submit,
    tls_context,
)

pytestmark = pytest.mark.lab


# ----------------------------------------------------------------------------- outbound


@pytest.mark.parametrize(
    ("user", "port"), [("alice@example.test", 587), ("carol@tenant2.test", 465)]
)
def test_a_user_submits_and_remote_receives_it_dkim_signed_by_their_domain(lab, lab_dns, user,
                                                                           port):
    msg, token = new_message(user, "someone@remote.test")
    submit(lab, user, msg, port=port)
    got = received_at_remote(lab, token)
    raw = got.as_bytes()
    domain = user.split("@")[1]
    assert f"d={domain}" in str(got["DKIM-Signature"]).replace(" ", "")
    # dkimpy verifies the real signature against the record in the lab DNS...
    assert dkim.verify(raw, dnsfunc=lab_dnsfunc)
    # ...and so did the receiving side itself (its OpenDKIM and SPF policy).
    results = " ".join(str(v) for v in got.get_all("Authentication-Results", []))
    assert "dkim=pass" in results and f"header.d={domain}" in results
    assert str(got["Received-SPF"]).startswith("Pass")


# ----------------------------------------------------------------------------- inbound


@pytest.mark.parametrize(
    ("rcpt", "readers"),
    [
        ("alice@example.test", ["alice@example.test"]),
        ("carol@tenant2.test", ["carol@tenant2.test"]),
        ("sales@example.test", ["alice@example.test", "bob@example.test"]),  # alias
        ("whoever@tenant2.test", ["carol@tenant2.test"]),  # catch-all
    ],
)
def test_remote_delivers_to_each_tenant_and_the_right_user_reads_it(lab, lab_dns, rcpt, readers):
    msg, token = new_message("someone@remote.test", rcpt)
    inject_at_remote(msg, "someone@remote.test", [rcpt])
    for reader in readers:
        assert token.encode() in imap_fetch(lab, reader, token)


def test_mail_to_an_unknown_user_is_refused_at_rcpt(deployed):
    with smtp(25) as s:
        s.ehlo("mx.remote.test")
        s.mail("someone@remote.test")
        code, text = s.rcpt("nobody@example.test")
    assert code == 550 and b"5.1.1" in text


def test_a_mailbox_over_quota_refuses_further_mail(lab, lab_dns):
    msg, token = new_message("someone@remote.test", "tiny@example.test", size=150_000)
    # Through remote, a real MTA (this machine has no reverse DNS or proper HELO name, and
    # the spam filter on port 25 would rightly score it).
    inject_at_remote(msg, "someone@remote.test", ["tiny@example.test"])
    imap_fetch(lab, "tiny@example.test", token)  # delivered: the box is now nearly full
    with smtp(25) as s:
        s.ehlo("mx.remote.test")
        s.mail("someone@remote.test", ["SIZE=150000"])
        code, text = s.rcpt("tiny@example.test")
    assert code in (452, 552) and (b"5.2.2" in text or b"4.2.2" in text), (code, text)


# ----------------------------------------------------------------------------- aliases
# (Attacks — relaying, unauthenticated submission, another tenant's address, IMAP across
# tenants — are the attack matrix in test_attacks.py.)


def test_a_user_may_send_as_an_alias_that_points_to_them(lab, lab_dns):
    msg, token = new_message("sales@example.test", "someone@remote.test")
    submit(lab, "bob@example.test", msg, sender="sales@example.test")
    assert received_at_remote(lab, token)


def test_the_mail_ports_answer_with_the_configured_certificate(lab, deployed):
    for port in (465, 993):
        with socket.create_connection((MX1, port), timeout=10) as raw:
            with tls_context(lab).wrap_socket(raw, server_hostname="mx1.example.test") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
