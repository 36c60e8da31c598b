"""Inbound filtering end to end: `remote` (the internet) sends to mx1 on port 25 through
postscreen, rspamd and Sieve; users teach rspamd by moving mail into and out of Junk."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import uuid

import pytest
from labtools import flush_resolver, on
from mailclients import (
    IMAPS,
    imap_fetch,
    inject_at_remote,
    new_message,
    received_at_remote,
    smtp,
    submit,
)
from remote_sender import RemoteDomain, on_with_input, send_from_remote

from mailops.lab import config

pytestmark = pytest.mark.lab

REMOTE_IP = config.machine("remote").address
# An address on the lab network nobody uses: DNS sent there goes unanswered.
UNREACHABLE = config.SUBNET_PREFIX + ".250"

# https://spamassassin.apache.org/gtube/ — rspamd refuses it (its "reject" pattern).
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


@pytest.fixture(scope="module")
def remote_domain(lab, lab_dns):
    d = RemoteDomain(lab)
    d.publish()
    flush_resolver("remote.test")
    yield d
    d.withdraw()
    flush_resolver("remote.test")


def message(sender: str, to: str, body: str = "", **headers: str) -> tuple[bytes, str]:
    msg, token = new_message(sender, to)
    msg["Date"] = email.utils.formatdate(localtime=False)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    if body:
        msg.set_content(f"token {token}\n{body}\n")
    return msg.as_bytes(), token


def our_results(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return " ".join(str(v) for v in msg.get_all("Authentication-Results", [])
                    if str(v).startswith("mx1.example.test"))


# ----------------------------------------------------------------------------- refused


def test_gtube_from_remote_is_refused_at_end_of_data_with_5_7_1(lab, lab_dns):
    raw, _ = message("someone@remote.test", "alice@example.test", body=GTUBE)
    got = send_from_remote(raw, "someone@remote.test", ["alice@example.test"])
    assert got["stage"] == "data" and got["code"] == 554, got
    assert got["text"].startswith("5.7.1"), got


def test_a_spoof_of_our_domain_under_p_reject_is_refused(lab, lab_dns):
    # Not our address, no signature: SPF and DKIM fail for example.test (DMARC p=reject).
    raw, _ = message("alice@example.test", "bob@example.test")
    got = send_from_remote(raw, "someone@remote.test", ["bob@example.test"])
    assert got["stage"] == "data" and got["code"] == 554, got
    assert got["text"].startswith("5.7.1"), got


# ----------------------------------------------------------------------------- allowed


def test_an_allowed_client_skips_postscreen_and_greylisting_but_is_still_scored(lab, lab_dns):
    """inbound.allow: the lab inventory allows this machine (the lab bridge's gateway),
    as an operator allows a relay or backup MX. Without reverse DNS or a proper HELO its
    message scores above the greylist threshold — yet it is accepted at the first attempt,
    and still carries rspamd's verdict."""
    raw, token = message("someone@remote.test", "alice@example.test")
    with smtp(25) as s:
        s.ehlo("client.invalid")
        s.sendmail("someone@remote.test", ["alice@example.test"], raw)  # a 451 raises
    delivered = imap_fetch(lab, "alice@example.test", token, mailbox=("INBOX", "Junk"))
    status = email.message_from_bytes(delivered)["X-Spam-Status"]
    score = float(re.search(r"score=([-\d.]+)", status).group(1))
    assert 4 <= score < 15, status  # in the greylist band: remote would have waited
    log = on("mx1", "grep -h 'postscreen' /var/log/mail.log | tail -50").stdout
    assert f"ALLOWLISTED [{config.GATEWAY}]" in log, log


# ----------------------------------------------------------------------------- delivered


def test_signed_mail_with_valid_spf_reaches_the_inbox_with_its_results(lab, remote_domain):
    raw, token = message("someone@remote.test", "alice@example.test")
    # A header the sender forged: an Authentication-Results in our name must not survive.
    forged = b"Authentication-Results: mx1.example.test; dkim=pass header.d=paypal.example\r\n"
    signed = remote_domain.sign(raw)
    got = send_from_remote(forged + signed, "someone@remote.test", ["alice@example.test"])
    assert got["code"] == 250, got
    delivered = imap_fetch(lab, "alice@example.test", token)
    results = our_results(delivered)
    for verdict in ("spf=pass", "dkim=pass", "dmarc=pass"):
        assert verdict in results, results
    assert b"paypal.example" not in delivered


def junk_band_message() -> tuple[bytes, str, str]:
    """Several defects rspamd scores (no Message-ID, Date, To or Subject; HTML only):
    above the junk threshold (6), below reject (15). A fresh sender each time, so no
    earlier greylisting pass of the same sender/recipient/client applies."""
    token = uuid.uuid4().hex
    sender = f"g{token[:10]}@remote.test"
    raw = (f"From: {sender}\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/html; charset=utf-8\r\n\r\n"
           f"<html><body><p>token {token}</p></body></html>\r\n").encode()
    return raw, token, sender


def test_a_message_scoring_between_junk_and_reject_is_greylisted_then_filed_in_junk(
        lab, remote_domain):
    raw, token, sender = junk_band_message()
    score = rspamd_score(raw, sender)
    assert 6 <= score < 15, f"calibration: the test message scores {score}"
    first = send_from_remote(raw, sender, ["alice@example.test"])
    assert first["code"] == 451 and "4.7.1" in first["text"], first
    time.sleep(11)  # the lab's greylist_delay is 10 s
    again = send_from_remote(raw, sender, ["alice@example.test"])
    assert again["code"] == 250, again
    imap_fetch(lab, "alice@example.test", token, mailbox="Junk", in_body=True)


def test_while_dns_fails_greylisting_stops_deferring_and_mail_flows_after(lab,
                                                                           remote_domain):
    """The circuit breaker. mx1's resolver loses its upstream (the lab BIND): unbound is
    pointed at an address of the lab network where nothing answers, its cache emptied.
    A message that greylisting would defer (see above) is accepted at once."""
    raw, token, sender = junk_band_message()
    on("mx1", f"unbound-control forward {UNREACHABLE} && unbound-control flush_zone . "
              "&& unbound-control flush_infra all && unbound-control flush_requestlist")
    try:
        got = send_from_remote(raw, sender, ["alice@example.test"])
        assert got["code"] == 250, got
    finally:
        on("mx1", "systemctl restart unbound")
    delivered = imap_fetch(lab, "alice@example.test", token, mailbox="Junk", in_body=True)
    # It passed because rspamd saw DNS failing (R_SPF_DNSFAIL, DMARC_DNSFAIL, ...).
    assert re.search(rb"[A-Z_]+_DNSFAIL\(", delivered), delivered[:3000]
    # DNS is back: ordinary mail flows.
    raw, token = message("someone@remote.test", "alice@example.test")
    assert send_from_remote(raw, "someone@remote.test", ["alice@example.test"])["code"] == 250
    imap_fetch(lab, "alice@example.test", token)


def rspamd_score(raw: bytes, sender: str) -> float:
    """What rspamd on mx1 scores the message as coming from remote (no greylisting)."""
    r = on_with_input("mx1", f"rspamc -i {REMOTE_IP} -F {sender} -r alice@example.test "
           "--helo mx.remote.test -h 127.0.0.1:11333 symbols", raw)
    m = re.search(r"Score: ([-\d.]+) / ", r.stdout)
    assert m, r.stdout
    return float(m.group(1))


# ----------------------------------------------------------------------------- rspamd down


def queued_at_remote(sender: str) -> list[dict]:
    """remote's Postfix queue entries (postqueue -j) of this envelope sender."""
    lines = on("remote", "postqueue -j").stdout.splitlines()
    return [e for e in map(json.loads, lines) if e["sender"] == sender]


def test_with_rspamd_stopped_port_25_mail_is_deferred_then_delivered_and_submission_works(
        lab, lab_dns):
    """remote's Postfix, a real sending MTA, is told to try again (4xx) while rspamd is
    down, keeps the message, and delivers it exactly once when rspamd is back."""
    sender = f"d{uuid.uuid4().hex[:10]}@remote.test"
    msg, token = new_message(sender, "bob@example.test")
    on("mx1", "systemctl stop rspamd")
    try:
        inject_at_remote(msg, sender, ["bob@example.test"])
        # Postfix answers 4xx to what the client says first (STARTTLS: 454 4.3.0, else
        # MAIL: 451 4.7.1); remote defers and keeps the message.
        assert wait_for(lambda: any(re.search(r"\b4\d\d 4\.\d+\.\d+", r.get("delay_reason", ""))
                                    for e in queued_at_remote(sender)
                                    for r in e["recipients"]), 60), queued_at_remote(sender)
        # Outbound submission never passes through rspamd: delivered meanwhile.
        out, out_token = new_message("alice@example.test", "someone@remote.test")
        submit(lab, "alice@example.test", out)
        received_at_remote(lab, out_token)
        assert queued_at_remote(sender), "remote gave the message up while rspamd was down"
    finally:
        on("mx1", "systemctl start rspamd")
    # remote retries every 5-10 s (its maximal_backoff_time); rspamd loads in under a minute.
    imap_fetch(lab, "bob@example.test", token, timeout=240)
    assert wait_for(lambda: not queued_at_remote(sender), 60)
    with IMAPS(lab) as imap:
        imap.login("bob@example.test", lab.password("bob@example.test"))
        imap.select("INBOX", readonly=True)
        assert len(imap.search(None, "SUBJECT", f'"lab test {token}"')[1][0].split()) == 1


# ----------------------------------------------------------------------------- learning


def learned(kind: str) -> int:
    """rspamd's count of messages learned as "spam" or "ham", from its Redis (the
    controller's `rspamc stat` refreshes it only periodically)."""
    out = on("mx1", "redis-cli -s /run/redis/redis-server.sock hget RS learns_" + kind).stdout
    return int(out.strip() or 0)


def wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def move(lab, user: str, token: str, source: str, target: str) -> None:
    with IMAPS(lab) as imap:
        imap.login(user, lab.password(user))
        imap.select(source)
        _, ids = imap.uid("SEARCH", "BODY", token)
        assert ids[0], f"{token} not in {source}"
        typ, data = imap.uid("MOVE", ids[0].split()[-1], target)
        assert typ == "OK", data


def test_moving_mail_into_junk_learns_spam_and_out_of_junk_learns_ham(lab, lab_dns):
    # Enough distinct words for a Bayes lesson (rspamd skips messages with few tokens).
    words = " ".join(f"word{uuid.uuid4().hex[:6]}" for _ in range(60))
    raw, token = message("someone@remote.test", "bob@example.test", body=words)
    assert send_from_remote(raw, "someone@remote.test", ["bob@example.test"])["code"] == 250
    imap_fetch(lab, "bob@example.test", token)
    spam, ham = learned("spam"), learned("ham")
    move(lab, "bob@example.test", token, "INBOX", "Junk")
    assert wait_for(lambda: learned("spam") == spam + 1), "rspamd did not learn spam"
    move(lab, "bob@example.test", token, "Junk", "INBOX")
    # Relearned: the message now counts as ham, no longer as spam.
    assert wait_for(lambda: (learned("ham"), learned("spam")) == (ham + 1, spam)), \
        "rspamd did not learn ham"


# ----------------------------------------------------------------------------- postscreen

# The lab inventory's DNSBL: dnsbl.remote.test=127.0.0.[2..11]*3 (threshold 3).
DNSBL = "dnsbl.remote.test"
LISTED = REMOTE_IP.rsplit(".", 1)[0] + ".99"  # a second address of remote's


def reversed_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".dnsbl"


@pytest.fixture
def listed_address(lab, lab_dns):
    """A second address on remote, listed in the lab DNSBL (127.0.0.2); withdrawn after."""
    from remote_sender import update
    records = [(reversed_name(LISTED), "A", "127.0.0.2")]
    # The interface that has remote's lab address: host0 in a container, eth1 in a VM.
    dev = on("remote", f"ip -o -4 addr show to {REMOTE_IP}/32").stdout.split()[1]
    update("remote.test", lab, records)
    on("remote", f"ip addr add {LISTED}/24 dev {dev}")
    try:
        yield LISTED
    finally:
        on("remote", f"ip addr del {LISTED}/24 dev {dev}", check=False)
        update("remote.test", lab, records, delete=True)


def test_a_client_listed_on_the_dnsbl_is_refused_by_postscreen(lab, listed_address):
    raw, _ = message("someone@remote.test", "alice@example.test")
    got = send_from_remote(raw, "someone@remote.test", ["alice@example.test"],
                           source=listed_address)
    assert got["stage"] == "rcpt" and got["code"] == 550, got
    assert DNSBL in got["text"], got
    log = on("mx1", "grep -h 'postscreen' /var/log/mail.log | tail -20").stdout
    assert f"DNSBL rank 3 for [{listed_address}]" in log, log


def test_the_host_resolver_answers_the_dnsbl_test_entry(lab, listed_address):
    # RFC 5782 §5: 127.0.0.2 is listed in every DNSBL; asked through mx1's own resolver.
    got = on("mx1", f"getent ahostsv4 2.0.0.127.{DNSBL}", check=False).stdout
    assert "127.0.0.2" in got, got
    assert on("mx1", f"getent ahostsv4 1.0.0.127.{DNSBL}", check=False).returncode == 2


# ----------------------------------------------------------------------------- guards


def test_state_and_logs_are_bounded_and_the_controller_is_local_only(lab, lab_dns):
    journal = on("mx1", "systemd-analyze cat-config systemd/journald.conf").stdout
    assert "SystemMaxUse=1G" in journal and "SystemKeepFree=2G" in journal
    redis = on("mx1", "redis-cli -s /run/redis/redis-server.sock config get maxmemory*").stdout
    assert "268435456" in redis and "allkeys-lru" in redis, redis
    # rspamd's scan history (shown by its controller) keeps the last 1000 messages only.
    history = on("mx1", "rspamadm configdump history_redis 2>/dev/null").stdout
    assert "nrows = 1000;" in history, history
    listening = on("mx1", "ss -Hltn").stdout
    # Redis has no TCP port; rspamd's controller, milter and scanner only on the loopback.
    assert ":6379" not in listening
    for port in (11332, 11333, 11334):
        for line in (ln for ln in listening.splitlines() if f":{port} " in ln):
            assert re.search(rf"(127\.0\.0\.1|\[::1\]):{port} ", line), line
    # The packaged controller password ("q1") is replaced by a hash nobody knows.
    secret = on("mx1", "cat /etc/rspamd/local.d/controller-secret.inc").stdout
    assert re.fullmatch(r'password = "\$2\$[^"]+";\n', secret), "unexpected form"
