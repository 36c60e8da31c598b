"""The rendered OpenDKIM, running as a real milter, refuses another tenant's From:.

OpenDKIM is started in the foreground on a unix socket with the rendered opendkim.conf
and FinalPolicyScript; the test speaks the milter protocol to it as Postfix does for a
submitted message ({auth_authen} = the SASL login), with the protocol helpers of
mailops.onhost.milter. What a client would see is the reply OpenDKIM hands Postfix
at end of message: "550 5.7.1 <address>: ..." or a DKIM-Signature to add.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import time

import pytest
from test_rendered_configs import lab, need, rendered  # noqa: F401  (fixtures)

from mailops.onhost import milter as mp

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def milter(rendered):  # noqa: F811
    """The rendered OpenDKIM listening on a unix socket, for this module."""
    need("opendkim")
    sock = rendered["root"] / "opendkim.sock"
    conf = rendered["root"] / "opendkim-milter.conf"
    text = (rendered["opendkim"] / "opendkim.conf").read_text()
    text = re.sub(r"(?m)^(Syslog|UserID|PidFile|Socket)\s.*\n", "", text)
    conf.write_text(text + f"Socket\t\t\tlocal:{sock}\n")
    proc = subprocess.Popen(["/usr/sbin/opendkim", "-f", "-x", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 15
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"opendkim did not start: {proc.communicate()[0]}")
        time.sleep(0.1)
    yield str(sock)
    proc.terminate()
    proc.wait(timeout=10)


def submit(sock_path: str, login: str | None, envfrom: str,
           headers: list[tuple[str, str]]) -> tuple[str, str]:
    """One message through the milter as Postfix's submission service hands it over.

    Returns (final answer name, reply text or the DKIM-Signature d= it added)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sock_path)
    m = mp.MilterSession(s)
    try:
        m.negotiate()
        m.macros(mp.CONNECT, {"j": "mx.example.test", "{daemon_name}": "ORIGINATING",
                              "{client_addr}": "192.0.2.7"})
        m.stage(mp.CONNECT, mp.cstrings("client.example") + b"4" + struct.pack("!H", 0)
                + mp.cstrings("192.0.2.7"))
        m.stage(mp.HELO, mp.cstrings("client.example"))
        macros = {"{mail_addr}": envfrom, "i": "TESTQID"}
        if login:
            macros.update({"{auth_authen}": login, "{auth_type}": "PLAIN"})
        m.macros(mp.MAIL, macros)
        m.stage(mp.MAIL, mp.cstrings(f"<{envfrom}>"))
        m.macros(mp.RCPT, {"{rcpt_addr}": "someone@remote.test"})
        m.stage(mp.RCPT, mp.cstrings("<someone@remote.test>"))
        for name, value in headers + [("To", "someone@remote.test"), ("Subject", "policy"),
                                      ("Message-ID", f"<{os.getpid()}@example.test>")]:
            m.stage(mp.HEADER, mp.cstrings(name, value))
        m.stage(mp.EOH)
        m.stage(mp.BODY, b"hello\r\n")
        final, reply, changes = m.end_of_message()
    finally:
        s.close()
    if final == mp.REPLYCODE:
        return "reply", reply.rstrip(b"\0").decode()
    sigs = [c["value"] for c in changes if c["name"] == "DKIM-Signature"]
    d = re.search(r"d=([^;\s]+)", sigs[0]).group(1) if sigs else ""
    return mp.ANSWER_NAMES[final], f"d={d}" if d else "unsigned"


ALICE = "alice@example.test"


@pytest.mark.parametrize(("headers", "refused"), [
    ([("From", "carol@tenant2.test")], "carol@tenant2.test"),
    ([("From", "Carol <CAROL@tenant2.test>")], "carol@tenant2.test"),
    ([("From", '"alice@example.test" <carol@tenant2.test>')], "carol@tenant2.test"),
    ([("From", "alice@example.test, carol@tenant2.test")], "carol@tenant2.test"),
    ([("From", ALICE), ("Sender", "carol@tenant2.test")], "carol@tenant2.test"),
    ([("From", ALICE), ("Resent-From", "carol@tenant2.test")], "carol@tenant2.test"),
    ([("From", ALICE), ("From", "carol@tenant2.test")], ALICE),
    ([("From", ALICE), ("From", ALICE)], ALICE),
    ([("From", "undisclosed-recipients:;")], ALICE),
])
def test_a_login_cannot_put_an_address_it_does_not_own_in_the_author_headers(
        milter, headers, refused):
    answer, text = submit(milter, ALICE, ALICE, headers)
    assert answer == "reply", text
    assert re.match(rf"550 5\.7\.1 <{re.escape(refused)}>: ", text), text


def test_the_null_sender_of_an_authenticated_client_is_refused(milter):
    answer, text = submit(milter, ALICE, "", [("From", ALICE)])
    assert (answer, text.split(":")[0]) == ("reply", "550 5.7.1 <>"), text


@pytest.mark.parametrize(("headers", "domain"), [
    ([("From", "Alice <alice@example.test>")], "example.test"),
    ([("From", "Team <TEAM@example.test>"), ("Sender", ALICE)], "example.test"),  # alias
    ([("From", "shared@tenant2.test")], "tenant2.test"),  # another tenant's alias to alice
])
def test_a_login_signs_with_its_own_addresses_and_aliases(milter, headers, domain):
    envfrom = headers[0][1].split("<")[-1].rstrip(">").lower()
    answer, signed = submit(milter, ALICE, envfrom, headers)
    assert answer in ("accept", "continue") and signed == f"d={domain}"


def test_port_25_mail_without_a_login_is_left_alone(milter):
    answer, text = submit(milter, None, "someone@remote.test",
                          [("From", "carol@tenant2.test")])
    assert answer in ("accept", "continue"), text


# --------------------------------------------------------------------------- Postfix, Dovecot


def test_postfix_security_parameters_are_in_effect_on_every_smtpd_service(rendered):  # noqa: F811
    from test_rendered_configs import postconf, postconf_values

    values = postconf_values(rendered)
    assert values["smtpd_forbid_bare_newline"] == "yes"
    assert values["smtpd_forbid_bare_newline_exclusions"] == ""
    assert values["smtpd_forbid_unauth_pipelining"] == "yes"
    assert values["smtpd_tls_exclude_ciphers"] == "aNULL, eNULL"
    assert values["smtpd_client_auth_rate_limit"] == "30"
    assert values["milter_default_action"] == "tempfail"
    assert values["local_recipient_maps"].endswith("/local_recipients")
    sender = values["mua_sender_restrictions"]
    assert sender.index("submission_sender_access") < sender.index("reject_sender_login_mismatch")
    assert "private/mailops-quota-eod" in values["smtpd_end_of_data_restrictions"]
    # No master.cf service overrides any of them.
    overrides = postconf(rendered, "-P")
    for name in ("smtpd_forbid_bare_newline", "smtpd_tls_exclude_ciphers",
                 "smtpd_client_auth_rate_limit", "local_recipient_maps"):
        assert f"/{name} =" not in overrides


def test_the_null_sender_and_system_accounts_are_refused_by_the_tables(rendered):  # noqa: F811
    from test_rendered_configs import lookup

    assert lookup(rendered, "submission_sender_access", "<>").startswith("553 5.7.1 ")
    assert lookup(rendered, "submission_sender_access", "alice@example.test") is None
    for role in ("postmaster", "abuse"):
        assert lookup(rendered, "local_recipients", role)
    for account in ("root", "vmail", "nobody", "mailer-daemon"):
        assert lookup(rendered, "local_recipients", account) is None


def test_dovecot_refuses_anonymous_ciphers_and_master_users_and_slows_failures(rendered):  # noqa: F811
    from test_rendered_configs import doveconf

    ciphers = doveconf(rendered, "-h", "ssl_cipher_list")
    assert "!aNULL" in ciphers and "!eNULL" in ciphers
    assert doveconf(rendered, "-h", "auth_failure_delay").strip() == "2 secs"
    assert doveconf(rendered, "-h", "auth_master_user_separator").strip() == ""
    assert "process_limit = 400" in doveconf(rendered, "-n")
