"""Bounces end to end on the lab: real DSNs into the hook, the suppression list at RCPT.

How the DSNs arise: `remote` accepts every recipient at RCPT and delivers the ones a
test puts in its transport table through `error:5.x.x`, so remote's own Postfix bounce
daemon sends a real RFC 3464 DSN to the message's envelope sender — the VERP return
path bounces+<token>@example.test the test submitted with, obtained from the host with
`mailops bounces token` (the secret stays on mx1). What the tests
look at is what an operator sees: `mailops bounces list --json`, `mailops suppression
…`, the SMTP answers at RCPT, and Postfix's queue.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from labtools import REPO, on
from mailclients import new_message, smtp, submit, tls_context

from mailops.bounce.config import DEFAULT_SOFT_THRESHOLD
from mailops.bounce.parse import parse_bytes

pytestmark = pytest.mark.lab

USER = "alice@example.test"
MAILOPS = str(Path(sys.executable).with_name("mailops"))
FIXTURES = REPO / "tests" / "fixtures" / "bounces"


def mailops(lab_env, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([MAILOPS, *args], cwd=REPO, env=lab_env, capture_output=True,
                          text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def bounces_for(lab_env, address: str) -> list[dict]:
    out = mailops(lab_env, "bounces", "list", "--json", "--recipient", address).stdout
    return json.loads(out)


def suppressed(lab_env) -> dict[str, dict]:
    rows = json.loads(mailops(lab_env, "suppression", "list", "--json").stdout)
    return {r["address"]: r for r in rows}


def wait_for(what: str, probe, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(1)


def remote_bounces_later(address: str, status: str, text: str) -> None:
    """Make `remote` accept mail to ``address`` and then bounce it with ``status`` (error:)."""
    on("remote", f"echo '{address} error:{status} {text}' >> /etc/postfix/transport && "
                 "postfix reload >/dev/null 2>&1")


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@remote.test"


def return_path(lab_env, recipient: str) -> str:
    rp = mailops(lab_env, "bounces", "token", recipient, "--domain", "example.test").stdout
    rp = rp.strip()
    assert rp.startswith("bounces+") and rp.endswith("@example.test"), rp
    return rp


def send_with_verp(lab, lab_env, recipient: str) -> None:
    msg, _ = new_message(USER, recipient)
    submit(lab, USER, msg, sender=return_path(lab_env, recipient), to=[recipient])


def rcpt_answer(lab, recipient: str) -> tuple[int, str]:
    """What submission (587) answers at RCPT TO for ``recipient``; nothing is sent."""
    with smtp(587) as s:
        s.starttls(context=tls_context(lab))
        s.login(USER, lab.password(USER))
        s.mail(USER)
        code, text = s.rcpt(recipient)
        s.rset()
    return code, text.decode()


def queued_bounces() -> list[dict]:
    """Messages in mx1's queue addressed to a bounce address (postqueue -j)."""
    out = on("mx1", "postqueue -j").stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in entries
            if any(r["address"].startswith("bounces") for r in e["recipients"])]


# ----------------------------------------------------------------------------- hard


def test_a_hard_bounce_to_a_verp_return_path_suppresses_the_next_submission_at_rcpt(
        lab, lab_dns, lab_env):
    gone = fresh("gone")
    remote_bounces_later(gone, "5.1.1", "no such user")
    send_with_verp(lab, lab_env, gone)

    rows = wait_for(f"a recorded bounce for {gone}", lambda: bounces_for(lab_env, gone))
    assert len(rows) == 1
    assert rows[0]["hard"] == 1 and rows[0]["status"] == "5.1.1"
    assert rows[0]["reason"] == "userunknown" and rows[0]["verified_by"] == "verp"
    assert rows[0]["reporting_mta"] == "mx.remote.test"  # accepted there, bounced later
    assert suppressed(lab_env)[gone]["source"] == "hard-bounce"

    msg, _ = new_message(USER, gone)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        submit(lab, USER, msg, sender=return_path(lab_env, gone), to=[gone])
    code, text = refused.value.recipients[gone]
    assert 500 <= code < 600 and b"5.1.1" in text and b"suppressed" in text


# ----------------------------------------------------------------------------- soft


def test_soft_bounces_suppress_only_once_they_reach_the_threshold(lab, lab_dns, lab_env):
    full = fresh("full")
    remote_bounces_later(full, "5.2.2", "mailbox full")
    for n in range(1, DEFAULT_SOFT_THRESHOLD + 1):
        send_with_verp(lab, lab_env, full)
        rows = wait_for(f"soft bounce {n} for {full}",
                        lambda n=n: len(bounces_for(lab_env, full)) >= n and
                        bounces_for(lab_env, full))
        assert len(rows) == n
        assert all(r["reason"] == "mailboxfull" and not r["hard"] and r["counts_soft"]
                   for r in rows)
        code, text = rcpt_answer(lab, full)
        if n < DEFAULT_SOFT_THRESHOLD:
            assert code == 250, (n, code, text)
            assert full not in suppressed(lab_env)
        else:
            assert code >= 500 and "repeated soft bounces" in text, text
            assert suppressed(lab_env)[full]["source"] == "soft-bounces"


# ----------------------------------------------------------------------------- forged


def test_a_forged_bounce_is_recorded_as_unverified_and_suppresses_nobody(lab, lab_dns,
                                                                        lab_env):
    raw = (FIXTURES / "postfix_user_unknown.eml").read_bytes()  # a real Postfix DSN
    (victim,) = [b.recipient for b in parse_bytes(raw).bounces]
    # Null sender like a real bounce, but no token / a made-up one, and a Message-ID
    # this host never sent: anyone on the internet could send exactly this.
    for rcpt in ("bounces@example.test", "bounces+" + "a" * 24 + "@example.test"):
        with smtp(25) as s:
            s.ehlo("mail.attacker.test")
            s.sendmail("", [rcpt], raw)

    rows = wait_for(f"both forged bounces for {victim} recorded",
                    lambda: len(bounces_for(lab_env, victim)) >= 2 and
                    bounces_for(lab_env, victim))
    assert len(rows) == 2
    assert all(r["hard"] == 1 and r["verified"] == 0 and r["verified_by"] is None
               for r in rows)
    assert victim not in suppressed(lab_env)
    assert rcpt_answer(lab, victim)[0] == 250


# ----------------------------------------------------------------------------- nothing lost


def test_a_dsn_that_cannot_be_recorded_stays_queued_and_counts_once_when_retried(
        lab, lab_dns, lab_env):
    locked = f"/tmp/mailops-test-locked-{uuid.uuid4().hex}"
    unlock = locked + ".release"
    holder = (
        "import os, sqlite3, time\n"
        "c = sqlite3.connect('/var/lib/mailops/bounces.sqlite3', isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        f"open({locked!r}, 'w').close()\n"
        "end = time.time() + 180\n"
        f"while not os.path.exists({unlock!r}) and time.time() < end: time.sleep(0.2)\n"
        "c.execute('ROLLBACK')\n"
        f"os.unlink({locked!r})\n"
    )
    # The lock holder runs as the database's owner, in the background, and lets go
    # when the test creates the release file (or after 3 minutes at the latest).
    on("mx1", f"cat > {locked}.py <<'EOF'\n{holder}EOF\n"
              f"chmod 644 {locked}.py; setsid runuser -u mailops-bounce -- python3 "
              f"{locked}.py </dev/null >/dev/null 2>&1 &")
    try:
        wait_for("the database lock", lambda: on("mx1", f"test -e {locked}",
                                                  check=False).returncode == 0, 30)
        gone = fresh("locked")
        remote_bounces_later(gone, "5.1.1", "no such user")
        send_with_verp(lab, lab_env, gone)

        def deferred():
            return [e for e in queued_bounces() for r in e["recipients"]
                    if "cannot record now" in (r.get("delay_reason") or "")]
        entry = wait_for("the DSN deferred by the hook (exit 75)", deferred)[0]
        assert "database is locked" in entry["recipients"][0]["delay_reason"]
        assert bounces_for(lab_env, gone) == []
        assert gone not in suppressed(lab_env)
    finally:
        on("mx1", f"touch {unlock}")
    wait_for("the lock holder to let go",
             lambda: on("mx1", f"test -e {locked}", check=False).returncode != 0, 30)
    on("mx1", f"rm -f {locked}.py {unlock}")

    on("mx1", "postqueue -f")
    rows = wait_for(f"the retried DSN recorded for {gone}", lambda: bounces_for(lab_env, gone))
    wait_for("the bounce queue drained", lambda: not queued_bounces(), 30)
    assert len(bounces_for(lab_env, gone)) == len(rows) == 1  # counted once, none lost
    assert suppressed(lab_env)[gone]["source"] == "hard-bounce"


# ----------------------------------------------------------------------------- operator


def test_an_operator_suppresses_and_lifts_an_address_with_the_cli(lab, lab_dns, lab_env):
    address = fresh("manual")
    assert rcpt_answer(lab, address)[0] == 250

    out = mailops(lab_env, "suppression", "add", address, "--note", "asked to stop").stdout
    assert "suppressed" in out
    code, text = rcpt_answer(lab, address)
    assert code >= 500 and "manual suppression" in text and "5.7.1" in text
    entry = suppressed(lab_env)[address]
    assert entry["source"] == "manual" and entry["note"] == "asked to stop"
    table = mailops(lab_env, "suppression", "list").stdout
    assert address in table and "asked to stop" in table

    assert "no longer suppressed" in mailops(lab_env, "suppression", "remove", address).stdout
    assert rcpt_answer(lab, address)[0] == 250
    assert address not in suppressed(lab_env)


# ----------------------------------------------------------------------------- secret


def test_the_verp_secret_is_made_on_the_host_readable_only_by_the_hook_and_never_shown(
        deployed):
    secret = on("mx1", "cat /etc/mailops/bounce-secret").stdout.strip()
    # Booleans only: a failing assertion must not print the secret either.
    long_enough = len(secret) >= 32
    assert long_enough, "the VERP secret is shorter than 32 characters"
    assert on("mx1", "stat -c '%a %U %G' /etc/mailops/bounce-secret").stdout.split() == [
        "640", "root", "mailops-bounce"]
    in_deploy_output = secret in deployed.output
    assert not in_deploy_output, "the VERP secret appears in the deploy's output"
    in_logs = secret in on("mx1", "journalctl -q -o cat --no-pager").stdout
    assert not in_logs, "the VERP secret appears in the host's journal"
