"""The daily status mail on the lab's mx1: mailed once, not again without a change.

What an operator sees: the report in the postmaster's mailbox (the lab aliases
postmaster@example.test to alice, whose Maildir on mx1 is read), and the command's own
answer. Changes are real ones: a service stopped with systemctl, a message deferred by
`remote` (450 at RCPT), a listing on a blocklist zone the lab BIND serves (RFC 2136).
Each test undoes its change before it ends.
"""

from __future__ import annotations

import email
import email.policy
import json
import shlex
import time
import uuid

import pytest
from labtools import flush_resolver, on
from test_bounces import wait_for
from test_posture import dns_update

from mailops.lab import config
from mailops.onhost.status.dnsbl import query_name
from mailops.services import status_mail as svc
from mailops.services.onhost import module_argv

pytestmark = pytest.mark.lab

MAILDIR = "/var/vmail/example.test/alice/Maildir"  # postmaster@example.test -> alice
STATE = f"{svc.STATE_DIR}/last-report.json"
MX1_IP = config.machine("mx1").address
BLOCKLIST = "dnsbl.remote.test"  # inventories/lab.py: blocklists


def status_mail(*flags: str) -> dict:
    out = on("mx1", shlex.join(module_argv("status-mail", *flags))).stdout
    return json.loads(out)["result"]


def reports() -> list[str]:
    """The status mails in the postmaster's mailbox, oldest first (Maildir names start
    with the delivery time)."""
    out = on("mx1", f"grep -l '^X-Mailops-Status: ' {MAILDIR}/new/* {MAILDIR}/cur/* "
                    "2>/dev/null || true").stdout.split()
    return sorted(out, key=lambda p: p.rsplit("/", 1)[1])


def next_report(before: int) -> email.message.EmailMessage:
    """The report delivered after the ``before`` ones already there (exactly one)."""
    paths = wait_for("the status mail in the postmaster's mailbox",
                     lambda: (r := reports())[before:] and r)
    assert len(paths) == before + 1, paths
    raw = on("mx1", f"cat {shlex.quote(paths[-1])}").stdout
    return email.message_from_string(raw, policy=email.policy.default)


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def no_new_report(count: int) -> None:
    time.sleep(5)  # what sendmail took is in the mailbox within a second or two
    assert len(reports()) == count


@pytest.fixture
def baseline(deployed):
    """The host as it is, reported: whatever a test changes is a change from here."""
    status_mail()
    return len(reports())


def test_the_deploy_runs_the_status_mail_daily_from_a_persistent_timer(deployed):
    timer = on("mx1", f"systemctl is-enabled {svc.TIMER}; systemctl is-active {svc.TIMER}; "
                      f"cat {svc.UNIT_DIR}/{svc.TIMER}").stdout
    assert timer.startswith("enabled\nactive\n"), timer
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    assert "RandomizedDelaySec=1h" in timer
    config_file = json.loads(on("mx1", f"cat {svc.CONFIG}").stdout)
    # What the deploy keeps running, read from the deploy itself.
    assert {"postfix.service", "dovecot.service", "opendkim.service", "nginx.service",
            "mailops-milter-watchdog.timer"} <= set(config_file["units"])
    assert config_file["to"] == "postmaster@example.test"
    assert config_file["dnsbl"] == [BLOCKLIST] and config_file["addresses"] == [MX1_IP]


def test_a_report_is_mailed_once_and_again_only_when_something_changed(deployed):
    on("mx1", f"rm -f {STATE}")
    before = len(reports())
    # The first run as the timer starts it: the oneshot service, under its sandbox.
    ran = on("mx1", f"systemctl start {svc.SERVICE} && systemctl show -p Result "
                    f"{svc.SERVICE}").stdout
    assert ran.strip() == "Result=success", ran
    msg = next_report(before)
    assert msg["To"] == "postmaster@example.test"
    assert msg["Subject"].startswith("mx1.example.test status: ")
    assert msg["Auto-Submitted"] == "auto-generated"
    text = body(msg)
    assert "first status report" in text and "service postfix.service" in text
    assert f"dnsbl {BLOCKLIST} {MX1_IP}: {MX1_IP} is not listed" in text

    # Nothing changed: nothing is sent, however often it runs.
    first = status_mail()
    assert not first["sent"] and not first["due"]
    assert first["to"] == "postmaster@example.test"
    assert not status_mail("--dry-run")["due"]
    no_new_report(before + 1)

    # A service stops: the report is due, and it says what changed.
    on("mx1", "systemctl stop nginx.service")
    try:
        assert status_mail("--dry-run")["due"] and not status_mail("--dry-run")["sent"]
        no_new_report(before + 1)
        down = status_mail()
        assert down["sent"]
        msg = next_report(before + 1)
        assert "nginx.service" in msg["Subject"]
        text = body(msg)
        changed = text.split("Changed since the last report", 1)[1].split("\n\n", 1)[0]
        assert "service nginx.service: was ok (active), now error: nginx.service is " \
               "inactive (dead)" in changed, text
        assert not status_mail()["sent"]  # still down: said once
    finally:
        on("mx1", "systemctl start nginx.service")
    up = status_mail()
    assert up["sent"] and up["digest"] == first["digest"]
    assert "service nginx.service: was error (inactive (dead)), now ok" in \
        body(next_report(before + 2))
    # --force mails the report even when nothing changed.
    assert status_mail("--force")["sent"]
    next_report(before + 3)


def test_a_deferred_message_is_reported_with_its_reason(baseline):
    rcpt = f"busy-{uuid.uuid4().hex[:8]}@remote.test"
    on("remote", f"echo '{rcpt} 450 4.2.1 mailbox busy, try again later' >> "
                 "/etc/postfix/refuse && postfix reload >/dev/null 2>&1")
    qid = ""
    try:
        on("mx1", f"printf 'Subject: to a busy mailbox\\n\\nhello\\n' | "
                  f"/usr/sbin/sendmail -i -f alice@example.test {rcpt}")

        def deferred() -> str:
            for line in on("mx1", "postqueue -j").stdout.splitlines():
                m = json.loads(line)
                if m["queue_name"] == "deferred" and \
                        any(r["address"] == rcpt for r in m["recipients"]):
                    return m["queue_id"]
            return ""
        qid = wait_for("the message in mx1's deferred queue", deferred)
        result = status_mail()
        assert result["sent"], result
        text = body(next_report(baseline))
        changed = text.split("Changed since the last report", 1)[1].split("\n\n", 1)[0]
        assert "mail queue: was ok (no deferred mail), now warning: " in changed, text
        assert f"({qid}, to {rcpt})" in changed
        assert "450 4.2.1" in changed and "mailbox busy, try again later" in changed
    finally:
        on("remote", f"sed -i '/^{rcpt}/d' /etc/postfix/refuse && "
                     "postfix reload >/dev/null 2>&1")
        if qid:
            on("mx1", f"postsuper -d {qid} deferred", check=False)
    assert status_mail()["sent"]  # the queue is clear again: that is a change too


def test_a_blocklist_listing_is_an_error_and_a_refused_query_only_a_warning(lab, baseline):
    name = query_name(MX1_IP, BLOCKLIST)
    check = f"dnsbl {BLOCKLIST} {MX1_IP}"

    def dnsbl_finding() -> dict:
        flush_resolver(BLOCKLIST)  # mx1 asks its own resolver, which caches answers
        return next(f for f in status_mail("--dry-run")["findings"] if f["check"] == check)

    try:
        dns_update(lab, "remote.test", name, "A", "127.0.0.2")
        dns_update(lab, "remote.test", name, "TXT", '"listed: lab test"')
        listed = dnsbl_finding()
        assert (listed["level"], listed["state"]) == ("error", "listed 127.0.0.2")
        assert "listed: lab test" in listed["text"]
        assert status_mail()["sent"]
        msg = next_report(baseline)
        assert check in msg["Subject"] and "LISTED" in body(msg)

        # Spamhaus's answer to a query through a public resolver: not a listing.
        dns_update(lab, "remote.test", name, "TXT")
        dns_update(lab, "remote.test", name, "A", "127.255.255.254")
        refused = dnsbl_finding()
        assert (refused["level"], refused["state"]) == ("warning",
                                                        "query refused 127.255.255.254")
        assert "public or open resolver" in refused["text"]
    finally:
        dns_update(lab, "remote.test", name, "A")
        dns_update(lab, "remote.test", name, "TXT")
    clean = dnsbl_finding()
    assert (clean["level"], clean["state"]) == ("ok", "not listed")
    assert status_mail()["sent"]  # delisted: the postmaster hears of it
