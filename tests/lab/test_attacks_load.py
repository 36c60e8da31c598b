"""Attacks on availability: OpenDKIM under load, and a hung OpenDKIM.

Bounded: 100 port-25 sessions and 50 authenticated submissions at once (lab addresses
only, from client addresses of this machine on the lab bridge — anvil limits count per
client address, as they would for real clients), every message accounted for within
DEADLINE seconds. A client that gets a 4xx tries again, as an MTA or mail client would.
"""

from __future__ import annotations

import collections
import concurrent.futures
import email
import email.policy
import json
import random
import smtplib
import threading
import time

import dkim
import mailclients as mc
import pytest
from labtools import client_addresses, flush_mx1_every, on

from mailops.dkim.keystore import Keystore

pytestmark = pytest.mark.lab

SESSIONS_25, SUBMISSIONS = 100, 50
DEADLINE = 150  # seconds for every message to be delivered
ALICE = "alice@example.test"
USERS = [ALICE, "bob@example.test", "carol@tenant2.test"]
PROBE = ("timeout 10 env PYTHONPATH=/usr/local/lib/mailops python3 -S -m mailops_host "
         "milter-probe /var/spool/postfix/opendkim/opendkim.sock example.test mx1.example.test")


def opendkim() -> tuple[str, int]:
    """OpenDKIM's main PID and systemd's count of automatic restarts."""
    pid, restarts = on("mx1", "systemctl show opendkim -p MainPID -p NRestarts --value"
                       ).stdout.split()
    return pid, int(restarts)


def opendkim_answers() -> bool:
    out = on("mx1", PROBE, check=False).stdout
    result = json.loads(out).get("result") or {}
    return '"DKIM-Signature"' in out and result.get("final") in ("a", "c")


def with_retries(send, stop: float) -> int:
    """Run ``send`` until it succeeds; return how often the server deferred it (4xx or a
    dropped connection). A 5xx is a refusal: it propagates and the test fails."""
    deferred = 0
    while True:
        try:
            send()
            return deferred
        except smtplib.SMTPResponseException as e:
            if e.smtp_code >= 500 or time.monotonic() > stop:
                raise
        except smtplib.SMTPRecipientsRefused as e:
            if any(c >= 500 for c, _ in e.recipients.values()) or time.monotonic() > stop:
                raise
        except (OSError, smtplib.SMTPServerDisconnected):
            if time.monotonic() > stop:
                raise
        deferred += 1
        time.sleep(random.uniform(2, 5))


def maildir_tokens(root) -> dict[str, bytes]:
    """token -> raw message, for every lab-test message under a Maildir tree."""
    out = {}
    for path in root.rglob("*"):
        # Maildir++: new/ and cur/ of INBOX and of every folder (.Junk/new, ...)
        if not (path.parent.name in ("new", "cur") and path.is_file()):
            continue
        raw = path.read_bytes()
        i = raw.find(b"token ")
        if i >= 0:
            out[raw[i + 6:i + 38].decode()] = raw
    return out


def test_opendkim_survives_100_port_25_sessions_and_50_submissions(lab, lab_dns):
    key = Keystore(lab.root / "keystore").signing_key("example.test")
    key_pem = key.private_key_path.read_bytes()
    pid_before, restarts_before = opendkim()
    inbound: dict[str, str] = {}
    outbound: dict[str, str] = {}
    deferred = {"25": 0, "587": 0}
    barrier = threading.Barrier(SESSIONS_25 + SUBMISSIONS)
    stop = time.monotonic() + DEADLINE

    def port25(i: int, source: str) -> None:
        rcpt = USERS[i % 3]
        msg, token = mc.new_message("news@example.test", rcpt)
        inbound[token] = rcpt
        # Signed, so mx1's OpenDKIM verifies each one: a key lookup through its resolver
        # for every message (the path that crashed under load with ResolverConfiguration).
        raw = msg.as_bytes(policy=email.policy.SMTP)
        raw = dkim.sign(raw, key.selector.encode(), b"example.test", key_pem,
                        include_headers=[b"from", b"to", b"subject"]) + raw
        barrier.wait(timeout=60)

        def send():
            with mc.smtp(25, source=source, timeout=60) as s:
                s.sendmail("news@example.test", [rcpt], raw)
        deferred["25"] += with_retries(send, stop)

    def submission(i: int, source: str) -> None:
        user = USERS[i % 3]
        msg, token = mc.new_message(user, "someone@remote.test")
        outbound[token] = user.split("@")[1]
        barrier.wait(timeout=60)

        def send():
            with mc.smtp(587, lab, source=source, timeout=60) as s:
                s.starttls(context=mc.tls_context(lab))
                s.login(user, lab.password(user))
                s.send_message(msg)
        deferred["587"] += with_retries(send, stop)

    started = time.monotonic()
    with client_addresses(60, 10) as mtas, client_addresses(80, 5) as clients:
        with concurrent.futures.ThreadPoolExecutor(SESSIONS_25 + SUBMISSIONS) as pool:
            jobs = [pool.submit(port25, i, mtas[i % 10]) for i in range(SESSIONS_25)]
            jobs += [pool.submit(submission, i, clients[i % 5]) for i in range(SUBMISSIONS)]
            for job in jobs:
                job.result()
    accepted = time.monotonic() - started
    # 100 sessions at once is Postfix's smtp process limit: master(8) ran it in "stress"
    # mode (smtpd_hard_error_limit 1, shorter timeouts), and smtpd processes started then
    # keep that for their lifetime; master keeps the mode until Postfix restarts. Normal
    # mode again for the tests that come after.
    on("mx1", "systemctl restart postfix")

    # remote is a receiver under the same burst: its OpenDKIM may answer a few messages
    # with 451 4.7.1 (a key lookup that timed out), and mx1 keeps those queued. They are
    # retried every 10 s here rather than after mx1's backoff (minimal_backoff_time, 300 s).
    retry_deferred = flush_mx1_every(10)
    while time.monotonic() < stop:
        stored = maildir_tokens(lab.rootfs("mx1") / "var/vmail")
        at_remote = maildir_tokens(mc.remote_maildir(lab))
        if set(inbound) <= set(stored) and set(outbound) <= set(at_remote):
            break
        retry_deferred()
        time.sleep(1)
    lost = [t for t in inbound if t not in stored] + [t for t in outbound if t not in at_remote]
    unsigned = [t for t, domain in outbound.items() if t in at_remote
                and not (dkim.verify(at_remote[t], dnsfunc=mc.lab_dnsfunc)
                         and f"d={domain};".encode() in at_remote[t].replace(b" ", b""))]
    # mx1's OpenDKIM looked at every inbound signature (an Authentication-Results each).
    unchecked = [t for t in inbound if t in stored
                 and b"Authentication-Results: mx1.example.test" not in stored[t]]
    pid_after, restarts_after = opendkim()
    restarts = restarts_after - restarts_before + (pid_after != pid_before)
    print(f"\nload: {SESSIONS_25} port-25 sessions + {SUBMISSIONS} submissions = "
          f"{len(inbound) + len(outbound)} messages, accepted in {accepted:.1f}s; deferred "
          f"{deferred['25']} (25) + {deferred['587']} (587) and then delivered; lost "
          f"{len(lost)}, unsigned {len(unsigned)}, inbound unchecked {len(unchecked)}; "
          f"OpenDKIM restarts {restarts}")
    assert (lost, unsigned, unchecked) == ([], [], []), where(lost)
    assert opendkim_answers() and restarts == 0


def where(tokens: list[str]) -> str:
    """For a failure: what each queue holds for the messages that did not arrive, and why
    (postqueue -j: one JSON object per queued message, RFC-less but documented in
    postqueue(1)), plus mx1's and remote's deferrals, warnings and errors."""
    lines = []
    for machine in ("mx1", "remote"):
        for row in on(machine, "postqueue -j", check=False).stdout.splitlines():
            q = json.loads(row)
            for r in q.get("recipients", []):
                lines.append(f"{machine} {q['queue_name']} {q['queue_id']} {r['address']}: "
                             f"{r.get('delay_reason', '')}")
    out = [f"{len(tokens)} not delivered in time; queued now:", *lines[:40]]
    for machine in ("mx1", "remote"):
        log = on(machine, "journalctl -u postfix@- -u postfix -u dovecot -u opendkim "
                 "--no-pager -n 4000 --since=-10min -o cat", check=False).stdout.splitlines()
        bad = [x for x in log if "status=deferred" in x or "status=bounced" in x
               or "warning" in x or "fatal" in x or "error" in x.lower()]
        # The same warning many times over says no more than once with its count.
        counted = collections.Counter(bad)
        out += [f"{machine} log (deferrals, warnings, errors):",
                *[x + (f"  (x{n})" if n > 1 else "") for x, n in counted.items()][-40:]]
    return "\n".join(out)


def first_refusal(lab) -> tuple[int, str]:
    """One submission by alice, step by step; the first reply that is not a success."""
    s = mc.smtp(587, lab, timeout=60)
    try:
        code, text = s.docmd("EHLO", "client.invalid")
        if code == 250:
            try:
                s.starttls(context=mc.tls_context(lab))
            except smtplib.SMTPResponseException as e:
                return e.smtp_code, e.smtp_error.decode()
            s.login(ALICE, lab.password(ALICE))
            msg, _ = mc.new_message(ALICE, "someone@remote.test")
            for command in (f"MAIL FROM:<{ALICE}>", "RCPT TO:<someone@remote.test>"):
                code, text = s.docmd(command)
                if code != 250:
                    break
            else:
                code, text = s.data(msg.as_string())
        return code, text.decode()
    finally:
        s.close()


def test_a_hung_opendkim_tempfails_mail_and_the_watchdog_restarts_it(lab, lab_dns):
    pid, _ = opendkim()
    # The watchdog paused while the client tries, so the outage is certain to last.
    on("mx1", "systemctl stop mailops-milter-watchdog.timer")
    on("mx1", f"kill -STOP {pid}")  # socket still accepts; nothing answers
    try:
        # milter_default_action = tempfail: Postfix negotiates with the milter when the
        # client connects (10 s timeouts) and then refuses the session's commands with a
        # 4xx — the EHLO itself, or (when its reply was already out) the STARTTLS.
        assert first_refusal(lab) in ((451, "4.7.1 Service unavailable - try again later"),
                                      (454, "4.3.0 Try again later"))
        on("mx1", "systemctl start mailops-milter-watchdog.timer")
        deadline = time.monotonic() + 60
        while opendkim()[0] in (pid, "0") and time.monotonic() < deadline:
            time.sleep(1)
        assert opendkim()[0] not in (pid, "0"), "the watchdog did not restart OpenDKIM"
    finally:
        on("mx1", f"kill -CONT {pid}", check=False)
        on("mx1", "systemctl start mailops-milter-watchdog.timer")
    log = on("mx1", "journalctl -u mailops-milter-watchdog --no-pager -n 20").stdout
    assert "OpenDKIM did not answer a probe message" in log
    # The client retries, as mail clients do: now it is signed and delivered, once.
    msg, token = mc.new_message("alice@example.test", "someone@remote.test")
    mc.submit(lab, "alice@example.test", msg)
    got = mc.received_at_remote(lab, token)
    assert dkim.verify(got.as_bytes(), dnsfunc=mc.lab_dnsfunc)
    copies = [p for p in mc.remote_maildir(lab).glob("*/*") if token.encode() in p.read_bytes()]
    assert len(copies) == 1
