"""Sending through a relay (smarthost): mx1 hands its mail to the lab's `relay` — a stock
Exim requiring SASL over TLS on 587 and 465 — which forwards it to `remote`.

The module deploys the relay-enabled lab inventory (MAILOPS_LAB_RELAY=1: example.test
through the top-level relay on 587, tenant2.test through its own account on 465), with
the credentials exported as an operator would, publishes the SPF that now includes the
relay, and at the end deploys and publishes the direct-delivery lab again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import dkim
import pytest
from labtools import PYINFRA, REPO, DeployResult, deploy, on
from mailclients import lab_dnsfunc, new_message, received_at_remote, submit

from mailops.lab import config

pytestmark = pytest.mark.lab

MAILOPS = str(Path(sys.executable).with_name("mailops"))
RELAY = config.machine("relay")
ALICE, CAROL = "alice@example.test", "carol@tenant2.test"


def _mailops(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MAILOPS, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


def _publish(env: dict) -> None:
    r = _mailops(env, "dns", "apply", "--yes", "-i", "inventories/lab.py")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def relay_env(lab, lab_dns, lab_env):
    accounts = json.loads(Path(lab.info["relay"]["accounts"]).read_text())
    env = {**lab_env, "MAILOPS_LAB_RELAY": "1",
           "MAILOPS_RELAY_USER": "mx1-example",
           "MAILOPS_RELAY_PASSWORD": accounts["mx1-example"],
           "MAILOPS_RELAY_TENANT2_USER": "mx1-tenant2",
           "MAILOPS_RELAY_TENANT2_PASSWORD": accounts["mx1-tenant2"]}
    result = deploy("inventories/lab.py", "--diff", env=env)
    assert result.returncode == 0 and result.errors == 0, result.output[-5000:]
    for secret in accounts.values():
        assert secret not in result.output
    _publish(env)
    yield env
    direct = {k: v for k, v in env.items() if not k.startswith("MAILOPS_RELAY")}
    direct["MAILOPS_LAB_RELAY"] = "0"
    result = deploy("inventories/lab.py", env=direct)
    assert result.returncode == 0 and result.errors == 0, result.output[-3000:] + on(
        "mx1", "systemctl status postfix@- --no-pager; journalctl -q -o cat -n 40 -u postfix@-",
        check=False).stdout
    _publish(direct)


def relay_log(token: str) -> str:
    """The relay's Exim log lines for the message whose Message-ID carries ``token``."""
    log = on("relay", "cat /var/log/exim4/mainlog").stdout
    ids = set(re.findall(r"(\S+) <= .*id=" + token, log))
    return "\n".join(line for line in log.splitlines() if any(i in line for i in ids))


def queue() -> list[dict]:
    out = on("mx1", "postqueue -j").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_deferred(what: str, timeout: float = 90) -> dict:
    """The queued message's recipient record once Postfix has a deferral reason for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in queue():
            for r in entry.get("recipients", []):
                if what in r.get("delay_reason", ""):
                    return {**r, "queue_name": entry["queue_name"]}
        time.sleep(1)
    raise AssertionError(f"no deferred message mentioning {what!r} after {timeout}s: {queue()}")


def check(env: dict, lab) -> dict:
    """`mailops check --json` as an operator runs it: only the relay credentials exported;
    the lab's name servers and CAs (mx1's and the relay's) come from the inventory."""
    r = subprocess.run([MAILOPS, "check", "-i", "inventories/lab.py", "--json",
                        "--relay-probe-to", "postmaster@remote.test"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    return json.loads(r.stdout)


def relay_findings(report: dict, port: int = 587) -> dict[str, dict]:
    prefix = f"relay {RELAY.fqdn}:{port} "
    return {f["check"].removeprefix(prefix): f for f in report["findings"]
            if f["check"].startswith(prefix)}


def held_at_mx1(lab, what: str) -> tuple[str, dict]:
    """alice sends; (token, queue record) once Postfix defers it with ``what`` in the reply."""
    msg, token = new_message(ALICE, "someone@remote.test")
    submit(lab, ALICE, msg)
    return token, wait_deferred(what)


def not_at_remote(lab, token: str) -> bool:
    """Nothing was sent another way: the held message has not reached `remote`."""
    sink = lab.rootfs("remote") / "home/sink/Maildir/new"
    return not any(token.encode() in p.read_bytes() for p in sink.glob("*"))


def flush_and_receive(lab, token: str):
    on("mx1", "postqueue -f")
    return received_at_remote(lab, token, timeout=90)


# ----------------------------------------------------------------------------- delivery


def test_alice_mail_reaches_remote_through_the_relay_signed_and_aligned(lab, relay_env):
    msg, token = new_message(ALICE, "someone@remote.test")
    rp = _mailops(relay_env, "bounces", "token", "someone@remote.test", "--domain",
                  "example.test").stdout.strip()
    submit(lab, ALICE, msg, sender=rp, to=["someone@remote.test"])
    got = received_at_remote(lab, token)

    received = [str(v) for v in got.get_all("Received", [])]
    # Newest first: remote got it from the relay, the relay from mx1 after AUTH in TLS.
    assert f"from {RELAY.fqdn}" in received[0] and f"[{RELAY.address}]" in received[0]
    assert "by relay.remote.test" in received[1] and "esmtpsa" in received[1]
    assert "helo=mx1.example.test" in received[1]
    log = relay_log(token)
    assert re.search(r"A=(PLAIN|LOGIN):mx1-example", log), log
    assert "DKIM=example.test" in log  # Exim, too, verified the signature it relayed
    # The VERP return path is what the client submitted: bounces still come home.
    assert str(got["Return-Path"]).strip("<>") == rp
    # DKIM: signed by example.test's own key, verifies after the relay, Message-ID not
    # in the signature (a relay such as SES rewrites it).
    sig = re.sub(r"\s", "", str(got["DKIM-Signature"]))
    assert "d=example.test" in sig
    signed = re.search(r"(?:^|;)h=([^;]+)", sig).group(1).lower().split(":")
    assert "message-id" not in signed and "from" in signed
    assert dkim.verify(got.as_bytes(), dnsfunc=lab_dnsfunc)
    results = " ".join(str(v) for v in got.get_all("Authentication-Results", []))
    assert "dkim=pass" in results and "header.d=example.test" in results
    # SPF passes for the relay's address through the include the deploy published.
    spf = str(got["Received-SPF"])
    assert spf.startswith("Pass") and f"client-ip={RELAY.address}" in spf
    # DMARC alignment (RFC 7489 §3.1): From, DKIM d= and the SPF-checked MAIL FROM all
    # in example.test.
    assert str(got["From"]).endswith("@example.test") and rp.endswith("@example.test")


def test_tenant2_uses_its_own_relay_account_on_465(lab, relay_env):
    msg, token = new_message(CAROL, "someone@remote.test")
    submit(lab, CAROL, msg, port=465)
    got = received_at_remote(lab, token)
    assert dkim.verify(got.as_bytes(), dnsfunc=lab_dnsfunc)
    assert "d=tenant2.test" in str(got["DKIM-Signature"]).replace(" ", "")
    log = relay_log(token)
    assert re.search(r"A=(PLAIN|LOGIN):mx1-tenant2", log), log
    assert f"I=[{RELAY.address}]:465" in log, log
    assert str(got["Received-SPF"]).startswith("Pass")


def test_mailops_check_shows_each_relay_line(lab, relay_env):
    report = check(relay_env, lab)
    for port in (587, 465):
        lines = relay_findings(report, port)
        assert {k: v["status"] for k, v in lines.items()} == {
            "reachable": "ok", "TLS certificate": "ok", "AUTH": "ok", "queue": "ok"}, lines
    spf = [f for f in report["findings"]
           if f["subject"] == "example.test" and f["check"] == f"SPF for relay {RELAY.fqdn}"]
    assert spf and spf[0]["status"] == "ok", spf
    assert RELAY.address in spf[0]["found"]


# ----------------------------------------------------------------------------- faults


def test_a_wrong_password_defers_visibly_and_delivers_once_fixed(lab, relay_env):
    passwd = "/etc/exim4/relay-passwd"
    on("relay", f"cp -p {passwd} {passwd}.good && "
                f"sed -i 's/^mx1-example: .*/mx1-example: changed-by-the-provider/' {passwd}")
    try:
        token, deferred = held_at_mx1(lab, "535")
        assert "Incorrect authentication data" in deferred["delay_reason"]
        lines = relay_findings(check(relay_env, lab))
        assert lines["AUTH"]["status"] == "fail" and "535" in lines["AUTH"]["found"]
        assert lines["queue"]["status"] == "fail"
        assert "1 recipient(s) deferred" in lines["queue"]["found"]
        assert "535" in lines["queue"]["found"]
        assert not_at_remote(lab, token)
    finally:
        on("relay", f"mv {passwd}.good {passwd}")
    got = flush_and_receive(lab, token)
    assert dkim.verify(got.as_bytes(), dnsfunc=lab_dnsfunc)


def test_a_stopped_relay_keeps_mail_queued_until_it_is_back(lab, relay_env):
    on("relay", "systemctl stop exim4")
    try:
        token, deferred = held_at_mx1(lab, "Connection refused")
        assert RELAY.fqdn in deferred["delay_reason"]
        assert not_at_remote(lab, token)
        lines = relay_findings(check(relay_env, lab))
        assert lines["reachable"]["status"] == "fail"
    finally:
        on("relay", "systemctl start exim4")
    flush_and_receive(lab, token)


def test_a_relay_refusing_the_sender_defers_instead_of_bouncing(lab, relay_env):
    on("relay", "echo '*@example.test' > /etc/exim4/refused-senders")
    try:
        token, deferred = held_at_mx1(lab, "sender not allowed by this relay")
        # soft_bounce on the relay service: the relay's 550 is held, not bounced to alice.
        assert "550" in deferred["delay_reason"], deferred
        assert not_at_remote(lab, token)
    finally:
        on("relay", ": > /etc/exim4/refused-senders")
    flush_and_receive(lab, token)


def test_a_missing_credential_stops_the_deploy_before_any_change(lab, relay_env):
    # labtools.deploy adds to the environment; this one must lack the variable.
    env = {k: v for k, v in relay_env.items() if k != "MAILOPS_RELAY_TENANT2_PASSWORD"}
    proc = subprocess.run([PYINFRA, "-y", "inventories/lab.py", "deploy.py"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    result = DeployResult(proc.returncode, proc.stdout + proc.stderr, -1, -1, -1)
    assert result.returncode != 0
    assert "mailops.domains.tenant2.test.relay.password_env" in result.output
    assert "MAILOPS_RELAY_TENANT2_PASSWORD" in result.output
    assert "Starting operation" not in result.output
    assert relay_env["MAILOPS_RELAY_PASSWORD"] not in result.output

