"""A new tenant domain on a running host: publish before signing, for the first key too.

The deploy never creates a DKIM key (not even while pyinfra only plans, with --dry):
a domain added to the inventory and deployed is served but NOT signed, and the deploy
and `mailops check` say so and name the command. `mailops dkim rotate <domain>` then
generates its key, publishes it, waits until the authoritative server serves it,
deploys, probes and activates it; from then on its mail verifies at `remote`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dkim
import pytest
from labtools import REPO, deploy, on
from mailclients import lab_dnsfunc, new_message, received_at_remote, submit

from mailops.dkim.keystore import ACTIVE, Keystore
from mailops.lab import config

pytestmark = pytest.mark.lab

NEW = "news.example.test"  # in the lab zone example.test, so the lab BIND serves it
USER = f"dave@{NEW}"
MAILOPS = str(Path(sys.executable).with_name("mailops"))


@pytest.fixture(scope="module")
def grown(lab, lab_dns, tmp_path_factory):
    """inventories/lab.py plus one tenant domain; the host goes back to the lab's afterwards."""
    path = tmp_path_factory.mktemp("inv") / "grown.py"
    path.write_text(
        f"exec(open({str(REPO / 'inventories/lab.py')!r}).read())\n"
        f"MAILOPS['domains'][{NEW!r}] = {{\n"
        "    'dns': {**_RFC2136, 'zone': 'example.test'},\n"
        "    'mta_sts': {'mode': 'none'},\n"
        f"    'mailboxes': {{'dave': _mailbox({USER!r})}},\n"
        "}\n"
    )
    yield path
    back = deploy()
    assert back.returncode == 0, back.output[-3000:] + on(
        "mx1", "journalctl -q -o short-precise -n 40 -u postfix -u postfix@- -u opendkim",
        check=False).stdout


def keystore_state(path: Path) -> dict[str, str]:
    """Every file under the keystore (and the directory itself), by content digest."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in [path, *sorted(path.rglob("*"))]}


def mailops(*args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([MAILOPS, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def sent_signatures(lab) -> tuple[bytes, list[str]]:
    msg, token = new_message(USER, "someone@remote.test")
    submit(lab, USER, msg)
    got = received_at_remote(lab, token)
    return got.as_bytes(), [str(v).replace(" ", "") for v in got.get_all("DKIM-Signature", [])]


def test_a_new_domain_is_served_unsigned_until_mailops_dkim_rotate_starts_its_signing(
        lab, lab_env, grown):
    keystore = lab.root / "keystore"
    before = keystore_state(keystore)
    env = {**lab_env, "MAILOPS_DNS_NAMESERVERS": f"{config.GATEWAY}:53",
           "SSL_CERT_FILE": str(lab.ca_cert)}

    # Planning writes nothing to the keystore (it used to mint the key right here).
    dry = deploy(str(grown), "--dry")
    assert dry.returncode == 0, dry.output[-4000:]
    assert keystore_state(keystore) == before

    # The real deploy serves the domain but does not sign it, and says so.
    real = deploy(str(grown))
    assert real.returncode == 0, real.output[-4000:]
    for output in (dry.output, real.output):
        assert f"{NEW}: not DKIM-signed on mx1.example.test" in output
        assert f"mailops dkim rotate {NEW}" in output
    assert keystore_state(keystore) == before
    assert NEW not in on("mx1", "cat /etc/opendkim/KeyTable /etc/opendkim/SigningTable").stdout

    # The operator publishes the domain's records (`remote` wants its sender domain to
    # exist); its mail goes out unsigned, and `check` names the missing step.
    assert mailops("dns", "apply", "--yes", "-i", str(grown), env=env).returncode == 0
    _, signatures = sent_signatures(lab)
    assert not any(f"d={NEW}" in s for s in signatures), signatures
    checked = mailops("check", NEW, "-i", str(grown), "--json", "--relay-probe-to",
                      "postmaster@remote.test", env=env)
    report = json.loads(checked.stdout)
    [signing] = [f for f in report["findings"]
                 if f["subject"] == NEW and f["check"] == "DKIM signing"]
    assert checked.returncode == 1 and signing["status"] == "fail", signing
    assert signing["fix"] == f"mailops dkim rotate {NEW} -i {grown}"

    # The one command that starts signing: the rotation's steps, for the first key.
    run = mailops("dkim", "rotate", NEW, "-i", str(grown), env=env)

    assert run.returncode == 0, run.stdout
    for step in ("generated a new rsa-2048 key", "published TXT", "on every authoritative "
                 "name server", "deployed", "probe: a message signed with", "is active"):
        assert step in run.stdout, run.stdout
    assert "PRIVATE KEY" not in run.stdout
    key = Keystore(keystore).signing_key(NEW)
    assert key is not None and key.state == ACTIVE
    assert lab_dnsfunc(key.record_name) == key.txt_value.encode()
    raw, signatures = sent_signatures(lab)
    assert any(f"d={NEW}" in s and f"s={key.selector}" in s for s in signatures), signatures
    assert dkim.verify(raw, dnsfunc=lab_dnsfunc)
    # ...and `check` agrees; a repeated deploy keeps signing and changes nothing.
    report = json.loads(mailops("check", NEW, "-i", str(grown), "--json", "--relay-probe-to",
                                "postmaster@remote.test", env=env).stdout)
    assert {f["check"]: f["status"] for f in report["findings"] if f["subject"] == NEW}[
        "DKIM signing"] == "ok"
    again = deploy(str(grown))
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    assert f"{NEW}: not DKIM-signed" not in again.output
