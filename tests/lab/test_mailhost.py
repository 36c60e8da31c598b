"""The deployed mail host, end to end with real clients: what its users and attackers see."""

from __future__ import annotations

import imaplib
import smtplib
import socket

import dkim
import pytest
from mailclients import (
    IMAPS,
    MX1,
    imap143,
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


# ----------------------------------------------------------------------------- attacks


def test_relaying_through_port_25_without_auth_is_refused(deployed):
    with smtp(25) as s:
        s.ehlo("attacker.invalid")
        s.mail("spammer@remote.test")
        code, text = s.rcpt("victim@remote.test")
    assert code == 554 and b"Relay access denied" in text


def test_submission_without_auth_is_refused(lab, deployed):
    with smtp(587) as s:
        s.starttls(context=tls_context(lab))
        s.ehlo("client.invalid")
        s.mail("alice@example.test")
        code, _ = s.rcpt("someone@remote.test")
    assert code in (530, 554)


def test_auth_before_starttls_is_refused_on_submission(lab, deployed):
    with smtp(587) as s:
        s.ehlo("client.invalid")
        assert not s.has_extn("auth")  # not even offered in the clear
        code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4")
    assert code in (503, 530, 538)


def test_auth_before_starttls_is_refused_on_imap_143(lab, deployed):
    imap = imap143()
    try:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("alice@example.test", lab.password("alice@example.test"))
    finally:
        imap.shutdown()
    imap = imap143()  # with STARTTLS the same login works
    imap.starttls(ssl_context=tls_context(lab))
    assert imap.login("alice@example.test", lab.password("alice@example.test"))[0] == "OK"
    imap.logout()


def test_a_user_cannot_send_as_another_tenants_address(lab, deployed):
    msg, _ = new_message("x@tenant2.test", "someone@remote.test")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        submit(lab, "alice@example.test", msg, sender="x@tenant2.test")
    code, text = e.value.recipients["someone@remote.test"]
    assert code == 553 and b"not owned by user" in text


def test_a_forged_from_header_never_gets_another_tenants_signature(lab, lab_dns):
    # The envelope sender is alice's own address (allowed); only the header lies.
    msg, token = new_message("ceo@tenant2.test", "someone@remote.test")
    submit(lab, "alice@example.test", msg, sender="alice@example.test")
    got = received_at_remote(lab, token)
    signatures = " ".join(str(v) for v in got.get_all("DKIM-Signature", [])).replace(" ", "")
    assert "d=tenant2.test" not in signatures
    assert "d=example.test" in signatures  # signed as what the login really is


def test_a_user_may_send_as_an_alias_that_points_to_them(lab, lab_dns):
    msg, token = new_message("sales@example.test", "someone@remote.test")
    submit(lab, "bob@example.test", msg, sender="sales@example.test")
    assert received_at_remote(lab, token)


def test_one_tenant_cannot_log_in_as_or_read_another_tenant(lab, deployed):
    with IMAPS(lab) as imap:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("carol@tenant2.test", lab.password("alice@example.test"))
    with IMAPS(lab) as imap:
        imap.login("alice@example.test", lab.password("alice@example.test"))
        _, boxes = imap.list()
        assert all(b"tenant2" not in b and b"carol" not in b for b in boxes)
        for sneaky in ("../../tenant2.test/carol", "~carol/INBOX", "/var/vmail/tenant2.test/carol"):
            status, _ = imap.select(f'"{sneaky}"', readonly=True)
            assert status != "OK", sneaky


def test_the_mail_ports_answer_with_the_configured_certificate(lab, deployed):
    for port in (465, 993):
        with socket.create_connection((MX1, port), timeout=10) as raw:
            with tls_context(lab).wrap_socket(raw, server_hostname="mx1.example.test") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
