"""The delivery log end to end on the lab: real mail, real journal, the operator's view.

Mail goes through mx1 as users and the internet send it (submission with a login,
`remote` delivering to mx1, an SMTP client refused at RCPT); `remote` plays the other
side — stopped (deferral), refusing at RCPT (bounce), or accepting and bouncing later.
What the tests read is what an operator runs: `mailops messages --json`, `mailops trace`,
`mailops send-test`, with nothing exported but the lab's index.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import smtplib
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from labtools import REPO, flush_mx1, flush_mx1_every, on
from mailclients import REMOTE, inject_at_remote, new_message, smtp, submit

pytestmark = pytest.mark.lab

USER = "alice@example.test"
MAILOPS = str(Path(sys.executable).with_name("mailops"))


def mailops(lab_env, *args: str, check: bool = True, timeout: int = 240
            ) -> subprocess.CompletedProcess:
    proc = subprocess.run([MAILOPS, *args], cwd=REPO, env=lab_env, capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rows(lab_env, *filters: str) -> list[dict]:
    return json.loads(mailops(lab_env, "messages", "--json", *filters).stdout)


def wait_rows(lab_env, what: str, *filters: str, until, timeout: float = 90) -> list[dict]:
    """`mailops messages --json FILTERS` until ``until(rows)`` holds."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = rows(lab_env, *filters)
        if until(found):
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last rows: {found}")


def fresh(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@remote.test"


def send(lab, to: str) -> str:
    """Submit as alice on 587 (STARTTLS + AUTH); the Message-ID."""
    msg, _ = new_message(USER, to)
    submit(lab, USER, msg)
    return msg["Message-ID"]


@contextlib.contextmanager
def remote_down():
    """`remote` refuses connections (its Postfix stopped) until the block ends."""
    on("remote", "systemctl stop postfix")
    try:
        yield
    finally:
        on("remote", "systemctl start postfix")


def only(found: list[dict]) -> dict:
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------- states


def test_outbound_mail_is_sent_with_the_remote_reply_and_the_dkim_selector(lab, lab_dns,
                                                                           lab_env):
    to = fresh("out")
    message_id = send(lab, to)
    row = only(wait_rows(lab_env, f"{to} sent", "--to", to,
                         until=lambda r: r and r[0]["state"] == "sent"))
    assert (row["message_id"], row["sender"], row["direction"]) == (message_id, USER, "out")
    assert row["origin"] == "submission" and row["attempts"] == 1
    assert row["relay"] == f"mx.remote.test[{REMOTE}]:25"
    assert row["reply"].startswith("250 2.0.0 Ok: queued as")
    assert row["dkim_domain"] == "example.test" and row["dkim_selector"]
    assert row["subject"] is None  # subjects are off unless the inventory keeps them


def test_deferred_while_remote_is_down_then_delivered_with_two_attempts(lab, lab_dns,
                                                                       lab_env):
    to = fresh("later")
    with remote_down():
        send(lab, to)
        row = only(wait_rows(lab_env, f"{to} deferred", "--to", to,
                             until=lambda r: r and r[0]["state"] == "deferred"))
        assert "Connection refused" in row["reply"] and row["dsn"].startswith("4.")
        assert only(rows(lab_env, "--state", "deferred", "--to", to))["attempts"] == 1
    flush_mx1()
    row = only(wait_rows(lab_env, f"{to} sent after the flush", "--to", to,
                         until=lambda r: r and r[0]["state"] == "sent"))
    assert row["attempts"] == 2 and row["reply"].startswith("250 ")


def test_refused_by_remote_at_rcpt_is_bounced_and_the_sender_gets_the_notice(lab, lab_dns,
                                                                            lab_env):
    to = fresh("unknown")
    on("remote", f"echo '{to} REJECT 5.1.1 no such user here' >> /etc/postfix/refuse && "
                 "postfix reload >/dev/null 2>&1")
    send(lab, to)
    row = only(wait_rows(lab_env, f"{to} bounced", "--to", to,
                         until=lambda r: r and r[0]["state"] == "bounced"))
    assert row["dsn"] == "5.1.1"
    assert "said: 554 5.1.1" in row["reply"] and "no such user here" in row["reply"]
    # The timeline shows the notification Postfix sent back to the sender's mailbox.
    events = json.loads(mailops(lab_env, "trace", row["queue_id"], "--json").stdout)
    notices = {e["queue_id"] for e in events} - {row["queue_id"]}
    assert len(notices) == 1, events
    assert any(e["state"] == "delivered" and e["recipient"] == USER for e in events
               if e["queue_id"] in notices)


def test_a_bounce_after_acceptance_comes_back_as_inbound_mail_from_the_null_sender(
        lab, lab_dns, lab_env):
    def remote_dsns(found):
        return [x for x in found if x["sender"] == "" and x["origin"] == "smtp"
                and (x["client"] or "").startswith("mx.remote.test[")]

    before = len(remote_dsns(rows(lab_env, "--to", USER, "--limit", "1000")))
    to = fresh("gone")
    on("remote", f"echo '{to} error:5.1.1 mailbox gone' >> /etc/postfix/transport && "
                 "postfix reload >/dev/null 2>&1")
    send(lab, to)
    only(wait_rows(lab_env, f"{to} sent (remote accepts first)", "--to", to,
                   until=lambda r: r and r[0]["state"] == "sent"))
    found = wait_rows(lab_env, "remote's DSN delivered to alice", "--to", USER, "--limit",
                      "1000", until=lambda r: len(remote_dsns(r)) > before)
    dsn = remote_dsns(found)[0]  # newest first
    assert (dsn["state"], dsn["direction"], dsn["folder"]) == ("delivered", "in", "INBOX")


def test_a_refused_rcpt_is_logged_as_rejected_with_the_reply(lab, deployed, lab_env):
    victim = f"victim-{uuid.uuid4().hex[:8]}@elsewhere.test"
    with smtp(25) as s:
        s.ehlo("client.test")
        s.mail("someone@client.test")
        code, text = s.rcpt(victim)
    assert code == 554
    row = only(wait_rows(lab_env, f"the refused RCPT to {victim}", "--to", victim,
                         until=lambda r: bool(r)))
    assert (row["state"], row["queue_id"], row["sender"]) == \
        ("rejected", None, "someone@client.test")
    assert row["reply"] == f"RCPT: 554 5.7.1 <{victim}>: Relay access denied"
    assert text.decode() in row["reply"]


def test_inbound_mail_from_remote_is_delivered_to_the_inbox(lab, lab_dns, lab_env):
    msg, _ = new_message(f"friend-{uuid.uuid4().hex[:8]}@remote.test", "bob@example.test")
    inject_at_remote(msg, msg["From"], ["bob@example.test"])
    row = only(wait_rows(lab_env, "the inbound message in bob's INBOX", "--from", msg["From"],
                         until=lambda r: r and r[0]["state"] == "delivered"))
    assert (row["recipient"], row["direction"], row["folder"], row["origin"]) == \
        ("bob@example.test", "in", "INBOX", "smtp")
    assert row["message_id"] == msg["Message-ID"]
    assert row["client"].startswith("mx.remote.test[")


def test_restarts_and_a_crash_lose_nothing_and_count_nothing_twice(lab, lab_dns, lab_env):
    """Mail flows while the service is restarted and killed (SIGKILL, mid-batch):
    afterwards every message has exactly its rows, with exactly its attempts."""
    tag = uuid.uuid4().hex[:8]
    slow = fresh(f"slow-{tag}")
    burst = [f"burst-{tag}-{i}@remote.test" for i in range(30)]
    with remote_down():
        send(lab, slow)
        wait_rows(lab_env, f"{slow} deferred", "--to", slow,
                  until=lambda r: r and r[0]["state"] == "deferred")
        # A burst from a local program while the service restarts, then is killed.
        script = "; ".join(
            f"printf 'Subject: burst {i}\\n\\nx\\n' | sendmail -f {USER} {to}"
            for i, to in enumerate(burst))
        on("mx1", f"({script}) >/dev/null 2>&1 & sleep 0.3; "
                  "systemctl restart mailops-delivery-log; sleep 0.5; "
                  "systemctl kill -s KILL mailops-delivery-log; wait")
    # Restart=on-failure brings it back; the deferred ones go out now. remote, just
    # restarted, may still tempfail a few (its milter under the burst): flushed again every
    # 10 s rather than waiting out mx1's backoff. Every attempt is a journal line, and the
    # count below is checked against the journal whatever it is.
    flush_mx1()
    retry_deferred = flush_mx1_every(10)

    def all_sent(found: list[dict]) -> bool:
        if sum(1 for x in found if x["recipient"] in burst and x["state"] == "sent") == \
                len(burst):
            return True
        retry_deferred()
        return False

    found = wait_rows(lab_env, "the burst sent", "--to", "@remote.test", "--since", "10m",
                      "--limit", "1000", until=all_sent)
    mine = [x for x in found if x["recipient"] in burst]
    assert sorted(x["recipient"] for x in mine) == sorted(burst)  # one row each
    # Attempts = the delivery lines Postfix really logged for the recipient.
    journal = on("mx1", "journalctl -o cat SYSLOG_FACILITY=2 --since -15min").stdout
    logged = {to: sum(1 for ln in journal.splitlines() if f": to=<{to}>," in ln)
              for to in burst}
    assert {x["recipient"]: x["attempts"] for x in mine} == logged
    assert min(logged.values()) >= 1
    slow_row = only(wait_rows(lab_env, f"{slow} sent", "--to", slow,
                              until=lambda r: r and r[0]["state"] == "sent"))
    assert slow_row["attempts"] == 2
    # Its timeline is exactly the journal's lines about it: none lost, none twice (qmgr
    # logs "queue active" each time the message re-enters the active queue).
    qid = slow_row["queue_id"]
    events = json.loads(mailops(lab_env, "trace", qid, "--json").stdout)
    journal = on("mx1", "journalctl -o cat SYSLOG_FACILITY=2 --since -15min").stdout
    lines = [ln.removeprefix(f"{qid}: ") for ln in journal.splitlines()
             if ln.startswith(f"{qid}: ")]
    assert sorted(e["text"] for e in events) == sorted(lines)
    assert on("mx1", "systemctl is-active mailops-delivery-log").stdout.strip() == "active"
    restarts = on("mx1", "systemctl show -p NRestarts --value mailops-delivery-log").stdout
    assert int(restarts) >= 1  # the kill was a failure systemd restarted from


def test_a_damaged_cursor_is_dropped_and_the_log_goes_on(lab, lab_dns, lab_env):
    """A stored journal cursor journalctl rejects (a damaged row) once made every start
    fail and systemd restart the service into the same error: nothing was logged again.
    Now it resumes at the newest indexed line and mail sent after it is logged."""
    db = "/var/lib/mailops/delivery/delivery.sqlite3"
    restarts = "systemctl show -p NRestarts --value mailops-delivery-log"
    damage = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE "
              "state SET value = 's=0;i=zz' WHERE key = 'cursor'\"); c.commit()")
    on("mx1", "systemctl stop mailops-delivery-log")
    try:
        on("mx1", f"python3 -c {shlex.quote(damage)} {db}")
    finally:
        # An explicit start resets systemd's count of automatic restarts to 0.
        on("mx1", "systemctl start mailops-delivery-log")
    to = fresh("after-damage")
    send(lab, to)
    wait_rows(lab_env, f"{to} sent", "--to", to, until=lambda r: r and r[0]["state"] == "sent")
    assert int(on("mx1", restarts).stdout) == 0
    log = on("mx1", "journalctl -u mailops-delivery-log -o cat --since -5min").stdout
    assert "journalctl cannot seek to the stored cursor 's=0;i=zz'" in log


def test_the_service_runs_sandboxed_as_its_own_user(lab, deployed):
    props = on("mx1", "systemctl show -p User -p ProtectSystem -p NoNewPrivileges "
                      "-p PrivateNetwork -p Restart mailops-delivery-log").stdout
    assert set(props.split()) >= {"User=mailops-delivery", "ProtectSystem=strict",
                                  "NoNewPrivileges=yes", "PrivateNetwork=yes",
                                  "Restart=on-failure"}
    owner = on("mx1", "stat -c %U:%a /var/lib/mailops/delivery "
                      "/var/lib/mailops/delivery/delivery.sqlite3").stdout.split()
    assert owner == ["mailops-delivery:700", "mailops-delivery:600"]


# ----------------------------------------------------------------------------- commands


def test_messages_and_trace_print_what_happened(lab, lab_dns, lab_env):
    to = fresh("table")
    send(lab, to)
    row = only(wait_rows(lab_env, f"{to} sent", "--to", to,
                         until=lambda r: r and r[0]["state"] == "sent"))
    table = mailops(lab_env, "messages", "--to", to).stdout
    header, line = table.splitlines()
    assert header.split()[:4] == ["UPDATED", "HOST", "QUEUE", "ID"]
    assert all(w in line for w in ("mx1.example.test", row["queue_id"], "out", USER, to,
                                   "sent", "250 2.0.0 Ok"))
    trace = mailops(lab_env, "trace", row["queue_id"]).stdout
    lines = trace.splitlines()
    assert lines[0].startswith(f"mx1.example.test {row['queue_id']}  {row['message_id']}")
    programs = [ln.split()[1] for ln in lines[1:]]
    assert programs[0] == "submission/smtpd" and "opendkim" in programs
    assert any("status=sent" in ln and ln.endswith("[sent]") for ln in lines)
    assert lines[-1].split()[1:] == ["qmgr", "removed"]
    by_address = mailops(lab_env, "trace", to).stdout
    assert row["queue_id"] in by_address
    nothing = mailops(lab_env, "trace", "nobody-ever@nowhere.test", check=False)
    assert nothing.returncode == 1 and "found nothing" in nothing.stderr


def test_send_test_to_a_hosted_mailbox_reports_delivered_to_the_inbox(lab, lab_dns, lab_env):
    out = mailops(lab_env, "send-test", "bob@example.test")
    first = out.stdout.splitlines()[0]
    assert first.startswith("bob@example.test: DELIVERED to INBOX after ")
    assert "DKIM: signed by example.test with selector" in out.stdout
    assert "received at mx1.example.test:/var/vmail/example.test/bob/Maildir" in out.stdout
    # not a terminal: plain progress lines on stderr
    assert "send-test: bob@example.test: submit and wait" in out.stderr


def test_send_test_to_remote_shows_the_received_authentication_results(lab, lab_dns,
                                                                      lab_env):
    out = json.loads(mailops(lab_env, "send-test", fresh("auth"), "--from", USER,
                             "--json").stdout)
    assert (out["state"], out["delivered"], out["mailbox"]) == ("sent", True, "lab remote")
    results = " ".join(out["authentication_results"])
    assert "dkim=pass" in results and "header.d=example.test" in results
    assert out["received_spf"] and out["received_spf"][0].startswith("Pass")


def test_send_test_reports_a_bounce_and_a_deferral_and_fails(lab, lab_dns, lab_env):
    to = fresh("nobody")
    on("remote", f"echo '{to} REJECT 5.1.1 no such user here' >> /etc/postfix/refuse && "
                 "postfix reload >/dev/null 2>&1")
    bounced = mailops(lab_env, "send-test", to, check=False)
    assert bounced.returncode == 1, bounced.stdout + bounced.stderr
    assert f"{to}: BOUNCED" in bounced.stdout
    assert "reason: host mx.remote.test" in bounced.stdout and "no such user here" in bounced.stdout
    with remote_down():
        waited = mailops(lab_env, "send-test", fresh("wait"), "--timeout", "8", check=False)
    flush_mx1()
    assert waited.returncode == 1
    assert "DEFERRED (still not final: timed out)" in waited.stdout
    assert "reason: connect to mx.remote.test" in waited.stdout
    bad = mailops(lab_env, "send-test", "bob@example.test", "--from", "eve@elsewhere.test",
                  check=False)
    assert bad.returncode == 1 and "--from: found 'eve@elsewhere.test'" in bad.stderr


def test_messages_rejects_a_bad_filter_before_asking_any_host(lab_env, deployed):
    out = mailops(lab_env, "messages", "--state", "lost", check=False)
    assert out.returncode == 2 and "--state: found 'lost'; expected one of" in out.stderr
    out = mailops(lab_env, "messages", "--to", "not an address", check=False)
    assert out.returncode == 2 and "--to: found 'not an address'" in out.stderr


def test_a_client_refused_after_data_is_never_logged_as_sent(lab, lab_dns, lab_env):
    """The submission policy refuses a From: the login does not own at end of data
    (OpenDKIM's policy script, a milter reply): the log says rejected, not queued."""
    to = fresh("spoof")
    msg, _ = new_message("carol@tenant2.test", to)
    with pytest.raises(smtplib.SMTPDataError):
        submit(lab, USER, msg, sender=USER, to=[to])
    row = only(wait_rows(lab_env, f"the refused message to {to}", "--to", to,
                         until=lambda r: bool(r)))
    assert row["state"] == "rejected" and "not owned by user" in row["reply"]


def test_subjects_are_logged_only_while_the_inventory_keeps_them(lab, lab_dns, lab_env,
                                                                tmp_path):
    from labtools import deploy

    inventory = tmp_path / "subjects.py"
    inventory.write_text(
        f"exec(open({str(REPO / 'inventories/lab.py')!r}).read())\n"
        "MAILOPS['delivery_log'] = {'retention_days': 30, 'subjects': True}\n")
    kept_to, dropped_to = fresh("subject"), fresh("nosubject")
    try:
        turned_on = deploy(str(inventory))
        assert turned_on.returncode == 0 and turned_on.errors == 0, turned_on.output[-4000:]
        assert "--subjects" in on("mx1", "systemctl show -p ExecStart --value "
                                         "mailops-delivery-log").stdout
        msg, token = new_message(USER, kept_to)
        submit(lab, USER, msg)
        row = only(wait_rows(lab_env, f"{kept_to} sent", "--to", kept_to,
                             until=lambda r: r and r[0]["state"] == "sent"))
        assert row["subject"] == f"lab test {token}"
    finally:
        back = deploy()
        assert back.returncode == 0 and back.errors == 0, back.output[-4000:]
    assert on("mx1", "postconf -h header_checks").stdout.strip() == ""
    send(lab, dropped_to)
    row = only(wait_rows(lab_env, f"{dropped_to} sent", "--to", dropped_to,
                         until=lambda r: r and r[0]["state"] == "sent"))
    assert row["subject"] is None
