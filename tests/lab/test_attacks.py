"""The attack matrix: what an outsider or a tenant tries against mx1, and the exact refusal
(reply code and enhanced status, RFC 3463) their client sees. One test per attack.

Clients connect from this machine's lab-bridge address, which the lab inventory lists in
inbound.allow as an operator lists a relay: postscreen and greylisting let it through, so
every reply is Postfix's own, while rspamd still scores its mail. Password guessing runs
from extra addresses of its own (labtools.client_addresses), so the per-address limits it
trips never touch the other tests. The load test and the OpenDKIM watchdog are in
test_attacks_load.py.
"""

from __future__ import annotations

import base64
import concurrent.futures
import imaplib
import random
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import uuid
from email.utils import formatdate
from pathlib import Path

import pytest
from labtools import REPO, client_addresses, on
from mailclients import (
    IMAPS,
    MX1,
    imap143,
    imap_fetch,
    inject_at_remote,
    new_message,
    received_at_remote,
    remote_maildir,
    smtp,
    submit,
    tls_context,
)

from mailops.lab import config

pytestmark = pytest.mark.lab

ALICE, CAROL = "alice@example.test", "carol@tenant2.test"
CLIENT = f"unknown[{config.GATEWAY}]"  # how mx1 names this machine (no reverse DNS)
REFUSED: list[str] = []  # tokens of refused messages: none may ever reach anyone
MAILBOXES = ("INBOX", "Junk")  # where port-25 mail is delivered (Sieve files spam in Junk)


@pytest.fixture(scope="module")
def attacker():
    """A client address of its own for failed logins: Dovecot's auth penalty slows every
    later login from an address that failed, and the other tests share this machine's."""
    with client_addresses(random.randrange(100, 170), 1) as (address,):
        yield address


def rcpt_reply(rcpt: str, *, port: int = 25, lab=None, starttls: bool = False,
               sender: str = "spammer@remote.test") -> tuple[int, str]:
    with smtp(port, lab) as s:
        s.ehlo("attacker.invalid")
        if starttls:
            s.starttls(context=tls_context(lab))
            s.ehlo("attacker.invalid")
        s.mail(sender)
        # Verbatim: smtplib.rcpt() would re-parse (and "repair") the odd address forms.
        code, text = s.docmd(f"RCPT TO:<{rcpt}>")
    return code, text.decode()


# ----------------------------------------------------------------------------- open relay

GATEWAY_PREFIX = config.SUBNET_PREFIX


@pytest.mark.parametrize(("rcpt", "shown"), [
    ("victim@remote.test", "victim@remote.test"),
    ("@mx1.example.test:victim@remote.test", "victim@remote.test"),  # source route
    ("victim%remote.test@mx1.example.test", "victim%remote.test@mx1.example.test"),
    ("victim%remote.test@example.test", "victim%remote.test@example.test"),
    ("remote.test!victim@mx1.example.test", "remote.test!victim@mx1.example.test"),
    (f"victim@[{GATEWAY_PREFIX}.20]", f"victim@[{GATEWAY_PREFIX}.20]"),  # address literal
    ("victim@remote.test.", "victim@remote.test."),  # trailing dot
    ('"victim@remote.test"@example.test', "victim@remote.test@example.test"),
], ids=["plain", "source-route", "percent-host", "percent-domain", "bang-path",
        "ip-literal", "trailing-dot", "quoted-at"])
def test_relaying_to_the_outside_is_refused_in_every_address_form(deployed, rcpt, shown):
    assert rcpt_reply(rcpt) == (554, f"5.7.1 <{shown}>: Relay access denied")


def test_relaying_is_refused_after_starttls_too(lab, deployed):
    assert (rcpt_reply("victim@remote.test", lab=lab, starttls=True)
            == (554, "5.7.1 <victim@remote.test>: Relay access denied"))


# ----------------------------------------------------------------------------- who receives


@pytest.mark.parametrize("rcpt", ["root@mx1.example.test", "vmail@mx1.example.test",
                                  "nobody@mx1.example.test", "mailops-bounce@mx1.example.test",
                                  f"root@[{GATEWAY_PREFIX}.10]"])
def test_system_accounts_of_the_host_refuse_mail_from_outside(deployed, rcpt):
    assert rcpt_reply(rcpt) == (
        550, f"5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table")


@pytest.mark.parametrize("rcpt", ["postmaster@mx1.example.test", "abuse@mx1.example.test"])
def test_the_role_addresses_of_the_host_accept_mail(deployed, rcpt):
    assert rcpt_reply(rcpt) == (250, "2.1.5 Ok")


def test_an_almost_full_mailbox_refuses_a_message_without_size_at_end_of_data(lab, lab_dns):
    """No SIZE= declaration: accepted at RCPT, refused in the session once the size is
    known — never accepted and then bounced to a sender that may be forged."""
    first, token = new_message("someone@remote.test", "tiny@example.test", size=150_000)
    second, _ = new_message("forged@remote.test", "tiny@example.test", size=150_000)
    try:
        # Filled by a real MTA with reverse DNS (remote), so the spam filter files it in
        # INBOX; any folder counts against the quota.
        inject_at_remote(first, "someone@remote.test", ["tiny@example.test"])
        imap_fetch(lab, "tiny@example.test", token)  # 150 of 200 KB used
        with smtp(25) as s:
            s.ehlo("mx.remote.test")
            assert s.mail("forged@remote.test")[0] == 250  # no SIZE=
            assert s.rcpt("tiny@example.test")[0] == 250
            code, text = s.data(second.as_string())
        assert (code, text.decode()) == (
            552, "5.2.2 <END-OF-MESSAGE>: End-of-data rejected: Mailbox full")
    finally:
        on("mx1", "doveadm expunge -u tiny@example.test mailbox INBOX all")


# ----------------------------------------------------------------------------- submission


def test_a_suppressed_recipient_is_refused_naming_the_address_once(lab, deployed, lab_env):
    mailops = str(Path(sys.executable).with_name("mailops"))
    cli = [mailops, "suppression", "-i", "inventories/lab.py"]
    subprocess.run([*cli[:2], "add", "gone@remote.test", *cli[2:]], cwd=REPO, env=lab_env,
                   check=True, capture_output=True)
    try:
        with smtp(587, lab) as s:
            s.starttls(context=tls_context(lab))
            s.login(ALICE, lab.password(ALICE))
            s.mail(ALICE)
            code, text = s.docmd("RCPT TO:<gone@remote.test>")
    finally:
        subprocess.run([*cli[:2], "remove", "gone@remote.test", *cli[2:]], cwd=REPO,
                       env=lab_env, check=True, capture_output=True)
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert (code, text.decode()) == (
        554, "5.7.1 <gone@remote.test>: Recipient address rejected: recipient suppressed "
             f"after manual suppression on {day} (mailops)")


@pytest.mark.parametrize("port", [587, 465])
def test_submission_without_auth_is_refused(lab, deployed, port):
    with smtp(port, lab) as s:
        if port == 587:
            s.starttls(context=tls_context(lab))
        s.ehlo("client.invalid")
        s.mail(ALICE)
        code, text = s.rcpt("someone@remote.test")
    assert (code, text.decode()) == (554, f"5.7.1 <{CLIENT}>: Client host rejected: "
                                          "Access denied")


def test_auth_before_starttls_is_refused_on_submission(deployed):
    with smtp(587) as s:
        s.ehlo("client.invalid")
        assert not s.has_extn("auth")  # not even offered in the clear
        code, text = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB4")
    assert (code, text.decode()) == (530, "5.7.0 Must issue a STARTTLS command first")


def test_login_before_starttls_is_refused_on_imap_143(lab, deployed):
    imap = imap143()
    try:
        assert "LOGINDISABLED" in imap.capabilities
        # Dovecot 2.3 (Debian 12) says "Plaintext", 2.4 (Debian 13) "Cleartext ... on
        # non-secure (SSL/TLS) connections"; the response code is the same.
        words = "Plaintext" if lab.release == "12" else "Cleartext"
        with pytest.raises(imaplib.IMAP4.error, match=rf"\[PRIVACYREQUIRED\] {words} "
                                                      "authentication disallowed"):
            imap.login(ALICE, lab.password(ALICE))
    finally:
        imap.shutdown()


# ----------------------------------------------------------------------------- cross-tenant


def submit_raw(lab, envelope: str, headers: list[tuple[str, str]], port: int = 587) -> None:
    """alice submits a message with exactly these author headers."""
    token = uuid.uuid4().hex
    REFUSED.append(token)
    text = "".join(f"{k}: {v}\r\n" for k, v in headers)
    text += f"To: someone@remote.test\r\nSubject: lab test {token}\r\n\r\ntoken {token}\r\n"
    s = smtp(port, lab)
    if port == 587:
        s.starttls(context=tls_context(lab))
    with s:
        s.login(ALICE, lab.password(ALICE))
        s.sendmail(envelope, ["someone@remote.test"], text)


def test_the_null_sender_is_refused_on_submission(lab, deployed):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        submit_raw(lab, "", [("From", CAROL)])
    code, text = e.value.recipients["someone@remote.test"]
    assert (code, text.decode()) == (553, "5.7.1 <>: Sender address rejected: null sender "
                                          "refused on submission: it is only for bounces "
                                          "(RFC 5321 4.5.5); send from your own address")


def test_another_tenants_envelope_sender_is_refused(lab, deployed):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
        submit_raw(lab, CAROL, [("From", CAROL)])
    code, text = e.value.recipients["someone@remote.test"]
    assert (code, text.decode()) == (
        553, f"5.7.1 <{CAROL}>: Sender address rejected: not owned by user {ALICE}")


@pytest.mark.parametrize(("headers", "port", "refused", "field"), [
    ([("From", CAROL)], 587, CAROL, "From"),
    ([("From", "Carol <CAROL@Tenant2.test>")], 465, CAROL, "From"),
    ([("From", f'"{ALICE}" <{CAROL}>')], 587, CAROL, "From"),  # display-name disguise
    ([("From", f"{ALICE}, {CAROL}")], 587, CAROL, "From"),  # two authors
    ([("From", ALICE), ("Sender", CAROL)], 587, CAROL, "Sender"),
    ([("From", ALICE), ("Resent-From", CAROL)], 587, CAROL, "Resent-From"),
    ([("From", ALICE), ("Resent-Sender", CAROL)], 587, CAROL, "Resent-Sender"),
], ids=["from", "from-465", "display-name", "two-addresses", "sender", "resent-from",
        "resent-sender"])
def test_another_tenants_address_in_an_author_header_is_refused(lab, deployed, headers, port,
                                                                refused, field):
    with pytest.raises(smtplib.SMTPDataError) as e:
        submit_raw(lab, ALICE, headers, port=port)
    assert (e.value.smtp_code, e.value.smtp_error.decode()) == (
        550, f"5.7.1 <{refused}>: {field}: header address not owned by user {ALICE}")


def test_a_second_from_header_field_is_refused(lab, deployed):
    with pytest.raises(smtplib.SMTPDataError) as e:
        submit_raw(lab, ALICE, [("From", ALICE), ("From", CAROL)])
    assert (e.value.smtp_code, e.value.smtp_error.decode()) == (
        550, f"5.7.1 <{ALICE}>: more than one From: header field (RFC 5322 section 3.6 "
             "allows one)")


def test_no_refused_message_ever_reached_anyone(lab, lab_dns):
    """Runs after the refusals above: once a later, legitimate message has arrived at
    remote, nothing refused earlier can still be on its way."""
    msg, token = new_message(ALICE, "someone@remote.test")
    submit(lab, ALICE, msg)
    received_at_remote(lab, token)
    arrived = b"".join(p.read_bytes() for p in remote_maildir(lab).glob("*/*"))
    assert REFUSED and not [t for t in REFUSED if t.encode() in arrived]


# ----------------------------------------------------------------------------- IMAP


@pytest.mark.parametrize("login", [CAROL, f"{CAROL}*{ALICE}", f"{ALICE}*{CAROL}",
                                   f"{CAROL}%{ALICE}"],
                         ids=["other-user", "master-sep-1", "master-sep-2", "percent"])
def test_alices_password_opens_no_other_mailbox(lab, deployed, attacker, login):
    with IMAPS(lab, source=attacker) as imap:
        with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] "
                                                      r"Authentication failed\."):
            imap.login(login, lab.password(ALICE))


def test_an_authorization_id_for_another_user_is_refused(lab, deployed, attacker):
    sasl = f"{CAROL}\0{ALICE}\0{lab.password(ALICE)}".encode()
    with IMAPS(lab, source=attacker) as imap:
        with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\] "
                                                      r"Authentication failed\."):
            imap.authenticate("PLAIN", lambda _: sasl)


@pytest.mark.parametrize(("mailbox", "answer"), [
    ("../../tenant2.test/carol", "[CANNOT] Character not allowed in mailbox name: '.'"),
    ("INBOX/../../../tenant2.test/carol", "[CANNOT] Character not allowed in mailbox name: '.'"),
    ("/var/vmail/tenant2.test/carol/Maildir",
     "[CANNOT] Character not allowed in mailbox name: '.'"),
    ("~carol/INBOX", "[CANNOT] Invalid mailbox name: Begins with '~'"),
    ("#shared/carol", "Mailbox doesn't exist: #shared/carol"),
])
def test_mailbox_path_tricks_reach_no_other_mailbox(lab, deployed, mailbox, answer):
    with IMAPS(lab) as imap:
        imap.login(ALICE, lab.password(ALICE))
        status, data = imap.select(f'"{mailbox}"', readonly=True)
    if lab.release != "12" and answer.startswith("Mailbox doesn't exist"):
        answer = f"[NONEXISTENT] {answer}"  # Dovecot 2.4 adds the RFC 5530 response code
    assert status == "NO" and data[0].decode().startswith(answer), data


# ----------------------------------------------------------------------------- smuggling


def smuggle(smuggled: bytes) -> tuple[list[str], str, str]:
    """One DATA whose body holds <LF>.<CR><LF> and then a second transaction."""
    outer, inner = uuid.uuid4().hex, uuid.uuid4().hex
    # An ordinary message around the attack (RFC 5322 §3.6 fields), so spam scoring
    # does not refuse it for its form.
    head = (f"From: someone@remote.test\r\nTo: {ALICE}\r\nDate: {formatdate()}\r\n"
            f"Message-ID: <{outer}@remote.test>\r\nSubject: lab test {outer}\r\n")
    content = (f"{head}\r\nouter\n.\r\n".encode()
               + smuggled.replace(b"TOKEN", inner.encode()) + b"\r\n.\r\nQUIT\r\n")
    replies = []
    with socket.create_connection((MX1, 25), timeout=30) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO attacker.invalid\r\n")
        while f.readline()[3:4] != b" ":
            pass
        # PIPELINING (RFC 2920): the envelope in one go; the content after the 354.
        sock.sendall(b"MAIL FROM:<someone@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                     b"DATA\r\n")
        replies += [f.readline().decode().strip() for _ in range(3)]
        sock.sendall(content)
        while line := f.readline():
            replies.append(line.decode().strip())
    return replies, outer, inner


@pytest.mark.parametrize("smuggled", [
    b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
    b"From: ceo@example.test\r\nSubject: lab test TOKEN\r\n\r\nsmuggled",
    b"MAIL FROM:<ceo@example.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 57 LAST\r\n"
    b"From: ceo@example.test\r\nSubject: lab test TOKEN\r\n\r\nx",
], ids=["data", "bdat"])
def test_a_smuggled_second_message_stays_text_inside_the_first(lab, lab_dns, smuggled):
    replies, outer, inner = smuggle(smuggled)
    # One transaction: <LF>.<CR><LF> did not end DATA, no smuggled command was answered.
    assert [r[:9] for r in replies] == ["250 2.1.0", "250 2.1.5", "354 End d",
                                        "250 2.0.0", "221 2.0.0"], replies
    # Delivered where rspamd files it: from a client without reverse DNS and with an
    # unresolvable HELO it may score into the Junk band.
    raw = imap_fetch(lab, ALICE, outer, mailbox=MAILBOXES)
    assert inner.encode() in raw  # the would-be second message, as body text
    with IMAPS(lab) as imap:
        imap.login(ALICE, lab.password(ALICE))
        for folder in MAILBOXES:
            imap.select(folder, readonly=True)
            assert imap.search(None, "SUBJECT", f'"lab test {inner}"')[1] == [b""], folder


# ----------------------------------------------------------------------------- TLS


def anonymous_only() -> ssl.SSLContext:
    """A client that offers nothing but anonymous (aNULL) suites; they exist only up to
    TLS 1.2, and OpenSSL allows them only at security level 0."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("aNULL:@SECLEVEL=0")
    offered = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert offered and all(n.startswith(("ADH-", "AECDH-")) for n in offered), offered
    return ctx


@pytest.mark.parametrize("port", [25, 587, 465, 993, 143])
def test_no_port_negotiates_an_anonymous_cipher(lab, deployed, port):
    with pytest.raises(ssl.SSLError) as e:
        if port in (25, 587):
            with smtp(port) as s:
                s.ehlo("client.invalid")
                s.starttls(context=anonymous_only())
        elif port == 143:
            imap143().starttls(ssl_context=anonymous_only())
        else:
            with socket.create_connection((MX1, port), timeout=10) as raw:
                anonymous_only().wrap_socket(raw)
    # Postfix answers with a handshake_failure alert; Dovecot 2.3 closes the connection,
    # Dovecot 2.4 (Debian 13) answers with the alert too.
    expected = ("SSLV3_ALERT_HANDSHAKE_FAILURE" if port in (25, 587, 465) or lab.release != "12"
                else "UNEXPECTED_EOF_WHILE_READING")
    assert e.value.reason == expected, e.value


# ----------------------------------------------------------------------------- brute force


def wrong_auth(lab, source: str, n: int) -> tuple[int, str]:
    with smtp(587, lab, source=source) as s:
        s.starttls(context=tls_context(lab))
        s.ehlo("client.invalid")
        plain = base64.b64encode(f"\0{ALICE}\0guess-{n}".encode()).decode()
        code, text = s.docmd("AUTH", f"PLAIN {plain}")
    return code, text.decode()


def test_a_distributed_guessing_burst_gets_535_and_never_breaks_submission(lab, deployed,
                                                                          request):
    """80 wrong passwords at once from 20 addresses — each one below Postfix's per-address
    limits, as a botnet spreads them. Every guess gets 535; none a 454 "Connection lost
    to authentication server" (Dovecot's auth process busy verifying ARGON2ID hashes one
    after another), no smtpd dies with "no SASL authentication mechanisms" (after which
    master throttles submission for everyone), and alice logs in meanwhile."""
    if lab.release == "12":
        request.applymarker(pytest.mark.xfail(strict=False, reason=(
            "Dovecot 2.3 verifies passwd-file passwords in its auth process: no worker")))
    since = on("mx1", "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    first = random.randrange(100, 160)  # fresh addresses: anvil remembers penalties
    with client_addresses(first, 21) as addresses:
        guessers, alice_at = addresses[:20], addresses[20]

        def login() -> str:
            with smtp(587, lab, source=alice_at, timeout=60) as s:
                s.starttls(context=tls_context(lab))
                code, _ = s.login(ALICE, lab.password(ALICE))
            return code

        with concurrent.futures.ThreadPoolExecutor(81) as pool:
            guesses = [pool.submit(wrong_auth, lab, guessers[n % 20], n) for n in range(80)]
            time.sleep(1)  # alice while the burst is being verified
            alice = pool.submit(login)
            replies = [g.result() for g in guesses]
        assert alice.result() == 235
    assert sorted({code for code, _ in replies}) == [535], replies
    log = on("mx1", f"journalctl -o cat --since '{since}' -u postfix@- -u postfix").stdout
    assert "no SASL authentication mechanisms" not in log
    assert "Connection lost to authentication server" not in log


def imap_failure_seconds(lab, source: str) -> float:
    started = time.monotonic()
    with IMAPS(lab, source=source) as imap:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            imap.login(ALICE, f"guess-{uuid.uuid4().hex}")
    return time.monotonic() - started


def test_password_guessing_is_rate_limited_by_postfix_and_slowed_by_dovecot(lab, deployed):
    # Fresh addresses each run: anvil remembers an address's penalty for a while.
    with client_addresses(random.randrange(170, 240), 2) as (attacker, bystander):
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            replies = list(pool.map(lambda n: wrong_auth(lab, attacker, n), range(40)))
        limited = replies.count((450, f"4.7.1 Error: too many AUTH commands from {attacker}"))
        # smtpd_client_auth_rate_limit = 30 per minute and address (and service): the
        # first 30 guesses reach Dovecot and fail (535 5.7.8, or 454 4.7.0 when Dovecot
        # drops a connection it is slowing down), the other 10 never get that far.
        assert limited == 10, replies
        assert all(r[0] in (535, 454) for r in replies if r[0] != 450), replies
        # Dovecot's auth penalty: Postfix told it the client address (rip=), so the
        # next guess over IMAP from that address waits far longer than a first one.
        assert imap_failure_seconds(lab, attacker) > imap_failure_seconds(lab, bystander) + 2
        # For the rest of the minute even the right password is turned away at 587.
        with smtp(587, lab, source=attacker) as s:
            s.starttls(context=tls_context(lab))
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                s.login(ALICE, lab.password(ALICE))
        assert e.value.smtp_code == 450
